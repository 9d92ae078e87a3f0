"""Camera calibration files for ``convert --camera-info``: what a ``CameraInfo`` topic carries.

Accepted formats (told apart by content):

- a ROS camera calibration YAML (``camera_calibration``'s output: ``image_width``,
  ``image_height``, ``camera_matrix``, ``distortion_model``, ``distortion_coefficients``,
  ``rectification_matrix``, ``projection_matrix``), kept field for field;
- a KITTI calibration file (lines ``P0: ...`` to ``P3: ...``, ``R0_rect``/``R_rect``, ...):
  the 3x4 matrix named by ``key`` (``P2``, the left colour camera, by default);
- a 3x4 projection matrix or a 3x3 intrinsic matrix: 12 or 9 numbers as text (any
  separators), a JSON/YAML list, or a JSON object with ``calib`` (3x4, CenterTrack's
  converted annotations) or ``camera_intrinsic`` (3x3, nuScenes' ``calibrated_sensor``).

A bare matrix describes rectified images without distortion at the frames' own size: K is
P's left 3x3 (P = K [I | t]), or P = [K | 0] for an intrinsic matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import yaml

from ..core.calibration import CalibrationError, projection_matrix
from .errors import BagError

DEFAULT_KITTI_KEY = 'P2'
_NUMBER = r'[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?'
_KITTI_LINE = re.compile(rf'^\s*(\w+)\s*:?\s+((?:{_NUMBER}\s*)+)$')


@dataclass(frozen=True)
class CameraCalibration:
    """The fields of a ``sensor_msgs/CameraInfo`` (width/height None: the frames' size)."""

    p: tuple[float, ...]
    k: tuple[float, ...]
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    d: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))
    distortion_model: str = 'plumb_bob'
    width: Optional[int] = None
    height: Optional[int] = None


def _numbers(value: Any, what: str) -> np.ndarray:
    if isinstance(value, dict) and 'data' in value:  # ROS YAML: {rows, cols, data}
        value = value['data']
    try:
        return np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise BagError(f'{what} is not a list of numbers: {exc}') from exc


def _from_matrix(values: np.ndarray, what: str) -> CameraCalibration:
    """Build a calibration from 12 (P) or 9 (K) numbers, checked as P = K [I | t]."""
    if values.size == 9:
        values = np.concatenate([values.reshape(3, 3), np.zeros((3, 1))], axis=1).reshape(-1)
    if values.size != 12:
        raise BagError(f'{what}: expected a 3x4 projection or 3x3 intrinsic matrix (12 or 9 '
                       f'numbers), got {values.size} numbers')
    try:
        p = projection_matrix(values, what).astype(np.float64)
    except CalibrationError as exc:
        raise BagError(str(exc)) from exc
    return CameraCalibration(p=tuple(values.tolist()), k=tuple(p[:, :3].reshape(-1).tolist()))


def _from_ros_yaml(data: dict, what: str) -> CameraCalibration:
    k = _numbers(data.get('camera_matrix'), f'{what}: camera_matrix')
    if 'projection_matrix' in data:
        p = _numbers(data['projection_matrix'], f'{what}: projection_matrix')
    else:  # a raw camera only: its rectified image is the raw one
        p = np.concatenate([k.reshape(3, 3), np.zeros((3, 1))], axis=1).reshape(-1)
    base = _from_matrix(p, f'{what}: projection_matrix')
    if k.size != 9:
        raise BagError(f'{what}: camera_matrix needs 9 numbers, got {k.size}')
    r = _numbers(data.get('rectification_matrix', np.eye(3)), f'{what}: rectification_matrix')
    if r.size != 9:
        raise BagError(f'{what}: rectification_matrix needs 9 numbers, got {r.size}')
    d = _numbers(data.get('distortion_coefficients', []), f'{what}: distortion_coefficients')
    try:
        width, height = int(data['image_width']), int(data['image_height'])
    except (KeyError, TypeError, ValueError) as exc:
        raise BagError(f'{what}: needs integer image_width and image_height ({exc})') from exc
    if width <= 0 or height <= 0:
        raise BagError(f'{what}: image size must be positive, got {width}x{height}')
    return CameraCalibration(p=base.p, k=tuple(k.tolist()), r=tuple(r.tolist()),
                             d=tuple(d.tolist()),
                             distortion_model=str(data.get('distortion_model', 'plumb_bob')),
                             width=width, height=height)


def _kitti_matrices(text: str) -> dict[str, np.ndarray]:
    """Return ``{key: numbers}`` when every non-empty line is ``KEY[:] numbers``, else {}."""
    matrices = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _KITTI_LINE.match(line)
        if match is None:
            return {}
        matrices[match.group(1)] = np.array(match.group(2).split(), dtype=np.float64)
    return matrices


def read_camera_calibration(path: str | Path, key: str = DEFAULT_KITTI_KEY) -> CameraCalibration:
    """Read a calibration file in one of the formats of the module doc.

    Raises:
        BagError: unreadable file, unknown format, a missing KITTI key, or a matrix that is not
            a valid camera matrix (zero focal length, not of the form K [I | t], ...).

    """
    path = Path(path).expanduser()
    what = f'calibration {path}'
    try:
        text = path.read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise BagError(f'cannot read {what}: {exc}') from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # not YAML: a KITTI file with unkeyed lines, or bare numbers
    if isinstance(data, dict) and ('camera_matrix' in data or 'projection_matrix' in data):
        return _from_ros_yaml(data, what)
    for name in ('calib', 'camera_intrinsic'):
        if isinstance(data, dict) and name in data:
            return _from_matrix(_numbers(data[name], f'{what}: {name}'), what)
    if isinstance(data, list):
        return _from_matrix(_numbers(data, what), what)
    matrices = _kitti_matrices(text)
    if matrices and not all(k.isdigit() for k in matrices):
        if key not in matrices:
            raise BagError(f'{what} has no {key} (it has {", ".join(matrices)}); choose one '
                           'with --camera-info-key')
        return _from_matrix(matrices[key], f'{what} {key}')
    tokens = re.split(r'[\s,;\[\]()]+', text.strip())
    try:
        values = np.array([float(t) for t in tokens if t], dtype=np.float64)
    except ValueError:
        raise BagError(f'{what}: not a ROS camera YAML, a KITTI calibration or a 3x4/3x3 '
                       'matrix') from None
    return _from_matrix(values, what)
