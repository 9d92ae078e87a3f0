"""The inference thread: the newest message of every camera in, published results out.

Subscription callbacks only :meth:`FrameWorker.submit` (a slot per camera that keeps the
newest message); the worker thread takes what is there, decodes it, runs the frames through
the :class:`~centertrack_ros.runtime.runner.FrameRunner` and hands each result to
``publish``. A malformed message, or a frame the network fails on (say CUDA out of memory),
is dropped with a precise, throttled warning and counted; nothing a message can cause stops
the thread.

With several cameras the schedule decides how they share the network:

- ``batch``: every waiting camera's newest frame goes into one network call. A frame that
  arrives during a call waits for that call only, then goes into the next one with whatever
  else is waiting. Where a batch of N costs little more than one frame (a GPU) this gives
  every camera the throughput of one.
- ``interleave``: one camera per network call, the camera that has waited longest first,
  each with its newest frame (an older unprocessed one was dropped when it came). A frame
  waits for the calls in progress and for the cameras that were waiting before it, at most
  one call each: at most one round of the cameras, which costs what one batch of all of them
  would where a batch of N costs N frames (a CPU). Against ``batch`` there, the worker never
  idles while a camera's next frame is on its way, and a camera's frame never waits for
  frames that arrived after it. Where the engine can run the networks of several cameras at
  once (ONNX Runtime on the CPU) the worker has ``lanes`` threads, each taking the next
  camera in that order (never a camera another lane holds): on a small CPU two networks side
  by side get more out of its cores than one network spread over them.
- ``auto``: ``batch`` on CUDA, ``interleave`` elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable, Optional

from .camera_info import Calibrator
from .frames import ConversionError, DecodedImage
from .inbox import LatestFrames
from .runner import Frame, FrameResult, FrameRunner
from .settings import AUTO, BATCH, INTERLEAVE, SCHEDULES, camera_lanes, usable_cores
from .stamps import stamp_ns
from .stats import ReasonThrottle

INFERENCE_ERROR = 'inference_error'
INTERNAL_ERROR = 'internal_error'
NO_CALIBRATION = 'no_calibration'
LOGGED_FRAME_ID = 64  # characters of a rejected frame's frame_id quoted in the log
_LOG = logging.getLogger(__name__)


def describe_header(header: Any) -> str:
    """Return ``stamp S.NNNNNNNNN, frame_id 'F'`` for a log line (long frame ids cut)."""
    frame_id = header.frame_id
    if len(frame_id) > LOGGED_FRAME_ID:
        frame_id = frame_id[:LOGGED_FRAME_ID] + '...'
    return f'stamp {header.stamp.sec}.{header.stamp.nanosec:09d}, frame_id {frame_id!r}'


class FrameWorker:
    """The thread between the subscriptions and the publishers.

    Args:
        runner: tracks the decoded frames.
        decode: turns an image message into BGR pixels (raises ConversionError), e.g.
            :func:`~centertrack_ros.runtime.frames.decode_image` with its options bound.
        publish: publishes one result (called on the worker thread): the only call out of
            the worker per frame.
        clock_ns: the node's clock in nanoseconds, 0 while it cannot tell (simulated time
            before the first /clock); latency is measured from the header stamp on it.
        info: logs a message (tracks reset by the stream rules).
        warn: logs a warning (a frame dropped).
        batch_wait: with the ``batch`` schedule, seconds to wait for the other cameras' frames
            once one has arrived.
        calibrator: for models with 3D heads, the camera matrices of the frames (fed with
            the cameras' ``CameraInfo`` messages by whoever receives them).
        schedule: ``batch``, ``interleave`` or ``auto`` (see the module doc); ``schedule``
            holds the resolved one.
        lanes: with ``interleave``, how many frames of distinct cameras may be processed at
            once; 0 = as many as the CPU has cores, at most the cameras. Only where the
            engine can (see :func:`resolve_lanes`); ``lanes`` holds the resolved number.

    """

    def __init__(self, runner: FrameRunner, decode: Callable[[Any], DecodedImage],
                 publish: Callable[[FrameResult], None], clock_ns: Callable[[], int],
                 info: Callable[[str], object], warn: Callable[[str], object],
                 batch_wait: float = 0.0, calibrator: Optional[Calibrator] = None,
                 schedule: str = AUTO, lanes: int = 0) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f'schedule must be one of {SCHEDULES}, got {schedule!r}')
        self.runner = runner
        self.schedule = resolve_schedule(schedule, runner)
        self.lanes = resolve_lanes(lanes, self.schedule, runner)
        if self.lanes > 1:
            runner.allow_concurrent_calls()
        self._decode = decode
        self.calibrator = calibrator
        self._publish = publish
        self._clock_ns = clock_ns
        self._info = info
        self._warn = warn
        self.batch_wait = batch_wait
        self._inbox = LatestFrames(len(runner.cameras))
        self._throttle = ReasonThrottle(period=5.0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def submit(self, camera: int, msg: Any) -> None:
        """Hand over a camera's newest message (never blocks; any thread).

        Also records how long after its stamp it came, and whether the worker was ready for
        it (see :meth:`~centertrack_ros.runtime.stats.StreamStats.record_arrival`).
        """
        stats = self.runner.stats[camera]
        stats.count_received()
        now = self._clock_ns()
        ready = not self._inbox.busy(camera)
        replaced = self._inbox.put(camera, msg)
        if replaced:
            stats.count_dropped()
        delay = (now - stamp_ns(msg.header.stamp)) / 1e9 if now else None
        stats.record_arrival(delay, waiting=ready and not replaced)

    def start(self) -> None:
        """Start the thread(s), one per lane (after :meth:`stop`, new ones)."""
        self._stop.clear()
        self._inbox.open()
        if len(self.runner.cameras) > 1:
            self._info(f'{len(self.runner.cameras)} cameras: {self.describe_schedule()}')
        self._threads = [threading.Thread(target=self._loop, daemon=True,
                                          name='centertrack-inference' + (f'-{i + 1}' if i else ''))
                         for i in range(self.lanes)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop the threads after the frames in hand; False if one is still busy at ``timeout``."""
        self._stop.set()
        self._inbox.close()
        threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def reject(self, camera: int, reason: str, message: str) -> None:
        """Count a dropped frame of ``camera`` and log why (throttled per reason)."""
        self.runner.stats[camera].count_rejected(reason)
        text = self._throttle(reason, self._prefix(camera) + message)
        if text is not None:
            self._warn(text)

    def _calibrate(self, camera: int, stamp: int, image: Any) -> Any:
        if self.calibrator is None:
            return None
        calib, problem = self.calibrator.calibrate(camera, stamp, image.shape[1], image.shape[0])
        if problem is not None:
            text = self._throttle(f'{NO_CALIBRATION}.{camera}.{problem}', problem)
            if text is not None:
                self._warn(text)
        return calib

    def _prefix(self, camera: int) -> str:
        return f'{self.runner.cameras[camera]}: ' if len(self.runner.cameras) > 1 else ''

    def describe_schedule(self) -> str:
        """Say how the cameras share the network, e.g. ``interleave schedule, 2 lanes``."""
        text = f'{self.schedule} schedule'
        if self.schedule == INTERLEAVE:
            text += f', {self.lanes} lane{"s" * (self.lanes > 1)}'
        elif self.batch_wait:
            text += f', waiting up to {self.batch_wait * 1e3:g} ms for the others'
        return text

    def take(self, timeout: Optional[float] = None) -> dict[int, Any]:
        """Take the messages of the next network call, as the schedule says (worker thread).

        ``{camera: newest message}`` in the order the cameras started waiting; empty when
        nothing came within ``timeout`` or the worker is stopping.
        """
        if self.schedule == INTERLEAVE:
            return self._inbox.take(timeout=timeout, limit=1)
        return self._inbox.take(timeout=timeout, wait=self.batch_wait)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.serve(timeout=0.5)

    def serve(self, timeout: Optional[float] = None) -> list[FrameResult]:
        """Take the next messages as the schedule says, then track and publish them.

        What each lane's thread does over and over; returns the published results (none when
        nothing came within ``timeout``). An unexpected error drops the frames, counted.
        """
        messages = self.take(timeout)
        if not messages:
            return []
        try:
            return self.process(messages)
        except Exception as exc:  # the worker must survive anything a frame can cause
            if not self._stop.is_set():  # shutting down: publishing fails, nothing to report
                for camera in messages:
                    self.reject(camera, INTERNAL_ERROR, f'unexpected error on a frame: '
                                                        f'{type(exc).__name__}: {exc}')
                _LOG.debug(traceback.format_exc())
            return []
        finally:
            self._inbox.done(messages)

    def process(self, messages: dict[int, Any]) -> list[FrameResult]:
        """Decode, track and publish one message per camera; returns the published results."""
        started = time.monotonic()
        frames = []
        for camera, msg in messages.items():
            try:
                decoded = self._decode(msg)
            except ConversionError as exc:
                self.reject(camera, exc.reason,
                            f'rejected frame ({describe_header(msg.header)}): {exc}')
                continue
            stamp = stamp_ns(msg.header.stamp)
            frames.append(Frame(camera, decoded.image, stamp, decoded.source, msg.header,
                                self._calibrate(camera, stamp, decoded.image)))
        if not frames:
            return []
        try:
            results = self.runner.run(frames)
        except Exception as exc:  # e.g. CUDA out of memory: drop these frames, keep going
            for frame in frames:
                self.reject(frame.camera, INFERENCE_ERROR, f'inference failed, frame dropped: '
                                                           f'{type(exc).__name__}: {exc}')
            self.runner.release_cached_memory()
            return []
        for result in results:
            if result.reset is not None:
                self._info(f'{self._prefix(result.camera)}tracks reset: {result.reset.reason}')
            self._publish(result)
            now = self._clock_ns()
            self.runner.stats[result.camera].record_output(
                (now - result.frame.stamp_ns) / 1e9 if now else None,
                time.monotonic() - started, len(result.boxes))
        return results


def resolve_schedule(schedule: str, runner: FrameRunner) -> str:
    """Return the schedule ``auto`` stands for on the runner's device: batch on CUDA only.

    On a CPU a batch of N frames costs about N frames (measured: 2-core x86_64, bundled
    model), so batching saves nothing there and only makes frames wait for each other.
    """
    if schedule != AUTO:
        return schedule
    device = getattr(runner.tracker, 'device', None)
    return BATCH if getattr(device, 'type', 'cpu') == 'cuda' else INTERLEAVE


def resolve_lanes(lanes: int, schedule: str, runner: FrameRunner) -> int:
    """Return how many frames of distinct cameras the worker processes at once.

    One, unless the schedule interleaves several cameras on an engine whose network calls may
    run side by side (ONNX Runtime on the CPU; the torch engines share device buffers): then
    ``lanes``, 0 meaning one per CPU core, never more than the cameras.
    """
    if schedule != INTERLEAVE or not runs_cameras_at_once(runner.tracker.engine):
        return 1
    return camera_lanes(lanes, len(runner.cameras), usable_cores())


def runs_cameras_at_once(engine: Any) -> bool:
    """Whether ``engine.run`` may be called from several threads for distinct cameras.

    ONNX Runtime's sessions may run concurrently and its engine keeps only per-camera state;
    on the CPU provider nothing else is shared (GPU providers are left to ``batch``).
    """
    return getattr(engine, 'provider', None) == 'CPUExecutionProvider'
