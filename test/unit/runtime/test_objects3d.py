"""Autoware objects from 3D tracks (ROS-free): axes, velocity, covariances, classes.

Tracks go through the same path as in the node: ``Track`` -> ``detection_boxes_3d`` (the
``detections_3d`` boxes) -> ``CameraObjects.update``. The box geometry is checked against
``core.mono3d.box_corners``, CenterTrack's own corner formula, and through the camera matrix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from centertrack_ros.core.errors import ConfigError
from centertrack_ros.core.mono3d import box_corners, project
from centertrack_ros.core.tracks import Track
from centertrack_ros.runtime.boxes3d import detection_boxes_3d
from centertrack_ros.runtime.object_classes import (
    AUTOWARE_LABELS,
    ClassMap,
    normalise,
    parse_class_overrides,
)
from centertrack_ros.runtime.object_ids import ObjectIdSpace
from centertrack_ros.runtime.objects3d import (
    UNKNOWN_SPEED_SIGMA,
    CameraObjects,
    UncertaintyModel,
    fit_velocity,
    rotation_matrix,
)

P = np.array([[1000.0, 0.0, 640.0, 0.0], [0.0, 1000.0, 360.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
DIM = (1.5, 1.8, 4.2)  # h, w, l as CenterTrack gives them
STEP_NS = 100_000_000  # 10 Hz


def track(track_id: int, loc, rot_y: float, dim=DIM, class_id: int = 1, score: float = 0.8,
          active: int = 1) -> Track:
    """Return a 3D track whose bottom centre is ``loc`` (camera frame, y down)."""
    return Track(score=score, class_id=class_id, bbox=np.array([0, 0, 10, 10], np.float32),
                 dim=np.asarray(dim, np.float32), loc=np.asarray(loc, np.float64),
                 rot_y=float(rot_y), track_id=track_id, active=active)


def names(class_id: int) -> str:
    return {1: 'car', 2: 'pedestrian', 3: 'traffic_cone'}[class_id]


def objects(**kwargs) -> CameraObjects:
    return CameraObjects(ObjectIdSpace('/test/centertrack', 'front'), **kwargs)


def estimate_of(t: Track, stamp_ns: int = 0, state: CameraObjects | None = None):
    state = state if state is not None else objects()
    boxes = detection_boxes_3d([t], names, P)
    (estimate,) = state.update(stamp_ns, boxes, P, [t.track_id])
    return estimate


def autoware_corners(estimate) -> np.ndarray:
    """Corners of an Autoware box in box_corners' order (front/back, left/right, bottom/top)."""
    length, width, height = estimate.dimensions
    rotation = rotation_matrix(estimate.orientation)
    # box_corners: x = +-l/2 (heading), its z = +-w/2 is our y, its y (0 bottom, -h top) is -z.
    signs = [(1, 1, -1), (1, -1, -1), (-1, -1, -1), (-1, 1, -1),
             (1, 1, 1), (1, -1, 1), (-1, -1, 1), (-1, 1, 1)]
    local = np.array([(sx * length / 2, sy * width / 2, sz * height / 2) for sx, sy, sz in signs])
    return local @ rotation.T + np.asarray(estimate.position)


