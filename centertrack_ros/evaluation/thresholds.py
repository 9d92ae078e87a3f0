"""Choosing tracker thresholds: evaluate a grid of them and rank the results.

The thresholds decide which detections are published, enter the next frame's prior and start
new tracks; they are tuned on held-out sequences after training, without touching the weights,
and stored in the exported checkpoint (``centertrack_evaluate --sweep --export``).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Optional, Sequence

from ..core.config import TrackerConfig
from ..core.pipeline import CenterTracker
from ..synthetic import SyntheticSequence
from .metrics import TrackingMetrics
from .tracker import Evaluation, evaluate_tracker


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
