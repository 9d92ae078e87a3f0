"""Synthetic sequences as evaluation data: the held-out seeds.

Held-out sequences use seeds that training never draws, so that scores measure generalisation
to new scenes of the same generator rather than memory of the training drives. Their ground
truth as MOT rows is :func:`centertrack_ros.datasets.synthetic.synthetic_gt_rows`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from ..synthetic import SceneConfig, SyntheticSequence, generate_sequence

HELDOUT_FIRST_SEED = 1
"""First seed of the held-out evaluation sequences; training uses seeds from 10000 on."""


def heldout_sequences(seeds: Iterable[int], scene: SceneConfig = SceneConfig()
                      ) -> list[SyntheticSequence]:
    """Generate the evaluation sequences (``scene`` with each seed)."""
    return [generate_sequence(replace(scene, seed=int(seed))) for seed in seeds]
