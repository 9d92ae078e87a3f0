"""Tracking-quality evaluation (CLEAR MOT and identity metrics) on MOTChallenge rows.

The counting is done by ``motmetrics``; this module prepares its input the way the MOTChallenge
benchmark does and packages the result in a typed :class:`TrackingMetrics`.

Ignored ground truth. Rows whose consider flag (``MotRow.score``) is 0, or whose known
visibility is below ``min_visibility``, are "don't care" regions. In each frame every hypothesis
is first matched one-to-one to *all* ground truth boxes (Hungarian assignment on IoU, pairs below
``iou_threshold`` not allowed); hypotheses that land on an ignored box are removed, and then the
ignored boxes are removed. What remains is accumulated by motmetrics. So finding an ignored
object is neither rewarded nor punished, while a hypothesis that overlaps an ignored box but is
the better match for a real one still counts as that real object's match.

Class awareness. With ``class_aware`` (the default) a hypothesis can only match ground truth of
the same class; rows with an unknown class (-1) match any class.

MOTP is reported as the mean IoU of matched pairs (higher is better), as on the MOTChallenge
website, rather than motmetrics' mean distance ``1 - IoU``.

HOTA with DetA and AssA is counted by TrackEval (:mod:`.hota`) on the same frames, after the same
removal of ignored ground truth and of the hypotheses on it; class awareness means a zero
similarity between boxes of classes that may not match.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..datasets.mot import MotRow
from . import hota as hota_metric

OVERALL = 'OVERALL'
"""Key of the combined result in :func:`evaluate_many`'s output."""

_MM_METRICS = (
    'num_frames', 'mota', 'motp', 'idf1', 'idp', 'idr', 'precision', 'recall', 'num_switches',
    'num_fragmentations', 'num_false_positives', 'num_misses', 'num_objects', 'num_predictions',
    'num_unique_objects', 'mostly_tracked', 'partially_tracked', 'mostly_lost',
)


@dataclass(frozen=True)
class TrackingMetrics:
    """Tracking quality of one sequence or of several combined.

    Ratios are in [0, 1] (MOTA can be negative) and NaN when undefined (e.g. no ground truth).
    Counts refer to evaluated boxes: ignored ground truth and the hypotheses removed with it
    (``ignored_hypotheses``) are not in them.
    """

    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    precision: float
    recall: float
    id_switches: int
    fragmentations: int
    false_positives: int
    misses: int
    num_gt: int
    num_predictions: int
    num_frames: int
    num_gt_ids: int
    num_hyp_ids: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    ignored_hypotheses: int
    hota: float = math.nan
    deta: float = math.nan
    assa: float = math.nan

    def as_dict(self) -> dict[str, float | int | None]:
        """Return the fields as a dict, NaN replaced by None (so it is valid JSON)."""
        out: dict[str, float | int | None] = {}
        for key, value in asdict(self).items():
            out[key] = None if isinstance(value, float) and math.isnan(value) else value
        return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of ``a`` (n, 4) and ``b`` (m, 4), boxes as x, y, w, h."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def _boxes(rows: Sequence[MotRow]) -> np.ndarray:
    return np.array([[r.x, r.y, r.w, r.h] for r in rows], dtype=np.float64).reshape(-1, 4)


def _class_ok(gt: Sequence[MotRow], hyp: Sequence[MotRow]) -> np.ndarray:
    g = np.array([r.class_id for r in gt], dtype=np.int64)[:, None]
    h = np.array([r.class_id for r in hyp], dtype=np.int64)[None, :]
    return (g == h) | (g < 0) | (h < 0)


def _check_unique(rows: Sequence[MotRow], what: str, frame: int) -> None:
    ids = [r.track_id for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f'{what} has duplicate track ids {dup} in frame {frame}')


