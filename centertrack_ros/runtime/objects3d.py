"""Autoware objects from 3D tracks: pose, heading, shape, velocity and their uncertainties.

What ``autoware_perception_msgs`` ``TrackedObject``/``DetectedObject`` carry for each published
3D track, free of message types (the node and the bag tool fill their own message classes from
it). Conventions (README, "Autoware objects"):

- **Frame**: the header frame, the camera's optical frame (x right, y down, z forward), metres;
  the consumer transforms with TF, as Autoware does.
- **Position**: the 3D box centre, the ``detections_3d`` box centre (CenterTrack's bottom
  centre ``loc`` moved up by h/2, see :mod:`.boxes3d`).
- **Orientation**: the object's frame has x along the heading (cos rot_y, 0, -sin rot_y), z up
  (0, -1, 0) and y = z cross x (the object's left); as a quaternion
  q = q_y(rot_y) * q_x(+90 deg), i.e. the ``detections_3d`` orientation turned a quarter about
  its x axis. ``orientation_availability`` is AVAILABLE: CenterTrack's rotation bins tell the
  front from the back.
- **Shape**: BOUNDING_BOX with dimensions x = length (along the heading), y = width, z = height.
- **Velocity** (twist, linear): the least-squares slope of the track's 3D centres over the last
  ``window_s`` seconds of its observations (at least the last two), in the header frame, then
  expressed in the object's frame as Autoware's kinematics define it (x forward, y left). It is
  the velocity **relative to the camera**: a camera on a moving vehicle sees the ego motion in
  it. Until a track has two observations it is zero with variance ``UNKNOWN_SPEED_SIGMA**2``.
  The angular twist and the acceleration are not estimated: zero with large variances.
- **Covariances** (:class:`UncertaintyModel`): position from a pixel error across the viewing
  ray and a depth error that grows with the distance, propagated through the unprojection;
  orientation variances about the header's axes; velocity propagated from the positions through
  the least-squares fit. Never zero.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np

from ..core.errors import ConfigError
from .boxes3d import DetectionBox3D
from .object_classes import ClassMap
from .object_ids import ObjectIdSpace

Vec3 = tuple[float, float, float]
Quaternion = tuple[float, float, float, float]

# Values of autoware_perception_msgs' constants (tests compare them with the generated classes).
ORIENTATION_AVAILABLE = 2  # {Detected,Tracked}ObjectKinematics.AVAILABLE
BOUNDING_BOX = 0  # Shape.BOUNDING_BOX

# Standard deviations of what is not known (zero values with these variances).
UNKNOWN_SPEED_SIGMA = 50.0  # m/s, a track's velocity before its second observation
UNKNOWN_YAW_RATE_SIGMA = math.pi  # rad/s, every angular velocity component
UNKNOWN_ACCELERATION_SIGMA = 10.0  # m/s^2, every linear acceleration component
UNKNOWN_ANGULAR_ACCELERATION_SIGMA = math.pi  # rad/s^2

# The rotation from the detections_3d box axes (x heading, y down, z = width axis) to the
# object's axes (x heading, y left, z up): +90 degrees about x.
_QUARTER_ABOUT_X = (math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5))
_MAX_OBSERVATIONS = 100  # per track; the time window normally keeps far fewer


@dataclass(frozen=True)
class UncertaintyModel:
    """The monocular measurement model behind the pose covariances (defaults: module doc).

    A box centre at depth z (metres, along the optical axis) seen at pixel (u, v) is
    x = (u - cx) z / fx, y = (v - cy) z / fy, z. With independent errors ``pixel_sigma`` in u
    and v and ``depth_sigma_base + depth_sigma_ratio * z`` in z, the position covariance is
    J diag(pixel_sigma^2, pixel_sigma^2, depth_sigma^2) J^T, J = d(x, y, z)/d(u, v, z): the
    lateral standard deviations are pixel_sigma * z / f (growing linearly with the depth), the
    depth error lies along the viewing ray. ``yaw_sigma`` is the heading's standard deviation
    (about the optical y axis), ``tilt_sigma`` that of the two other rotations (objects are
    assumed upright: roll and pitch are zero, up to the camera's own tilt).
    """

    pixel_sigma: float = 4.0
    depth_sigma_base: float = 0.5
    depth_sigma_ratio: float = 0.1
    yaw_sigma: float = 0.3
    tilt_sigma: float = 0.1

    def __post_init__(self) -> None:
        for name in ('pixel_sigma', 'depth_sigma_base', 'depth_sigma_ratio', 'yaw_sigma',
                     'tilt_sigma'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f'{name} must be a finite number >= 0, got {value}')
        if self.pixel_sigma == 0 or (self.depth_sigma_base == 0 and self.depth_sigma_ratio == 0):
            raise ConfigError('pixel_sigma and the depth sigma (base or ratio) must be above '
                              'zero: a monocular position is never certain')

    def depth_sigma(self, depth: float) -> float:
        """Return the standard deviation (m) of a depth ``depth`` (m)."""
        return self.depth_sigma_base + self.depth_sigma_ratio * abs(depth)

    def position_covariance(self, center: Sequence[float] | np.ndarray, fx: float,
                            fy: float) -> np.ndarray:
        """Return the 3x3 covariance (m^2, header frame) of a box centre (class doc)."""
        x, y, z = (float(v) for v in center)
        z = max(z, 1e-3)  # a box in front of the camera; guards the division
        jacobian = np.array([[z / fx, 0.0, x / z], [0.0, z / fy, y / z], [0.0, 0.0, 1.0]])
        sigmas = np.diag([self.pixel_sigma ** 2, self.pixel_sigma ** 2,
                          self.depth_sigma(z) ** 2])
        return jacobian @ sigmas @ jacobian.T

    def pose_covariance(self, center: Sequence[float] | np.ndarray, fx: float,
                        fy: float) -> np.ndarray:
        """Return the 6x6 pose covariance (x, y, z, rotations about the header's X, Y, Z)."""
        out = np.zeros((6, 6))
        out[:3, :3] = self.position_covariance(center, fx, fy)
        out[3, 3] = out[5, 5] = self.tilt_sigma ** 2
        out[4, 4] = self.yaw_sigma ** 2  # the heading turns about the optical y axis
        return out


@dataclass(frozen=True)
class ObjectEstimate:
    """One 3D track as Autoware's objects carry it (module doc for the conventions).

    Covariances are 6x6 row-major tuples of 36 floats, as in ``geometry_msgs``: the pose's in
    the header frame, the twist's and acceleration's in the object's frame.
    """

    track_id: int
    object_id: bytes
    label: int
    class_name: str
    score: float
    position: Vec3
    orientation: Quaternion
    dimensions: Vec3
    pose_covariance: tuple[float, ...]
    linear_velocity: Vec3
    twist_covariance: tuple[float, ...]
    has_twist: bool
    acceleration_covariance: tuple[float, ...]
    observations: int


def quaternion_multiply(a: Sequence[float], b: Sequence[float]) -> Quaternion:
    """Return the Hamilton product a * b of quaternions given as (x, y, z, w)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def rotation_matrix(q: Sequence[float]) -> np.ndarray:
    """Return the 3x3 rotation of a unit quaternion (x, y, z, w): its columns are the axes."""
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def object_orientation(box: DetectionBox3D) -> Quaternion:
    """Return the Autoware orientation (x heading, z up) of a ``detections_3d`` box."""
    return quaternion_multiply(box.orientation, _QUARTER_ABOUT_X)


def object_dimensions(box: DetectionBox3D) -> Vec3:
    """Return Autoware's BOUNDING_BOX dimensions (length, width, height) of a box."""
    length, height, width = box.size  # detections_3d: x = length, y = height, z = width
    return (length, width, height)


def _diagonal(*sigmas: float) -> np.ndarray:
    return np.diag([s * s for s in sigmas])


def _flat(matrix: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(matrix, dtype=np.float64).reshape(36))


_ACCELERATION_COVARIANCE = _flat(_diagonal(*[UNKNOWN_ACCELERATION_SIGMA] * 3,
                                           *[UNKNOWN_ANGULAR_ACCELERATION_SIGMA] * 3))


def fit_velocity(times_s: np.ndarray, positions: np.ndarray,
                 covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the least-squares velocity of positions over time, and its 3x3 covariance.

    ``times_s`` (N, at least two distinct), ``positions`` (N x 3), ``covariances`` (N x 3 x 3,
    independent errors). The slope is sum_i w_i p_i with w_i = (t_i - mean t) / sum_j (t_j -
    mean t)^2, so its covariance is sum_i w_i^2 C_i.
    """
    t = np.asarray(times_s, dtype=np.float64)
    centred = t - t.mean()
    spread = float(centred @ centred)
    if spread <= 0:
        raise ValueError('a velocity needs observations at two different times')
    weights = centred / spread
    velocity = weights @ np.asarray(positions, dtype=np.float64)
    covariance = np.einsum('i,ijk->jk', weights ** 2, np.asarray(covariances, dtype=np.float64))
    return velocity, covariance


@dataclass
class _History:
    """A track's recent observations: stamps (ns), centres and their covariances."""

    stamps: deque = field(default_factory=lambda: deque(maxlen=_MAX_OBSERVATIONS))
    centers: deque = field(default_factory=lambda: deque(maxlen=_MAX_OBSERVATIONS))
    covariances: deque = field(default_factory=lambda: deque(maxlen=_MAX_OBSERVATIONS))

    def add(self, stamp_ns: int, center: np.ndarray, covariance: np.ndarray,
            window_ns: int) -> None:
        if self.stamps and stamp_ns <= self.stamps[-1]:
            # The same stamp again (a repeated frame) replaces it; an older one (cannot happen
            # without a reset, which ends the tracks) starts over.
            if stamp_ns < self.stamps[-1]:
                self.stamps.clear()
                self.centers.clear()
                self.covariances.clear()
            else:
                self.stamps.pop()
                self.centers.pop()
                self.covariances.pop()
        self.stamps.append(stamp_ns)
        self.centers.append(center)
        self.covariances.append(covariance)
        while len(self.stamps) > 2 and self.stamps[0] < stamp_ns - window_ns:
            self.stamps.popleft()
            self.centers.popleft()
            self.covariances.popleft()


class CameraObjects:
    """The Autoware objects of one camera, frame by frame; keeps what the velocity needs.

    Call :meth:`update` with every frame's 3D boxes (also while nobody subscribes, so that
    velocities are ready when someone does). Tracks that ended (not among ``alive``) are
    forgotten; coasting tracks keep their history and continue it when found again.

    Args:
        ids: the UUID space of this node and camera.
        classes: class name -> Autoware label.
        uncertainty: the measurement model of the covariances.
        window_s: the time span of observations the velocity is fitted over (seconds > 0).

    """

    def __init__(self, ids: ObjectIdSpace, classes: Optional[ClassMap] = None,
                 uncertainty: Optional[UncertaintyModel] = None, window_s: float = 1.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ConfigError(f'the velocity window must be a positive number of seconds, got '
                              f'{window_s}')
        self.ids = ids
        self.classes = classes or ClassMap()
        self.uncertainty = uncertainty or UncertaintyModel()
        self.window_ns = int(round(window_s * 1e9))
        self._histories: dict[int, _History] = {}

    def __len__(self) -> int:
        return len(self._histories)

    def reset(self) -> None:
        """Forget every track's history."""
        self._histories.clear()

    def update(self, stamp_ns: int, boxes: Sequence[DetectionBox3D], calib: Optional[np.ndarray],
               alive: Iterable[int]) -> list[ObjectEstimate]:
        """Return the objects of one frame, in the order of ``boxes``.

        Args:
            stamp_ns: the image stamp.
            boxes: the frame's published 3D boxes (:func:`.boxes3d.detection_boxes_3d`).
            calib: the camera matrix P they were computed with (its focal lengths enter the
                covariances); None only with no boxes.
            alive: the ids of every track the tracker still holds (published or coasting);
                the others have ended and are forgotten.

        """
        alive = {int(track_id) for track_id in alive}
        alive.update(box.track_id for box in boxes)
        for track_id in [t for t in self._histories if t not in alive]:
            del self._histories[track_id]
        if not boxes:
            return []
        if calib is None:
            raise ValueError('3D boxes need the camera matrix they were computed with')
        p = np.asarray(calib, dtype=np.float64).reshape(3, 4)
        fx, fy = float(p[0, 0]), float(p[1, 1])
        return [self._estimate(stamp_ns, box, fx, fy) for box in boxes]

    def _estimate(self, stamp_ns: int, box: DetectionBox3D, fx: float,
                  fy: float) -> ObjectEstimate:
        center = np.asarray(box.center, dtype=np.float64)
        pose_covariance = self.uncertainty.pose_covariance(center, fx, fy)
        history = self._histories.setdefault(box.track_id, _History())
        history.add(int(stamp_ns), center, pose_covariance[:3, :3], self.window_ns)
        orientation = object_orientation(box)
        twist_covariance = _diagonal(*[UNKNOWN_SPEED_SIGMA] * 3, *[UNKNOWN_YAW_RATE_SIGMA] * 3)
        velocity = np.zeros(3)
        has_twist = len(history.stamps) >= 2
        if has_twist:
            newest = history.stamps[-1]
            times = np.array([(s - newest) * 1e-9 for s in history.stamps])
            velocity_header, covariance_header = fit_velocity(
                times, np.stack(history.centers), np.stack(history.covariances))
            rotation = rotation_matrix(orientation)  # object axes in the header frame
            velocity = rotation.T @ velocity_header
            twist_covariance[:3, :3] = rotation.T @ covariance_header @ rotation
        return ObjectEstimate(
            track_id=box.track_id, object_id=self.ids.uuid(box.track_id),
            label=self.classes.label(box.class_name), class_name=box.class_name,
            score=box.score, position=(float(center[0]), float(center[1]), float(center[2])),
            orientation=orientation, dimensions=object_dimensions(box),
            pose_covariance=_flat(pose_covariance),
            linear_velocity=(float(velocity[0]), float(velocity[1]), float(velocity[2])),
            twist_covariance=_flat(twist_covariance), has_twist=has_twist,
            acceleration_covariance=_ACCELERATION_COVARIANCE,
            observations=len(history.stamps))
