"""Header stamps (``builtin_interfaces/Time``: ``sec``, ``nanosec``) as integer nanoseconds.

The one place where stamps are taken apart and put together, for rclpy's messages and the
``rosbags`` dataclasses alike; nothing here imports ROS.
"""

from __future__ import annotations

from typing import Any

NS_PER_SECOND = 1_000_000_000


def stamp_ns(stamp: Any) -> int:
    """Return a ``builtin_interfaces/Time`` (rclpy's or rosbags') in nanoseconds."""
    return int(stamp.sec) * NS_PER_SECOND + int(stamp.nanosec)


def set_stamp(stamp: Any, nanoseconds: int) -> None:
    """Set a ``builtin_interfaces/Time`` in place from nanoseconds."""
    stamp.sec, stamp.nanosec = divmod(int(nanoseconds), NS_PER_SECOND)


def make_stamp(time_type: Any, nanoseconds: int) -> Any:
    """Build a ``builtin_interfaces/Time`` of class ``time_type`` from nanoseconds.

    ``time_type`` is rclpy's message class or a ``rosbags`` dataclass (which has no defaults,
    so its fields must be given when it is built).
    """
    sec, nanosec = divmod(int(nanoseconds), NS_PER_SECOND)
    return time_type(sec=sec, nanosec=nanosec)
