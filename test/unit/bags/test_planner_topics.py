"""Autoware objects and Foxglove annotations in an MCAP bag, as Foxglove reads them.

The bag tool's writer (rosbags) writes the three new types; the ``mcap`` reader and its ROS 2
decoder (PyPI ``mcap``, ``mcap-ros2-support``: not ours, what Foxglove's own readers implement)
must find the schema names Foxglove recognises (``foxglove_msgs/msg/ImageAnnotations``), the
``ros2msg`` schema encoding with every nested definition, CDR messages, and decode the values.
"""

from __future__ import annotations

import mcap.reader as mcap_reader
import mcap_ros2.decoder as mcap_ros2_decoder
import numpy as np
import pytest

from centertrack_ros.bags.autoware_messages import detected_objects, tracked_objects
from centertrack_ros.bags.foxglove_messages import image_annotations
from centertrack_ros.bags.io import BagWriter
from centertrack_ros.bags.typestore import DETECTED_OBJECTS, IMAGE_ANNOTATIONS, TRACKED_OBJECTS
from centertrack_ros.core.tracks import Track
from centertrack_ros.runtime.annotations import LINE_LOOP, LINE_STRIP, TrailState, frame_overlay
from centertrack_ros.runtime.boxes import detection_boxes
from centertrack_ros.runtime.boxes3d import detection_boxes_3d
from centertrack_ros.runtime.object_ids import ObjectIdSpace
from centertrack_ros.runtime.objects3d import CameraObjects

P = np.array([[800.0, 0.0, 320.0, 0.0], [0.0, 800.0, 240.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
T0 = 1_700_000_000_000_000_000
STEP = 100_000_000
FRAME = 'cam_optical'


def frames(count: int):
    """Yield (stamp, tracks) of a car driving right at 4 m/s, 25 m ahead."""
    for k in range(count):
        x = -2.0 + 0.4 * k
        u = 320 + 800 * x / 25.0
        yield T0 + k * STEP, [Track(
            score=0.75, class_id=1, track_id=11, bbox=np.array([u - 40, 200, u + 40, 260],
                                                               np.float32),
            dim=np.array([1.5, 1.8, 4.2], np.float32), loc=np.array([x, 1.5, 25.0], np.float32),
            rot_y=0.0)]


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('planner') / 'drive'
    objects = CameraObjects(ObjectIdSpace('/centertrack', 'front'))
    trails = TrailState(30)
    with BagWriter(path, storage='mcap') as writer:
        writer.add_topic('/front/objects', TRACKED_OBJECTS)
        writer.add_topic('/front/detected_objects', DETECTED_OBJECTS)
        writer.add_topic('/front/annotations', IMAGE_ANNOTATIONS)
        for stamp, tracks in frames(5):
            names = {1: 'car'}.get
            boxes = detection_boxes(tracks, names)
            estimates = objects.update(stamp, detection_boxes_3d(tracks, names, P), P, [11])
            trails.observe(boxes, [11])
            overlay = frame_overlay(stamp, boxes, trails, (640, 480))
            writer.write('/front/objects', stamp, tracked_objects(estimates, stamp, FRAME))
            writer.write('/front/detected_objects', stamp,
                         detected_objects(estimates, stamp, FRAME))
            writer.write('/front/annotations', stamp, image_annotations(overlay))
    (mcap_file,) = path.glob('*.mcap')
    return mcap_file


def test_schemas_and_encodings_are_what_foxglove_expects(bag):
    with open(bag, 'rb') as stream:
        summary = mcap_reader.make_reader(stream).get_summary()
    channels = {c.topic: c for c in summary.channels.values()}
    expected = {'/front/objects': TRACKED_OBJECTS, '/front/detected_objects': DETECTED_OBJECTS,
                '/front/annotations': IMAGE_ANNOTATIONS}
    for topic, schema_name in expected.items():
        channel = channels[topic]
        schema = summary.schemas[channel.schema_id]
        assert channel.message_encoding == 'cdr'
        assert schema.encoding == 'ros2msg'
        assert schema.name == schema_name
        assert summary.statistics.channel_message_counts[channel.id] == 5
    text = summary.schemas[channels['/front/annotations'].schema_id].data.decode()
    for nested in ('MSG: foxglove_msgs/PointsAnnotation', 'MSG: foxglove_msgs/TextAnnotation',
                   'MSG: foxglove_msgs/Color', 'MSG: foxglove_msgs/Point2'):
        assert nested in text
    assert IMAGE_ANNOTATIONS == 'foxglove_msgs/msg/ImageAnnotations'


def test_a_third_party_decoder_reads_back_the_values(bag):
    with open(bag, 'rb') as stream:
        reader = mcap_reader.make_reader(stream,
                                         decoder_factories=[mcap_ros2_decoder.DecoderFactory()])
        decoded = {}
        for _, channel, message, msg in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append((message.log_time, msg))
    objects = decoded['/front/objects']
    assert [t for t, _ in objects] == [T0 + k * STEP for k in range(5)]
    last = objects[-1][1]
    assert last.header.frame_id == FRAME
    (obj,) = last.objects
    assert bytes(obj.object_id.uuid) == ObjectIdSpace('/centertrack', 'front').uuid(11)
    assert obj.kinematics.twist_with_covariance.twist.linear.x == pytest.approx(4.0, abs=1e-4)
    assert obj.kinematics.pose_with_covariance.pose.position.z == pytest.approx(25.0)
    assert obj.shape.dimensions.x == pytest.approx(4.2)
    assert decoded['/front/detected_objects'][-1][1].objects[0].kinematics.has_twist
    annotations = decoded['/front/annotations'][-1][1]
    kinds = [p.type for p in annotations.points]
    assert kinds == [LINE_STRIP, LINE_LOOP]
    assert len(annotations.points[0].points) == 5
    assert annotations.texts[0].text == '11 car 0.75'
    stamp = annotations.texts[0].timestamp
    assert stamp.sec * 1_000_000_000 + stamp.nanosec == T0 + 4 * STEP
