"""Faults around a live node over DDS.

Bad checkpoints, no CUDA, failing frames, racing parameter updates and signals during
inference. The node always runs as its own process. Failing and slow frames come from a test-only
wrapper script (written here, never installed) that replaces ``MultiCameraTracker.step`` with a
version raising ``torch.cuda.OutOfMemoryError`` (or ``RuntimeError``) or sleeping on frames
that carry a marker pixel, then calls the node's real ``main()``; production code has no
fault-injection hook.
"""

from __future__ import annotations

import copy
import math
import os
import re
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from sensor_msgs.msg import Image
from support.node_harness import (
    RELIABLE,
    NodeUnderTest,
    assert_published,
    assert_rows_equal,
    detection_rows,
    diagnostics_values,
    track_rows,
)
from vision_msgs.msg import Detection2DArray

from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.harness import TIMEOUT, RosClient, image_msg, wait_active

pytestmark = [pytest.mark.ros, pytest.mark.slow]

STEP = 100_000_000
OOM_MARK, FAIL_MARK, SLOW_MARK = (255, 0, 255), (0, 255, 255), (255, 255, 0)
SLOW_SECONDS = 3.0
EXIT_WITHIN = 10.0  # seconds from the signal to the process's exit

FAULTY_NODE = f'''#!{sys.executable}
"""centertrack_node with the tracker failing or slow on marked frames (tests only)."""
import sys
import time

import torch

from centertrack_ros.core import pipeline
from centertrack_ros.ros.node import main

real_step = pipeline.MultiCameraTracker.step


def step(self, images, *args, **kwargs):
    for image in images.values():
        marker = tuple(int(v) for v in image[0, 0])
        if marker == {OOM_MARK!r}:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB '
                                              '(injected by the test)')
        if marker == {FAIL_MARK!r}:
            raise RuntimeError('injected failure')
        if marker == {SLOW_MARK!r}:
            print('slow frame: inference started', flush=True)
            time.sleep({SLOW_SECONDS!r})
    return real_step(self, images, *args, **kwargs)


pipeline.MultiCameraTracker.step = step
sys.exit(main())
'''


def faulty_node(script: Path, namespace: str, params: dict) -> NodeUnderTest:
    """Start the node through the fault-injecting wrapper script."""
    return NodeUnderTest(namespace, params, command=[str(script)])


@pytest.fixture(scope='module')
def wrapper(tmp_path_factory):
    path = tmp_path_factory.mktemp('faults') / 'faulty_centertrack_node'
    path.write_text(FAULTY_NODE)
    path.chmod(0o755)
    return path


@pytest.fixture(scope='module')
def frames(camera_frames):
    return [frame[::2, ::2].copy() for frame in camera_frames]


def marked(image: np.ndarray, mark: tuple[int, int, int]) -> np.ndarray:
    """Return a copy of ``image`` whose top-left pixel is ``mark``."""
    out = image.copy()
    out[0, 0] = mark
    return out


def param(name: str, value) -> Parameter:
    """Build an rcl_interfaces Parameter of the value's type."""
    if isinstance(value, bool):
        v = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    elif isinstance(value, int):
        v = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    elif isinstance(value, float):
        v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return Parameter(name=name, value=v)


def set_param(client: RosClient, node: NodeUnderTest, name: str, value):
    """Set one parameter; return its SetParametersResult."""
    request = SetParameters.Request(parameters=[param(name, value)])
    return client.call(SetParameters, node.name('~/set_parameters'), request).results[0]


def transition(client: RosClient, node: NodeUnderTest, transition_id: int) -> bool:
    """Request a lifecycle transition; True when it succeeded."""
    request = ChangeState.Request()
    request.transition.id = transition_id
    return client.call(ChangeState, node.name('~/change_state'), request).success


def state(client: RosClient, node: NodeUnderTest) -> str:
    """Return the node's lifecycle state label."""
    return client.call(GetState, node.name('~/get_state'),
                       GetState.Request()).current_state.label


def report(diagnostics, node: NodeUnderTest, predicate=lambda v: True) -> dict[str, str]:
    """Return the node's next diagnostics values (from now on) satisfying ``predicate``."""
    name = f'{node.namespace}/centertrack'
    msg = diagnostics.wait_for(lambda m: diagnostics_values(m, name) is not None and
                               predicate(diagnostics_values(m, name)),
                               start=diagnostics.count(), what='a diagnostics report')
    return diagnostics_values(msg, name)


