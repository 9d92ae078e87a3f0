"""``centertrack_bag run`` writes the node's planner and viewer topics when asked.

A bag written by ``run`` (not by the builders alone, as in ``test_planner_topics``) is read with
the ``mcap`` reader and its ROS 2 decoder (PyPI ``mcap``, ``mcap-ros2-support``: not ours, what
Foxglove's readers implement): the schema names and encodings Foxglove expects, and values that
agree, frame by frame, with the ``Detection3DArray``/``Detection2DArray`` written beside them.
A small random-weight model with the 3D heads stands in for a nuScenes model, as in
``test_offline_3d``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mcap.reader as mcap_reader
import mcap_ros2.decoder as mcap_ros2_decoder
import numpy as np
import pytest
from support.bags import cli, convert_calibrated, error_of, make_random_model

from centertrack_ros.bags.typestore import DETECTED_OBJECTS, IMAGE_ANNOTATIONS, TRACKED_OBJECTS
from centertrack_ros.runtime.annotations import LINE_LIST, LINE_LOOP, LINE_STRIP
from centertrack_ros.runtime.object_classes import AUTOWARE_LABELS
from centertrack_ros.runtime.object_ids import ObjectIdSpace
from centertrack_ros.runtime.objects3d import UNKNOWN_SPEED_SIGMA, rotation_matrix

FRAMES = 5
SEED = 9
P = [[500.0, 0.0, 320.0, 20.0], [0.0, 500.0, 190.0, 0.5], [0.0, 0.0, 1.0, 0.01]]
NODE = '/perception/centertrack'
INSTANCE = 'run-1'
TRAIL = 3
PARAMS = f"""centertrack:
  ros__parameters:
    autoware.class_map: ["car:TRUCK"]
    autoware.uuid_instance: {INSTANCE}
    annotations.trail_length: {TRAIL}
"""
TOPICS = {'/objects': TRACKED_OBJECTS, '/detected_objects': DETECTED_OBJECTS,
          '/annotations': IMAGE_ANNOTATIONS}


@pytest.fixture(scope='module')
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp('models')
    return {'3d': make_random_model(folder / 'random3d.pth', ddd=True),
            '2d': make_random_model(folder / 'random2d.pth')}


@pytest.fixture(scope='module')
def calibrated_bag(tmp_path_factory) -> Path:
    return convert_calibrated(tmp_path_factory.mktemp('calibrated'), SEED, FRAMES, P)


def run_args(bag: Path, output: Path, model: Path, *extra) -> list:
    return ['run', bag, '-o', output, '--model', model, '--device', 'cpu', '--engine',
            'reference', '-q', *extra]


@pytest.fixture(scope='module')
def tracks_3d(tmp_path_factory, models, calibrated_bag) -> Path:
    folder = tmp_path_factory.mktemp('run3d')
    (folder / 'params.yaml').write_text(PARAMS)
    output = folder / 'tracks'
    assert cli(*run_args(calibrated_bag, output, models['3d'], '--objects-topic', '/objects',
                         '--detected-objects-topic', '/detected_objects',
                         '--annotations-topic', '/annotations', '--params-file',
                         folder / 'params.yaml', '--node-name', NODE)) == 0
    return output


def mcap_file(bag: Path) -> Path:
    (path,) = bag.glob('*.mcap')
    return path


def decoded(bag: Path) -> dict[str, list]:
    """Return each topic's messages as ``[(log time, message), ...]``, by the mcap decoder."""
    out: dict[str, list] = defaultdict(list)
    with open(mcap_file(bag), 'rb') as stream:
        reader = mcap_reader.make_reader(
            stream, decoder_factories=[mcap_ros2_decoder.DecoderFactory()])
        for _, channel, message, msg in reader.iter_decoded_messages():
            out[channel.topic].append((message.log_time, msg))
    return out


def as_tuple(msg) -> tuple:
    """Return a decoded message's numbers in field order (the decoder's classes lack ==)."""
    if isinstance(msg, (int, float)):
        return (msg,)
    return sum((as_tuple(getattr(msg, name)) for name in msg.__slots__), ())


def stamp(msg_stamp) -> int:
    return msg_stamp.sec * 1_000_000_000 + msg_stamp.nanosec


