"""The association step: gating, greedy and Hungarian matching, births, coasting and ids.

Expectations follow ``Tracker.step`` of the original (utils/tracker.py): squared distance
between ``ct + tracking`` and the previous ``ct``, admissible only below both box areas and
for equal classes; births strictly above ``new_thresh``; unmatched tracks kept while
``age < max_age``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from centertrack_ros.core.config import TrackerConfig
from centertrack_ros.core.tracker import (
    TrackManager,
    association_costs,
    greedy_match,
    hungarian_match,
    munkres,
)
from centertrack_ros.core.tracks import Detection


def det(x, y, score=0.9, cls=1, size=20.0, tracking=(0.0, 0.0), height=None):
    """Make a detection centred at (x, y) with a ``size`` x ``height`` box."""
    height = size if height is None else height
    return Detection(score=score, class_id=cls, ct=np.array([x, y], dtype=np.float32),
                     tracking=np.array(tracking, dtype=np.float32),
                     bbox=np.array([x - size / 2, y - height / 2, x + size / 2, y + height / 2],
                               dtype=np.float32))


def manager(**options):
    """Track manager with permissive thresholds unless given."""
    options.setdefault('track_thresh', 0.3)
    options.setdefault('new_thresh', 0.3)
    return TrackManager(TrackerConfig(**options))


def ids(tracks):
    return [t.track_id for t in tracks]


# ---------------------------------------------------------------------------- the costs

def test_association_costs_are_squared_displaced_distances():
    tracks = [det(10, 10, size=10), det(50, 50, size=30)]
    dets = [det(14, 13, tracking=(-1, 0), size=10), det(40, 40, size=40)]
    costs = association_costs(dets, tracks)
    assert costs.shape == (2, 2)
    # det 0: displaced to (13, 13); track 0 at distance^2 9 + 9 = 18 < 100 both.
    assert costs[0, 0] == 18
    # det 0 vs track 1: 37^2 * 2 = 2738 > 100 (det area) -> inadmissible.
    assert costs[0, 1] == pytest.approx(1e18 + 2738)
    # det 1 vs track 1: 200 < 900 and < 1600 -> admissible.
    assert costs[1, 1] == 200
    assert costs[1, 0] >= 1e18


def test_association_costs_empty_shapes():
    assert association_costs([], [det(1, 1)]).shape == (0, 1)
    assert association_costs([det(1, 1)], []).shape == (1, 0)
    assert association_costs([], []).shape == (0, 0)


def test_gating_uses_both_areas_and_is_not_strict_at_equality():
    track = det(0, 0, size=10)                      # area 100
    big = det(12, 0, size=40)                       # area 1600, dist^2 144 > 100
    assert association_costs([big], [track])[0, 0] >= 1e18
    small = det(12, 0, size=10)                     # area 100
    bigger_track = det(0, 0, size=40)               # dist^2 144 > det area 100
    assert association_costs([small], [bigger_track])[0, 0] >= 1e18
    exact = det(10, 0, size=10)                     # dist^2 100 == both areas: admissible
    assert association_costs([exact], [track])[0, 0] == 100


def test_gating_by_class():
    costs = association_costs([det(0, 0, cls=2)], [det(0, 0, cls=1)])
    assert costs[0, 0] >= 1e18
    assert association_costs([det(0, 0, cls=2)], [det(0, 0, cls=2)])[0, 0] == 0


def test_greedy_match_is_row_order_first_come():
    costs = np.array([[5.0, 1.0], [0.5, 2.0], [0.1, 0.2]])
    pairs = greedy_match(costs)
    assert pairs.tolist() == [[0, 1], [1, 0]]
    assert costs[0, 1] == 1.0  # the caller's matrix is not modified
    assert greedy_match(np.zeros((3, 0))).shape == (0, 2)
    assert greedy_match(np.full((2, 2), 2e18)).shape == (0, 2)


def test_hungarian_match_splits_inadmissible_pairs():
    costs = np.array([[1.0, 2e18], [2e18, 2e18]])
    pairs, lost_dets, lost_tracks = hungarian_match(costs)
    assert pairs.tolist() == [[0, 0]]
    assert lost_dets == [1] and lost_tracks == [1]


# --------------------------------------------------------------------------- the update

def test_empty_frame_without_tracks():
    m = manager()
    assert m.update([]) == []
    assert m.tracks == []


@pytest.mark.parametrize('hungarian', [False, True])
def test_empty_frame_drops_tracks_by_default(hungarian):
    m = manager(hungarian=hungarian)
    m.update([det(10, 10), det(50, 50)])
    assert m.update([]) == []
    assert m.tracks == []


@pytest.mark.parametrize('hungarian', [False, True])
def test_empty_frame_with_max_age_coasts(hungarian):
    m = manager(max_age=3, hungarian=hungarian)
    m.update([det(10, 10), det(50, 50)])
    coasting = m.update([])
    assert ids(coasting) == [1, 2]
    assert [(t.age, t.active) for t in coasting] == [(2, 0), (2, 0)]
    np.testing.assert_array_equal(coasting[0].ct, [10, 10])


def test_all_new_objects_get_ids_in_score_order():
    m = manager()
    frame = [det(10, 10, 0.95), det(100, 10, 0.8), det(10, 100, 0.7), det(100, 100, 0.5)]
    out = m.update(frame)
    assert ids(out) == [1, 2, 3, 4]
    assert [t.score for t in out] == [0.95, 0.8, 0.7, 0.5]
    assert all((t.age, t.active) == (1, 1) for t in out)
    # Each track carries its detection's fields; the detections themselves stay identity-free.
    assert out[0].score == frame[0].score and np.array_equal(out[0].bbox, frame[0].bbox)
    assert not hasattr(frame[0], 'track_id')


def test_births_need_strictly_more_than_effective_new_thresh():
    m = TrackManager(TrackerConfig(track_thresh=0.4, new_thresh=0.5))
    out = m.update([det(10, 10, 0.6), det(100, 10, 0.5), det(10, 100, 0.45)])
    assert [t.score for t in out] == [0.6]
    m = TrackManager(TrackerConfig(track_thresh=0.5, new_thresh=0.2))  # raised to 0.5
    out = m.update([det(10, 10, 0.51), det(100, 10, 0.5), det(10, 100, 0.3)])
    assert [t.score for t in out] == [0.51]


def test_matched_tracks_keep_ids_and_count_activity():
    m = manager()
    m.update([det(10, 10), det(60, 60)])
    out = m.update([det(62, 61, 0.8), det(12, 9, 0.7)])
    assert ids(out) == [2, 1]
    assert [(t.age, t.active) for t in out] == [(1, 2), (1, 2)]
    out = m.update([det(13, 9), det(63, 60)])
    assert ids(out) == [1, 2] and [t.active for t in out] == [3, 3]


def test_low_scoring_detection_still_continues_a_track():
    # Only births need new_thresh; a match keeps any detection that reached the tracker.
    m = TrackManager(TrackerConfig(track_thresh=0.3, new_thresh=0.8))
    m.update([det(10, 10, 0.9)])
    out = m.update([det(11, 10, 0.35)])
    assert ids(out) == [1] and out[0].active == 2


def test_tracking_offset_is_used_for_association():
    m = manager()
    m.update([det(10, 10, size=10)])
    moved = m.update([det(40, 10, size=10, tracking=(-29, 1))])
    assert ids(moved) == [1]
    m = manager()
    m.update([det(10, 10, size=10)])
    assert ids(m.update([det(40, 10, size=10)])) == [2]  # no offset: too far, new track


def test_class_mismatch_is_never_matched():
    m = manager(max_age=2)
    m.update([det(10, 10, cls=1)])
    out = m.update([det(10, 10, cls=2)])
    assert [(t.track_id, t.class_id, t.active) for t in out] == [(2, 2, 1), (1, 1, 0)]


def test_distance_gating_by_track_area():
    m = manager()
    m.update([det(0, 0, size=10)])                 # area 100
    out = m.update([det(11, 0, size=50)])          # 121 > 100, though < 2500
    assert ids(out) == [2]


def test_distance_gating_by_detection_area():
    m = manager()
    m.update([det(0, 0, size=50)])                 # area 2500
    out = m.update([det(11, 0, size=10)])          # 121 > 100 (the detection's area)
    assert ids(out) == [2]


def test_greedy_higher_score_wins_a_contested_track():
    m = manager()
    m.update([det(50, 50, size=30)])
    # The first (higher-scoring) detection takes the track although the second is closer.
    out = m.update([det(58, 50, 0.9, size=30), det(51, 50, 0.8, size=30)])
    assert [(t.score, t.track_id) for t in out] == [(0.9, 1), (0.8, 2)]


def _two_by_two(hungarian):
    """Greedy pairs (d0, t0) and (d1, t1) for 1 + 81; the optimum is (d0, t1) + (d1, t0)."""
    m = manager(hungarian=hungarian)
    m.update([det(0, 0, size=20), det(10, 0, size=20)])  # ids 1 at x=0, 2 at x=10
    return m.update([det(1, 0, 0.9, size=20), det(-9, 0, 0.8, size=20)])


def test_hungarian_finds_the_global_optimum_where_greedy_does_not():
    # Costs: d0 (x=1): 1 to id 1, 81 to id 2; d1 (x=-9): 81 to id 1, 361 to id 2.
    greedy = _two_by_two(hungarian=False)
    assert [(t.ct[0], t.track_id) for t in greedy] == [(1, 1), (-9, 2)]  # 1 + 361
    optimal = _two_by_two(hungarian=True)
    assert sorted((float(t.ct[0]), t.track_id) for t in optimal) == [(-9, 1), (1, 2)]


def test_hungarian_inadmissible_pairs_become_new_tracks_in_order():
    m = manager(hungarian=True, max_age=2)
    m.update([det(0, 0, cls=1), det(100, 0, cls=1), det(200, 0, cls=1)])  # ids 1, 2, 3
    # Square problem: every detection is paired; two pairs are inadmissible (class).
    out = m.update([det(0, 0, 0.9, cls=2), det(100, 0, 0.8, cls=3), det(201, 0, 0.7, cls=1)])
    assert [(t.track_id, t.score, t.active) for t in out[:3]] == [
        (3, 0.7, 2), (4, 0.9, 1), (5, 0.8, 1)]
    # The tracks of the inadmissible pairs coast (their order is not part of the contract).
    assert sorted((t.track_id, t.active) for t in out[3:]) == [(1, 0), (2, 0)]


def test_hungarian_more_detections_than_tracks():
    m = manager(hungarian=True)
    m.update([det(0, 0)])
    out = m.update([det(300, 0, 0.95), det(1, 0, 0.9), det(600, 0, 0.85)])
    # The matched one first, then births in detection order.
    assert [(t.track_id, float(t.ct[0])) for t in out] == [(1, 1), (2, 300), (3, 600)]


def test_hungarian_never_assigned_detections_are_born_before_inadmissible_ones():
    # 3 detections, 1 track, none admissible: the solver pairs one detection with the
    # track; the original appends it after the never-assigned ones.
    m = manager(hungarian=True)
    m.update([det(0, 0)])
    out = m.update([det(300, 0, 0.95), det(400, 0, 0.9), det(500, 0, 0.85)])
    assert [float(t.ct[0]) for t in out] == [400, 500, 300]
    assert ids(out) == [2, 3, 4]


@pytest.mark.parametrize('max_age', [-1, 0, 1, 2, 4])
def test_max_age_keeps_tracks_while_age_is_below_it(max_age):
    m = manager(max_age=max_age)
    m.update([det(10, 10)])
    present = []
    for _ in range(6):
        present.append([(t.track_id, t.age, t.active) for t in m.update([])])
    # Matched tracks have age 1; each unmatched frame adds one while age < max_age.
    kept = max(0, max_age - 1)
    expected = [[(1, 2 + i, 0)] for i in range(kept)] + [[]] * (6 - kept)
    assert present == expected


def test_coasting_track_is_rematched_with_activity_restarted():
    m = manager(max_age=3)
    m.update([det(10, 10)])
    m.update([det(10, 10)])                       # active 2
    m.update([])                                  # coasting: age 2, active 0
    out = m.update([det(12, 10, 0.8)])
    assert [(t.track_id, t.age, t.active) for t in out] == [(1, 1, 1)]


def test_coasting_track_matches_at_its_last_position():
    m = manager(max_age=5)
    m.update([det(10, 10, size=10)])
    m.update([])
    m.update([])
    assert ids(m.update([det(15, 12, size=10)])) == [1]


def test_result_order_is_matched_then_born_then_coasting():
    m = manager(max_age=3)
    m.update([det(0, 0), det(100, 0)])            # ids 1, 2
    out = m.update([det(300, 0, 0.95), det(101, 0, 0.9)])
    assert [(t.track_id, t.active) for t in out] == [(2, 2), (3, 1), (1, 0)]


def test_ids_are_never_reused_until_reset():
    m = manager()
    m.update([det(0, 0), det(100, 0)])            # ids 1, 2
    m.update([])                                  # both dropped
    assert ids(m.update([det(0, 0), det(100, 0)])) == [3, 4]
    m.reset()
    assert m.tracks == []
    assert ids(m.update([det(0, 0)])) == [1]      # the original's reset restarts at 1


def test_earlier_results_are_not_mutated():
    m = manager(max_age=4)
    first = m.update([det(0, 0), det(100, 0), det(200, 0)])
    snapshot = copy.deepcopy([t.to_dict() for t in first])
    m.update([det(1, 0, 0.8)])                    # id 1 matched, 2 and 3 coast
    second = list(m.tracks)
    snapshot2 = copy.deepcopy([t.to_dict() for t in second])
    m.update([det(101, 0, 0.7), det(2, 0, 0.6)])  # 2 re-matched, 1 matched, 3 older
    m.update([])
    assert [t.to_dict() for t in first] == snapshot
    assert [t.to_dict() for t in second] == snapshot2


def test_manager_config_can_change_between_frames():
    m = manager(max_age=-1)
    m.update([det(0, 0)])
    m.config = TrackerConfig(track_thresh=0.3, max_age=3)
    assert ids(m.update([])) == [1]


# ------------------------------------------------- property: greedy equals the original's

def _reference_greedy_step(state: dict, frame: list[dict], new_thresh: float,
                           max_age: int) -> list[dict]:
    """One frame of the original's greedy tracker on plain dicts (written from its rules)."""
    previous = state['tracks']
    taken: set[int] = set()
    matched_dets: set[int] = set()
    out = []
    for i, item in enumerate(frame):
        shifted = item['ct'] + item['tracking']
        area_i = np.float32((item['bbox'][2] - item['bbox'][0])
                            * (item['bbox'][3] - item['bbox'][1]))
        best = None
        for j, track in enumerate(previous):
            if j in taken:
                continue
            dist = np.float32(((track['ct'] - shifted) ** 2).sum())
            area_j = np.float32((track['bbox'][2] - track['bbox'][0])
                                * (track['bbox'][3] - track['bbox'][1]))
            if dist > area_j or dist > area_i or item['class'] != track['class']:
                continue
            if best is None or dist < best[0]:  # first index wins ties, like argmin
                best = (dist, j)
        if best is not None:
            j = best[1]
            taken.add(j)
            matched_dets.add(i)
            out.append(dict(item, tracking_id=previous[j]['tracking_id'], age=1,
                            active=previous[j]['active'] + 1))
    for i, item in enumerate(frame):
        if i not in matched_dets and item['score'] > new_thresh:
            state['id_count'] += 1
            out.append(dict(item, tracking_id=state['id_count'], age=1, active=1))
    for j, track in enumerate(previous):
        if j not in taken and track['age'] < max_age:
            out.append(dict(track, age=track['age'] + 1, active=0))
    state['tracks'] = out
    return out


