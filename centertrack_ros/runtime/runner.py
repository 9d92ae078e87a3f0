"""The frame runner: decoded frames of one or several camera streams in, what to publish out.

It owns the tracker and everything that decides how a stream of frames is tracked: the
stream-time rules of each camera, resets and tracker settings requested from other threads
(applied between two frames, never within one), and each camera's statistics. It has no
threads and no I/O of its own: the node's worker (:mod:`centertrack_ros.runtime.worker`) and
the bag tool both feed it, so a bag is tracked exactly as the live node tracks it.

Calls come from one thread at a time, unless :meth:`FrameRunner.allow_concurrent_calls`: then
calls from several threads on distinct cameras run their network calls at the same time
(the worker's lanes on a CPU), and everything else one call at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Hashable, Optional, Sequence

import numpy as np

from ..core.config import TrackerOverrides
from ..core.pipeline import MultiCameraTracker
from ..core.tracks import Track
from .boxes import DetectionBox, detection_boxes
from .boxes3d import DetectionBox3D, detection_boxes_3d
from .stats import StreamStats
from .stream_rules import StreamReset, StreamRules

SERVICE_RESET = 'service'


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded camera frame.

    Attributes:
        camera: index of the camera it comes from.
        image: BGR ``uint8`` ``H x W x 3``.
        stamp_ns: its header stamp.
        source: what identifies the stream's format (a change starts a new sequence).
        context: whatever the caller needs back with the result (e.g. the message header).
        calib: the 3x4 camera matrix P of ``image`` (for models with 3D heads; see
            :mod:`centertrack_ros.runtime.camera_info`), or None.

    """

    camera: int
    image: np.ndarray
    stamp_ns: int
    source: Hashable
    context: Any = None
    calib: Optional[np.ndarray] = None


@dataclass(frozen=True, eq=False)
class FrameResult:
    """The tracks of one frame and the boxes to publish for it.

    ``boxes_3d`` holds the 3D boxes (a model with 3D heads, a frame with a camera matrix),
    else nothing.
    """

    frame: Frame
    tracks: list[Track]
    boxes: list[DetectionBox]
    reset: Optional[StreamReset] = None  # why the camera's tracks were reset before it
    boxes_3d: list[DetectionBox3D] = field(default_factory=list)

    @property
    def camera(self) -> int:
        """Index of the frame's camera."""
        return self.frame.camera


