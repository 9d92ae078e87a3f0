"""Affine geometry between image pixels, network input pixels and output-map cells.

CenterTrack fits the whole image into a fixed input size without distortion: the image centre
maps to the input centre and the longer image side (``scale``) spans the input width. The same
construction with the output size gives the map from image pixels to heatmap cells; its
inverse brings decoded detections back to image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .config import OUTPUT_STRIDE, InputConfig


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Point completing a right angle at ``b`` (so three points define the affine map)."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def affine_transform_matrix(center: np.ndarray, scale: float, output_size: tuple[int, int],
                            inverse: bool = False) -> np.ndarray:
    """2x3 matrix mapping a square of side ``scale`` centred at ``center`` onto ``output_size``.

    ``output_size`` is ``(width, height)``. With ``inverse`` the matrix maps back. Rotation is
    never used at inference and is therefore not supported.
    """
    out_w, out_h = output_size
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, -0.5 * scale], dtype=np.float32)
    dst[0] = [out_w * 0.5, out_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, -0.5 * out_w], dtype=np.float32)
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inverse:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to an ``(N, 2)`` array of points in float32.

    float32 on purpose: decoded coordinates in the original are mapped in float32, and the
    reference results are compared to 0.05 px.
    """
    pts = np.ones((points.shape[0], 3), dtype=np.float32)
    pts[:, :2] = points
    return (matrix.astype(np.float32) @ pts.T).T


def transform_box(box: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map an ``[x1, y1, x2, y2]`` box with ``matrix`` and clip it to ``width x height``."""
    out = np.array(box, dtype=np.float32)
    for corner in (slice(0, 2), slice(2, 4)):
        pt = np.array([out[corner][0], out[corner][1], 1.0], dtype=np.float32)
        out[corner] = matrix @ pt
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width - 1)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height - 1)
    return out


@dataclass(frozen=True, eq=False)
class FrameGeometry:
    """The transforms of one image size into one network input size.

    Instances are cached per size and compared/hashed by identity.
    """

    image_width: int
    image_height: int
    input_width: int
    input_height: int
    center: np.ndarray
    scale: float
    to_input: np.ndarray
    to_output: np.ndarray
    output_to_image: np.ndarray

    def same_size(self, other: 'FrameGeometry') -> bool:
        """Whether ``other`` maps the same image size into the same input size."""
        return (self.image_width, self.image_height, self.input_width, self.input_height) == (
            other.image_width, other.image_height, other.input_width, other.input_height)

    @property
    def output_width(self) -> int:
        """Width of the network output maps."""
        return self.input_width // OUTPUT_STRIDE

    @property
    def output_height(self) -> int:
        """Height of the network output maps."""
        return self.input_height // OUTPUT_STRIDE


# Callers (the pipeline, the engines) tell "same image size as last frame" by identity, so
# an entry must outlive any realistic number of other sizes in between (e.g. many cameras);
# one entry is a few hundred bytes.
@lru_cache(maxsize=1024)
def _geometry(image_width: int, image_height: int, input_width: int,
              input_height: int) -> FrameGeometry:
    center = np.array([image_width / 2.0, image_height / 2.0], dtype=np.float32)
    scale = float(max(image_width, image_height))
    out_size = (input_width // OUTPUT_STRIDE, input_height // OUTPUT_STRIDE)
    geometry = FrameGeometry(
        image_width=image_width,
        image_height=image_height,
        input_width=input_width,
        input_height=input_height,
        center=center,
        scale=scale,
        to_input=affine_transform_matrix(center, scale, (input_width, input_height)),
        to_output=affine_transform_matrix(center, scale, out_size),
        output_to_image=affine_transform_matrix(center, scale, out_size, inverse=True),
    )
    for array in (geometry.center, geometry.to_input, geometry.to_output,
                  geometry.output_to_image):
        array.setflags(write=False)
    return geometry


def frame_geometry(image_width: int, image_height: int, input_config: InputConfig) -> FrameGeometry:
    """Geometry for an image of the given size and the configured input size (cached)."""
    return _geometry(int(image_width), int(image_height), input_config.width,
                     input_config.height)
