"""Image overlays of the published tracks, as Foxglove draws ``ImageAnnotations``.

Per published track (the boxes of :func:`.boxes.detection_boxes`: coasting tracks are not
drawn, as they are not published): its box outline, a text label (id, class, score, as on the
debug image) and the trail of its last N box centres, in one colour per track id, the debug
image's (:func:`.drawing.track_color`). Every annotation carries the image stamp. Free of
message types; :mod:`centertrack_ros.ros.foxglove_messages` and
:mod:`centertrack_ros.bags.foxglove_messages` fill the messages.

- Outline: the 2D box as a closed polygon (LINE_LOOP, corners clockwise from the top left),
  or, for a track with a 3D box and a camera matrix, that box's 12 edges and the two diagonals
  of its front face projected into the image (LINE_LIST), as the debug image draws it.
- Trail: the track's last ``length`` published box centres, oldest first, the current one last
  (LINE_STRIP; only from two centres on). A track that coasts keeps its trail and continues it
  when found again; a track that ended is forgotten.
- Coordinates: image pixels as in ``detections`` (the same numbers as the ``Detection2D``
  boxes); the label's position is the bottom left of its text, above the box (inside it when
  the box touches the top of the image).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .boxes import DetectionBox
from .drawing import EDGES_3D, FRONT_DIAGONALS_3D, projected_box, track_color

Point = tuple[float, float]
RGBA = tuple[float, float, float, float]

# foxglove_msgs/PointsAnnotation's type constants (tests compare them with the messages).
LINE_LOOP = 2
LINE_STRIP = 3
LINE_LIST = 4

DEFAULT_TRAIL_LENGTH = 30
TEXT_COLOR: RGBA = (0.0, 0.0, 0.0, 1.0)
TRAIL_ALPHA = 0.8


@dataclass(frozen=True)
class Polyline:
    """Points joined as ``kind`` says (LINE_LOOP, LINE_STRIP or LINE_LIST), in one colour."""

    kind: int
    points: tuple[Point, ...]
    color: RGBA
    thickness: float


@dataclass(frozen=True)
class Label:
    """A text whose bottom-left corner is at ``position``, on a filled background."""

    position: Point
    text: str
    font_size: float
    text_color: RGBA
    background_color: RGBA


@dataclass(frozen=True)
class TrackOverlay:
    """What is drawn for one published track."""

    track_id: int
    outline: Polyline
    label: Label
    trail: Optional[Polyline]


@dataclass(frozen=True)
class FrameOverlay:
    """The overlay of one image: its stamp and one entry per published track, in their order."""

    stamp_ns: int
    tracks: tuple[TrackOverlay, ...]

    def polylines(self) -> list[Polyline]:
        """Return every line to draw: the trails first (under), then the outlines."""
        return ([t.trail for t in self.tracks if t.trail is not None]
                + [t.outline for t in self.tracks])

    def labels(self) -> list[Label]:
        """Return every label."""
        return [t.label for t in self.tracks]


def track_rgba(track_id: int, alpha: float = 1.0) -> RGBA:
    """Return a track's colour as RGBA in [0, 1]: the debug image's colour for that id."""
    b, g, r = track_color(int(track_id))
    return (r / 255.0, g / 255.0, b / 255.0, float(alpha))


def line_thickness(width: int, height: int) -> float:
    """Return the line thickness (pixels) for an image size: 2, more for large images."""
    return max(2.0, max(width, height) / 500.0)


def font_size(width: int, height: int) -> float:
    """Return the label font size (pixels): about the debug image's text height, at least 12."""
    return max(12.0, 22.0 * max(width, height) / 1500.0)


class TrailState:
    """The recent box centres of one camera's tracks (the trails), frame by frame.

    Args:
        length: the most centres a trail keeps (N, at least 0; 0 or 1 draws no trail).

    """

    def __init__(self, length: int = DEFAULT_TRAIL_LENGTH) -> None:
        if int(length) != length or length < 0:
            raise ValueError(f'the trail length must be a whole number >= 0, got {length}')
        self.length = int(length)
        self._trails: dict[int, deque] = {}

    def __len__(self) -> int:
        return len(self._trails)

    def reset(self) -> None:
        """Forget every trail."""
        self._trails.clear()

    def observe(self, boxes: Iterable[DetectionBox], alive: Iterable[int]) -> None:
        """Add one frame's published boxes; forget the trails of tracks that ended.

        ``alive`` holds the ids of every track the tracker still holds (published or
        coasting); call this for every frame, also while nobody subscribes.
        """
        boxes = list(boxes)
        alive = {int(track_id) for track_id in alive} | {box.track_id for box in boxes}
        for track_id in [t for t in self._trails if t not in alive]:
            del self._trails[track_id]
        if self.length == 0:
            return
        for box in boxes:
            trail = self._trails.get(box.track_id)
            if trail is None:
                trail = self._trails[box.track_id] = deque(maxlen=self.length)
            trail.append((float(box.cx), float(box.cy)))

    def trail(self, track_id: int) -> tuple[Point, ...]:
        """Return a track's centres, oldest first (empty for an unknown track)."""
        return tuple(self._trails.get(int(track_id), ()))


def _outline(box: DetectionBox, track: Any, calib: Optional[np.ndarray], width: int,
             height: int, color: RGBA, thickness: float) -> Polyline:
    corners = None
    if track is not None and calib is not None:
        corners = projected_box(track, calib, width, height)
    if corners is None:
        points = ((box.x1, box.y1), (box.x2, box.y1), (box.x2, box.y2), (box.x1, box.y2))
        return Polyline(LINE_LOOP, tuple((float(x), float(y)) for x, y in points), color,
                        thickness)
    segments = []
    for a, b in EDGES_3D + FRONT_DIAGONALS_3D:
        segments += [(float(corners[a][0]), float(corners[a][1])),
                     (float(corners[b][0]), float(corners[b][1]))]
    return Polyline(LINE_LIST, tuple(segments), color, thickness)


def frame_overlay(stamp_ns: int, boxes: Sequence[DetectionBox], trails: TrailState,
                  image_size: tuple[int, int], tracks: Iterable[Any] = (),
                  calib: Optional[np.ndarray] = None) -> FrameOverlay:
    """Return the overlay of one frame's published boxes (module doc).

    Args:
        stamp_ns: the image stamp.
        boxes: the published boxes (:func:`.boxes.detection_boxes`), already observed by
            ``trails`` for this frame.
        trails: the camera's trails.
        image_size: (width, height) of the image in pixels.
        tracks: the frame's tracks; with ``calib``, a track with a 3D box is outlined in 3D.
        calib: the camera matrix P of the frame, or None.

    """
    width, height = (int(v) for v in image_size)
    thickness = line_thickness(width, height)
    size = font_size(width, height)
    by_id = {int(t.track_id): t for t in tracks}
    out = []
    for box in boxes:
        color = track_rgba(box.track_id)
        outline = _outline(box, by_id.get(box.track_id), calib, width, height, color,
                           thickness)
        left = min(p[0] for p in outline.points)
        top = min(p[1] for p in outline.points)
        label = Label((left, top if top >= size else top + size),
                      f'{box.track_id} {box.class_name} {box.score:.2f}', size, TEXT_COLOR,
                      color)
        centres = trails.trail(box.track_id)
        trail = (Polyline(LINE_STRIP, centres, track_rgba(box.track_id, TRAIL_ALPHA), thickness)
                 if len(centres) >= 2 else None)
        out.append(TrackOverlay(box.track_id, outline, label, trail))
    return FrameOverlay(int(stamp_ns), tuple(out))
