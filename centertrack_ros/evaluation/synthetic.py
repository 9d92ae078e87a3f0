"""Synthetic sequences as evaluation data: the held-out seeds and their ground truth as MOT rows.

Held-out sequences use seeds that training never draws, so that scores measure generalisation
to new scenes of the same generator rather than memory of the training drives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..synthetic import SceneConfig, SyntheticSequence, generate_sequence
from .mot import MotRow

HELDOUT_FIRST_SEED = 1
"""First seed of the held-out evaluation sequences; training uses seeds from 10000 on."""


def heldout_sequences(seeds: Iterable[int], scene: SceneConfig = SceneConfig()
                      ) -> list[SyntheticSequence]:
    """Generate the evaluation sequences (``scene`` with each seed)."""
    return [generate_sequence(replace(scene, seed=int(seed))) for seed in seeds]


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
