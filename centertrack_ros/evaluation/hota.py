"""HOTA, with its detection (DetA) and association (AssA) parts, counted by TrackEval.

HOTA (Luiten et al., IJCV 2021) scores detection and association evenly: at each localisation
threshold alpha (IoU 0.05 ... 0.95) it is sqrt(DetA x AssA), and the reported value is the mean
over the thresholds. The counting is TrackEval's own (``trackeval.metrics.HOTA``, the
benchmark's reference implementation); this module only hands it the frames in its data
layout, after :mod:`.metrics` has removed ignored ground truth and the hypotheses on it.

Class awareness is expressed in the similarities: a pair of classes that may not match gets
similarity 0, which HOTA never matches at any alpha. All classes are scored together, as the
CLEAR-MOT and identity metrics next to it are, rather than averaged per class.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np


@functools.lru_cache(maxsize=1)
def _hota_metric() -> Any:
    # trackeval's package __init__ imports all its dataset readers and prints a line for each
    # one whose optional dependency is absent (pycocotools: we install trackeval without the
    # mask and plotting extras it declares). Our reports go to stdout, so keep that line out.
    with contextlib.redirect_stdout(io.StringIO()):
        from trackeval.metrics import HOTA
    return HOTA()


@dataclass(frozen=True)
class HotaScores:
    """HOTA and its parts, each the mean over the localisation thresholds, in [0, 1].

    NaN when the sequence has neither ground truth nor hypotheses.
    """

    hota: float
    deta: float
    assa: float
    loca: float = math.nan


@dataclass
class HotaSequence:
    """One sequence's frames, collected in the layout ``trackeval`` evaluates."""

    gt_ids: list[np.ndarray] = field(default_factory=list)
    hyp_ids: list[np.ndarray] = field(default_factory=list)
    similarity: list[np.ndarray] = field(default_factory=list)

    def add_frame(self, gt_ids: Sequence[int], hyp_ids: Sequence[int],
                  similarity: np.ndarray) -> None:
        """Add a frame: its ground-truth and hypothesis ids and their ``G x H`` similarities."""
        self.gt_ids.append(np.asarray(gt_ids, dtype=np.int64).reshape(-1))
        self.hyp_ids.append(np.asarray(hyp_ids, dtype=np.int64).reshape(-1))
        self.similarity.append(np.asarray(similarity, dtype=np.float64)
                               .reshape(len(gt_ids), len(hyp_ids)))

    def evaluate(self) -> dict[str, Any]:
        """Return TrackEval's per-sequence result (arrays over the alphas)."""
        return _hota_metric().eval_sequence(self._data())

    def _data(self) -> dict[str, Any]:
        # TrackEval wants ids numbered 0..n-1 within the sequence.
        gt_index = _index(self.gt_ids)
        hyp_index = _index(self.hyp_ids)
        return {
            'num_timesteps': len(self.gt_ids),
            'num_gt_ids': len(gt_index), 'num_tracker_ids': len(hyp_index),
            'num_gt_dets': int(sum(len(g) for g in self.gt_ids)),
            'num_tracker_dets': int(sum(len(h) for h in self.hyp_ids)),
            'gt_ids': [np.array([gt_index[i] for i in g], dtype=np.int64) for g in self.gt_ids],
            'tracker_ids': [np.array([hyp_index[i] for i in h], dtype=np.int64)
                            for h in self.hyp_ids],
            'similarity_scores': self.similarity,
        }


def _index(frames: Sequence[np.ndarray]) -> dict[int, int]:
    ids = sorted({int(i) for frame in frames for i in frame})
    return {i: k for k, i in enumerate(ids)}


def combine(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Combine per-sequence results the way TrackEval does (counts summed, AssA weighted)."""
    return _hota_metric().combine_sequences(dict(results))


def scores(result: Mapping[str, Any]) -> HotaScores:
    """Summarise a per-sequence or combined result as the means over the alphas."""
    counted = float(np.sum(result['HOTA_TP']) + np.sum(result['HOTA_FN'])
                    + np.sum(result['HOTA_FP']))
    if counted == 0:
        return HotaScores(math.nan, math.nan, math.nan)
    return HotaScores(hota=float(np.mean(result['HOTA'])), deta=float(np.mean(result['DetA'])),
                      assa=float(np.mean(result['AssA'])), loca=float(np.mean(result['LocA'])))
