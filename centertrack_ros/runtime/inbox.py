"""The newest unprocessed message of every camera, between the subscriptions and the worker.

``put`` never blocks and replaces a camera's unprocessed message (the caller counts it), so the
worker always processes the newest frame and a slow model never builds a queue of stale
frames. ``take`` returns the newest message of every camera that has one, so that one network
call can serve them all; with ``wait`` it first waits that long for the other cameras.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional


class LatestFrames:
    """One slot per camera; thread-safe."""

    def __init__(self, num_cameras: int = 1) -> None:
        self._cond = threading.Condition()
        self._items: list[Optional[Any]] = [None] * num_cameras
        self._closed = False

    @property
    def num_cameras(self) -> int:
        """The number of cameras (slots)."""
        return len(self._items)

    def put(self, camera: int, item: Any) -> bool:
        """Store a camera's newest item; returns True when it replaced an unprocessed one."""
        with self._cond:
            replaced = self._items[camera] is not None
            self._items[camera] = item
            self._cond.notify_all()
            return replaced

    def take(self, timeout: Optional[float] = None, wait: float = 0.0) -> dict[int, Any]:
        """Remove and return ``{camera: newest item}``; empty when nothing came in ``timeout``.

        Once one camera has an item, waits up to ``wait`` seconds more while other cameras
        have none, so that their frames can share the network call. Returns at once (empty)
        after :meth:`close`.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._closed or any(i is not None for i in self._items),
                                timeout)
            if wait > 0 and not self._closed:
                deadline = time.monotonic() + wait
                while not self._closed and not all(i is not None for i in self._items):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._closed:
                return {}
            taken = {c: i for c, i in enumerate(self._items) if i is not None}
            self._items = [None] * len(self._items)
            return taken

    def close(self) -> None:
        """Wake up and release any waiting :meth:`take`; later takes return at once."""
        with self._cond:
            self._closed = True
            self._items = [None] * len(self._items)
            self._cond.notify_all()

    def open(self) -> None:
        """Accept items again after :meth:`close`."""
        with self._cond:
            self._closed = False
