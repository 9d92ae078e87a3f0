"""How several cameras share the network: the order of service, never the timings.

``interleave`` (the CPU's schedule): one camera per network call, the camera that has waited
longest first, with its newest frame, so a frame waits at most for the call in progress and one
call per camera that was waiting before it. ``batch`` (CUDA's): every waiting camera in one
call, so a frame waits at most for the batch in progress. The inbox is checked on its own
(every interleaving of arrivals and takes, with hypothesis) and the worker with a real
runner and model on the CPU.
"""

from __future__ import annotations

import queue

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.runtime_inputs import small_frames

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.runtime.frames import decode_image
from centertrack_ros.runtime.inbox import LatestFrames
from centertrack_ros.runtime.runner import FrameResult, FrameRunner
from centertrack_ros.runtime.settings import BATCH, INTERLEAVE
from centertrack_ros.runtime.stats import DELAY_BASELINE
from centertrack_ros.runtime.worker import FrameWorker
from centertrack_ros.tools.harness import image_msg

CAMERAS = ('front', 'left', 'right')
WAIT = 60.0  # seconds a test waits for the worker thread; never reached when it works
SECOND = 1_000_000_000


def test_interleave_takes_the_camera_waiting_longest_with_its_newest_frame():
    inbox = LatestFrames(3)
    for camera, item in ((0, 'a1'), (1, 'b1'), (2, 'c1')):
        inbox.put(camera, item)
    assert inbox.take(timeout=0, limit=1) == {0: 'a1'}
    inbox.put(0, 'a2')  # front's next frame, while left and right still wait
    assert inbox.put(1, 'b2') is True  # replaces b1 (dropped), keeps left's place
    inbox.done([0])
    assert inbox.waiting() == [1, 2, 0]
    served = []
    for _ in range(4):
        taken = inbox.take(timeout=0, limit=1)
        inbox.done(taken)
        served.append(taken)
    assert served == [{1: 'b2'}, {2: 'c1'}, {0: 'a2'}, {}]


def test_batch_takes_every_waiting_camera_in_the_order_they_came():
    inbox = LatestFrames(3)
    inbox.put(1, 'b1')
    assert inbox.take(timeout=0) == {1: 'b1'}  # the batch in progress: left alone
    for camera, item in ((2, 'c1'), (0, 'a1'), (1, 'b2')):  # arrive during it
        inbox.put(camera, item)
    inbox.done([1])
    taken = inbox.take(timeout=0)
    assert taken == {2: 'c1', 0: 'a1', 1: 'b2'} and list(taken) == [2, 0, 1]
    assert inbox.take(timeout=0) == {}


@given(st.lists(st.one_of(st.integers(0, 3), st.just('take')), max_size=60))
def test_no_frame_waits_for_a_camera_that_started_waiting_after_it(operations):
    """Any arrivals and interleaved takes: each take serves the longest-waiting camera.

    So a camera that starts waiting is served within the number of cameras already waiting
    plus one takes, and it is always served its newest frame.
    """
    inbox = LatestFrames(4)
    since: dict[int, int] = {}  # camera -> operation index when it started waiting
    newest: dict[int, tuple[int, int]] = {}
    ahead: dict[int, int] = {}  # camera -> cameras waiting before it when it started
    served_after: dict[int, int] = {}  # camera -> takes since it started waiting
    for index, operation in enumerate(operations):
        if operation == 'take':
            taken = inbox.take(timeout=0, limit=1)
            inbox.done(taken)
            if not since:
                assert taken == {}
                continue
            (camera, item), = taken.items()
            assert camera == min(since, key=since.get)
            assert item == newest[camera]
            assert served_after[camera] <= ahead[camera]
            del since[camera]
            for other in since:
                served_after[other] += 1
        else:
            if operation not in since:
                since[operation] = index
                ahead[operation] = len(since) - 1
                served_after[operation] = 0
            newest[operation] = (operation, index)
            inbox.put(operation, newest[operation])


@pytest.fixture(scope='module')
def frames():
    return small_frames(seed=3, count=3)


def worker_for(model, schedule: str, clock_ns=lambda: 0) -> tuple[FrameWorker, queue.Queue]:
    """Return a worker over a three-camera runner, and the queue its results go to."""
    runner = FrameRunner(model.tracker(num_cameras=len(CAMERAS)), CAMERAS)
    published: queue.Queue[FrameResult] = queue.Queue()
    worker = FrameWorker(runner, lambda msg: decode_image(msg, compressed=False),
                         published.put, clock_ns=clock_ns, info=lambda text: None,
                         warn=lambda text: None, schedule=schedule)
    return worker, published