def _accumulate(gt_rows: Iterable[MotRow], hyp_rows: Iterable[MotRow], iou_threshold: float,
                class_aware: bool, min_visibility: float, min_score: float | None,
                num_frames: int | None
                ) -> tuple[object, int, int, hota_metric.HotaSequence]:
    """Build a motmetrics accumulator and HOTA's frames.

    Returns the accumulator, the hypothesis-id count, the ignored count and HOTA's frames.
    """
    import motmetrics as mm  # deferred: pandas makes it slow to import and only this needs it

    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f'iou_threshold must be in (0, 1], got {iou_threshold}')
    gt_by: dict[int, list[MotRow]] = {}
    for r in gt_rows:
        gt_by.setdefault(r.frame, []).append(r)
    hyp_by: dict[int, list[MotRow]] = {}
    for r in hyp_rows:
        if min_score is None or r.score >= min_score:
            hyp_by.setdefault(r.frame, []).append(r)
    frames = set(gt_by) | set(hyp_by)
    if num_frames is not None:
        frames |= set(range(1, num_frames + 1))

    acc = mm.MOTAccumulator(auto_id=False)
    hota_frames = hota_metric.HotaSequence()
    hyp_ids: set[int] = set()
    ignored_hyps = 0
    for frame in sorted(frames):
        gts = gt_by.get(frame, [])
        hyps = hyp_by.get(frame, [])
        keep = [r.consider and not (0 <= r.visibility < min_visibility) for r in gts]
        real = [r for r, k in zip(gts, keep) if k]
        _check_unique(real, 'ground truth', frame)
        _check_unique(hyps, 'hypotheses', frame)
        if hyps and len(real) < len(gts):
            # Match against all GT first, so a hypothesis on an ignored box is dropped but one
            # that better explains a real box is kept.
            iou = iou_matrix(_boxes(gts), _boxes(hyps))
            allowed = iou >= iou_threshold
            if class_aware:
                allowed &= _class_ok(gts, hyps)
            cost = np.where(allowed, 1.0 - iou, 1e6)
            rows, cols = linear_sum_assignment(cost)
            drop = {c for r, c in zip(rows, cols) if allowed[r, c] and not keep[r]}
            ignored_hyps += len(drop)
            hyps = [h for c, h in enumerate(hyps) if c not in drop]
        iou = iou_matrix(_boxes(real), _boxes(hyps))
        comparable = _class_ok(real, hyps) if class_aware and real and hyps else \
            np.ones(iou.shape, dtype=bool)
        dist = 1.0 - iou
        valid = (dist <= 1.0 - iou_threshold + 1e-12) & comparable
        dist = np.where(valid, dist, np.nan)
        gt_ids, frame_hyp_ids = [r.track_id for r in real], [h.track_id for h in hyps]
        acc.update(gt_ids, frame_hyp_ids, dist, frameid=frame)
        # HOTA scores every localisation threshold itself: it gets the IoUs, not the gate.
        hota_frames.add_frame(gt_ids, frame_hyp_ids, np.where(comparable, iou, 0.0))
        hyp_ids.update(frame_hyp_ids)
    return acc, len(hyp_ids), ignored_hyps, hota_frames


def _to_metrics(row: Mapping[str, float], num_hyp_ids: int, ignored: int,
                hota: hota_metric.HotaScores) -> TrackingMetrics:
    def f(key: str) -> float:
        return float(row[key])

    def i(key: str) -> int:
        value = float(row[key])
        return 0 if math.isnan(value) else int(round(value))

    motp = f('motp')
    return TrackingMetrics(
        mota=f('mota'), motp=1.0 - motp if not math.isnan(motp) else math.nan, idf1=f('idf1'),
        idp=f('idp'), idr=f('idr'), precision=f('precision'), recall=f('recall'),
        id_switches=i('num_switches'), fragmentations=i('num_fragmentations'),
        false_positives=i('num_false_positives'), misses=i('num_misses'),
        num_gt=i('num_objects'), num_predictions=i('num_predictions'),
        num_frames=i('num_frames'), num_gt_ids=i('num_unique_objects'),
        num_hyp_ids=num_hyp_ids, mostly_tracked=i('mostly_tracked'),
        partially_tracked=i('partially_tracked'), mostly_lost=i('mostly_lost'),
        ignored_hypotheses=ignored, hota=hota.hota, deta=hota.deta, assa=hota.assa)


