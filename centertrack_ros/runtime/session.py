"""A tracking session: CenterTrack running on frames, the one object every front end holds.

Built once from resolved settings, a session loads the model into the engine the settings ask
for, warms it up (the first forward pass allocates buffers and picks kernels: better here than
on the first camera frame), numbers its tracks above every id an earlier session gave out, and
then tracks: frames of one or several cameras through its :class:`~.runner.FrameRunner` (the
stream rules, resets and setting changes between frames), or single images for offline
sequences. It describes itself in one log line, reports its status for diagnostics, and gives
its memory back on :meth:`TrackingSession.release`.

The node, ``centertrack_bag run``, ``centertrack_evaluate`` and the benchmarks all open one;
what differs between them is only where the frames come from and where the results go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..core.config import CenterTrackConfig, RuntimeConfig, TrackerConfig, TrackerOverrides
from ..core.device import device_name
from ..core.errors import ConfigError
from ..core.model_spec import ModelSpec, load_model
from ..core.pipeline import MultiCameraTracker
from ..core.tracks import Track
from . import settings as node_settings
from .runner import Frame, FrameResult, FrameRunner
from .stats import StreamStats


@dataclass(frozen=True)
class SessionSettings:
    """What a session is built from: the model, where it runs, the tracker, the cameras.

    Attributes:
        model: which model and how to read it (empty fields: from the file itself).
        runtime: device, engine, threads, precision.
        tracker: changes to the model's own tracker settings.
        cameras: the cameras' names in slot order (``('',)``: one unnamed camera).
        max_frame_gap: stamp gap (seconds) that resets a camera's tracks; 0 = never.

    """

    model: ModelSpec = field(default_factory=ModelSpec)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    tracker: TrackerOverrides = field(default_factory=TrackerOverrides)
    cameras: tuple[str, ...] = ('',)
    max_frame_gap: float = 0.0

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'SessionSettings':
        """Resolve the node's settings (:mod:`.settings` names and values).

        Raises:
            ConfigError: a value is invalid, or two contradict each other.

        """
        problem = node_settings.check_all(values)
        if problem:
            raise ConfigError(f'invalid parameter: {problem}')
        return cls(model=node_settings.model_spec(values),
                   runtime=node_settings.runtime_config(values),
                   tracker=node_settings.tracker_overrides(values),
                   cameras=node_settings.camera_names(values),
                   max_frame_gap=float(values['max_frame_gap']))


class TrackingSession:
    """A model in its engine with one track state per camera (see the module doc).

    Use :meth:`open`; the constructor takes an already built tracker (tests, tools that build
    one themselves).

    Args:
        tracker: the tracker, one slot per camera.
        cameras: the cameras' names in slot order.
        model_path: the file the model came from (for logs and diagnostics).
        stats: each camera's statistics (e.g. a node's own, kept across reloads).
        max_frame_gap: see :class:`SessionSettings`.

    """

    def __init__(self, tracker: MultiCameraTracker, cameras: Sequence[str] = ('',),
                 model_path: str = '', stats: Optional[Sequence[StreamStats]] = None,
                 max_frame_gap: float = 0.0) -> None:
        self.runner = FrameRunner(tracker, cameras, stats)
        self.runner.max_frame_gap = max_frame_gap
        self.model_path = model_path

    @classmethod
    def open(cls, settings: SessionSettings, *, stats: Optional[Sequence[StreamStats]] = None,
             ids_after: int = 0, warm_up: bool = True) -> 'TrackingSession':
        """Load the model ``settings`` name, warm it up and return a session ready to track.

        ``ids_after``: the highest track id an earlier session gave out; this one continues
        above it, so that no id is used twice in a process.

        Raises:
            CenterTrackError: the settings, the model file, the device or the engine is at
                fault (the message says which and what to do).

        """
        model = load_model(settings.model, settings.runtime)
        tracker = model.tracker(settings.tracker, len(settings.cameras), shared_ids=True)
        if warm_up:
            _warm_up(tracker)
        tracker.continue_ids_after(ids_after)
        return cls(tracker, settings.cameras, model.path, stats, settings.max_frame_gap)

    # ------------------------------------------------------------------ what it is
    @property
    def tracker(self) -> MultiCameraTracker:
        """The tracker (every camera's state and the engine)."""
        return self.runner.tracker

    @property
    def config(self) -> CenterTrackConfig:
        """The configuration in use (its tracker section follows setting changes)."""
        return self.tracker.config

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras' names in slot order."""
        return self.runner.cameras

    @property
    def class_names(self) -> tuple[str, ...]:
        """The label of every class id, in id order (names, else the id as text)."""
        return self.config.model.labels

    @property
    def ddd(self) -> bool:
        """Whether the model has the monocular 3D heads."""
        return self.config.model.ddd

    def lowest_published_score(self, overrides: Optional[TrackerOverrides] = None) -> float:
        """Return the lowest score a published detection can have under ``overrides``.

        With no ``overrides``, under the settings in use. (BYTE publishes detections below
        ``track_thresh``; subscribers filter on this value of ``label_info``.)
        """
        tracker = self.config.tracker if overrides is None else self.tracker_settings(overrides)
        return tracker.effective_low_thresh

    def tracker_settings(self, overrides: TrackerOverrides) -> TrackerConfig:
        """Return the tracker settings ``overrides`` give on top of the model's own."""
        return overrides.apply(self.tracker.model_tracker)

    def describe(self) -> str:
        """One line for the log: model, classes, input, device, engine, cameras, tracker."""
        config = self.config
        model = config.model
        network = model.backbone if model.arch == 'generic' else 'dla'
        cameras = self.cameras
        return (f'loaded {self.model_path}: {model.arch} ({network}), {model.num_classes} '
                f'classes {list(self.class_names)}, input {config.input.width}x'
                f'{config.input.height}, on {device_name(self.tracker.device)} with the '
                f'{self.tracker.engine.describe()} engine'
                + (f', cameras {", ".join(cameras)}' if len(cameras) > 1 else '')
                + f'; tracker {config.tracker}')

    def status(self) -> dict[str, str]:
        """Key-value status for diagnostics: model, device, engine, classes, memory."""
        config = self.config
        values = {
            'model_path': self.model_path,
            'device': device_name(self.tracker.device),
            'engine': self.tracker.engine.describe(),
            'model_arch': config.model.arch,
            'classes': ', '.join(self.class_names),
            'input_size': f'{config.input.width}x{config.input.height}',
            'track_thresh': f'{config.tracker.track_thresh:g}',
        }
        if len(self.cameras) > 1:
            values['cameras'] = ', '.join(self.cameras)
        values.update(self.tracker.engine.memory())
        return values

    # ------------------------------------------------------------------ tracking
    def track(self, frames: Sequence[Frame]) -> list[FrameResult]:
        """Track frames of distinct cameras in one network call (see :meth:`FrameRunner.run`)."""
        return self.runner.run(frames)

    def step(self, image: np.ndarray, calib: Optional[np.ndarray] = None,
             camera: int = 0) -> list[Track]:
        """Track one image of one camera directly, without stamps or stream rules.

        For offline sequences whose frames are known to follow each other (evaluation,
        benchmarks); live streams go through :meth:`track`.
        """
        return self.tracker.step({camera: image},
                                 calibs=None if calib is None else {camera: calib})[camera]

    def reset(self) -> None:
        """Forget every camera's previous frame and tracks; ids continue (never reused)."""
        self.tracker.reset(restart_ids=False)

    def set_tracker_config(self, tracker: TrackerConfig) -> None:
        """Run with these tracker settings from the next frame on (offline use)."""
        self.tracker.set_tracker_config(tracker)

    def release(self) -> int:
        """Close the engine (network and device memory); return the highest track id given out.

        The session must not be used afterwards. A session opened with ``ids_after`` set to
        the returned value continues the numbering.
        """
        last_id = self.tracker.last_id
        self.tracker.engine.close()
        return last_id


def _warm_up(tracker: MultiCameraTracker) -> None:
    # A blank frame per camera; the reset afterwards leaves no previous image behind.
    size = tracker.config.input
    blank = np.zeros((size.height, size.width, 3), dtype=np.uint8)
    tracker.step({camera: blank for camera in range(tracker.num_cameras)})
    tracker.reset()
