"""The inference thread between the subscriptions and the publishers, without DDS.

A real :class:`FrameRunner` tracks with a small random-weight model on the CPU, real
``sensor_msgs/Image`` messages are decoded by the node's own decoder, and what the worker hands
to ``publish``, ``warn`` and ``info`` is collected. The worker must keep only the newest frame
of a camera, drop a malformed message with its reason counted and logged, drop the frames the
runner fails on and carry on, and stop its thread when asked.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest
from support.runtime_inputs import small_frames

from centertrack_ros.core.config import TrackerOverrides
from centertrack_ros.runtime.frames import BAD_DATA_LENGTH, decode_image
from centertrack_ros.runtime.runner import FrameResult, FrameRunner
from centertrack_ros.runtime.worker import INFERENCE_ERROR, INTERNAL_ERROR, FrameWorker
from centertrack_ros.tools.harness import image_msg

WAIT = 60.0  # seconds a test waits for the worker thread; never reached when it works
THREAD_NAME = 'centertrack-inference'


@pytest.fixture(scope='module')
def frames():
    return small_frames(seed=2, count=4)


class Harness:
    """A worker over a one-camera runner, with what it publishes and logs collected."""

    def __init__(self, model, publish_error: int = 0) -> None:
        self.runner = FrameRunner(model.tracker(num_cameras=1), ('front',))
        self.published: queue.Queue[FrameResult] = queue.Queue()
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self._publish_errors = publish_error  # the first N publish calls raise
        self.worker = FrameWorker(self.runner, lambda msg: decode_image(msg, compressed=False),
                                  self._publish, clock_ns=lambda: 0, info=self.infos.append,
                                  warn=self.warnings.append)

    def _publish(self, result: FrameResult) -> None:
        if self._publish_errors:
            self._publish_errors -= 1
            raise RuntimeError('publisher gone')
        self.published.put(result)

    def next_result(self) -> FrameResult:
        """Wait for the next published result."""
        return self.published.get(timeout=WAIT)

    def stats(self) -> dict[str, str]:
        """Return the camera's statistics as the diagnostics report them."""
        return self.runner.stats[0].snapshot()


def stamp_of(result: FrameResult) -> int:
    return result.frame.stamp_ns


def test_only_the_newest_frame_of_a_camera_is_tracked(model, frames):
    harness = Harness(model)
    for index, frame in enumerate(frames[:3]):  # before the thread runs: they pile up
        harness.worker.submit(0, image_msg(frame, 1_000 + index))
    harness.worker.start()
    try:
        result = harness.next_result()
        assert stamp_of(result) == 1_002
        np.testing.assert_array_equal(result.frame.image, frames[2])
        harness.worker.submit(0, image_msg(frames[3], 1_003))
        assert stamp_of(harness.next_result()) == 1_003
    finally:
        assert harness.worker.stop(WAIT)
    assert harness.published.empty()
    stats = harness.stats()
    assert (stats['frames_received'], stats['frames_dropped'], stats['frames_processed']) == (
        '4', '2', '2')
    assert harness.warnings == []


def test_a_malformed_message_is_rejected_counted_and_logged_with_its_reason(model, frames):
    harness = Harness(model)
    bad = image_msg(frames[0], 5_000_000_123, frame_id='left_optical')
    bad.data = bytes(bad.data)[:-7]  # shorter than step x height
    assert harness.worker.process({0: bad}) == []
    assert harness.published.empty()
    assert harness.stats()[f'rejected.{BAD_DATA_LENGTH}'] == '1'
    assert len(harness.warnings) == 1
    warning = harness.warnings[0]
    assert warning.startswith("rejected frame (stamp 5.000000123, frame_id 'left_optical'): ")
    assert 'data has' in warning and 'bytes' in warning
    good = harness.worker.process({0: image_msg(frames[1], 5_100_000_000)})
    assert [stamp_of(r) for r in good] == [5_100_000_000]
    assert stamp_of(harness.next_result()) == 5_100_000_000


def wait_until(condition, what: str) -> None:
    """Poll ``condition`` until it holds (the worker thread gets there on its own time)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.01)


def test_frames_the_runner_fails_on_are_dropped_and_the_worker_goes_on(model, frames):
    harness = Harness(model)
    worker = harness.worker
    assert [stamp_of(r) for r in worker.process({0: image_msg(frames[0], 1_000)})] == [1_000]
    # An invalid setting makes the runner raise on the next frame (as CUDA running out of
    # memory would): that frame is dropped and counted, and the next one is tracked.
    harness.runner.request_overrides(TrackerOverrides(max_age=-5))
    assert worker.process({0: image_msg(frames[1], 2_000)}) == []
    assert harness.stats()[f'rejected.{INFERENCE_ERROR}'] == '1'
    assert len(harness.warnings) == 1
    assert harness.warnings[0].startswith('inference failed, frame dropped: ')
    assert 'max_age' in harness.warnings[0]
    assert [stamp_of(r) for r in worker.process({0: image_msg(frames[2], 3_000)})] == [3_000]
    assert [stamp_of(harness.next_result()) for _ in range(2)] == [1_000, 3_000]
    # The same on the thread: it survives the failure and tracks the next frame.
    worker.start()
    try:
        harness.runner.request_overrides(TrackerOverrides(max_age=-5))
        worker.submit(0, image_msg(frames[3], 4_000))
        wait_until(lambda: harness.stats()[f'rejected.{INFERENCE_ERROR}'] == '2',
                   'the second inference error')
        worker.submit(0, image_msg(frames[0], 5_000))
        assert stamp_of(harness.next_result()) == 5_000
    finally:
        assert worker.stop(WAIT)
    assert harness.stats()['frames_processed'] == '3'


def test_an_error_while_publishing_is_counted_and_the_thread_goes_on(model, frames):
    harness = Harness(model, publish_error=1)
    harness.worker.start()
    try:
        harness.worker.submit(0, image_msg(frames[0], 1_000))
        wait_until(lambda: harness.stats().get(f'rejected.{INTERNAL_ERROR}') == '1',
                   'the internal error')
        harness.worker.submit(0, image_msg(frames[1], 2_000))
        assert stamp_of(harness.next_result()) == 2_000
    finally:
        assert harness.worker.stop(WAIT)
    assert harness.warnings == ['unexpected error on a frame: RuntimeError: publisher gone']


def inference_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_stop_joins_the_thread_and_start_begins_a_new_one(model, frames):
    harness = Harness(model)
    assert harness.worker.stop(WAIT), 'stopping a worker that never started'
    before = len(inference_threads())
    harness.worker.start()
    assert len(inference_threads()) == before + 1
    harness.worker.submit(0, image_msg(frames[0], 1_000))
    assert stamp_of(harness.next_result()) == 1_000
    assert harness.worker.stop(WAIT)
    assert len(inference_threads()) == before, 'the thread was joined'
    harness.worker.start()
    try:
        harness.worker.submit(0, image_msg(frames[2], 3_000))
        assert stamp_of(harness.next_result()) == 3_000, 'a new thread tracks again'
    finally:
        assert harness.worker.stop(WAIT)
    assert harness.published.empty()
