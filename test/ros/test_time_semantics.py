"""Time semantics of the node: which stamp sequences reset the tracks and which continue.

The rules (README, "Reliability"), all on the input images' header stamps, never on the
node's clock:

- the first frame, and the first frame after a reset, an activation or a reset request,
  starts a new sequence;
- a stamp smaller than the previous accepted frame's (a bag that loops, a clock that jumps
  back, by any amount) resets the tracks (``resets.time_jump``);
- an equal stamp continues (a duplicated stamp is tracked as the next frame);
- a stamp more than ``max_frame_gap`` seconds after the previous frame resets
  (``resets.frame_gap``) when ``max_frame_gap`` > 0; exactly ``max_frame_gap`` continues;
- a change of the image size or encoding resets (``resets.format_change``);
- a rejected (malformed) frame is not part of the stream: its stamp changes nothing.

``use_sim_time`` changes none of this; it only makes the node's clock (latency, diagnostics
stamps) follow ``/clock``, which ``centertrack_bag play --clock`` publishes from a bag.
After a reset new tracks get ids above every id published before (the node never reuses
one), which is how these tests see a reset in the published ids.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from hypothesis import given, settings
from hypothesis import strategies as st
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from support.bags import START_TIME
from support.node_harness import RELIABLE, NodeUnderTest, diagnostics_values, node_running
from vision_msgs.msg import Detection2DArray

from centertrack_ros.bags.io import BagReader
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.runtime.stream_rules import FORMAT_CHANGE, FRAME_GAP, TIME_JUMP, StreamRules
from centertrack_ros.tools.bag import main as bag_main
from centertrack_ros.tools.harness import TIMEOUT, RosClient, image_msg, wait_active

SECOND = 1_000_000_000
STEP = 100_000_000
BIRTHS = 100  # the sensitive model's detections per frame, all births after a reset
MAX_GAP = 0.5


# ----------------------------------------------------------------------------- the rules
def rule(previous, stamp: int, source, max_gap: float):
    """Return the reset kind the README's rules give for a frame after ``previous``."""
    if previous is None:
        return None
    last_stamp, last_source = previous
    if source != last_source:
        return FORMAT_CHANGE
    if stamp < last_stamp:
        return TIME_JUMP
    if max_gap > 0 and stamp - last_stamp > max_gap * SECOND:
        return FRAME_GAP
    return None


frames_strategy = st.lists(st.tuples(
    st.one_of(st.just(0), st.integers(-3, 3), st.integers(-10 * SECOND, 10 * SECOND),
              st.sampled_from([STEP, int(MAX_GAP * SECOND), int(MAX_GAP * SECOND) + 1])),
    st.sampled_from([('640x480', 'bgr8'), ('640x480', 'rgb8'), ('320x240', 'bgr8')]),
    st.booleans()), min_size=1, max_size=40)


@settings(max_examples=400, deadline=None)
@given(frames=frames_strategy, max_gap=st.sampled_from([0.0, MAX_GAP, 2.0]),
       start=st.integers(0, 2 ** 62))
def test_stream_watch_follows_the_documented_rules(frames, max_gap, start):
    watch = StreamRules()
    previous, stamp = None, start
    for delta, source, forget in frames:
        stamp = max(stamp + delta, 0)
        if forget:  # a reset request or an activation in between
            watch.forget()
            previous = None
        got = watch.check(stamp, source, max_gap)
        expected = rule(previous, stamp, source, max_gap)
        assert (got[0] if got else None) == expected, (previous, stamp, source, max_gap)
        if got:
            assert got[1], 'every reset comes with a reason'
        previous = (stamp, source)


# ----------------------------------------------------------------------------- live node
class Stream:
    """One camera stream into a node, telling new sequences from continued ones."""

    def __init__(self, client: RosClient, node: NodeUnderTest) -> None:
        self.client, self.node = client, node
        self.publisher = client.node.create_publisher(Image, node.name('image'), RELIABLE)
        self.detections = client.subscribe(Detection2DArray, node.name('detections'))
        self.diagnostics = client.subscribe(DiagnosticArray, '/diagnostics')
        self.highest = 0
        client.wait_matched(self.publisher, self.detections)

    def frame(self, image: np.ndarray, stamp: int, **kwargs) -> set[int]:
        """Publish a frame, wait for its detections, return their ids."""
        start = self.detections.count()
        self.publisher.publish(image_msg(image, stamp, **kwargs))
        msg = self.detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp, start=start,
                                       what=f'detections for stamp {stamp}')
        return {int(d.id) for d in msg.detections}

    def new_sequence(self, image: np.ndarray, stamp: int, **kwargs) -> bool:
        """Publish a frame; True when the tracks were reset before it, False if continued."""
        before = self.highest
        ids = self.frame(image, stamp, **kwargs)
        self.highest = max(self.highest, max(ids))
        if ids == set(range(before + 1, before + BIRTHS + 1)):
            return True
        assert len(ids) == BIRTHS and min(ids) <= before, \
            f'neither a new sequence nor a continued one: {sorted(ids)} after id {before}'
        return False

    def report(self, predicate=lambda values: True) -> dict[str, str]:
        """Return the node's next diagnostics values (from now on) satisfying ``predicate``."""
        name = f'{self.node.namespace}/centertrack'
        msg = self.diagnostics.wait_for(
            lambda m: (diagnostics_values(m, name) is not None
                       and predicate(diagnostics_values(m, name))),
            start=self.diagnostics.count(), what='a diagnostics report')
        values = diagnostics_values(msg, name)
        values['_stamp'] = str(stamp_ns(msg.header.stamp))
        return values

    def resets(self) -> dict[str, int]:
        """Return the node's reset counters from its next report."""
        values = self.report()
        return {kind: int(values.get(f'resets.{kind}', 0))
                for kind in (TIME_JUMP, FRAME_GAP, FORMAT_CHANGE, 'service')}


