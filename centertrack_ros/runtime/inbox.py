"""The newest unprocessed message of every camera, between the subscriptions and the worker.

``put`` never blocks and replaces a camera's unprocessed message (the caller counts it), so the
worker always processes the newest frame and a slow model never builds a queue of stale
frames. The inbox also remembers the order in which the cameras started waiting: a camera
whose message is replaced by a newer one keeps its place, so no camera is ever overtaken by
one that started waiting after it. ``take`` returns the waiting cameras in that order, with
their newest messages: all of them (one network call can serve them all; with ``wait`` it
first waits that long for the other cameras), or only the first ``limit``. A camera taken is
busy until :meth:`LatestFrames.done`: several takers (the worker's lanes) never hold two
frames of one camera at once, and a busy camera's next frame keeps its place meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Iterable, Optional


class LatestFrames:
    """One slot per camera and the order in which the cameras started waiting; thread-safe."""

    def __init__(self, num_cameras: int = 1) -> None:
        self._cond = threading.Condition()
        self._items: list[Optional[Any]] = [None] * num_cameras
        self._waiting: deque[int] = deque()  # cameras with an item, longest waiting first
        self._busy: set[int] = set()  # taken and not done yet
        self._closed = False

    @property
    def num_cameras(self) -> int:
        """The number of cameras (slots)."""
        return len(self._items)

    def put(self, camera: int, item: Any) -> bool:
        """Store a camera's newest item; returns True when it replaced an unprocessed one.

        While closed the item is dropped: a frame that came in while the node was inactive
        would otherwise be tracked after the next :meth:`open`, with a stale stamp.
        """
        with self._cond:
            if self._closed:
                return False
            replaced = self._items[camera] is not None
            if not replaced:
                self._waiting.append(camera)
            self._items[camera] = item
            self._cond.notify_all()
            return replaced

    def waiting(self) -> list[int]:
        """Return the cameras that have an item, the one waiting longest first."""
        with self._cond:
            return list(self._waiting)

    def busy(self, camera: int) -> bool:
        """Return whether an item of ``camera`` has been taken and is not done yet."""
        with self._cond:
            return camera in self._busy

    def done(self, cameras: Iterable[int]) -> None:
        """Mark the items taken for ``cameras`` as processed: their next ones may be taken."""
        with self._cond:
            self._busy.difference_update(cameras)
            self._cond.notify_all()

    def _ready(self) -> list[int]:
        return [camera for camera in self._waiting if camera not in self._busy]

    def take(self, timeout: Optional[float] = None, wait: float = 0.0,
             limit: Optional[int] = None) -> dict[int, Any]:
        """Remove and return ``{camera: newest item}``; empty when nothing came in ``timeout``.

        The cameras come in the order they started waiting (the dict keeps it), at most
        ``limit`` of them (None: all), busy ones left out; the ones taken are busy until
        :meth:`done`. Once one camera has an item, waits up to ``wait`` seconds more while
        other cameras have none, so that their frames can share the network call. Returns at
        once (empty) after :meth:`close`.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._closed or bool(self._ready()), timeout)
            if wait > 0 and not self._closed:
                deadline = time.monotonic() + wait
                while not self._closed and len(self._ready()) < len(self._items):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._closed:
                return {}
            ready = self._ready()
            taken = {}
            for camera in ready if limit is None else ready[:limit]:
                self._waiting.remove(camera)
                taken[camera], self._items[camera] = self._items[camera], None
                self._busy.add(camera)
            return taken

    def close(self) -> None:
        """Wake up and release any waiting :meth:`take`; later takes return at once."""
        with self._cond:
            self._closed = True
            self._items = [None] * len(self._items)
            self._waiting.clear()
            self._busy.clear()
            self._cond.notify_all()

    def open(self) -> None:
        """Accept items again after :meth:`close`."""
        with self._cond:
            self._closed = False
