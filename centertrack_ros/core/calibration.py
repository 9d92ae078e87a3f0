"""The camera projection matrix P that turns CenterTrack's 3D outputs into metric positions.

P (3x4, row-major) maps a homogeneous point (x, y, z, 1) of the camera's reference frame, in
metres, to pixels (u·w, v·w, w) of the **image as it is fed to the tracker** (its own
resolution, not the network input's). CenterTrack's unprojection assumes the form
K [I | t] -- a pinhole without skew whose third row is (0, 0, 1, t_z) -- which is the form of
KITTI's P2, of nuScenes' camera intrinsics and of ``sensor_msgs/CameraInfo.p``. Everything here
checks that form, or keeps it when the image is resized or cropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CalibrationError

# nuScenes' focal length: CenterTrack's ``rest_focal_length``, used when no calibration is given.
NUSCENES_FOCAL_LENGTH = 1200.0
# Row 2 must be (0, 0, 1) and the skew 0 to this precision (relative to the focal length);
# a few float32 ulps survive conversions between file formats.
_FORM_TOLERANCE = 1e-6


def projection_matrix(value: Any, what: str = 'the camera matrix P') -> np.ndarray:
    """Return ``value`` as a validated 3x4 float32 P (12 numbers, row-major, or 3x4).

    The original converts a given calibration to float32, so this does too.

    Raises:
        CalibrationError: not 12 finite numbers, a zero or negative focal length, or not of
            the form K [I | t] (row 2 other than (0, 0, 1, t_z), or a skew).

    """
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f'{what} is not numeric: {exc}') from exc
    if matrix.size != 12:
        raise CalibrationError(f'{what} needs 12 values (3x4), got {matrix.size}')
    matrix = matrix.reshape(3, 4)
    if not np.isfinite(matrix).all():
        raise CalibrationError(f'{what} holds NaN or infinite values: {matrix.tolist()}')
    fx, fy = matrix[0, 0], matrix[1, 1]
    if not (fx > 0 and fy > 0):
        raise CalibrationError(
            f'{what} has focal lengths fx={fx:g}, fy={fy:g}; both must be > 0 (an all-zero '
            'matrix is what an uncalibrated camera publishes)')
    scale = max(fx, fy)
    if np.abs(matrix[2, :3] - (0.0, 0.0, 1.0)).max() > _FORM_TOLERANCE or \
            abs(matrix[1, 0]) > _FORM_TOLERANCE * scale:
        raise CalibrationError(f'{what} must have the form K [I | t] with row 2 = (0, 0, 1, '
                               f't_z); got rows {matrix.tolist()}')
    if abs(matrix[0, 1]) > _FORM_TOLERANCE * scale:
        raise CalibrationError(f'{what} has a skew P[0][1]={matrix[0, 1]:g}; CenterTrack\'s '
                               'unprojection assumes none')
    return matrix.astype(np.float32)


def default_projection(width: int, height: int,
                       focal_length: float = NUSCENES_FOCAL_LENGTH) -> np.ndarray:
    """P the original assumes when it is given no calibration (``calib_source: default``).

    [[f, 0, W/2, 0], [0, f, H/2, 0], [0, 0, 1, 0]] for the W x H image fed to the tracker,
    with f its ``rest_focal_length`` (nuScenes' 1200; ``--test_focal_length`` overrides it).
    A real camera's own matrix is always better: positions scale with the focal length.
    """
    if width < 1 or height < 1:
        raise CalibrationError(f'image size must be positive, got {width}x{height}')
    return projection_matrix([[focal_length, 0.0, width / 2.0, 0.0],
                              [0.0, focal_length, height / 2.0, 0.0],
                              [0.0, 0.0, 1.0, 0.0]], 'the default camera matrix')


def scale_projection(matrix: Any, sx: float, sy: float) -> np.ndarray:
    """P of an image resized by ``(sx, sy)`` (new size = old size x factor).

    Pixel coordinates scale, so row 0 (fx, skew, cx, P[0][3]) is multiplied by ``sx`` and
    row 1 (fy, cy, P[1][3]) by ``sy``; row 2 (depth) is unchanged.
    """
    if not (sx > 0 and sy > 0):
        raise CalibrationError(f'scale factors must be > 0, got {sx}, {sy}')
    out = projection_matrix(matrix).astype(np.float64)
    out[0] *= sx
    out[1] *= sy
    return projection_matrix(out)


def crop_projection(matrix: Any, x_offset: float, y_offset: float) -> np.ndarray:
    """P of the crop of an image whose top-left corner is at ``(x_offset, y_offset)``.

    Pixel coordinates move by the offset: u' = u - ox, i.e. row 0 loses ox x row 2 (and row 1
    oy x row 2), which shifts cx, cy and, with a non-zero t_z, P[0][3] and P[1][3].
    """
    out = projection_matrix(matrix).astype(np.float64)
    out[0] -= x_offset * out[2]
    out[1] -= y_offset * out[2]
    return projection_matrix(out)
