"""Procedural driving-like camera sequences with exact ground truth.

The generator exists because no real tracking data can be downloaded where this package is
built: it trains the bundled model, drives the demo and lets the tests measure tracking quality.

A sequence is a pinhole camera at a fixed height looking down a straight road. Everything is
placed in world coordinates (metres: X to the right, Z forward, Y up) and projected, so
perspective (far objects small and close to the horizon) and depth ordering come for free.

Determinism and random access: :func:`generate_sequence` draws every random quantity from
``numpy.random.default_rng(config.seed)`` up front -- the scene layout, the object schedule and
their whole trajectories (a table of one box per object and frame), the camera shake, the
lighting curve and the sensor-noise offsets. :meth:`SyntheticSequence.frame` is then a pure
function of the frame index whose cost is proportional to the number of objects in that frame,
so a training loader can fetch any pair of frames without rendering the ones between them.

Ground truth (:class:`GroundTruthObject`), one entry per object whose box overlaps the image:

- ``x1, y1, x2, y2``: the object's full (amodal) box clipped to the image. Occlusion does not
  shrink the box, as in MOTChallenge; ``visibility`` says how much of it can be seen.
- ``amodal_box``: the full box, not clipped to the image (for CenterTrack's ``ltrb_amodal``
  regression of objects cut by the border).
- ``visibility``: the part of the *unclipped* box that is inside the image and not covered by the
  box of anything nearer (other objects, roadside poles and trees), over the unclipped box area.
  Occluders are approximated by their boxes, like MOTChallenge's visibility ratio.
- ``consider``: False when ``visibility < SceneConfig.min_visibility``, when the clipped box is
  lower than ``SceneConfig.min_size`` pixels or narrower than half of that (pedestrians are
  about three times higher than wide, so a width rule as strict as the height rule would drop
  people a detector can still find). Consumers should treat such objects as
  "don't care" regions (MOT's consider flag 0): neither a miss when not found nor a false positive
  when found.

Objects never pop into the middle of the image: they enter across an image border or grow out of
the horizon from :data:`MIN_OBJECT_PIXELS` pixels high, and they leave across a border; each
track id is used for exactly one contiguous run of frames.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

CLASS_NAMES = ('car', 'pedestrian')
"""Class names; the class id of ``CLASS_NAMES[k]`` is ``k + 1``."""
CAR = 1
PEDESTRIAN = 2

MIN_OBJECT_PIXELS = 3.0
"""Objects whose box is lower than this many pixels are neither drawn nor listed."""

_Z_MIN = 1.5  # metres; nearer than this an object would be beside or behind the camera
_SHIFT = 4  # sub-pixel bits for OpenCV drawing, so slow motion is smooth rather than stepwise
_SCALE = float(1 << _SHIFT)
_CROSS_CLEARANCE = 7.0  # metres ahead of the camera a crossing object must have cleared our path


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of one synthetic sequence; all randomness derives from ``seed``.

    Speeds are in metres per second, rates in new objects per second (a Poisson process), pixel
    amplitudes in pixels of the output image. Ranges are ``(low, high)`` and each sequence draws
    its own value (for example its ego speed) from them.
    """

    width: int = 640
    height: int = 384
    num_frames: int = 200
    fps: float = 10.0
    seed: int = 0
    max_objects: int = 16
    car_rate: float = 0.7
    pedestrian_rate: float = 0.8
    initial_objects: tuple[int, int] = (4, 10)
    car_speed: tuple[float, float] = (3.0, 14.0)
    pedestrian_speed: tuple[float, float] = (0.7, 2.0)
    ego_speed: tuple[float, float] = (0.0, 9.0)
    shake: float = 1.5
    lighting_variation: float = 0.2
    shadows: bool = True
    noise: float = 3.0
    min_visibility: float = 0.25
    min_size: float = 6.0

    def __post_init__(self) -> None:
        """Reject values outside their valid ranges with a ValueError naming the field."""
        for name in ('initial_objects', 'car_speed', 'pedestrian_speed', 'ego_speed'):
            # Lists from YAML or the command line would make the frozen config unhashable.
            object.__setattr__(self, name, tuple(getattr(self, name)))

        def positive_range(name: str, value: tuple[float, float]) -> None:
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise ValueError(f'SceneConfig.{name} must be (low, high) with 0 <= low <= high, '
                                 f'got {value!r}')

        if self.width < 32 or self.height < 32:
            raise ValueError(f'SceneConfig image size must be at least 32x32, got '
                             f'{self.width}x{self.height}')
        if self.num_frames < 1:
            raise ValueError(f'SceneConfig.num_frames must be >= 1, got {self.num_frames}')
        if not self.fps > 0:
            raise ValueError(f'SceneConfig.fps must be > 0, got {self.fps}')
        if self.max_objects < 0:
            raise ValueError(f'SceneConfig.max_objects must be >= 0, got {self.max_objects}')
        for name in ('car_rate', 'pedestrian_rate', 'shake', 'lighting_variation', 'noise',
                     'min_size'):
            if getattr(self, name) < 0:
                raise ValueError(f'SceneConfig.{name} must be >= 0, got {getattr(self, name)}')
        if self.lighting_variation > 0.8:
            raise ValueError('SceneConfig.lighting_variation must be <= 0.8, got '
                             f'{self.lighting_variation}')
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f'SceneConfig.min_visibility must be in [0, 1], got '
                             f'{self.min_visibility}')
        if len(self.initial_objects) != 2 or not 0 <= self.initial_objects[0] <= \
                self.initial_objects[1]:
            raise ValueError('SceneConfig.initial_objects must be (low, high) with '
                             f'0 <= low <= high, got {self.initial_objects!r}')
        positive_range('car_speed', self.car_speed)
        positive_range('pedestrian_speed', self.pedestrian_speed)
        positive_range('ego_speed', self.ego_speed)


@dataclass(frozen=True)
class GroundTruthObject:
    """One object in one frame; see the module docstring for the exact meaning of each field."""

    track_id: int
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    visibility: float
    consider: bool
    amodal_box: tuple[float, float, float, float] | None = None

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.y2 - self.y1

    @property
    def class_name(self) -> str:
        """Name of the class, from :data:`CLASS_NAMES`."""
        return CLASS_NAMES[self.class_id - 1]


# --------------------------------------------------------------------------------------------
# Small helpers


def _bgr(hue: float, sat: float, val: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0))
    return (b * 255.0, g * 255.0, r * 255.0)


def _scaled(colour: tuple[float, ...], k: float) -> tuple[float, float, float]:
    return tuple(float(min(max(c * k, 0.0), 255.0)) for c in colour[:3])  # type: ignore


def _jitter(rng: np.random.Generator, colour: tuple[float, ...], amount: float
            ) -> tuple[float, float, float]:
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0, 255))  # type: ignore
                 for c in colour[:3])


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