_DETECTION = st.tuples(
    st.integers(0, 8), st.integers(0, 8),           # centre on a coarse grid: collisions
    st.sampled_from([-6.0, 0.0, 3.0]),             # tracking offset x
    st.sampled_from([4.0, 8.0, 12.0]),             # box side
    st.integers(1, 2),                              # class
    st.floats(0.25, 1.0, width=32),                 # score (some below new_thresh)
)


@settings(max_examples=150, derandomize=True)
@given(frames=st.lists(st.lists(_DETECTION, max_size=6), min_size=1, max_size=8),
       new_thresh=st.sampled_from([0.3, 0.5, 0.8]), max_age=st.sampled_from([-1, 1, 2, 4]))
def test_greedy_tracker_equals_the_original_rules(frames, new_thresh, max_age):
    m = TrackManager(TrackerConfig(track_thresh=0.3, new_thresh=new_thresh, max_age=max_age))
    state = {'tracks': [], 'id_count': 0}
    for raw in frames:
        raw = sorted(raw, key=lambda d: -d[5])  # detections arrive best first
        ours = [det(5 * gx, 5 * gy, score, cls, size, (dx, 0.0))
                for gx, gy, dx, size, cls, score in raw]
        theirs = [{'ct': t.ct.copy(), 'tracking': t.tracking.copy(), 'bbox': t.bbox.copy(),
                   'class': t.class_id, 'score': t.score} for t in ours]
        got = m.update(ours)
        expected = _reference_greedy_step(state, theirs, new_thresh, max_age)
        assert [(t.track_id, t.age, t.active, t.ct.tolist()) for t in got] == [
            (e['tracking_id'], e['age'], e['active'], e['ct'].tolist()) for e in expected]


