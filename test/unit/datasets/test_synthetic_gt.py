"""The ground truth of a generated sequence as MOT rows."""

import pytest

from centertrack_ros.datasets.mot import read_mot, rows_by_frame, write_mot
from centertrack_ros.datasets.synthetic import synthetic_gt_rows
from centertrack_ros.synthetic import SceneConfig, generate_sequence


def test_synthetic_gt_rows_match_sequence(tmp_path):
    """Synthetic ground truth converts to 1-based MOT rows and round-trips."""
    seq = generate_sequence(SceneConfig(seed=4, num_frames=30))
    rows = synthetic_gt_rows(seq)
    expected = sum(len(seq.ground_truth(i)) for i in range(len(seq)))
    assert len(rows) == expected > 0
    assert min(r.frame for r in rows) >= 1 and max(r.frame for r in rows) <= 30
    gt5 = seq.ground_truth(4)
    frame5 = rows_by_frame(rows)[5]
    assert [r.track_id for r in frame5] == [o.track_id for o in gt5]
    for r, o in zip(frame5, gt5):
        assert r.score == (1.0 if o.consider else 0.0)
        assert r.class_id == o.class_id
        assert r.x2 == pytest.approx(o.x2) and r.y2 == pytest.approx(o.y2)
    path = tmp_path / 'gt' / 'gt.txt'
    write_mot(path, rows)
    back = read_mot(path)
    assert len(back) == len(rows)
    for a, b in zip(back, sorted(rows, key=lambda r: (r.frame, r.track_id))):
        assert (a.frame, a.track_id, a.class_id, a.score) == (b.frame, b.track_id, b.class_id,
                                                              b.score)
        assert a.x == pytest.approx(b.x, abs=1e-3) and a.w == pytest.approx(b.w, abs=1e-3)
