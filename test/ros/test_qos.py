"""The image subscription hears every publisher: ``qos.reliability: auto`` over real DDS.

The node runs with its defaults (the bundled model, ``qos.reliability`` auto) but with the
package's DDS profile switched off (``NO_PROFILE``), as do the cameras, processes of their own
(``camera_process.py``), as drivers are: the losses these tests are about need Fast DDS's
default transports.
"""

from __future__ import annotations

import re
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from support import REPO
from support.node_harness import NodeUnderTest, diagnostics_values, node_running

from centertrack_ros.ros.image_subscription import (
    LARGE_FRAME_BYTES,
    Publisher,
    choose_reliability,
    large_frame_warning,
)
from centertrack_ros.runtime.settings import BEST_EFFORT, RELIABLE
from centertrack_ros.tools.harness import TIMEOUT, RosClient

CAMERA = REPO / 'test' / 'support' / 'camera_process.py'
NAMESPACE = '/test_qos'
NO_PROFILE = {'FASTDDS_DEFAULT_PROFILES_FILE': '', 'FASTRTPS_DEFAULT_PROFILES_FILE': ''}


# ----------------------------------------------------------------------- the rules, unit
def test_reliable_only_when_every_publisher_is_reliable():
    # Reliable before any publisher: a reliable one that starts later is heard from its first
    # frame (issue 30), a best-effort one after the switch.
    assert choose_reliability([]) == (RELIABLE, 'no publisher yet')
    assert choose_reliability([Publisher('/a', True), Publisher('/b', True)])[0] == RELIABLE
    chosen, reason = choose_reliability([Publisher('/a', True), Publisher('/cam', False)])
    assert chosen == BEST_EFFORT and '/cam' in reason and '1 of 2' in reason


def test_large_frames_warn_only_where_they_are_lost():
    big, fast_dds = LARGE_FRAME_BYTES + 1, 'rmw_fastrtps_cpp'
    warning = large_frame_warning(big, BEST_EFFORT, fast_dds, environ={})
    assert warning is not None
    for fix in ('FASTDDS_DEFAULT_PROFILES_FILE', 'fastdds_large_images.xml', 'reliable',
                'use_compressed'):
        assert fix in warning
    assert large_frame_warning(LARGE_FRAME_BYTES, BEST_EFFORT, fast_dds, environ={}) is None
    assert large_frame_warning(big, RELIABLE, fast_dds, environ={}) is None
    assert large_frame_warning(big, BEST_EFFORT, 'rmw_cyclonedds_cpp', environ={}) is None
    assert large_frame_warning(big, BEST_EFFORT, fast_dds,
                               environ={'FASTDDS_DEFAULT_PROFILES_FILE': '/x.xml'}) is None


# ----------------------------------------------------------------------- over DDS
@pytest.fixture(scope='module')
def node(ros_client):
    # every parameter at its default
    with node_running(NodeUnderTest(NAMESPACE, {}, env=NO_PROFILE), ros_client) as proc:
        yield proc


pytestmark = [pytest.mark.ros, pytest.mark.slow]


def camera(run_python, reliability: str, size: str, frames: int, **options):
    """Start a camera process publishing to the node."""
    args = ['--namespace', NAMESPACE, '--reliability', reliability, '--size', size,
            '--frames', frames, '--name', options.pop('name', f'camera_{reliability}')]
    for key, value in options.items():
        args += [f'--{key.replace("_", "-")}', value]
    return run_python(script=CAMERA, args=args, env=NO_PROFILE)


