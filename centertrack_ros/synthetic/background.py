"""The static part of the view, rendered once per sequence: sky, scenery, ground, road, buildings.

Nothing here moves relative to the camera (the road is straight and the scenery far away), so
it is drawn once into a canvas a little larger than the image and every frame starts from a
crop of it; what does scroll past is drawn per frame by :mod:`.render`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .drawing import bgr, fill, jitter, scaled
from .layout import Layout
from .style import Style


def _ground_quad(lay: Layout, x1: float, x2: float, z1: float, z2: float) -> np.ndarray:
    return np.array([lay.canvas_pt(x1, z1), lay.canvas_pt(x2, z1), lay.canvas_pt(x2, z2),
                     lay.canvas_pt(x1, z2)])


def render_background(lay: Layout, sty: Style, rng: np.random.Generator) -> np.ndarray:
    """Render the static part of the view (sky, scenery, ground, road, buildings) once.

    The canvas is larger than the image by ``lay.margin`` on every side so that camera shake is
    a crop at an offset.
    """
    m = lay.margin
    hc, wc = lay.height + 2 * m, lay.width + 2 * m
    hz = lay.horizon + m
    img = np.zeros((hc, wc, 3), np.float32)
    labels = np.zeros((hc, wc), np.uint8)  # 0 sky, 1 ground, 2 sidewalk, 3 road, 4 building

    kind = rng.choice(['clear', 'overcast', 'dusk'], p=[0.55, 0.3, 0.15])
    if kind == 'clear':
        top = bgr(rng.uniform(0.55, 0.63), rng.uniform(0.45, 0.75), rng.uniform(0.6, 0.9))
        low = bgr(rng.uniform(0.52, 0.6), rng.uniform(0.1, 0.3), rng.uniform(0.85, 1.0))
    elif kind == 'overcast':
        g = rng.uniform(150, 215)
        top, low = jitter(rng, (g, g, g - 5), 8), jitter(rng, (g + 20, g + 20, g + 15), 8)
    else:
        top = bgr(rng.uniform(0.6, 0.75), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.6))
        low = bgr(rng.uniform(0.03, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.8, 1.0))
    rows = np.clip(np.arange(hc, dtype=np.float32) / max(hz, 1.0), 0, 1)[:, None]
    img[:] = (np.array(top, np.float32) * (1 - rows) + np.array(low, np.float32) * rows)[:, None]

    clouds = np.zeros((hc, wc), np.float32)
    for _ in range(int(rng.integers(0, 9))):
        c = (int(rng.uniform(0, wc)), int(rng.uniform(0, hz * 0.8)))
        axes = (int(rng.uniform(20, 90)), int(rng.uniform(6, 22)))
        cv2.ellipse(clouds, c, axes, 0, 0, 360, float(rng.uniform(0.3, 0.8)), -1)
    if clouds.any():
        cover = cv2.GaussianBlur(clouds, (0, 0), 9)[..., None]
        img[:] = img * (1 - cover) + np.float32(240) * cover

    # Distant scenery hugging the horizon: a skyline or a line of hills/trees.
    haze = jitter(rng, (150, 140, 130) if lay.urban else (90, 120, 100), 30)
    xs = np.linspace(0, wc, int(rng.integers(8, 30)))
    tops = hz - rng.uniform(2, 0.12 * lay.height, len(xs))
    if lay.urban:
        poly = [(0.0, hz + 1)]
        for x0, x1, t in zip(xs[:-1], xs[1:], tops):
            poly += [(x0, t), (x1, t)]
        poly.append((float(wc), hz + 1))
    else:
        poly = [(0.0, hz + 1)] + [(x, t) for x, t in zip(xs, tops)] + [(float(wc), hz + 1)]
    fill(img, [np.array(poly)], haze)

    ground = (jitter(rng, (110, 115, 118), 20) if lay.urban else
              bgr(rng.uniform(0.12, 0.3), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.6)))
    img[int(math.ceil(hz)):] = ground
    labels[int(math.ceil(hz)):] = 1
    z_near = 0.5 * lay.focal * lay.cam_height / (hc - hz)
    z_far = 5000.0
    walk = jitter(rng, (175, 178, 180), 25)
    left_walk = (lay.road_left - lay.sidewalk, lay.road_left)
    right_walk = (lay.paved_right, lay.paved_right + lay.sidewalk)
    fill(img, [_ground_quad(lay, *left_walk, z_near, z_far),
                _ground_quad(lay, *right_walk, z_near, z_far)], walk, labels, 2)
    fill(img, [_ground_quad(lay, lay.road_left, lay.paved_right, z_near, z_far)], sty.road,
          labels, 3)
    curb = scaled(walk, 0.7)
    fill(img, [_ground_quad(lay, lay.road_left - 0.15, lay.road_left, z_near, z_far),
                _ground_quad(lay, lay.paved_right, lay.paved_right + 0.15, z_near, z_far)], curb)
    # Tyre tracks: darker strips along each lane sell the perspective.
    tracks = []
    for lane in range(lay.num_lanes):
        for off in (-0.8, 0.8):
            x = lay.lane_x(lane) + off
            tracks.append(_ground_quad(lay, x - 0.3, x + 0.3, z_near, z_far))
    fill(img, tracks, scaled(sty.road, 0.88))
    w = sty.marking_width
    solid = [_ground_quad(lay, lay.road_left + 0.1, lay.road_left + 0.1 + w, z_near, z_far),
             _ground_quad(lay, lay.road_right - w / 2, lay.road_right + w / 2, z_near, z_far)]
    fill(img, solid, sty.marking)
    if lay.num_oncoming and sty.centre != 'dashed':
        xc = lay.road_left + lay.num_oncoming * lay.lane_width
        yellow = jitter(rng, (40, 190, 225), 15)
        colour = sty.marking if sty.centre == 'white' else yellow
        offsets = (-1.5 * w, 1.5 * w) if sty.centre == 'double' else (0.0,)
        fill(img, [_ground_quad(lay, xc + o - w / 2, xc + o + w / 2, z_near, z_far)
                    for o in offsets], colour)

    if lay.urban:
        _draw_buildings(img, labels, lay, rng)

    # Texture: fine grain everywhere plus coarse blotches whose strength depends on the surface.
    fine_amp = np.array([1.5, 9.0, 6.0, 5.0, 5.0], np.float32)[labels][..., None]
    coarse_amp = np.array([0.0, 16.0, 6.0, 7.0, 5.0], np.float32)[labels][..., None]
    fine = rng.standard_normal((hc, wc, 1), dtype=np.float32)
    coarse = cv2.resize(rng.standard_normal((hc // 10 + 2, wc // 10 + 2), dtype=np.float32),
                        (wc, hc), interpolation=cv2.INTER_CUBIC)[..., None]
    img += fine * fine_amp + coarse * coarse_amp
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_buildings(img: np.ndarray, labels: np.ndarray, lay: Layout,
                    rng: np.random.Generator) -> None:
    for side in (-1.0, 1.0):
        if rng.random() < 0.15:
            continue
        edge = lay.road_left - lay.sidewalk if side < 0 else lay.paved_right + lay.sidewalk
        blocks = []
        z = float(rng.uniform(1.0, 8.0))
        while z < 250.0:
            length = float(rng.uniform(8.0, 30.0))
            blocks.append((z, z + length, edge + side * rng.uniform(0.0, 3.0),
                           rng.uniform(5.0, 28.0)))
            z += length + (rng.uniform(2.0, 12.0) if rng.random() < 0.3 else 0.0)
        for z0, z1, xb, hb in reversed(blocks):  # far first: nearer facades cover farther ones
            wall = bgr(rng.uniform(0.0, 0.15), rng.uniform(0.05, 0.45), rng.uniform(0.35, 0.85))
            front = [lay.canvas_pt(xb, z0), lay.canvas_pt(xb + side * 15.0, z0),
                     lay.canvas_pt(xb + side * 15.0, z0, hb), lay.canvas_pt(xb, z0, hb)]
            facade = [lay.canvas_pt(xb, z0), lay.canvas_pt(xb, z1), lay.canvas_pt(xb, z1, hb),
                      lay.canvas_pt(xb, z0, hb)]
            fill(img, [np.array(front)], scaled(wall, 0.75), labels, 4)
            fill(img, [np.array(facade)], wall, labels, 4)
            glass = bgr(rng.uniform(0.5, 0.65), rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.5))
            lit = (120.0, 210.0, 235.0)
            dark: list[np.ndarray] = []
            bright: list[np.ndarray] = []
            floor = rng.uniform(2.8, 3.6)
            bay = rng.uniform(2.0, 4.0)
            for y in np.arange(1.0, hb - 1.5, floor):
                for zw in np.arange(z0 + 0.8, z1 - 1.2, bay):
                    quad = np.array([lay.canvas_pt(xb, zw, y), lay.canvas_pt(xb, zw + 1.2, y),
                                     lay.canvas_pt(xb, zw + 1.2, y + 1.6),
                                     lay.canvas_pt(xb, zw, y + 1.6)])
                    (bright if rng.random() < 0.12 else dark).append(quad)
            fill(img, dark, glass)
            fill(img, bright, lit)

