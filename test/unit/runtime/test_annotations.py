"""Foxglove overlays (ROS-free): exactly the published tracks, trails, colours, stamps.

Frames go through the node's path: the tracker's ``Track`` list (active and coasting) ->
``detection_boxes`` (what is published) -> ``TrailState.observe`` -> ``frame_overlay``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from centertrack_ros.core.tracks import Track
from centertrack_ros.runtime.annotations import (
    DEFAULT_TRAIL_LENGTH,
    LINE_LIST,
    LINE_LOOP,
    LINE_STRIP,
    TrailState,
    frame_overlay,
    track_rgba,
)
from centertrack_ros.runtime.boxes import detection_boxes
from centertrack_ros.runtime.drawing import projected_box, track_color

SIZE = (640, 480)
P = np.array([[500.0, 0.0, 320.0, 0.0], [0.0, 500.0, 240.0, 0.0], [0.0, 0.0, 1.0, 0.0]])


def names(class_id: int) -> str:
    return {1: 'car', 2: 'person'}[class_id]


def track(track_id: int, x: float, y: float = 200.0, active: int = 1, score: float = 0.9,
          class_id: int = 1, **more) -> Track:
    """Return a 40 x 30 px track centred at (x, y)."""
    return Track(score=score, class_id=class_id, track_id=track_id, active=active,
                 bbox=np.array([x - 20, y - 15, x + 20, y + 15], np.float32), **more)


def step(trails: TrailState, tracks: list[Track], stamp_ns: int = 0, calib=None):
    """Run one frame as the node would; return the overlay."""
    boxes = detection_boxes(tracks, names)
    trails.observe(boxes, [t.track_id for t in tracks])
    return frame_overlay(stamp_ns, boxes, trails, SIZE, tracks, calib)


def test_overlay_holds_exactly_the_published_tracks():
    trails = TrailState()
    tracks = [track(1, 100), track(2, 200, active=0), track(3, 300, active=4),
              track(4, 400, class_id=2, score=0.35)]
    overlay = step(trails, tracks)
    published = [b.track_id for b in detection_boxes(tracks, names)]
    assert published == [1, 3, 4]
    assert [t.track_id for t in overlay.tracks] == published
    assert [label.text for label in overlay.labels()] == ['1 car 0.90', '3 car 0.90',
                                                          '4 person 0.35']
    # Nothing drawn for the coasting track 2, not even its trail.
    assert len(overlay.polylines()) == 3


def test_outline_is_the_published_box():
    trails = TrailState()
    overlay = step(trails, [track(5, 100, 50)])
    outline = overlay.tracks[0].outline
    assert outline.kind == LINE_LOOP
    assert outline.points == ((80.0, 35.0), (120.0, 35.0), (120.0, 65.0), (80.0, 65.0))
    label = overlay.tracks[0].label
    assert label.position == (80.0, 35.0), 'bottom left of the text at the box top left'
    top = step(TrailState(), [track(6, 100, 10)]).tracks[0].label
    assert top.position[1] == pytest.approx(-5.0 + top.font_size), 'inside when at the top'


def test_3d_tracks_are_outlined_in_3d_like_the_debug_image():
    t = track(8, 320, 240, dim=np.array([1.5, 1.8, 4.2], np.float32),
              loc=np.array([0.5, 1.5, 15.0], np.float32), rot_y=0.4)
    overlay = step(TrailState(), [t], calib=P)
    outline = overlay.tracks[0].outline
    assert outline.kind == LINE_LIST
    corners = projected_box(t, P, *SIZE)
    assert len(outline.points) == 2 * 14  # 12 edges and the front face's 2 diagonals
    np.testing.assert_allclose(outline.points[:2], [corners[0], corners[1]])
    assert {tuple(np.round(p, 6)) for p in outline.points} == \
        {tuple(np.round(c, 6)) for c in corners}
    flat = step(TrailState(), [t]).tracks[0].outline
    assert flat.kind == LINE_LOOP, 'without a camera matrix: the 2D box'


def test_trail_grows_then_is_capped_at_n_oldest_first():
    n = 5
    trails = TrailState(n)
    for k in range(12):
        overlay = step(trails, [track(1, 10.0 + k)], stamp_ns=k)
        trail = overlay.tracks[0].trail
        if k == 0:
            assert trail is None, 'one centre is no line'
            continue
        assert trail.kind == LINE_STRIP
        expected = [(10.0 + i, 200.0) for i in range(max(0, k + 1 - n), k + 1)]
        assert list(trail.points) == expected
        assert len(trail.points) == min(k + 1, n)
    assert DEFAULT_TRAIL_LENGTH == 30 and TrailState().length == 30


def test_coasting_keeps_a_trail_and_ending_forgets_it():
    trails = TrailState()
    step(trails, [track(1, 10), track(2, 50)])
    step(trails, [track(1, 20), track(2, 60)])
    overlay = step(trails, [track(1, 30, active=0), track(2, 70)])  # 1 coasts
    assert [t.track_id for t in overlay.tracks] == [2]
    assert trails.trail(1) == ((10.0, 200.0), (20.0, 200.0))
    overlay = step(trails, [track(1, 40), track(2, 80)])  # found again: the trail continues
    assert overlay.tracks[0].trail.points == ((10.0, 200.0), (20.0, 200.0), (40.0, 200.0))
    step(trails, [track(2, 90)])  # 1 ended
    assert trails.trail(1) == () and len(trails) == 1
    step(trails, [])
    assert len(trails) == 0
    trails.reset()


def test_zero_length_draws_no_trail_and_bad_lengths_are_refused():
    trails = TrailState(0)
    for k in range(3):
        overlay = step(trails, [track(1, 10.0 + k)])
    assert overlay.tracks[0].trail is None
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match='trail length'):
            TrailState(bad)


def test_colours_are_stable_per_id_and_those_of_the_debug_image():
    trails = TrailState()
    first = step(trails, [track(3, 10), track(4, 100)])
    second = step(trails, [track(4, 110), track(3, 20)])
    colours = {t.track_id: t.outline.color for t in first.tracks}
    assert {t.track_id: t.outline.color for t in second.tracks} == colours
    for overlay_track in second.tracks:
        b, g, r = track_color(overlay_track.track_id)
        assert overlay_track.outline.color == (r / 255, g / 255, b / 255, 1.0)
        assert overlay_track.label.background_color == overlay_track.outline.color
        assert overlay_track.trail.color[:3] == overlay_track.outline.color[:3]
    palette = [track_rgba(i) for i in range(1, 41)]
    assert all(a != b for a, b in itertools.combinations(palette, 2))


def test_overlay_carries_the_image_stamp():
    overlay = step(TrailState(), [track(1, 10)], stamp_ns=1_700_000_000_123_456_789)
    assert overlay.stamp_ns == 1_700_000_000_123_456_789


def test_sizes_follow_the_image():
    small = frame_overlay(0, detection_boxes([track(1, 10)], names), TrailState(), (640, 480))
    large = frame_overlay(0, detection_boxes([track(1, 10)], names), TrailState(),
                          (1920, 1080))
    assert small.tracks[0].outline.thickness == 2.0
    assert large.tracks[0].outline.thickness > small.tracks[0].outline.thickness
    assert large.tracks[0].label.font_size > small.tracks[0].label.font_size >= 12.0