def _ellipse_poly(cx: float, cy: float, rx: float, ry: float, n: int = 10,
                  start: float = 0.0, stop: float = 2 * math.pi) -> np.ndarray:
    ang = np.linspace(start, stop, n, endpoint=stop - start < 2 * math.pi - 1e-6)
    return np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], axis=1)


class _Sprite:
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
        self.verts = np.concatenate(self._verts) if self._verts else np.zeros((0, 2))

    def draw(self, img: np.ndarray, box: tuple[float, float, float, float],
             extra: _Sprite | None = None) -> None:
        x1, y1, x2, y2 = box
        scale = np.array([(x2 - x1) * _SCALE, (y2 - y1) * _SCALE])
        offset = np.array([x1 * _SCALE, y1 * _SCALE])
        for sprite in (self, extra):
            if sprite is None:
                continue
            pts = np.rint(sprite.verts * scale + offset).astype(np.int32)
            for colour, spans in sprite.runs:
                cv2.fillPoly(img, [pts[a:b] for a, b in spans], colour, cv2.LINE_AA, _SHIFT)


def _rect(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def _mirror(poly: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
    arr = np.asarray(poly, dtype=np.float64).copy()
    arr[:, 0] = 1.0 - arr[:, 0]
    return arr


# --------------------------------------------------------------------------------------------
# Appearance

_CAR_PAINTS = (  # BGR: the common real-world paint colours, so that the model sees them all
    (235, 235, 235), (30, 30, 34), (185, 185, 190), (110, 110, 115), (40, 40, 190),
    (150, 70, 30), (90, 40, 20), (60, 120, 50), (40, 190, 230), (30, 110, 220), (60, 80, 120),
)
_SKIN = ((170, 195, 235), (130, 165, 215), (90, 125, 180), (60, 85, 125), (150, 180, 225))
_HAIR = ((20, 20, 25), (30, 50, 80), (60, 110, 170), (140, 150, 160), (20, 30, 50))


def _car_sprite(rng: np.random.Generator, view: str, aspect: float, van: bool) -> _Sprite:
    """Build a car seen from behind ('rear'), the front ('front') or the side ('left'/'right').

    ``aspect`` is box height over box width, needed to keep round wheels round.
    """
    paint = _jitter(rng, _CAR_PAINTS[rng.integers(len(_CAR_PAINTS))], 18)
    roof = paint if rng.random() < 0.75 else _jitter(rng, _CAR_PAINTS[rng.integers(2)], 10)
    glass = _bgr(rng.uniform(0.5, 0.65), rng.uniform(0.1, 0.4), rng.uniform(0.12, 0.35))
    shade = _scaled(paint, rng.uniform(0.65, 0.85))
    tyre = (22.0, 22.0, 24.0)
    stripe = None
    if rng.random() < 0.2:
        stripe = _jitter(rng, _CAR_PAINTS[rng.integers(len(_CAR_PAINTS))], 10)
    s = _Sprite()
    if view in ('rear', 'front'):
        inset = rng.uniform(0.04, 0.1) if van else rng.uniform(0.14, 0.22)
        waist = 0.36 if van else rng.uniform(0.4, 0.46)
        s.add(roof, [(inset, 0.0), (1 - inset, 0.0), (0.96, waist + 0.02), (0.04, waist + 0.02)])
        if view == 'rear':
            s.add(glass, [(inset + 0.06, 0.06), (0.94 - inset, 0.06), (0.9, waist - 0.04),
                          (0.1, waist - 0.04)])
        else:
            light_glass = _scaled(glass, 1.6)
            s.add(light_glass, [(inset + 0.04, 0.05), (0.96 - inset, 0.05), (0.93, waist - 0.02),
                                (0.07, waist - 0.02)])
        s.add(paint, _rect(0.0, waist, 1.0, 0.86))
        s.add(shade, _rect(0.0, 0.68, 1.0, 0.86))
        if stripe is not None:
            s.add(stripe, _rect(0.0, waist + 0.08, 1.0, waist + 0.13))
        if view == 'rear':
            lamp = _jitter(rng, (35, 35, 200), 25)
            s.add(lamp, _rect(0.03, waist + 0.06, 0.2, waist + 0.16),
                  _rect(0.8, waist + 0.06, 0.97, waist + 0.16))
        else:
            lamp = _jitter(rng, (205, 230, 240), 15)
            s.add(lamp, _rect(0.04, waist + 0.08, 0.24, waist + 0.17),
                  _rect(0.76, waist + 0.08, 0.96, waist + 0.17))
            s.add(_scaled(paint, 0.35), _rect(0.3, waist + 0.09, 0.7, waist + 0.2))
        s.add((225.0, 225.0, 220.0) if rng.random() < 0.7 else (40.0, 200.0, 230.0),
              _rect(0.4, 0.62, 0.6, 0.71))
        s.add((45.0, 45.0, 48.0), _rect(0.0, 0.78, 1.0, 0.87))
        s.add(tyre, _rect(0.05, 0.8, 0.24, 1.0), _rect(0.76, 0.8, 0.95, 1.0))
        s.add((15.0, 15.0, 16.0), _rect(0.24, 0.87, 0.76, 0.96))
    else:
        # Built facing right (moving in +X) and mirrored for 'left'.
        flip = (lambda p: _mirror(p)) if view == 'left' else (lambda p: np.asarray(p, float))
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
        s.add(shade, flip(_rect(0.0, 0.63, 1.0, 0.8)))
        if stripe is not None:
            s.add(stripe, flip(_rect(0.0, sill + 0.12, 1.0, sill + 0.17)))
        s.add(_scaled(paint, 0.5), flip(_rect(0.49, sill + 0.02, 0.505, 0.74)))
        s.add(_jitter(rng, (205, 230, 240), 15), flip(_rect(0.955, sill + 0.1, 1.0, sill + 0.18)))
        s.add(_jitter(rng, (35, 35, 200), 25), flip(_rect(0.0, sill + 0.08, 0.035, sill + 0.16)))
        ry = 0.18
        rx = ry * aspect
        hub = _jitter(rng, (150, 150, 155), 40)
        for cx in (0.2, 0.8):
            s.add(tyre, flip(_ellipse_poly(cx, 1.0 - ry, rx, ry, 12)))
        for cx in (0.2, 0.8):
            s.add(hub, flip(_ellipse_poly(cx, 1.0 - ry, rx * 0.5, ry * 0.5, 8)))
    s.freeze()
    return s


@dataclass(frozen=True)
class _PedestrianLook:
    sprite: _Sprite
    pants: tuple[float, float, float]
    shoes: tuple[float, float, float]
    swing: float


def _pedestrian_look(rng: np.random.Generator, aspect: float) -> _PedestrianLook:
    """Build the static part of a pedestrian (head, torso, arms); legs are drawn per frame."""
    skin = _jitter(rng, _SKIN[rng.integers(len(_SKIN))], 12)
    hair = _jitter(rng, _HAIR[rng.integers(len(_HAIR))], 10)
    shirt = _bgr(rng.random(), rng.uniform(0.2, 0.95), rng.uniform(0.25, 0.95))
    sleeve = shirt if rng.random() < 0.7 else skin
    pants = _bgr(rng.random(), rng.uniform(0.1, 0.7), rng.uniform(0.12, 0.6))
    shoes = _jitter(rng, (30, 30, 35) if rng.random() < 0.7 else (220, 220, 220), 15)
    ry = 0.067
    rx = min(ry * aspect, 0.3)
    s = _Sprite()
    s.add(sleeve, [(0.0, 0.17), (0.2, 0.14), (0.2, 0.46), (0.02, 0.5)],
          [(1.0, 0.17), (0.8, 0.14), (0.8, 0.46), (0.98, 0.5)])
    s.add(skin, _rect(0.0, 0.49, 0.15, 0.55), _rect(0.85, 0.49, 1.0, 0.55),
          _ellipse_poly(0.5, ry, rx, ry, 12))
    s.add(hair, _ellipse_poly(0.5, ry, rx * 1.04, ry * 1.04, 8, math.pi, 2 * math.pi))
    if rng.random() < 0.25:  # a skirt or long coat changes the silhouette
        s.add(shirt, [(0.2, 0.135), (0.8, 0.135), (0.86, 0.7), (0.14, 0.7)])
    else:
        s.add(shirt, [(0.2, 0.135), (0.8, 0.135), (0.75, 0.56), (0.25, 0.56)])
    if rng.random() < 0.3:
        bag = _bgr(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.7))
        s.add(bag, _rect(0.72, 0.3, 0.98, 0.52))
    s.freeze()
    return _PedestrianLook(s, pants, shoes, rng.uniform(0.7, 1.0))


def _legs_sprite(look: _PedestrianLook, phase: float) -> _Sprite:
    swing = math.sin(phase) * 0.11 * look.swing
    s = _Sprite()
    left, right = 0.38 - swing, 0.62 + swing
    s.add(look.pants, [(0.27, 0.54), (0.5, 0.54), (left + 0.09, 0.96), (left - 0.09, 0.96)],
          [(0.5, 0.54), (0.73, 0.54), (right + 0.09, 0.96), (right - 0.09, 0.96)])
    s.add(look.shoes, _rect(left - 0.11, 0.94, left + 0.11, 1.0),
          _rect(right - 0.11, 0.94, right + 0.11, 1.0))
    s.freeze()
    return s


# --------------------------------------------------------------------------------------------
# Scene layout and background


@dataclass
class _Layout:
    width: int
    height: int
    margin: int
    focal: float
    cam_height: float
    horizon: float
    cx: float
    lane_width: float
    num_lanes: int
    num_oncoming: int
    ego_lane: int
    road_left: float
    road_right: float  # edge of the driving lanes
    parking: bool  # a parking strip beyond road_right
    sidewalk: float
    ego_speed: float
    urban: bool

    @property
    def paved_right(self) -> float:
        return self.road_right + (2.3 if self.parking else 0.0)

    def lane_x(self, lane: int) -> float:
        return self.road_left + (lane + 0.5) * self.lane_width

    def u(self, x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray | float:
        return self.cx + self.focal * x / z

    def v(self, z: np.ndarray | float, y: float = 0.0) -> np.ndarray | float:
        return self.horizon + self.focal * (self.cam_height - y) / z

    def view_half_width(self, z: float) -> float:
        """Half the width in metres of the ground strip seen at depth ``z`` (widest side)."""
        return max(self.cx, self.width - self.cx) * z / self.focal

    def canvas_pt(self, x: float, z: float, y: float = 0.0) -> tuple[float, float]:
        return (float(self.u(x, z)) + self.margin, float(self.v(z, y)) + self.margin)


def _make_layout(cfg: SceneConfig, rng: np.random.Generator) -> _Layout:
    num_lanes = int(rng.choice([2, 2, 3, 4]))
    num_oncoming = num_lanes // 2 if rng.random() < 0.8 else 0
    ego_lane = int(rng.integers(num_oncoming, num_lanes))
    lane_width = rng.uniform(3.0, 3.8)
    road_left = -(ego_lane + 0.5) * lane_width + rng.uniform(-0.4, 0.4)
    lo, hi = cfg.ego_speed
    ego = 0.0 if (rng.random() < 0.15 and lo == 0.0) else rng.uniform(lo, hi)
    return _Layout(
        width=cfg.width, height=cfg.height, margin=int(math.ceil(3 * cfg.shake)) + 2,
        focal=cfg.width * rng.uniform(0.65, 0.95), cam_height=rng.uniform(1.3, 1.8),
        horizon=cfg.height * rng.uniform(0.36, 0.47),
        cx=cfg.width * (0.5 + rng.uniform(-0.05, 0.05)), lane_width=lane_width,
        num_lanes=num_lanes, num_oncoming=num_oncoming, ego_lane=ego_lane, road_left=road_left,
        road_right=road_left + num_lanes * lane_width, parking=bool(rng.random() < 0.5),
        sidewalk=rng.uniform(1.6, 3.5), ego_speed=float(ego), urban=bool(rng.random() < 0.55))


def _ground_quad(lay: _Layout, x1: float, x2: float, z1: float, z2: float) -> np.ndarray:
    return np.array([lay.canvas_pt(x1, z1), lay.canvas_pt(x2, z1), lay.canvas_pt(x2, z2),
                     lay.canvas_pt(x1, z2)])


def _fill(img: np.ndarray, polys: list[np.ndarray], colour: tuple[float, ...],
          labels: np.ndarray | None = None, label: int = 0) -> None:
    if not polys:
        return
    pts = [np.rint(np.asarray(p) * _SCALE).astype(np.int32) for p in polys]
    cv2.fillPoly(img, pts, colour, cv2.LINE_AA, _SHIFT)
    if labels is not None:
        cv2.fillPoly(labels, pts, label, cv2.LINE_8, _SHIFT)


@dataclass
class _Style:
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


def _make_style(lay: _Layout, cfg: SceneConfig, rng: np.random.Generator) -> _Style:
    grey = rng.uniform(70, 125)
    road = _jitter(rng, (grey, grey, grey + rng.uniform(-4, 6)), 6)
    bands: list[tuple[float, float, float]] = []
    period = rng.uniform(30, 90)
    if cfg.shadows and rng.random() < 0.7:
        for _ in range(int(rng.integers(1, 4))):
            bands.append((rng.uniform(0, period), rng.uniform(1.5, 7.0), rng.uniform(0.5, 0.8)))
    kinds = ('pole', 'tree', 'none')
    return _Style(
        road=road, marking=_jitter(rng, (230, 232, 232), 18),
        centre=str(rng.choice(['dashed', 'yellow', 'double', 'white'])),
        dash_length=rng.uniform(2.0, 4.0), dash_period=rng.uniform(8.0, 13.0),
        dash_phase=rng.uniform(0, 13.0), marking_width=rng.uniform(0.12, 0.18),
        shadow_period=period, shadow_bands=tuple(bands),
        roadside=(str(rng.choice(kinds, p=[0.45, 0.35, 0.2])),
                  str(rng.choice(kinds, p=[0.45, 0.35, 0.2]))),
        roadside_period=(rng.uniform(12, 35), rng.uniform(12, 35)),
        roadside_phase=(rng.uniform(0, 35), rng.uniform(0, 35)),
        pole_colour=_jitter(rng, (120, 120, 125), 30),
        foliage=_bgr(rng.uniform(0.2, 0.36), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.55)),
        trunk=_bgr(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.2, 0.4)),
        shadow_colour=_scaled(road, 0.35))


