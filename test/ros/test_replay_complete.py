"""A live replay of N frames through the node gives N detection messages (issue 30, item 1).

The README's recipe, in processes of their own over DDS: the node with its default QoS
(``qos.reliability: auto``), ``centertrack_bag record`` of its detections, and ``centertrack_bag
play --wait-for-subscribers``; plain, and with ``--clock`` and ``use_sim_time``. Frame 0 used to
go missing: the node's subscription started best effort, lost the first large frames and was
re-created reliable once the player appeared.
"""

from __future__ import annotations

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from support.bags import START_TIME, make_random_model
from support.node_harness import diagnostics_values

from centertrack_ros.bags.io import BagReader
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.bag import main as bag_main

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FRAMES = 10


def stamps(bag_path, topic):
    with BagReader(bag_path) as bag:
        return [stamp_ns(m.header.stamp) for _, _, m in bag.messages([topic])]


@pytest.mark.parametrize('sim_time', [False, True], ids=['plain', 'clock'])
def test_a_replay_of_n_frames_gives_n_detection_messages(tmp_path, run_python, ros_client,
                                                         sim_time):
    namespace = '/replay_clock' if sim_time else '/replay_plain'
    model = make_random_model(tmp_path / 'random.pth')
    source = tmp_path / 'drive'
    assert bag_main(['convert', '--synthetic', '9', '--frames', str(FRAMES), '-o', str(source),
                     '--start-time', str(START_TIME), '-q']) == 0
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    node = run_python(module='centertrack_ros.ros.node', args=[
        '--ros-args', '-r', f'__ns:={namespace}', '-p', f'model.path:={model}',
        '-p', 'device:=cpu', '-p', f'use_sim_time:={str(sim_time).lower()}',
        '-r', 'image:=/camera/image_raw'])
    node.wait_for(r'active: subscribed to /camera/image_raw', timeout=120)
    recorder = run_python(module='centertrack_ros.tools.bag', args=[
        '-v', 'record', f'{namespace}/detections', '-o', tmp_path / 'recorded', '-q'])
    recorder.wait_for(rf'recording {namespace}/detections', timeout=60)

    # A quarter of the recorded pace leaves the CPU node time for every frame.
    player = run_python(module='centertrack_ros.tools.bag', args=[
        'play', source, '--rate', '0.25', '--wait-for-subscribers', '30', '-q',
        *(['--clock'] if sim_time else [])])
    player.wait_for(rf'published {FRAMES} /camera/image_raw', timeout=120)
    assert player.wait(60) == 0
    assert 'acknowledged by 1 subscriber' in player.output(), player.output()

    def settled(msg):
        values = diagnostics_values(msg, f'{namespace}/centertrack')
        return values is not None and sum(int(values[k]) for k in (
            'frames_processed', 'frames_dropped', 'frames_rejected')) >= FRAMES

    values = diagnostics_values(diagnostics.wait_for(settled, timeout=120, watch=node,
                                                     what='every frame accounted for'),
                                f'{namespace}/centertrack')
    assert recorder.stop() == 0
    ros_client.unsubscribe(diagnostics)
    # Every frame reached the node, none was lost on the way or rejected.
    assert (values['frames_received'], values['frames_lost_in_transport'],
            values['frames_rejected']) == (str(FRAMES), '0', '0'), values
    # The subscription was reliable before the player came and stayed so: never re-created
    # while frames were on their way.
    assert values['image_qos'].startswith('reliable (auto: all 1 publisher(s)'), values
    assert values['image_qos_changes'] == '0', values
    # Each processed frame's detections were recorded; a frame the node skipped to keep up
    # (none, at this pace, unless the machine stalls) is counted in frames_dropped.
    played, recorded = stamps(source, '/camera/image_raw'), stamps(tmp_path / 'recorded',
                                                                    f'{namespace}/detections')
    assert len(recorded) == int(values['frames_processed']), values
    assert len(recorded) + int(values['frames_dropped']) == FRAMES
    assert set(recorded) <= set(played) and played[0] in recorded
    # Without simulated time the stamps are years behind the node's clock, and it says so.
    assert ('latency_note' in values) == (not sim_time), values
