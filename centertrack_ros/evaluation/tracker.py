"""Tracking quality and speed of a model on held-out synthetic sequences.

The model runs through anything that steps frames as the ROS node's tracker does (a
:class:`~centertrack_ros.runtime.session.TrackingSession`, or a core
:class:`~centertrack_ros.core.pipeline.CenterTracker`); every *active* track of every frame
becomes a hypothesis (coasting tracks are not published by the node either). Ground truth comes
from the generator, with its "don't care" objects ignored, and
:mod:`centertrack_ros.evaluation.metrics` does the counting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence

from ..core.config import CenterTrackConfig, TrackerConfig
from ..datasets.mot import MotRow
from ..datasets.synthetic import synthetic_gt_rows
from ..synthetic import SyntheticSequence
from .metrics import OVERALL, TrackingMetrics, evaluate_many


class SequenceTracker(Protocol):
    """What evaluation needs of a tracker: frames in order, a reset, settings to change."""

    @property
    def config(self) -> CenterTrackConfig:
        """The configuration in use."""

    def step(self, image: Any) -> list[Any]:
        """Track the next frame; return the current tracks."""

    def reset(self) -> None:
        """Start a new sequence."""

    def set_tracker_config(self, tracker: TrackerConfig) -> None:
        """Use these tracker settings from the next frame on."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics per sequence (plus :data:`~centertrack_ros.evaluation.metrics.OVERALL`) and speed."""

    metrics: dict[str, TrackingMetrics]
    frames: int
    seconds_per_frame: float
    tracker: TrackerConfig

    @property
    def overall(self) -> TrackingMetrics:
        """The combined result over all sequences."""
        return self.metrics[OVERALL]


def track_sequence(tracker: SequenceTracker, sequence: SyntheticSequence,
                   num_frames: Optional[int] = None) -> tuple[list[MotRow], float]:
    """Run ``tracker`` from a reset over the first ``num_frames`` frames.

    Returns the hypotheses as MOT rows (1-based frames, score = detection score) and the
    total seconds spent in :meth:`CenterTracker.step` (rendering excluded).
    """
    tracker.reset()
    count = len(sequence) if num_frames is None else min(num_frames, len(sequence))
    rows: list[MotRow] = []
    seconds = 0.0
    for i in range(count):
        image = sequence.image(i)
        start = time.perf_counter()
        tracks = tracker.step(image)
        seconds += time.perf_counter() - start
        for t in tracks:
            if t.active > 0:
                x1, y1, x2, y2 = (float(v) for v in t.bbox)
                rows.append(MotRow(i + 1, t.track_id, x1, y1, x2 - x1, y2 - y1, t.score,
                                   t.class_id))
    return rows, seconds


def evaluate_tracker(tracker: SequenceTracker, sequences: Sequence[SyntheticSequence],
                     num_frames: Optional[int] = None, names: Optional[Sequence[str]] = None
                     ) -> Evaluation:
    """Track every sequence and score the result (class-aware, IoU 0.5)."""
    data, lengths = {}, {}
    seconds = 0.0
    frames = 0
    for k, sequence in enumerate(sequences):
        name = names[k] if names else f'seed-{sequence.config.seed}'
        count = len(sequence) if num_frames is None else min(num_frames, len(sequence))
        hyp, spent = track_sequence(tracker, sequence, count)
        seconds += spent
        frames += count
        gt = [row for row in synthetic_gt_rows(sequence) if row.frame <= count]
        data[name] = (gt, hyp)
        lengths[name] = count
    metrics = evaluate_many(data, num_frames=lengths)
    return Evaluation(metrics, frames, seconds / max(frames, 1), tracker.config.tracker)
