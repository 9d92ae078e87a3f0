"""What cars and pedestrians look like: sprites drawn from the sequence's random generator.

A car is one static sprite per object, seen from the rear, the front or a side. A pedestrian
is a static upper body plus legs rebuilt every frame from the gait phase, so people walk.
Sprites are in box-normalised coordinates, so one sprite serves the object at every distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .drawing import Sprite, bgr, ellipse_poly, jitter, mirror, rect, scaled

_CAR_PAINTS = (  # BGR: the common real-world paint colours, so that the model sees them all
    (235, 235, 235), (30, 30, 34), (185, 185, 190), (110, 110, 115), (40, 40, 190),
    (150, 70, 30), (90, 40, 20), (60, 120, 50), (40, 190, 230), (30, 110, 220), (60, 80, 120),
)
_SKIN = ((170, 195, 235), (130, 165, 215), (90, 125, 180), (60, 85, 125), (150, 180, 225))
_HAIR = ((20, 20, 25), (30, 50, 80), (60, 110, 170), (140, 150, 160), (20, 30, 50))


def car_sprite(rng: np.random.Generator, view: str, aspect: float, van: bool) -> Sprite:
    """Build a car seen from behind ('rear'), the front ('front') or the side ('left'/'right').

    ``aspect`` is box height over box width, needed to keep round wheels round.
    """
    paint = jitter(rng, _CAR_PAINTS[rng.integers(len(_CAR_PAINTS))], 18)
    roof = paint if rng.random() < 0.75 else jitter(rng, _CAR_PAINTS[rng.integers(2)], 10)
    glass = bgr(rng.uniform(0.5, 0.65), rng.uniform(0.1, 0.4), rng.uniform(0.12, 0.35))
    shade = scaled(paint, rng.uniform(0.65, 0.85))
    tyre = (22.0, 22.0, 24.0)
    stripe = None
    if rng.random() < 0.2:
        stripe = jitter(rng, _CAR_PAINTS[rng.integers(len(_CAR_PAINTS))], 10)
    s = Sprite()
    if view in ('rear', 'front'):
        inset = rng.uniform(0.04, 0.1) if van else rng.uniform(0.14, 0.22)
        waist = 0.36 if van else rng.uniform(0.4, 0.46)
        s.add(roof, [(inset, 0.0), (1 - inset, 0.0), (0.96, waist + 0.02), (0.04, waist + 0.02)])
        if view == 'rear':
            s.add(glass, [(inset + 0.06, 0.06), (0.94 - inset, 0.06), (0.9, waist - 0.04),
                          (0.1, waist - 0.04)])
        else:
            light_glass = scaled(glass, 1.6)
            s.add(light_glass, [(inset + 0.04, 0.05), (0.96 - inset, 0.05), (0.93, waist - 0.02),
                                (0.07, waist - 0.02)])
        s.add(paint, rect(0.0, waist, 1.0, 0.86))
        s.add(shade, rect(0.0, 0.68, 1.0, 0.86))
        if stripe is not None:
            s.add(stripe, rect(0.0, waist + 0.08, 1.0, waist + 0.13))
        if view == 'rear':
            lamp = jitter(rng, (35, 35, 200), 25)
            s.add(lamp, rect(0.03, waist + 0.06, 0.2, waist + 0.16),
                  rect(0.8, waist + 0.06, 0.97, waist + 0.16))
        else:
            lamp = jitter(rng, (205, 230, 240), 15)
            s.add(lamp, rect(0.04, waist + 0.08, 0.24, waist + 0.17),
                  rect(0.76, waist + 0.08, 0.96, waist + 0.17))
            s.add(scaled(paint, 0.35), rect(0.3, waist + 0.09, 0.7, waist + 0.2))
        s.add((225.0, 225.0, 220.0) if rng.random() < 0.7 else (40.0, 200.0, 230.0),
              rect(0.4, 0.62, 0.6, 0.71))
        s.add((45.0, 45.0, 48.0), rect(0.0, 0.78, 1.0, 0.87))
        s.add(tyre, rect(0.05, 0.8, 0.24, 1.0), rect(0.76, 0.8, 0.95, 1.0))
        s.add((15.0, 15.0, 16.0), rect(0.24, 0.87, 0.76, 0.96))
    else:
        # Built facing right (moving in +X) and mirrored for 'left'.
        flip = (lambda p: mirror(p)) if view == 'left' else (lambda p: np.asarray(p, float))
        if van:
            cabin = [(0.02, 0.36), (0.04, 0.0), (0.78, 0.0), (0.93, 0.36)]
            win1 = [(0.08, 0.3), (0.1, 0.07), (0.45, 0.07), (0.45, 0.3)]
            win2 = [(0.48, 0.3), (0.48, 0.07), (0.76, 0.07), (0.87, 0.3)]
            sill = 0.36
        else:
            cabin = [(0.17, 0.4), (0.3, 0.0), (0.68, 0.0), (0.82, 0.4)]
            win1 = [(0.23, 0.36), (0.32, 0.07), (0.48, 0.07), (0.48, 0.36)]
            win2 = [(0.51, 0.36), (0.51, 0.07), (0.66, 0.07), (0.76, 0.36)]
            sill = 0.4
        s.add(roof, flip(cabin))
        s.add(glass, flip(win1), flip(win2))
        s.add(paint, flip([(0.0, sill + 0.06), (0.06, sill - 0.02), (0.92, sill),
                           (1.0, sill + 0.08), (1.0, 0.8), (0.0, 0.8)]))
        s.add(shade, flip(rect(0.0, 0.63, 1.0, 0.8)))
        if stripe is not None:
            s.add(stripe, flip(rect(0.0, sill + 0.12, 1.0, sill + 0.17)))
        s.add(scaled(paint, 0.5), flip(rect(0.49, sill + 0.02, 0.505, 0.74)))
        s.add(jitter(rng, (205, 230, 240), 15), flip(rect(0.955, sill + 0.1, 1.0, sill + 0.18)))
        s.add(jitter(rng, (35, 35, 200), 25), flip(rect(0.0, sill + 0.08, 0.035, sill + 0.16)))
        ry = 0.18
        rx = ry * aspect
        hub = jitter(rng, (150, 150, 155), 40)
        for cx in (0.2, 0.8):
            s.add(tyre, flip(ellipse_poly(cx, 1.0 - ry, rx, ry, 12)))
        for cx in (0.2, 0.8):
            s.add(hub, flip(ellipse_poly(cx, 1.0 - ry, rx * 0.5, ry * 0.5, 8)))
    s.freeze()
    return s


@dataclass(frozen=True)
class PedestrianLook:
    """A pedestrian's static upper body and what its legs are drawn with."""

    sprite: Sprite
    pants: tuple[float, float, float]
    shoes: tuple[float, float, float]
    swing: float  # leg swing amplitude factor, so that people do not all walk alike


