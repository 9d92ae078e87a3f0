"""Choosing tracker settings: evaluate a grid of them and rank the results.

The thresholds decide which detections are published, enter the next frame's prior and start
new tracks; the association, its memory (``max_age``) and motion model decide which track a
detection continues. They are tuned after training, without touching the weights, on held-out
synthetic sequences or on a recorded drive's ground truth (offline, or through the live node:
``centertrack_evaluate --bag BAG [--live] --sweep --rank hota``), and stored in the exported
checkpoint (``centertrack_evaluate --sweep --export``).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Callable, Optional, Sequence

from ..core.config import NO_MOTION, TrackerConfig
from ..synthetic import SyntheticSequence
from .metrics import TrackingMetrics
from .tracker import Evaluation, SequenceTracker, evaluate_tracker


def threshold_grid(track: Sequence[float], pre: Sequence[float], new: Sequence[float],
                   base: TrackerConfig = TrackerConfig(),
                   max_ages: Optional[Sequence[int]] = None,
                   associations: Optional[Sequence[str]] = None,
                   low: Optional[Sequence[float]] = None,
                   motions: Optional[Sequence[str]] = None,
                   prior_lost: Optional[Sequence[bool]] = None) -> list[TrackerConfig]:
    """Tracker configurations for every combination (redundant ones removed).

    ``pre``/``new`` values below ``track`` are raised to it (the tracker does that anyway),
    and settings that cannot matter are set to the base's (``low_thresh`` outside BYTE, motion
    and ``prior_lost`` without coasting), so combinations that behave identically appear once.
    Every optional axis defaults to the base's value.
    """
    def axis(values, default):
        return [default] if not values else list(values)

    seen, grid = set(), []
    for t, p, n, a, assoc, lo, motion, lost in itertools.product(
            track, pre, new, axis(max_ages, base.max_age),
            axis(associations, base.association), axis(low, base.low_thresh),
            axis(motions, base.motion), axis(prior_lost, base.prior_lost)):
        config = replace(base, track_thresh=t, pre_thresh=max(t, p), new_thresh=max(t, n),
                         max_age=a, association=assoc, low_thresh=lo, motion=motion,
                         prior_lost=lost)
        if not config.byte:
            config = replace(config, low_thresh=base.low_thresh)
        if config.max_age <= 0:
            config = replace(config, motion=NO_MOTION, prior_lost=False)
        if config not in seen:
            seen.add(config)
            grid.append(config)
    return grid


def score(metrics: TrackingMetrics) -> tuple[float, float]:
    """Ranking key of a threshold choice: MOTA, then IDF1."""
    return (metrics.mota, metrics.idf1)


def identity_score(metrics: TrackingMetrics) -> tuple[float, float]:
    """Ranking key that puts identity first: IDF1, then MOTA."""
    return (metrics.idf1, metrics.mota)


def hota_score(metrics: TrackingMetrics) -> tuple[float, float]:
    """Ranking key of HOTA, then MOTA."""
    return (metrics.hota, metrics.mota)


RANKINGS: dict[str, Callable[[TrackingMetrics], tuple[float, float]]] = {
    'mota': score, 'idf1': identity_score, 'hota': hota_score}
"""Ranking keys by name (``centertrack_evaluate --rank``)."""


def sweep(evaluate: Callable[[TrackerConfig], Evaluation], grid: Sequence[TrackerConfig],
          rank: Callable[[TrackingMetrics], tuple[float, float]] = score,
          progress: Optional[Callable[[Evaluation], None]] = None) -> list[Evaluation]:
    """Evaluate each tracker configuration with ``evaluate``; results sorted best first.

    ``evaluate`` runs the tracker with one configuration over the data and scores it (held-out
    synthetic sequences, a bag offline, a bag replayed through the live node);
    ``progress`` is called with each result as soon as it is known.
    """
    results = []
    for config in grid:
        results.append(evaluate(config))
        if progress is not None:
            progress(results[-1])
    return sorted(results, key=lambda r: rank(r.overall), reverse=True)


def sweep_thresholds(tracker: SequenceTracker, sequences: Sequence[SyntheticSequence],
                     grid: Sequence[TrackerConfig], num_frames: Optional[int] = None,
                     rank: Callable[[TrackingMetrics], tuple[float, float]] = score,
                     progress: Optional[Callable[[Evaluation], None]] = None
                     ) -> list[Evaluation]:
    """Evaluate each tracker configuration on synthetic sequences (see :func:`sweep`)."""
    def evaluate(config: TrackerConfig) -> Evaluation:
        tracker.set_tracker_config(config)
        return evaluate_tracker(tracker, sequences, num_frames)
    return sweep(evaluate, grid, rank, progress)
