"""Header stamps (``builtin_interfaces/Time``: ``sec``, ``nanosec``) as integer nanoseconds."""

from __future__ import annotations

from typing import Any

NS_PER_SECOND = 1_000_000_000


def stamp_ns(stamp: Any) -> int:
    """Return a ``builtin_interfaces/Time`` (rclpy's or rosbags') in nanoseconds."""
    return int(stamp.sec) * NS_PER_SECOND + int(stamp.nanosec)


def set_stamp(stamp: Any, nanoseconds: int) -> None:
    """Set a ``builtin_interfaces/Time`` in place from nanoseconds."""
    stamp.sec, stamp.nanosec = divmod(int(nanoseconds), NS_PER_SECOND)
