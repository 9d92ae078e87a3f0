"""Lifecycle of the centertrack node, driven over DDS through the lifecycle_msgs services.

One process walks the whole life of a node started with ``autostart: false``: a configure that
fails on a missing checkpoint, a successful one after fixing ``model.path``, activation with raw
images, re-activation on compressed images (JPEG/PNG, corrupt data rejected), deactivation,
cleanup and the shutdown transition, after which the process exits by itself.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from support.node_harness import (
    LATCHED,
    RELIABLE,
    NodeUnderTest,
    assert_published,
    diagnostics_values,
)
from vision_msgs.msg import Detection2DArray, LabelInfo

from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.harness import TIMEOUT, RosClient, compressed_msg, image_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/test_lifecycle'
MISSING = '/nonexistent/centertrack_model.pth'


class Lifecycle:
    """Lifecycle services of one node."""

    def __init__(self, client: RosClient, node: NodeUnderTest) -> None:
        self.client, self.node = client, node

    def state(self) -> str:
        """Return the current state's label."""
        response = self.client.call(GetState, self.node.name('~/get_state'), GetState.Request())
        return response.current_state.label

    def change(self, transition: int) -> bool:
        """Request a transition; True when it succeeded."""
        request = ChangeState.Request()
        request.transition.id = transition
        return self.client.call(ChangeState, self.node.name('~/change_state'), request).success

    def set(self, name: str, value: ParameterValue) -> None:
        """Set one parameter and check that the node accepted it."""
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        result = self.client.call(SetParameters, self.node.name('~/set_parameters'),
                                  request).results[0]
        assert result.successful, result.reason


def count_subscribers(client: RosClient, topic: str) -> int:
    """Return how many subscriptions the graph knows on ``topic``."""
    return client.node.count_subscribers(topic)


