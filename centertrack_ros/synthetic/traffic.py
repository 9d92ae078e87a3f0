"""Traffic: which objects appear, when, where, and how they move.

Everything is planned up front, when the sequence is generated: a Poisson process proposes
cars and pedestrians, a planner gives each a plausible role (following traffic, oncoming,
parked, crossing, walking along the sidewalk), and each accepted object gets its whole
trajectory as a table of one box per frame. Rendering and ground truth only look rows up.

Objects never pop into the middle of the image: they enter across an image border or grow out of
the horizon from :data:`~.config.MIN_OBJECT_PIXELS` pixels high, and they leave across a border;
each track id is used for exactly one contiguous run of frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import CAR, MIN_OBJECT_PIXELS, PEDESTRIAN, SceneConfig
from .drawing import Sprite
from .layout import MIN_DEPTH, Layout
from .sprites import PedestrianLook, car_sprite, pedestrian_look

_CROSS_CLEARANCE = 7.0  # metres ahead of the camera a crossing object must have cleared our path


@dataclass
class Track:
    """One object's whole listed run: boxes, depths and appearance, frame by frame."""

    class_id: int
    first: int  # first frame (sequence index) in which the object is listed
    boxes: np.ndarray  # (n, 4) unclipped pixel boxes x1, y1, x2, y2 for frames first..first+n-1
    depth: np.ndarray  # (n,) Z in metres, for drawing order and occlusion
    phase: np.ndarray | None  # (n,) gait phase for pedestrians
    sprite: Sprite | None
    look: PedestrianLook | None
    lane: str  # lane key for spacing new cars; '' for objects that ignore lanes
    track_id: int = 0

    @property
    def last(self) -> int:
        """Last frame (sequence index) in which the object is listed."""
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

    def __init__(self, cfg: SceneConfig, lay: Layout, rng: np.random.Generator) -> None:
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
            z0 = MIN_DEPTH  # overtakes us: enters from the bottom or side of the image
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
            z0 = MIN_DEPTH
        else:
            return None
        return _Candidate(PEDESTRIAN, '', x0, z0, 0.0, vz, (width, height), 'front')


def _trajectory(cand: _Candidate, start: int, num_frames: int, lay: Layout, fps: float,
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
    ok = ((z > MIN_DEPTH - 1e-9) & (h >= MIN_OBJECT_PIXELS) & (boxes[:, 2] > 0)
          & (boxes[:, 0] < lay.width) & (boxes[:, 3] > 0) & (boxes[:, 1] < lay.height))
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return None
    a = int(idx[0])
    gaps = np.flatnonzero(~ok[a:])
    b = a + (int(gaps[0]) if gaps.size else len(ok) - a)
    return start + a, boxes[a:b], z[a:b]


def _occupied(tracks: list[Track], lane: str, frame: int, depth: float, gap: float) -> bool:
    for tr in tracks:
        if tr.lane == lane and tr.first <= frame <= tr.last:
            if abs(float(tr.depth[frame - tr.first]) - depth) < gap:
                return True
    return False


def plan_tracks(cfg: SceneConfig, lay: Layout, shake: np.ndarray,
                rng: np.random.Generator) -> list[Track]:
    """Plan every object of a sequence; track ids are 1, 2, ... in order of appearance.

    ``shake`` (per-frame image offsets) is needed because whether an object overlaps the image
    in a frame decides when its listed run starts and ends.
    """
    planner = _Planner(cfg, lay, rng)
    tracks: list[Track] = []
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
            look = pedestrian_look(rng, aspect)
            speed = math.hypot(cand.vx, cand.vz + lay.ego_speed)
            t = (np.arange(first, first + len(depth)) - frame) / cfg.fps
            stride = cand.size[1] * rng.uniform(0.75, 0.95)
            phase = rng.uniform(0, 2 * math.pi) + 2 * math.pi * speed * t / stride
        else:
            sprite = car_sprite(rng, cand.view, aspect, cand.van)
        tracks.append(Track(class_id, first, boxes, depth, phase, sprite, look, cand.lane))
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

