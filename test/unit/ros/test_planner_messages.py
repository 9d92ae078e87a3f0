"""Autoware objects and Foxglove annotations as rclpy messages, and as the bag tool's (no DDS).

The node (rclpy classes) and the bag tool (rosbags classes) build the same messages from the
same ROS-free content; the rclpy bytes are decoded with rosbags and compared field by field
with the bag tool's message (CDR padding bytes are not compared: rclpy leaves them unset).
"""

from __future__ import annotations

import dataclasses
import math
import uuid

import autoware_perception_msgs.msg as autoware
import foxglove_msgs.msg as foxglove
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from centertrack_ros.bags import autoware_messages as bag_autoware  # noqa: E402
from centertrack_ros.bags import foxglove_messages as bag_foxglove  # noqa: E402
from centertrack_ros.bags.typestore import (  # noqa: E402
    DETECTED_OBJECTS,
    IMAGE_ANNOTATIONS,
    TRACKED_OBJECTS,
    typestore,
)
from centertrack_ros.core.tracks import Track
from centertrack_ros.ros import autoware_messages, foxglove_messages  # noqa: E402
from centertrack_ros.runtime import annotations, objects3d
from centertrack_ros.runtime.annotations import TrailState, frame_overlay
from centertrack_ros.runtime.boxes import detection_boxes
from centertrack_ros.runtime.boxes3d import detection_boxes_3d
from centertrack_ros.runtime.object_classes import AUTOWARE_LABELS
from centertrack_ros.runtime.object_ids import ObjectIdSpace
from centertrack_ros.runtime.objects3d import CameraObjects

