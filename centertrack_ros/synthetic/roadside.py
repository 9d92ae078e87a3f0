"""Poles and trees along the road: where they stand in a frame and the boxes they cover.

They scroll past as the camera drives, so they are placed per frame, as a closed-form function
of the distance driven: no state, so any frame can be produced without the ones before it. They
are drawn (:mod:`.render`) and they hide objects behind them (:mod:`.ground_truth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import MIN_DEPTH, Layout
from .style import Style


@dataclass(frozen=True)
class RoadsideItem:
    """A pole or a tree at depth ``depth`` in one frame (metres)."""

    depth: float
    kind: str
    x: float
    height: float
    size: float
    side: int


def _hash01(*keys: int) -> float:
    """Return a deterministic pseudo-random number in [0, 1) from integers (splitmix-style).

    Used where variety must be a closed-form function of an index (roadside items) so that
    random access needs no stored state.
    """
    mask = (1 << 64) - 1
    h = 0x9E3779B97F4A7C15
    for k in keys:
        h = ((h ^ (k & mask)) * 0xBF58476D1CE4E5B9) & mask
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & mask
        h ^= h >> 29
    return (h >> 11) / float(1 << 53)


def roadside_items(lay: Layout, sty: Style, seed: int, distance: float) -> list[RoadsideItem]:
    """Return the items in view after the camera has driven ``distance`` metres."""
    d = distance
    items = []
    for s, side in enumerate((-1, 1)):
        kind = sty.roadside[s]
        if kind == 'none':
            continue
        period, phase = sty.roadside_period[s], sty.roadside_phase[s]
        x_edge = lay.road_left - lay.sidewalk if side < 0 else lay.paved_right + lay.sidewalk
        x = x_edge + side * 0.6 if kind == 'tree' else (
            lay.road_left - 0.5 if side < 0 else lay.paved_right + 0.5)
        k0 = math.ceil((MIN_DEPTH + d - phase) / period)
        k1 = math.floor((120.0 + d - phase) / period)
        for k in range(k0, k1 + 1):
            r = _hash01(seed, s, k)
            z = phase + k * period - d
            if kind == 'tree':
                items.append(RoadsideItem(z, kind, x, 2.2 + 1.5 * r, 1.2 + 1.2 * r, side))
            else:
                items.append(RoadsideItem(z, kind, x, 5.0 + 3.0 * r, 0.2, side))
    return items


def item_boxes(lay: Layout, shake: np.ndarray, item: RoadsideItem) -> list[np.ndarray]:
    """Pixel boxes of a roadside item's parts: trunk/pole, then crown or lamp arm.

    ``shake`` is the frame's (dx, dy) image offset.
    """
    sx, sy = shake
    f, z = lay.focal, item.depth
    u = lay.cx + f * item.x / z + sx
    v0 = lay.horizon + f * lay.cam_height / z + sy
    half = f * (0.15 if item.kind == 'tree' else item.size / 2) / z
    top = lay.horizon + f * (lay.cam_height - item.height) / z + sy
    boxes = [np.array([u - half, top, u + half, v0])]
    if item.kind == 'tree':
        r = f * item.size / z
        boxes.append(np.array([u - r, top - 1.7 * r, u + r, top + 0.3 * r]))
    else:
        arm = -item.side * f * 1.4 / z
        t = f * 0.12 / z
        boxes.append(np.array([min(u, u + arm), top, max(u, u + arm), top + t]))
    return boxes
