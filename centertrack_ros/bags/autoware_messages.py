"""Autoware's object messages as ``rosbags`` objects, laid out as the node publishes them.

The content comes from :mod:`centertrack_ros.runtime.objects3d`; the node fills rclpy's
classes (:mod:`centertrack_ros.ros.autoware_messages`), rosbags cannot serialise those, so the
same fields are set here on the typestore's classes (a test compares the serialised bytes).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..runtime.objects3d import BOUNDING_BOX, ORIENTATION_AVAILABLE, ObjectEstimate
from .typestore import DETECTED_OBJECTS, TRACKED_OBJECTS, header, typestore


def _classification(estimate: ObjectEstimate) -> Any:
    return typestore().types['autoware_perception_msgs/msg/ObjectClassification'](
        label=int(estimate.label), probability=float(estimate.score))


def _vector3(values: Iterable[float]) -> Any:
    x, y, z = (float(v) for v in values)
    return typestore().types['geometry_msgs/msg/Vector3'](x=x, y=y, z=z)


def _shape(estimate: ObjectEstimate) -> Any:
    types = typestore().types
    return types['autoware_perception_msgs/msg/Shape'](
        type=BOUNDING_BOX, footprint=types['geometry_msgs/msg/Polygon'](points=[]),
        dimensions=_vector3(estimate.dimensions))


def _covariance(values: Iterable[float]) -> np.ndarray:
    return np.asarray(tuple(values), dtype=np.float64)


def _pose(estimate: ObjectEstimate) -> Any:
    types = typestore().types
    x, y, z = estimate.position
    qx, qy, qz, qw = estimate.orientation
    pose = types['geometry_msgs/msg/Pose'](
        position=types['geometry_msgs/msg/Point'](x=float(x), y=float(y), z=float(z)),
        orientation=types['geometry_msgs/msg/Quaternion'](x=float(qx), y=float(qy),
                                                          z=float(qz), w=float(qw)))
    return types['geometry_msgs/msg/PoseWithCovariance'](
        pose=pose, covariance=_covariance(estimate.pose_covariance))


def _twist(estimate: ObjectEstimate) -> Any:
    types = typestore().types
    twist = types['geometry_msgs/msg/Twist'](linear=_vector3(estimate.linear_velocity),
                                             angular=_vector3((0.0, 0.0, 0.0)))
    return types['geometry_msgs/msg/TwistWithCovariance'](
        twist=twist, covariance=_covariance(estimate.twist_covariance))


def _acceleration(estimate: ObjectEstimate) -> Any:
    types = typestore().types
    accel = types['geometry_msgs/msg/Accel'](linear=_vector3((0.0, 0.0, 0.0)),
                                             angular=_vector3((0.0, 0.0, 0.0)))
    return types['geometry_msgs/msg/AccelWithCovariance'](
        accel=accel, covariance=_covariance(estimate.acceleration_covariance))


def tracked_objects(estimates: Iterable[ObjectEstimate], stamp_ns: int, frame_id: str) -> Any:
    """Build an ``autoware_perception_msgs/TrackedObjects`` as the node publishes it."""
    types = typestore().types
    objects = []
    for estimate in estimates:
        kinematics = types['autoware_perception_msgs/msg/TrackedObjectKinematics'](
            pose_with_covariance=_pose(estimate), twist_with_covariance=_twist(estimate),
            acceleration_with_covariance=_acceleration(estimate),
            orientation_availability=ORIENTATION_AVAILABLE, is_stationary=False)
        objects.append(types['autoware_perception_msgs/msg/TrackedObject'](
            object_id=types['unique_identifier_msgs/msg/UUID'](
                uuid=np.frombuffer(bytes(estimate.object_id), dtype=np.uint8).copy()),
            existence_probability=float(estimate.score),
            classification=[_classification(estimate)], kinematics=kinematics,
            shape=_shape(estimate)))
    return types[TRACKED_OBJECTS](header=header(stamp_ns, frame_id), objects=objects)


def detected_objects(estimates: Iterable[ObjectEstimate], stamp_ns: int, frame_id: str) -> Any:
    """Build an ``autoware_perception_msgs/DetectedObjects`` as the node publishes it."""
    types = typestore().types
    objects = []
    for estimate in estimates:
        kinematics = types['autoware_perception_msgs/msg/DetectedObjectKinematics'](
            pose_with_covariance=_pose(estimate), has_position_covariance=True,
            orientation_availability=ORIENTATION_AVAILABLE,
            twist_with_covariance=_twist(estimate), has_twist=bool(estimate.has_twist),
            has_twist_covariance=bool(estimate.has_twist))
        objects.append(types['autoware_perception_msgs/msg/DetectedObject'](
            existence_probability=float(estimate.score),
            classification=[_classification(estimate)], kinematics=kinematics,
            shape=_shape(estimate)))
    return types[DETECTED_OBJECTS](header=header(stamp_ns, frame_id), objects=objects)