def pedestrian_look(rng: np.random.Generator, aspect: float) -> PedestrianLook:
    """Build the static part of a pedestrian (head, torso, arms); legs are drawn per frame."""
    skin = jitter(rng, _SKIN[rng.integers(len(_SKIN))], 12)
    hair = jitter(rng, _HAIR[rng.integers(len(_HAIR))], 10)
    shirt = bgr(rng.random(), rng.uniform(0.2, 0.95), rng.uniform(0.25, 0.95))
    sleeve = shirt if rng.random() < 0.7 else skin
    pants = bgr(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.12, 0.6))
    shoes = jitter(rng, (30, 30, 35) if rng.random() < 0.7 else (220, 220, 220), 15)
    ry = 0.067
    rx = min(ry * aspect, 0.3)
    s = Sprite()
    s.add(sleeve, [(0.0, 0.17), (0.2, 0.14), (0.2, 0.46), (0.02, 0.5)],
          [(1.0, 0.17), (0.8, 0.14), (0.8, 0.46), (0.98, 0.5)])
    s.add(skin, rect(0.0, 0.49, 0.15, 0.55), rect(0.85, 0.49, 1.0, 0.55),
          ellipse_poly(0.5, ry, rx, ry, 12))
    s.add(hair, ellipse_poly(0.5, ry, rx * 1.04, ry * 1.04, 8, math.pi, 2 * math.pi))
    if rng.random() < 0.25:  # a skirt or long coat changes the silhouette
        s.add(shirt, [(0.2, 0.135), (0.8, 0.135), (0.86, 0.7), (0.14, 0.7)])
    else:
        s.add(shirt, [(0.2, 0.135), (0.8, 0.135), (0.75, 0.56), (0.25, 0.56)])
    if rng.random() < 0.3:
        bag = bgr(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.7))
        s.add(bag, rect(0.72, 0.3, 0.98, 0.52))
    s.freeze()
    return PedestrianLook(s, pants, shoes, rng.uniform(0.7, 1.0))


def legs_sprite(look: PedestrianLook, phase: float) -> Sprite:
    """Build a pedestrian's legs at gait ``phase`` (radians), to draw under the upper body."""
    swing = math.sin(phase) * 0.11 * look.swing
    s = Sprite()
    left, right = 0.38 - swing, 0.62 + swing
    s.add(look.pants, [(0.27, 0.54), (0.5, 0.54), (left + 0.09, 0.96), (left - 0.09, 0.96)],
          [(0.5, 0.54), (0.73, 0.54), (right + 0.09, 0.96), (right - 0.09, 0.96)])
    s.add(look.shoes, rect(left - 0.11, 0.94, left + 0.11, 1.0),
          rect(right - 0.11, 0.94, right + 0.11, 1.0))
    s.freeze()
    return s

