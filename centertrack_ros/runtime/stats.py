"""Counters, rates and latency percentiles of one camera stream, and log throttling.

The counters are updated from two threads (the subscription callback and the inference
worker) and read by whoever reports them, so all state sits behind one lock.

Besides what the node did with its frames, a stream's statistics tell how they were delivered:
frames that DDS reports lost on the way, and frames that reached the node seconds later than
the stream's frames usually do while the node was ready for them (:meth:`StreamStats.
record_arrival`): a large reliable frame whose lost UDP fragment waited for the publisher's
next heartbeat. Either is told once in the log and shown in the diagnostics with the fix.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable, Optional

import numpy as np

from .dds_profile import transport_advice

WINDOW = 1000  # latency samples kept for the percentiles (about a minute at 15 Hz)
LATE_S = 1.0
"""A frame that reaches the node this much later than the stream's usual delivery delay, while
the node was waiting for it, was held up in transport (no processing delay is in that figure).
"""
DELAY_BASELINE = 9  # arrivals the usual delivery delay (their median) is taken over, at least
STAMP_OFFSET_S = 10.0
"""A latency beyond this, either way, is no processing delay: the frames' stamps and the node's
clock disagree (a bag replayed without ``/clock`` and ``use_sim_time``, unsynchronised
clocks)."""


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
        self._stamp_offset: Optional[float] = None  # the last latency beyond STAMP_OFFSET_S
        self._stamp_offset_told = False
        self.late = 0  # frames delivered LATE_S later than usual while the node waited
        self.worst_late = 0.0  # seconds beyond the usual delay, of the latest of them
        self._delays: deque[float] = deque(maxlen=window)
        self._transport_told = False
        self._rate_mark = (time.monotonic(), 0, 0)

    def count_received(self) -> None:
        """Count a message that arrived on the input topic."""
        with self._lock:
            self.received += 1

    def record_arrival(self, delay: Optional[float], waiting: bool) -> bool:
        """Record how long after its stamp a frame reached the node; True if it came late.

        Args:
            delay: seconds from the frame's header stamp to its arrival, on the node's clock;
                None when the clock cannot tell.
            waiting: whether the node was ready for the stream's next frame (none of its
                frames waiting or in processing), so that nothing in the node held it up.

        A frame is late when ``delay`` exceeds the median of the stream's earlier delays (at
        least :data:`DELAY_BASELINE` of them; a constant clock offset cancels out) by more than
        :data:`LATE_S`. Delays beyond :data:`STAMP_OFFSET_S` either way say the clocks
        disagree and are left out.
        """
        if delay is None or abs(delay) > STAMP_OFFSET_S:
            return False
        with self._lock:
            late = False
            if waiting and len(self._delays) >= DELAY_BASELINE:
                beyond = delay - float(np.median(np.asarray(self._delays)))
                if beyond > LATE_S:
                    late = True
                    self.late += 1
                    self.worst_late = beyond
            if not late:  # the usual delay: stalls must not raise it
                self._delays.append(delay)
            return late

    def take_notices(self) -> list[str]:
        """Return what the log must tell once: stamps off the clock, frames delivered late.

        Each is returned the first time it applies (see :meth:`take_stamp_offset_notice` and
        :meth:`record_arrival`); later calls leave it out.
        """
        notices = []
        stamp = self.take_stamp_offset_notice()
        if stamp is not None:
            notices.append(stamp)
        with self._lock:
            if self.late and not self._transport_told:
                self._transport_told = True
                notices.append(late_delivery_notice(self.late, self.worst_late))
        return notices

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
                self._stamp_offset = latency if abs(latency) > STAMP_OFFSET_S else None
            self._processing.append(processing)

    def take_stamp_offset_notice(self) -> Optional[str]:
        """Return, once, why the latency is meaningless when stamps and clock disagree.

        None until an output's latency exceeded :data:`STAMP_OFFSET_S` (either way), and after
        the notice was taken once.
        """
        with self._lock:
            if self._stamp_offset is None or self._stamp_offset_told:
                return None
            self._stamp_offset_told = True
            return stamp_offset_notice(self._stamp_offset)

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
                'frames_delivered_late': str(self.late),
                'frames_processed': str(self.processed),
                'frames_dropped': str(self.dropped),
                'frames_rejected': str(sum(self.rejected.values())),
                'resets': str(sum(self.resets.values())),
                'last_reset_reason': self.last_reset_reason,
                'active_tracks': str(self.active_tracks),
                'debug_images': str(self.debug_images),
            }
            if self._stamp_offset is not None:
                values['latency_note'] = stamp_offset_notice(self._stamp_offset)
            if self.late or self.lost:
                values['transport_note'] = transport_note(self.late, self.worst_late, self.lost)
            for reason, count in sorted(self.rejected.items()):
                values[f'rejected.{reason}'] = str(count)
            for kind, count in sorted(self.resets.items()):
                values[f'resets.{kind}'] = str(count)
            for name, samples in (('latency', self._latency), ('processing', self._processing)):
                for label, value in percentiles(samples).items():
                    values[f'{name}_{label}_ms'] = f'{value * 1e3:.1f}'
            self._rate_mark = (now, self.received, self.processed)
            return values


def stamp_offset_notice(latency: float) -> str:
    """Explain a latency of ``latency`` seconds that stamps and clock disagreeing cause."""
    if latency > 0:
        return (f'frame stamps are {latency:,.1f} s behind this node\'s clock, so latency_* '
                'measures that offset: a replayed bag without simulated time (play it with '
                '`centertrack_bag play --clock` and run the node with use_sim_time:=true) or a '
                'camera whose clock is not synchronised with this machine\'s')
    return (f'frame stamps are {-latency:,.1f} s ahead of this node\'s clock, so latency_* '
            'measures that offset: a camera whose clock is not synchronised with this '
            'machine\'s, or a node on simulated time whose /clock lags the stamps')


def late_delivery_notice(count: int, beyond: float) -> str:
    """Explain frames that reached the node ``beyond`` seconds later than usual."""
    return (f'{count} image message(s) reached this node {beyond:.1f} s later than the stream\'s '
            'frames usually do, while it was waiting for them: large frames held up in transport '
            '(a reliable frame split into UDP fragments waits for the publisher\'s next '
            'heartbeat when one fragment is lost). ' + transport_advice())


def transport_note(late: int, beyond: float, lost: int) -> str:
    """Return the diagnostics' summary of delivery problems and their fix."""
    parts = []
    if late:
        parts.append(f'{late} frame(s) delivered late (the latest {beyond:.1f} s beyond the '
                     'usual delay)')
    if lost:
        parts.append(f'{lost} frame(s) lost in transport')
    return '; '.join(parts) + '. ' + transport_advice()


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
