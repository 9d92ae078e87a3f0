"""The counting of ``centertrack_bag benchmark``, without ROS: answers against ground truth.

What a live node published is scored frame by frame against the ground truth; a frame it did
not answer must count as a frame with no output (its objects are misses), never be left out.
"""

from __future__ import annotations

import json
import math

import pytest

from centertrack_ros.bags.benchmark import (
    LIVE,
    OFFLINE,
    BenchmarkReport,
    CameraRun,
    explain_losses,
    gap_summary,
    latency_summary,
    score_run,
)
from centertrack_ros.bags.cameras import camera_names
from centertrack_ros.bags.errors import BagError
from centertrack_ros.bags.evaluation import Rows
from centertrack_ros.datasets.mot import MotRow
from centertrack_ros.evaluation.metrics import OVERALL, evaluate
from centertrack_ros.runtime.boxes import DetectionBox as Box
from centertrack_ros.tools.bag import benchmark_rates
from centertrack_ros.tools.live_benchmark import node_parameters, tracker_parameters

STAMPS = [1_000_000_000 + k * 100_000_000 for k in range(6)]
CLASSES = ('car', 'pedestrian')


def ground_truth() -> Rows:
    """Two cars moving right on six frames (ids 1 and 2), a pedestrian on the first three."""
    by_stamp = {}
    for k, stamp in enumerate(STAMPS):
        boxes = [Box(1, 50 + 10 * k, 60, 40, 30, 'car', 1.0),
                 Box(2, 200 + 5 * k, 100, 60, 40, 'car', 1.0)]
        if k < 3:
            boxes.append(Box(3, 300, 150, 20, 50, 'pedestrian', 1.0))
        by_stamp[stamp] = boxes
    return Rows('gt', by_stamp=by_stamp, class_names=CLASSES)


def perfect_answers(gt: Rows, skip=()) -> dict[int, list[Box]]:
    """Return the ground truth as tracks (ids 11, 12, ...), except for the frames in ``skip``."""
    return {s: [Box(b.track_id + 10, b.cx, b.cy, b.width, b.height, b.class_name, 0.9)
                for b in boxes] for k, (s, boxes) in enumerate(sorted(gt.by_stamp.items()))
            if k not in skip}


def camera(name='front', skip=(), sent=True) -> CameraRun:
    gt = ground_truth()
    run = CameraRun(name, gt, list(STAMPS))
    for k, (stamp, boxes) in enumerate(sorted(perfect_answers(gt, skip).items())):
        run.answer(stamp, boxes, stamp + 50_000_000 + k * 1_000_000 if sent else None)
    if sent:
        run.sent_ns = {s: s for s in STAMPS}
    return run


def rows(answers: dict[int, list[Box]]) -> list[MotRow]:
    ids = {name: k + 1 for k, name in enumerate(CLASSES)}
    return [MotRow(STAMPS.index(s) + 1, b.track_id, b.x1, b.y1, b.width, b.height, b.score,
                   ids[b.class_name]) for s, boxes in answers.items() for b in boxes]


def test_every_frame_answered_scores_perfectly():
    report = score_run(LIVE, [camera()], rate=1.0)
    m = report.metrics[OVERALL]
    assert report.answered_fraction() == 1.0
    assert (m.mota, m.idf1, m.id_switches, m.misses) == (1.0, 1.0, 0, 0)
    assert m.hota == pytest.approx(1.0)
    assert report.unanswered == {'front': []}
    assert report.gaps[OVERALL] == {'max_frames': 1, 'gaps_over_one_frame': 0,
                                    'frames_skipped_inside': 0}


