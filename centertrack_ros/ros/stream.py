"""Input-stream plumbing of the node, free of ROS: the latest-frame slot and reset triggers."""

from __future__ import annotations

import threading
from typing import Any, Hashable, Optional

FORMAT_CHANGE = 'format_change'
TIME_JUMP = 'time_jump'
FRAME_GAP = 'frame_gap'


class LatestSlot:
    """A one-element buffer between the subscription callback and the inference thread.

    ``put`` never blocks and replaces an unprocessed item (counted in ``dropped``), so the
    worker always processes the newest frame and a slow model never builds a queue of stale
    frames.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Optional[Any] = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; returns True when it replaced one that was never processed."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Optional[Any]:
        """Remove and return the newest item, waiting up to ``timeout`` s; None if none came.

        Returns None at once after :meth:`close`.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake up and release any waiting :meth:`take`; later takes return None at once."""
        with self._cond:
            self._closed = True
            self._item = None
            self._cond.notify_all()

    def open(self) -> None:
        """Accept items again after :meth:`close`."""
        with self._cond:
            self._closed = False


class StreamWatch:
    """Decides when the tracker state no longer fits the incoming stream.

    The previous frame is meaningless to CenterTrack after a jump back in time (a rosbag that
    loops), after a gap longer than ``max_gap`` seconds (0 = never), and when the image size
    or encoding changes (another camera or a reconfigured driver). Equal stamps continue.
    """

    def __init__(self) -> None:
        self._last_stamp: Optional[int] = None
        self._last_source: Optional[Hashable] = None

    def check(self, stamp_ns: int, source: Hashable,
              max_gap: float) -> Optional[tuple[str, str]]:
        """Record a frame; returns ``(kind, reason)`` when the tracks must be reset first.

        ``kind`` is ``format_change``, ``time_jump`` or ``frame_gap`` (the diagnostics count
        resets per kind); ``reason`` says what happened, with the numbers.

        Args:
            stamp_ns: the frame's header stamp in nanoseconds.
            source: what identifies the stream format (e.g. ``(width, height, encoding)``).
            max_gap: the largest stamp difference in seconds that continues; 0 = unlimited.

        """
        last_stamp, last_source = self._last_stamp, self._last_source
        self._last_stamp, self._last_source = stamp_ns, source
        if last_stamp is None:
            return None
        if source != last_source:
            return FORMAT_CHANGE, (f'image format changed from {_describe(last_source)} to '
                                   f'{_describe(source)}')
        if stamp_ns < last_stamp:
            return TIME_JUMP, f'stamp jumped back by {(last_stamp - stamp_ns) / 1e9:.3f} s'
        gap = (stamp_ns - last_stamp) / 1e9
        if max_gap > 0 and gap > max_gap:
            return FRAME_GAP, (f'gap of {gap:.3f} s between frames exceeds max_frame_gap '
                               f'{max_gap:g} s')
        return None

    def forget(self) -> None:
        """Start over: the next frame is compared with nothing."""
        self._last_stamp = None
        self._last_source = None


def _describe(source: Any) -> str:
    if isinstance(source, tuple):
        return ' '.join(str(part) for part in source)
    return str(source)