@pytest.fixture(scope='module')
def stream(sensitive_checkpoint, ros_client):
    with node_running(NodeUnderTest('/test_time', {
            'model.path': str(sensitive_checkpoint), 'device': 'cpu',
            'qos.reliability': 'reliable', 'max_frame_gap': MAX_GAP}), ros_client) as node:
        yield Stream(ros_client, node)


@pytest.fixture(scope='module')
def frames(camera_frames):
    return [frame[::2, ::2].copy() for frame in camera_frames]


@pytest.mark.ros
@pytest.mark.slow
def test_stamp_sequences_reset_or_continue_as_documented(stream, frames):
    s = SECOND * 1_000  # stamps of this test start at 1000 s
    stream.new_sequence(frames[0], s)
    before = stream.resets()
    assert not stream.new_sequence(frames[1], s + STEP)
    # Duplicated stamp: tracked as the next frame.
    assert not stream.new_sequence(frames[2], s + STEP)
    assert not stream.new_sequence(frames[3], s + STEP)
    # Back by a single nanosecond: a jump back like any other.
    assert stream.new_sequence(frames[4], s + STEP - 1)
    # A gap of exactly max_frame_gap continues; one nanosecond more resets.
    t = s + STEP - 1 + int(MAX_GAP * SECOND)
    assert not stream.new_sequence(frames[5], t)
    t += int(MAX_GAP * SECOND) + 1
    assert stream.new_sequence(frames[6], t)
    # The size changes: a new sequence, even at the same stamp.
    small = np.ascontiguousarray(frames[7][::2, ::2])
    assert stream.new_sequence(small, t)
    assert stream.new_sequence(frames[0], t + STEP)
    after = stream.resets()
    assert after[TIME_JUMP] - before[TIME_JUMP] == 1
    assert after[FRAME_GAP] - before[FRAME_GAP] == 1
    assert after[FORMAT_CHANGE] - before[FORMAT_CHANGE] == 2
    assert after['service'] == before['service']


@pytest.mark.ros
@pytest.mark.slow
def test_rejected_frames_do_not_move_the_stream_time(stream, frames):
    s = SECOND * 2_000
    stream.new_sequence(frames[0], s)
    before = stream.resets()
    rejected = int(stream.report().get('frames_rejected', 0))
    for offset in (-10 * SECOND, 100 * SECOND):  # far back, then far ahead
        bad = image_msg(frames[1], s + offset)
        bad.data = bad.data[:-1]
        stream.publisher.publish(bad)
        rejected += 1
        stream.report(lambda v, n=rejected: int(v.get('frames_rejected', 0)) >= n)
        # Neither a jump back from s nor a gap from s + 100 s: the next frame continues.
        s += STEP
        assert not stream.new_sequence(frames[2], s)
    assert stream.resets() == before


@pytest.mark.ros
@pytest.mark.slow
def test_after_a_reset_request_the_next_stamp_is_compared_with_nothing(stream, frames):
    s = SECOND * 3_000
    stream.new_sequence(frames[0], s)
    assert not stream.new_sequence(frames[1], s + STEP)
    before = stream.resets()
    response = stream.client.call(Trigger, stream.node.name('~/reset'), Trigger.Request())
    assert response.success and 'above every id' in response.message
    # Earlier than the last frame, but the reset already started a new sequence: one reset.
    assert stream.new_sequence(frames[2], s - 5 * SECOND)
    assert not stream.new_sequence(frames[3], s - 5 * SECOND + STEP)
    after = stream.resets()
    assert after['service'] == before['service'] + 1
    assert after[TIME_JUMP] == before[TIME_JUMP]


# ----------------------------------------------------------------------------- /clock
def convert_bag(path, frames: int, size: str = '320x240'):
    """Write a synthetic bag of ``frames`` frames at 10 fps starting at START_TIME."""
    assert bag_main(['convert', '--synthetic', '5', '--frames', str(frames), '--size', size,
                     '-o', str(path), '--start-time', str(START_TIME), '-q']) == 0
    with BagReader(path) as bag:
        return [t for _, t, _ in bag.messages(['/camera/image_raw'])]