def test_an_unanswered_frame_counts_as_no_output_for_that_frame():
    gt = ground_truth()
    report = score_run(LIVE, [camera(skip=(2,))], rate=3.0)
    # Frame 3 (index 2) is still a frame: its three objects are misses, nothing is left out.
    assert (report.frames[OVERALL], report.answered[OVERALL]) == (6, 5)
    assert report.answered_fraction() == pytest.approx(5 / 6)
    assert report.unanswered == {'front': [3]}
    m = report.metrics[OVERALL]
    assert m.num_frames == 6 and m.num_gt == 15 and m.misses == 3
    # The same numbers as scoring the answers with the skipped frame empty, by hand.
    expected = evaluate(rows({s: b for s, b in gt.by_stamp.items()}),
                        rows(perfect_answers(gt, skip=(2,))), num_frames=6)
    assert (m.mota, m.idf1, m.id_switches, m.misses) == \
        (expected.mota, expected.idf1, expected.id_switches, expected.misses)
    assert m.hota == pytest.approx(expected.hota) and m.hota < 1.0
    # The tracker saw frame 2 and then frame 4: one jump over one skipped frame.
    assert report.gaps[OVERALL] == {'max_frames': 2, 'gaps_over_one_frame': 1,
                                    'frames_skipped_inside': 1}


def test_leaving_the_unanswered_frame_out_would_score_higher():
    # The counting that the benchmark must not do: only the answered frames.
    gt = ground_truth()
    answered = perfect_answers(gt, skip=(2,))
    kept = {s: b for s, b in gt.by_stamp.items() if s in answered}
    wrong = evaluate(rows(kept), rows(answered), num_frames=6)
    right = score_run(LIVE, [camera(skip=(2,))], rate=1.0).metrics[OVERALL]
    assert wrong.mota == 1.0 and right.mota < wrong.mota


def test_answers_for_other_stamps_and_repeats_are_counted_not_scored():
    run = camera()
    run.answer(STAMPS[0] + 1, [Box(99, 10, 10, 5, 5, 'car', 0.9)], 1)  # never played
    run.answer(STAMPS[1], [], 2)  # a second answer for frame 2: the first one counts
    report = score_run(LIVE, [run], rate=1.0)
    assert report.unexpected_answers == {'front': 1, OVERALL: 1}
    assert run.repeated == 1
    assert report.metrics[OVERALL].mota == 1.0


def test_latency_is_received_minus_sent_on_one_clock():
    report = score_run(LIVE, [camera(skip=(0,))], rate=1.0)
    # Answer k (of the 5 answered) arrived 50 + k ms after its frame was sent.
    assert report.latency[OVERALL]['samples'] == 5
    assert report.latency[OVERALL]['p50_ms'] == pytest.approx(52.0)
    assert report.latency[OVERALL]['max_ms'] == pytest.approx(54.0)
    # Answers came 101 ms apart (frames 100 ms apart, each answer 1 ms later than the last).
    assert report.answer_interval_ms[OVERALL] == pytest.approx(101.0)
    assert latency_summary([]) == {'p50_ms': None, 'p90_ms': None, 'p99_ms': None,
                                   'max_ms': None, 'samples': 0}
    values = list(range(1, 101))
    summary = latency_summary(values)
    assert summary['p99_ms'] == pytest.approx(99.01) and summary['max_ms'] == 100


def test_cameras_are_reported_each_and_overall():
    report = score_run(LIVE, [camera('front'), camera('rear', skip=(1, 2, 3))], rate=1.0,
                       node={'front': {'frames_received': 6, 'frames_processed': 6},
                             'rear': {'frames_received': 6, 'frames_processed': 3,
                                      'frames_dropped': 3}})
    assert report.frames == {'front': 6, 'rear': 6, OVERALL: 12}
    assert report.answered == {'front': 6, 'rear': 3, OVERALL: 9}
    assert report.gaps['rear']['max_frames'] == 4
    assert report.node[OVERALL]['frames_dropped'] == 3
    assert report.node[OVERALL]['frames_processed'] == 9
    assert report.metrics['front'].mota == 1.0 > report.metrics['rear'].mota
    assert report.metrics[OVERALL].num_gt == 30
    text = explain_losses(report, 10.0)
    assert '3 of 12 frames not answered' in text and 'skipped 3' in text
    assert 'at most 4 frames ahead (400 ms of the drive)' in text


