"""``centertrack_bag`` offline: convert, run, eval and info over real bag files.

Every bag here is written to a temporary folder by the command-line entry point and read back
through ``rosbags``; nothing is mocked. The central check is the round trip: a synthetic drive
converted to a bag, tracked with ``run`` and scored with ``eval`` gives exactly the tracks and
metrics of the direct path (the core tracker on the same frames, the core metrics on the
generator's ground truth).
"""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.bags import START_TIME, cli, convert_synthetic, error_of, make_random_model

from centertrack_ros.bags.evaluation import align, load
from centertrack_ros.bags.io import BagReader, BagWriter
from centertrack_ros.bags.messages import (
    boxes_from_detections,
    decode_image,
    detection_array,
    image_message,
)
from centertrack_ros.bags.typestore import DETECTION_ARRAY, IMAGE, message_class, typestore
from centertrack_ros.core.config import RuntimeConfig, TrackerOverrides
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.tracks import Track
from centertrack_ros.datasets.mot import MotRow, read_mot
from centertrack_ros.datasets.synthetic import synthetic_gt_rows
from centertrack_ros.evaluation.metrics import evaluate
from centertrack_ros.synthetic import SceneConfig, generate_sequence

SEED = 5
FRAMES = 8
START_NS = START_TIME * 1_000_000_000


@pytest.fixture(scope='module')
def model(tmp_path_factory) -> Path:
    return make_random_model(tmp_path_factory.mktemp('model') / 'random.pth')


@pytest.fixture(scope='module')
def synthetic_bag(tmp_path_factory) -> Path:
    return convert_synthetic(tmp_path_factory.mktemp('bags') / 'synthetic', SEED, FRAMES)


@pytest.fixture(scope='module')
def tracked(tmp_path_factory, model, synthetic_bag):
    """``run`` over the synthetic bag: output bag (with the ground truth copied) and MOT file."""
    folder = tmp_path_factory.mktemp('tracked')
    tracks, mot = folder / 'tracks', folder / 'tracks.txt'
    assert cli('run', synthetic_bag, '-o', tracks, '--mot', mot, '--model', model,
               '--device', 'cpu', '--copy-topic', '/ground_truth', '-q') == 0
    return tracks, mot


@pytest.fixture(scope='module')
def direct(model):
    """Run the direct path: the core tracker on the frames, core metrics on the generator's GT."""
    sequence = generate_sequence(SceneConfig(seed=SEED, num_frames=FRAMES))
    tracker = load_tracker(ModelSpec(path=str(model)), runtime=RuntimeConfig(device='cpu'))
    rows = []
    for i in range(len(sequence)):
        for t in tracker.step(sequence.image(i)):
            if t.active > 0:  # what the node publishes: active tracks, their centre and size
                (cx, cy), w, h = t.center, t.width, t.height
                rows.append(MotRow(i + 1, t.track_id, cx - w / 2, cy - h / 2, w, h,
                                   float(t.score), t.class_id))
    gt = synthetic_gt_rows(sequence)
    return sequence, gt, rows, evaluate(gt, rows, num_frames=len(sequence))


def assert_rows_equal(actual, expected, tol=1e-6):
    def key(row):
        return row.frame, row.track_id

    actual, expected = sorted(actual, key=key), sorted(expected, key=key)
    assert [(r.frame, r.track_id, r.class_id) for r in actual] == \
        [(r.frame, r.track_id, r.class_id) for r in expected]
    for a, e in zip(actual, expected):
        assert (a.x, a.y, a.w, a.h, a.score) == pytest.approx((e.x, e.y, e.w, e.h, e.score),
                                                              abs=tol)


def assert_metrics_equal(actual: dict, expected: dict, rel=1e-9):
    assert set(expected) <= set(actual)
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, rel=rel, abs=1e-12), key
        else:
            assert actual[key] == value, key


