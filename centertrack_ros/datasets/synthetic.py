"""The ground truth of a generated :mod:`centertrack_ros.synthetic` sequence as MOT rows."""

from __future__ import annotations

from ..synthetic import SyntheticSequence
from .mot import MotRow


def synthetic_gt_rows(sequence: SyntheticSequence) -> list[MotRow]:
    """Ground truth of a :class:`~centertrack_ros.synthetic.SyntheticSequence` as MOT rows.

    Frame ``i`` (0-based) of the sequence becomes MOT frame ``i + 1``; ``score`` holds the
    consider flag, then class id and visibility follow. Nothing is rendered.
    """
    rows = []
    for i in range(len(sequence)):
        for o in sequence.ground_truth(i):
            rows.append(MotRow(i + 1, o.track_id, o.x1, o.y1, o.x2 - o.x1, o.y2 - o.y1,
                               1.0 if o.consider else 0.0, o.class_id, o.visibility))
    return rows
