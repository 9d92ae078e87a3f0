"""The camera and the road of a sequence, and the projection from world to image.

A sequence is a pinhole camera at a fixed height looking down a straight road. Everything is
placed in world coordinates (metres: X to the right, Z forward, Y up) and projected, so
perspective (far objects small and close to the horizon) and depth ordering come for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import SceneConfig

MIN_DEPTH = 1.5  # metres; nearer than this an object would be beside or behind the camera


@dataclass
class Layout:
    """Camera intrinsics and pose, the lanes and roadside strips, and the ego speed.

    ``margin`` is the extra border of the background canvas that camera shake crops from.
    """

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
        """Right edge of the paved road, parking strip included."""
        return self.road_right + (2.3 if self.parking else 0.0)

    def lane_x(self, lane: int) -> float:
        """X of the centre of lane ``lane`` (0 is the leftmost)."""
        return self.road_left + (lane + 0.5) * self.lane_width

    def u(self, x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray | float:
        """Image column of world X ``x`` at depth ``z`` (no shake)."""
        return self.cx + self.focal * x / z

    def v(self, z: np.ndarray | float, y: float = 0.0) -> np.ndarray | float:
        """Image row of height ``y`` above the ground at depth ``z`` (no shake)."""
        return self.horizon + self.focal * (self.cam_height - y) / z

    def view_half_width(self, z: float) -> float:
        """Half the width in metres of the ground strip seen at depth ``z`` (widest side)."""
        return max(self.cx, self.width - self.cx) * z / self.focal

    def canvas_pt(self, x: float, z: float, y: float = 0.0) -> tuple[float, float]:
        """Project a world point into the background canvas (the image plus its margin)."""
        return (float(self.u(x, z)) + self.margin, float(self.v(z, y)) + self.margin)


def make_layout(cfg: SceneConfig, rng: np.random.Generator) -> Layout:
    """Draw the camera, the road and the ego speed of a sequence."""
    num_lanes = int(rng.choice([2, 2, 3, 4]))
    num_oncoming = num_lanes // 2 if rng.random() < 0.8 else 0
    ego_lane = int(rng.integers(num_oncoming, num_lanes))
    lane_width = rng.uniform(3.0, 3.8)
    road_left = -(ego_lane + 0.5) * lane_width + rng.uniform(-0.4, 0.4)
    lo, hi = cfg.ego_speed
    ego = 0.0 if (rng.random() < 0.15 and lo == 0.0) else rng.uniform(lo, hi)
    return Layout(
        width=cfg.width, height=cfg.height, margin=int(math.ceil(3 * cfg.shake)) + 2,
        focal=cfg.width * rng.uniform(0.65, 0.95), cam_height=rng.uniform(1.3, 1.8),
        horizon=cfg.height * rng.uniform(0.36, 0.47),
        cx=cfg.width * (0.5 + rng.uniform(-0.05, 0.05)), lane_width=lane_width,
        num_lanes=num_lanes, num_oncoming=num_oncoming, ego_lane=ego_lane, road_left=road_left,
        road_right=road_left + num_lanes * lane_width, parking=bool(rng.random() < 0.5),
        sidewalk=rng.uniform(1.6, 3.5), ego_speed=float(ego), urban=bool(rng.random() < 0.55))
