"""Drawing one frame of the scene: what scrolls past and what moves, over the static background.

The frame starts as a crop of the background canvas at the frame's shake offset; lane dashes
and shadow bands scroll with the distance driven; then roadside items and objects are drawn far
to near, so nearer things cover farther ones. The camera's exposure and noise come after
(:mod:`.camera`).
"""

from __future__ import annotations

import numpy as np

from .config import SceneConfig
from .drawing import ellipse_poly, fill, rect, scaled, shade
from .layout import MIN_DEPTH, Layout
from .roadside import RoadsideItem, item_boxes
from .sprites import legs_sprite
from .style import Style
from .traffic import Track


def render_scene(cfg: SceneConfig, lay: Layout, sty: Style, background: np.ndarray, frame: int,
                 shake: np.ndarray, distance: float, items: list[RoadsideItem],
                 tracks: list[Track]) -> np.ndarray:
    """Draw frame ``frame`` as the scene looks, before exposure and noise.

    ``shake`` is the frame's (dx, dy) image offset, ``distance`` how far the camera has driven,
    ``items`` the frame's roadside items and ``tracks`` the objects listed in it.
    """
    m = lay.margin
    sx, sy = (int(v) for v in shake)
    img = background[m - sy:m - sy + cfg.height, m - sx:m - sx + cfg.width].copy()
    d = distance

    def quad(x1: float, x2: float, z1: float, z2: float) -> np.ndarray:
        return np.array([[lay.u(x1, z1) + sx, lay.v(z1) + sy],
                         [lay.u(x2, z1) + sx, lay.v(z1) + sy],
                         [lay.u(x2, z2) + sx, lay.v(z2) + sy],
                         [lay.u(x1, z2) + sx, lay.v(z2) + sy]])

    # Dashed lane markings scroll towards the camera with the ego motion.
    bounds = [lay.road_left + b * lay.lane_width
              for b in range(lay.num_oncoming + 1, lay.num_lanes)]
    if lay.num_oncoming and sty.centre == 'dashed':
        bounds.append(lay.road_left + lay.num_oncoming * lay.lane_width)
    bounds += [lay.road_left + b * lay.lane_width for b in range(1, lay.num_oncoming)]
    z_start = MIN_DEPTH + (sty.dash_phase - d) % sty.dash_period
    dashes: list[np.ndarray] = []
    w = sty.marking_width / 2
    for z in np.arange(z_start - sty.dash_period, 90.0, sty.dash_period):
        z1, z2 = max(z, 0.8), z + sty.dash_length
        if z2 <= z1:
            continue
        dashes.extend(quad(xb - w, xb + w, z1, z2) for xb in bounds)
    fill(img, dashes, sty.marking)

    # Shadows of things beside the road fall across it in bands that also scroll.
    for offset, length, dark in sty.shadow_bands:
        z0 = MIN_DEPTH + (offset - d) % sty.shadow_period
        while z0 < 120.0:
            shade(img, quad(lay.road_left - lay.sidewalk,
                            lay.paved_right + lay.sidewalk, max(z0, 0.8),
                            z0 + length), dark)
            z0 += sty.shadow_period

    # Everything that stands on the ground, far to near.
    drawables: list[tuple[float, int, object]] = [(it.depth, 0, it) for it in items]
    for tr in tracks:
        drawables.append((float(tr.depth[frame - tr.first]), 1, tr))
    drawables.sort(key=lambda e: (-e[0], e[1]))
    for _, kind, obj in drawables:
        if kind == 0:
            _draw_item(img, lay, sty, shake, obj)  # type: ignore[arg-type]
        else:
            _draw_track(img, sty, frame, obj)  # type: ignore[arg-type]
    return img


def _draw_item(img: np.ndarray, lay: Layout, sty: Style, shake: np.ndarray,
               item: RoadsideItem) -> None:
    trunk, extra = item_boxes(lay, shake, item)
    if item.kind == 'tree':
        fill(img, [np.array(rect(*trunk))], sty.trunk)
        cx, cy = (extra[0] + extra[2]) / 2, (extra[1] + extra[3]) / 2
        rx, ry = (extra[2] - extra[0]) / 2, (extra[3] - extra[1]) / 2
        fill(img, [ellipse_poly(cx, cy, rx, ry, 14)], sty.foliage)
        fill(img, [ellipse_poly(cx - rx * 0.2, cy - ry * 0.25, rx * 0.55, ry * 0.5, 10)],
             scaled(sty.foliage, 1.25))
    else:
        fill(img, [np.array(rect(*trunk)), np.array(rect(*extra))], sty.pole_colour)


def _draw_track(img: np.ndarray, sty: Style, frame: int, tr: Track) -> None:
    j = frame - tr.first
    x1, y1, x2, y2 = (float(v) for v in tr.boxes[j])
    w, h = x2 - x1, y2 - y1
    # A contact shadow anchors the object to the ground.
    fill(img, [ellipse_poly((x1 + x2) / 2, y2, w * 0.6, max(h * 0.04, 0.6), 12)],
         sty.shadow_colour)
    if tr.sprite is not None:
        tr.sprite.draw(img, (x1, y1, x2, y2))
    elif tr.look is not None and tr.phase is not None:
        legs = legs_sprite(tr.look, float(tr.phase[j]))
        legs.draw(img, (x1, y1, x2, y2), tr.look.sprite)