def evaluate_many(sequences: Mapping[str, tuple[Iterable[MotRow], Iterable[MotRow]]],
                  iou_threshold: float = 0.5, class_aware: bool = True,
                  min_visibility: float = 0.0, min_score: float | None = None,
                  num_frames: Mapping[str, int] | None = None) -> dict[str, TrackingMetrics]:
    """Evaluate several sequences given as ``{name: (gt_rows, hyp_rows)}``.

    Returns one :class:`TrackingMetrics` per name, in the given order, followed by the combined
    result under :data:`OVERALL` (counts summed; ratios recomputed from the summed counts, as
    the MOTChallenge benchmark does).

    Args:
        sequences: ground truth and hypotheses per sequence (MOT rows, 1-based frames).
        iou_threshold: minimum IoU for a hypothesis to match a ground-truth box.
        class_aware: only match boxes of the same class (unknown class -1 matches any).
        min_visibility: also ignore ground truth whose known visibility is below this.
        min_score: drop hypotheses scoring below this before evaluation.
        num_frames: sequence lengths, so that frames without any box still count as frames.

    """
    import motmetrics as mm

    if OVERALL in sequences:
        raise ValueError(f'{OVERALL!r} is reserved for the combined result')
    if not sequences:
        raise ValueError('no sequences to evaluate')
    accs, names, extra, hotas = [], [], {}, {}
    for name, (gt, hyp) in sequences.items():
        acc, n_ids, ignored, hota_frames = _accumulate(
            gt, hyp, iou_threshold, class_aware, min_visibility, min_score,
            (num_frames or {}).get(name))
        accs.append(acc)
        names.append(name)
        extra[name] = (n_ids, ignored)
        hotas[name] = hota_frames.evaluate()
    summary = mm.metrics.create().compute_many(accs, names=names, metrics=list(_MM_METRICS),
                                               generate_overall=True)
    out = {name: _to_metrics(summary.loc[name], *extra[name], hota_metric.scores(hotas[name]))
           for name in names}
    total_ids = sum(e[0] for e in extra.values())
    total_ignored = sum(e[1] for e in extra.values())
    out[OVERALL] = _to_metrics(summary.loc['OVERALL'], total_ids, total_ignored,
                               hota_metric.scores(hota_metric.combine(hotas)))
    return out


def evaluate(gt_rows: Iterable[MotRow], hyp_rows: Iterable[MotRow], iou_threshold: float = 0.5,
             class_aware: bool = True, min_visibility: float = 0.0,
             min_score: float | None = None, num_frames: int | None = None) -> TrackingMetrics:
    """Evaluate one sequence; see :func:`evaluate_many` for the arguments."""
    result = evaluate_many({'sequence': (gt_rows, hyp_rows)}, iou_threshold, class_aware,
                           min_visibility, min_score,
                           None if num_frames is None else {'sequence': num_frames})
    return result['sequence']


def _as_mapping(results: Mapping[str, TrackingMetrics] | TrackingMetrics
                ) -> Mapping[str, TrackingMetrics]:
    if isinstance(results, TrackingMetrics):
        return {'sequence': results}
    return results


def format_table(results: Mapping[str, TrackingMetrics] | TrackingMetrics) -> str:
    """Render results as a fixed-width text table, one row per sequence, ratios in percent."""
    columns = (('HOTA', 'hota', '%'), ('DetA', 'deta', '%'), ('AssA', 'assa', '%'),
               ('MOTA', 'mota', '%'), ('IDF1', 'idf1', '%'), ('MOTP', 'motp', '%'),
               ('Prec', 'precision', '%'), ('Rec', 'recall', '%'), ('IDsw', 'id_switches', 'd'),
               ('FP', 'false_positives', 'd'), ('FN', 'misses', 'd'),
               ('MT', 'mostly_tracked', 'd'), ('ML', 'mostly_lost', 'd'),
               ('GT ids', 'num_gt_ids', 'd'), ('Frames', 'num_frames', 'd'))
    rows = _as_mapping(results)
    table = [['Sequence'] + [c[0] for c in columns]]
    for name, m in rows.items():
        line = [name]
        for _, key, kind in columns:
            value = getattr(m, key)
            if kind == '%':
                line.append('-' if math.isnan(value) else f'{100.0 * value:.1f}')
            else:
                line.append(str(value))
        table.append(line)
    widths = [max(len(r[k]) for r in table) for k in range(len(table[0]))]
    lines = []
    for n, r in enumerate(table):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append('  '.join(cells))
        if n == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def to_json(results: Mapping[str, TrackingMetrics] | TrackingMetrics, indent: int | None = 2
            ) -> str:
    """Serialise results as JSON ``{name: {metric: value}}``; undefined ratios become null."""
    return json.dumps({name: m.as_dict() for name, m in _as_mapping(results).items()},
                      indent=indent, allow_nan=False)


__all__ = ['OVERALL', 'TrackingMetrics', 'evaluate', 'evaluate_many', 'format_table',
           'iou_matrix', 'to_json']
