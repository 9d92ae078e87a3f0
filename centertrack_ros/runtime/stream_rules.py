"""When a camera's tracks no longer fit its stream: the stream-time rules, free of ROS.

The previous frame is meaningless to CenterTrack after a jump back in time (a rosbag that
loops), after a gap longer than ``max_gap`` seconds (0 = never), and when the image size or
encoding changes (another camera or a reconfigured driver). Equal stamps continue.
"""

from __future__ import annotations

from typing import Any, Hashable, NamedTuple, Optional

FORMAT_CHANGE = 'format_change'
TIME_JUMP = 'time_jump'
FRAME_GAP = 'frame_gap'


class StreamReset(NamedTuple):
    """Why a camera's tracks were reset before a frame: ``kind`` counts, ``reason`` explains."""

    kind: str
    reason: str


class StreamRules:
    """Remembers one camera's last stamp and format and applies the rules to the next frame."""

    def __init__(self) -> None:
        self._last_stamp: Optional[int] = None
        self._last_source: Optional[Hashable] = None

    def check(self, stamp_ns: int, source: Hashable, max_gap: float) -> Optional[StreamReset]:
        """Record a frame; returns why the tracks must be reset before it, or None.

        Args:
            stamp_ns: the frame's header stamp in nanoseconds.
            source: what identifies the stream format (e.g. ``(size, encoding)``).
            max_gap: the largest stamp difference in seconds that continues; 0 = unlimited.

        """
        last_stamp, last_source = self._last_stamp, self._last_source
        self._last_stamp, self._last_source = stamp_ns, source
        if last_stamp is None:
            return None
        if source != last_source:
            return StreamReset(FORMAT_CHANGE, f'image format changed from '
                                              f'{_describe(last_source)} to {_describe(source)}')
        if stamp_ns < last_stamp:
            return StreamReset(TIME_JUMP,
                               f'stamp jumped back by {(last_stamp - stamp_ns) / 1e9:.3f} s')
        gap = (stamp_ns - last_stamp) / 1e9
        if max_gap > 0 and gap > max_gap:
            return StreamReset(FRAME_GAP, f'gap of {gap:.3f} s between frames exceeds '
                                          f'max_frame_gap {max_gap:g} s')
        return None

    def forget(self) -> None:
        """Start over: the next frame is compared with nothing."""
        self._last_stamp = None
        self._last_source = None


def _describe(source: Any) -> str:
    if isinstance(source, tuple):
        return ' '.join(str(part) for part in source)
    return str(source)
