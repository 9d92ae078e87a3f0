"""The node with BYTE and the motion model, over DDS: set at start-up and changed at runtime.

The bundled model tracks a held-out synthetic drive. The node must publish, frame by frame, what
the core tracker gives with the same settings -- including the tracks BYTE continued with a
detection below ``track_thresh``, which the original association never publishes -- and switch
association between two frames when ``tracker.association`` is set, refusing invalid values
with the reason.
"""

from __future__ import annotations

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from support.node_harness import (
    LATCHED,
    Camera,
    NodeUnderTest,
    RosClient,
    assert_change_refused,
    assert_rows_equal,
    detection_rows,
    get_param,
    node_running,
    set_params,
    track_rows,
)
from vision_msgs.msg import LabelInfo

from centertrack_ros.core.config import RuntimeConfig, TrackerOverrides
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.evaluation.synthetic import heldout_sequences
from centertrack_ros.synthetic import SceneConfig

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/test_byte'
SEED, FRAMES = 4, 24  # a drive where BYTE continues a few tracks with low-scoring detections
BYTE = TrackerOverrides(association='byte', motion='velocity')


@pytest.fixture(scope='module')
def frames():
    sequence = heldout_sequences([SEED], SceneConfig(num_frames=FRAMES))[0]
    return [sequence.image(i) for i in range(FRAMES)]


@pytest.fixture(scope='module')
def client(ros_client):
    return ros_client


@pytest.fixture(scope='module')
def node(client):
    with node_running(NodeUnderTest(NAMESPACE, {
        'device': 'cpu', 'qos.reliability': 'reliable', 'qos.depth': 10,
        'tracker.association': 'byte', 'tracker.motion': 'velocity',
    }), client) as proc:
        yield proc


@pytest.fixture(scope='module')
def core():
    return load_tracker(ModelSpec(), BYTE, RuntimeConfig(device='cpu'))


@pytest.fixture
def camera(client, node):
    cam = Camera(client, node)
    yield cam
    cam.close()


def follow(camera: Camera, core, frames, where: str) -> int:
    """Send ``frames`` and compare each result with the core's.

    Returns how many published tracks scored at or below ``track_thresh``.
    """
    low = 0
    for index, frame in enumerate(frames):
        got = detection_rows(camera.track(frame))
        tracks = core.step(frame)
        assert_rows_equal(got, track_rows(tracks, core.config.model.class_name),
                          f'{where}, frame {index}')
        low += sum(1 for t in tracks
                   if t.active and t.score <= core.config.tracker.effective_out_thresh)
    return low


def test_byte_set_at_start_up_is_what_the_node_publishes(camera, core, frames):
    assert core.config.tracker.byte
    camera.reset()
    core.reset()
    core.continue_ids_after(camera.seen_ids())
    low = follow(camera, core, frames, 'byte')
    assert low >= 1, 'BYTE published tracks continued by low-scoring detections'


def test_label_info_gives_the_lowest_score_published(client, node, core):
    labels = client.subscribe(LabelInfo, node.name('label_info'), LATCHED)
    try:
        msg = labels.wait_for(lambda m: True, what='label_info')
        assert msg.threshold == pytest.approx(core.config.tracker.low_thresh)
        assert core.config.tracker.low_thresh < core.config.tracker.track_thresh
    finally:
        client.unsubscribe(labels)


def announced(labels, expected: float, start: int) -> None:
    """Wait for a label_info from message ``start`` on that gives ``expected``."""
    labels.wait_for(lambda m: abs(m.threshold - expected) < 1e-6, start=start,
                    what=f'label_info with threshold {expected}')


def test_association_changes_between_frames(client, node, camera, core, frames):
    labels = client.subscribe(LabelInfo, node.name('label_info'), LATCHED)
    camera.reset()
    core.reset()
    core.continue_ids_after(camera.seen_ids())
    follow(camera, core, frames[:8], 'byte')
    announced(labels, core.config.tracker.low_thresh, start=0)
    start = labels.count()
    results = set_params(client, node, tracker__association='greedy')
    assert results[0].successful, results[0].reason
    try:
        core.apply_overrides(TrackerOverrides(association='greedy', motion='velocity'))
        # Nothing below the output threshold is published any more, and label_info says so.
        greedy = core.config.tracker.effective_low_thresh
        assert greedy == core.config.tracker.effective_out_thresh
        announced(labels, greedy, start)
        assert follow(camera, core, frames[8:16], 'greedy') == 0, \
            'the original association publishes nothing below track_thresh'
    finally:
        start = labels.count()
        assert set_params(client, node, tracker__association='byte')[0].successful
        core.apply_overrides(BYTE)
    try:
        announced(labels, core.config.tracker.low_thresh, start)
    finally:
        client.unsubscribe(labels)
    follow(camera, core, frames[16:], 'byte again')
    assert get_param(client, node, 'tracker.association').string_value == 'byte'


def change_state(client: RosClient, node: NodeUnderTest, transition: int) -> None:
    request = ChangeState.Request()
    request.transition.id = transition
    assert client.call(ChangeState, node.name('~/change_state'), request).success


def test_label_info_after_activate_gives_settings_changed_while_inactive(client, node, core):
    labels = client.subscribe(LabelInfo, node.name('label_info'), LATCHED)
    try:
        change_state(client, node, Transition.TRANSITION_DEACTIVATE)
        try:
            assert set_params(client, node, tracker__association='greedy')[0].successful
            start = labels.count()
            change_state(client, node, Transition.TRANSITION_ACTIVATE)
            # No frame has run with greedy yet; label_info still announces its threshold.
            announced(labels, core.config.tracker.effective_out_thresh, start)
        finally:
            start = labels.count()
            assert set_params(client, node, tracker__association='byte')[0].successful
        announced(labels, core.config.tracker.low_thresh, start)
    finally:
        client.unsubscribe(labels)


@pytest.mark.parametrize(('name', 'value', 'reason'), [
    ('tracker.association', 'bytetrack',
     "tracker.association must be one of '' (the model's value), greedy, hungarian, byte"),
    ('tracker.motion', 'kalman', 'tracker.motion must be one of'),
    ('tracker.low_thresh', -0.5, 'must be in [0, 1] or -1'),
    ('tracker.association', 3, 'tracker.association must be a string; got 3 (integer)'),
])
def test_invalid_association_settings_are_refused(client, node, camera, frames, name, value,
                                                  reason):
    assert_change_refused(client, node, name, value, reason)
    assert camera.track(frames[0]).header.frame_id == 'camera', 'and the node still tracks'
