"""What is published in 3D for a frame: one oriented box per active track, free of message types.

The content of a ``vision_msgs/Detection3D``, computed once for the node and the bag tool
(which build rclpy and rosbags messages from it), so the two cannot disagree. Conventions
(the contract of the ``detections_3d`` topic, README "Monocular 3D"):

- frame: the camera's **optical frame** (``header.frame_id`` of the image: x right, y down,
  z forward), metres. CenterTrack's ``loc`` is in the reference frame of the camera matrix
  P = K [I | t]; it is moved by t = K^-1 P[:, 3] into the camera's own optical frame (t is 0
  for a monocular camera; for the second camera of a stereo pair P refers to the first);
- ``center``: the centre of the box, i.e. CenterTrack's bottom centre ``loc`` moved up by
  h/2 (-y: y points down);
- ``orientation``: the rotation by ``rot_y`` about the optical y axis, as a quaternion
  (0, sin(rot_y/2), 0, cos(rot_y/2)); it turns the box's x axis onto the heading
  (cos rot_y, 0, -sin rot_y);
- ``size``: along the box's own axes (vision_msgs: relative to the box pose): x = length l
  (along the heading), y = height h (along the optical y), z = width w.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import numpy as np

from ..core.calibration import projection_matrix


@dataclass(frozen=True)
class DetectionBox3D:
    """One oriented, labelled 3D box of one image, the content of a ``Detection3D``.

    ``center`` and ``size`` are (x, y, z) in metres, ``orientation`` a unit quaternion
    (x, y, z, w), all in the camera's optical frame (module doc); ``track_id`` is the
    identity written to ``Detection3D.id``, as in the 2D detections.
    """

    track_id: int
    center: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    size: tuple[float, float, float]
    class_name: str
    score: float


def camera_offset(matrix: Any) -> np.ndarray:
    """Return t of P = K [I | t]: where P's reference frame origin is in the camera frame."""
    p = projection_matrix(matrix).astype(np.float64)
    tz = p[2, 3]
    return np.array([(p[0, 3] - p[0, 2] * tz) / p[0, 0], (p[1, 3] - p[1, 2] * tz) / p[1, 1],
                     tz])


def yaw_quaternion(rot_y: float) -> tuple[float, float, float, float]:
    """Return the quaternion (x, y, z, w) of a rotation by ``rot_y`` about the y axis."""
    return (0.0, math.sin(rot_y / 2.0), 0.0, math.cos(rot_y / 2.0))


def detection_boxes_3d(tracks: Iterable[Any], class_name: Callable[[int], str],
                       matrix: Optional[Any]) -> list[DetectionBox3D]:
    """Return the 3D boxes to publish for one frame's tracks, one per active 3D track.

    ``matrix`` is the camera matrix P the frame was tracked with (None: no 3D boxes). Tracks
    are left out when coasting (as in 2D) or without a 3D box (a 2D model, or no P).
    """
    if matrix is None:
        return []
    offset = camera_offset(matrix)
    out = []
    for track in tracks:
        if track.active <= 0 or getattr(track, 'loc', None) is None or track.dim is None \
                or track.rot_y is None:
            continue
        h, w, length = (float(v) for v in track.dim)
        center = np.asarray(track.loc, dtype=np.float64) + offset - (0.0, h / 2.0, 0.0)
        out.append(DetectionBox3D(
            int(track.track_id), (float(center[0]), float(center[1]), float(center[2])),
            yaw_quaternion(float(track.rot_y)), (length, h, w),
            class_name(int(track.class_id)), float(track.score)))
    return out
