"""Counters, rates and latency percentiles of one camera stream, and log throttling.

The counters are updated from two threads (the subscription callback and the inference
worker) and read by whoever reports them, so all state sits behind one lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable, Optional

import numpy as np

WINDOW = 1000  # latency samples kept for the percentiles (about a minute at 15 Hz)


class StreamStats:
    """Frame counters, rates and latencies of one camera stream."""

    def __init__(self, window: int = WINDOW) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.dropped = 0
        self.lost = 0
        self.processed = 0
        self.debug_images = 0
        self.rejected: Counter[str] = Counter()
        self.resets: Counter[str] = Counter()
        self.last_reset_reason = ''
        self.active_tracks = 0
        self._latency: deque[float] = deque(maxlen=window)
        self._processing: deque[float] = deque(maxlen=window)
        self._rate_mark = (time.monotonic(), 0, 0)

    def count_received(self) -> None:
        """Count a message that arrived on the input topic."""
        with self._lock:
            self.received += 1

    def count_dropped(self) -> None:
        """Count a message replaced by a newer one before it was processed."""
        with self._lock:
            self.dropped += 1

    def count_lost(self, count: int) -> int:
        """Count messages DDS reports lost before they reached the node; returns the total."""
        with self._lock:
            self.lost += count
            return self.lost

    def count_rejected(self, reason: str) -> None:
        """Count a frame dropped because of ``reason`` (a malformed message, an error)."""
        with self._lock:
            self.rejected[reason] += 1

    def count_reset(self, kind: str, reason: str) -> None:
        """Count a reset of the tracks; ``kind`` groups the count, ``reason`` is kept verbatim."""
        with self._lock:
            self.resets[kind] += 1
            self.last_reset_reason = reason

    def count_debug_image(self) -> None:
        """Count a debug image that was rendered and published."""
        with self._lock:
            self.debug_images += 1

    def record_output(self, latency: Optional[float], processing: float,
                      active_tracks: int) -> None:
        """Record a published Detection2DArray.

        Args:
            latency: seconds from the input's header stamp to publication; None when the
                node's clock cannot tell (simulated time before the first /clock message).
            processing: seconds from taking the frame to publication.
            active_tracks: number of detections in it.

        """
        with self._lock:
            self.processed += 1
            self.active_tracks = active_tracks
            if latency is not None:
                self._latency.append(latency)
            self._processing.append(processing)

    def snapshot(self) -> dict[str, str]:
        """Return key/value pairs for a DiagnosticStatus; rates are since the previous call."""
        with self._lock:
            now = time.monotonic()
            mark_time, mark_received, mark_processed = self._rate_mark
            elapsed = max(now - mark_time, 1e-9)
            values = {
                'input_rate_hz': f'{(self.received - mark_received) / elapsed:.2f}',
                'output_rate_hz': f'{(self.processed - mark_processed) / elapsed:.2f}',
                'frames_received': str(self.received),
                'frames_lost_in_transport': str(self.lost),
                'frames_processed': str(self.processed),
                'frames_dropped': str(self.dropped),
                'frames_rejected': str(sum(self.rejected.values())),
                'resets': str(sum(self.resets.values())),
                'last_reset_reason': self.last_reset_reason,
                'active_tracks': str(self.active_tracks),
                'debug_images': str(self.debug_images),
            }
            for reason, count in sorted(self.rejected.items()):
                values[f'rejected.{reason}'] = str(count)
            for kind, count in sorted(self.resets.items()):
                values[f'resets.{kind}'] = str(count)
            for name, samples in (('latency', self._latency), ('processing', self._processing)):
                for label, value in percentiles(samples).items():
                    values[f'{name}_{label}_ms'] = f'{value * 1e3:.1f}'
            self._rate_mark = (now, self.received, self.processed)
            return values


def percentiles(samples: deque[float] | list[float]) -> dict[str, float]:
    """Return p50/p90/p99 of ``samples`` (empty when there are none)."""
    if not samples:
        return {}
    values = np.percentile(np.asarray(samples, dtype=np.float64), (50, 90, 99))
    return {'p50': float(values[0]), 'p90': float(values[1]), 'p99': float(values[2])}


class ReasonThrottle:
    """Rate-limits log messages per reason, reporting how many were suppressed.

    rclpy's own throttling is keyed by the call site, so one ``warn`` for all rejections
    would hide every reason but the first; this keeps one message per reason and period.
    """

    def __init__(self, period: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, reason: str, message: str) -> Optional[str]:
        """Return the message to log now for ``reason`` (with a suppressed count), or None."""
        with self._lock:
            now = self._clock()
            last = self._last.get(reason)
            if last is not None and now - last < self.period:
                self._suppressed[reason] += 1
                return None
            self._last[reason] = now
            suppressed = self._suppressed.pop(reason, 0)
        if suppressed:
            message += f' ({suppressed} more like this in the last {self.period:g} s)'
        return message
