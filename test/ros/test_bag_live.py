"""``centertrack_bag play``/``record`` over DDS, with the real node, in separate processes.

Each process is a real ROS 2 participant (rclpy over Fast DDS on loopback, the session's own
domain id from conftest). The node runs the random-weight test model on the CPU.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from support.bags import START_TIME, make_random_model

from centertrack_ros.bags.evaluation import align, load
from centertrack_ros.bags.io import BagReader
from centertrack_ros.bags.live import PlayResult, _play_once
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.bag import main as bag_main

pytestmark = pytest.mark.ros

FRAMES = 12
PERIOD_NS = 100_000_000  # 10 fps, the synthetic default


def convert(path, frames=FRAMES, seed=9):
    assert bag_main(['convert', '--synthetic', str(seed), '--frames', str(frames), '-o',
                     str(path), '--start-time', str(START_TIME), '-q']) == 0
    return path


def bag_process(run_python, *args):
    """``centertrack_bag`` in its own process (``-v`` so that it says when it subscribed)."""
    return run_python(module='centertrack_ros.tools.bag', args=['-v', *map(str, args)])


def stamps_of(bag_path, topic):
    with BagReader(bag_path) as bag:
        return [(stamp_ns(m.header.stamp), m.header.frame_id, t)
                for _, t, m in bag.messages([topic])]


@pytest.mark.slow
def test_play_into_the_node_and_record_its_tracks(tmp_path, run_python):
    model = make_random_model(tmp_path / 'random.pth')
    source = convert(tmp_path / 'drive')
    node = run_python(module='centertrack_ros.ros.node', args=[
        '--ros-args', '-p', f'model.path:={model}', '-p', 'device:=cpu',
        '-r', 'image:=/camera/image_raw'])
    node.wait_for(r'active: subscribed to /camera/image_raw', timeout=120)
    recorded = tmp_path / 'recorded'
    recorder = bag_process(run_python, 'record', '/detections', '-o', recorded, '-q')
    recorder.wait_for(r'recording /detections', timeout=60)

    # Half speed leaves the CPU node time for most frames; it may still drop some.
    player = bag_process(run_python, 'play', source, '--rate', '0.5',
                         '--wait-for-subscribers', '30', '-q')
    player.wait_for(rf'published {FRAMES} /camera/image_raw', timeout=120)
    assert player.wait(30) == 0
    time.sleep(3)  # the node may still be working on the last frame
    assert recorder.stop() == 0
    recorder.wait_for(r'wrote .*recorded: \d+ on /detections')

    images = stamps_of(source, '/camera/image_raw')
    detections = stamps_of(recorded, '/detections')
    assert detections, node.output()
    # Every detection array carries the header of one of the played images.
    image_headers = {(s, f) for s, f, _ in images}
    assert all((s, f) in image_headers for s, f, _ in detections)
    assert len({s for s, _, _ in detections}) == len(detections)
    # The recording is a valid bag that eval lines up with the ground truth by stamp.
    sequence = align('live', load(source, role='ground truth'), load(recorded))
    assert sequence.unmatched_stamps == 0 and sequence.num_frames == FRAMES
    assert sequence.tracks  # the random model finds something in every frame it sees
    assert bag_main(['eval', '--gt', str(source), '--tracks', str(recorded)]) == 0


def test_play_keeps_stamps_honours_offset_rate_and_remap(tmp_path, run_python):
    source = convert(tmp_path / 'drive', frames=8)
    recorded = tmp_path / 'recorded'
    recorder = bag_process(run_python, 'record', '/front/image', '-o', recorded, '--count', 5,
                           '-q')
    player = bag_process(run_python, 'play', source, '--start-offset', '0.25', '--rate', '2',
                         '--remap', '/camera/image_raw:=/front/image',
                         '--wait-for-subscribers', '30', '-q')
    player.wait_for(r'published 5 /camera/image_raw', timeout=60)
    assert player.wait(30) == 0
    recorder.wait_for(r'wrote .*recorded: 5 on /front/image', timeout=30)
    assert recorder.wait(10) == 0

    played = stamps_of(source, '/camera/image_raw')[3:]  # 0.25 s in: frames 3..7 (0.3 s on)
    got = stamps_of(recorded, '/front/image')
    assert [(s, f) for s, f, _ in got] == [(s, f) for s, f, _ in played]
    # The pace is checked at the publisher (test_play_paces_by_receive_time_and_rate): receive
    # times here are bunched whenever the recording process is starved of CPU.
    with BagReader(recorded) as bag:
        assert bag.topic('/front/image').msgtype == 'sensor_msgs/msg/Image'
        first = next(m for _, _, m in bag.messages(['/front/image']))
        assert (first.width, first.height, first.encoding) == (640, 384, 'bgr8')


class PublishTimes:
    """A publisher stand-in for ``_play_once`` that notes when each message went out."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def publish(self, data: bytes) -> None:
        self.times.append(time.monotonic())

    def get_subscription_count(self) -> int:
        return 1


@pytest.mark.parametrize('rate', [2.0, 0.5])
def test_play_paces_by_receive_time_and_rate(tmp_path, rate):
    source = convert(tmp_path / 'drive', frames=4)
    sink = PublishTimes()
    result = PlayResult(published={'/camera/image_raw': 0})
    with BagReader(source) as bag:
        due = np.array([t - bag.start_ns for _, _, t, _ in bag.raw_messages(['/camera/image_raw'])])
        begin = time.monotonic()
        _play_once(bag, {'/camera/image_raw': sink}, bag.start_ns, rate, result, progress=False,
                   total=4, stop=threading.Event())
    assert result.published['/camera/image_raw'] == 4
    # No message goes out before its bag time divided by the rate (a busy machine can only make
    # it later, so this holds anywhere).
    assert np.all(np.array(sink.times) - begin >= due / 1e9 / rate), (sink.times, begin, due)
    assert due[-1] == 3 * PERIOD_NS


def test_record_stops_cleanly_on_sigint_with_nothing_published(tmp_path, run_python):
    recorded = tmp_path / 'quiet'
    recorder = bag_process(run_python, 'record', '/nobody/publishes', '-o', recorded)
    recorder.wait_for(r'waiting for publishers on /nobody/publishes', timeout=30)
    assert recorder.stop() == 0
    assert 'never had a publisher' in recorder.output()
    with BagReader(recorded) as bag:  # closed properly: metadata.yaml written
        assert bag.message_count == 0
    assert (recorded / 'metadata.yaml').is_file()


def test_play_loops_until_interrupted(tmp_path, run_python):
    source = convert(tmp_path / 'short', frames=3)
    recorded = tmp_path / 'looped'
    recorder = bag_process(run_python, 'record', '/camera/image_raw', '-o', recorded, '--count',
                           7, '-q')
    player = bag_process(run_python, 'play', source, '--loop', '--rate', '4',
                         '--wait-for-subscribers', '30', '-q')
    recorder.wait_for(r'wrote .*looped: 7 on /camera/image_raw', timeout=60)
    assert player.poll() is None  # still looping
    assert player.stop() == 0
    assert re.search(r'published \d+ /camera/image_raw \(interrupted\)', player.output())
    stamps = [s for s, _, _ in stamps_of(recorded, '/camera/image_raw')]
    first_pass = [s for s, _, _ in stamps_of(source, '/camera/image_raw')]
    assert stamps[:6] == first_pass * 2  # the recording's own stamps, again on each loop