def test_schemas_and_encodings_are_what_foxglove_expects(tracks_3d):
    with open(mcap_file(tracks_3d), 'rb') as stream:
        summary = mcap_reader.make_reader(stream).get_summary()
    channels = {c.topic: c for c in summary.channels.values()}
    assert set(TOPICS) <= set(channels)
    for topic, schema_name in TOPICS.items():
        channel = channels[topic]
        schema = summary.schemas[channel.schema_id]
        assert (channel.message_encoding, schema.encoding, schema.name) == \
            ('cdr', 'ros2msg', schema_name)
        assert summary.statistics.channel_message_counts[channel.id] == FRAMES
    text = summary.schemas[channels['/annotations'].schema_id].data.decode()
    for nested in ('PointsAnnotation', 'TextAnnotation', 'Color', 'Point2'):
        assert f'MSG: foxglove_msgs/{nested}' in text
    text = summary.schemas[channels['/objects'].schema_id].data.decode()
    for nested in ('autoware_perception_msgs/TrackedObject', 'unique_identifier_msgs/UUID',
                   'autoware_perception_msgs/Shape'):
        assert f'MSG: {nested}' in text


def test_objects_are_the_3d_boxes_of_their_frame(tracks_3d):
    topics = decoded(tracks_3d)
    ids = ObjectIdSpace(NODE, '', INSTANCE)
    labels = {'car': AUTOWARE_LABELS['TRUCK'], 'pedestrian': AUTOWARE_LABELS['PEDESTRIAN']}
    seen: set[int] = set()
    compared = 0
    frames = zip(topics['/detections_3d'], topics['/objects'], topics['/detected_objects'],
                 strict=True)
    for (t3d, boxes), (t_obj, tracked), (t_det, detected) in frames:
        assert t3d == t_obj == t_det
        assert tracked.header.frame_id == boxes.header.frame_id == detected.header.frame_id
        assert stamp(tracked.header.stamp) == stamp(boxes.header.stamp)
        assert len(tracked.objects) == len(detected.objects) == len(boxes.detections)
        for box, obj, det in zip(boxes.detections, tracked.objects, detected.objects):
            uuid = bytes(obj.object_id.uuid)
            assert ids.track_id(uuid) == int(box.id), 'UUID: node, instance, track id'
            pose = obj.kinematics.pose_with_covariance.pose
            center = box.bbox.center
            assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx(
                (center.position.x, center.position.y, center.position.z), abs=1e-9)
            # Autoware's axes: x along the heading (the box's x), z up (the optical -y).
            axes = rotation_matrix((pose.orientation.x, pose.orientation.y,
                                    pose.orientation.z, pose.orientation.w))
            box_axes = rotation_matrix((center.orientation.x, center.orientation.y,
                                        center.orientation.z, center.orientation.w))
            np.testing.assert_allclose(axes[:, 0], box_axes[:, 0], atol=1e-6)
            np.testing.assert_allclose(axes[:, 2], (0.0, -1.0, 0.0), atol=1e-6)
            size = box.bbox.size  # detections_3d: x length, y height, z width
            assert (obj.shape.dimensions.x, obj.shape.dimensions.y, obj.shape.dimensions.z) == \
                pytest.approx((size.x, size.z, size.y), abs=1e-9)
            hypothesis = box.results[0].hypothesis
            assert obj.classification[0].label == labels[hypothesis.class_id]
            assert obj.existence_probability == pytest.approx(hypothesis.score, abs=1e-6)
            first = int(box.id) not in seen
            twist_variance = obj.kinematics.twist_with_covariance.covariance[0]
            assert (twist_variance == UNKNOWN_SPEED_SIGMA ** 2) == first
            assert det.kinematics.has_twist == (not first)
            assert as_tuple(det.kinematics.pose_with_covariance.pose) == as_tuple(pose)
            assert as_tuple(det.shape.dimensions) == as_tuple(obj.shape.dimensions)
            seen.add(int(box.id))
            compared += 1
    assert compared > 0 and len(seen) > 1, 'the random 3D model should track something'