# ------------------------------------------------------------------ pose, heading, dimensions
@pytest.mark.parametrize('rot_y', [0.0, 0.7, -1.2, math.pi / 2, -math.pi / 2, 3.0, -math.pi])
def test_pose_heading_and_dimensions_describe_centertracks_box(rot_y):
    loc = (2.5, 1.6, 18.0)
    estimate = estimate_of(track(7, loc, rot_y))
    h, w, length = DIM
    # Position: the box centre, half the height above CenterTrack's bottom centre (y down).
    np.testing.assert_allclose(estimate.position, (2.5, 1.6 - h / 2, 18.0), atol=1e-6)
    # Dimensions in Autoware's order: length along the heading, width, height.
    np.testing.assert_allclose(estimate.dimensions, (length, w, h), rtol=1e-6)
    # Orientation: x = heading, z = up (-y optical), y = the object's left; a proper rotation.
    rotation = rotation_matrix(estimate.orientation)
    assert np.linalg.norm(estimate.orientation) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation[:, 0], (math.cos(rot_y), 0, -math.sin(rot_y)),
                               atol=1e-12)
    np.testing.assert_allclose(rotation[:, 2], (0, -1, 0), atol=1e-12)
    np.testing.assert_allclose(rotation[:, 1], np.cross(rotation[:, 2], rotation[:, 0]),
                               atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    # The box these describe is CenterTrack's box, corner for corner ...
    reference = box_corners(np.asarray(DIM), np.asarray(loc), rot_y)
    np.testing.assert_allclose(autoware_corners(estimate), reference, atol=1e-5)
    # ... and projects onto the same pixels.
    np.testing.assert_allclose(project(autoware_corners(estimate), P), project(reference, P),
                               atol=1e-3)


def test_front_of_the_box_is_where_the_heading_points():
    estimate = estimate_of(track(1, (0.0, 1.5, 20.0), 0.0))  # heading: +x optical (right)
    corners = autoware_corners(estimate)
    assert corners[:2, 0].min() > corners[2:4, 0].max(), 'front corners right of the rear'
    estimate = estimate_of(track(1, (0.0, 1.5, 20.0), math.pi / 2))  # heading: -z (towards us)
    corners = autoware_corners(estimate)
    assert corners[:2, 2].max() < corners[2:4, 2].min(), 'front corners nearer than the rear'


def test_position_follows_the_camera_offset_of_the_projection_matrix():
    shifted = P.copy()
    shifted[0, 3] = -1000.0 * 0.54  # a second stereo camera, 0.54 m to the right of the first
    t = track(3, (1.0, 1.5, 15.0), 0.2)
    (box,) = detection_boxes_3d([t], names, shifted)
    (estimate,) = objects().update(0, [box], shifted, [3])
    np.testing.assert_allclose(estimate.position, box.center)
    assert estimate.position[0] == pytest.approx(1.0 - 0.54, abs=1e-6)


def test_score_and_class_are_carried():
    estimate = estimate_of(track(4, (0, 1.5, 10), 0.0, class_id=2, score=0.65))
    assert estimate.score == pytest.approx(0.65)
    assert estimate.class_name == 'pedestrian'
    assert estimate.label == AUTOWARE_LABELS['PEDESTRIAN']


# ------------------------------------------------------------------------------ velocity
def drive(velocity_header, rot_y, frames, noise=None, seed=0, start=(1.0, 1.5, 20.0),
          state=None):
    """Return the estimates of one track moving at ``velocity_header`` m/s, frame by frame."""
    rng = np.random.default_rng(seed)
    state = state if state is not None else objects()
    out = []
    for k in range(frames):
        loc = np.asarray(start) + np.asarray(velocity_header) * k * STEP_NS * 1e-9
        if noise is not None:
            loc = loc + rng.normal(0.0, noise)
        (box,) = detection_boxes_3d([track(9, loc, rot_y)], names, P)
        out.append(state.update(1_700_000_000_000_000_000 + k * STEP_NS, [box], P, [9])[0])
    return out


def test_first_observation_has_no_velocity_and_says_so():
    (first,) = drive((5.0, 0.0, 0.0), 0.0, 1)
    assert not first.has_twist
    assert first.linear_velocity == (0.0, 0.0, 0.0)
    twist = np.reshape(first.twist_covariance, (6, 6))
    np.testing.assert_allclose(np.diag(twist)[:3], UNKNOWN_SPEED_SIGMA ** 2)
    assert first.observations == 1


@pytest.mark.parametrize(('velocity_header', 'rot_y', 'expected'), [
    ((8.0 * math.cos(0.4), 0.0, -8.0 * math.sin(0.4)), 0.4, (8.0, 0.0, 0.0)),  # forward
    ((0.0, 0.0, -6.0), math.pi / 2, (6.0, 0.0, 0.0)),  # driving towards the camera
    ((0.0, 0.0, 3.0), 0.0, (0.0, 3.0, 0.0)),  # heading right, moving away: to its left
    ((-4.0, 0.0, 0.0), 0.0, (-4.0, 0.0, 0.0)),  # reversing
    ((0.0, 0.0, 0.0), 1.0, (0.0, 0.0, 0.0)),  # standing
])
def test_velocity_of_a_steady_object_is_exact_in_the_object_frame(velocity_header, rot_y,
                                                                   expected):
    estimates = drive(velocity_header, rot_y, 6)
    for estimate in estimates[1:]:
        assert estimate.has_twist
        np.testing.assert_allclose(estimate.linear_velocity, expected, atol=1e-6)


def test_noisy_monocular_track_reaches_its_speed_within_half_a_metre_per_second():
    """8 m/s along the heading at 10 Hz; 0.2 m of position noise per axis and frame.

    Stated tolerance: after N = 10 frames the fitted velocity is within 0.5 m/s of the truth
    in every direction (the fit spans 0.9 s; the slope's standard deviation from this noise is
    0.2 / sqrt(0.825) = 0.22 m/s). The reported covariance is consistent with the error.
    """
    heading = (8.0 * math.cos(-0.3), 0.0, -8.0 * math.sin(-0.3))
    for seed in range(5):
        estimates = drive(heading, -0.3, 10, noise=0.2, seed=seed)
        final = estimates[-1]
        assert final.observations == 10
        error = np.asarray(final.linear_velocity) - (8.0, 0.0, 0.0)
        assert np.abs(error).max() < 0.5, (seed, final.linear_velocity)
        covariance = np.reshape(final.twist_covariance, (6, 6))[:3, :3]
        assert error @ np.linalg.solve(covariance, error) < 3.0 ** 2 * 3


def test_velocity_window_drops_old_observations():
    # 3 s at 5 m/s, then the object stops: a 1 s window forgets the motion after a second.
    state = objects(window_s=1.0)
    moving = drive((5.0, 0.0, 0.0), 0.0, 30, state=state)
    assert moving[-1].linear_velocity[0] == pytest.approx(5.0, abs=1e-6)
    assert moving[-1].observations == 11  # stamps within the last second, both ends included
    stop = moving[-1].position
    t0 = 1_700_000_000_000_000_000 + 30 * STEP_NS
    for k in range(12):
        (box,) = detection_boxes_3d(
            [track(9, (stop[0], stop[1] + DIM[0] / 2, stop[2]), 0.0)], names, P)
        last = state.update(t0 + k * STEP_NS, [box], P, [9])[0]
    assert last.linear_velocity[0] == pytest.approx(0.0, abs=1e-6)


def test_coasting_tracks_keep_their_history_ended_tracks_are_forgotten():
    state = objects()
    drive((2.0, 0.0, 0.0), 0.0, 3, state=state)
    assert len(state) == 1
    state.update(1_700_000_000_500_000_000, [], P, alive=[9])  # coasting: not published
    assert len(state) == 1
    state.update(1_700_000_000_600_000_000, [], P, alive=[])  # ended
    assert len(state) == 0
    (again,) = drive((2.0, 0.0, 0.0), 0.0, 1, state=state)
    assert not again.has_twist, 'a forgotten track starts over'


def test_repeated_stamp_replaces_the_observation():
    state = objects()
    (box,) = detection_boxes_3d([track(2, (0, 1.5, 10), 0.0)], names, P)
    state.update(0, [box], P, [2])
    (box2,) = detection_boxes_3d([track(2, (1, 1.5, 10), 0.0)], names, P)
    (same_stamp,) = state.update(0, [box2], P, [2])
    assert same_stamp.observations == 1 and not same_stamp.has_twist
    (later,) = state.update(STEP_NS, [box2], P, [2])
    assert later.linear_velocity == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


def test_fit_velocity_propagates_the_position_covariances():
    times = np.array([0.0, 0.1, 0.2, 0.3])
    positions = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    covariances = np.stack([np.eye(3) * 0.04] * 4)
    velocity, covariance = fit_velocity(times, positions, covariances)
    np.testing.assert_allclose(velocity, (10.0, 0, 0))
    spread = float(((times - times.mean()) ** 2).sum())
    np.testing.assert_allclose(covariance, np.eye(3) * 0.04 / spread)
    with pytest.raises(ValueError, match='two different times'):
        fit_velocity(np.zeros(2), positions[:2], covariances[:2])


# --------------------------------------------------------------------------- covariances
def test_position_uncertainty_grows_with_distance():
    model = UncertaintyModel()
    sigmas = []
    for depth in (5.0, 10.0, 20.0, 40.0, 80.0):
        covariance = model.position_covariance((0.0, 0.0, depth), 1000.0, 1000.0)
        lateral, vertical, along = np.sqrt(np.diag(covariance))
        # On the optical axis: pixel error x depth / focal across, the depth model along.
        assert lateral == pytest.approx(model.pixel_sigma * depth / 1000.0)
        assert vertical == pytest.approx(model.pixel_sigma * depth / 1000.0)
        assert along == pytest.approx(model.depth_sigma_base + model.depth_sigma_ratio * depth)
        sigmas.append((lateral, along))
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(sigmas, sigmas[1:]))


