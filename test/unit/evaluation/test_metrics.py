"""Tracking-quality evaluation: CLEAR MOT and IDF1 through motmetrics, HOTA through TrackEval."""

import json
import math

import pytest

from centertrack_ros.datasets.mot import MotRow
from centertrack_ros.datasets.synthetic import synthetic_gt_rows
from centertrack_ros.evaluation.metrics import (
    OVERALL,
    TrackingMetrics,
    evaluate,
    evaluate_many,
    format_table,
    iou_matrix,
    to_json,
)
from centertrack_ros.synthetic import SceneConfig, generate_sequence


def _two_walkers(frames: int = 20) -> list[MotRow]:
    """Two objects moving in parallel, well apart; consider flag 1, class 2."""
    rows = []
    for f in range(1, frames + 1):
        rows.append(MotRow(f, 1, 10.0 + 2 * f, 50.0, 20.0, 60.0, 1.0, 2, 1.0))
        rows.append(MotRow(f, 2, 200.0 - 2 * f, 50.0, 20.0, 60.0, 1.0, 2, 1.0))
    return rows


def _as_hyp(rows, id_offset=100, dx=0.0):
    return [MotRow(r.frame, r.track_id + id_offset, r.x + dx, r.y, r.w, r.h, 0.9, r.class_id)
            for r in rows]


def test_perfect_tracking():
    """A perfect hypothesis scores MOTA 1 and IDF1 1."""
    gt = _two_walkers()
    m = evaluate(gt, _as_hyp(gt))
    assert m.mota == pytest.approx(1.0)
    assert m.idf1 == pytest.approx(1.0)
    assert m.motp == pytest.approx(1.0)
    assert m.id_switches == 0 and m.false_positives == 0 and m.misses == 0
    assert m.num_frames == 20 and m.num_gt_ids == 2 and m.num_hyp_ids == 2
    assert m.num_gt == 40 and m.mostly_tracked == 2 and m.mostly_lost == 0


def test_id_swap_counts_switch_and_lowers_idf1():
    """Swapping two ids half-way counts a switch and lowers IDF1."""
    gt = _two_walkers()
    hyp = []
    for r in _as_hyp(gt):
        tid = r.track_id
        if r.frame > 10:
            tid = 203 - tid  # 101 <-> 102
        hyp.append(MotRow(r.frame, tid, r.x, r.y, r.w, r.h, r.score, r.class_id))
    m = evaluate(gt, hyp)
    assert m.id_switches >= 1
    assert m.idf1 < 0.9
    assert m.mota < 1.0


def test_missing_detections_lower_recall():
    """Missing boxes lower recall and MOTA but not precision."""
    gt = _two_walkers()
    hyp = [r for r in _as_hyp(gt) if not (r.track_id == 101 and r.frame % 2 == 0)]
    m = evaluate(gt, hyp)
    assert m.misses == 10
    assert m.recall == pytest.approx(30 / 40)
    assert m.precision == pytest.approx(1.0)
    assert m.mota == pytest.approx(0.75)


def test_false_positive_counted():
    """An extra box is a false positive unless filtered by min_score."""
    gt = _two_walkers()
    hyp = _as_hyp(gt) + [MotRow(3, 999, 400, 300, 20, 20, 0.5, 2)]
    m = evaluate(gt, hyp)
    assert m.false_positives == 1
    assert evaluate(gt, hyp, min_score=0.6).false_positives == 0


def test_ignored_ground_truth_is_neither_hit_nor_miss():
    """Ignored ground truth causes neither false positives nor misses."""
    gt = _two_walkers()
    ignored = [MotRow(f, 3, 300, 200, 30, 30, 0.0, 2, 0.1) for f in range(1, 21)]
    # Found: no false positives. Not found: no misses.
    found = evaluate(gt + ignored, _as_hyp(gt + ignored, dx=1.0))
    missed = evaluate(gt + ignored, _as_hyp(gt))
    for m in (found, missed):
        assert m.mota == pytest.approx(1.0)
        assert m.false_positives == 0 and m.misses == 0
        assert m.num_gt == 40 and m.num_gt_ids == 2
    assert found.ignored_hypotheses == 20
    assert found.num_hyp_ids == 2


def test_low_visibility_can_be_ignored():
    """min_visibility ignores barely visible ground truth."""
    gt = [MotRow(1, 1, 0, 0, 10, 10, 1.0, 1, 0.1), MotRow(1, 2, 50, 0, 10, 10, 1.0, 1, 0.9)]
    m = evaluate(gt, [], min_visibility=0.2)
    assert m.num_gt == 1 and m.misses == 1