# ------------------------------------------------------------------------------ round trip
def test_round_trip_equals_direct_path(tmp_path, capsys, synthetic_bag, tracked, direct):
    sequence, gt_rows, direct_rows, direct_metrics = direct
    assert direct_rows, 'the test model must produce tracks for this test to mean anything'
    tracks, mot = tracked

    # The bag's ground truth and tracks are the direct path's rows, frame for frame.
    aligned = align('syn', load(synthetic_bag, role='ground truth'), load(tracks))
    assert aligned.num_frames == FRAMES
    assert_rows_equal(aligned.gt, gt_rows)  # (visibility has no place in Detection2D)
    assert_rows_equal(aligned.tracks, direct_rows)

    # eval over the two bags reproduces the direct metrics.
    report = tmp_path / 'report.json'
    assert cli('eval', '--gt', synthetic_bag, '--tracks', tracks, '--name', 'syn',
               '--json', report) == 0
    table = capsys.readouterr().out
    assert 'syn' in table and 'OVERALL' in table and 'MOTA' in table and 'HOTA' in table
    data = json.loads(report.read_text())
    expected = direct_metrics.as_dict()
    assert_metrics_equal(data['sequences']['syn'], expected)
    assert data['sequences']['syn']['unmatched_track_stamps'] == 0
    assert_metrics_equal(data['overall'], expected)

    # The MOT text output holds the same tracks (3 decimals) and scores the same.
    assert_rows_equal(read_mot(mot), direct_rows, tol=1e-3)  # (written with 3 decimals)
    assert cli('eval', '--gt', synthetic_bag, '--tracks', mot, '--json', report) == 0
    from_text = json.loads(report.read_text())['overall']
    for key in ('num_gt', 'num_predictions', 'num_frames', 'num_gt_ids', 'num_hyp_ids'):
        assert from_text[key] == expected[key], key


def test_ground_truth_as_tracks_scores_perfectly(tmp_path, synthetic_bag, direct):
    """Frames, ids and classes line up: the ground truth evaluated against itself is perfect."""
    report = tmp_path / 'self.json'
    assert cli('eval', '--gt', synthetic_bag, '--tracks', synthetic_bag, '--tracks-topic',
               '/ground_truth', '--json', report) == 0
    metrics = json.loads(report.read_text())['overall']
    assert metrics['mota'] == 1.0 and metrics['idf1'] == 1.0
    assert metrics['id_switches'] == 0 and metrics['false_positives'] == 0
    assert metrics['num_gt'] == sum(r.consider for r in direct[1])


def test_sqlite3_storage_round_trip(tmp_path, model, direct):
    source, tracks = tmp_path / 'sqlite_in', tmp_path / 'sqlite_tracks'
    convert_synthetic(source, SEED, FRAMES, '--storage', 'sqlite3')
    assert list(source.glob('*.db3')) and not list(source.glob('*.mcap'))
    assert cli('run', source, '-o', tracks, '--model', model, '--device', 'cpu', '-q') == 0
    with BagReader(tracks) as bag:
        assert bag.storage == 'sqlite3'  # the input's storage by default
    aligned = align('sqlite', load(source, role='ground truth'), load(tracks))
    assert_rows_equal(aligned.tracks, direct[2])


def test_detections_have_the_image_headers(synthetic_bag, tracked):
    tracks, _ = tracked
    with BagReader(synthetic_bag) as bag:
        images = [(t, m.header) for _, t, m in bag.messages(['/camera/image_raw'])]
    with BagReader(tracks) as bag:
        assert set(bag.topics) == {'/detections', '/ground_truth'}
        detections = [(t, m.header) for _, t, m in bag.messages(['/detections'])]
    assert [t for t, _ in detections] == [t for t, _ in images]
    assert [(h.stamp.sec, h.stamp.nanosec, h.frame_id) for _, h in detections] == \
        [(h.stamp.sec, h.stamp.nanosec, h.frame_id) for _, h in images]
    assert images[1][1].stamp.nanosec == 100_000_000 and images[0][1].frame_id == 'camera'