def test_depth_error_lies_along_the_viewing_ray():
    model = UncertaintyModel()
    center = np.array([10.0, 0.0, 20.0])  # off axis, to the right
    covariance = model.position_covariance(center, 1000.0, 1000.0)
    values, vectors = np.linalg.eigh(covariance)
    major = vectors[:, np.argmax(values)]
    ray = center / np.linalg.norm(center)
    assert abs(major @ ray) > 0.99


def test_covariances_are_never_zero_or_indefinite():
    for estimate in drive((3.0, 0.0, 1.0), 0.5, 4):
        for flat in (estimate.pose_covariance, estimate.twist_covariance,
                     estimate.acceleration_covariance):
            matrix = np.reshape(flat, (6, 6))
            np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)
            assert np.linalg.eigvalsh(matrix).min() > 0
    pose = np.reshape(estimate.pose_covariance, (6, 6))
    model = UncertaintyModel()
    assert pose[4, 4] == pytest.approx(model.yaw_sigma ** 2)  # the heading: about optical y
    assert pose[3, 3] == pose[5, 5] == pytest.approx(model.tilt_sigma ** 2)


def test_velocity_uncertainty_shrinks_as_observations_accumulate():
    estimates = drive((5.0, 0.0, 0.0), 0.0, 10)
    traces = [np.trace(np.reshape(e.twist_covariance, (6, 6))[:3, :3]) for e in estimates[1:]]
    assert all(a > b for a, b in zip(traces, traces[1:]))


