"""The camera matrix for the tracker from a ``sensor_msgs/CameraInfo``-like object, free of ROS.

CenterTrack's 3D outputs need the 3x4 matrix P of the image **as the tracker receives it**
(:mod:`centertrack_ros.core.calibration`). A ``CameraInfo`` (rclpy's, rosbags', or anything
with the same fields: ``width``, ``height``, ``k`` (9), ``p`` (12), optionally ``binning_x``,
``binning_y`` and ``roi``) describes the camera at its calibrated resolution:

- ``p`` is the projection of the **rectified** image (``image_rect``), the usual input of a
  3D detector; ``k`` that of the raw image, whose lens distortion CenterTrack then ignores
  (``matrix='k'`` builds P = [K | 0]).
- A region of interest and binning (ROS's convention, as ``image_geometry`` applies it) crop
  and then divide the calibrated image: P follows (crop, then scale).
- An image that still differs in size must be a uniform resize of that (each side within one
  pixel of the same factor), as a downscaled stream is; P is scaled by each side's factor.
  Anything else is refused: an image that is not what the calibration describes would give
  silently wrong positions.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..core.calibration import (
    CalibrationError,
    crop_projection,
    projection_matrix,
    scale_projection,
)

MATRICES = ('p', 'k')
TRANSPORT_SUFFIXES = ('compressed', 'theora', 'compressedDepth')  # image_transport's streams


def camera_info_topic(image_topic: str) -> str:
    """Return the fully qualified ``camera_info`` topic beside an image topic.

    image_transport's pairing: ``/camera/image_raw`` and ``/camera/image_raw/compressed`` give
    ``/camera/camera_info``; a topic at the root (``image``) gives ``/camera_info``.
    """
    parts = image_topic.strip().strip('/').split('/')
    if parts[-1] in TRANSPORT_SUFFIXES and len(parts) > 1:
        parts = parts[:-1]
    return '/' + '/'.join(parts[:-1] + ['camera_info'])


def _values(info: Any, name: str, count: int) -> np.ndarray:
    try:
        values = np.asarray(getattr(info, name), dtype=np.float64).reshape(-1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise CalibrationError(f'camera_info.{name} is missing or not numeric: {exc}') from exc
    if values.size != count:
        raise CalibrationError(f'camera_info.{name} needs {count} values, got {values.size}')
    return values


def _matrix(info: Any, matrix: str) -> np.ndarray:
    if matrix == 'p':
        p = _values(info, 'p', 12)
        if not p.any():
            raise CalibrationError('camera_info.p is all zeros (the camera is not calibrated, '
                                   'or publishes only k: use the k matrix for raw images)')
        return projection_matrix(p, 'camera_info.p')
    k = _values(info, 'k', 9).reshape(3, 3)
    if not k.any():
        raise CalibrationError('camera_info.k is all zeros: the camera is not calibrated')
    return projection_matrix(np.concatenate([k, np.zeros((3, 1))], axis=1), 'camera_info.k')


def _binning(info: Any, name: str) -> int:
    value = int(getattr(info, name, 0) or 0)
    if value < 0:
        raise CalibrationError(f'camera_info.{name} must be >= 0, got {value}')
    return max(value, 1)  # 0 and 1 both mean no binning


def _calibrated(info: Any, matrix: str) -> tuple[np.ndarray, int, int]:
    width, height = int(info.width), int(info.height)
    if width <= 0 or height <= 0:
        raise CalibrationError(f'camera_info has no image size ({width}x{height}): the camera '
                               'is not calibrated')
    p = _matrix(info, matrix)
    roi = getattr(info, 'roi', None)
    if roi is not None and int(roi.width) > 0 and int(roi.height) > 0:
        x, y = int(roi.x_offset), int(roi.y_offset)
        if x + int(roi.width) > width or y + int(roi.height) > height:
            raise CalibrationError(f'camera_info.roi ({roi.width}x{roi.height} at {x}, {y}) '
                                   f'does not fit the {width}x{height} calibrated image')
        p = crop_projection(p, x, y)
        width, height = int(roi.width), int(roi.height)
    bx, by = _binning(info, 'binning_x'), _binning(info, 'binning_y')
    if bx > 1 or by > 1:
        p = scale_projection(p, 1.0 / bx, 1.0 / by)
        width, height = width // bx, height // by
    return p, width, height


def _uniform_resize(width: int, height: int, image_width: int, image_height: int) -> bool:
    """Whether some factor s gives both sides within one pixel (any rounding of a resize)."""
    low = max((image_width - 1) / width, (image_height - 1) / height)
    high = min((image_width + 1) / width, (image_height + 1) / height)
    return low <= high


def projection_for_image(info: Any, image_width: int, image_height: int,
                         matrix: str = 'p') -> np.ndarray:
    """Return the validated 3x4 float32 P for an ``image_width x image_height`` image.

    Args:
        info: a ``sensor_msgs/CameraInfo`` or an object with its fields (module doc).
        image_width, image_height: the size of the image given to the tracker.
        matrix: ``p`` for rectified images (the default), ``k`` for raw ones.

    Raises:
        CalibrationError: an uncalibrated camera (zero size, all-zero or zero-focal matrix),
            a malformed field, a matrix not of the form K [I | t], an ROI outside the image,
            or an image size that is not the calibrated one nor a uniform resize of it.

    """
    if matrix not in MATRICES:
        raise CalibrationError(f"matrix must be 'p' or 'k', got {matrix!r}")
    p, width, height = _calibrated(info, matrix)
    if (image_width, image_height) == (width, height):
        return p
    if image_width <= 0 or image_height <= 0 or \
            not _uniform_resize(width, height, image_width, image_height):
        raise CalibrationError(
            f'camera_info describes {width}x{height} images, but the image is '
            f'{image_width}x{image_height}, which is not a uniform resize of it: the camera_info '
            'belongs to another camera or stream')
    return scale_projection(p, image_width / width, image_height / height)


class CameraInfoCache:
    """The latest ``CameraInfo`` messages of one camera, to calibrate its frames.

    A frame takes the message with its own stamp when there is one (drivers stamp both
    alike), else the newest (a camera's calibration rarely changes).
    """

    def __init__(self, keep: int = 16) -> None:
        self._by_stamp: dict[int, Any] = {}
        self._latest: Any = None
        self._keep = keep

    def add(self, info: Any, stamp_ns: int) -> None:
        """Remember a ``CameraInfo`` received with header stamp ``stamp_ns``."""
        self._by_stamp[stamp_ns] = info
        self._latest = info
        while len(self._by_stamp) > self._keep:
            del self._by_stamp[min(self._by_stamp)]

    def projection(self, stamp_ns: int, image_width: int, image_height: int,
                   matrix: str = 'p') -> np.ndarray:
        """Return the validated P for a frame (see :func:`projection_for_image`).

        Raises:
            CalibrationError: no ``CameraInfo`` yet, or the one that applies is unusable.

        """
        info = self._by_stamp.get(stamp_ns, self._latest)
        if info is None:
            raise CalibrationError('no camera_info received yet')
        return projection_for_image(info, image_width, image_height, matrix)


class Calibrator:
    """The camera matrix of each camera's frames, from the ``CameraInfo`` messages it is given.

    Models with 3D heads need P for every frame; a frame without a usable one still gets its 2D
    tracks. ``status(camera)`` says, for diagnostics, what the last frame of a camera got.

    Args:
        num_cameras: how many cameras (slots) it serves.
        matrix: ``p`` (rectified images) or ``k`` (raw ones), see :func:`projection_for_image`.
        sources: per camera, the image and camera_info topic names, for messages.

    """

    def __init__(self, num_cameras: int, matrix: str = 'p',
                 sources: Sequence[tuple[str, str]] = ()) -> None:
        if matrix not in MATRICES:
            raise CalibrationError(f"matrix must be 'p' or 'k', got {matrix!r}")
        self.matrix = matrix
        self._caches = [CameraInfoCache() for _ in range(num_cameras)]
        self._sources = list(sources) or [('image', 'camera_info')] * num_cameras
        self._status = ['no camera_info received yet'] * num_cameras

    def add(self, camera: int, info: Any, stamp_ns: int) -> None:
        """Remember a ``CameraInfo`` of ``camera`` received with header stamp ``stamp_ns``."""
        self._caches[camera].add(info, stamp_ns)

    def calibrate(self, camera: int, stamp_ns: int, image_width: int,
                  image_height: int) -> tuple[Optional[np.ndarray], Optional[str]]:
        """Return ``(P, None)`` for a frame, or ``(None, why not)`` with a message for the log."""
        try:
            p = self._caches[camera].projection(stamp_ns, image_width, image_height, self.matrix)
        except CalibrationError as exc:
            self._status[camera] = str(exc)
            image, info = self._sources[camera]
            return None, (f'no 3D output for {image}: {exc} (on {info}); 2D detections '
                          'continue')
        self._status[camera] = (f'ok (fx {p[0, 0]:.1f}, fy {p[1, 1]:.1f}, cx {p[0, 2]:.1f}, '
                                f'cy {p[1, 2]:.1f})')
        return p, None

    def status(self, camera: int) -> str:
        """Say what the last frame of ``camera`` got: its focal lengths and centre, or why not."""
        return self._status[camera]
