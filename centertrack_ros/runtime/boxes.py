"""What is published for a frame: one labelled box per active track, free of any message type.

The node (``vision_msgs/Detection2DArray``), the bag tool (the same type, written with rosbags)
and the evaluation (MOTChallenge rows) all build their output from these boxes, so they cannot
disagree on which tracks are published or where their boxes are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class DetectionBox:
    """One labelled box of one image, the content of a ``Detection2D``.

    ``cx, cy, width, height`` are the ``bbox`` fields in image pixels; ``track_id`` is the
    identity written to ``Detection2D.id``; ``score`` is a detection score, or the consider
    flag (1/0) for ground truth as in MOTChallenge files.
    """

    track_id: int
    cx: float
    cy: float
    width: float
    height: float
    class_name: str
    score: float

    @property
    def x1(self) -> float:
        """Left edge."""
        return self.cx - self.width / 2.0

    @property
    def y1(self) -> float:
        """Top edge."""
        return self.cy - self.height / 2.0

    @property
    def x2(self) -> float:
        """Right edge."""
        return self.cx + self.width / 2.0

    @property
    def y2(self) -> float:
        """Bottom edge."""
        return self.cy + self.height / 2.0


def detection_boxes(tracks: Iterable[Any], class_name: Callable[[int], str]) -> list[DetectionBox]:
    """Return what the node publishes for one frame's tracks, one box per active track.

    Coasting tracks (``active == 0``) are left out, as the original's outputs leave them out.
    Centre and size are the track box's own, not clipped to the image (amodal boxes may extend
    past its border).
    """
    out = []
    for track in tracks:
        if track.active <= 0:
            continue
        cx, cy = track.center
        out.append(DetectionBox(int(track.track_id), float(cx), float(cy), float(track.width),
                                float(track.height), class_name(int(track.class_id)),
                                float(track.score)))
    return out
