"""The node with a 3D model over DDS: images and camera_info in, Detection3DArray out.

A small random-weight model with the 3D heads (``support.bags.make_random_model(ddd=True)``):
its 3D boxes mean nothing, but they are exactly what the core computes, which is what is
checked here; the official 3D results run through the node in ``test_node_reference``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image
from support.bags import make_random_model
from support.node_harness import NodeUnderTest, core_tracker, detection_rows, node_running
from vision_msgs.msg import Detection2DArray, Detection3DArray

from centertrack_ros.runtime.boxes3d import detection_boxes_3d
from centertrack_ros.runtime.stamps import set_stamp, stamp_ns
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools.harness import image_msg, reliable_qos

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/test_3d'
WIDTH, HEIGHT = 640, 384
K = (500.0, 0.0, 320.0, 0.0, 500.0, 192.0, 0.0, 0.0, 1.0)


def camera_info(stamp: int, p: tuple, width: int = WIDTH, height: int = HEIGHT) -> CameraInfo:
    msg = CameraInfo(width=width, height=height, k=list(K), p=list(p))
    set_stamp(msg.header.stamp, stamp)
    msg.header.frame_id = 'camera_optical'
    return msg


GOOD_P = (500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 192.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ZERO_FOCAL_P = (0.0, 0.0, 320.0, 0.0, 0.0, 0.0, 192.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return make_random_model(tmp_path_factory.mktemp('model3d') / 'random3d.pth', ddd=True)


def test_3d_boxes_follow_the_camera_info(model, ros_client):
    sequence = generate_sequence(SceneConfig(width=WIDTH, height=HEIGHT, num_frames=8, seed=3))
    frames = [sequence.image(i) for i in range(len(sequence))]
    core = core_tracker(model)
    assert core.config.model.ddd
    node = NodeUnderTest(NAMESPACE, {'model.path': str(model), 'device': 'cpu',
                                     'qos.reliability': 'reliable'})
    with node_running(node, ros_client):
        images = ros_client.node.create_publisher(Image, f'{NAMESPACE}/image', reliable_qos())
        infos = ros_client.node.create_publisher(CameraInfo, f'{NAMESPACE}/camera_info',
                                                 reliable_qos())
        detections = ros_client.subscribe(Detection2DArray, f'{NAMESPACE}/detections',
                                          reliable_qos(50))
        boxes = ros_client.subscribe(Detection3DArray, f'{NAMESPACE}/detections_3d',
                                     reliable_qos(50))
        diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
        ros_client.wait_matched(images, detections)
        ros_client.wait_until(lambda: infos.get_subscription_count() > 0 and
                              boxes.subscription.get_publisher_count() > 0, 'matching')
        stamp = ros_client.now_ns()

        def send(frame, info=None):
            nonlocal stamp
            stamp += 100_000_000
            if info is not None:
                infos.publish(camera_info(stamp, info))
            images.publish(image_msg(frame, stamp, 'camera_optical'))
            return detections.wait_for(lambda m, s=stamp: stamp_ns(m.header.stamp) == s)

        def status() -> dict:
            msg = diagnostics.wait_for(lambda m: any(s.name == f'{NAMESPACE}/centertrack: '
                                                     'tracking' for s in m.status),
                                       start=diagnostics.count())
            return {kv.key: kv.value for kv in msg.status[0].values}

        # No camera_info: 2D as always, no 3D, and the reason in the diagnostics and the log.
        for index in range(2):
            core.step(frames[index])
            send(frames[index])
        assert status()['camera_info'] == 'no camera_info received yet'
        # An unusable camera_info (zero focal length): still no 3D, with the reason. (The
        # first may arrive after its image: the second frame is calibrated by the first.)
        for index in (2, 3):
            core.step(frames[index])
            send(frames[index], ZERO_FOCAL_P)
        assert 'focal' in status()['camera_info']
        assert boxes.count() == 0, 'no 3D output without a usable camera_info'
        log = node.output()
        assert 'no 3D output for /test_3d/image: no camera_info received yet' in log
        assert 'focal length' in log and '2D detections continue' in log
        # The camera_info arrives (late): 3D boxes from the first frame the node has it for
        # (the two topics race), then with every frame; ids those of the 2D detections. The
        # 3D fields play no part in tracking, so the core may use the matrix from the start.
        calib = np.array(GOOD_P, dtype=np.float32).reshape(3, 4)
        published, started = 0, False
        for index in range(4, 8):
            msg2d = send(frames[index], GOOD_P)
            want = {b.track_id: b for b in detection_boxes_3d(
                core.step(frames[index], calib=calib), core.config.model.class_name, calib)}
            try:
                msg3d = boxes.wait_for(lambda m, s=stamp: stamp_ns(m.header.stamp) == s,
                                       timeout=60 if started else 5)
            except TimeoutError:
                assert not started, f'frame {index}: no 3D after the camera_info was known'
                continue
            started = True
            assert msg3d.header.frame_id == 'camera_optical'
            assert all(stamp_ns(d.header.stamp) == stamp for d in msg3d.detections)
            got = {int(d.id): d for d in msg3d.detections}
            assert set(got) == set(want) <= set(detection_rows(msg2d))
            for track_id, box in want.items():
                d = got[track_id]
                center = (d.bbox.center.position.x, d.bbox.center.position.y,
                          d.bbox.center.position.z)
                q = d.bbox.center.orientation
                size = (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z)
                assert np.allclose(center, box.center, rtol=1e-4, atol=1e-4)
                assert np.allclose((q.x, q.y, q.z, q.w), box.orientation, atol=1e-5)
                assert math.isclose(q.y ** 2 + q.w ** 2, 1.0, abs_tol=1e-6)
                assert np.allclose(size, box.size, rtol=1e-4, atol=1e-4)
                assert d.results[0].hypothesis.class_id == box.class_name
            published += len(got)
        assert started and published > 0, 'the model tracks something in 3D'
        assert status()['camera_info'].startswith('ok (fx 500.0')