def _render_background(lay: _Layout, sty: _Style, rng: np.random.Generator) -> np.ndarray:
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
        top = _bgr(rng.uniform(0.55, 0.63), rng.uniform(0.45, 0.75), rng.uniform(0.6, 0.9))
        low = _bgr(rng.uniform(0.52, 0.6), rng.uniform(0.1, 0.3), rng.uniform(0.85, 1.0))
    elif kind == 'overcast':
        g = rng.uniform(150, 215)
        top, low = _jitter(rng, (g, g, g - 5), 8), _jitter(rng, (g + 20, g + 20, g + 15), 8)
    else:
        top = _bgr(rng.uniform(0.6, 0.75), rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.6))
        low = _bgr(rng.uniform(0.03, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.8, 1.0))
    rows = np.clip(np.arange(hc, dtype=np.float32) / max(hz, 1.0), 0, 1)[:, None]
    img[:] = (np.array(top, np.float32) * (1 - rows) + np.array(low, np.float32) * rows)[:, None]

    clouds = np.zeros((hc, wc), np.float32)
    for _ in range(int(rng.integers(0, 9))):
        c = (int(rng.uniform(0, wc)), int(rng.uniform(0, hz * 0.8)))
        axes = (int(rng.uniform(20, 90)), int(rng.uniform(6, 22)))
        cv2.ellipse(clouds, c, axes, 0, 0, 360, float(rng.uniform(0.3, 0.8)), -1)
    if clouds.any():
        clouds = cv2.GaussianBlur(clouds, (0, 0), 9)[..., None]
        img[:] = img * (1 - clouds) + np.float32(240) * clouds

    # Distant scenery hugging the horizon: a skyline or a line of hills/trees.
    haze = _jitter(rng, (150, 140, 130) if lay.urban else (90, 120, 100), 30)
    xs = np.linspace(0, wc, int(rng.integers(8, 30)))
    tops = hz - rng.uniform(2, 0.12 * lay.height, len(xs))
    if lay.urban:
        poly = [(0.0, hz + 1)]
        for x0, x1, t in zip(xs[:-1], xs[1:], tops):
            poly += [(x0, t), (x1, t)]
        poly.append((float(wc), hz + 1))
    else:
        poly = [(0.0, hz + 1)] + [(x, t) for x, t in zip(xs, tops)] + [(float(wc), hz + 1)]
    _fill(img, [np.array(poly)], haze)

    ground = (_jitter(rng, (110, 115, 118), 20) if lay.urban else
              _bgr(rng.uniform(0.12, 0.3), rng.uniform(0.35, 0.7), rng.uniform(0.3, 0.6)))
    img[int(math.ceil(hz)):] = ground
    labels[int(math.ceil(hz)):] = 1
    z_near = 0.5 * lay.focal * lay.cam_height / (hc - hz)
    z_far = 5000.0
    walk = _jitter(rng, (175, 178, 180), 25)
    left_walk = (lay.road_left - lay.sidewalk, lay.road_left)
    right_walk = (lay.paved_right, lay.paved_right + lay.sidewalk)
    _fill(img, [_ground_quad(lay, *left_walk, z_near, z_far),
                _ground_quad(lay, *right_walk, z_near, z_far)], walk, labels, 2)
    _fill(img, [_ground_quad(lay, lay.road_left, lay.paved_right, z_near, z_far)], sty.road,
          labels, 3)
    curb = _scaled(walk, 0.7)
    _fill(img, [_ground_quad(lay, lay.road_left - 0.15, lay.road_left, z_near, z_far),
                _ground_quad(lay, lay.paved_right, lay.paved_right + 0.15, z_near, z_far)], curb)
    # Tyre tracks: darker strips along each lane sell the perspective.
    tracks = []
    for lane in range(lay.num_lanes):
        for off in (-0.8, 0.8):
            x = lay.lane_x(lane) + off
            tracks.append(_ground_quad(lay, x - 0.3, x + 0.3, z_near, z_far))
    _fill(img, tracks, _scaled(sty.road, 0.88))
    w = sty.marking_width
    solid = [_ground_quad(lay, lay.road_left + 0.1, lay.road_left + 0.1 + w, z_near, z_far),
             _ground_quad(lay, lay.road_right - w / 2, lay.road_right + w / 2, z_near, z_far)]
    _fill(img, solid, sty.marking)
    if lay.num_oncoming and sty.centre != 'dashed':
        xc = lay.road_left + lay.num_oncoming * lay.lane_width
        yellow = _jitter(rng, (40, 190, 225), 15)
        colour = sty.marking if sty.centre == 'white' else yellow
        offsets = (-1.5 * w, 1.5 * w) if sty.centre == 'double' else (0.0,)
        _fill(img, [_ground_quad(lay, xc + o - w / 2, xc + o + w / 2, z_near, z_far)
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


def _draw_buildings(img: np.ndarray, labels: np.ndarray, lay: _Layout,
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
            wall = _bgr(rng.uniform(0.0, 0.15), rng.uniform(0.05, 0.45), rng.uniform(0.35, 0.85))
            front = [lay.canvas_pt(xb, z0), lay.canvas_pt(xb + side * 15.0, z0),
                     lay.canvas_pt(xb + side * 15.0, z0, hb), lay.canvas_pt(xb, z0, hb)]
            facade = [lay.canvas_pt(xb, z0), lay.canvas_pt(xb, z1), lay.canvas_pt(xb, z1, hb),
                      lay.canvas_pt(xb, z0, hb)]
            _fill(img, [np.array(front)], _scaled(wall, 0.75), labels, 4)
            _fill(img, [np.array(facade)], wall, labels, 4)
            glass = _bgr(rng.uniform(0.5, 0.65), rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.5))
            lit = (120.0, 210.0, 235.0)
            dark, bright = [], []
            floor = rng.uniform(2.8, 3.6)
            bay = rng.uniform(2.0, 4.0)
            for y in np.arange(1.0, hb - 1.5, floor):
                for zw in np.arange(z0 + 0.8, z1 - 1.2, bay):
                    quad = np.array([lay.canvas_pt(xb, zw, y), lay.canvas_pt(xb, zw + 1.2, y),
                                     lay.canvas_pt(xb, zw + 1.2, y + 1.6),
                                     lay.canvas_pt(xb, zw, y + 1.6)])
                    (bright if rng.random() < 0.12 else dark).append(quad)
            _fill(img, dark, glass)
            _fill(img, bright, lit)


# --------------------------------------------------------------------------------------------
# Objects and their trajectories


@dataclass
class _Track:
    class_id: int
    first: int  # first frame (sequence index) in which the object is listed
    boxes: np.ndarray  # (n, 4) unclipped pixel boxes x1, y1, x2, y2 for frames first..first+n-1
    depth: np.ndarray  # (n,) Z in metres, for drawing order and occlusion
    phase: np.ndarray | None  # (n,) gait phase for pedestrians
    sprite: _Sprite | None
    look: _PedestrianLook | None
    lane: str  # lane key for spacing new cars; '' for objects that ignore lanes
    track_id: int = 0

    @property
    def last(self) -> int:
        return self.first + len(self.depth) - 1


@dataclass
class _Candidate:
    class_id: int
    lane: str
    x0: float
    z0: float
    vx: float
    vz: float  # relative to the camera (includes the ego speed)
    size: tuple[float, float]  # world width (as seen) and height in metres
    view: str
    van: bool = False


class _Planner:
    """Propose objects with plausible motion for the layout."""

    def __init__(self, cfg: SceneConfig, lay: _Layout, rng: np.random.Generator) -> None:
        self.cfg, self.lay, self.rng = cfg, lay, rng
        lo, hi = cfg.car_speed
        self.lane_speed = {}
        for lane in range(lay.num_lanes):
            if lane == lay.ego_lane:
                # Traffic in our own lane never comes back at the camera.
                self.lane_speed[lane] = lay.ego_speed + rng.uniform(0.0, 3.0)
            else:
                self.lane_speed[lane] = rng.uniform(lo, hi)

    def _depth(self, lo: float, hi: float) -> float:
        # Log-uniform: equal numbers of objects per octave of depth, hence of apparent size.
        return float(math.exp(self.rng.uniform(math.log(lo), math.log(hi))))

    def _far_depth(self, height: float) -> float:
        return self.lay.focal * height / (MIN_OBJECT_PIXELS * 1.05)

    def _crossing_depth(self, speed: float, extra: float) -> float | None:
        """Draw a depth at which a crossing object clears our path before we reach it.

        The object starts at most ``extra`` metres beyond the edge of the view, which is wider
        the farther away it is, so the time it needs to cross grows with depth too.
        """
        lay, ego = self.lay, self.lay.ego_speed
        k = lay.view_half_width(1.0)
        lo = 8.0
        if ego > 0:
            if speed <= 0:
                return None
            a = 1.0 - ego * k / speed
            if a <= 0.05:
                return None
            lo = max(lo, (_CROSS_CLEARANCE + ego * (extra + 1.5) / speed) / a)
        hi = 70.0
        if lo >= hi:
            return None
        return float(self.rng.uniform(lo, hi))

    def car(self, inside: bool) -> _Candidate | None:
        lay, rng = self.lay, self.rng
        van = bool(rng.random() < 0.25)
        width = rng.uniform(1.9, 2.2) if van else rng.uniform(1.6, 1.95)
        height = rng.uniform(1.8, 2.4) if van else rng.uniform(1.3, 1.65)
        length = rng.uniform(4.5, 5.8) if van else rng.uniform(3.7, 5.0)
        roles = ['same', 'oncoming', 'parked', 'crossing']
        weights = np.array([0.4, 0.3 if lay.num_oncoming else 0.0,
                            0.15 if lay.parking and (inside or lay.ego_speed > 0.5) else 0.0,
                            0.2])
        role = str(rng.choice(roles, p=weights / weights.sum()))
        ego = lay.ego_speed
        if role == 'crossing':
            speed = rng.uniform(*self.cfg.car_speed) * 0.7
            direction = 1.0 if rng.random() < 0.5 else -1.0
            z0 = self._crossing_depth(speed, 1.1 * length)
            if z0 is None:
                return None
            if inside:
                x0 = rng.uniform(-0.8, 0.8) * lay.view_half_width(z0)
            else:
                x0 = -direction * (lay.view_half_width(z0) + length * 0.6)
            return _Candidate(CAR, '', x0, z0, direction * speed, -ego, (length, height),
                              'right' if direction > 0 else 'left', van)
        if role == 'parked':
            x0 = lay.road_right + 1.15
            z0 = self._depth(8.0, 60.0) if inside else self._far_depth(height)
            return _Candidate(CAR, 'park', x0, z0, 0.0, -ego, (width, height), 'rear', van)
        if role == 'oncoming':
            lane = int(rng.integers(0, lay.num_oncoming))
            vz = -(self.lane_speed[lane] + ego)
            z0 = self._depth(10.0, 70.0) if inside else self._far_depth(height)
            x0 = lay.lane_x(lane) + rng.uniform(-0.3, 0.3)
            return _Candidate(CAR, f'lane{lane}', x0, z0, 0.0, vz, (width, height), 'front', van)
        same = [lane for lane in range(lay.num_oncoming, lay.num_lanes)
                if inside or lane != lay.ego_lane]
        if not same:
            return None
        lane = int(rng.choice(same))
        vz = self.lane_speed[lane] - ego
        x0 = lay.lane_x(lane) + rng.uniform(-0.3, 0.3)
        if inside:
            z0 = self._depth(10.0 if lane == lay.ego_lane else 6.0, 70.0)
        elif vz < -0.2:
            z0 = self._far_depth(height)
        elif vz > 0.2:
            z0 = _Z_MIN  # overtakes us: enters from the bottom or side of the image
        else:
            return None
        return _Candidate(CAR, f'lane{lane}', x0, z0, 0.0, vz, (width, height), 'rear', van)

    def pedestrian(self, inside: bool) -> _Candidate | None:
        lay, rng, ego = self.lay, self.rng, self.lay.ego_speed
        height = rng.uniform(1.5, 1.95)
        width = height * rng.uniform(0.27, 0.33)
        speed = rng.uniform(*self.cfg.pedestrian_speed)
        if rng.random() < 0.1:
            speed = 0.0  # waiting or chatting
        if rng.random() < 0.3 and speed > 0:
            direction = 1.0 if rng.random() < 0.5 else -1.0
            half = max(abs(lay.road_left), abs(lay.paved_right)) + lay.sidewalk
            z0 = self._crossing_depth(speed, half)
            if z0 is not None:
                if inside:
                    x0 = rng.uniform(-0.8, 0.8) * min(lay.view_half_width(z0), half)
                else:
                    start = max(lay.view_half_width(z0) + width, half - lay.sidewalk * 0.5)
                    x0 = -direction * start
                return _Candidate(PEDESTRIAN, '', x0, z0, direction * speed, -ego,
                                  (width, height), 'side')
        side = rng.random() < 0.5
        x0 = (lay.road_left - lay.sidewalk * rng.uniform(0.3, 0.7) if side else
              lay.paved_right + lay.sidewalk * rng.uniform(0.3, 0.7))
        walk = speed if rng.random() < 0.5 else -speed
        vz = walk - ego
        if inside:
            z0 = self._depth(6.0, 60.0)
        elif vz < -0.2:
            z0 = self._far_depth(height)
        elif vz > 0.2:
            z0 = _Z_MIN
        else:
            return None
        return _Candidate(PEDESTRIAN, '', x0, z0, 0.0, vz, (width, height), 'front')


def _trajectory(cand: _Candidate, start: int, num_frames: int, lay: _Layout, fps: float,
                shake: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Compute the listed run of a candidate spawned at frame ``start``.

    Returns (first frame, boxes, depths) for the first contiguous run of frames in which the
    object is in front of the camera, at least MIN_OBJECT_PIXELS high and overlaps the image;
    None if there is no such frame.
    """
    frames = np.arange(start, num_frames)
    t = (frames - start) / fps
    x = cand.x0 + cand.vx * t
    z = cand.z0 + cand.vz * t
    zs = np.maximum(z, 1e-3)
    w = lay.focal * cand.size[0] / zs
    h = lay.focal * cand.size[1] / zs
    xc = lay.cx + lay.focal * x / zs + shake[start:, 0]
    yb = lay.horizon + lay.focal * lay.cam_height / zs + shake[start:, 1]
    boxes = np.stack([xc - w / 2, yb - h, xc + w / 2, yb], axis=1)
    ok = ((z > _Z_MIN - 1e-9) & (h >= MIN_OBJECT_PIXELS) & (boxes[:, 2] > 0)
          & (boxes[:, 0] < lay.width) & (boxes[:, 3] > 0) & (boxes[:, 1] < lay.height))
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return None
    a = int(idx[0])
    gaps = np.flatnonzero(~ok[a:])
    b = a + (int(gaps[0]) if gaps.size else len(ok) - a)
    return start + a, boxes[a:b], z[a:b]


def _occupied(tracks: list[_Track], lane: str, frame: int, depth: float, gap: float) -> bool:
    for tr in tracks:
        if tr.lane == lane and tr.first <= frame <= tr.last:
            if abs(float(tr.depth[frame - tr.first]) - depth) < gap:
                return True
    return False


def _plan_tracks(cfg: SceneConfig, lay: _Layout, shake: np.ndarray,
                 rng: np.random.Generator) -> list[_Track]:
    planner = _Planner(cfg, lay, rng)
    tracks: list[_Track] = []
    # A spawned-but-not-yet-visible object reserves a slot from its spawn frame, so that
    # max_objects bounds what can be on screen at once.
    reserved: list[tuple[int, int]] = []

    def attempt(class_id: int, frame: int, inside: bool) -> None:
        if sum(1 for s, e in reserved if s <= frame <= e) >= cfg.max_objects:
            return
        cand = planner.car(inside) if class_id == CAR else planner.pedestrian(inside)
        if cand is None:
            return
        if cand.lane and _occupied(tracks, cand.lane, frame, cand.z0, 12.0):
            return
        run = _trajectory(cand, frame, cfg.num_frames, lay, cfg.fps, shake)
        if run is None:
            return
        first, boxes, depth = run
        if inside and first != frame:
            return  # an "inside" object must really be visible when placed
        aspect = cand.size[1] / cand.size[0]
        phase = look = sprite = None
        if class_id == PEDESTRIAN:
            look = _pedestrian_look(rng, aspect)
            speed = math.hypot(cand.vx, cand.vz + lay.ego_speed)
            t = (np.arange(first, first + len(depth)) - frame) / cfg.fps
            stride = cand.size[1] * rng.uniform(0.75, 0.95)
            phase = rng.uniform(0, 2 * math.pi) + 2 * math.pi * speed * t / stride
        else:
            sprite = _car_sprite(rng, cand.view, aspect, cand.van)
        tracks.append(_Track(class_id, first, boxes, depth, phase, sprite, look, cand.lane))
        reserved.append((frame, first + len(depth) - 1))

    for _ in range(int(rng.integers(cfg.initial_objects[0], cfg.initial_objects[1] + 1))):
        attempt(CAR if rng.random() < 0.5 else PEDESTRIAN, 0, True)
    for frame in range(cfg.num_frames):
        for class_id, rate in ((CAR, cfg.car_rate), (PEDESTRIAN, cfg.pedestrian_rate)):
            for _ in range(int(rng.poisson(rate / cfg.fps))):
                attempt(class_id, frame, False)
    # Ids in order of appearance make GT files easy to read.
    tracks.sort(key=lambda tr: tr.first)
    for k, tr in enumerate(tracks):
        tr.track_id = k + 1
    return tracks


# --------------------------------------------------------------------------------------------
# Per-frame rendering


def _visible_fraction(box: np.ndarray, occluders: list[np.ndarray], width: int,
                      height: int) -> tuple[float, np.ndarray]:
    """Return (visibility, clipped box) of ``box`` given nearer ``occluders`` (all boxes).

    The union of occluders inside the clipped box is measured exactly by coordinate compression,
    which is cheap for the handful of rectangles a frame has.
    """
    x1, y1, x2, y2 = box
    full = max((x2 - x1) * (y2 - y1), 1e-9)
    c = np.array([max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))])
    if c[2] <= c[0] or c[3] <= c[1]:
        return 0.0, c
    area = (c[2] - c[0]) * (c[3] - c[1])
    occ = [o for o in occluders if o[0] < c[2] and o[2] > c[0] and o[1] < c[3] and o[3] > c[1]]
    if occ:
        o = np.clip(np.array(occ), [c[0], c[1], c[0], c[1]], [c[2], c[3], c[2], c[3]])
        xs = np.unique(np.concatenate([o[:, 0], o[:, 2], c[[0, 2]]]))
        ys = np.unique(np.concatenate([o[:, 1], o[:, 3], c[[1, 3]]]))
        mx = (xs[:-1] + xs[1:]) / 2
        my = (ys[:-1] + ys[1:]) / 2
        inx = (o[:, 0, None] <= mx[None]) & (mx[None] <= o[:, 2, None])  # (k, nx)
        iny = (o[:, 1, None] <= my[None]) & (my[None] <= o[:, 3, None])  # (k, ny)
        covered = np.any(iny[:, :, None] & inx[:, None, :], axis=0)
        cell = np.diff(ys)[:, None] * np.diff(xs)[None, :]
        area -= float((cell * covered).sum())
    return float(min(max(area / full, 0.0), 1.0)), c


@dataclass(frozen=True)
class _RoadsideItem:
    depth: float
    kind: str
    x: float
    height: float
    size: float
    side: int


class SyntheticSequence:
    """A generated sequence: random access to frames and their ground truth.

    Create it with :func:`generate_sequence`. Frames are rendered on demand and nothing is
    cached, so holding many sequences is cheap (a background canvas each).
    """

    def __init__(self, config: SceneConfig, layout: _Layout, style: _Style,
                 background: np.ndarray, tracks: list[_Track], shake: np.ndarray,
                 gains: np.ndarray, noise: np.ndarray | None, noise_offsets: np.ndarray,
                 ) -> None:
        """Assemble a sequence from precomputed tables (use :func:`generate_sequence`)."""
        self._cfg = config
        self._lay = layout
        self._sty = style
        self._bg = background
        self._tracks = tracks
        self._shake = shake
        self._gains = gains
        self._noise = noise
        self._noise_offsets = noise_offsets
        self._active: list[list[int]] = [[] for _ in range(config.num_frames)]
        for k, tr in enumerate(tracks):
            for i in range(tr.first, tr.last + 1):
                self._active[i].append(k)

    @property
    def config(self) -> SceneConfig:
        """The configuration the sequence was generated from."""
        return self._cfg

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self._cfg.width

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self._cfg.height

    @property
    def fps(self) -> float:
        """Frame rate the motion was simulated at."""
        return self._cfg.fps

    @property
    def num_tracks(self) -> int:
        """Number of distinct track ids (ids are 1..num_tracks)."""
        return len(self._tracks)

    @property
    def ego_speed(self) -> float:
        """The camera's forward speed in metres per second (drawn from ``config.ego_speed``)."""
        return self._lay.ego_speed

    def __len__(self) -> int:
        """Return the number of frames."""
        return self._cfg.num_frames

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[GroundTruthObject]]]:
        """Yield ``(image, ground_truth)`` for every frame in order."""
        for i in range(len(self)):
            yield self.frame(i)

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f'frame index {i} out of range for a sequence of {n} frames')
        return i % n

    def frame(self, i: int) -> tuple[np.ndarray, list[GroundTruthObject]]:
        """Render frame ``i`` (0-based; negative counts from the end).

        Returns the BGR uint8 image of shape (height, width, 3) and its ground truth, in the same
        order as :meth:`ground_truth`.
        """
        i = self._index(i)
        items = self._roadside(i)
        return self._render(i, items), self._ground_truth(i, items)

    def image(self, i: int) -> np.ndarray:
        """Render frame ``i`` without computing its ground truth."""
        i = self._index(i)
        return self._render(i, self._roadside(i))

    def ground_truth(self, i: int) -> list[GroundTruthObject]:
        """Ground truth of frame ``i`` without rendering it, ordered by track id."""
        i = self._index(i)
        return self._ground_truth(i, self._roadside(i))

    # -- internals ---------------------------------------------------------------------------

    def _ego_distance(self, i: int) -> float:
        return self._lay.ego_speed * i / self._cfg.fps

    def _roadside(self, i: int) -> list[_RoadsideItem]:
        lay, sty = self._lay, self._sty
        d = self._ego_distance(i)
        items = []
        for s, side in enumerate((-1, 1)):
            kind = sty.roadside[s]
            if kind == 'none':
                continue
            period, phase = sty.roadside_period[s], sty.roadside_phase[s]
            x_edge = lay.road_left - lay.sidewalk if side < 0 else lay.paved_right + lay.sidewalk
            x = x_edge + side * 0.6 if kind == 'tree' else (
                lay.road_left - 0.5 if side < 0 else lay.paved_right + 0.5)
            k0 = math.ceil((_Z_MIN + d - phase) / period)
            k1 = math.floor((120.0 + d - phase) / period)
            for k in range(k0, k1 + 1):
                r = _hash01(self._cfg.seed, s, k)
                z = phase + k * period - d
                if kind == 'tree':
                    items.append(_RoadsideItem(z, kind, x, 2.2 + 1.5 * r, 1.2 + 1.2 * r, side))
                else:
                    items.append(_RoadsideItem(z, kind, x, 5.0 + 3.0 * r, 0.2, side))
        return items

    def _item_boxes(self, i: int, item: _RoadsideItem) -> list[np.ndarray]:
        """Pixel boxes of a roadside item's parts: trunk/pole, then crown or lamp arm."""
        lay = self._lay
        sx, sy = self._shake[i]
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

    def _ground_truth(self, i: int, items: list[_RoadsideItem]) -> list[GroundTruthObject]:
        cfg = self._cfg
        occluders: list[tuple[float, np.ndarray]] = []
        for item in items:
            boxes = self._item_boxes(i, item)
            if item.kind == 'tree':
                # The crown is round: its box overstates what it hides; use the inscribed square.
                b = boxes[1]
                cxb, cyb = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                hw, hh = (b[2] - b[0]) * 0.35, (b[3] - b[1]) * 0.35
                boxes[1] = np.array([cxb - hw, cyb - hh, cxb + hw, cyb + hh])
            occluders.extend((item.depth, b) for b in boxes)
        for k in self._active[i]:
            tr = self._tracks[k]
            j = i - tr.first
            occluders.append((float(tr.depth[j]), tr.boxes[j]))
        out = []
        for k in self._active[i]:
            tr = self._tracks[k]
            j = i - tr.first
            z = float(tr.depth[j])
            nearer = [b for dz, b in occluders if dz < z]
            vis, c = _visible_fraction(tr.boxes[j], nearer, cfg.width, cfg.height)
            consider = bool(vis >= cfg.min_visibility and c[3] - c[1] >= cfg.min_size
                            and c[2] - c[0] >= cfg.min_size / 2)
            b = tr.boxes[j]
            out.append(GroundTruthObject(tr.track_id, tr.class_id, float(c[0]), float(c[1]),
                                         float(c[2]), float(c[3]), vis, consider,
                                         (float(b[0]), float(b[1]), float(b[2]), float(b[3]))))
        return sorted(out, key=lambda o: o.track_id)

    def _render(self, i: int, items: list[_RoadsideItem]) -> np.ndarray:
        lay, sty, cfg = self._lay, self._sty, self._cfg
        m = lay.margin
        sx, sy = (int(v) for v in self._shake[i])
        img = self._bg[m - sy:m - sy + cfg.height, m - sx:m - sx + cfg.width].copy()
        d = self._ego_distance(i)

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
        z_start = _Z_MIN + (sty.dash_phase - d) % sty.dash_period
        dashes = []
        w = sty.marking_width / 2
        for z in np.arange(z_start - sty.dash_period, 90.0, sty.dash_period):
            z1, z2 = max(z, 0.8), z + sty.dash_length
            if z2 <= z1:
                continue
            dashes.extend(quad(xb - w, xb + w, z1, z2) for xb in bounds)
        _fill(img, dashes, sty.marking)

        # Shadows of things beside the road fall across it in bands that also scroll.
        for offset, length, dark in sty.shadow_bands:
            z0 = _Z_MIN + (offset - d) % sty.shadow_period
            while z0 < 120.0:
                self._shade(img, quad(lay.road_left - lay.sidewalk,
                                      lay.paved_right + lay.sidewalk, max(z0, 0.8),
                                      z0 + length), dark)
                z0 += sty.shadow_period

        # Everything that stands on the ground, far to near.
        drawables: list[tuple[float, int, object]] = [(it.depth, 0, it) for it in items]
        for k in self._active[i]:
            tr = self._tracks[k]
            drawables.append((float(tr.depth[i - tr.first]), 1, tr))
        drawables.sort(key=lambda e: (-e[0], e[1]))
        for _, kind, obj in drawables:
            if kind == 0:
                self._draw_item(img, i, obj)  # type: ignore[arg-type]
            else:
                self._draw_track(img, i, obj)  # type: ignore[arg-type]

        # Global exposure / white-balance drift, then sensor noise.
        gain = self._gains[i]
        lut = np.clip(np.arange(256, dtype=np.float32)[:, None] * gain[None, :3] + gain[None, 3],
                      0, 255).astype(np.uint8).reshape(1, 256, 3)
        img = cv2.LUT(img, lut)
        if self._noise is not None:
            oy, ox = self._noise_offsets[i]
            tile = self._noise[oy:oy + cfg.height, ox:ox + cfg.width]
            cv2.add(img, tile, dst=img)
            cv2.subtract(img, (self._noise_mid,) * 3 + (0,), dst=img)
        return img

    @property
    def _noise_mid(self) -> float:
        return float(math.ceil(2 * self._cfg.noise))

    @staticmethod
    def _shade(img: np.ndarray, poly: np.ndarray, factor: float) -> None:
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

    def _draw_item(self, img: np.ndarray, i: int, item: _RoadsideItem) -> None:
        sty = self._sty
        trunk, extra = self._item_boxes(i, item)
        if item.kind == 'tree':
            _fill(img, [np.array(_rect(*trunk))], sty.trunk)
            cx, cy = (extra[0] + extra[2]) / 2, (extra[1] + extra[3]) / 2
            rx, ry = (extra[2] - extra[0]) / 2, (extra[3] - extra[1]) / 2
            _fill(img, [_ellipse_poly(cx, cy, rx, ry, 14)], sty.foliage)
            _fill(img, [_ellipse_poly(cx - rx * 0.2, cy - ry * 0.25, rx * 0.55, ry * 0.5, 10)],
                  _scaled(sty.foliage, 1.25))
        else:
            _fill(img, [np.array(_rect(*trunk)), np.array(_rect(*extra))], sty.pole_colour)

    def _draw_track(self, img: np.ndarray, i: int, tr: _Track) -> None:
        j = i - tr.first
        x1, y1, x2, y2 = (float(v) for v in tr.boxes[j])
        w, h = x2 - x1, y2 - y1
        # A contact shadow anchors the object to the ground.
        _fill(img, [_ellipse_poly((x1 + x2) / 2, y2, w * 0.6, max(h * 0.04, 0.6), 12)],
              self._sty.shadow_colour)
        if tr.sprite is not None:
            tr.sprite.draw(img, (x1, y1, x2, y2))
        elif tr.look is not None and tr.phase is not None:
            legs = _legs_sprite(tr.look, float(tr.phase[j]))
            legs.draw(img, (x1, y1, x2, y2), tr.look.sprite)


