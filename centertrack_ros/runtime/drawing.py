"""The debug image: a frame with its tracks drawn on it.

Tracks with a 3D box are drawn as that box projected with the frame's camera matrix (the
corners of :func:`~centertrack_ros.core.mono3d.box_corners`; the front face crossed), the
others as their 2D box; each is labelled with its id, class and score.
"""

from __future__ import annotations

import colorsys
from typing import Any, Callable, Iterable, Optional

import cv2
import numpy as np

from ..core.mono3d import box_corners, project

# Box edges between the corners of box_corners: bottom face, top face, verticals (also used by
# the Foxglove overlay, runtime/annotations.py).
EDGES_3D = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4),
            (0, 4), (1, 5), (2, 6), (3, 7)]
FRONT_DIAGONALS_3D = [(0, 5), (1, 4)]  # the front face (+x of the object, its heading)
# Corners this far outside the image (in image sizes) are not drawn in 3D: a box reaching
# behind or right next to the camera projects to unbounded pixels.
_MAX_REACH = 20


def track_color(track_id: int) -> tuple[int, int, int]:
    """Return a stable, well separated BGR colour for a track id."""
    hue = (track_id * 0.618033988749895) % 1.0  # golden-ratio steps spread consecutive ids
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def projected_box(track: Any, matrix: np.ndarray, width: int,
                  height: int) -> Optional[np.ndarray]:
    """Return the 8 corners (pixels) of a track's 3D box under P, or None if not drawable.

    None for a track without a 3D box, and for a box with a corner behind the camera or
    projected far outside the image.
    """
    if getattr(track, 'loc', None) is None or track.dim is None or track.rot_y is None:
        return None
    pixels = project(box_corners(track.dim, track.loc, float(track.rot_y)), matrix)
    reach = _MAX_REACH * max(width, height)
    if not np.isfinite(pixels).all() or np.abs(pixels).max() > reach:
        return None
    return pixels


def draw_tracks(image: np.ndarray, tracks: Iterable[Any], class_name: Callable[[int], str],
                calib: Optional[np.ndarray] = None) -> np.ndarray:
    """Draw the active tracks' boxes, ids, classes and scores on a copy of a BGR frame.

    With ``calib`` (the frame's camera matrix P) tracks with a 3D box are drawn in 3D.
    """
    canvas = image.copy()
    height, width = image.shape[:2]
    thickness = max(1, round(max(image.shape[:2]) / 500))
    scale = max(0.4, max(image.shape[:2]) / 1500)
    for track in tracks:
        if track.active <= 0:
            continue
        color = track_color(int(track.track_id))
        corners = None if calib is None else projected_box(track, calib, width, height)
        if corners is None:
            x1, y1, x2, y2 = (int(round(float(v))) for v in track.bbox)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        else:
            points = [(int(round(x)), int(round(y))) for x, y in corners]
            for a, b in EDGES_3D:
                cv2.line(canvas, points[a], points[b], color, thickness, cv2.LINE_AA)
            for a, b in FRONT_DIAGONALS_3D:
                cv2.line(canvas, points[a], points[b], color, 1, cv2.LINE_AA)
            x1 = min(p[0] for p in points)
            y1 = min(p[1] for p in points)
        label = f'{track.track_id} {class_name(int(track.class_id))} {track.score:.2f}'
        (tw, th), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1, th + baseline)
        cv2.rectangle(canvas, (x1, top - th - baseline), (x1 + tw, top), color, -1)
        cv2.putText(canvas, label, (x1, top - baseline), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