def test_report_json_and_markdown():
    offline = score_run(OFFLINE, [camera(sent=False)])
    live = score_run(LIVE, [camera(skip=(4,))], rate=3.0,
                     node={'front': {'frames_received': 6, 'frames_processed': 5,
                                     'frames_dropped': 1}})
    report = BenchmarkReport([offline, live], {'front': 'bag:/camera/image_raw'}, 10.0,
                             'loaded model', {'cpu': 'AMD EPYC', 'cores': '2', 'gpu': 'none'})
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert [r['label'] for r in data['runs']] == ['offline', 'live x3']
    assert data['runs'][0]['overall']['latency']['p50_ms'] is None
    assert data['runs'][1]['overall']['answered_fraction'] == pytest.approx(5 / 6)
    assert data['runs'][1]['cameras']['front']['unanswered_frames'] == [5]
    assert 'published an image' in data['latency_measures']
    table = report.markdown()
    assert '| offline | 6/6 (100.0 %) | 100.0 |' in table
    assert '| live x3 (30 fps) | 5/6 (83.3 %) |' in table
    assert 'AMD EPYC, 2 cores' in table
    assert 'live x3: 1 of 6 frames not answered' in table


def test_gap_summary():
    assert gap_summary([]) == {'max_frames': 0, 'gaps_over_one_frame': 0,
                               'frames_skipped_inside': 0}
    assert gap_summary([1, 3, 1, 2]) == {'max_frames': 3, 'gaps_over_one_frame': 2,
                                         'frames_skipped_inside': 3}


def test_camera_names_from_bags_are_valid_node_camera_names():
    assert camera_names(['/data/drive-2.mcap', '/data/7front', '/x/drive-2']) == \
        ['drive_2', 'camera_7front', 'drive_2_2']
    assert camera_names(['a', 'b'], ['left', 'right']) == ['left', 'right']
    for names in (['left'], ['left', 'left'], ['left', '2nd'], ['left', OVERALL]):
        with pytest.raises(BagError):
            camera_names(['a', 'b'], names)


def test_rates_default_to_the_recorded_pace_and_keep_their_order():
    assert benchmark_rates(()) == [1.0]
    assert benchmark_rates([1.0, 3.0, 1.0]) == [1.0, 3.0]
    assert benchmark_rates([0.5]) == [0.5]


def test_node_parameters_keep_their_types():
    params = node_parameters({'tracker.track_thresh': 0, 'tracker.max_age': 10.0,
                              'model.path': '', 'engine': 'auto', 'tracker.hungarian': True,
                              'model.class_names': ['car'], 'cameras': ['a'],
                              'model.mean': None, 'use_sim_time': False})
    assert params == {'tracker.track_thresh': 0.0, 'tracker.max_age': 10, 'model.path': '""',
                      'engine': '"auto"', 'tracker.hungarian': True,
                      'model.class_names': ['car'], 'use_sim_time': False}
    assert isinstance(params['tracker.track_thresh'], float)


def test_tracker_parameters_cover_what_a_sweep_changes():
    from centertrack_ros.core.config import TrackerConfig
    values = tracker_parameters(TrackerConfig(track_thresh=0.35, max_age=7, association='byte',
                                              motion='velocity', prior_lost=True))
    assert values['tracker.track_thresh'] == 0.35 and values['tracker.max_age'] == 7
    assert values['tracker.association'] == 'byte' and values['tracker.motion'] == 'velocity'
    assert values['tracker.prior_lost'] is True
    from centertrack_ros.runtime import settings
    assert set(values) <= set(settings.SPECS)
    assert all(settings.check_value(k, v) is None for k, v in values.items())
    assert not math.isnan(values['tracker.low_thresh'])
