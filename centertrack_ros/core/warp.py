"""Bilinear warping into the network input with OpenCV's fixed-point arithmetic, exactly.

The original pre-processing is ``cv2.warpAffine(..., INTER_LINEAR)`` as implemented in OpenCV
4.x: source coordinates in 1/32 pixel steps computed with 10-bit fixed point, and 15-bit integer
interpolation weights. OpenCV 5 computes warpAffine differently (up to 4 grey levels apart),
which moves detections near thresholds. Computing the coordinates here and interpolating with
``cv2.remap`` (whose fixed-point path is unchanged) reproduces the original bit for bit on any
OpenCV version, and gives the integer maps the GPU path uses for an identical result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .geometry import FrameGeometry

INTER_BITS = 5
INTER_TAB_SIZE = 1 << INTER_BITS  # sub-pixel positions per pixel
AB_BITS = 10
AB_SCALE = 1 << AB_BITS
COEF_BITS = 15  # interpolation weights sum to 2**15


@dataclass(frozen=True, eq=False)
class WarpMaps:
    """Per output pixel: integer source pixel and sub-pixel fraction in 1/32 steps.

    ``src_x``/``src_y`` are the top-left taps (int32, may lie outside the image, where the
    border value 0 is read); ``frac_x``/``frac_y`` are in ``0..31``.
    """

    src_x: np.ndarray
    src_y: np.ndarray
    frac_x: np.ndarray
    frac_y: np.ndarray
    remap_xy: np.ndarray
    remap_frac: np.ndarray


def _inverse_affine(matrix: np.ndarray) -> np.ndarray:
    """Invert a 2x3 affine matrix the way warpAffine does (double precision)."""
    m = matrix.astype(np.float64).ravel().copy()
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a11, a22 = m[4] * det, m[0] * det
    m[0], m[1], m[3], m[4] = a11, -m[1] * det, -m[3] * det, a22
    b1 = -m[0] * m[2] - m[1] * m[5]
    b2 = -m[3] * m[2] - m[4] * m[5]
    m[2], m[5] = b1, b2
    return m.reshape(2, 3)


@lru_cache(maxsize=16)
def warp_maps(geometry: FrameGeometry) -> WarpMaps:
    """Fixed-point source coordinates of every network input pixel (cached per geometry)."""
    inv = _inverse_affine(geometry.to_input)
    xs = np.arange(geometry.input_width, dtype=np.float64)
    ys = np.arange(geometry.input_height, dtype=np.float64)
    round_delta = AB_SCALE // INTER_TAB_SIZE // 2
    # np.rint rounds half to even like cvRound.
    x_step = np.rint(inv[0, 0] * xs * AB_SCALE).astype(np.int64)
    y_step = np.rint(inv[1, 0] * xs * AB_SCALE).astype(np.int64)
    x_row = np.rint((inv[0, 1] * ys + inv[0, 2]) * AB_SCALE).astype(np.int64) + round_delta
    y_row = np.rint((inv[1, 1] * ys + inv[1, 2]) * AB_SCALE).astype(np.int64) + round_delta
    x_fixed = (x_row[:, None] + x_step[None, :]) >> (AB_BITS - INTER_BITS)
    y_fixed = (y_row[:, None] + y_step[None, :]) >> (AB_BITS - INTER_BITS)
    src_x = (x_fixed >> INTER_BITS).astype(np.int32)
    src_y = (y_fixed >> INTER_BITS).astype(np.int32)
    frac_x = (x_fixed & (INTER_TAB_SIZE - 1)).astype(np.int32)
    frac_y = (y_fixed & (INTER_TAB_SIZE - 1)).astype(np.int32)
    remap_xy = np.stack([np.clip(src_x, -32768, 32767), np.clip(src_y, -32768, 32767)],
                        axis=-1).astype(np.int16)
    remap_frac = (frac_y * INTER_TAB_SIZE + frac_x).astype(np.uint16)
    maps = WarpMaps(src_x, src_y, frac_x, frac_y, remap_xy, remap_frac)
    for array in (src_x, src_y, frac_x, frac_y, remap_xy, remap_frac):
        array.setflags(write=False)
    return maps


def warp_bilinear(image: np.ndarray, geometry: FrameGeometry) -> np.ndarray:
    """Warp ``image`` into the network input exactly as OpenCV 4's ``warpAffine`` does."""
    maps = warp_maps(geometry)
    return cv2.remap(image, maps.remap_xy, maps.remap_frac, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