def test_hypothesis_on_real_object_overlapping_ignored_box_is_kept():
    """A box that best matches a real object is kept despite an ignored neighbour."""
    real = MotRow(1, 1, 100, 100, 40, 80, 1.0, 2, 1.0)
    ignored = MotRow(1, 2, 104, 100, 40, 80, 0.0, 2, 0.2)  # heavily overlaps the real one
    hyp = [MotRow(1, 7, 100, 100, 40, 80, 0.9, 2)]
    m = evaluate([real, ignored], hyp)
    assert m.misses == 0 and m.false_positives == 0 and m.ignored_hypotheses == 0


def test_class_aware_matching():
    """Boxes of different classes only match when class_aware is off."""
    gt = [MotRow(1, 1, 0, 0, 10, 10, 1.0, 1, 1.0)]
    hyp = [MotRow(1, 5, 0, 0, 10, 10, 0.9, 2)]
    aware = evaluate(gt, hyp)
    assert aware.false_positives == 1 and aware.misses == 1
    blind = evaluate(gt, hyp, class_aware=False)
    assert blind.false_positives == 0 and blind.misses == 0
    unknown = evaluate(gt, [MotRow(1, 5, 0, 0, 10, 10, 0.9, -1)])
    assert unknown.misses == 0


def test_iou_threshold():
    """The IoU threshold decides what matches."""
    gt = [MotRow(1, 1, 0, 0, 10, 10, 1.0, 1, 1.0)]
    hyp = [MotRow(1, 5, 5, 0, 10, 10, 0.9, 1)]  # IoU = 1/3
    assert evaluate(gt, hyp).misses == 1
    assert evaluate(gt, hyp, iou_threshold=0.3).misses == 0
    with pytest.raises(ValueError):
        evaluate(gt, hyp, iou_threshold=0.0)


def test_iou_matrix_values():
    """IoU of known box pairs."""
    iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert iou_matrix([], [[0, 0, 1, 1]]).shape == (0, 1)


def test_duplicate_ids_rejected():
    """Duplicate ids within a frame are a data error."""
    gt = [MotRow(1, 1, 0, 0, 10, 10), MotRow(1, 1, 20, 0, 10, 10)]
    with pytest.raises(ValueError, match='duplicate track ids'):
        evaluate(gt, [])


def test_evaluate_many_overall_and_reports():
    """Per-sequence and overall results, the text table and JSON."""
    gt = _two_walkers()
    half = [r for r in _as_hyp(gt) if r.track_id == 101]
    results = evaluate_many({'good': (gt, _as_hyp(gt)), 'half': (gt, half)})
    assert list(results) == ['good', 'half', OVERALL]
    overall = results[OVERALL]
    assert overall.misses == 20 and overall.num_gt == 80 and overall.num_frames == 40
    assert overall.num_hyp_ids == 3
    assert overall.mota == pytest.approx(0.75)
    table = format_table(results)
    assert 'good' in table and 'half' in table and OVERALL in table and 'MOTA' in table
    assert '100.0' in table and '75.0' in table
    data = json.loads(to_json(results))
    assert data['good']['mota'] == pytest.approx(1.0)
    assert set(data['half']) == set(TrackingMetrics.__dataclass_fields__)
    with pytest.raises(ValueError):
        evaluate_many({OVERALL: (gt, gt)})


def test_empty_sequence_gives_null_ratios():
    """Undefined ratios are NaN, and null in JSON."""
    m = evaluate([], [], num_frames=5)
    assert m.num_frames == 5 and m.num_gt == 0
    assert math.isnan(m.motp)
    assert json.loads(to_json(m))['sequence']['motp'] is None
    assert 'sequence' in format_table(m)


def test_synthetic_ground_truth_against_itself():
    """Synthetic ground truth evaluated against itself is perfect."""
    seq = generate_sequence(SceneConfig(seed=6, num_frames=80))
    gt = synthetic_gt_rows(seq)
    hyp = _as_hyp([r for r in gt if r.consider])
    m = evaluate(gt, hyp, num_frames=len(seq))
    assert m.mota == pytest.approx(1.0) and m.idf1 == pytest.approx(1.0)
    assert m.num_frames == 80
    # Dropping every other frame's boxes of one track costs recall but not precision.
    victim = next(r.track_id for r in gt if r.consider) + 100
    fewer = [r for r in hyp if not (r.track_id == victim and r.frame % 2)]
    m2 = evaluate(gt, fewer)
    assert m2.recall < 1.0 and m2.precision == pytest.approx(1.0)


