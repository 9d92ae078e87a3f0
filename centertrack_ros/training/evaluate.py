"""Tracking quality of a model on held-out synthetic sequences, and threshold selection.

The model runs through the same :class:`~centertrack_ros.core.pipeline.CenterTracker` as the
ROS node; every *active* track of every frame becomes a hypothesis (coasting tracks are not
published by the node either). Ground truth comes from the generator, with its "don't care"
objects ignored, and :mod:`centertrack_ros.core.metrics` does the counting.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Iterable, Optional, Sequence

from ..core.config import TrackerConfig
from ..core.metrics import OVERALL, TrackingMetrics, evaluate_many
from ..core.motchallenge import MotRow, synthetic_gt_rows
from ..core.pipeline import CenterTracker
from ..synthetic import SceneConfig, SyntheticSequence, generate_sequence

HELDOUT_FIRST_SEED = 1
"""First seed of the held-out evaluation sequences; training uses seeds from 10000 on."""


@dataclass(frozen=True)
class Evaluation:
    """Metrics per sequence (plus :data:`~centertrack_ros.core.metrics.OVERALL`) and speed."""

    metrics: dict[str, TrackingMetrics]
    frames: int
    seconds_per_frame: float
    tracker: TrackerConfig

    @property
    def overall(self) -> TrackingMetrics:
        """The combined result over all sequences."""
        return self.metrics[OVERALL]


def heldout_sequences(seeds: Iterable[int], scene: SceneConfig = SceneConfig()
                      ) -> list[SyntheticSequence]:
    """Generate the evaluation sequences (``scene`` with each seed)."""
    return [generate_sequence(replace(scene, seed=int(seed))) for seed in seeds]


def track_sequence(tracker: CenterTracker, sequence: SyntheticSequence,
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


def evaluate_tracker(tracker: CenterTracker, sequences: Sequence[SyntheticSequence],
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


def threshold_grid(track: Sequence[float], pre: Sequence[float], new: Sequence[float],
                   base: TrackerConfig = TrackerConfig(),
                   max_ages: Optional[Sequence[int]] = None) -> list[TrackerConfig]:
    """Tracker configurations for every combination (redundant ones removed).

    ``pre``/``new`` values below ``track`` are raised to it (the tracker does that anyway),
    so combinations that behave identically appear once. ``max_ages`` defaults to the base's.
    """
    seen, grid = set(), []
    ages = [base.max_age] if not max_ages else list(max_ages)
    for t, p, n, a in itertools.product(track, pre, new, ages):
        key = (t, max(t, p), max(t, n), a)
        if key not in seen:
            seen.add(key)
            grid.append(replace(base, track_thresh=t, pre_thresh=key[1], new_thresh=key[2],
                                max_age=a))
    return grid


def score(metrics: TrackingMetrics) -> tuple[float, float]:
    """Ranking key of a threshold choice: MOTA, then IDF1."""
    return (metrics.mota, metrics.idf1)


def sweep_thresholds(tracker: CenterTracker, sequences: Sequence[SyntheticSequence],
                     grid: Sequence[TrackerConfig], num_frames: Optional[int] = None
                     ) -> list[Evaluation]:
    """Evaluate each tracker configuration; results sorted best first (see :func:`score`)."""
    results = []
    for config in grid:
        tracker.set_tracker_config(config)
        results.append(evaluate_tracker(tracker, sequences, num_frames))
    return sorted(results, key=lambda r: score(r.overall), reverse=True)
