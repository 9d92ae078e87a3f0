"""The inference thread: the newest message of every camera in, published results out.

Subscription callbacks only :meth:`FrameWorker.submit` (a slot per camera that keeps the
newest message); the worker thread takes what is there, decodes it, runs the frames of all
cameras through the :class:`~centertrack_ros.runtime.runner.FrameRunner` in one call and hands
each result to ``publish``. A malformed message, or a frame the network fails on (say CUDA
out of memory), is dropped with a precise, throttled warning and counted; nothing a message
can cause stops the thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable, Optional

from .frames import ConversionError, DecodedImage
from .inbox import LatestFrames
from .runner import Frame, FrameResult, FrameRunner
from .stamps import stamp_ns
from .stats import ReasonThrottle

INFERENCE_ERROR = 'inference_error'
INTERNAL_ERROR = 'internal_error'
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
        decode: turns a camera's message into BGR pixels (raises ConversionError).
        publish: publishes one result (called on the worker thread).
        clock_ns: the node's clock in nanoseconds, 0 while it cannot tell (simulated time
            before the first /clock); latency is measured from the header stamp on it.
        info: logs a message (tracks reset by the stream rules).
        warn: logs a warning (a frame dropped).
        batch_wait: seconds to wait for the other cameras' frames once one has arrived.
        calibrate: for models with 3D heads, the camera matrix P of a camera's frame (given
            its header and pixels), or None when there is none to be had.

    """

    def __init__(self, runner: FrameRunner, decode: Callable[[int, Any], DecodedImage],
                 publish: Callable[[FrameResult], None], clock_ns: Callable[[], int],
                 info: Callable[[str], None], warn: Callable[[str], None],
                 batch_wait: float = 0.0,
                 calibrate: Optional[Callable[[int, Any, Any], Any]] = None) -> None:
        self.runner = runner
        self._decode = decode
        self._calibrate = calibrate
        self._publish = publish
        self._clock_ns = clock_ns
        self._info = info
        self._warn = warn
        self.batch_wait = batch_wait
        self._inbox = LatestFrames(len(runner.cameras))
        self._throttle = ReasonThrottle(period=5.0)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def submit(self, camera: int, msg: Any) -> None:
        """Hand over a camera's newest message (never blocks; any thread)."""
        stats = self.runner.stats[camera]
        stats.count_received()
        if self._inbox.put(camera, msg):
            stats.count_dropped()

    def start(self) -> None:
        """Start the thread (after :meth:`stop`, a new one)."""
        self._stop.clear()
        self._inbox.open()
        self._thread = threading.Thread(target=self._loop, name='centertrack-inference',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop the thread after the frame in hand; False when it is still busy at ``timeout``."""
        self._stop.set()
        self._inbox.close()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def reject(self, camera: int, reason: str, message: str) -> None:
        """Count a dropped frame of ``camera`` and log why (throttled per reason)."""
        self.runner.stats[camera].count_rejected(reason)
        text = self._throttle(reason, self._prefix(camera) + message)
        if text is not None:
            self._warn(text)

    def _prefix(self, camera: int) -> str:
        return f'{self.runner.cameras[camera]}: ' if len(self.runner.cameras) > 1 else ''

    def _loop(self) -> None:
        while not self._stop.is_set():
            messages = self._inbox.take(timeout=0.5, wait=self.batch_wait)
            if not messages:
                continue
            try:
                self.process(messages)
            except Exception as exc:  # the worker must survive anything a frame can cause
                if self._stop.is_set():
                    return  # shutting down: publishing fails, nothing to report
                for camera in messages:
                    self.reject(camera, INTERNAL_ERROR, f'unexpected error on a frame: '
                                                        f'{type(exc).__name__}: {exc}')
                _LOG.debug(traceback.format_exc())

    def process(self, messages: dict[int, Any]) -> list[FrameResult]:
        """Decode, track and publish one message per camera; returns the published results."""
        started = time.monotonic()
        frames = []
        for camera, msg in messages.items():
            try:
                decoded = self._decode(camera, msg)
            except ConversionError as exc:
                self.reject(camera, exc.reason,
                            f'rejected frame ({describe_header(msg.header)}): {exc}')
                continue
            calib = None if self._calibrate is None else \
                self._calibrate(camera, msg.header, decoded.image)
            frames.append(Frame(camera, decoded.image, stamp_ns(msg.header.stamp),
                                decoded.source, msg.header, calib))
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