class Feed:
    """Publishes frames to a node and waits for their detections."""

    def __init__(self, client: RosClient, node: NodeUnderTest) -> None:
        self.publisher = client.node.create_publisher(Image, node.name('image'), RELIABLE)
        self.detections = client.subscribe(Detection2DArray, node.name('detections'))
        client.wait_matched(self.publisher, self.detections)
        self.stamp = 1_000 * 1_000_000_000

    def send(self, image: np.ndarray) -> int:
        """Publish a frame with the next stamp; return the stamp."""
        self.stamp += STEP
        self.publisher.publish(image_msg(image, self.stamp))
        return self.stamp

    def track(self, image: np.ndarray) -> Detection2DArray:
        """Publish a frame and wait for its detections."""
        stamp = self.send(image)
        return self.detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp,
                                        what=f'detections for stamp {stamp}')


# ----------------------------------------------------------------------------- configure
def configure_error(node: NodeUnderTest, count: int) -> str:
    """Wait for the node's ``count``-th 'configure failed' log line and return it."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        lines = [line for line in node.output().splitlines() if 'configure failed: ' in line]
        if len(lines) >= count:
            return lines[count - 1]
        assert time.monotonic() < deadline, f'no configure error #{count}:\n{node.output()}'
        time.sleep(0.05)


def write_bad_checkpoints(directory: Path, good: Path) -> dict[str, Path]:
    """Write damaged checkpoints next to a good one; return them by kind."""
    state = torch.load(good, map_location='cpu', weights_only=True)
    corrupt = directory / 'corrupt.pth'
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    truncated = directory / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    not_a_model = directory / 'list.pth'
    torch.save([1, 2, 3], not_a_model)
    nan = directory / 'nan.pth'
    poisoned = dict(state)
    poisoned['state_dict'] = dict(state['state_dict'])
    name = next(n for n, t in poisoned['state_dict'].items() if t.is_floating_point()
                and t.dim() == 4)
    weights = poisoned['state_dict'][name].clone()
    weights.view(-1)[0] = float('nan')
    poisoned['state_dict'][name] = weights
    torch.save(poisoned, nan)
    return {'missing': directory / 'absent.pth', 'corrupt': corrupt, 'truncated': truncated,
            'not_a_model': not_a_model, 'nan': nan}


def test_bad_checkpoints_and_devices_fail_configure_and_the_node_recovers(
        tmp_path, sensitive_checkpoint, ros_client, frames):
    bad = write_bad_checkpoints(tmp_path, sensitive_checkpoint)
    node = NodeUnderTest('/test_faults_configure', {'autostart': False, 'device': 'auto',
                                                    'model.path': str(bad['missing']),
                                                    'qos.reliability': 'reliable'})
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    try:
        ros_client.wait_until(lambda: node.process.poll() is None and
                              ros_client.node.count_publishers('/diagnostics') > 0, 'node up')
        expected = [
            ('missing', {}, f'checkpoint not found: {bad["missing"]}'),
            ('corrupt', {}, f'{bad["corrupt"]} is not a PyTorch checkpoint (unrecognised'),
            ('truncated', {}, f'cannot read checkpoint {bad["truncated"]}'),
            ('not_a_model', {}, 'list.pth holds a list, not a state dict'),
            ('nan', {}, 'nan.pth holds NaN or infinite values'),
            (None, {'model.arch': 'dla_34'}, 'does not fit the configured network (arch=dla_34'),
            (None, {'model.arch': '', 'model.num_classes': 3},
             'mis-shaped (file vs model): hm.2.bias (2,) vs (3,)'),
        ]
        if not torch.cuda.is_available():
            expected.append((None, {'model.num_classes': 0, 'device': 'cuda'},
                             "device 'cuda' requested but CUDA is not available"))
        failures = 0
        for kind, extra, words in expected:
            path = str(bad[kind]) if kind else str(sensitive_checkpoint)
            for name, value in {'model.path': path, **extra}.items():
                result = set_param(ros_client, node, name, value)
                assert result.successful, result.reason
            failures += 1
            assert not transition(ros_client, node, Transition.TRANSITION_CONFIGURE), kind
            assert state(ros_client, node) == 'unconfigured', 'the node stays up, unconfigured'
            assert words in configure_error(node, failures), kind
            values = report(diagnostics, node,
                            lambda v, w=words: w in v.get('configure_error', ''))
            assert values['_level'] == '2'
        assert node.process.poll() is None

        # Fixed: configure succeeds. With device auto and no CUDA, on the CPU with a warning.
        for name, value in {'model.path': str(sensitive_checkpoint), 'model.num_classes': 0,
                            'device': 'auto'}.items():
            assert set_param(ros_client, node, name, value).successful
        assert transition(ros_client, node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_client, node, Transition.TRANSITION_ACTIVATE)
        values = report(diagnostics, node, lambda v: v.get('lifecycle_state') == 'active')
        assert 'configure_error' not in values and values['_level'] == '0'
        if not torch.cuda.is_available():
            assert values['device'].startswith('cpu')
            assert '[WARN]' in node.output()
            assert re.search(r'CUDA is not available \(.+\); running CenterTrack on the CPU',
                             node.output()), node.output()
        feed = Feed(ros_client, node)
        first = {int(d.id) for d in feed.track(frames[0]).detections}
        assert len(first) == 100

        # A reload (cleanup, configure) keeps the ids unique: no id of the first model returns.
        assert transition(ros_client, node, Transition.TRANSITION_DEACTIVATE)
        assert transition(ros_client, node, Transition.TRANSITION_CLEANUP)
        assert set_param(ros_client, node, 'model.path', str(bad['corrupt'])).successful
        assert not transition(ros_client, node, Transition.TRANSITION_CONFIGURE)
        assert set_param(ros_client, node, 'model.path', str(sensitive_checkpoint)).successful
        assert transition(ros_client, node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_client, node, Transition.TRANSITION_ACTIVATE)
        ros_client.wait_until(lambda: feed.publisher.get_subscription_count() > 0, 'resubscribed')
        second = {int(d.id) for d in feed.track(frames[1]).detections}
        assert min(second) > max(first), 'ids continue above the first model\'s'
    finally:
        ros_client.unsubscribe(diagnostics)
        code = node.stop()
    assert code == 0, node.output()


# ----------------------------------------------------------------------------- frames
def test_an_exception_during_a_frame_drops_only_that_frame(
        wrapper, sensitive_checkpoint, sensitive_tracker, ros_client, frames):
    node = faulty_node(wrapper, '/test_faults_frame', {'model.path': str(sensitive_checkpoint),
                                                       'device': 'cpu',
                                                       'qos.reliability': 'reliable'})
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    core = sensitive_tracker
    try:
        wait_active(ros_client, node)
        feed = Feed(ros_client, node)
        plan = [None, None, OOM_MARK, None, OOM_MARK, FAIL_MARK, None, None]
        failed_stamps, failures = [], 0
        for index, mark in enumerate(plan):
            frame = frames[index % len(frames)]
            if mark is None:
                assert_published(feed.track(frame), core.step(frame),
                                 core.config.model.class_name, f'frame {index}')
                continue
            failed_stamps.append(feed.send(marked(frame, mark)))
            failures += 1
            # Wait until the node took (and dropped) it before the next frame could replace it.
            report(diagnostics, node,
                   lambda v, n=failures: int(v.get('rejected.inference_error', 0)) >= n)
        values = report(diagnostics, node)
        assert int(values['rejected.inference_error']) == 3
        assert int(values['frames_processed']) == plan.count(None)
        assert not [m for m in feed.detections.messages
                    if stamp_ns(m.header.stamp) in failed_stamps], 'nothing published for them'
        # Logged once (then throttled: the same reason again within 5 s is only counted).
        assert 'inference failed, frame dropped: OutOfMemoryError: CUDA out of memory' in \
            node.output()
        assert node.process.poll() is None
    finally:
        ros_client.unsubscribe(diagnostics)
        code = node.stop()
    assert code == 0, node.output()


# ----------------------------------------------------------------------------- parameters
THRESHOLDS = (-1.0, 0.5, 0.9)  # -1: the model's own (0.4); 0.9: nothing passes
VALID = [('tracker.track_thresh', v) for v in THRESHOLDS] + [
    ('tracker.hungarian', True), ('tracker.hungarian', False),
    ('max_frame_gap', 0.0), ('max_frame_gap', 1000.0), ('model.input_width', 320),
    ('model.input_width', 0)]
INVALID = [
    ('tracker.track_thresh', 1.5), ('tracker.track_thresh', -0.5),
    ('tracker.track_thresh', 'high'), ('tracker.track_thresh', math.nan),
    ('tracker.hungarian', 1), ('tracker.max_age', -5), ('tracker.no_such', 0.5),
    ('device', 'gpu'), ('autostart', False), ('max_frame_gap', -1.0),
    ('model.input_width', 100), ('qos.depth', 0)]


def rows_match(got: dict, expected: dict) -> bool:
    """Whether two detection row sets agree (see ``assert_rows_equal``)."""
    try:
        assert_rows_equal(got, expected, '')
    except AssertionError:
        return False
    return True


def test_parameter_updates_racing_with_inference(sensitive_checkpoint, sensitive_tracker,
                                                 ros_client, frames):
    """Hammer set_parameters while frames flow; every output is one whole configuration's.

    Each published frame must equal the core's output for exactly one of the tracker
    configurations the accepted updates can produce, computed from the state that the node's
    previous outputs imply: a change applied in the middle of a frame, or lost, would not.
    """
    node = NodeUnderTest('/test_faults_race', {'model.path': str(sensitive_checkpoint),
                                               'device': 'cpu', 'qos.reliability': 'reliable'})
    core = sensitive_tracker
    model, names = core.config.tracker, core.config.model.class_name
    configs = [replace(model, track_thresh=model.track_thresh if t < 0 else t, hungarian=h)
               for t in THRESHOLDS for h in (False, True)]
    stop = threading.Event()
    outcomes: list[tuple[str, object, bool, bool, str]] = []  # name, value, valid, ok, why
    errors: list[BaseException] = []

    def hammer() -> None:
        rng = np.random.default_rng(11)
        service = ros_client.node.create_client(SetParameters, node.name('~/set_parameters'))
        try:
            while not stop.is_set():
                valid = rng.random() < 0.6
                pool = VALID if valid else INVALID
                name, value = pool[rng.integers(len(pool))]
                done = threading.Event()
                future = service.call_async(SetParameters.Request(parameters=[param(name,
                                                                                    value)]))
                future.add_done_callback(lambda _: done.set())
                assert done.wait(TIMEOUT), 'set_parameters did not answer'
                result = future.result().results[0]
                outcomes.append((name, value, valid, result.successful, result.reason))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            ros_client.node.destroy_client(service)

    try:
        wait_active(ros_client, node)
        feed = Feed(ros_client, node)
        worker = threading.Thread(target=hammer, daemon=True)
        worker.start()
        states = core  # the core in the state the node's outputs so far imply
        fitted = set()
        for index in range(24):
            frame = frames[index % len(frames)]
            got = detection_rows(feed.track(frame))
            for config in configs:
                branch = copy.deepcopy(states, memo={id(states.network): states.network})
                branch.set_tracker_config(config)
                if rows_match(got, track_rows(branch.step(frame), names)):
                    states = branch
                    fitted.add(config)
                    break
            else:
                pytest.fail(f'frame {index}: the output fits no single configuration')
        stop.set()
        worker.join(TIMEOUT)
        assert not errors, errors
        assert len(outcomes) > 50, 'the updates really raced with the frames'
        assert len(fitted) >= 2, 'and changed the configuration while frames flowed'
        for name, value, valid, successful, reason in outcomes:
            if valid:
                assert successful, f'{name}={value!r} was refused: {reason}'
            else:
                assert not successful and reason, f'{name}={value!r} was accepted'

        # The last accepted values are in force for the next frame.
        values = ros_client.call(GetParameters, node.name('~/get_parameters'),
                                 GetParameters.Request(names=['tracker.track_thresh',
                                                              'tracker.hungarian'])).values
        threshold, hungarian = values[0].double_value, values[1].bool_value
        final = replace(model, hungarian=hungarian,
                        track_thresh=model.track_thresh if threshold < 0 else threshold)
        states.set_tracker_config(final)
        for frame in frames[:2]:
            assert_published(feed.track(frame), states.step(frame), names, 'after the updates')
        assert node.process.poll() is None
        assert 'Traceback' not in node.output()
    finally:
        stop.set()
        code = node.stop()
    assert code == 0, node.output()


# ----------------------------------------------------------------------------- signals
def test_sigint_during_a_slow_frame_exits_cleanly(
        wrapper, sensitive_checkpoint, ros_client, frames):
    node = faulty_node(wrapper, '/test_faults_sigint', {'model.path': str(sensitive_checkpoint),
                                                        'device': 'cpu',
                                                        'qos.reliability': 'reliable'})
    try:
        wait_active(ros_client, node)
        feed = Feed(ros_client, node)
        feed.track(frames[0])
        feed.send(marked(frames[1], SLOW_MARK))
        node.process.wait_for('slow frame: inference started', timeout=TIMEOUT)
        signalled = time.monotonic()
        node.process.send_signal(signal.SIGINT)
        code = node.process.wait(SLOW_SECONDS + EXIT_WITHIN)
        took = time.monotonic() - signalled
    finally:
        node.stop()
    assert code == 0, node.output()
    assert took < SLOW_SECONDS + EXIT_WITHIN
    assert 'Traceback' not in node.output(), node.output()


def test_sigterm_while_frames_stream_exits_cleanly(sensitive_checkpoint, ros_client, frames):
    node = NodeUnderTest('/test_faults_sigterm', {'model.path': str(sensitive_checkpoint),
                                                  'device': 'cpu', 'qos.reliability': 'reliable'})
    stop = threading.Event()
    try:
        wait_active(ros_client, node)
        feed = Feed(ros_client, node)

        def stream() -> None:
            index = 0
            while not stop.is_set():
                feed.send(frames[index % len(frames)])
                index += 1
                time.sleep(0.01)

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        feed.detections.wait_for(lambda m: True, start=3, what='a few results')
        signalled = time.monotonic()
        os.kill(node.process.pid, signal.SIGTERM)
        code = node.process.wait(EXIT_WITHIN)
        took = time.monotonic() - signalled
        stop.set()
        streamer.join(5)
    finally:
        stop.set()
        node.stop()
    assert code == 0, node.output()
    assert took < EXIT_WITHIN
    assert 'Traceback' not in node.output(), node.output()
