"""No multi-second stalls by default: the processes the package starts run the large-image profile.

Checked on the processes themselves: Fast DDS maps a shared-memory segment of the profile's size
(64 MiB; 0.5 MiB with its defaults), which ``/proc/<pid>/maps`` shows. The tests run what users
get: the harness gives every node and client the profile, as the launch files and tools do;
a variable set empty switches it off. And the node tells a frame held up in transport: one
that reaches it seconds later than the stream's frames usually do while it waits for it.
"""

from __future__ import annotations

import os
import sys

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from support import REPO
from support.node_harness import RELIABLE, NodeUnderTest, diagnostics_values, node_running
from vision_msgs.msg import Detection2DArray

from centertrack_ros.runtime.dds_profile import (
    PROFILE_VARIABLE,
    PROFILE_VARIABLES,
    shared_memory_segment_mib,
)
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.runtime.stats import DELAY_BASELINE
from centertrack_ros.tools.harness import (
    TIMEOUT,
    CapturedProcess,
    NodeProcess,
    image_msg,
    wait_active,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PROFILE_SEGMENT_MIB = 60.0  # the profile's segment is 64 MiB; Fast DDS's default 0.5 MiB
SECOND = 1_000_000_000
LIVE_CONTEXT = '''
from centertrack_ros.bags.live import _ros_context
from centertrack_ros.runtime.dds_profile import shared_memory_segment_mib
with _ros_context('profile_probe') as (node, stop):
    print('segment', shared_memory_segment_mib(), flush=True)
'''


def without_profile_variables() -> dict[str, str]:
    """Return this environment with no profile variable at all (as a user's shell has)."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env['PYTHONUNBUFFERED'] = '1'
    return env


def segment_of_play_and_record(env: dict[str, str]) -> float:
    """Return the segment size of a process in ``centertrack_bag play``/``record``'s context."""
    probe = CapturedProcess([sys.executable, '-c', LIVE_CONTEXT], env=env, cwd=str(REPO))
    try:
        line = probe.wait_for(r'segment \S+', timeout=TIMEOUT).group(0)
    finally:
        probe.stop()
    assert line != 'segment None', probe.output()
    return float(line.split()[1])


def test_bag_play_and_record_use_the_profile_unless_switched_off():
    assert segment_of_play_and_record(without_profile_variables()) > PROFILE_SEGMENT_MIB
    off = dict(without_profile_variables(), **{PROFILE_VARIABLE: ''})
    assert segment_of_play_and_record(off) < 1.0


def test_nodes_get_the_profile_unless_switched_off(ros_client, sensitive_checkpoint):
    params = {'model.path': sensitive_checkpoint, 'device': 'cpu'}
    nodes = [NodeProcess('/test_profile_on', params, cwd=str(REPO)),
             NodeProcess('/test_profile_off', params, env={PROFILE_VARIABLE: ''},
                         cwd=str(REPO))]
    try:
        for node in nodes:
            wait_active(ros_client, node, timeout=300)  # two exports at once on 2 cores
        on, off = (shared_memory_segment_mib(node.process.pid) for node in nodes)
    finally:
        for node in nodes:
            node.stop()
    assert on is not None and on > PROFILE_SEGMENT_MIB, nodes[0].output()
    assert off is not None and off < 1.0, nodes[1].output()
    assert shared_memory_segment_mib() > PROFILE_SEGMENT_MIB, 'the test client has it too'


def test_a_frame_held_up_in_transport_is_told_with_the_fix(ros_client, sensitive_checkpoint,
                                                           camera_frames):
    """Frames stamped as they are sent, then one 3 s old: the node names the stall and fix."""
    namespace = '/test_transport_stall'
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    with node_running(NodeUnderTest(namespace, {'model.path': sensitive_checkpoint}),
                      ros_client) as node:
        publisher = ros_client.node.create_publisher(
            type(image_msg(camera_frames[0], 1)), node.name('image'), RELIABLE)
        answers = ros_client.subscribe(Detection2DArray, node.name('detections'),
                                       transform=lambda msg: stamp_ns(msg.header.stamp))
        ros_client.wait_matched(publisher, answers)

        def send(stamp: int) -> None:
            seen = answers.count()
            publisher.publish(image_msg(camera_frames[len(seen_stamps) % 8], stamp))
            seen_stamps.append(stamp)
            answers.wait_for(lambda answered: answered == stamp, start=seen, watch=node)

        seen_stamps: list[int] = []
        for _ in range(DELAY_BASELINE + 1):
            send(ros_client.now_ns())
        send(ros_client.now_ns() - 3 * SECOND)
        node.process.wait_for(r'1 image message\(s\) reached this node \d+\.\d s later than the '
                              r"stream's frames usually do.*net\.core\.rmem_max", timeout=TIMEOUT)

        def counted(msg) -> bool:
            values = diagnostics_values(msg, f'{namespace}/centertrack')
            return values is not None and values.get('frames_delivered_late') == '1'

        report = diagnostics.wait_for(counted, what='a report counting the late frame')
        values = diagnostics_values(report, f'{namespace}/centertrack')
        ros_client.unsubscribe(answers)
        ros_client.node.destroy_publisher(publisher)
    ros_client.unsubscribe(diagnostics)
    assert values['frames_processed'] == str(DELAY_BASELINE + 2)
    assert values['transport_note'].startswith('1 frame(s) delivered late')
    assert 'fastdds_large_images.xml' in values['transport_note']
    assert node.output().count('reached this node') == 1, 'told once'