@pytest.mark.parametrize('kwargs', [{'pixel_sigma': -1.0}, {'yaw_sigma': math.nan},
                                    {'depth_sigma_base': 0.0, 'depth_sigma_ratio': 0.0},
                                    {'pixel_sigma': 0.0}])
def test_a_model_claiming_certainty_is_refused(kwargs):
    with pytest.raises(ConfigError):
        UncertaintyModel(**kwargs)


def test_window_must_be_positive():
    with pytest.raises(ConfigError, match='velocity window'):
        objects(window_s=0.0)


def test_boxes_need_their_camera_matrix():
    (box,) = detection_boxes_3d([track(1, (0, 1.5, 10), 0.0)], names, P)
    with pytest.raises(ValueError, match='camera matrix'):
        objects().update(0, [box], None, [1])
    assert objects().update(0, [], None, []) == []


# ------------------------------------------------------------------------- classification
@pytest.mark.parametrize(('name', 'label'), [
    ('car', 'CAR'), ('Car', 'CAR'), ('truck', 'TRUCK'), ('bus', 'BUS'), ('trailer', 'TRAILER'),
    ('motorcycle', 'MOTORCYCLE'), ('bicycle', 'BICYCLE'), ('pedestrian', 'PEDESTRIAN'),
    ('person', 'PEDESTRIAN'), ('Cyclist', 'BICYCLE'), ('construction_vehicle', 'UNKNOWN'),
    ('traffic_cone', 'UNKNOWN'), ('barrier', 'UNKNOWN'), ('', 'UNKNOWN'), ('7', 'UNKNOWN'),
    ('späti', 'UNKNOWN'),
])
def test_class_names_map_to_autoware_labels_and_unknown_never_fails(name, label):
    assert ClassMap().label(name) == AUTOWARE_LABELS[label]


def test_unknown_class_track_is_published_as_unknown():
    estimate = estimate_of(track(5, (0, 1.5, 12), 0.0, class_id=3))
    assert estimate.class_name == 'traffic_cone'
    assert estimate.label == AUTOWARE_LABELS['UNKNOWN']


def test_overrides_replace_and_extend_the_defaults():
    overrides = parse_class_overrides(['construction_vehicle:truck', 'Car:UNKNOWN',
                                       'traffic cone : hazard'])
    classes = ClassMap(overrides)
    assert classes.label('construction_vehicle') == AUTOWARE_LABELS['TRUCK']
    assert classes.label('car') == AUTOWARE_LABELS['UNKNOWN']
    assert classes.label('traffic_cone') == AUTOWARE_LABELS['HAZARD']
    assert classes.label('bus') == AUTOWARE_LABELS['BUS']
    assert ClassMap({'van': 1}).label('Van') == AUTOWARE_LABELS['CAR']
    assert normalise('  Traffic-Cone ') == 'traffic_cone'


@pytest.mark.parametrize(('entries', 'message'), [
    (['car'], 'class_name:LABEL'), ([':CAR'], 'class_name:LABEL'),
    (['car:plane'], "'plane' is not an Autoware object class"),
    (['car:CAR', 'Car:BUS'], 'twice'),
])
def test_bad_overrides_say_what_is_wrong(entries, message):
    with pytest.raises(ConfigError, match=message):
        parse_class_overrides(entries)