def node_subscription(client: RosClient) -> str:
    """Return the reliability of the node's image subscription as the DDS graph shows it."""
    infos = client.node.get_subscriptions_info_by_topic(f'{NAMESPACE}/image')
    assert len(infos) == 1, infos
    return ('reliable' if infos[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
            else 'best_effort')


def latest_values(client: RosClient, collector) -> dict[str, str]:
    msg = collector.wait_for(lambda m: diagnostics_values(m, f'{NAMESPACE}/centertrack'),
                             start=collector.count(), what='a diagnostics report')
    return diagnostics_values(msg, f'{NAMESPACE}/centertrack')


@pytest.mark.parametrize('size', ['768x576', '1920x1080'])
def test_every_frame_of_a_reliable_publisher_is_answered(node, ros_client, run_python, size):
    """Large frames, malformed messages between them: every valid frame gets its detections."""
    frames = 6
    process = camera(run_python, 'reliable', size, frames, hostile=3,
                     wait_for_subscription='reliable')
    process.wait_for(rf'answered \d+ of {frames}', timeout=240)
    assert process.wait(30) == 0
    assert f'answered {frames} of {frames}' in process.output(), process.output()
    assert re.search(r'frame 5 answered ids \[\d', process.output()), 'objects are tracked'
    assert node_subscription(ros_client) == 'reliable'
    assert 'switching the subscription' not in node.output()  # reliable from the start


def test_best_effort_publisher_gets_a_best_effort_subscription(node, ros_client, run_python):
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    process = camera(run_python, 'best_effort', '320x240', 3,
                     wait_for_subscription='best_effort')
    process.wait_for(r'answered \d+ of 3', timeout=120)
    assert 'answered 3 of 3' in process.output(), process.output()  # small frames: no loss
    assert node_subscription(ros_client) == 'best_effort'
    values = latest_values(ros_client, diagnostics)
    assert values['image_qos'].startswith('best_effort (auto: 1 of 1 publisher(s) offer best')
    ros_client.unsubscribe(diagnostics)


def test_a_later_publisher_with_other_qos_switches_between_frames(node, ros_client, run_python):
    """A best-effort publisher joins a reliable one: best effort; it leaves: reliable again.

    The reliable camera keeps streaming across both switches and its tracks continue: every
    frame is answered and no reset is counted.
    """
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    frames = 30
    steady = camera(run_python, 'reliable', '320x240', frames, pause=0.3, name='steady_camera',
                    wait_for_subscription='reliable')
    steady.wait_for(r'frame 2 answered', timeout=120)
    resets_before = latest_values(ros_client, diagnostics).get('resets', '0')
    late = ros_client.node.create_publisher(Image, f'{NAMESPACE}/image', QoSProfile(
        depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    ros_client.wait_until(lambda: node_subscription(ros_client) == 'best_effort',
                          'the switch to best effort')
    answered_during = len(re.findall(r'answered ids', steady.output()))
    ros_client.node.destroy_publisher(late)
    ros_client.wait_until(lambda: node_subscription(ros_client) == 'reliable',
                          'the switch back to reliable')
    steady.wait_for(rf'answered \d+ of {frames}', timeout=240)
    output = steady.output()
    assert f'answered {frames} of {frames}' in output, output
    assert answered_during < frames, 'the switches happened while the camera was streaming'
    ids = [set(map(int, re.findall(r'\d+', m)))
           for m in re.findall(r'answered ids \[([\d, ]*)\]', output)]
    assert all(a & b for a, b in zip(ids, ids[1:]) if a and b), 'tracks continue'
    log = node.output()
    assert re.search(r'switching the subscription from reliable to best_effort \(1 of 2 '
                     r'publisher\(s\) offer best effort', log), log
    assert re.search(r'switching the subscription from best_effort to reliable \(all 1 '
                     r'publisher\(s\) offer reliable\); the tracks are kept', log), log
    deadline = time.monotonic() + TIMEOUT
    while True:
        values = latest_values(ros_client, diagnostics)
        if values['image_qos'].startswith('reliable'):
            break
        assert time.monotonic() < deadline
    assert values.get('resets', '0') == resets_before
    ros_client.unsubscribe(diagnostics)


def test_explicit_best_effort_says_when_large_frames_are_lost(ros_client, run_python):
    """Reliable 768x576 frames to a best-effort subscription: the node says why and how to fix.

    Most of the frames are lost in transport (each is 21 UDP fragments); DDS reports the loss,
    and the node counts it in its diagnostics and names the fixes in its log (a frame that does
    arrive is warned about too). Without a loss the test would check nothing, so it fails then.
    """
    namespace = '/test_qos_lossy'
    sent = 5
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    with node_running(NodeUnderTest(namespace, {'qos.reliability': 'best_effort'},
                                    env=NO_PROFILE), ros_client) as node:
        process = run_python(script=CAMERA, args=[
            '--namespace', namespace, '--reliability', 'reliable', '--size', '768x576',
            '--frames', sent, '--timeout', 3], env=NO_PROFILE)
        process.wait_for(rf'answered \d+ of {sent}', timeout=120)
        answered = int(re.search(rf'answered (\d+) of {sent}', process.output()).group(1))
        print(f'best effort, no profile: {answered} of {sent} reliable 768x576 frames answered')
        assert answered < sent, (
            f'all {sent} large frames crossed a best-effort subscription without a DDS profile: '
            'nothing was lost, so the loss warning went unchecked')
        node.process.wait_for(r'image message\(s\) lost in transport before reaching the '
                              r'node \(best-effort subscription.*fastdds_large_images\.xml',
                              timeout=TIMEOUT)
        if answered:
            node.process.wait_for(r'arrive over a best-effort subscription without a Fast DDS '
                                  r'profile.*use_compressed', timeout=TIMEOUT)

        def counted(msg) -> bool:
            values = diagnostics_values(msg, f'{namespace}/centertrack')
            return values is not None and int(values['frames_lost_in_transport']) > 0

        # A report from now on: it was made after the camera's last frame.
        report = diagnostics.wait_for(counted, start=diagnostics.count(),
                                      what='diagnostics report counting the loss')
        values = diagnostics_values(report, f'{namespace}/centertrack')
    ros_client.unsubscribe(diagnostics)
    received, lost = int(values['frames_received']), int(values['frames_lost_in_transport'])
    assert received >= answered, values
    assert received + lost <= sent, f'more frames accounted for than sent: {values}'
