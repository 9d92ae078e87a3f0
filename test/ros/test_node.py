"""The centertrack node as users run it: a separate process talking DDS with this one.

One node process serves the whole module (starting torch costs seconds on CI). It runs the
"sensitive" checkpoint (see ``node_harness.make_sensitive_checkpoint``): every frame yields
100 detections whose selection depends on the faintest pixel differences. A frame with no
previous state makes all 100 of them births, and the node never reuses an id (unlike the
original, whose ids restart at 1): its ids are exactly the 100 integers above every id
published before. A continuing frame keeps some earlier ids. That makes resets observable in
the published ids, besides the diagnostics' reset counters.
"""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from support.node_harness import (
    LATCHED,
    REPO,
    SENSITIVE_CLASSES,
    Camera,
    NodeUnderTest,
    assert_change_refused,
    assert_published,
    diagnostics_values,
    get_param,
    node_running,
    set_params,
)
from vision_msgs.msg import LabelInfo

from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.harness import TIMEOUT, image_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/test_cam'


@pytest.fixture(scope='module')
def node(sensitive_checkpoint, ros_client):
    with node_running(NodeUnderTest(NAMESPACE, {
        'model.path': str(sensitive_checkpoint),
        'device': 'cpu',
        'qos.reliability': 'reliable',
        'qos.depth': 10,
    }, params_file=REPO / 'config' / 'centertrack.yaml'), ros_client) as proc:
        yield proc


@pytest.fixture
def camera(ros_client, node):
    cam = Camera(ros_client, node)
    yield cam
    cam.close()


@pytest.fixture(scope='module')
def diagnostics(ros_client, node):
    return ros_client.subscribe(DiagnosticArray, '/diagnostics')


def next_diagnostics(diagnostics, predicate=lambda values: True) -> dict[str, str]:
    """Return the node's values from the next report (from now on) satisfying ``predicate``."""
    found = {}

    def matches(msg) -> bool:
        values = diagnostics_values(msg, f'{NAMESPACE}/centertrack')
        if values is not None and predicate(values):
            found.update(values)
            return True
        return False

    diagnostics.wait_for(matches, start=diagnostics.count(), what='a diagnostics report')
    return found


def test_output_equals_the_core_frame_by_frame(camera, sensitive_tracker, camera_frames):
    core = sensitive_tracker
    camera.reset()
    core.continue_ids_after(camera.seen_ids())  # the node's ids continue across resets
    round_trips = []
    for index, frame in enumerate(camera_frames):
        stamp = camera.next_stamp()
        sent = time.monotonic()
        msg = camera.track(frame, stamp=stamp, frame_id='front_camera_optical')
        round_trips.append(time.monotonic() - sent)
        assert len(msg.detections) == 100
        assert_published(msg, core.step(frame), core.config.model.class_name, f'frame {index}')
        # The header is the input's, on the array and on every detection.
        assert stamp_ns(msg.header.stamp) == stamp
        assert msg.header.frame_id == 'front_camera_optical'
        assert all(stamp_ns(d.header.stamp) == stamp and d.header.frame_id == 'front_camera_optical'
                   for d in msg.detections)
    assert {d.results[0].hypothesis.class_id for d in msg.detections} <= set(SENSITIVE_CLASSES)
    print(f'publish -> detections round trip, 768x576 bgr8 frames, 224x128 model: median '
          f'{np.median(round_trips) * 1e3:.0f} ms, max {max(round_trips) * 1e3:.0f} ms')


def resets(diagnostics, kind: str, at_least: int = 0) -> int:
    """Return the node's count of resets of ``kind`` from a report where it is >= at_least."""
    values = next_diagnostics(diagnostics, lambda v: int(v.get(f'resets.{kind}', 0)) >= at_least)
    return int(values.get(f'resets.{kind}', 0))