def test_annotations_draw_the_published_tracks_with_capped_trails(tracks_3d):
    topics = decoded(tracks_3d)
    colours: dict[int, tuple] = {}
    appearances: dict[int, int] = defaultdict(int)
    for (t2d, detections), (t_ann, overlay) in zip(topics['/detections'],
                                                   topics['/annotations'], strict=True):
        assert t2d == t_ann
        expected = [f'{d.id} {d.results[0].hypothesis.class_id} '
                    f'{d.results[0].hypothesis.score:.2f}' for d in detections.detections]
        assert [t.text for t in overlay.texts] == expected
        assert all(stamp(t.timestamp) == stamp(detections.header.stamp) for t in overlay.texts)
        for d in detections.detections:
            appearances[int(d.id)] += 1
        trails = [p for p in overlay.points if p.type == LINE_STRIP]
        outlines = [p for p in overlay.points if p.type in (LINE_LOOP, LINE_LIST)]
        assert len(outlines) == len(detections.detections)
        # A trail per track seen at least twice, of at most TRAIL centres.
        assert sorted(len(t.points) for t in trails) == sorted(
            min(appearances[int(d.id)], TRAIL) for d in detections.detections
            if appearances[int(d.id)] >= 2)
        for d, text, outline in zip(detections.detections, overlay.texts, outlines):
            colour = (outline.outline_color.r, outline.outline_color.g, outline.outline_color.b)
            assert colours.setdefault(int(d.id), colour) == colour
            background = text.background_color
            assert (background.r, background.g, background.b) == colour
    assert max(appearances.values()) > TRAIL, 'some track outlives its trail length'


def test_2d_model_writes_annotations_and_refuses_objects(tmp_path, capsys, models,
                                                         calibrated_bag):
    message = error_of(capsys, *run_args(calibrated_bag, tmp_path / 'a', models['2d'],
                                         '--objects-topic', '/objects'))
    assert 'need a model with 3D heads' in message
    output = tmp_path / 'b'
    capsys.readouterr()
    assert cli(*run_args(calibrated_bag, output, models['2d'], '--annotations-topic',
                         '/cam/annotations', '--frames', 2, '--copy-topic',
                         '/camera/image_raw')) == 0
    assert '2 overlays on /cam/annotations' in capsys.readouterr().out
    topics = decoded(output)
    assert set(topics) == {'/detections', '/cam/annotations', '/camera/image_raw'}
    # The copied images (a bag that opens in Foxglove on its own), each with its overlay.
    assert [t for t, _ in topics['/camera/image_raw']] == \
        [t for t, _ in topics['/cam/annotations']]
    for (_, detections), (_, overlay) in zip(topics['/detections'], topics['/cam/annotations'],
                                             strict=True):
        assert [t.text.split()[0] for t in overlay.texts] == \
            [d.id for d in detections.detections]


def test_3d_model_without_camera_info_writes_no_objects(tmp_path, capsys, models):
    bag = tmp_path / 'plain'
    assert cli('convert', '--synthetic', 2, '--frames', 2, '-o', bag, '-q') == 0
    capsys.readouterr()
    assert cli(*run_args(bag, tmp_path / 'tracks', models['3d'], '--objects-topic', '/objects',
                         '--annotations-topic', '/annotations')) == 0
    assert 'no 3D detections or objects written' in capsys.readouterr().err
    assert set(decoded(tmp_path / 'tracks')) == {'/detections', '/annotations'}


@pytest.mark.parametrize(('extra', 'message'), [
    (('--annotations-topic', '/detections'), 'output topic /detections would clash'),
    (('--objects-topic', '/o', '--detected-objects-topic', '/o'), 'output topic /o would clash'),
    (('--trail-length', '-1'), 'annotations.trail_length must be a whole number >= 0'),
])
def test_bad_output_options_are_refused_with_the_reason(tmp_path, capsys, models,
                                                        calibrated_bag, extra, message):
    assert message in error_of(capsys, *run_args(calibrated_bag, tmp_path / 'x', models['3d'],
                                                 *extra))


def test_a_bad_planner_value_in_the_parameters_file_is_one_line(tmp_path, capsys, models,
                                                                 calibrated_bag):
    params = tmp_path / 'params.yaml'
    params.write_text('centertrack:\n  ros__parameters:\n    autoware.class_map: ["car:PLANE"]\n')
    message = error_of(capsys, *run_args(calibrated_bag, tmp_path / 'x', models['3d'],
                                         '--params-file', params))
    assert "'PLANE' is not an Autoware object class" in message