# ------------------------------------------------------- Hungarian: the original's solver

X = 1e18

# Matrices with 1e18 entries and the assignment scikit-learn 0.22's Munkres (the solver the
# original calls through sklearn.utils.linear_assignment_) returns for them. A generic
# solver returns other pairs for the first four (float64 cannot resolve 1e18 + small).
ORIGINAL_ASSIGNMENTS = [
    ([[X, 94, X], [X, 75, X], [260, 121, X]], [[0, 2], [1, 1], [2, 0]]),
    ([[X, X, 203, X], [X, 277, X, X], [X, 200, 273, X], [X, X, 221, X]],
     [[0, 2], [1, 3], [2, 1], [3, 0]]),
    ([[X, 27, X], [X, 3, X], [112, X, 177]], [[0, 2], [1, 1], [2, 0]]),
    ([[X, 34, X], [X, 18, X], [89, X, X]], [[0, 2], [1, 1], [2, 0]]),
    ([[10, 20, X], [20, 50, X], [X, X, X]], [[0, 1], [1, 0], [2, 2]]),
    ([[X, X], [X, X], [X, X]], [[0, 0], [1, 1]]),
    ([[5, X], [X, X], [1, X]], [[0, 1], [2, 0]]),
    ([[X, X, X]], [[0, 0]]),
]