def test_reset_service_forgets_the_tracks_and_never_reuses_an_id(camera, camera_frames,
                                                                 diagnostics):
    before = resets(diagnostics, 'service')
    camera.ids(camera_frames[0])
    assert not camera.new_sequence(camera_frames[1])
    camera.reset()
    assert camera.new_sequence(camera_frames[2]), 'all births, numbered above every earlier id'
    assert not camera.new_sequence(camera_frames[3])
    assert resets(diagnostics, 'service', before + 1) == before + 1


def test_stamp_going_back_resets(camera, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    assert not camera.new_sequence(camera_frames[1])
    assert camera.new_sequence(camera_frames[2], stamp=camera.stamp - 5_000_000_000)
    values = next_diagnostics(diagnostics, lambda v: int(v.get('resets.time_jump', 0)) >= 1)
    assert int(values['resets']) >= int(values['resets.time_jump'])
    assert 'tracks reset: stamp jumped back by 5.000 s' in camera.node.output()
    assert not camera.new_sequence(camera_frames[3]), 'and continues from the frame after the jump'


def test_frame_gap_resets_only_when_enabled(ros_client, node, camera, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    assert not camera.new_sequence(camera_frames[1], stamp=camera.next_stamp(100_000_000_000)), \
        'max_frame_gap 0 means a long gap continues'
    before = resets(diagnostics, 'frame_gap')
    results = set_params(ros_client, node, max_frame_gap=2.5)
    assert results[0].successful, results[0].reason
    try:
        assert not camera.new_sequence(camera_frames[2], stamp=camera.next_stamp(2_000_000_000))
        assert camera.new_sequence(camera_frames[3], stamp=camera.next_stamp(3_000_000_000))
    finally:
        assert set_params(ros_client, node, max_frame_gap=0.0)[0].successful
    assert re.search(r'tracks reset: gap of 3\.000 s between frames exceeds max_frame_gap 2\.5 s',
                     node.output())
    assert resets(diagnostics, 'frame_gap', before + 1) == before + 1


def test_image_size_or_encoding_change_resets(camera, camera_frames, diagnostics):
    before = resets(diagnostics, 'format_change')
    camera.ids(camera_frames[0])
    assert not camera.new_sequence(camera_frames[1])
    # Identical pixels, but announced as another encoding: treated as another stream.
    assert camera.new_sequence(camera_frames[2], encoding='rgb8')
    assert not camera.new_sequence(camera_frames[3], encoding='rgb8')
    small = cv2.resize(camera_frames[4], (384, 288))
    assert camera.new_sequence(small, encoding='rgb8')
    assert camera.new_sequence(camera_frames[5])
    assert resets(diagnostics, 'format_change', before + 3) == before + 3


def test_tracker_thresholds_change_at_runtime(ros_client, node, camera, camera_frames):
    camera.ids(camera_frames[0])
    results = set_params(ros_client, node, tracker__track_thresh=0.9)
    assert results[0].successful, results[0].reason
    try:
        empty = camera.track(camera_frames[1])
        assert len(empty.detections) == 0, 'nothing scores 0.9: an empty array is published'
    finally:
        assert set_params(ros_client, node, tracker__track_thresh=-1.0)[0].successful
    highest = camera.seen_ids()
    ids = camera.ids(camera_frames[2])
    assert len(ids) == 100 and min(ids) > highest, 'new tracks, and the id counter was kept'
    assert get_param(ros_client, node, 'tracker.track_thresh').double_value == -1.0


@pytest.mark.parametrize(('name', 'value', 'reason'), [
    ('tracker.track_thresh', -0.5, 'must be in [0, 1] or -1'),
    ('tracker.new_thresh', 1.5, 'tracker.new_thresh'),  # outside the declared range
    ('tracker.max_age', -3, 'tracker.max_age'),
    ('device', 'gpu', "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ('qos.reliability', 'sometimes', 'must be one of auto, best_effort, reliable'),
    ('model.arch', 'resnet', 'model.arch must be one of'),
    ('model.preset', 'mot42', 'model.preset must be one of'),
    ('model.input_width', 100, 'model.input_width'),
    ('model.mean', (0.1, 0.2), 'needs exactly 3 values'),
    ('model.ltrb_amodal', 'maybe', 'must be true, false or auto'),
    ('autostart', False, 'read-only'),
    ('tracker.track_thresh', 'high', "tracker.track_thresh must be a number; got 'high'"),
    ('tracker.max_age', 2.5, 'tracker.max_age must be an integer; got 2.5'),
])
def test_invalid_parameter_changes_are_rejected_with_a_reason(ros_client, node, name, value,
                                                              reason):
    assert_change_refused(ros_client, node, name, value, reason)


def test_parameter_errors_read_as_sentences(ros_client, node):
    # rclpy's own texts were "device device must be ...", "expected '2' got '4'" and
    # "Invalid access to undeclared parameter(s): []".
    device = set_params(ros_client, node, device='gpu')[0]
    assert device.reason.startswith("device must be 'auto'"), device.reason
    unknown = set_params(ros_client, node, tracker__track_threshold=0.5)[0]
    assert not unknown.successful
    assert 'tracker.track_threshold (not a parameter of this node' in unknown.reason, \
        unknown.reason


def test_an_integer_is_taken_for_a_number_parameter(ros_client, node):
    assert set_params(ros_client, node, max_frame_gap=2)[0].successful
    try:
        assert get_param(ros_client, node, 'max_frame_gap').double_value == 2.0
    finally:
        assert set_params(ros_client, node, max_frame_gap=0.0)[0].successful


def test_configure_time_parameters_are_accepted_and_deferred(ros_client, node, camera,
                                                             camera_frames):
    assert set_params(ros_client, node, model__ltrb_amodal=True)[0].successful  # bool or string
    assert set_params(ros_client, node, model__ltrb_amodal='auto')[0].successful
    assert set_params(ros_client, node, model__input_width=320)[0].successful
    try:
        assert len(camera.ids(camera_frames[0])) == 100, 'the running model is unchanged'
        assert 'model.input_width changed; takes effect on the next configure' in node.output()
    finally:
        assert set_params(ros_client, node, model__input_width=0)[0].successful


BAD_INPUTS = [
    # (reason key, message fields, words the log must contain)
    ('bad_data_length', {'data_len': 100}, 'data has 100 bytes but step x height'),
    ('unknown_encoding', {'encoding': 'float_garbage'}, "encoding 'float_garbage' is not"),
    ('bad_size', {'width': 0, 'height': 0, 'step': 0, 'data_len': 0}, 'image is 0x0'),
    ('bad_data_length', {'width': 10_000, 'height': 10_000, 'step': 30_000, 'data_len': 7},
     'data has 7 bytes but step x height = 30000 x 10000'),
    ('bad_step', {'step': 11}, 'step 11 is shorter than a row'),
]


def test_bad_inputs_are_rejected_counted_and_logged(camera, node, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    counts = {}
    for reason, fields, words in BAD_INPUTS:
        msg = image_msg(camera_frames[1], camera.next_stamp())
        fields = dict(fields)
        data_len = fields.pop('data_len', None)
        for key, value in fields.items():
            setattr(msg, key, value)
        if data_len is not None:
            msg.data = msg.data[:data_len]
        camera.send(msg)
        # Wait until the node has taken this message, so that the next one cannot replace it
        # in the latest-frame slot: a reason's first rejection is logged at once, repeats
        # within 5 s are throttled and only show in the diagnostics.
        counts[reason] = counts.get(reason, 0) + 1
        if counts[reason] == 1:
            node.process.wait_for(re.escape(words), timeout=TIMEOUT)
        else:
            next_diagnostics(diagnostics, lambda v, r=reason, n=counts[reason]:
                             int(v.get(f'rejected.{r}', 0)) >= n)
        assert len(camera.ids(camera_frames[2])) == 100, f'good frames keep working after {reason}'
    values = next_diagnostics(diagnostics, lambda v: int(v.get('rejected.bad_step', 0)) >= 1)
    assert int(values['rejected.bad_data_length']) >= 2
    for reason in ('unknown_encoding', 'bad_size', 'bad_step'):
        assert int(values[f'rejected.{reason}']) >= 1
    assert int(values['frames_rejected']) >= 5
    assert re.search(r'\[WARN\].*rejected frame \(stamp \d+\.\d{9}, frame_id \'camera\'\)',
                     node.output())
    assert node.process.poll() is None


def test_debug_image_only_rendered_while_subscribed(ros_client, camera, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    assert next_diagnostics(diagnostics)['debug_images'] == '0'
    debug = ros_client.subscribe(Image, camera.node.name('~/debug_image'))
    try:
        ros_client.wait_until(lambda: debug.subscription.get_publisher_count() > 0,
                              'debug image publisher matched')
        deadline = time.monotonic() + TIMEOUT
        while not debug.messages:  # the node may see the new subscriber a little later
            assert time.monotonic() < deadline, 'no debug image'
            stamp = camera.frame(camera_frames[1])
            camera.result(stamp)
            time.sleep(0.05)
        image = debug.wait_for(lambda m: True)
        assert (image.encoding, image.width, image.height) == ('bgr8', 768, 576)
        pixels = np.frombuffer(image.data, np.uint8).reshape(576, 768, 3)
        assert (pixels != camera_frames[1]).any(), 'boxes and labels are drawn'
    finally:
        ros_client.unsubscribe(debug)


def test_label_info_is_latched(ros_client, node):
    labels = ros_client.subscribe(LabelInfo, node.name('label_info'), LATCHED)
    try:
        msg = labels.wait_for(lambda m: True, what='label_info')
        assert [(c.class_id, c.class_name) for c in msg.class_map] == [(1, 'car'),
                                                                       (2, 'pedestrian')]
        assert msg.threshold == pytest.approx(0.4)
    finally:
        ros_client.unsubscribe(labels)


def test_latest_frame_wins_and_drops_are_counted(camera, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    stamps = [camera.frame(camera_frames[i % len(camera_frames)]) for i in range(30)]
    camera.result(stamps[-1])  # the newest frame is always processed
    seen = [stamp_ns(m.header.stamp) for m in camera.detections.messages
            if stamp_ns(m.header.stamp) in stamps]
    assert seen == sorted(seen) and len(seen) < len(stamps)
    # Every frame the node received is accounted for once it is idle again (DDS itself may
    # also discard some of a burst: the publisher keeps only its last 10 samples).
    def accounted(values: dict) -> bool:
        return int(values['frames_dropped']) > 0 and int(values['frames_received']) == (
            int(values['frames_processed']) + int(values['frames_dropped']) +
            int(values['frames_rejected']))

    next_diagnostics(diagnostics, accounted)


def test_diagnostics_describe_the_node(sensitive_checkpoint, camera, camera_frames, diagnostics):
    camera.ids(camera_frames[0])
    values = next_diagnostics(diagnostics, lambda v: 'latency_p50_ms' in v)
    assert values['lifecycle_state'] == 'active'
    assert values['device'].startswith('cpu')
    assert values['model_path'] == str(sensitive_checkpoint)
    assert values['model_arch'] == 'generic'
    assert values['classes'] == 'car, pedestrian'
    assert values['input_size'] == '224x128'
    for key in ('input_rate_hz', 'output_rate_hz', 'frames_dropped', 'resets',
                'latency_p90_ms', 'latency_p99_ms', 'processing_p50_ms', 'processing_p99_ms'):
        assert key in values
    assert 0 < float(values['processing_p50_ms']) <= float(values['processing_p99_ms'])
