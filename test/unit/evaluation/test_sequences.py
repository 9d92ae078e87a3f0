"""Scoring several aligned sequences at once, the report it gives, and sequence names.

The expected counts are worked out by hand from boxes laid out so that every match is
unambiguous (IoU 1 or 0), independently of the metrics code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from centertrack_ros.datasets.mot import MotRow
from centertrack_ros.evaluation.metrics import OVERALL
from centertrack_ros.evaluation.sequences import (
    AlignedSequence,
    evaluate_sequences,
    sequence_name,
)

CAR, PEDESTRIAN = 1, 2


def box(frame: int, track_id: int, x: float, class_id: int = CAR, score: float = 1.0) -> MotRow:
    return MotRow(frame, track_id, x, 10.0, 20.0, 20.0, score=score, class_id=class_id)


def perfect() -> AlignedSequence:
    """One car over three frames, tracked exactly under another id."""
    gt = [box(f, 1, 10.0) for f in (1, 2, 3)]
    return AlignedSequence('perfect', gt, [box(f, 7, 10.0) for f in (1, 2, 3)], num_frames=3)


def flawed() -> AlignedSequence:
    """Two cars over two frames: one missed in frame 2, one false box in frame 2."""
    gt = [box(1, 1, 10.0), box(1, 2, 100.0), box(2, 1, 10.0), box(2, 2, 100.0)]
    tracks = [box(1, 5, 10.0), box(1, 6, 100.0), box(2, 5, 10.0), box(2, 9, 300.0, score=0.2)]
    return AlignedSequence('flawed', gt, tracks, num_frames=4, unmatched_stamps=2)


def test_each_sequence_and_the_combination_are_scored():
    report = evaluate_sequences([perfect(), flawed()])
    assert list(report.metrics) == ['perfect', 'flawed', OVERALL]
    one, two, overall = (report.metrics[k] for k in ('perfect', 'flawed', OVERALL))
    assert (one.mota, one.idf1, one.misses, one.false_positives) == (1.0, 1.0, 0, 0)
    assert (two.num_gt, two.misses, two.false_positives, two.id_switches) == (4, 1, 1, 0)
    assert two.mota == pytest.approx(1 - 2 / 4)
    assert (overall.num_gt, overall.misses, overall.false_positives) == (7, 1, 1)
    assert overall.mota == pytest.approx(1 - 2 / 7), 'ratios recomputed from summed counts'
    assert (one.num_frames, two.num_frames, overall.num_frames) == (3, 4, 7), \
        'frames without boxes count'


def test_the_report_keeps_its_settings_and_serialises_to_json():
    report = evaluate_sequences([perfect(), flawed()], iou_threshold=0.3, min_score=0.5)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) == {'sequences', 'overall', 'settings'}
    assert data['settings'] == {'iou_threshold': 0.3, 'class_aware': True,
                                'min_visibility': 0.0, 'min_score': 0.5}
    assert list(data['sequences']) == ['perfect', 'flawed']
    assert data['sequences']['flawed']['unmatched_track_stamps'] == 2
    assert data['sequences']['perfect']['unmatched_track_stamps'] == 0
    # min_score dropped the false box (score 0.2) before scoring.
    assert data['sequences']['flawed']['false_positives'] == 0
    assert data['overall']['num_gt'] == 7
    assert [s.name for s in report.sequences] == ['perfect', 'flawed']


def test_class_aware_scoring_matches_only_equal_classes(caplog):
    relabelled = perfect()
    relabelled.tracks = [box(r.frame, r.track_id, r.x, class_id=PEDESTRIAN)
                         for r in relabelled.tracks]
    relabelled.class_map = {'pedestrian': PEDESTRIAN}
    with caplog.at_level(logging.WARNING, logger='centertrack_ros.evaluation.sequences'):
        aware = evaluate_sequences([relabelled]).metrics['perfect']
    assert (aware.misses, aware.false_positives) == (3, 3)
    assert 'perfect: no track class occurs in the ground truth (pedestrian)' in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger='centertrack_ros.evaluation.sequences'):
        agnostic = evaluate_sequences([relabelled], class_aware=False).metrics['perfect']
    assert (agnostic.misses, agnostic.false_positives, agnostic.mota) == (0, 0, 1.0)
    assert caplog.text == ''


def test_sequence_names_must_be_unique():
    with pytest.raises(ValueError, match='sequence names must be unique'):
        evaluate_sequences([perfect(), perfect()])


def test_sequence_names_come_from_the_files_and_stay_unique():
    gt = Path('/data/MOT17-02/gt')
    assert sequence_name(gt, Path('/out/MOT17-02.txt'), {}) == 'MOT17-02'
    assert sequence_name(gt, Path('/out/run_bag'), {}) == 'run_bag', 'a bag folder: its name'
    assert sequence_name(gt, Path('/out/MOT17-02.txt'), {'MOT17-02': 1}) == 'gt'
    assert sequence_name(Path('/d/OVERALL'), Path('/o/OVERALL.txt'), {}) == 'seq1', \
        'the combined result keeps its name'
    taken = {'a': 1, 'gt': 2, 'seq4': 3}
    assert sequence_name(Path('/d/gt'), Path('/o/a.txt'), taken) == 'seq5'