# ----------------------------------------------------------------------------- HOTA
ALPHAS = 19  # HOTA's localisation thresholds 0.05, 0.10, ..., 0.95


def test_hota_of_perfect_tracking_is_one():
    gt = _two_walkers()
    m = evaluate(gt, _as_hyp(gt))
    assert (m.hota, m.deta, m.assa) == pytest.approx((1.0, 1.0, 1.0))


def test_hota_association_accuracy_of_a_swap_half_way():
    """Each object is followed by two ids for 10 of its 20 frames: AssA = 10 / (20 + 20 - 10)."""
    gt = _two_walkers()
    hyp = [MotRow(r.frame, 203 - r.track_id if r.frame > 10 else r.track_id, r.x, r.y, r.w,
                  r.h, r.score, r.class_id) for r in _as_hyp(gt)]
    m = evaluate(gt, hyp)
    assert m.deta == pytest.approx(1.0)
    assert m.assa == pytest.approx(1 / 3)
    assert m.hota == pytest.approx(math.sqrt(1 / 3))


def test_hota_scores_every_localisation_threshold():
    """A box at IoU 1/3 matches at the 6 alphas up to 0.30.

    At the other 13 it is a miss and a false positive.
    """
    gt = [MotRow(1, 1, 0, 0, 10, 10, 1.0, 1, 1.0)]
    m = evaluate(gt, [MotRow(1, 5, 5, 0, 10, 10, 0.9, 1)], iou_threshold=0.3)
    assert m.misses == 0  # CLEAR-MOT's single threshold
    assert (m.deta, m.assa, m.hota) == pytest.approx((6 / ALPHAS, 6 / ALPHAS, 6 / ALPHAS))


def test_hota_ignores_ignored_ground_truth_and_respects_classes():
    gt = _two_walkers()
    ignored = [MotRow(f, 3, 300, 200, 30, 30, 0.0, 2, 0.1) for f in range(1, 21)]
    for hyp in (_as_hyp(gt + ignored), _as_hyp(gt)):
        assert evaluate(gt + ignored, hyp).hota == pytest.approx(1.0)
    other_class = [MotRow(r.frame, r.track_id, r.x, r.y, r.w, r.h, r.score, 1)
                   for r in _as_hyp(gt)]
    assert evaluate(gt, other_class).hota == pytest.approx(0.0)
    assert evaluate(gt, other_class, class_aware=False).hota == pytest.approx(1.0)


def test_hota_overall_counts_detections_of_all_sequences():
    """Overall DetA is TP / (TP + FN + FP) over both sequences: 60 / 80."""
    gt = _two_walkers()
    half = [r for r in _as_hyp(gt) if r.track_id == 101]
    results = evaluate_many({'good': (gt, _as_hyp(gt)), 'half': (gt, half)})
    assert results['half'].deta == pytest.approx(0.5)
    assert results[OVERALL].deta == pytest.approx(0.75)
    assert results[OVERALL].assa == pytest.approx(1.0)
    assert results[OVERALL].hota == pytest.approx(math.sqrt(0.75))
    table = format_table(results)
    assert 'HOTA' in table and 'DetA' in table and 'AssA' in table and '86.6' in table


def test_hota_of_nothing_is_undefined():
    m = evaluate([], [], num_frames=5)
    assert math.isnan(m.hota) and json.loads(to_json(m))['sequence']['hota'] is None
    only_misses = evaluate(_two_walkers(), [])
    assert only_misses.hota == pytest.approx(0.0) and only_misses.deta == pytest.approx(0.0)


def test_hota_leaves_stdout_to_the_reports(run_python):
    """Loading TrackEval adds nothing to stdout.

    ``centertrack_bag eval --json -`` writes its report there, and TrackEval announces its
    missing optional packages there when imported.
    """
    code = ('from centertrack_ros.evaluation.metrics import evaluate\n'
            'from centertrack_ros.datasets.mot import MotRow\n'
            'row = MotRow(1, 1, 0, 0, 10, 10, 1.0, 1, 1.0)\n'
            'print("HOTA", evaluate([row], [row]).hota)\n')
    proc = run_python(code)
    assert proc.wait(120) == 0, proc.output()
    assert proc.output().strip() == 'HOTA 1.0', proc.output()
