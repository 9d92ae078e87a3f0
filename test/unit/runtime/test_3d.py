"""The ROS-free 3D pieces the node uses: CameraInfo to P, the 3D boxes, drawing, the runner.

``CameraInfo`` objects here are rclpy's own messages where the type matters (the node will
pass those) and plain namespaces elsewhere (the helpers read fields only).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from centertrack_ros.core.calibration import CalibrationError, crop_projection
from centertrack_ros.core.mono3d import box_corners, project
from centertrack_ros.core.tracks import Track
from centertrack_ros.runtime.boxes3d import camera_offset, detection_boxes_3d, yaw_quaternion
from centertrack_ros.runtime.camera_info import projection_for_image
from centertrack_ros.runtime.drawing import draw_tracks, projected_box

P = [1000.0, 0.0, 640.0, 0.0, 0.0, 1000.0, 360.0, 0.0, 0.0, 0.0, 1.0, 0.0]
K = [990.0, 0.0, 641.0, 0.0, 995.0, 362.0, 0.0, 0.0, 1.0]


def _info(width=1280, height=720, p=P, k=K, **more):
    roi = SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False)
    fields = {'binning_x': 0, 'binning_y': 0, 'roi': roi, **more}
    return SimpleNamespace(width=width, height=height, p=p, k=k, **fields)


# ---------------------------------------------------------------------- CameraInfo -> P
def test_camera_info_p_at_its_own_size():
    np.testing.assert_array_equal(projection_for_image(_info(), 1280, 720),
                                  np.reshape(P, (3, 4)))


def test_camera_info_from_rclpy_message():
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=1280, height=720, p=P, k=K)
    np.testing.assert_array_equal(projection_for_image(info, 1280, 720), np.reshape(P, (3, 4)))
    np.testing.assert_array_equal(projection_for_image(info, 1280, 720, 'k')[:, :3],
                                  np.reshape(K, (3, 3)))


def test_camera_info_scaled_for_a_uniformly_resized_image():
    got = projection_for_image(_info(), 640, 360)
    np.testing.assert_allclose(got, np.reshape(P, (3, 4)) * [[0.5], [0.5], [1.0]])
    # Rounded sides (1280x720 at 1/3 is 426.67 x 240) are still a uniform resize.
    assert projection_for_image(_info(), 427, 240)[0, 0] == pytest.approx(1000 * 427 / 1280)


def test_camera_info_roi_and_binning_follow_image_geometry():
    info = _info(binning_x=2, binning_y=2)
    info.roi = SimpleNamespace(x_offset=100, y_offset=60, width=800, height=400,
                               do_rectify=True)
    got = projection_for_image(info, 400, 200)
    expected = crop_projection(np.reshape(P, (3, 4)), 100, 60) * [[0.5], [0.5], [1.0]]
    np.testing.assert_allclose(got, expected)
    point = np.array([[1.0, 0.5, 10.0]])
    full = project(point, np.reshape(P, (3, 4)))
    np.testing.assert_allclose(project(point, got), (full - [100, 60]) / 2)


@pytest.mark.parametrize(('info', 'size', 'message'), [
    (_info(p=[0.0] * 12), (1280, 720), 'all zeros'),
    (_info(k=[0.0] * 9), (1280, 720), None),  # k is not read for p
    (_info(p=[0.0, 0, 640, 0, 0, 1000, 360, 0, 0, 0, 1, 0]), (1280, 720), 'fx=0'),
    (_info(width=0, height=0), (1280, 720), 'no image size'),
    (_info(p=P[:9]), (1280, 720), 'needs 12 values'),
    (_info(), (1280, 960), 'describes 1280x720 images, but the image is 1280x960'),
    (_info(), (0, 0), 'not a uniform resize'),
])
def test_camera_info_errors_are_precise(info, size, message):
    if message is None:
        projection_for_image(info, *size)
        return
    with pytest.raises(CalibrationError, match=message):
        projection_for_image(info, *size)


def test_camera_info_k_of_an_uncalibrated_camera():
    with pytest.raises(CalibrationError, match='k is all zeros'):
        projection_for_image(_info(k=[0.0] * 9), 1280, 720, 'k')
    with pytest.raises(CalibrationError, match="'p' or 'k'"):
        projection_for_image(_info(), 1280, 720, 'q')


# ------------------------------------------------------------------------- 3D boxes
def _track(track_id=4, rot_y=0.6, loc=(2.0, 1.5, 20.0), active=1):
    return Track(0.7, 1, bbox=np.array([600, 300, 700, 400], np.float32), track_id=track_id,
                 active=active, dep=np.array([20.0], np.float32),
                 dim=np.array([1.5, 1.8, 4.5], np.float32), alpha=0.5,
                 loc=np.array(loc, np.float32), rot_y=rot_y)


def test_box_content_follows_the_documented_conventions():
    (box,) = detection_boxes_3d([_track()], {1: 'car'}.get, P)
    assert box.track_id == 4 and box.class_name == 'car' and box.score == pytest.approx(0.7)
    # Centre = bottom centre moved up (y down) by h/2; size = (l, h, w) along the box axes.
    assert box.center == pytest.approx((2.0, 1.5 - 0.75, 20.0))
    assert box.size == pytest.approx((4.5, 1.5, 1.8))
    # The orientation turns the box's x axis onto the heading (cos rot_y, 0, -sin rot_y).
    x, y, z, w = box.orientation
    assert x == z == 0 and math.hypot(y, w) == pytest.approx(1.0)
    axis_x = np.array([1 - 2 * y * y, 0.0, -2 * w * y])  # rotation matrix, first column
    np.testing.assert_allclose(axis_x, [math.cos(0.6), 0.0, -math.sin(0.6)], atol=1e-12)
    # The box with that pose and size has the corners of the core's box.
    corners = box_corners([1.5, 1.8, 4.5], [2.0, 1.5, 20.0], 0.6)
    np.testing.assert_allclose(corners.mean(axis=0), box.center, atol=1e-6)


def test_box_centre_is_in_the_cameras_own_frame():
    # A KITTI-style P2 = K [I | t]: loc is in P's reference frame, t away from the camera.
    p2 = [721.5, 0.0, 609.6, 44.857, 0.0, 721.5, 172.9, 0.2164, 0.0, 0.0, 1.0, 0.002746]
    t = camera_offset(p2)
    np.testing.assert_allclose(t, [(44.857 - 609.6 * 0.002746) / 721.5,
                                   (0.2164 - 172.9 * 0.002746) / 721.5, 0.002746], rtol=1e-5)
    (box,) = detection_boxes_3d([_track()], str, p2)
    # K applied to the camera-frame centre gives the same pixel as P applied to the ref. one.
    k = np.reshape(p2, (3, 4))[:, :3]
    centre_ref = np.array([2.0, 1.5 - 0.75, 20.0])
    via_p = project(centre_ref[None], np.reshape(p2, (3, 4)))
    via_k = project(np.array(box.center)[None], np.concatenate([k, np.zeros((3, 1))], axis=1))
    np.testing.assert_allclose(via_k, via_p, rtol=1e-5)


def test_only_active_tracks_with_a_3d_box_are_published():
    no_loc = _track(track_id=6)
    no_loc.loc, no_loc.rot_y = None, None
    tracks = [_track(), _track(track_id=5, active=0), no_loc]
    assert [b.track_id for b in detection_boxes_3d(tracks, str, P)] == [4]
    assert detection_boxes_3d(tracks, str, None) == []


def test_yaw_quaternion():
    assert yaw_quaternion(0.0) == (0.0, 0.0, 0.0, 1.0)
    assert yaw_quaternion(math.pi) == pytest.approx((0.0, 1.0, 0.0, 0.0), abs=1e-12)


# --------------------------------------------------------------------------- drawing
def test_debug_image_draws_the_projected_box():
    image = np.zeros((720, 1280, 3), np.uint8)
    matrix = np.reshape(P, (3, 4))
    track = _track(loc=(0.0, 1.5, 15.0))
    corners = projected_box(track, matrix, 1280, 720)
    drawn = draw_tracks(image, [track], str, calib=matrix)
    assert not image.any()
    for u, v in corners.round().astype(int):
        assert drawn[v - 1:v + 2, u - 1:u + 2].any(), (u, v)
    # The 2D box is not drawn where the 3D one is not: its top-left corner stays dark.
    assert not drawn[300, 600].any()
    flat = draw_tracks(image, [track], str)  # without P: the 2D box
    assert flat[300, 650].any()


def test_boxes_behind_the_camera_fall_back_to_2d():
    matrix = np.reshape(P, (3, 4))
    behind = _track(loc=(0.0, 1.5, 1.0))  # the box reaches behind the camera
    assert projected_box(behind, matrix, 1280, 720) is None
    drawn = draw_tracks(np.zeros((720, 1280, 3), np.uint8), [behind], str, calib=matrix)
    assert drawn[300, 650].any()


# ---------------------------------------------------------------------------- runner
def test_runner_passes_each_frames_camera_matrix(tmp_path):
    """A frame with P gets its 3D boxes; one without P tracks on, with none."""
    from support.bags import make_random_model

    from centertrack_ros.core.calibration import scale_projection
    from centertrack_ros.core.config import RuntimeConfig
    from centertrack_ros.core.model_spec import ModelSpec, load_model
    from centertrack_ros.runtime.runner import Frame, FrameRunner
    from centertrack_ros.synthetic import SceneConfig, generate_sequence

    model = load_model(ModelSpec(path=str(make_random_model(tmp_path / 'm.pth', ddd=True))),
                       RuntimeConfig(device='cpu', engine='reference'))
    runner = FrameRunner(model.tracker(num_cameras=2), ('front', 'left'))
    sequence = generate_sequence(SceneConfig(seed=3, num_frames=2))
    image = sequence.image(0)
    matrix = scale_projection(np.reshape(P, (3, 4)), image.shape[1] / 1280,
                              image.shape[0] / 720)
    first, second = runner.run([Frame(0, image, 1, 'bgr8', calib=matrix),
                                Frame(1, image, 1, 'bgr8')])
    assert first.boxes_3d == detection_boxes_3d(first.tracks, runner.class_name, matrix)
    assert first.boxes_3d and second.boxes_3d == []
    assert all(t.loc is None for t in second.tracks)
    assert [t.track_id for t in first.tracks] == [t.track_id for t in second.tracks]
    with pytest.raises(CalibrationError, match='camera 0'):
        runner.run([Frame(0, sequence.image(1), 2, 'bgr8', calib=np.zeros((3, 4)))])
