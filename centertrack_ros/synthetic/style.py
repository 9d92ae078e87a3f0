"""The look of a scene, drawn once per sequence: road, markings, shadows, roadside furniture.

Kept apart from the layout because it is appearance, not geometry; both the static background
and the per-frame drawing of what scrolls past (dashes, shadow bands, poles and trees) read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SceneConfig
from .drawing import bgr, jitter, scaled
from .layout import Layout


@dataclass
class Style:
    """Colours and the placement of everything that repeats along the road."""

    road: tuple[float, float, float]
    marking: tuple[float, float, float]
    centre: str  # 'dashed', 'yellow', 'double', 'white'
    dash_length: float
    dash_period: float
    dash_phase: float
    marking_width: float
    shadow_period: float
    shadow_bands: tuple[tuple[float, float, float], ...]  # (offset, length, darkness)
    roadside: tuple[str, str]  # per side: 'pole', 'tree' or 'none'
    roadside_period: tuple[float, float]
    roadside_phase: tuple[float, float]
    pole_colour: tuple[float, float, float]
    foliage: tuple[float, float, float]
    trunk: tuple[float, float, float]
    shadow_colour: tuple[float, float, float]


def make_style(lay: Layout, cfg: SceneConfig, rng: np.random.Generator) -> Style:
    """Draw the look of a scene."""
    grey = rng.uniform(70, 125)
    road = jitter(rng, (grey, grey, grey + rng.uniform(-4, 6)), 6)
    bands: list[tuple[float, float, float]] = []
    period = rng.uniform(30, 90)
    if cfg.shadows and rng.random() < 0.7:
        for _ in range(int(rng.integers(1, 4))):
            bands.append((rng.uniform(0, period), rng.uniform(1.5, 7.0), rng.uniform(0.5, 0.8)))
    kinds = ('pole', 'tree', 'none')
    return Style(
        road=road, marking=jitter(rng, (230, 232, 232), 18),
        centre=str(rng.choice(['dashed', 'yellow', 'double', 'white'])),
        dash_length=rng.uniform(2.0, 4.0), dash_period=rng.uniform(8.0, 13.0),
        dash_phase=rng.uniform(0, 13.0), marking_width=rng.uniform(0.12, 0.18),
        shadow_period=period, shadow_bands=tuple(bands),
        roadside=(str(rng.choice(kinds, p=[0.45, 0.35, 0.2])),
                  str(rng.choice(kinds, p=[0.45, 0.35, 0.2]))),
        roadside_period=(rng.uniform(12, 35), rng.uniform(12, 35)),
        roadside_phase=(rng.uniform(0, 35), rng.uniform(0, 35)),
        pole_colour=jitter(rng, (120, 120, 125), 30),
        foliage=bgr(rng.uniform(0.2, 0.36), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.55)),
        trunk=bgr(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.2, 0.4)),
        shadow_colour=scaled(road, 0.35))