def test_bag_detections_equal_the_node_messages():
    """Our rosbags-side Detection2DArray is field for field what the node publishes."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from centertrack_ros.ros.messages import detection_array as node_detection_array
    from centertrack_ros.runtime.boxes import detection_boxes

    # Values float32 cannot sum exactly, so any difference in how centres are formed shows.
    tracks = [
        Track(0.9137, 1, bbox=np.array([10.1, 20.3, 110.7, 90.9], np.float32), track_id=3),
        Track(0.4242, 2, bbox=np.array([-5.3, 7.7, 30.1, 200.3], np.float32), track_id=12),
        Track(0.55, 1, bbox=np.array([1.0, 2.0, 3.0, 4.0], np.float32), track_id=4, active=0),
    ]
    names = {1: 'car', 2: 'pedestrian'}.get
    header = Header(frame_id='cam_front')
    header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_789
    node_bytes = serialize_message(node_detection_array(detection_boxes(tracks, names), header))
    ours = detection_array(detection_boxes(tracks, names), 1_700_000_123_000_456_789,
                           'cam_front')
    # Compared after a rosbags round trip of the node's bytes: Fast CDR leaves alignment
    # padding uninitialised, so only the field bytes are comparable.
    store = typestore()
    node_msg = store.deserialize_cdr(node_bytes, DETECTION_ARRAY)
    assert bytes(store.serialize_cdr(ours, DETECTION_ARRAY)) == \
        bytes(store.serialize_cdr(node_msg, DETECTION_ARRAY))
    assert len(node_bytes) == len(store.serialize_cdr(ours, DETECTION_ARRAY))
    assert len(ours.detections) == 2  # the coasting track is not published


# ------------------------------------------------------------------------------ convert
def write_frames(folder: Path, count: int, size=(96, 64), suffix='.png', start=1) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    frames = []
    for k in range(count):
        image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f'{k + start:06d}{suffix}'), image)
        frames.append(cv2.imread(str(folder / f'{k + start:06d}{suffix}')))
    return frames


def read_images(bag_path: Path, topic='/camera/image_raw'):
    with BagReader(bag_path) as bag:
        msgtype = bag.topic(topic).msgtype
        return [(t, m.header, decode_image(m, msgtype)) for _, t, m in bag.messages([topic])]


def read_gt(bag_path: Path, topic='/ground_truth'):
    with BagReader(bag_path) as bag:
        return [(t, boxes_from_detections(m)) for _, t, m in bag.messages([topic])]


def test_convert_video(tmp_path):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 8, (96, 64))
    assert writer.isOpened()
    for k in range(6):
        writer.write(np.full((64, 96, 3), 30 * k, np.uint8))
    writer.release()
    capture = cv2.VideoCapture(str(video))
    expected = [capture.read()[1] for _ in range(6)]
    out = tmp_path / 'video_bag'
    assert cli('convert', video, '-o', out, '--start-time', '2024-05-01T12:00:00Z', '--topic',
               'cam/image', '--frame-id', 'front', '-q') == 0
    images = read_images(out, '/cam/image')
    assert len(images) == 6
    stamps = [t for t, _, _ in images]
    assert stamps[0] == 1_714_564_800 * 10**9
    assert np.diff(stamps).tolist() == [125_000_000] * 5
    assert all(h.frame_id == 'front' for _, h, _ in images)
    for (_, _, got), want in zip(images, expected):
        np.testing.assert_array_equal(got, want)
    with BagReader(out) as bag:
        assert set(bag.topics) == {'/cam/image'}  # a plain video has no ground truth


def test_convert_image_folder_needs_fps_and_takes_gt(tmp_path, capsys):
    frames = write_frames(tmp_path / 'images', 3)
    out = tmp_path / 'folder_bag'
    assert 'pass --fps' in error_of(capsys, 'convert', tmp_path / 'images', '-o', out)
    assert not out.exists()
    gt = tmp_path / 'gt.txt'
    gt.write_text('1,7,10,12,20,30,1,1,1\n3,7,12,12,20,30,0,1,0.2\n')
    assert cli('convert', tmp_path / 'images', '-o', out, '--fps', 4, '--gt', gt,
               '--class-names', 'person', '--compressed', 'png', '-q') == 0
    images = read_images(out, '/camera/image_raw/compressed')
    for (_, _, got), want in zip(images, frames):
        np.testing.assert_array_equal(got, want)  # png is lossless
    assert np.diff([t for t, _, _ in images]).tolist() == [250_000_000] * 2
    truth = read_gt(out)
    assert [len(b) for _, b in truth] == [1, 0, 1]
    first, third = truth[0][1][0], truth[2][1][0]
    assert (first.track_id, first.class_name, first.score) == (7, 'person', 1.0)
    assert (first.x1, first.y1, first.x2, first.y2) == (10, 12, 30, 42)
    assert third.score == 0.0  # the consider flag travels as the score


def test_convert_mot_sequence(tmp_path):
    seq = tmp_path / 'MOT17-02'
    write_frames(seq / 'img1', 4, suffix='.jpg')
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=MOT17-02\nimDir=img1\nframeRate=25\n'
                                     'seqLength=4\nimWidth=96\nimHeight=64\nimExt=.jpg\n')
    (seq / 'gt').mkdir()
    (seq / 'gt' / 'gt.txt').write_text('1,1,5,5,10,20,1,1,0.9\n2,1,6,5,10,20,1,1,0.8\n'
                                       '2,2,40,10,15,15,0,7,1\n4,3,50,20,10,10,1,1,1\n')
    out = tmp_path / 'mot_bag'
    assert cli('convert', seq, '-o', out, '--storage', 'sqlite3', '--compressed', '-q') == 0
    images = read_images(out, '/camera/image_raw/compressed')
    assert len(images) == 4 and np.diff([t for t, _, _ in images]).tolist() == [40_000_000] * 3
    truth = read_gt(out)
    assert [t for t, _ in truth] == [t for t, _, _ in images]
    assert [[(b.track_id, b.class_name, b.score) for b in boxes] for _, boxes in truth] == \
        [[(1, 'pedestrian', 1.0)], [(1, 'pedestrian', 1.0), (2, 'static_person', 0.0)], [],
         [(3, 'pedestrian', 1.0)]]
    # eval against the MOT folder itself reads gt/gt.txt: perfect for the bag's own truth.
    loaded = align('mot', load(seq, role='ground truth'), load(out, '/ground_truth'))
    assert len(loaded.gt) == len(loaded.tracks) == 4


def test_convert_kitti_sequence(tmp_path):
    root = tmp_path / 'kitti' / 'training'
    write_frames(root / 'image_02' / '0001', 3, start=0)
    (root / 'label_02').mkdir(parents=True)
    (root / 'label_02' / '0001.txt').write_text(
        '0 0 Car 0 0 -1.5 10 10 50 40 1.5 1.6 4.0 1 2 20 0.1\n'
        '0 -1 DontCare -1 -1 -10 60 5 90 30 -1 -1 -1 -1000 -1000 -1000 -10\n'
        '2 1 Pedestrian 0 0 0.2 20 20 30 60 1.7 0.6 0.8 -2 1.5 10 0.0\n')
    out = tmp_path / 'kitti_bag'
    assert cli('convert', root, '--sequence', '0001', '-o', out, '-q') == 0
    truth = read_gt(out)
    stamps = [t for t, _ in truth]
    assert len(truth) == 3 and np.diff(stamps).tolist() == [100_000_000] * 2
    frame0 = sorted((b.class_name, b.score) for b in truth[0][1])
    assert frame0 == [('', 0.0), ('Car', 1.0)]  # DontCare: ignored truth of any class
    assert [(b.class_name, b.track_id) for b in truth[2][1]] == [('Pedestrian', 1)]
    # The image folder path form finds the labels too.
    assert cli('convert', root / 'image_02' / '0001', '-o', tmp_path / 'kitti_bag2', '-q') == 0
    assert len(read_gt(tmp_path / 'kitti_bag2')) == 3


def test_convert_refuses_to_overwrite_and_jpeg_is_close(tmp_path, capsys):
    out = tmp_path / 'syn'
    assert cli('convert', '--synthetic', 2, '--frames', 2, '-o', out, '--compressed', '-q') == 0
    assert 'exists' in error_of(capsys, 'convert', '--synthetic', 2, '--frames', 2, '-o', out)
    assert cli('convert', '--synthetic', 2, '--frames', 3, '-o', out, '--compressed',
               '--overwrite', '-q') == 0
    sequence = generate_sequence(SceneConfig(seed=2, num_frames=3))
    images = read_images(out, '/camera/image_raw/compressed')
    assert len(images) == 3
    for k, (_, _, got) in enumerate(images):
        assert np.abs(got.astype(int) - sequence.image(k).astype(int)).mean() < 6.0
    (tmp_path / 'notes.txt').write_text('precious')
    assert 'not a rosbag2 bag' in error_of(capsys, 'convert', '--synthetic', 2, '--frames', 2,
                                           '-o', tmp_path, '--overwrite')
    assert (tmp_path / 'notes.txt').read_text() == 'precious'


# ------------------------------------------------------------------------------ reading
# As ``ros2 bag record`` (Kilted) writes it; the offered QoS equals the one the storage file's
# own channel records carry, as it does in a real recording.
ROS2_METADATA = """\
rosbag2_bagfile_information:
  version: 9
  storage_identifier: mcap
  duration:
    nanoseconds: {duration}
  starting_time:
    nanoseconds_since_epoch: {start}
  message_count: {count}
  topics_with_message_count:
    - topic_metadata:
        name: /camera/image_raw
        type: sensor_msgs/msg/Image
        serialization_format: cdr
        offered_qos_profiles:
          - history: keep_last
            depth: 10
            reliability: reliable
            durability: volatile
            deadline:
              sec: 0
              nsec: 0
            lifespan:
              sec: 0
              nsec: 0
            liveliness: automatic
            liveliness_lease_duration:
              sec: 0
              nsec: 0
            avoid_ros_namespace_conventions: false
        type_description_hash: {image_hash}
      message_count: {count}
  compression_format: ""
  compression_mode: ""
  relative_file_paths:
    - {name}_0.mcap
  files:
    - path: {name}_0.mcap
      starting_time:
        nanoseconds_since_epoch: {start}
      duration:
        nanoseconds: {duration}
      message_count: {count}
  custom_data: ~
  ros_distro: kilted
