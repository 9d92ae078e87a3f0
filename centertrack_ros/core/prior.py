"""The prior heatmap: previous tracks rendered as Gaussians in network input pixels.

Gaussian sizes follow CenterNet's radius rule: the largest radius at which a box whose corners
are displaced by it still overlaps the true box with IoU >= ``min_overlap``.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .geometry import FrameGeometry, transform_box
from .tracks import Track


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's Gaussian radius for a box of the given size (minimum of three cases)."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_kernel(radius: int) -> np.ndarray:
    """Square ``(2r+1)^2`` Gaussian with sigma ``(2r+1)/6``, negligible tails zeroed."""
    diameter = 2 * radius + 1
    sigma = diameter / 6
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(offsets[np.newaxis, :] ** 2 + offsets[:, np.newaxis] ** 2)
                    / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int) -> None:
    """Max-blend a Gaussian of ``radius`` at integer ``center`` (x, y) into ``heatmap``."""
    kernel = gaussian_kernel(radius)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = kernel[radius - top:radius + bottom, radius - left:radius + right]
    if min(patch.shape) > 0 and min(region.shape) > 0:
        np.maximum(region, patch, out=region)


def prior_peaks(tracks: Iterable[Track], geometry: FrameGeometry, pre_thresh: float,
                coasting: bool = False) -> list[tuple[int, int, int]]:
    """``(x, y, radius)`` in input pixels for each track scoring >= ``pre_thresh``.

    Only active tracks, as in the original, unless ``coasting``: then the tracks kept
    unmatched are drawn too, where their box is (predicted, with a motion model).
    """
    peaks = []
    for track in tracks:
        if track.score < pre_thresh or (track.active == 0 and not coasting):
            continue
        box = transform_box(track.bbox, geometry.to_input, geometry.input_width,
                            geometry.input_height)
        h, w = box[3] - box[1], box[2] - box[0]
        if h > 0 and w > 0:
            radius = max(0, int(gaussian_radius(math.ceil(h), math.ceil(w))))
            center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
            cx, cy = center.astype(np.int32)
            peaks.append((int(cx), int(cy), radius))
    return peaks


def draw_peaks(peaks: Iterable[tuple[int, int, int]], height: int, width: int) -> np.ndarray:
    """Render ``(x, y, radius)`` peaks into an ``H x W`` float32 heatmap."""
    heatmap = np.zeros((height, width), dtype=np.float32)
    for cx, cy, radius in peaks:
        draw_gaussian(heatmap, (cx, cy), radius)
    return heatmap


def render_prior_heatmap(tracks: Iterable[Track], geometry: FrameGeometry,
                         pre_thresh: float) -> np.ndarray:
    """Render the ``1x1xHxW`` float32 prior heatmap in network input pixels."""
    peaks = prior_peaks(tracks, geometry, pre_thresh)
    return draw_peaks(peaks, geometry.input_height, geometry.input_width)[np.newaxis, np.newaxis]
