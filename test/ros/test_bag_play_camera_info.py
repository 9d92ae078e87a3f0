"""``centertrack_bag play`` publishes a bag's camera_info with its image topic (issue 30, item 2).

A bag converted with ``--camera-info`` holds ``/camera/camera_info`` beside
``/camera/image_raw``; play publishes both by default, and a remap of the image topic takes the
camera_info along (``/front/image_raw`` -> ``/front/camera_info``), as image_transport pairs
them.
"""

from __future__ import annotations

import pytest
from support.bags import START_TIME

from centertrack_ros.bags.io import BagReader
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.bag import main as bag_main

pytestmark = pytest.mark.ros

FRAMES = 4


def headers(bag_path, topic):
    with BagReader(bag_path) as bag:
        return [(stamp_ns(m.header.stamp), m.header.frame_id) for _, _, m in
                bag.messages([topic])]


@pytest.fixture(scope='module')
def calibrated_bag(tmp_path_factory):
    folder = tmp_path_factory.mktemp('camera_info')
    matrix = folder / 'P.txt'
    matrix.write_text('500 0 320 0\n0 500 192 0\n0 0 1 0\n')
    bag = folder / 'drive'
    assert bag_main(['convert', '--synthetic', '3', '--frames', str(FRAMES), '-o', str(bag),
                     '--camera-info', str(matrix), '--start-time', str(START_TIME), '-q']) == 0
    return bag


def record_while_playing(run_python, tmp_path, bag, topics, count, *play_args):
    recorded = tmp_path / 'recorded'
    player = run_python(module='centertrack_ros.tools.bag', args=[
        'play', bag, '--rate', '2', '--wait-for-subscribers', '30', '-q', *play_args])
    recorder = run_python(module='centertrack_ros.tools.bag', args=[
        'record', *topics, '-o', recorded, '--count', count, '-q'])
    recorder.wait_for(r'wrote ', timeout=90)
    assert recorder.wait(10) == 0
    player.wait_for(r'delivery: ', timeout=60)
    assert player.wait(30) == 0
    return recorded, player.output()


def test_camera_info_is_played_with_its_image_topic_and_follows_a_remap(
        tmp_path, run_python, calibrated_bag):
    recorded, output = record_while_playing(
        run_python, tmp_path, calibrated_bag, ['/front/image_raw', '/front/camera_info'],
        2 * FRAMES, '--remap', '/camera/image_raw:=/front/image_raw')
    assert f'published {FRAMES} /camera/image_raw, {FRAMES} /camera/camera_info' in output
    images = headers(calibrated_bag, '/camera/image_raw')
    assert headers(recorded, '/front/image_raw') == images
    assert headers(recorded, '/front/camera_info') == images  # one per frame, same header
    with BagReader(recorded) as bag:
        info = next(m for _, _, m in bag.messages(['/front/camera_info']))
    assert (info.width, info.height) == (640, 384) and info.p[0] == 500


def test_no_camera_info_plays_the_image_topic_alone(tmp_path, run_python, calibrated_bag):
    _, output = record_while_playing(run_python, tmp_path, calibrated_bag,
                                     ['/camera/image_raw'], FRAMES, '--no-camera-info')
    assert f'published {FRAMES} /camera/image_raw\n' in output, output
