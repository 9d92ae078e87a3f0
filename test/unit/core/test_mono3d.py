"""Monocular 3D decoding: depth, angles, unprojection, camera matrices and the 3D track fields.

The formulas are checked by what they must mean, independently of how they are computed:
the 3D centre of a decoded box projects back onto its amodal centre at its depth, the heading
the corners describe is (cos rot_y, 0, -sin rot_y), a resized or cropped image's matrix maps
points where the resize or crop puts their pixels. Fidelity to the original on its own outputs
is ``test_reference`` (the 3D folders).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from centertrack_ros.core.calibration import (
    CalibrationError,
    crop_projection,
    default_projection,
    projection_matrix,
    scale_projection,
)
from centertrack_ros.core.config import InputConfig, ModelConfig, TrackerConfig
from centertrack_ros.core.decode import decode_heads, extra_heads
from centertrack_ros.core.geometry import frame_geometry, transform_points
from centertrack_ros.core.mono3d import (
    alpha_from_rot,
    box_corners,
    depth_from_raw,
    project,
    rot_y_from_alpha,
    unproject,
    wrap_once,
)
from centertrack_ros.core.postprocess import detections_to_image
from centertrack_ros.core.tracker import TrackManager
from centertrack_ros.core.tracks import Detection, Track

# A KITTI-style P2: K [I | t] with a non-zero last column.
KITTI_P = np.array([[721.5377, 0.0, 609.5593, 44.85728],
                    [0.0, 721.5377, 172.854, 0.2163791],
                    [0.0, 0.0, 1.0, 0.002745884]], dtype=np.float32)


# ----------------------------------------------------------------------------- formulas

def test_depth_transform_is_the_inverse_of_the_training_target():
    depths = np.array([0.5, 6.0, 40.0, 63.0], dtype=np.float32)
    # Trained as sigmoid(x) = 1 / (d + 1): the raw output that encodes depth d.
    raw = -np.log(depths)
    assert depth_from_raw(raw).dtype == np.float32
    np.testing.assert_allclose(depth_from_raw(raw), depths, rtol=1e-4)
    np.testing.assert_allclose(depth_from_raw(raw, 2.0), 2 * depths, rtol=1e-4)


def test_alpha_picks_the_bin_by_its_second_score_and_is_not_wrapped():
    angle = 2.5
    first = [0.0, 3.0, np.sin(angle), np.cos(angle), 0.0, -3.0, 0.0, 1.0]
    second = [0.0, -3.0, 0.0, 1.0, 0.0, 3.0, np.sin(angle), np.cos(angle)]
    tie = [0.0, 1.0, np.sin(angle), np.cos(angle), 0.0, 1.0, 0.0, 1.0]  # not strictly larger
    alpha = alpha_from_rot(np.array([first, second, tie]))
    np.testing.assert_allclose(alpha, [angle - np.pi / 2, angle + np.pi / 2, np.pi / 2])
    assert alpha[1] > np.pi  # (-3pi/2, 3pi/2), as the original leaves it


def test_wrap_once():
    np.testing.assert_allclose(wrap_once(np.array([0.3, np.pi + 0.2, -np.pi - 0.2, np.pi])),
                               [0.3, 0.2 - np.pi, np.pi - 0.2, np.pi])


@pytest.mark.parametrize('matrix', [KITTI_P, default_projection(1600, 900)],
                         ids=['kitti-t', 'default'])
def test_unprojection_inverts_the_projection(matrix):
    rng = np.random.default_rng(3)
    points = np.stack([rng.uniform(-20, 20, 50), rng.uniform(-2, 3, 50),
                       rng.uniform(4, 70, 50)], axis=1)
    homogeneous = np.concatenate([points, np.ones((50, 1))], axis=1) @ matrix.astype(
        np.float64).T
    depth = homogeneous[:, 2]  # the w of the projection: z + P[2][3]
    pixels = homogeneous[:, :2] / depth[:, None]
    np.testing.assert_allclose(unproject(pixels, depth, matrix), points, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(project(points, matrix), pixels, rtol=1e-6)


def test_points_behind_the_camera_do_not_project():
    assert np.isnan(project(np.array([[0.0, 0.0, -1.0]]), default_projection(640, 360))).all()


def test_rot_y_is_alpha_plus_the_viewing_ray():
    matrix = default_projection(1600, 900)  # cx 800, f 1200
    # Straight ahead alpha and rot_y agree; 1200 px to the right the ray is at 45 degrees.
    np.testing.assert_allclose(rot_y_from_alpha([0.4, 0.4], [800.0, 2000.0], matrix),
                               [0.4, 0.4 + np.pi / 4])
    np.testing.assert_allclose(rot_y_from_alpha([3.0], [2000.0], matrix),
                               [3.0 + np.pi / 4 - 2 * np.pi])


@pytest.mark.parametrize('rot_y', [0.0, -np.pi / 2, np.pi / 2, 2.2])
def test_box_corners_follow_the_documented_frame(rot_y):
    dim = np.array([1.5, 1.8, 4.2])  # h, w, l
    loc = np.array([2.0, 1.6, 20.0])  # bottom centre
    corners = box_corners(dim, loc, rot_y)
    bottom, top = corners[:4], corners[4:]
    np.testing.assert_allclose(bottom[:, 1], loc[1])
    np.testing.assert_allclose(top[:, 1], loc[1] - dim[0])  # y points down
    np.testing.assert_allclose(corners.mean(axis=0), loc - [0, dim[0] / 2, 0])
    heading = np.array([np.cos(rot_y), 0.0, -np.sin(rot_y)])
    front = corners[[0, 1, 4, 5]].mean(axis=0) - corners.mean(axis=0)
    np.testing.assert_allclose(front, heading * dim[2] / 2, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(corners[0] - corners[1]), dim[1])  # width


# ----------------------------------------------------------------------- camera matrices

def test_projection_matrix_accepts_rows_or_twelve_numbers():
    np.testing.assert_array_equal(projection_matrix(KITTI_P.ravel().tolist()), KITTI_P)
    assert projection_matrix(KITTI_P.astype(np.float64)).dtype == np.float32


@pytest.mark.parametrize(('matrix', 'message'), [
    (np.zeros(12), 'focal lengths fx=0, fy=0'),
    (np.ones(9), 'needs 12 values'),
    ([[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 1, float('nan')]], 'NaN'),
    ([[1, 0, 1, 0], [0, -1, 1, 0], [0, 0, 1, 0]], 'fy=-1'),
    ([[1, 0, 1, 0], [0, 1, 1, 0], [0.1, 0, 1, 0]], 'K \\[I \\| t\\]'),
    ([[1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 2, 0]], 'K \\[I \\| t\\]'),
    ([[1, 0.5, 1, 0], [0, 1, 1, 0], [0, 0, 1, 0]], 'skew'),
    ('abc', 'not numeric'),
])
def test_projection_matrix_refuses_what_the_formulas_cannot_use(matrix, message):
    with pytest.raises(CalibrationError, match=message):
        projection_matrix(matrix)


def test_default_projection_is_the_originals():
    np.testing.assert_array_equal(default_projection(640, 361, 1200.0),
                                  [[1200, 0, 320, 0], [0, 1200, 180.5, 0], [0, 0, 1, 0]])


def test_scaled_and_cropped_matrices_follow_the_pixels():
    rng = np.random.default_rng(4)
    points = np.stack([rng.uniform(-10, 10, 20), rng.uniform(-2, 2, 20),
                       rng.uniform(5, 50, 20)], axis=1)
    pixels = project(points, KITTI_P)
    np.testing.assert_allclose(project(points, scale_projection(KITTI_P, 0.5, 0.25)),
                               pixels * [0.5, 0.25], rtol=1e-5)
    np.testing.assert_allclose(project(points, crop_projection(KITTI_P, 100, 40)),
                               pixels - [100, 40], rtol=1e-5, atol=1e-3)
    with pytest.raises(CalibrationError, match='scale'):
        scale_projection(KITTI_P, 0.0, 1.0)


# ------------------------------------------------------------------- decoding to 3D

HEADS_3D = ModelConfig(num_classes=2, ddd=True).heads


def _maps_with_one_object(depth=20.0, dim=(1.5, 1.7, 4.0), angle=0.7, offset=(1.5, -0.5)):
    """Head outputs (1 x C x 8 x 16, a 64x32 input) with one class-1 peak at cell (6, 3)."""
    shape = (1, 8, 16)
    maps = {name: np.zeros((1, channels) + shape[1:], dtype=np.float32)
            for name, channels in HEADS_3D.items()}
    cell = (0, slice(None), 3, 6)
    maps['hm'][0, 1, 3, 6] = 0.8
    maps['reg'][cell] = [0.25, 0.5]
    maps['wh'][cell] = [2.0, 3.0]
    maps['tracking'][cell] = [1.0, -1.0]
    maps['dep'][cell] = -np.log(depth)
    maps['rot'][cell] = [0.0, -2.0, 0.0, 1.0, 0.0, 2.0, np.sin(angle), np.cos(angle)]
    maps['dim'][cell] = dim
    maps['amodel_offset'][cell] = offset
    return maps


def test_decode_gathers_the_3d_heads_generically():
    assert list(extra_heads(HEADS_3D)) == ['dep', 'rot', 'dim', 'amodel_offset']
    (raw,) = decode_heads(_maps_with_one_object(), k=5)
    assert raw.extras['dep'].shape == (5, 1) and raw.extras['rot'].shape == (5, 8)
    assert raw.extras['dep'][0, 0] == pytest.approx(20.0, rel=1e-4)
    assert list(raw.extras) == ['dep', 'rot', 'dim', 'amodel_offset']
    np.testing.assert_allclose(raw.extras['dim'][0], [1.5, 1.7, 4.0])


def test_3d_detection_projects_back_onto_its_amodal_centre():
    geometry = frame_geometry(160, 128, InputConfig(width=64, height=32))  # 10 px a cell
    raw = decode_heads(_maps_with_one_object(), k=5)[0]
    matrix = KITTI_P
    (detection,) = detections_to_image(raw, geometry, 0.5, matrix)
    # The amodal centre: the box centre (6.25, 3.5) plus the offset, mapped to the image.
    expected_ct = transform_points(np.array([[7.75, 3.0]], np.float32),
                                   geometry.output_to_image)[0]
    np.testing.assert_allclose(detection.ct, expected_ct, rtol=1e-6)
    # tracking stays measured from the integer peak, as in 2D.
    peak = transform_points(np.array([[6.0, 3.0], [7.0, 2.0]], np.float32),
                            geometry.output_to_image)
    np.testing.assert_allclose(detection.tracking, peak[1] - peak[0], atol=1e-4)
    np.testing.assert_allclose(detection.dep, [20.0], rtol=1e-4)
    np.testing.assert_allclose(detection.dim, [1.5, 1.7, 4.0])
    assert detection.alpha == pytest.approx(0.7 + np.pi / 2, abs=1e-6)
    centre = detection.loc - np.array([0.0, detection.dim[0] / 2, 0.0])  # loc is the bottom
    homogeneous = matrix.astype(np.float64) @ np.append(centre, 1.0)
    assert homogeneous[2] == pytest.approx(float(detection.dep[0]), rel=1e-6)
    np.testing.assert_allclose(homogeneous[:2] / homogeneous[2], detection.ct, rtol=1e-5)
    ray = np.arctan2(detection.ct[0] - matrix[0, 2], matrix[0, 0])
    assert detection.rot_y == pytest.approx(float(wrap_once(detection.alpha + ray)))
    assert detection.has_3d_box


def test_without_a_camera_matrix_there_is_no_location():
    geometry = frame_geometry(160, 128, InputConfig(width=64, height=32))
    raw = decode_heads(_maps_with_one_object(), k=5)[0]
    (with_p,) = detections_to_image(raw, geometry, 0.5, KITTI_P)
    (without,) = detections_to_image(raw, geometry, 0.5)
    assert without.loc is None and without.rot_y is None and not without.has_3d_box
    # Everything the network says without P is there, and association is the same.
    np.testing.assert_array_equal(without.ct, with_p.ct)
    np.testing.assert_array_equal(without.dep, with_p.dep)
    assert without.alpha == with_p.alpha


def test_a_2d_model_ignores_a_camera_matrix():
    maps = _maps_with_one_object()
    two_d = {name: maps[name] for name in ('hm', 'reg', 'wh', 'tracking')}
    geometry = frame_geometry(160, 128, InputConfig(width=64, height=32))
    raw = decode_heads(two_d, k=5)[0]
    (detection,) = detections_to_image(raw, geometry, 0.5, KITTI_P)
    assert detection.dep is None and detection.loc is None
    assert 'loc' not in Track.of(detection, 1).to_dict()


# --------------------------------------------------------------------- tracks keep 3D

def _detection_3d(x: float, score: float = 0.9) -> Detection:
    return Detection(score=score, class_id=1, ct=np.array([x, 50.0], np.float32),
                     bbox=np.array([x - 10, 40, x + 10, 60], np.float32),
                     dep=np.array([12.0], np.float32),
                     dim=np.array([1.5, 1.6, 3.9], np.float32), alpha=0.3,
                     loc=np.array([1.0, 1.2, 12.0], np.float32), rot_y=0.35)


def test_track_dict_uses_the_original_key_names():
    data = Track.of(_detection_3d(100.0), 7).to_dict()
    assert data['dep'] == [12.0] and data['dim'] == pytest.approx([1.5, 1.6, 3.9])
    assert data['loc'] == pytest.approx([1.0, 1.2, 12.0])
    assert (data['alpha'], data['rot_y']) == (pytest.approx(0.3), pytest.approx(0.35))
    assert data['tracking_id'] == 7


def test_a_coasting_track_keeps_its_3d_fields():
    manager = TrackManager(TrackerConfig(track_thresh=0.3, pre_thresh=0.3, new_thresh=0.3,
                                         max_age=3))
    (born,) = manager.update([_detection_3d(100.0)])
    (coasting,) = manager.update([])
    assert coasting.active == 0 and coasting.track_id == born.track_id
    for name in ('dep', 'dim', 'loc'):
        np.testing.assert_array_equal(getattr(coasting, name), getattr(born, name))
    assert (coasting.alpha, coasting.rot_y) == (born.alpha, born.rot_y)
    matched = manager.update([replace(_detection_3d(101.0), loc=None, rot_y=None)])
    assert matched[0].track_id == born.track_id and matched[0].loc is None


def test_depth_scale_scales_depth_and_location():
    geometry = frame_geometry(160, 128, InputConfig(width=64, height=32))
    raw = decode_heads(_maps_with_one_object(), k=5)[0]
    (one,) = detections_to_image(raw, geometry, 0.5, default_projection(160, 128))
    (two,) = detections_to_image(raw, geometry, 0.5, default_projection(160, 128), 2.0)
    np.testing.assert_allclose(two.dep, 2 * one.dep)
    centre = one.loc - [0, one.dim[0] / 2, 0]  # P = K [I | 0]: the centre scales with depth
    np.testing.assert_allclose(two.loc - [0, two.dim[0] / 2, 0], 2 * centre, rtol=1e-6)