class FrameRunner:
    """Tracks the frames of ``len(cameras)`` streams with one tracker.

    Track ids never restart: after any reset new tracks get ids above every earlier one (a
    planner must not see a new object under an id it already knows).

    Args:
        tracker: a tracker with one slot per camera.
        cameras: the cameras' names, in slot order.
        stats: each camera's statistics (new ones by default); pass a node's own to keep
            counting across model reloads.

    """

    def __init__(self, tracker: MultiCameraTracker, cameras: Sequence[str] = ('',),
                 stats: Optional[Sequence[StreamStats]] = None) -> None:
        if len(cameras) != tracker.num_cameras:
            raise ValueError(f'{len(cameras)} camera names for a tracker of '
                             f'{tracker.num_cameras} cameras')
        self.tracker = tracker
        self.cameras = tuple(cameras)
        self.stats = list(stats) if stats is not None else [StreamStats() for _ in self.cameras]
        if len(self.stats) != len(self.cameras):
            raise ValueError(f'{len(self.stats)} statistics for {len(self.cameras)} cameras')
        self._rules = [StreamRules() for _ in self.cameras]
        self._lock = threading.Lock()
        # Held by a call while it tracks, except inside the network (allow_concurrent_calls).
        self._step = threading.Condition(threading.Lock())
        self._in_network = 0  # calls inside the network now (under _step)
        self._holding = threading.local()  # whether this thread's run() holds _step
        self._concurrent = False
        self._pending_resets: set[int] = set()
        self._pending_overrides: Optional[TrackerOverrides] = None
        self._max_frame_gap = 0.0

    @property
    def class_name(self):
        """Map a 1-based class id to its published label."""
        return self.tracker.config.model.class_name

    # -------------------------------------------------------------- from any thread
    def request_reset(self, camera: Optional[int] = None, reason: str = 'reset requested',
                      kind: str = SERVICE_RESET) -> None:
        """Forget one camera's (or every camera's) previous frame and tracks before its next."""
        cameras = range(len(self.cameras)) if camera is None else [camera]
        with self._lock:
            self._pending_resets.update(cameras)
        for index in cameras:
            self.stats[index].count_reset(kind, reason)

    def request_overrides(self, overrides: TrackerOverrides) -> None:
        """Run the model's tracker settings with ``overrides`` from the next frames on."""
        with self._lock:
            self._pending_overrides = overrides

    @property
    def max_frame_gap(self) -> float:
        """Stamp difference (seconds) above which a camera's tracks reset; 0 = never."""
        return self._max_frame_gap

    @max_frame_gap.setter
    def max_frame_gap(self, seconds: float) -> None:
        with self._lock:
            self._max_frame_gap = float(seconds)

    def start_new_sequences(self) -> None:
        """Make every camera's next frame the first of a sequence (e.g. on activation)."""
        with self._lock:
            self._pending_resets.update(range(len(self.cameras)))

    # -------------------------------------------------------------- from the worker
    def run(self, frames: Sequence[Frame]) -> list[FrameResult]:
        """Track frames of distinct cameras in one network call; returns one result each.

        Pending resets and settings are applied first, then each camera's stream rules.

        Raises:
            Exception: whatever the tracker raises (e.g. CUDA out of memory); the frames are
                then lost, the tracks of the earlier frames kept.

        """
        cameras = [frame.camera for frame in frames]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f'one frame per camera per call, got cameras {cameras}')
        with self._step:
            self._holding.step = True
            try:
                return self._run(frames)
            finally:
                self._holding.step = False

    def allow_concurrent_calls(self) -> None:
        """Let calls from several threads, on distinct cameras, run their networks at once.

        Only the engine's network call runs concurrently; the rest of a call (requested
        resets and settings, stream rules, association, track ids) runs one call at a time,
        and requested resets and settings wait until no network call is in flight, so they
        still apply between two frames of every camera. Only for an engine whose ``run`` may
        be called from several threads for distinct cameras (ONNX Runtime on the CPU: one
        session, per-camera state); the caller keeps a camera to one thread at a time.
        """
        if self._concurrent:
            return
        self._concurrent = True
        engine = self.tracker.engine
        network = engine.run

        def run_without_the_lock(requests: Sequence[Any]) -> Any:
            if not getattr(self._holding, 'step', False):
                return network(requests)  # not called from run(): there is no lock to lend
            self._in_network += 1
            self._step.release()
            try:
                return network(requests)
            finally:
                self._step.acquire()
                self._in_network -= 1
                self._step.notify_all()

        # The instance attribute wraps this engine's own run; the tracker calls it as before.
        engine.run = run_without_the_lock  # type: ignore[method-assign]  # on purpose

    def _run(self, frames: Sequence[Frame]) -> list[FrameResult]:
        while True:
            with self._lock:
                pending = bool(self._pending_resets) or self._pending_overrides is not None
                if not pending or not self._in_network:
                    resets, self._pending_resets = self._pending_resets, set()
                    overrides, self._pending_overrides = self._pending_overrides, None
                    max_gap = self._max_frame_gap
                    break
            self._step.wait()  # a frame of another camera is in the network: let it finish
        if overrides is not None:
            self.tracker.apply_overrides(overrides)
        for camera in sorted(resets):
            # A requested reset starts a new sequence: the next stamp is compared with nothing.
            self.tracker.reset(camera, restart_ids=False)
            self._rules[camera].forget()
        stream_resets = {}
        for frame in frames:
            reset = self._rules[frame.camera].check(frame.stamp_ns, frame.source, max_gap)
            if reset is not None:
                self.tracker.reset(frame.camera, restart_ids=False)
                self.stats[frame.camera].count_reset(reset.kind, reset.reason)
                stream_resets[frame.camera] = reset
        calibs = {frame.camera: frame.calib for frame in frames if frame.calib is not None}
        tracks = self.tracker.step({frame.camera: frame.image for frame in frames},
                                   calibs=calibs or None)
        class_name = self.class_name
        return [FrameResult(frame, tracks[frame.camera],
                            detection_boxes(tracks[frame.camera], class_name),
                            stream_resets.get(frame.camera),
                            detection_boxes_3d(tracks[frame.camera], class_name, frame.calib))
                for frame in frames]

    def release_cached_memory(self) -> None:
        """Return cached device memory after a failed frame (e.g. CUDA out of memory)."""
        self.tracker.engine.release()
