"""Track ids that are never reused: the core's ``restart_ids`` switch (without DDS).

The original restarts ids at 1 on every reset, and the core keeps that default (the reference
tests depend on it). The node resets with ``restart_ids=False`` and carries the counter over a
reloaded model, so a planner never sees a new object under an id it already knows; the node
side is tested over DDS in ``test_node.py``, ``test_time_semantics.py`` and
``test_reliability_faults.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.node_harness import core_tracker, track_rows

from centertrack_ros.core.config import TrackerConfig
from centertrack_ros.core.pipeline import MultiCameraTracker
from centertrack_ros.core.tracker import TrackManager
from centertrack_ros.core.tracks import Detection, Track


def det(x: float, score: float = 0.9) -> Detection:
    """Make a 20 x 20 px detection of class 1 centred at (x, 0)."""
    return Detection(score=score, class_id=1, ct=np.array([x, 0.0], dtype=np.float32),
                     bbox=np.array([x - 10, -10, x + 10, 10], dtype=np.float32))


def ids(tracks: list[Track]) -> list[int]:
    """Return the ids of ``tracks`` in order."""
    return [t.track_id for t in tracks]


def test_manager_reset_restarts_at_one_by_default_and_continues_on_request():
    manager = TrackManager(TrackerConfig(track_thresh=0.1, new_thresh=0.1))
    assert manager.last_id == 0
    assert ids(manager.update([det(0), det(100)])) == [1, 2]
    manager.reset()
    assert ids(manager.update([det(0)])) == [1], 'the original behaviour is the default'
    manager.update([det(0), det(100), det(200)])  # 1 continues, 2 and 3 are born
    assert manager.last_id == 3
    manager.reset(restart_ids=False)
    assert manager.tracks == []
    assert ids(manager.update([det(0), det(100)])) == [4, 5], 'nothing matched: all births'
    manager.reset(restart_ids=False)
    manager.reset(restart_ids=False)  # repeated resets skip nothing and reuse nothing
    assert ids(manager.update([det(0)])) == [6]


def test_continue_ids_after_never_lowers_the_counter():
    manager = TrackManager(TrackerConfig(track_thresh=0.1, new_thresh=0.1))
    manager.continue_ids_after(41)
    assert ids(manager.update([det(0)])) == [42]
    manager.continue_ids_after(7)
    assert ids(manager.update([det(0), det(100)])) == [42, 43]
    manager.reset()
    assert manager.last_id == 0, 'a default reset still restarts at 1'


@pytest.fixture(scope='module')
def tracker_pair(sensitive_checkpoint):
    return (core_tracker(sensitive_checkpoint, engine='reference'),
            core_tracker(sensitive_checkpoint, engine='reference'))


def test_a_reset_without_restarting_ids_is_a_fresh_start_numbered_higher(
        tracker_pair, camera_frames):
    """Everything but the ids equals a brand-new tracker's output; ids are shifted above."""
    node_like, fresh = tracker_pair
    frames = [cv_frame[::4, ::4].copy() for cv_frame in camera_frames[:5]]
    node_like.reset()
    for frame in frames[:3]:
        node_like.step(frame)
    highest = node_like.last_id
    assert highest > 100, 'the sensitive model keeps and adds tracks'
    node_like.reset(restart_ids=False)
    fresh.reset()
    for index, frame in enumerate(frames[3:]):
        got = track_rows(node_like.step(frame), str)
        want = track_rows(fresh.step(frame), str)
        assert {track_id + highest: row for track_id, row in want.items()} == got, index
    assert min(track_rows(node_like.tracks, str)) > highest


def test_multi_camera_reset_of_one_camera_keeps_its_ids_unique(tracker_pair, camera_frames):
    single = tracker_pair[0]
    cameras = MultiCameraTracker(single.network, single.config, num_cameras=2)
    frame = camera_frames[0][::4, ::4].copy()
    first = cameras.step_all([frame, frame])
    cameras.reset(camera=1, restart_ids=False)
    after = cameras.step_all([frame, frame])
    assert min(t.track_id for t in after[1]) > max(t.track_id for t in first[1])
    cameras.reset(camera=0)
    assert min(t.track_id for t in cameras.step_all([frame, frame])[0]) == 1
