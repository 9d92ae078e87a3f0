"""Scoring several sequences of ground truth and tracks already on common frame numbers.

This is the part of ``centertrack_bag eval`` that does not care where the boxes came from: the
bag tools read and align them (:mod:`centertrack_ros.bags.evaluation`), this module scores them
with :mod:`centertrack_ros.evaluation.metrics` and keeps the result with how it was computed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..datasets.mot import MotRow
from .metrics import OVERALL, TrackingMetrics, evaluate_many

_LOG = logging.getLogger(__name__)


@dataclass
class AlignedSequence:
    """Ground truth and tracks of one sequence, numbered and ready for the metrics."""

    name: str
    gt: list[MotRow]
    tracks: list[MotRow]
    num_frames: int
    unmatched_stamps: int = 0
    class_map: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    """Metrics per sequence and overall, plus how they were computed."""

    metrics: dict[str, TrackingMetrics]
    sequences: list[AlignedSequence]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"sequences": {...}, "overall": {...}, "settings": {...}}``."""
        return {
            'sequences': {s.name: {**self.metrics[s.name].as_dict(),
                                   'unmatched_track_stamps': s.unmatched_stamps}
                          for s in self.sequences},
            'overall': self.metrics[OVERALL].as_dict(),
            'settings': self.settings,
        }


def evaluate_sequences(sequences: Sequence[AlignedSequence], iou_threshold: float = 0.5,
                       class_aware: bool = True, min_visibility: float = 0.0,
                       min_score: Optional[float] = None) -> Report:
    """Score aligned sequences with :func:`centertrack_ros.evaluation.metrics.evaluate_many`.

    Raises:
        ValueError: duplicate sequence names, invalid settings or inconsistent inputs (e.g.
            duplicate ids in a frame).

    """
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise ValueError(f'sequence names must be unique, got {names}')
    if class_aware:
        for seq in sequences:
            gt_classes = {r.class_id for r in seq.gt if r.class_id >= 0}
            hyp_classes = {r.class_id for r in seq.tracks if r.class_id >= 0}
            if gt_classes and hyp_classes and not gt_classes & hyp_classes:
                _LOG.warning('%s: no track class occurs in the ground truth (%s); use '
                             '--class-agnostic if the labels differ only in name', seq.name,
                             ', '.join(sorted(seq.class_map)) or 'class ids only')
    metrics = evaluate_many(
        {s.name: (s.gt, s.tracks) for s in sequences}, iou_threshold=iou_threshold,
        class_aware=class_aware, min_visibility=min_visibility, min_score=min_score,
        num_frames={s.name: s.num_frames for s in sequences})
    settings = {'iou_threshold': iou_threshold, 'class_aware': class_aware,
                'min_visibility': min_visibility, 'min_score': min_score}
    return Report(metrics, list(sequences), settings)


def sequence_name(gt: Path, tracks: Path, taken: Mapping[str, Any]) -> str:
    """Return a readable, unique name for a sequence, from its file names."""
    for candidate in (tracks.stem if tracks.suffix == '.txt' else tracks.name, gt.name):
        if candidate and candidate not in taken and candidate != OVERALL:
            return candidate
    k = len(taken) + 1
    while f'seq{k}' in taken:
        k += 1
    return f'seq{k}'
