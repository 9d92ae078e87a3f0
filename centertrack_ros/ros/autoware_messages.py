"""Autoware's object messages (rclpy): ``TrackedObjects`` and ``DetectedObjects``.

The content comes from :mod:`centertrack_ros.runtime.objects3d` (one
:class:`~centertrack_ros.runtime.objects3d.ObjectEstimate` per published 3D track, with the
conventions); this module only fills in ``autoware_perception_msgs``' classes. The bag tool
builds the same layout with rosbags (:mod:`centertrack_ros.bags.autoware_messages`; a test
compares the serialised bytes).
"""

from __future__ import annotations

from typing import Any, Iterable

from ..runtime.objects3d import BOUNDING_BOX, ORIENTATION_AVAILABLE, ObjectEstimate


def _classification(estimate: ObjectEstimate) -> Any:
    from autoware_perception_msgs.msg import ObjectClassification
    return ObjectClassification(label=estimate.label, probability=float(estimate.score))


def _shape(estimate: ObjectEstimate) -> Any:
    from autoware_perception_msgs.msg import Shape
    shape = Shape(type=BOUNDING_BOX)
    shape.dimensions.x, shape.dimensions.y, shape.dimensions.z = estimate.dimensions
    return shape


def _fill_pose(pose_with_covariance: Any, estimate: ObjectEstimate) -> None:
    pose = pose_with_covariance.pose
    position, orientation = pose.position, pose.orientation
    position.x, position.y, position.z = estimate.position
    orientation.x, orientation.y, orientation.z, orientation.w = estimate.orientation
    pose_with_covariance.covariance = list(estimate.pose_covariance)


def _fill_twist(twist_with_covariance: Any, estimate: ObjectEstimate) -> None:
    linear = twist_with_covariance.twist.linear
    linear.x, linear.y, linear.z = estimate.linear_velocity
    twist_with_covariance.covariance = list(estimate.twist_covariance)


def tracked_objects(estimates: Iterable[ObjectEstimate], header: Any) -> Any:
    """Build an ``autoware_perception_msgs/TrackedObjects`` of one frame.

    ``header`` is the input image's header (the camera's optical frame). Each object: its
    UUID, ``existence_probability`` = score, one classification (label, probability = score),
    pose, twist and acceleration with covariances, orientation AVAILABLE, not stationary
    (unknown from a camera that may move), a BOUNDING_BOX shape.
    """
    from autoware_perception_msgs.msg import TrackedObject, TrackedObjects
    out = TrackedObjects()
    out.header = header
    for estimate in estimates:
        obj = TrackedObject()
        obj.object_id.uuid = list(estimate.object_id)
        obj.existence_probability = float(estimate.score)
        obj.classification.append(_classification(estimate))
        kinematics = obj.kinematics
        _fill_pose(kinematics.pose_with_covariance, estimate)
        _fill_twist(kinematics.twist_with_covariance, estimate)
        kinematics.acceleration_with_covariance.covariance = list(
            estimate.acceleration_covariance)
        kinematics.orientation_availability = ORIENTATION_AVAILABLE
        kinematics.is_stationary = False
        obj.shape = _shape(estimate)
        out.objects.append(obj)
    return out


def detected_objects(estimates: Iterable[ObjectEstimate], header: Any) -> Any:
    """Build an ``autoware_perception_msgs/DetectedObjects`` of one frame (no ids).

    As :func:`tracked_objects`, with ``has_position_covariance`` true and the twist flagged
    (``has_twist``, ``has_twist_covariance``) once the track has two observations.
    """
    from autoware_perception_msgs.msg import DetectedObject, DetectedObjects
    out = DetectedObjects()
    out.header = header
    for estimate in estimates:
        obj = DetectedObject()
        obj.existence_probability = float(estimate.score)
        obj.classification.append(_classification(estimate))
        kinematics = obj.kinematics
        _fill_pose(kinematics.pose_with_covariance, estimate)
        kinematics.has_position_covariance = True
        kinematics.orientation_availability = ORIENTATION_AVAILABLE
        _fill_twist(kinematics.twist_with_covariance, estimate)
        kinematics.has_twist = estimate.has_twist
        kinematics.has_twist_covariance = estimate.has_twist
        obj.shape = _shape(estimate)
        out.objects.append(obj)
    return out