P = np.array([[1000.0, 0.0, 640.0, 0.0], [0.0, 1000.0, 360.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
STAMP_NS = 1_700_000_000_250_000_000
FRAME = 'front_camera_optical_frame'
CLASSES = {1: 'car', 2: 'pedestrian', 3: 'barrier'}


def tracks_at(k: int) -> list[Track]:
    """Frame k of three objects: a car driving right, a walking pedestrian, a coasting one."""
    def make(track_id, class_id, loc, rot_y, active=1):
        u = 640 + 1000 * loc[0] / loc[2]
        return Track(score=0.5 + 0.1 * track_id, class_id=class_id, track_id=track_id,
                     active=active, bbox=np.array([u - 30, 300, u + 30, 380], np.float32),
                     dim=np.array([1.5, 1.8, 4.2], np.float32),
                     loc=np.array(loc, np.float32), rot_y=rot_y)
    return [make(1, 1, (0.5 * k, 1.6, 20.0), 0.0), make(2, 2, (-3.0, 1.6, 12.0 - 0.1 * k), 1.5),
            make(3, 3, (4.0, 1.6, 30.0), 0.3, active=0 if k else 1)]


@pytest.fixture(scope='module')
def frame():
    """Run three frames as the node would; return the last frame's estimates and overlay."""
    objects = CameraObjects(ObjectIdSpace('/perception/centertrack', 'front'))
    trails = TrailState(10)
    for k in range(3):
        tracks = tracks_at(k)
        boxes = detection_boxes(tracks, CLASSES.get)
        stamp = STAMP_NS + (k - 2) * 100_000_000
        estimates = objects.update(stamp, detection_boxes_3d(tracks, CLASSES.get, P), P,
                                   [t.track_id for t in tracks])
        trails.observe(boxes, [t.track_id for t in tracks])
        overlay = frame_overlay(stamp, boxes, trails, (1280, 720), tracks, P)
    return estimates, overlay


def header() -> Header:
    msg = Header(frame_id=FRAME)
    msg.stamp.sec, msg.stamp.nanosec = divmod(STAMP_NS, 1_000_000_000)
    return msg


def plain(value):
    """Return a rosbags message as nested dicts/lists of Python numbers and strings."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != '__msgtype__'}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def test_constants_are_the_generated_messages():
    classification = autoware.ObjectClassification
    for name, value in AUTOWARE_LABELS.items():
        assert getattr(classification, name) == value
    assert autoware.Shape.BOUNDING_BOX == objects3d.BOUNDING_BOX
    assert autoware.TrackedObjectKinematics.AVAILABLE == objects3d.ORIENTATION_AVAILABLE
    assert autoware.DetectedObjectKinematics.AVAILABLE == objects3d.ORIENTATION_AVAILABLE
    assert foxglove.PointsAnnotation.LINE_LOOP == annotations.LINE_LOOP
    assert foxglove.PointsAnnotation.LINE_STRIP == annotations.LINE_STRIP
    assert foxglove.PointsAnnotation.LINE_LIST == annotations.LINE_LIST


def test_tracked_objects_message(frame):
    estimates, _ = frame
    msg = autoware_messages.tracked_objects(estimates, header())
    assert msg.header.frame_id == FRAME and msg.header.stamp.nanosec == 250_000_000
    assert len(msg.objects) == 2, 'the coasting track is not published'
    car, pedestrian = msg.objects
    space = ObjectIdSpace('/perception/centertrack', 'front')
    assert bytes(car.object_id.uuid) == space.uuid(1)
    assert uuid.UUID(bytes=bytes(pedestrian.object_id.uuid)).hex.endswith('000000000002')
    assert car.existence_probability == pytest.approx(0.6)
    assert [(c.label, c.probability) for c in car.classification] == [
        (autoware.ObjectClassification.CAR, pytest.approx(0.6))]
    assert pedestrian.classification[0].label == autoware.ObjectClassification.PEDESTRIAN
    kinematics = car.kinematics
    pose = kinematics.pose_with_covariance.pose
    assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx(
        (1.0, 1.6 - 0.75, 20.0))
    assert (pose.orientation.x, pose.orientation.y, pose.orientation.z,
            pose.orientation.w) == pytest.approx((math.sqrt(0.5), 0.0, 0.0, math.sqrt(0.5)))
    assert list(kinematics.pose_with_covariance.covariance) == list(estimates[0].pose_covariance)
    # The car moves 0.5 m per 0.1 s along its heading (+x optical): 5 m/s forward.
    twist = kinematics.twist_with_covariance.twist
    assert (twist.linear.x, twist.linear.y, twist.linear.z) == pytest.approx((5.0, 0, 0),
                                                                            abs=1e-4)
    assert min(np.diag(np.reshape(kinematics.twist_with_covariance.covariance, (6, 6)))) > 0
    assert min(np.diag(np.reshape(kinematics.acceleration_with_covariance.covariance,
                                  (6, 6)))) > 0
    assert kinematics.orientation_availability == autoware.TrackedObjectKinematics.AVAILABLE
    assert kinematics.is_stationary is False
    assert car.shape.type == autoware.Shape.BOUNDING_BOX
    assert (car.shape.dimensions.x, car.shape.dimensions.y, car.shape.dimensions.z) == \
        pytest.approx((4.2, 1.8, 1.5))
    assert list(car.shape.footprint.points) == []


def test_detected_objects_message(frame):
    estimates, _ = frame
    msg = autoware_messages.detected_objects(estimates, header())
    assert len(msg.objects) == 2
    kinematics = msg.objects[0].kinematics
    assert kinematics.has_position_covariance and kinematics.has_twist
    assert kinematics.has_twist_covariance
    assert kinematics.twist_with_covariance.twist.linear.x == pytest.approx(5.0, abs=1e-4)
    first = dataclasses.replace(estimates[0], has_twist=False)
    unknown = autoware_messages.detected_objects([first], header()).objects[0].kinematics
    assert not unknown.has_twist and not unknown.has_twist_covariance


def test_image_annotations_message(frame):
    _, overlay = frame
    msg = foxglove_messages.image_annotations(overlay)
    assert len(msg.texts) == 2 and len(msg.circles) == 0
    assert len(msg.points) == 4, 'a trail and an outline per published track'
    assert [p.type for p in msg.points] == [annotations.LINE_STRIP] * 2 + \
        [annotations.LINE_LIST] * 2
    for item in list(msg.points) + list(msg.texts):
        assert (item.timestamp.sec, item.timestamp.nanosec) == divmod(STAMP_NS, 1_000_000_000)
    assert msg.texts[0].text == '1 car 0.60'
    trail = msg.points[0]
    assert len(trail.points) == 3 and trail.thickness == pytest.approx(2.56)
    assert (trail.outline_color.r, trail.outline_color.a) == pytest.approx(
        (overlay.tracks[0].trail.color[0], annotations.TRAIL_ALPHA))
    assert trail.fill_color.a == 0.0


@pytest.mark.parametrize(('kind', 'msgtype'), [
    ('tracked', TRACKED_OBJECTS), ('detected', DETECTED_OBJECTS),
    ('annotations', IMAGE_ANNOTATIONS)])
def test_node_and_bag_tool_build_the_same_message(frame, kind, msgtype):
    estimates, overlay = frame
    if kind == 'tracked':
        ours = autoware_messages.tracked_objects(estimates, header())
        bags = bag_autoware.tracked_objects(estimates, STAMP_NS, FRAME)
    elif kind == 'detected':
        ours = autoware_messages.detected_objects(estimates, header())
        bags = bag_autoware.detected_objects(estimates, STAMP_NS, FRAME)
    else:
        ours = foxglove_messages.image_annotations(overlay)
        bags = bag_foxglove.image_annotations(overlay)
    from rclpy.serialization import deserialize_message

    store = typestore()
    bag_bytes = bytes(store.serialize_cdr(bags, msgtype))
    written = plain(store.deserialize_cdr(bag_bytes, msgtype))  # float32 fields as stored
    assert plain(store.deserialize_cdr(serialize_message(ours), msgtype)) == written
    # ... and the bag tool's bytes decode with rclpy to the node's message.
    back = deserialize_message(bag_bytes, type(ours))
    assert plain(store.deserialize_cdr(serialize_message(back), msgtype)) == written