@pytest.mark.parametrize(('schedule', 'calls'), [(INTERLEAVE, 3), (BATCH, 1)])
def test_the_worker_runs_the_waiting_cameras_as_its_schedule_says(model, frames, schedule,
                                                                   calls):
    worker, published = worker_for(model, schedule)
    for camera in (2, 0, 1):  # before the thread runs: all three wait
        worker.submit(camera, image_msg(frames[camera], SECOND + camera))
    worker.start()
    try:
        results = [published.get(timeout=WAIT) for _ in CAMERAS]
    finally:
        assert worker.stop(WAIT)
    assert [r.camera for r in results] == [2, 0, 1]  # the order they came in
    assert worker.runner.tracker.frames_processed == calls  # network calls
    assert all(worker.runner.stats[c].snapshot()['frames_processed'] == '1' for c in range(3))


def test_auto_batches_on_cuda_only(model):
    assert worker_for(model, 'auto')[0].schedule == INTERLEAVE  # this runner is on the CPU
    assert worker_for(model, BATCH)[0].schedule == BATCH
    with pytest.raises(ValueError, match='schedule must be one of'):
        worker_for(model, 'fifo')


def test_a_frame_that_arrives_seconds_late_while_the_worker_waits_is_counted(model, frames):
    """Stamps 20 ms old on arrival, then one 3 s old: held up in transport, told once."""
    now = [100 * SECOND]
    worker, _ = worker_for(model, INTERLEAVE, clock_ns=lambda: now[0])
    stats = worker.runner.stats[0]
    for index in range(DELAY_BASELINE):
        now[0] += SECOND // 10
        worker.submit(0, image_msg(frames[0], now[0] - 20_000_000))
        assert len(worker.serve(timeout=0)) == 1  # tracked: the worker waits for the next
    now[0] += SECOND // 10
    worker.submit(0, image_msg(frames[0], now[0] - 3 * SECOND))
    values = stats.snapshot()
    assert values['frames_delivered_late'] == '1'
    assert 'net.core.rmem_max' in values['transport_note']
    notices = stats.take_notices()
    assert len(notices) == 1 and '3.0 s later than' in notices[0]
    assert stats.take_notices() == []  # once
    # The same delay for a frame that replaces one still waiting: the worker was busy, so
    # nothing can be said about the transport.
    worker.submit(0, image_msg(frames[0], now[0] - 3 * SECOND))
    assert stats.snapshot()['frames_delivered_late'] == '1'


# ------------------------------------------------------------------ lanes (onnxruntime, CPU)
@pytest.fixture(scope='module')
def onnx_tracker_factory(tmp_path_factory):
    """Make three-camera trackers on ONNX Runtime (CPU) running a small hand-made graph."""
    from support.tiny_onnx import write_tiny_onnx

    from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig
    from centertrack_ros.core.pipeline import MultiCameraTracker
    config = CenterTrackConfig(model=ModelConfig(num_classes=2, class_names=('car', 'person')),
                               input=InputConfig(width=96, height=64),
                               runtime=RuntimeConfig(device='cpu', engine='onnxruntime'))
    path = write_tiny_onnx(tmp_path_factory.mktemp('onnx') / 'tiny.onnx', config,
                           config.describe(), seed=3)
    return lambda: MultiCameraTracker(None, config, num_cameras=len(CAMERAS),
                                      engine='onnxruntime', onnx_path=path, shared_ids=True)


class NetworkWatch:
    """Wraps an engine's ``run`` (as the runner sees it) to record who is inside the network.

    ``hold`` makes the call for that camera wait for ``release``; ``meet`` makes the first two
    calls wait for each other (a barrier: they must be inside the network at once).
    """

    def __init__(self, engine, meet: bool = False) -> None:
        import threading
        self.events: list[tuple[str, int]] = []
        self.inside: set[int] = set()
        self.overlap = False
        self.hold: dict[int, threading.Event] = {}
        self.entered = {camera: threading.Event() for camera in range(len(CAMERAS))}
        self._barrier = threading.Barrier(2, timeout=WAIT) if meet else None
        self._lock = threading.Lock()
        self._run = engine.run
        engine.run = self

    def __call__(self, requests):
        (camera,) = [i for i, r in enumerate(requests) if r is not None]
        with self._lock:
            assert camera not in self.inside, f'two frames of camera {camera} at once'
            self.inside.add(camera)
            self.overlap |= len(self.inside) > 1
            self.events.append(('enter', camera))
        self.entered[camera].set()
        if camera in self.hold:
            assert self.hold[camera].wait(WAIT)
        if self._barrier is not None:
            self._barrier.wait()
            self._barrier = None
        try:
            return self._run(requests)
        finally:
            with self._lock:
                self.inside.discard(camera)
                self.events.append(('exit', camera))