@pytest.mark.parametrize(('costs', 'expected'), ORIGINAL_ASSIGNMENTS)
def test_munkres_reproduces_the_original_solver(costs, expected):
    assert munkres(np.array(costs)).tolist() == expected


def test_munkres_empty():
    assert munkres(np.zeros((0, 3))).shape == (0, 2)
    assert munkres(np.zeros((2, 0))).shape == (0, 2)


@settings(max_examples=100, derandomize=True)
@given(st.integers(1, 7).flatmap(lambda n: st.integers(1, 7).flatmap(
    lambda m: st.lists(st.lists(st.floats(0, 1000, allow_nan=False), min_size=m, max_size=m),
                       min_size=n, max_size=n))))
def test_munkres_is_optimal_on_moderate_costs(rows):
    costs = np.array(rows)
    pairs = munkres(costs)
    n, m = costs.shape
    assert len(pairs) == min(n, m)
    assert len(set(pairs[:, 0])) == len(pairs) == len(set(pairs[:, 1]))
    assert pairs[:, 0].tolist() == sorted(pairs[:, 0].tolist())
    r, c = linear_sum_assignment(costs)
    assert costs[pairs[:, 0], pairs[:, 1]].sum() == pytest.approx(costs[r, c].sum(), abs=1e-6)