"""


def test_reads_a_bag_in_ros2_bag_record_layout(tmp_path, capsys, model):
    """A ``ros2 bag record`` style folder: <name>_0.mcap and its version-9 metadata.yaml."""
    made = tmp_path / 'made'
    convert_synthetic(made, 4, 3, '--no-gt')
    name = 'rosbag2_2024_05_01-12_00_00'
    bag = tmp_path / name
    bag.mkdir()
    (made / 'made.mcap').rename(bag / f'{name}_0.mcap')
    (bag / 'metadata.yaml').write_text(ROS2_METADATA.format(
        duration=200_000_000, start=START_NS, count=3, name=name,
        image_hash=typestore().hash_rihs01(IMAGE)))
    assert cli('info', bag) == 0
    out = capsys.readouterr().out
    assert '/camera/image_raw' in out and 'sensor_msgs/msg/Image' in out and '3 msgs' in out
    assert cli('run', bag, '--mot', tmp_path / 'tracks.txt', '--model', model, '--device', 'cpu',
               '-q') == 0
    assert 'tracked 3 frames' in capsys.readouterr().out


def test_reads_bare_storage_files_and_folders_without_metadata(tmp_path, capsys):
    made = tmp_path / 'made'
    assert cli('convert', '--synthetic', 4, '--frames', 2, '-o', made, '-q') == 0
    capsys.readouterr()
    assert cli('info', made / 'made.mcap', '--json') == 0
    info = json.loads(capsys.readouterr().out)
    assert {t['name']: t['count'] for t in info['topics']} == {'/camera/image_raw': 2,
                                                              '/ground_truth': 2}
    (made / 'metadata.yaml').unlink()  # as after a recorder was killed
    assert cli('info', made, '--json') == 0
    assert json.loads(capsys.readouterr().out)['messages'] == 4


# ------------------------------------------------------------------------------ errors
def test_clear_errors(tmp_path, capsys, model, synthetic_bag):
    assert error_of(capsys, 'info', tmp_path / 'nope') == \
        f'centertrack_bag info: error: bag not found: {tmp_path / "nope"}'
    message = error_of(capsys, 'run', synthetic_bag, '--image-topic', '/front/image', '--model',
                       model)
    assert 'topic /front/image not in bag' in message
    assert '/camera/image_raw (sensor_msgs/msg/Image)' in message
    message = error_of(capsys, 'eval', '--gt', synthetic_bag, '--tracks', synthetic_bag,
                       '--tracks-topic', '/detections')
    assert 'topic /detections not in bag' in message
    assert 'source not found' in error_of(capsys, 'convert', tmp_path / 'missing.mp4', '-o',
                                          tmp_path / 'x')
    bad_gt = tmp_path / 'bad.txt'
    bad_gt.write_text('1,2,3\n')
    assert f'{bad_gt}:1' in error_of(capsys, 'eval', '--gt', bad_gt, '--tracks', synthetic_bag,
                                     '--tracks-topic', '/ground_truth')
    assert 'pairs' in error_of(capsys, 'eval', '--gt', synthetic_bag, '--gt', synthetic_bag,
                               '--tracks', synthetic_bag)


def truncated_copy(bag: Path, folder: Path, size) -> Path:
    folder.mkdir()
    for f in bag.iterdir():
        data = f.read_bytes()
        (folder / f.name).write_bytes(data[:size(data)] if f.suffix == '.mcap' else data)
    return folder


def test_truncated_and_corrupt_bags(tmp_path, capsys, model, synthetic_bag):
    # Cut inside its header: nothing to read.
    truncated = truncated_copy(synthetic_bag, tmp_path / 'truncated', lambda data: 12)
    message = error_of(capsys, 'run', truncated, '-o', tmp_path / 'out', '--model', model)
    assert message.startswith(f'centertrack_bag run: error: cannot read bag {truncated}')
    assert 'truncated or corrupt' in message
    assert not (tmp_path / 'out').exists()
    # Cut in half: read up to its last complete record (as after a crash), with a warning.
    half = truncated_copy(synthetic_bag, tmp_path / 'half', lambda data: len(data) // 2)
    with BagReader(synthetic_bag) as whole, BagReader(half) as bag:
        assert 0 < bag.message_count < whole.message_count
        assert list(bag.raw_messages(['/camera/image_raw'])) == list(
            whole.raw_messages(['/camera/image_raw']))[:bag.topic('/camera/image_raw').count]

    broken = tmp_path / 'broken'
    assert cli('convert', '--synthetic', 1, '--frames', 2, '-o', broken, '--storage', 'sqlite3',
               '-q') == 0
    (broken / 'broken.db3').write_bytes(b'this is not a database' * 100)
    assert 'truncated or corrupt' in error_of(capsys, 'info', broken)

    empty = tmp_path / 'empty'
    empty.mkdir()
    assert 'not a rosbag2 bag' in error_of(capsys, 'info', empty)


def test_unknown_image_encoding(tmp_path, capsys, model):
    path = tmp_path / 'float_depth'
    with BagWriter(path) as writer:
        writer.add_topic('/depth', IMAGE)
        msg = image_message(np.zeros((4, 4, 3), np.uint8), START_NS, 'cam')
        msg = message_class(IMAGE)(header=msg.header, height=4, width=4, encoding='32FC1',
                                   is_bigendian=0, step=16, data=np.zeros(64, np.uint8))
        writer.write('/depth', START_NS, msg)
    message = error_of(capsys, 'run', path, '--mot', tmp_path / 'x.txt', '--model', model)
    assert "encoding '32FC1' is not supported" in message
    assert '/depth message 1' in message


# ------------------------------------------------------------------------------ eval, info
def test_eval_motchallenge_folders(tmp_path, capsys):
    gt_root, results = tmp_path / 'gt', tmp_path / 'results'
    rows = {'SEQ-A': '1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n',
            'SEQ-B': '1,5,50,50,20,20,1,1,1\n'}
    for name, text in rows.items():
        (gt_root / name / 'gt').mkdir(parents=True)
        (gt_root / name / 'gt' / 'gt.txt').write_text(text)
    results.mkdir()
    (results / 'SEQ-A.txt').write_text('1,3,0,0,10,10,0.9,-1,-1,-1\n2,4,1,0,10,10,0.9,-1,-1,-1\n')
    (results / 'SEQ-B.txt').write_text('')
    assert cli('eval', '--gt', gt_root, '--tracks', results, '--json', '-') == 0
    out = capsys.readouterr().out
    data = json.loads(out[out.index('{'):])
    assert list(data['sequences']) == ['SEQ-A', 'SEQ-B']
    a, b, overall = data['sequences']['SEQ-A'], data['sequences']['SEQ-B'], data['overall']
    assert (a['num_gt'], a['id_switches'], a['false_positives']) == (2, 1, 0)
    assert (b['num_gt'], b['misses'], b['mota']) == (1, 1, 0.0)
    assert overall['num_gt'] == 3 and math.isclose(overall['mota'], (3 - 1 - 1) / 3)
    (results / 'SEQ-B.txt').unlink()
    assert 'no tracks for SEQ-B' in error_of(capsys, 'eval', '--gt', gt_root, '--tracks',
                                             results)


def test_info(capsys, synthetic_bag):
    assert cli('info', synthetic_bag) == 0
    out = capsys.readouterr().out
    assert 'duration:  0.700 s' in out
    assert '/camera/image_raw' in out and '8 msgs' in out and '~10.00 Hz' in out
    assert 'centertrack_ros.class_names = car,pedestrian' in out
    assert '2023-11-14T22:13:20.000+00:00' in out


def test_run_with_the_node_parameters_file(tmp_path, capsys, model):
    bag = tmp_path / 'short'
    assert cli('convert', '--synthetic', 3, '--frames', 2, '-o', bag, '-q') == 0
    params = tmp_path / 'params.yaml'
    params.write_text(f'centertrack:\n  ros__parameters:\n    model:\n      path: {model}\n'
                      '    device: cpu\n    tracker:\n      track_thresh: 0.99\n')
    assert cli('run', bag, '--params-file', params, '--mot', tmp_path / 'none.txt',
               '-q') == 0
    assert '0 detections' in capsys.readouterr().out  # nothing scores 0.99
    assert cli('run', bag, '--params-file', params, '--track-thresh', 0.3, '--frames', 1,
               '--mot', tmp_path / 'some.txt', '-q') == 0
    assert 'tracked 1 frames' in capsys.readouterr().out
    assert {r.frame for r in read_mot(tmp_path / 'some.txt')} == {1}
    params.write_text('centertrack:\n  ros__parameters:\n    tracker:\n      track_tresh: 0.5\n')
    assert 'tracker.track_tresh is not a parameter' in error_of(
        capsys, 'run', bag, '--params-file', params, '--model', model)


def test_run_with_byte_association_equals_the_core(tmp_path, capsys, model, synthetic_bag):
    """BYTE from the node's parameters file, the low threshold from the command line."""
    params = tmp_path / 'byte.yaml'
    params.write_text('/**:\n  ros__parameters:\n    tracker:\n      association: byte\n'
                      '      motion: velocity\n      max_age: 5\n')
    mot = tmp_path / 'byte.txt'
    assert cli('run', synthetic_bag, '--params-file', params, '--low-thresh', 0.05,
               '--model', model, '--device', 'cpu', '--mot', mot, '-q') == 0
    overrides = TrackerOverrides(association='byte', motion='velocity', max_age=5,
                                 low_thresh=0.05, hungarian=False)
    tracker = load_tracker(ModelSpec(path=str(model)), overrides, RuntimeConfig(device='cpu'))
    sequence = generate_sequence(SceneConfig(seed=SEED, num_frames=FRAMES))
    rows, low = [], 0
    for i in range(len(sequence)):
        for t in tracker.step(sequence.image(i)):
            if t.active > 0:
                rows.append(MotRow(i + 1, t.track_id, float(t.bbox[0]), float(t.bbox[1]),
                                   t.width, t.height, float(t.score), t.class_id))
                low += t.score <= tracker.config.tracker.effective_out_thresh
    assert low > 0, 'BYTE must have continued a track with a low-scoring detection here'
    assert_rows_equal(read_mot(mot), rows, tol=1e-3)
    params.write_text('/**:\n  ros__parameters:\n    tracker:\n      association: fast\n')
    assert 'invalid parameter: tracker.association must be one of' in error_of(
        capsys, 'run', synthetic_bag, '--model', model, '--params-file', params)


def test_terminated_run_leaves_a_valid_shorter_bag(tmp_path, run_python, model):
    source = tmp_path / 'long'
    assert cli('convert', '--synthetic', 6, '--frames', 40, '-o', source, '-q') == 0
    out = tmp_path / 'partial'
    run = run_python(module='centertrack_ros.tools.bag', args=[
        'run', source, '-o', out, '--model', model, '--device', 'cpu'])
    run.wait_for(r' [2-9]/40 ', timeout=120)  # the progress bar: a few frames done
    run.send_signal(signal.SIGTERM)
    assert run.wait(60) == 130
    assert 'centertrack_bag run: interrupted' in run.output()
    with BagReader(out) as bag:  # closed properly, metadata.yaml included
        assert 2 <= bag.topics['/detections'].count < 40
