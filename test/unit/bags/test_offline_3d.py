"""``centertrack_bag`` in 3D: calibration files, CameraInfo topics and Detection3DArray output.

Bags are written by the command-line entry point and read back with ``rosbags``, as in
``test_offline``; a small random-weight model with the 3D heads stands in for a nuScenes model.
The offline 3D boxes must equal the core tracker's on the same frames with the same camera
matrix, and the rosbags-side messages must be, field for field, what the node's rclpy
builder makes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.bags import cli, convert_calibrated, error_of, make_random_model

from centertrack_ros.bags.calibration_file import read_camera_calibration
from centertrack_ros.bags.convert import camera_info_topic_for
from centertrack_ros.bags.errors import BagError
from centertrack_ros.bags.io import BagReader
from centertrack_ros.bags.messages import decode_image, detection3d_array
from centertrack_ros.bags.typestore import CAMERA_INFO, DETECTION3D_ARRAY, typestore
from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.tracks import Track
from centertrack_ros.runtime.boxes3d import detection_boxes_3d
from centertrack_ros.runtime.camera_info import projection_for_image

FRAMES = 4
SEED = 9
# The synthetic frames are 640x384; a pinhole for them with a KITTI-style last column.
P = [[500.0, 0.0, 320.0, 20.0], [0.0, 500.0, 190.0, 0.5], [0.0, 0.0, 1.0, 0.01]]
ROS_YAML = """image_width: 1280
image_height: 768
camera_name: front
camera_matrix:
  rows: 3
  cols: 3
  data: [1010.0, 0.0, 641.0, 0.0, 1012.0, 383.0, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.3, 0.1, 0.001, -0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [1000.0, 0.0, 640.0, 0.0, 0.0, 1000.0, 380.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""
KITTI_CALIB = """P0: 7.215377e+02 0.000000e+00 6.095593e+02 0.000000e+00 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P1: 7.215377e+02 0.000000e+00 6.095593e+02 -3.875744e+02 0.000000e+00 7.215377e+02 1.728540e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P2: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
P3: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
R_rect 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
Tr_velo_cam 7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 7.280733e-04 -9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 1.480755e-02 -2.717806e-01
"""  # noqa: E501 (KITTI's own line format)


# ------------------------------------------------------------------ calibration files
def test_reads_a_ros_camera_yaml_field_for_field(tmp_path):
    path = tmp_path / 'front.yaml'
    path.write_text(ROS_YAML)
    calib = read_camera_calibration(path)
    assert (calib.width, calib.height, calib.distortion_model) == (1280, 768, 'plumb_bob')
    assert calib.k[0] == 1010.0 and calib.p[0] == 1000.0 and calib.p[6] == 380.0
    assert calib.d == (-0.3, 0.1, 0.001, -0.002, 0.0)


def test_reads_the_kitti_camera_named_by_key(tmp_path):
    path = tmp_path / '0003.txt'
    path.write_text(KITTI_CALIB)
    p2 = read_camera_calibration(path)
    assert p2.p[3] == pytest.approx(44.85728) and p2.p[11] == pytest.approx(2.745884e-03)
    assert p2.k == pytest.approx((721.5377, 0, 609.5593, 0, 721.5377, 172.854, 0, 0, 1))
    assert p2.width is None  # the frames' size
    assert read_camera_calibration(path, 'P3').p[3] == pytest.approx(-339.5242)
    with pytest.raises(BagError, match='has no P5 \\(it has P0, P1, P2, P3, R_rect'):
        read_camera_calibration(path, 'P5')


@pytest.mark.parametrize('text', [
    '500 0 320 20\n0 500 190 0.5\n0 0 1 0.01\n',
    json.dumps(P),
    json.dumps({'calib': P, 'file_name': 'x.jpg'}),
])
def test_reads_a_bare_projection_matrix(tmp_path, text):
    path = tmp_path / 'calib.txt'
    path.write_text(text)
    calib = read_camera_calibration(path)
    np.testing.assert_allclose(np.reshape(calib.p, (3, 4)), P)
    np.testing.assert_allclose(np.reshape(calib.k, (3, 3)), np.array(P)[:, :3])


def test_reads_a_nuscenes_intrinsic(tmp_path):
    path = tmp_path / 'calibrated_sensor.json'
    intrinsic = [[1266.4, 0.0, 816.3], [0.0, 1266.4, 491.5], [0.0, 0.0, 1.0]]
    path.write_text(json.dumps({'token': 'abc', 'camera_intrinsic': intrinsic}))
    calib = read_camera_calibration(path)
    np.testing.assert_allclose(np.reshape(calib.p, (3, 4)),
                               np.concatenate([intrinsic, np.zeros((3, 1))], axis=1))


@pytest.mark.parametrize(('text', 'message'), [
    ('1 2 3 4 5', '12 or 9 numbers\\), got 5 numbers'),
    ('0 0 0 0 0 0 0 0 0 0 0 0', 'focal lengths'),
    ('hello: world', 'not a ROS camera YAML'),
    (ROS_YAML.replace('image_width: 1280\n', ''), 'image_width'),
])
def test_refuses_bad_calibration_files(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(BagError, match=message):
        read_camera_calibration(path)


def test_camera_info_topic_sits_beside_the_image_topic():
    assert camera_info_topic_for('/camera/image_raw') == '/camera/camera_info'
    assert camera_info_topic_for('/cam/front/image_rect/compressed') == '/cam/front/camera_info'
    assert camera_info_topic_for('image') == '/camera_info'


def test_the_typestore_knows_the_3d_and_camera_types():
    types = typestore().types
    assert DETECTION3D_ARRAY in types and CAMERA_INFO in types
    assert 'vision_msgs/msg/BoundingBox3D' in types


# ------------------------------------------------------------------------ bags
@pytest.fixture(scope='module')
def model_3d(tmp_path_factory) -> Path:
    return make_random_model(tmp_path_factory.mktemp('model3d') / 'random3d.pth', ddd=True)


@pytest.fixture(scope='module')
def calibrated_bag(tmp_path_factory) -> Path:
    return convert_calibrated(tmp_path_factory.mktemp('calibrated'), SEED, FRAMES, P)


def test_convert_writes_one_camera_info_per_frame(calibrated_bag):
    with BagReader(calibrated_bag) as bag:
        images = list(bag.messages(['/camera/image_raw']))
        infos = list(bag.messages(['/camera/camera_info']))
    assert len(infos) == len(images) == FRAMES
    for (_, t_image, image), (_, t_info, info) in zip(images, infos):
        assert t_image == t_info
        assert (info.header.stamp.sec, info.header.stamp.nanosec, info.header.frame_id) == \
            (image.header.stamp.sec, image.header.stamp.nanosec, image.header.frame_id)
        assert (info.width, info.height) == (image.width, image.height)
        np.testing.assert_allclose(np.reshape(info.p, (3, 4)), P)
        np.testing.assert_allclose(projection_for_image(info, image.width, image.height), P)


def test_convert_refuses_a_calibration_of_another_shape(tmp_path, capsys):
    path = tmp_path / 'front.yaml'
    path.write_text(ROS_YAML.replace('image_height: 768', 'image_height: 960'))
    message = error_of(capsys, 'convert', '--synthetic', 1, '--frames', 2, '-o',
                       tmp_path / 'bag', '--camera-info', path, '-q')
    assert 'camera_info describes 1280x960 images, but the image is 640x384' in message


def test_run_writes_the_core_trackers_3d_boxes(tmp_path, capsys, model_3d, calibrated_bag):
    output = tmp_path / 'tracks'
    capsys.readouterr()
    assert cli('run', calibrated_bag, '-o', output, '--model', model_3d, '--device', 'cpu',
               '--engine', 'reference', '-q') == 0
    assert '3D boxes on /detections_3d' in capsys.readouterr().out
    tracker = load_tracker(ModelSpec(path=str(model_3d)),
                           runtime=RuntimeConfig(device='cpu', engine='reference'))
    class_name = tracker.config.model.class_name
    with BagReader(calibrated_bag) as bag:
        images = [m for _, _, m in bag.messages(['/camera/image_raw'])]
    with BagReader(output) as bag:
        arrays = list(bag.messages(['/detections_3d']))
    assert len(arrays) == FRAMES
    published = 0
    for image_msg, (_, _, array) in zip(images, arrays):
        tracks = tracker.step(decode_image(image_msg, 'sensor_msgs/msg/Image'), calib=P)
        expected = detection_boxes_3d(tracks, class_name, P)
        assert array.header.frame_id == image_msg.header.frame_id
        assert [d.id for d in array.detections] == [str(b.track_id) for b in expected]
        for got, want in zip(array.detections, expected):
            pose = got.bbox.center
            assert (pose.position.x, pose.position.y, pose.position.z) == \
                pytest.approx(want.center, abs=1e-5)
            assert (pose.orientation.x, pose.orientation.y, pose.orientation.z,
                    pose.orientation.w) == pytest.approx(want.orientation, abs=1e-6)
            assert (got.bbox.size.x, got.bbox.size.y, got.bbox.size.z) == \
                pytest.approx(want.size, abs=1e-6)
            assert got.results[0].hypothesis.class_id == want.class_name
        published += len(expected)
    assert published > 0, 'the random 3D model should find something'


def test_run_without_camera_info_warns_and_writes_2d(tmp_path, capsys, model_3d):
    bag = tmp_path / 'plain'
    assert cli('convert', '--synthetic', 2, '--frames', 2, '-o', bag, '-q') == 0
    capsys.readouterr()
    assert cli('run', bag, '-o', tmp_path / 'tracks', '--model', model_3d, '--device', 'cpu',
               '--engine', 'reference', '-q') == 0
    assert 'no sensor_msgs/CameraInfo' in capsys.readouterr().err
    with BagReader(tmp_path / 'tracks') as reader:
        assert set(reader.topics) == {'/detections'}


def test_bag_3d_detections_equal_the_node_messages():
    """Our rosbags-side Detection3DArray is field for field what the node's builder makes."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from centertrack_ros.ros.messages import detection3d_array as node_detection3d_array

    tracks = [
        Track(0.8137, 1, bbox=np.array([10.1, 20.3, 110.7, 90.9], np.float32), track_id=3,
              dep=np.array([12.3], np.float32), dim=np.array([1.51, 1.83, 4.27], np.float32),
              alpha=0.3, loc=np.array([1.13, 1.61, 12.2], np.float32), rot_y=-2.9),
        Track(0.61, 2, bbox=np.array([1.0, 2.0, 3.0, 4.0], np.float32), track_id=5,
              dep=np.array([7.0], np.float32), dim=np.array([1.7, 0.6, 0.8], np.float32),
              alpha=-0.2, loc=np.array([-2.0, 1.7, 7.0], np.float32), rot_y=1.1, active=0),
    ]
    boxes = detection_boxes_3d(tracks, {1: 'car', 2: 'pedestrian'}.get, P)
    header = Header(frame_id='cam_front')
    header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_789
    node_bytes = serialize_message(node_detection3d_array(boxes, header))
    ours = detection3d_array(boxes, 1_700_000_123_000_456_789, 'cam_front')
    # Compared after a rosbags round trip of the node's bytes (Fast CDR's padding is not
    # initialised), as for the 2D messages.
    store = typestore()
    node_msg = store.deserialize_cdr(node_bytes, DETECTION3D_ARRAY)
    assert bytes(store.serialize_cdr(ours, DETECTION3D_ARRAY)) == \
        bytes(store.serialize_cdr(node_msg, DETECTION3D_ARRAY))
    assert len(ours.detections) == 1  # the coasting track is not published
