"""The README's live replay recipes, run as written: N frames in, N detection messages out.

In processes of their own over DDS: the node with its default QoS (``qos.reliability: auto``)
and one remap of its image topic, ``centertrack_bag record`` of its outputs, and
``centertrack_bag play --wait-for-subscribers``; the 2D recipe plain and with ``--clock`` and
``use_sim_time``, the compressed one (``use_compressed``: the compressed topic follows the image
remap) and the 3D one (the bag's camera_info, played beside the images, follows it too).
Frame 0 used to go missing (issue 30, item 1): the node's subscription started best effort,
lost the first large frames and was re-created reliable once the player appeared.
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


def replay(tmp_path, run_python, ros_client, namespace, source, node_args, play_args,
           topics):
    """Run node, recorder and player as the README's recipe does; return the diagnostics."""
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    node = run_python(module='centertrack_ros.ros.node', args=[
        '--ros-args', '-r', f'__ns:={namespace}', '-p', 'device:=cpu',
        '-r', 'image:=/camera/image_raw', *node_args])
    node.wait_for(r'active: subscribed to /camera/image_raw', timeout=120)
    recorder = run_python(module='centertrack_ros.tools.bag', args=[
        '-v', 'record', *[f'{namespace}/{topic}' for topic in topics],
        '-o', tmp_path / 'recorded', '-q'])
    recorder.wait_for(rf'recording {namespace}/{topics[0]}', timeout=60)

    # A quarter of the recorded pace leaves the CPU node time for every frame.
    player = run_python(module='centertrack_ros.tools.bag', args=[
        'play', source, '--rate', '0.25', '--wait-for-subscribers', '30', '-q', *play_args])
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
    return values


def check_every_frame_answered(values, source, image_topic, recorded):
    """Each processed frame's detections were recorded, frame 0 among them."""
    played = stamps(source, image_topic)
    # A frame the node skipped to keep up (none at this pace, unless the machine stalls) is
    # counted in frames_dropped.
    assert len(recorded) == int(values['frames_processed']), values
    assert len(recorded) + int(values['frames_dropped']) == FRAMES
    assert set(recorded) <= set(played) and played[0] in recorded


@pytest.mark.parametrize('sim_time', [False, True], ids=['plain', 'clock'])
def test_a_replay_of_n_frames_gives_n_detection_messages(tmp_path, run_python, ros_client,
                                                         sim_time):
    namespace = '/replay_clock' if sim_time else '/replay_plain'
    model = make_random_model(tmp_path / 'random.pth')
    source = tmp_path / 'drive'
    assert bag_main(['convert', '--synthetic', '9', '--frames', str(FRAMES), '-o', str(source),
                     '--start-time', str(START_TIME), '-q']) == 0
    values = replay(tmp_path, run_python, ros_client, namespace, source,
                    ['-p', f'model.path:={model}', '-p', f'use_sim_time:={str(sim_time).lower()}'],
                    ['--clock'] if sim_time else [], ['detections'])
    check_every_frame_answered(values, source, '/camera/image_raw',
                               stamps(tmp_path / 'recorded', f'{namespace}/detections'))
    # Without simulated time the stamps are years behind the node's clock, and it says so.
    assert ('latency_note' in values) == (not sim_time), values


def test_the_compressed_recipe_subscribes_beside_the_remapped_image_topic(
        tmp_path, run_python, ros_client):
    namespace = '/replay_jpeg'
    model = make_random_model(tmp_path / 'random.pth')
    source = tmp_path / 'drive_jpeg'
    assert bag_main(['convert', '--synthetic', '9', '--frames', str(FRAMES), '-o', str(source),
                     '--compressed', '--start-time', str(START_TIME), '-q']) == 0
    values = replay(tmp_path, run_python, ros_client, namespace, source,
                    ['-p', f'model.path:={model}', '-p', 'use_compressed:=true',
                     '-p', 'use_sim_time:=true'], ['--clock'], ['detections'])
    check_every_frame_answered(values, source, '/camera/image_raw/compressed',
                               stamps(tmp_path / 'recorded', f'{namespace}/detections'))


def test_the_3d_recipe_gets_camera_info_beside_the_remapped_image_topic(
        tmp_path, run_python, ros_client):
    namespace = '/replay_3d'
    model = make_random_model(tmp_path / 'random_3d.pth', ddd=True)
    matrix = tmp_path / 'P.txt'
    matrix.write_text('500 0 320 0\n0 500 192 0\n0 0 1 0\n')
    source = tmp_path / 'drive_3d'
    assert bag_main(['convert', '--synthetic', '9', '--frames', str(FRAMES), '-o', str(source),
                     '--camera-info', str(matrix), '--start-time', str(START_TIME), '-q']) == 0
    values = replay(tmp_path, run_python, ros_client, namespace, source,
                    ['-p', f'model.path:={model}', '-p', 'use_sim_time:=true'], ['--clock'],
                    ['detections', 'detections_3d'])
    recorded = tmp_path / 'recorded'
    check_every_frame_answered(values, source, '/camera/image_raw',
                               stamps(recorded, f'{namespace}/detections'))
    assert values['camera_info'].startswith('ok (fx 500.0'), values
    # The camera_info of a frame is played with it, on another topic: the image may overtake
    # it, so the first frame can lack 3D; every frame after it has its 3D boxes.
    with_3d = stamps(recorded, f'{namespace}/detections_3d')
    answered = stamps(recorded, f'{namespace}/detections')
    assert with_3d and set(with_3d) <= set(answered)
    assert set(answered[1:]) <= set(with_3d), (answered, with_3d)
