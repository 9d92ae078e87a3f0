"""The vision_msgs fallback (msg/vision_msgs) is wire- and hash-compatible with 4.1.1."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET

import pytest
from support import REPO
from support.advertised_types import advertised_types

from centertrack_ros.msg_defs import (
    VISION_MSGS_TYPE_HASHES,
    msg_directory,
    register_vision_msgs,
    vision_msgs_definitions,
)

PACKAGE_DIR = REPO / 'msg' / 'vision_msgs'
MSG = PACKAGE_DIR / 'msg'


def test_msg_package_is_a_colcon_ignored_interface_package():
    assert (REPO / 'msg' / 'COLCON_IGNORE').is_file()
    root = ET.parse(PACKAGE_DIR / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'vision_msgs'
    assert root.findtext('export/build_type') == 'ament_cmake'
    assert root.findtext('member_of_group') == 'rosidl_interface_packages'
    assert 'rosidl_generate_interfaces' in (PACKAGE_DIR / 'CMakeLists.txt').read_text()
    assert {p.stem for p in MSG.glob('*.msg')} == set(VISION_MSGS_TYPE_HASHES)


def test_definitions_helper_reads_msg_directory():
    assert msg_directory() == MSG
    defs = vision_msgs_definitions()
    assert set(defs) == {f'vision_msgs/msg/{name}' for name in VISION_MSGS_TYPE_HASHES}
    assert defs['vision_msgs/msg/Detection2D'] == (MSG / 'Detection2D.msg').read_text()


def test_rosbags_computes_the_upstream_type_hashes_from_our_text():
    from rosbags.typesys import Stores, get_typestore

    store = register_vision_msgs(get_typestore(Stores.ROS2_KILTED))
    for name, expected in VISION_MSGS_TYPE_HASHES.items():
        assert store.hash_rihs01(f'vision_msgs/msg/{name}') == expected, name


@pytest.mark.ros
def test_built_types_advertise_the_upstream_type_hashes():
    module = importlib.import_module('vision_msgs.msg')
    types = [getattr(module, name) for name in VISION_MSGS_TYPE_HASHES]
    offered = advertised_types(types, 'centertrack_env_hashes')
    for (name, expected), (type_name, type_hash) in zip(VISION_MSGS_TYPE_HASHES.items(), offered,
                                                        strict=True):
        assert type_name == f'vision_msgs/msg/{name}'
        assert type_hash == expected, name


def test_cdr_bytes_are_interchangeable_between_rosbags_and_rclpy():
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.typesys import Stores, get_typestore
    from vision_msgs.msg import Detection2DArray

    store = register_vision_msgs(get_typestore(Stores.ROS2_KILTED))
    T = store.types
    header = T['std_msgs/msg/Header'](
        stamp=T['builtin_interfaces/msg/Time'](sec=12, nanosec=34), frame_id='cam')
    import numpy as np

    pose = T['geometry_msgs/msg/PoseWithCovariance'](
        pose=T['geometry_msgs/msg/Pose'](
            position=T['geometry_msgs/msg/Point'](x=1.0, y=2.0, z=3.0),
            orientation=T['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0)),
        covariance=np.arange(36, dtype=np.float64))
    det = T['vision_msgs/msg/Detection2D'](
        header=header,
        results=[T['vision_msgs/msg/ObjectHypothesisWithPose'](
            hypothesis=T['vision_msgs/msg/ObjectHypothesis'](class_id='car', score=0.75),
            pose=pose)],
        bbox=T['vision_msgs/msg/BoundingBox2D'](
            center=T['vision_msgs/msg/Pose2D'](
                position=T['vision_msgs/msg/Point2D'](x=5.5, y=6.5), theta=0.25),
            size_x=7.0, size_y=8.0),
        id='123')
    array = T['vision_msgs/msg/Detection2DArray'](header=header, detections=[det, det])
    raw = bytes(store.serialize_cdr(array, 'vision_msgs/msg/Detection2DArray'))

    msg = deserialize_message(raw, Detection2DArray)
    assert msg.header.frame_id == 'cam' and msg.header.stamp.nanosec == 34
    assert len(msg.detections) == 2
    got = msg.detections[1]
    assert got.id == '123'
    assert (got.bbox.center.position.x, got.bbox.center.position.y, got.bbox.center.theta,
            got.bbox.size_x, got.bbox.size_y) == (5.5, 6.5, 0.25, 7.0, 8.0)
    assert got.results[0].hypothesis.class_id == 'car'
    assert got.results[0].hypothesis.score == 0.75
    assert list(got.results[0].pose.covariance) == list(range(36))
    assert got.results[0].pose.pose.position.z == 3.0

    # ... and back: rclpy's bytes decode with rosbags to the same message.
    assert serialize_message(msg) == raw
    back = store.deserialize_cdr(serialize_message(msg), 'vision_msgs/msg/Detection2DArray')
    assert back.detections[0].bbox.size_y == 8.0