def _shake_table(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Integer (dx, dy) image offsets per frame: a slow sway plus per-frame jitter."""
    n, a = cfg.num_frames, cfg.shake
    t = np.arange(n) / cfg.fps
    out = np.zeros((n, 2))
    for axis, weight in ((0, 1.0), (1, 0.7)):
        period = rng.uniform(3.0, 9.0)
        sway = 2 * a * weight * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        jitter = a * weight * rng.uniform(-1.0, 1.0, n)
        out[:, axis] = np.clip(np.rint(sway + jitter), -3 * a, 3 * a)
    return out.astype(np.int64)


def _gain_table(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-frame (gain_b, gain_g, gain_r, offset): slow exposure and white-balance drift."""
    n, v = cfg.num_frames, cfg.lighting_variation
    t = np.arange(n) / cfg.fps
    base = rng.uniform(1.0 - v, 1.0 + 0.5 * v)
    exposure = base + v * 0.6 * np.sin(2 * math.pi * t / rng.uniform(8, 30)
                                       + rng.uniform(0, 2 * math.pi))
    out = np.zeros((n, 4), np.float32)
    for c in range(3):
        tint = v * 0.25 * np.sin(2 * math.pi * t / rng.uniform(10, 40)
                                 + rng.uniform(0, 2 * math.pi)) + rng.uniform(-0.3, 0.3) * v
        out[:, c] = exposure * (1.0 + tint)
    out[:, 3] = rng.uniform(-12, 12) * v
    return out


def generate_sequence(config: SceneConfig) -> SyntheticSequence:
    """Generate a sequence: layout, appearance, trajectories, camera shake and lighting.

    Everything random is drawn here from ``config.seed``; the returned sequence renders any
    frame on demand, identically in every process.
    """
    rng = np.random.default_rng(config.seed)
    lay = _make_layout(config, rng)
    sty = _make_style(lay, config, rng)
    background = _render_background(lay, sty, rng)
    shake = _shake_table(config, rng)
    gains = _gain_table(config, rng)
    tracks = _plan_tracks(config, lay, shake, rng)
    noise = None
    pad = 32
    offsets = rng.integers(0, pad, (config.num_frames, 2))
    if config.noise > 0:
        mid = math.ceil(2 * config.noise)
        tile = rng.normal(mid, config.noise, (config.height + pad, config.width + pad, 3))
        noise = np.clip(np.rint(tile), 0, 2 * mid).astype(np.uint8)
    return SyntheticSequence(config, lay, sty, background, tracks, shake, gains, noise, offsets)
