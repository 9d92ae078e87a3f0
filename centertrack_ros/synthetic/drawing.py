"""Drawing primitives of the generator: colours, polygons and anti-aliased sub-pixel filling.

Everything is drawn as filled polygons with OpenCV's fixed-point coordinates (``_SHIFT``
fractional bits), so that an object moving by a fraction of a pixel per frame moves smoothly
instead of jumping a pixel at a time.
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

_SHIFT = 4  # sub-pixel bits for OpenCV drawing, so slow motion is smooth rather than stepwise
_SCALE = float(1 << _SHIFT)


def bgr(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    """Return the BGR colour (0..255) of an HSV colour (0..1, hue wraps around)."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
    return (b * 255.0, g * 255.0, r * 255.0)


def scaled(colour: tuple[float, ...], k: float) -> tuple[float, float, float]:
    """Return ``colour`` times ``k``, clipped to 0..255 (darker below 1, lighter above)."""
    return tuple(float(min(max(c * k, 0.0), 255.0)) for c in colour[:3])  # type: ignore


def jitter(rng: np.random.Generator, colour: tuple[float, ...], amount: float
           ) -> tuple[float, float, float]:
    """Return ``colour`` with each channel moved by up to ``amount``, clipped to 0..255."""
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0, 255))  # type: ignore
                 for c in colour[:3])


def ellipse_poly(cx: float, cy: float, rx: float, ry: float, n: int = 10,
                 start: float = 0.0, stop: float = 2 * math.pi) -> np.ndarray:
    """Return ``n`` points of an axis-aligned ellipse (or of its arc from ``start`` to ``stop``)."""
    ang = np.linspace(start, stop, n, endpoint=stop - start < 2 * math.pi - 1e-6)
    return np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], axis=1)


def rect(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    """Return the corners of an axis-aligned rectangle as a polygon."""
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def mirror(poly: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
    """Mirror a polygon in box-normalised coordinates left to right."""
    arr = np.asarray(poly, dtype=np.float64).copy()
    arr[:, 0] = 1.0 - arr[:, 0]
    return arr


def fill(img: np.ndarray, polys: list[np.ndarray], colour: tuple[float, ...],
         labels: np.ndarray | None = None, label: int = 0) -> None:
    """Fill pixel-coordinate polygons in ``colour``; also write ``label`` into ``labels``."""
    if not polys:
        return
    pts = [np.rint(np.asarray(p) * _SCALE).astype(np.int32) for p in polys]
    cv2.fillPoly(img, pts, colour, cv2.LINE_AA, _SHIFT)
    if labels is not None:
        cv2.fillPoly(labels, pts, label, cv2.LINE_8, _SHIFT)


def shade(img: np.ndarray, poly: np.ndarray, factor: float) -> None:
    """Darken the pixels inside a convex pixel-coordinate polygon by ``factor``, in place."""
    h, w = img.shape[:2]
    x0 = max(int(math.floor(poly[:, 0].min())), 0)
    x1 = min(int(math.ceil(poly[:, 0].max())) + 1, w)
    y0 = max(int(math.floor(poly[:, 1].min())), 0)
    y1 = min(int(math.ceil(poly[:, 1].max())) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.rint((poly - [x0, y0]) * _SCALE).astype(np.int32)
    cv2.fillConvexPoly(mask, pts, 1, cv2.LINE_8, _SHIFT)
    roi = img[y0:y1, x0:x1]
    sel = mask.astype(bool)
    roi[sel] = (roi[sel] * factor).astype(np.uint8)


class Sprite:
    """Polygons in box-normalised coordinates ([0,1]^2, y down) grouped into colour runs.

    Drawing maps every vertex into the pixel box with one vectorised operation and issues one
    fillPoly per colour run, which keeps the per-object cost to a handful of OpenCV calls.
    """

    def __init__(self) -> None:
        self._verts: list[np.ndarray] = []
        self.runs: list[tuple[tuple[float, float, float], list[tuple[int, int]]]] = []
        self._count = 0
        self.verts = np.zeros((0, 2))

    def add(self, colour: tuple[float, float, float], *polys: np.ndarray | list) -> None:
        """Add polygons drawn in ``colour``, on top of those added before."""
        spans = []
        for poly in polys:
            arr = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            self._verts.append(arr)
            spans.append((self._count, self._count + len(arr)))
            self._count += len(arr)
        if self.runs and self.runs[-1][0] == colour:
            self.runs[-1][1].extend(spans)
        else:
            self.runs.append((colour, spans))

    def freeze(self) -> None:
        """Gather the vertices into one array; call once after the last :meth:`add`."""
        self.verts = np.concatenate(self._verts) if self._verts else np.zeros((0, 2))

    def draw(self, img: np.ndarray, box: tuple[float, float, float, float],
             extra: Sprite | None = None) -> None:
        """Draw the sprite, then ``extra`` on top of it, stretched over the pixel ``box``."""
        x1, y1, x2, y2 = box
        scale = np.array([(x2 - x1) * _SCALE, (y2 - y1) * _SCALE])
        offset = np.array([x1 * _SCALE, y1 * _SCALE])
        for sprite in (self, extra):
            if sprite is None:
                continue
            pts = np.rint(sprite.verts * scale + offset).astype(np.int32)
            for colour, spans in sprite.runs:
                cv2.fillPoly(img, [pts[a:b] for a, b in spans], colour, cv2.LINE_AA, _SHIFT)