def test_full_lifecycle_with_raw_and_compressed_input(sensitive_checkpoint, sensitive_tracker,
                                                      ros_client, camera_frames):
    frames = camera_frames
    node = NodeUnderTest(NAMESPACE, {'autostart': False, 'model.path': MISSING,
                                     'device': 'cpu', 'qos.reliability': 'reliable'})
    try:
        life = Lifecycle(ros_client, node)
        image_topic = node.name('image')
        compressed_topic = node.name('image/compressed')
        diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
        detections = ros_client.subscribe(Detection2DArray, node.name('detections'))

        # Unconfigured; a configure with a missing checkpoint fails and says why.
        assert life.state() == 'unconfigured'
        assert not life.change(Transition.TRANSITION_CONFIGURE)
        assert life.state() == 'unconfigured'
        node.process.wait_for(f'configure failed: checkpoint not found: {MISSING}')
        report = diagnostics.wait_for(
            lambda m: (diagnostics_values(m, f'{NAMESPACE}/centertrack') or {}).get(
                'configure_error', '').startswith('checkpoint not found'),
            what='a diagnostics report with the configure error')
        values = diagnostics_values(report, f'{NAMESPACE}/centertrack')
        assert values['_level'] == '2' and values['lifecycle_state'] == 'unconfigured'
        reset = ros_client.call(Trigger, node.name('~/reset'), Trigger.Request())
        assert not reset.success and 'not configured' in reset.message

        # Fixed model path: configure succeeds; inactive means not subscribed yet.
        life.set('model.path', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                              string_value=str(sensitive_checkpoint)))
        assert life.change(Transition.TRANSITION_CONFIGURE)
        assert life.state() == 'inactive'
        assert count_subscribers(ros_client, image_topic) == 0

        # Active: raw images in, detections out, the class map latched.
        assert life.change(Transition.TRANSITION_ACTIVATE)
        assert life.state() == 'active'
        raw = ros_client.node.create_publisher(Image, image_topic, RELIABLE)
        ros_client.wait_matched(raw, detections)
        stamp = ros_client.now_ns()
        raw.publish(image_msg(frames[0], stamp))
        first = detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp)
        assert len(first.detections) == 100
        labels = ros_client.subscribe(LabelInfo, node.name('label_info'), LATCHED)
        assert [c.class_name for c in labels.wait_for(lambda m: True).class_map] == [
            'car', 'pedestrian']

        # Deactivated: the subscription goes away; the model stays loaded.
        assert life.change(Transition.TRANSITION_DEACTIVATE)
        assert life.state() == 'inactive'
        ros_client.wait_until(lambda: count_subscribers(ros_client, image_topic) == 0,
                              'unsubscribe')

        # use_compressed is read on activation: now image/compressed, not image.
        life.set('use_compressed', ParameterValue(type=ParameterType.PARAMETER_BOOL,
                                                  bool_value=True))
        assert life.change(Transition.TRANSITION_ACTIVATE)
        packed = ros_client.node.create_publisher(CompressedImage, compressed_topic, RELIABLE)
        ros_client.wait_until(lambda: packed.get_subscription_count() > 0, 'compressed matching')
        assert count_subscribers(ros_client, image_topic) == 0
        core = sensitive_tracker
        # The node never reuses a track id: after the new activation, ids continue above
        # those of the raw frame.
        core.continue_ids_after(max(int(d.id) for d in first.detections))
        previous_format = None
        for index, (ext, fmt) in enumerate([('.png', 'bgr8; png compressed bgr8'),
                                            ('.png', 'bgr8; png compressed bgr8'),
                                            ('.jpg', 'jpeg'), ('.jpg', 'jpeg')]):
            ok, data = cv2.imencode(ext, frames[index])
            assert ok
            stamp += 100_000_000
            packed.publish(compressed_msg(data.tobytes(), stamp, fmt))
            got = detections.wait_for(lambda m, s=stamp: stamp_ns(m.header.stamp) == s)
            # The node decodes exactly what OpenCV decodes. Activation started a new sequence,
            # and so does a change of the compressed format (another stream).
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if previous_format not in (None, fmt):
                core.reset(restart_ids=False)
            previous_format = fmt
            assert_published(got, core.step(decoded), core.config.model.class_name,
                             f'compressed frame {index}')
            if ext == '.png':
                np.testing.assert_array_equal(decoded, frames[index])  # lossless

        # Corrupt compressed data is rejected with a reason; the next good frame still works.
        corrupt = compressed_msg(b'\xff\xd8\xff\xe0 truncated', stamp + 1, 'jpeg')
        packed.publish(corrupt)
        node.process.wait_for(r'rejected frame .*JPEG data ends before its frame header')
        ok, data = cv2.imencode('.jpg', frames[4])
        stamp += 100_000_000
        packed.publish(compressed_msg(data.tobytes(), stamp, 'jpeg'))
        last = detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp)
        assert len(last.detections) == 100

        # Deactivate, clean up (model released), shut down: the process ends by itself.
        assert life.change(Transition.TRANSITION_DEACTIVATE)
        assert life.change(Transition.TRANSITION_CLEANUP)
        assert life.state() == 'unconfigured'
        node.process.wait_for('unconfigured: model released')
        assert life.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        deadline = time.monotonic() + TIMEOUT
        while node.process.poll() is None:
            assert time.monotonic() < deadline, 'node did not exit after shutdown'
            time.sleep(0.1)
        assert node.process.returncode == 0, node.output()
    finally:
        node.stop()


def test_invalid_start_up_parameters(sensitive_checkpoint, ros_client):
    # Out of a declared range: rclpy refuses the declaration, the process exits with the reason.
    refused = NodeUnderTest('/test_startup_refused', {'tracker.max_age': -5})
    # In range but invalid: configure fails with the reason, the node stays up, unconfigured.
    failed = NodeUnderTest('/test_startup_failed', {'tracker.track_thresh': -0.5,
                                                    'model.path': str(sensitive_checkpoint),
                                                    'device': 'cpu'})
    # CUDA demanded where there is none: configure fails clearly instead of using the CPU.
    no_cuda = None if torch.cuda.is_available() else NodeUnderTest(
        '/test_startup_no_cuda', {'model.path': str(sensitive_checkpoint), 'device': 'cuda'})
    try:
        assert refused.process.wait(TIMEOUT) == 1
        assert 'cannot start' in refused.output()
        assert 'tracker.max_age out of range' in refused.output()
        failed.process.wait_for(r'configure failed: invalid parameter: tracker\.track_thresh must '
                                r'be in \[0, 1\] or -1')
        assert Lifecycle(ros_client, failed).state() == 'unconfigured'
        if no_cuda is not None:
            no_cuda.process.wait_for(r"configure failed: device 'cuda' requested but CUDA is "
                                     r"not available")
            assert Lifecycle(ros_client, no_cuda).state() == 'unconfigured'
    finally:
        refused.stop()
        code = failed.stop()
        if no_cuda is not None:
            no_cuda.stop()
    assert code == 0, failed.output()
