"""CenterTrack's monocular 3D outputs: depth, observation angle, 3D location and box corners.

The formulas are the original's (``tracking,ddd``), vectorised over a frame's detections:

- depth: the ``dep`` head is trained through d = 1 / sigmoid(x) - 1 (metres), the depth of the
  box centre along the optical axis (the w of its projection);
- observation angle ``alpha``: two overlapping bins, each (score, score, sin, cos); the bin
  whose second score is larger gives atan2(sin, cos) - pi/2 (bin 1) or + pi/2 (bin 2), left
  unwrapped in (-3pi/2, 3pi/2) as the original leaves it;
- location ``loc``: the amodal centre (u, v) unprojected with P at depth d, then moved down by
  h/2 to the **bottom centre** of the box (y points down in the camera frame);
- yaw ``rot_y``: alpha plus the angle of the viewing ray, wrapped once into [-pi, pi].

Frame: the reference frame of P (for P = K [I | t], x right, y down, z forward). Dimensions
are (h, w, l): height along y, width, length along the heading (cos rot_y, 0, -sin rot_y).
"""

from __future__ import annotations

import numpy as np

# The rotation head: [bin1 score0, bin1 score1, bin1 sin, bin1 cos, bin2 score0, ...].
ROT_CHANNELS = 8


def depth_from_raw(raw: np.ndarray, depth_scale: float = 1.0) -> np.ndarray:
    """Metric depth from the raw ``dep`` output, element-wise in float32 as the original.

    d = 1 / (sigmoid(raw) + 1e-6) - 1, times ``depth_scale`` when it is not 1.
    """
    raw = np.asarray(raw, dtype=np.float32)
    with np.errstate(over='ignore', under='ignore'):  # saturation to 0 and 1 is intended
        sigmoid = np.float32(1) / (np.float32(1) + np.exp(-raw))
    depth = np.float32(1) / (sigmoid + np.float32(1e-6)) - np.float32(1)
    return depth * np.float32(depth_scale) if depth_scale != 1.0 else depth


def alpha_from_rot(rot: np.ndarray) -> np.ndarray:
    """Observation angles of ``N x 8`` rotation-bin outputs (radians, not wrapped)."""
    rot = np.asarray(rot, dtype=np.float64).reshape(-1, ROT_CHANNELS)
    first = rot[:, 1] > rot[:, 5]  # strictly, as the original
    alpha1 = np.arctan2(rot[:, 2], rot[:, 3]) - 0.5 * np.pi
    alpha2 = np.arctan2(rot[:, 6], rot[:, 7]) + 0.5 * np.pi
    return np.where(first, alpha1, alpha2)


def unproject(centers: np.ndarray, depths: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """3D points (``N x 3``, float32) whose projections with P are ``centers`` at ``depths``.

    ``depths`` are the homogeneous w of the projections, so z = d - P[2][3]; the formulas
    assume P = K [I | t] (checked by :func:`~.calibration.projection_matrix`).
    """
    p = np.asarray(matrix, dtype=np.float64)
    uv = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(depths, dtype=np.float64).reshape(-1)
    z = d - p[2, 3]
    x = (uv[:, 0] * d - p[0, 3] - p[0, 2] * z) / p[0, 0]
    y = (uv[:, 1] * d - p[1, 3] - p[1, 2] * z) / p[1, 1]
    return np.stack([x, y, z], axis=1).astype(np.float32)


def wrap_once(angle: np.ndarray) -> np.ndarray:
    """Bring angles in (-3pi, 3pi) into [-pi, pi] with one 2pi step, as the original does."""
    angle = np.asarray(angle, dtype=np.float64)
    angle = np.where(angle > np.pi, angle - 2 * np.pi, angle)
    return np.where(angle < -np.pi, angle + 2 * np.pi, angle)


def rot_y_from_alpha(alpha: np.ndarray, u: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Yaw about the camera's y axis: alpha plus the viewing ray's angle atan2(u - cx, fx)."""
    p = np.asarray(matrix, dtype=np.float64)
    ray = np.arctan2(np.asarray(u, dtype=np.float64) - p[0, 2], p[0, 0])
    return wrap_once(np.asarray(alpha, dtype=np.float64) + ray)


def locations(centers: np.ndarray, depths: np.ndarray, dims: np.ndarray,
              matrix: np.ndarray) -> np.ndarray:
    """Bottom centres (``N x 3``, float32) of boxes whose 3D centres project to ``centers``."""
    loc = unproject(centers, depths, matrix)
    loc[:, 1] += np.asarray(dims, dtype=np.float32).reshape(-1, 3)[:, 0] / 2
    return loc


def box_corners(dim: np.ndarray, loc: np.ndarray, rot_y: float) -> np.ndarray:
    """Return the 8 corners (``8 x 3``) of a box given as (h, w, l), bottom centre and yaw.

    In the object frame x = +-l/2 (along the heading), y in {0, -h} (bottom, top: y points
    down), z = +-w/2; rotated by R_y(rot_y) and moved to ``loc``. Corners 0-3 are the bottom
    face, 4-7 the top face above them; 0, 1, 4, 5 are at the front (+x in the object frame).
    """
    h, w, length = (float(v) for v in np.asarray(dim).reshape(3))
    c, s = np.cos(rot_y), np.sin(rot_y)
    rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    x = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * length / 2
    y = np.array([0, 0, 0, 0, -1, -1, -1, -1]) * h
    z = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * w / 2
    return (rotation @ np.stack([x, y, z])).T + np.asarray(loc, dtype=np.float64).reshape(1, 3)


def project(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Pixels (``N x 2``) of 3D points (``N x 3``) under P; NaN for points not in front (w <= 0)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    homogeneous = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    image = homogeneous @ np.asarray(matrix, dtype=np.float64).T
    w = image[:, 2:3]
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(w > 0, image[:, :2] / w, np.nan)