def test_hungarian_gives_a_track_to_the_closer_detection():
    # Track 2 (x=30) is admissible to d0 (cost 34) and d1 (cost 18); d2 only to track 1.
    # Another det/track pair must be inadmissible, which is where 1e18 costs lose precision.
    m = manager(hungarian=True)
    m.update([det(0, 0), det(30, 0), det(500, 500)])
    d0, d1, d2 = det(33, -5, 0.9), det(33, -3, 0.8), det(8, 5, 0.7)
    out = m.update([d0, d1, d2])
    assert [(t.track_id, t.score) for t in out] == [(2, 0.8), (1, 0.7), (4, 0.9)]


@pytest.mark.timeout(30)
def test_munkres_refuses_non_finite_costs():
    with pytest.raises(ValueError, match='finite'):
        munkres(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match='finite'):
        munkres(np.array([[np.inf, 1.0]]))


@pytest.mark.timeout(30)
@pytest.mark.parametrize('hungarian', [False, True])
def test_nan_detection_is_never_matched(hungarian):
    # A NaN centre (e.g. from a numerically broken network) must neither match nor hang.
    m = manager(hungarian=hungarian)
    m.update([det(0, 0), det(50, 0)])
    out = m.update([det(np.nan, 0, 0.9), det(1, 0, 0.8)])
    assert [t.track_id for t in out] == [1, 3]
    assert np.isnan(out[1].ct[0])
