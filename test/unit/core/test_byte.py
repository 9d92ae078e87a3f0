"""BYTE association and the motion model of coasting tracks.

BYTE (ByteTrack, Zhang et al., ECCV 2022) here: CenterTrack's matching of the detections above
the output threshold with every kept track, then of the still unmatched tracks seen in the
previous frame with the detections between ``low_thresh`` and the output threshold; births only
from the first set. ``motion: velocity`` moves coasting tracks on by their box centre's
smoothed velocity and widens their gate while they go unseen. The original association
(``test_tracker.py``) is unchanged by either.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centertrack_ros.core import motion
from centertrack_ros.core.config import ConfigError, TrackerConfig
from centertrack_ros.core.tracker import TrackManager, association_costs
from centertrack_ros.core.tracks import Detection, Track


def det(x, y, score=0.9, cls=1, size=20.0, tracking=(0.0, 0.0)):
    """Make a ``size`` x ``size`` detection centred at (x, y)."""
    return Detection(score=score, class_id=cls, ct=np.array([x, y], dtype=np.float32),
                     tracking=np.array(tracking, dtype=np.float32),
                     bbox=np.array([x - size / 2, y - size / 2, x + size / 2, y + size / 2],
                                   dtype=np.float32))


def manager(**options):
    """BYTE with track/new threshold 0.4 and low threshold 0.1 unless given."""
    options.setdefault('association', 'byte')
    options.setdefault('track_thresh', 0.4)
    options.setdefault('new_thresh', 0.4)
    options.setdefault('low_thresh', 0.1)
    return TrackManager(TrackerConfig(**options))


def summary(tracks):
    return [(t.track_id, t.active) for t in tracks]


# ----------------------------------------------------------------------------- settings

def test_association_and_motion_are_validated():
    with pytest.raises(ConfigError, match="tracker.association must be one of greedy, "
                                          "hungarian, byte, got 'bytetrack'"):
        TrackerConfig(association='bytetrack')
    with pytest.raises(ConfigError, match='tracker.motion must be one of none, velocity'):
        TrackerConfig(motion='kalman')
    with pytest.raises(ConfigError, match=r'tracker.low_thresh must be in \[0, 1\]'):
        TrackerConfig(low_thresh=-0.1)


@pytest.mark.parametrize(('association', 'hungarian', 'optimal', 'byte'), [
    ('greedy', False, False, False), ('greedy', True, True, False),
    ('hungarian', False, True, False), ('hungarian', True, True, False),
    ('byte', False, False, True), ('byte', True, True, True)])
def test_hungarian_is_an_alias_and_makes_every_step_optimal(association, hungarian, optimal,
                                                             byte):
    config = TrackerConfig(association=association, hungarian=hungarian)
    assert (config.optimal_matching, config.byte) == (optimal, byte)


def test_only_byte_lowers_what_reaches_the_tracker():
    greedy = TrackerConfig(track_thresh=0.3, out_thresh=0.35, low_thresh=0.1)
    assert greedy.effective_low_thresh == greedy.effective_out_thresh == 0.35
    for association in ('greedy', 'hungarian'):
        config = TrackerConfig(association=association, low_thresh=0.05)
        assert config.effective_low_thresh == config.effective_out_thresh == 0.4
    byte = TrackerConfig(association='byte', track_thresh=0.3, low_thresh=0.1)
    assert (byte.effective_low_thresh, byte.effective_out_thresh) == (0.1, 0.3)
    # A low threshold above the output threshold leaves no second set.
    assert TrackerConfig(association='byte', low_thresh=0.9).effective_low_thresh == 0.4


# ----------------------------------------------------------------------------- BYTE

def test_a_low_detection_continues_a_track_and_is_published_with_it():
    m = manager()
    m.update([det(10, 10)])
    out = m.update([det(12, 10, score=0.2)])
    assert summary(out) == [(1, 2)]
    assert out[0].score == pytest.approx(0.2)


def test_low_detections_never_start_tracks():
    m = manager()
    assert m.update([det(10, 10, score=0.3), det(100, 10, score=0.15)]) == []
    m.update([det(10, 10)])
    assert summary(m.update([det(11, 10, score=0.3), det(200, 10, score=0.3)])) == [(1, 2)]


def test_high_detections_are_associated_first_even_when_matching_is_optimal():
    # One track; a low detection right on it and a high one a little off. Hungarian matching
    # over all detections would give the track to the closer one; BYTE's first step takes the
    # high one, and the low one is left without a track (and never becomes one).
    m = manager(hungarian=True)
    m.update([det(10, 10)])
    out = m.update([det(16, 10, score=0.8), det(10, 10, score=0.3)])
    assert summary(out) == [(1, 2)]
    assert out[0].score == pytest.approx(0.8)


def test_only_tracks_seen_last_frame_take_low_detections():
    m = manager(max_age=5)
    m.update([det(10, 10)])
    m.update([])                                       # track 1 coasting
    out = m.update([det(10, 10, score=0.3)])
    assert summary(out) == [(1, 0)], 'a lost track is not revived by a weak detection'
    out = m.update([det(10, 10, score=0.9)])
    assert summary(out) == [(1, 1)], 'but by a strong one, with its id'


def test_second_association_uses_the_tracks_left_by_the_first():
    m = manager()
    m.update([det(10, 10), det(100, 10)])              # ids 1, 2
    out = m.update([det(11, 10, score=0.9), det(12, 10, score=0.2), det(101, 10, score=0.2)])
    assert summary(out) == [(1, 2), (2, 2)]
    assert [round(t.score, 1) for t in out] == [0.9, 0.2]


def test_unmatched_high_detections_start_tracks_after_the_matched_ones():
    m = manager(max_age=3)
    m.update([det(10, 10), det(100, 10)])              # ids 1, 2
    out = m.update([det(300, 10, score=0.95), det(101, 10, score=0.2)])
    assert summary(out) == [(2, 2), (3, 1), (1, 0)]


frames = st.lists(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2),
                                     st.floats(0.41, 1.0)), max_size=5), min_size=1,
                  max_size=6)


@settings(max_examples=60, deadline=None)
@given(frames, st.sampled_from([-1, 0, 2]), st.booleans())
def test_without_low_detections_byte_is_the_original_association(frames, max_age, hungarian):
    """BYTE adds a second step; with nothing scoring below the threshold it has nothing to do."""
    byte = manager(max_age=max_age, hungarian=hungarian)
    original = manager(max_age=max_age, hungarian=hungarian, association='greedy')
    for frame in frames:
        detections = sorted((det(12.0 * x, 12.0 * y, score=s) for x, y, s in frame),
                            key=lambda d: -d.score)
        assert summary(byte.update(detections)) == summary(original.update(detections))


# ----------------------------------------------------------------------------- motion

def moving(m, steps, speed=10.0, start=0.0, y=50.0):
    """Feed an object moving right by ``speed`` per frame; returns the last x."""
    x = start
    for _ in range(steps):
        x += speed
        m.update([det(x, y, tracking=(-speed, 0.0))])
    return x


@pytest.mark.parametrize('association', ['greedy', 'byte'])
def test_a_coasting_track_is_looked_for_where_it_has_moved(association):
    """An object hidden for 3 frames reappears 40 px on.

    That is beyond its 20 px box's gate from where it disappeared, but where its velocity has
    carried the track.
    """
    found = {}
    for model in ('none', 'velocity'):
        m = manager(association=association, max_age=10, motion=model)
        x = moving(m, 4)
        for _ in range(3):
            m.update([])
        out = m.update([det(x + 40, 50, tracking=(-10.0, 0.0))])
        found[model] = summary(out)
    assert found['none'] == [(2, 1), (1, 0)], 'without motion: a new track; the old one coasts'
    assert found['velocity'] == [(1, 1)], 'with motion: the same track, found again'


def test_velocity_is_the_smoothed_displacement_of_the_box_centre():
    m = manager(max_age=5, motion='velocity')
    moving(m, 1)
    assert m.tracks[0].velocity.tolist() == [0.0, 0.0], 'a newborn track has no velocity yet'
    moving(m, 5, start=10.0)
    # Each match moves the velocity half way towards the observed 10 px per frame.
    assert m.tracks[0].velocity == pytest.approx([10 * (1 - 0.5 ** 5), 0.0], abs=1e-4)


def test_coasting_tracks_move_unpublished_and_keep_their_id():
    m = manager(max_age=5, motion='velocity')
    x = moving(m, 6)
    v = float(m.tracks[0].velocity[0])
    before = m.tracks[0].bbox.copy()
    coasting = m.update([])
    assert summary(coasting) == [(1, 0)]
    assert coasting[0].bbox == pytest.approx(before + [v, 0, v, 0])
    assert coasting[0].ct == pytest.approx([x + v, 50.0])


def test_without_motion_tracks_keep_no_velocity_and_coast_in_place():
    m = manager(max_age=5, association='greedy')
    moving(m, 4)
    before = m.tracks[0].bbox.copy()
    coasting = m.update([])
    assert m.tracks[0].velocity.tolist() == [0.0, 0.0]
    assert coasting[0].bbox.tolist() == before.tolist()


def test_gates_widen_while_a_track_goes_unseen():
    tracks = [Track.of(det(0, 0, size=10), 1, age=age) for age in (1, 2, 5)]
    assert motion.gate_scale(tracks).tolist() == [1.0, 1.5, 3.0]
    far = det(12, 0, size=10)                          # 144 px^2 away, areas 100
    costs = association_costs([far], tracks, motion.gate_scale(tracks))
    assert (costs[0] < 1e16).tolist() == [False, True, True]
    assert costs[0, 1] == 144


def test_a_track_found_after_a_gap_corrects_its_velocity_per_frame():
    m = manager(max_age=10, motion='velocity')
    x = moving(m, 8)
    v = float(m.tracks[0].velocity[0])
    for _ in range(3):
        m.update([])
    # Found 4 frames after it was last seen, 8 px further than its velocity said.
    out = m.update([det(x + 4 * v + 8, 50, tracking=(-10.0, 0.0))])
    assert summary(out) == [(1, 1)]
    assert out[0].velocity[0] == pytest.approx(v + 0.5 * 8 / 4, abs=1e-4)


def test_changing_the_association_between_frames_keeps_the_tracks():
    m = manager(association='greedy', max_age=3)
    m.update([det(10, 10), det(100, 10)])
    m.config = TrackerConfig(association='byte', track_thresh=0.4, max_age=3,
                             motion='velocity')
    assert summary(m.update([det(101, 10, score=0.9), det(11, 10, score=0.2)])) == [
        (2, 2), (1, 2)]