def test_lanes_run_networks_of_different_cameras_at_once_never_one_camera_twice(
        onnx_tracker_factory, frames):
    runner = FrameRunner(onnx_tracker_factory(), CAMERAS)
    watch = NetworkWatch(runner.tracker.engine, meet=True)  # the network, inside the runner
    published: queue.Queue[FrameResult] = queue.Queue()
    worker = FrameWorker(runner, lambda msg: decode_image(msg, compressed=False), published.put,
                         clock_ns=lambda: 0, info=lambda text: None, warn=lambda text: None,
                         schedule='auto', lanes=2)
    assert (worker.schedule, worker.lanes) == (INTERLEAVE, 2)
    worker.start()
    try:
        rounds = 4
        stamps = {camera: [] for camera in range(3)}
        for index in range(rounds):
            for camera in range(3):
                stamp = SECOND * (index + 1) + camera
                stamps[camera].append(stamp)
                worker.submit(camera, image_msg(frames[camera], stamp))
            results = [published.get(timeout=WAIT) for _ in range(3)]
            assert sorted(r.camera for r in results) == [0, 1, 2]
    finally:
        assert worker.stop(WAIT)
    assert watch.overlap, 'two lanes were inside the network at once'
    ids = [int(d.track_id) for r in results for d in r.boxes]
    assert len(ids) == len(set(ids)), 'track ids stay unique across cameras'


def test_a_requested_reset_waits_until_no_network_call_is_in_flight(onnx_tracker_factory,
                                                                    frames):
    import threading
    runner = FrameRunner(onnx_tracker_factory(), CAMERAS)
    watch = NetworkWatch(runner.tracker.engine)  # the network, inside the runner
    runner.allow_concurrent_calls()
    watch.hold[0] = threading.Event()
    frame = {c: FrameRunnerFrame(c, frames[c], SECOND + c) for c in range(3)}
    first = threading.Thread(target=runner.run, args=([frame[0]],))
    first.start()
    assert watch.entered[0].wait(WAIT)  # camera 0 is inside the network
    second = threading.Thread(target=runner.run, args=([frame[1]],))
    second.start()
    assert watch.entered[1].wait(WAIT), 'nothing pending: camera 1 runs beside camera 0'
    runner.request_reset(2, reason='test')
    third = threading.Thread(target=runner.run, args=([frame[2]],))
    third.start()
    third.join(0.3)
    assert not watch.entered[2].is_set(), 'the reset waits for the calls in flight'
    watch.hold[0].set()
    for thread in (first, second, third):
        thread.join(WAIT)
    assert watch.events.index(('enter', 2)) > max(watch.events.index(('exit', 0)),
                                                  watch.events.index(('exit', 1)))


def FrameRunnerFrame(camera, image, stamp):  # noqa: N802 (reads like the class it builds)
    from centertrack_ros.runtime.runner import Frame
    return Frame(camera, image, stamp, ('bgr8', image.shape))


@pytest.mark.parametrize(('cores', 'cameras', 'setting', 'lanes', 'threads'), [
    (2, 3, 0, 2, 1), (8, 3, 0, 3, 2), (16, 2, 0, 2, 8), (2, 3, 1, 1, 0), (2, 1, 0, 1, 0)])
def test_lanes_share_the_cores_when_threads_is_left_at_its_default(monkeypatch, cores, cameras,
                                                                   setting, lanes, threads):
    from centertrack_ros.runtime import settings
    monkeypatch.setattr(settings, 'usable_cores', lambda: cores)
    assert settings.camera_lanes(setting, cameras, cores) == lanes
    values = dict(settings.defaults(), device='cpu', camera_lanes=setting,
                  cameras=[f'c{i}' for i in range(cameras)] if cameras > 1 else None)
    assert settings.network_threads(values) == threads
    assert settings.runtime_config(values).threads == threads
    for other in ({'threads': 3}, {'camera_schedule': BATCH}, {'engine': 'torch'}):
        assert settings.network_threads(dict(values, **other)) == other.get('threads', 0)