def play(run_python, bag, *args):
    """Start ``centertrack_bag play`` in its own process."""
    return run_python(module='centertrack_ros.tools.bag',
                      args=['play', str(bag), '-q', '--wait-for-subscribers', '30', *args])


@pytest.mark.ros
def test_play_publishes_the_bag_time_on_clock(tmp_path, run_python, ros_client):
    times = convert_bag(tmp_path / 'clock_bag', 10)
    ticks = ros_client.subscribe(Clock, '/clock', RELIABLE)
    images = ros_client.subscribe(Image, '/camera/image_raw')
    try:
        player = play(run_python, tmp_path / 'clock_bag', '--clock', '50')
        player.wait_for(r'published 10 /camera/image_raw', timeout=TIMEOUT)
        assert player.wait(30) == 0
        images.wait_for(lambda m: stamp_ns(m.header.stamp) == times[-1])
        ticks.wait_for(lambda m: stamp_ns(m.clock) == times[-1], timeout=10,
                       what='the last message time on /clock')
        values = [stamp_ns(m.clock) for m in list(ticks.messages)]
        assert values == sorted(values), 'one pass: the clock never goes back'
        assert values[0] >= times[0] and values[-1] == times[-1]
        assert set(times) <= set(values), 'the clock reaches each message time before it'
        assert len(set(values)) > len(times), 'and ticks in between'
    finally:
        ros_client.unsubscribe(ticks)
        ros_client.unsubscribe(images)


@pytest.mark.ros
@pytest.mark.slow
def test_use_sim_time_with_a_looping_bag(tmp_path, run_python, sensitive_checkpoint, ros_client,
                                         camera_frames):
    times = convert_bag(tmp_path / 'loop_bag', 8)
    node = NodeUnderTest('/test_sim', {'model.path': str(sensitive_checkpoint), 'device': 'cpu',
                                       'qos.reliability': 'reliable', 'use_sim_time': True})
    player = None
    try:
        wait_active(ros_client, node)
        stream = Stream(ros_client, node)
        # No /clock yet: the node's time is 0. Frames are still tracked; no latency is made up.
        # (Stamped after the bag's end, so that the bag's first frame is a jump back.)
        first = cv2.resize(camera_frames[0], (320, 240))  # the bag's size
        stream.new_sequence(first, times[-1] + SECOND)
        values = stream.report(lambda v: 'processing_p50_ms' in v)
        assert 'latency_p50_ms' not in values
        assert values['_stamp'] == '0'

        # The looping bag, remapped onto the node's input, with its clock.
        player = play(run_python, tmp_path / 'loop_bag', '--loop', '--clock', '--remap',
                      f'/camera/image_raw:={node.name("image")}')
        start = stream.detections.count()
        deadline = time.monotonic() + 2 * TIMEOUT
        while True:
            outputs = stream.detections.messages[start:]
            stamps = [stamp_ns(m.header.stamp) for m in outputs]
            wraps = sum(1 for a, b in zip(stamps, stamps[1:]) if b < a)
            if wraps >= 3:
                break
            assert time.monotonic() < deadline, f'only {wraps} loops in {len(stamps)} frames'
            time.sleep(0.1)
        assert player.stop() == 0
        time.sleep(0.5)  # the last frames in flight
        outputs = stream.detections.messages[start:]
        assert all(stamp_ns(m.header.stamp) in times for m in outputs)

        # Every wrap is a new sequence numbered above everything before; the rest continue.
        highest, new_sequences = max(stream.highest, 0), 0
        previous_stamp = None
        for msg in outputs:
            ids = {int(d.id) for d in msg.detections}
            stamp = stamp_ns(msg.header.stamp)
            fresh = ids == set(range(highest + 1, highest + BIRTHS + 1))
            if previous_stamp is None or stamp < previous_stamp:
                assert fresh, f'frame {stamp} after {previous_stamp}: tracks not reset'
                new_sequences += previous_stamp is not None
            else:
                assert not fresh and min(ids) <= highest, f'frame {stamp} did not continue'
            highest = max(highest, max(ids))
            previous_stamp = stamp
        values = stream.report()
        # The first bag frame also jumps back from the frame sent before the bag.
        assert int(values['resets.time_jump']) == new_sequences + 1

        # The node's clock is the bag's: diagnostics are stamped in bag time and latency is
        # measured on it. With the player gone /clock stops; the reports keep coming.
        stamp = int(values['_stamp'])
        assert times[0] <= stamp <= times[-1], 'diagnostics stamped with the bag time'
        assert 0.0 <= float(values['latency_p50_ms']) < 1000.0
        later = [stream.report() for _ in range(2)]
        assert all(int(v['_stamp']) == int(later[0]['_stamp']) for v in later), \
            'no /clock: the node time stands still'
        assert times[0] <= int(later[0]['_stamp']) <= times[-1]
    finally:
        if player is not None:
            player.stop()
        code = node.stop()
    assert code == 0, node.output()
