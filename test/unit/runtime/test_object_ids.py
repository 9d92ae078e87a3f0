"""Object UUIDs: stable per track, distinct across tracks, cameras and nodes; ids always fit.

The UUID carries the track id in its low six bytes, so a track id above 2**48 - 1 must never
be handed out: the tracker's id counter refuses it (``TrackIdsExhausted``), whichever way ids
are assigned (births, ``continue_ids_after``, resets), which the property test drives.
"""

from __future__ import annotations

import itertools
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centertrack_ros.core.config import TrackerConfig
from centertrack_ros.core.errors import CenterTrackError
from centertrack_ros.core.tracker import MAX_TRACK_ID, TrackIds, TrackIdsExhausted, TrackManager
from centertrack_ros.core.tracks import Detection
from centertrack_ros.runtime.object_ids import (
    PREFIX_BYTES,
    TRACK_ID_BYTES,
    ObjectIdSpace,
    uuid_prefix,
)


def det(x: float) -> Detection:
    """Return a 20 x 20 px detection of class 1 centred at (x, 0)."""
    return Detection(score=0.9, class_id=1, ct=np.array([x, 0.0], dtype=np.float32),
                     bbox=np.array([x - 10, -10, x + 10, 10], dtype=np.float32))


def test_uuid_is_stable_for_a_track_and_reproducible():
    space = ObjectIdSpace('/perception/centertrack', 'front')
    assert space.uuid(42) == space.uuid(42)
    assert ObjectIdSpace('/perception/centertrack', 'front').uuid(42) == space.uuid(42)
    assert len(space.uuid(42)) == 16


def test_layout_version_variant_and_track_id_bytes():
    space = ObjectIdSpace('/a/b', 'cam')
    value = uuid.UUID(bytes=space.uuid(0x2A))
    assert value.version == 8
    assert value.variant == uuid.RFC_4122
    assert str(value).endswith('-00000000002a')
    assert space.text(0x2A) == str(value)
    assert space.uuid(0x2A)[:PREFIX_BYTES] == uuid_prefix('/a/b', 'cam')
    assert TRACK_ID_BYTES == 6 and PREFIX_BYTES == 10
    assert space.track_id(space.uuid(123456)) == 123456
    assert space.track_id(ObjectIdSpace('/a/b', 'other').uuid(1)) is None


def test_uuids_are_distinct_across_tracks_cameras_nodes_and_instances():
    nodes = ['/centertrack', '/perception/centertrack', '/perception/centertrack_2', '/x']
    cameras = ['', 'front', 'left', 'right', 'front_left']
    instances = ['', '1700000000000000000']
    seen = set()
    for node, camera, instance in itertools.product(nodes, cameras, instances):
        space = ObjectIdSpace(node, camera, instance)
        for track_id in list(range(1, 200)) + [MAX_TRACK_ID]:
            seen.add(space.uuid(track_id))
    assert len(seen) == len(nodes) * len(cameras) * len(instances) * 200


def test_names_are_separated_unambiguously():
    # Concatenation without separators would make these equal.
    assert uuid_prefix('/ab', 'c') != uuid_prefix('/a', 'bc')
    assert uuid_prefix('/a', '', 'b') != uuid_prefix('/a', 'b', '')


def test_the_uuid_carries_exactly_the_tracker_id_range():
    assert MAX_TRACK_ID == 2 ** (8 * TRACK_ID_BYTES) - 1 == 2 ** 48 - 1
    space = ObjectIdSpace('/n')
    assert space.track_id(space.uuid(MAX_TRACK_ID)) == MAX_TRACK_ID
    for bad in (MAX_TRACK_ID + 1, -1):
        with pytest.raises(ValueError, match='does not fit'):
            space.uuid(bad)


def test_the_id_counter_stops_at_the_bound_with_a_clear_error():
    ids = TrackIds()
    ids.last = MAX_TRACK_ID - 1
    assert ids.next() == MAX_TRACK_ID
    with pytest.raises(TrackIdsExhausted, match='track ids exhausted') as raised:
        ids.next()
    assert isinstance(raised.value, CenterTrackError)
    assert ids.last == MAX_TRACK_ID


def test_continue_ids_after_refuses_ids_beyond_the_bound():
    manager = TrackManager(TrackerConfig(track_thresh=0.1, new_thresh=0.1))
    with pytest.raises(TrackIdsExhausted, match=str(MAX_TRACK_ID)):
        manager.continue_ids_after(MAX_TRACK_ID + 1)
    manager.continue_ids_after(MAX_TRACK_ID - 1)
    (born,) = manager.update([det(0)])
    assert born.track_id == MAX_TRACK_ID
    with pytest.raises(TrackIdsExhausted):
        manager.update([det(0), det(100)])  # one continues, one would be born


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just('births'), st.integers(min_value=0, max_value=4)),
    st.tuples(st.just('continue'), st.one_of(st.integers(min_value=0, max_value=50),
                                             st.integers(min_value=MAX_TRACK_ID - 5,
                                                         max_value=MAX_TRACK_ID + 5))),
    st.tuples(st.just('reset'), st.booleans()),
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(OPERATIONS)
def test_no_id_outside_the_uuid_range_can_ever_be_handed_out(operations):
    """Every way ids are assigned either gives an id that fits the UUID or raises."""
    manager = TrackManager(TrackerConfig(track_thresh=0.1, new_thresh=0.1))
    space = ObjectIdSpace('/node', 'cam')
    for kind, value in operations:
        try:
            if kind == 'births':
                manager.reset(restart_ids=False)  # no track to continue: all are births
                tracks = manager.update([det(100.0 * i) for i in range(value)])
                for t in tracks:
                    assert 1 <= t.track_id <= MAX_TRACK_ID
                    assert space.track_id(space.uuid(t.track_id)) == t.track_id
            elif kind == 'continue':
                manager.continue_ids_after(value)
            else:
                manager.reset(restart_ids=value)
        except TrackIdsExhausted:
            pass
        assert 0 <= manager.last_id <= MAX_TRACK_ID
