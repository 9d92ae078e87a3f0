"""The node's planner and viewer outputs over DDS: Autoware objects and Foxglove annotations.

- 3D: every 3D pipeline folder of the public reference data (the official checkpoint and
  frames, its camera matrix in a ``CameraInfo`` per frame) through one node serving two cameras
  with ``autoware.enabled``: each ``TrackedObject`` and ``DetectedObject`` of a frame is the
  ``Detection3DArray`` box of the same frame and camera (position, heading, dimensions in
  Autoware's axes, class, score), and the UUIDs are stable per track, distinct across tracks
  and cameras, and the documented ones (:mod:`centertrack_ros.runtime.object_ids`, which the
  bag tool reproduces with ``--node-name``).
- 2D: a small random-weight model on a synthetic drive: each ``annotations`` message holds
  exactly the published tracks (ids in the labels), trails grow and stop at
  ``annotations.trail_length``, one colour per id.
- ``autoware.enabled`` with a 2D model: configure fails with the reason.

(An unknown class mapping to UNKNOWN is ``test/unit/runtime/test_objects3d.py``'s.)
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import GetState
from sensor_msgs.msg import CameraInfo, Image
from support import reference_data as ref
from support.bags import make_random_model
from support.node_harness import (
    RELIABLE,
    NodeUnderTest,
    camera_info_msg,
    diagnostics_values,
    node_running,
)
from vision_msgs.msg import Detection2DArray, Detection3DArray

from centertrack_ros.core.config import CenterTrackConfig
from centertrack_ros.runtime.annotations import LINE_LOOP, LINE_STRIP
from centertrack_ros.runtime.object_classes import AUTOWARE_LABELS
from centertrack_ros.runtime.object_ids import ObjectIdSpace
from centertrack_ros.runtime.objects3d import UNKNOWN_SPEED_SIGMA, rotation_matrix
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools.harness import image_msg, reliable_qos

autoware_msgs = pytest.importorskip('autoware_perception_msgs.msg')
foxglove_msgs = pytest.importorskip('foxglove_msgs.msg')

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CAMERAS = ('front', 'rear')
CLASS_MAP = ['bus:TRUCK']  # an override, to see the parameter reach the node
LABELS = {'car': 'CAR', 'truck': 'TRUCK', 'bus': 'TRUCK', 'trailer': 'TRAILER',
          'motorcycle': 'MOTORCYCLE', 'bicycle': 'BICYCLE', 'pedestrian': 'PEDESTRIAN'}
TRAIL = 3


# ------------------------------------------------------------------------------------ 3D
def node_parameters(folder: Path, config: CenterTrackConfig) -> dict:
    """Describe an official checkpoint's configuration to the node (as test_node_reference)."""
    model, tracker = config.model, config.tracker
    return {
        'model.path': str(folder / 'model.pth'), 'model.arch': model.arch,
        'model.backbone': model.backbone, 'model.num_classes': model.num_classes,
        'model.ltrb_amodal': model.ltrb_amodal, 'model.input_width': config.input.width,
        'model.input_height': config.input.height, 'model.mean': list(config.input.mean),
        'model.std': list(config.input.std), 'model.class_names': list(model.class_names),
        'tracker.track_thresh': tracker.track_thresh, 'tracker.pre_thresh': tracker.pre_thresh,
        'tracker.new_thresh': tracker.new_thresh, 'tracker.max_age': tracker.max_age,
        'tracker.hungarian': tracker.hungarian, 'tracker.pre_hm': tracker.pre_hm,
        'device': 'cpu', 'qos.reliability': 'reliable',
    }


def runs_in_3d(folder: Path) -> bool:
    """Tell a 3D pipeline folder whose results the node publishes as they are (out = track)."""
    if not ref.is_pipeline(folder):
        return False
    config = ref.official_config(folder)
    return config.model.ddd and config.tracker.effective_out_thresh == \
        config.tracker.track_thresh


def axes(q) -> np.ndarray:
    """Return the rotation of a geometry_msgs quaternion (columns: its axes)."""
    return rotation_matrix((q.x, q.y, q.z, q.w))


def assert_object_is_the_box(obj, box, where: str) -> None:
    """Assert that a Tracked/DetectedObject describes a Detection3D (Autoware's axes)."""
    pose = obj.kinematics.pose_with_covariance.pose
    center = box.bbox.center
    assert (pose.position.x, pose.position.y, pose.position.z) == pytest.approx(
        (center.position.x, center.position.y, center.position.z), abs=1e-9), where
    # x along the heading (the box's own x axis), z up (the optical frame's -y).
    np.testing.assert_allclose(axes(pose.orientation)[:, 0], axes(center.orientation)[:, 0],
                               atol=1e-6, err_msg=where)
    np.testing.assert_allclose(axes(pose.orientation)[:, 2], (0.0, -1.0, 0.0), atol=1e-6,
                               err_msg=where)
    size = box.bbox.size  # detections_3d: x length, y height, z width
    dims = obj.shape.dimensions
    assert (dims.x, dims.y, dims.z) == pytest.approx((size.x, size.z, size.y), abs=1e-6), where
    hypothesis = box.results[0].hypothesis
    (classification,) = obj.classification
    assert classification.label == AUTOWARE_LABELS[LABELS.get(hypothesis.class_id, 'UNKNOWN')], \
        where
    assert obj.existence_probability == pytest.approx(hypothesis.score, abs=1e-6), where
    assert obj.shape.type == autoware_msgs.Shape.BOUNDING_BOX, where
    assert obj.kinematics.orientation_availability == \
        autoware_msgs.TrackedObjectKinematics.AVAILABLE, where
    covariance = np.reshape(obj.kinematics.pose_with_covariance.covariance, (6, 6))
    assert np.all(np.diag(covariance) > 0), where


@pytest.mark.reference
@pytest.mark.parametrize('folder', ref.folder_params(runs_in_3d, '3D pipeline folders'))
def test_objects_are_the_3d_boxes_with_stable_distinct_uuids(folder: Path, ros_client):
    config = ref.official_config(folder)
    frames = ref.frames(folder)
    height, width = frames[0].shape[:2]
    calib = ref.calibration(folder, width, height)
    namespace = '/test_planner_3d'
    params = node_parameters(folder, config) | {
        'cameras': list(CAMERAS), 'autoware.enabled': True, 'autoware.class_map': CLASS_MAP}
    with node_running(NodeUnderTest(namespace, params), ros_client) as node:
        images, infos, subscriptions = {}, {}, {}
        for camera in CAMERAS:
            images[camera] = ros_client.node.create_publisher(
                Image, node.name(f'{camera}/image'), RELIABLE)
            infos[camera] = ros_client.node.create_publisher(
                CameraInfo, node.name(f'{camera}/camera_info'), RELIABLE)
            subscriptions[camera] = {
                kind: ros_client.subscribe(msg_type, node.name(f'{camera}/{kind}'),
                                           reliable_qos(50))
                for kind, msg_type in (('detections_3d', Detection3DArray),
                                       ('objects', autoware_msgs.TrackedObjects),
                                       ('detected_objects', autoware_msgs.DetectedObjects))}
        ros_client.wait_until(lambda: all(
            images[c].get_subscription_count() > 0 and infos[c].get_subscription_count() > 0
            and all(s.subscription.get_publisher_count() > 0
                    for s in subscriptions[c].values()) for c in CAMERAS), 'matching')
        stamp = ros_client.now_ns()
        uuids: dict[str, dict[int, set[bytes]]] = {c: defaultdict(set) for c in CAMERAS}
        first_seen: dict[tuple[str, int], int] = {}
        compared = 0
        for index, frame in enumerate(frames):
            stamp += 100_000_000
            for camera in CAMERAS:
                infos[camera].publish(camera_info_msg(calib, width, height, stamp,
                                                      'camera_optical'))
                images[camera].publish(image_msg(frame, stamp, 'camera_optical'))
            for camera in CAMERAS:
                where = f'{folder.name} frame {index} {camera}'
                got = {}
                for kind, collector in subscriptions[camera].items():
                    try:  # the camera_info and the first image race: 3D may start later
                        got[kind] = collector.wait_for(
                            lambda m, s=stamp: stamp_ns(m.header.stamp) == s,
                            timeout=5 if index == 0 else 120, watch=node)
                    except TimeoutError:
                        assert index == 0, f'{where}: no {kind}'
                if index == 0 and len(got) < 3:
                    continue
                boxes, tracked, detected = (got['detections_3d'], got['objects'],
                                            got['detected_objects'])
                assert tracked.header.frame_id == detected.header.frame_id == 'camera_optical'
                assert len(tracked.objects) == len(detected.objects) == len(boxes.detections)
                for box, obj, det in zip(boxes.detections, tracked.objects, detected.objects):
                    track_id = int(box.id)
                    uuid = bytes(obj.object_id.uuid)
                    assert uuid == ObjectIdSpace(f'{namespace}/centertrack',
                                                 camera).uuid(track_id), \
                        f'{where}: the documented UUID of track {track_id}'
                    uuids[camera][track_id].add(uuid)
                    assert_object_is_the_box(obj, box, f'{where} TrackedObject {track_id}')
                    assert_object_is_the_box(det, box, f'{where} DetectedObject {track_id}')
                    first = first_seen.setdefault((camera, track_id), index) == index
                    twist = obj.kinematics.twist_with_covariance
                    assert (twist.covariance[0] == UNKNOWN_SPEED_SIGMA ** 2) == first, where
                    assert det.kinematics.has_twist == (not first), where
                    compared += 1
        # Objects exactly for the frames with 3D boxes (reliable, in order: all are here).
        for camera in CAMERAS:
            stamps = {kind: [stamp_ns(m.header.stamp) for m in collector.messages]
                      for kind, collector in subscriptions[camera].items()}
            assert stamps['objects'] == stamps['detected_objects'] == stamps['detections_3d']
            assert len(stamps['objects']) >= len(frames) - 1
    assert compared > 0
    for camera in CAMERAS:
        per_track = uuids[camera]
        assert all(len(seen) == 1 for seen in per_track.values()), 'one UUID per track'
        assert len(per_track) > 1
        assert any(first_seen[(camera, t)] < len(frames) - 2 for t in per_track)
    all_uuids = [next(iter(seen)) for camera in CAMERAS for seen in uuids[camera].values()]
    assert len(set(all_uuids)) == len(all_uuids), 'distinct across tracks and cameras'
    prefixes = {camera: {u[:10] for seen in uuids[camera].values() for u in seen}
                for camera in CAMERAS}
    assert all(len(p) == 1 for p in prefixes.values())
    assert prefixes['front'] != prefixes['rear'], 'the camera is part of the UUID'


# ------------------------------------------------------------------------------------ 2D
@pytest.fixture(scope='module')
def model_2d(tmp_path_factory) -> Path:
    return make_random_model(tmp_path_factory.mktemp('model2d') / 'random2d.pth')


def detection_boxes(msg) -> dict[int, tuple]:
    """Return ``{id: (label text, (x1, y1, x2, y2), (cx, cy))}`` of a Detection2DArray."""
    out = {}
    for d in msg.detections:
        cx, cy = d.bbox.center.position.x, d.bbox.center.position.y
        w, h = d.bbox.size_x, d.bbox.size_y
        hypothesis = d.results[0].hypothesis
        out[int(d.id)] = (f'{d.id} {hypothesis.class_id} {hypothesis.score:.2f}',
                          (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), (cx, cy))
    return out


def points(annotation) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in annotation.points]


def test_annotations_are_the_published_tracks_with_capped_trails(model_2d, ros_client):
    sequence = generate_sequence(SceneConfig(width=640, height=384, num_frames=10, seed=3))
    namespace = '/test_planner_2d'
    params = {'model.path': str(model_2d), 'device': 'cpu', 'qos.reliability': 'reliable',
              'annotations.trail_length': TRAIL}
    with node_running(NodeUnderTest(namespace, params), ros_client) as node:
        images = ros_client.node.create_publisher(Image, node.name('image'), RELIABLE)
        detections = ros_client.subscribe(Detection2DArray, node.name('detections'),
                                          reliable_qos(50))
        annotations = ros_client.subscribe(foxglove_msgs.ImageAnnotations,
                                           node.name('annotations'), reliable_qos(50))
        ros_client.wait_matched(images, detections)
        ros_client.wait_until(lambda: annotations.subscription.get_publisher_count() > 0,
                              'matching the annotations')
        stamp = ros_client.now_ns()
        centres: dict[int, list] = defaultdict(list)
        colours: dict[int, tuple] = {}
        for index in range(len(sequence)):
            stamp += 100_000_000
            images.publish(image_msg(sequence.image(index), stamp, 'camera'))
            published = detection_boxes(detections.wait_for(
                lambda m, s=stamp: stamp_ns(m.header.stamp) == s, watch=node))
            # One overlay per frame, published after its detections: the index-th one.
            overlay = annotations.wait_for(lambda m: True, start=index, watch=node)
            where = f'frame {index}'
            assert [t.text for t in overlay.texts] == [v[0] for v in published.values()], where
            assert all(stamp_ns(t.timestamp) == stamp for t in overlay.texts), where
            assert all(stamp_ns(p.timestamp) == stamp for p in overlay.points), where
            outlines = [p for p in overlay.points if p.type == LINE_LOOP]
            trails = [p for p in overlay.points if p.type == LINE_STRIP]
            assert len(outlines) == len(published), where
            for (track_id, (_, box, centre)), outline, text in zip(
                    published.items(), outlines, overlay.texts):
                x1, y1, x2, y2 = box
                np.testing.assert_allclose(points(outline), [(x1, y1), (x2, y1), (x2, y2),
                                                             (x1, y2)], atol=1e-3,
                                           err_msg=where)
                colour = (outline.outline_color.r, outline.outline_color.g,
                          outline.outline_color.b)
                assert colours.setdefault(track_id, colour) == colour, f'{where}: id {track_id}'
                background = text.background_color
                assert (background.r, background.g, background.b) == colour, where
                centres[track_id].append(centre)
            expected_trails = [centres[t][-TRAIL:] for t in published if len(centres[t]) >= 2]
            assert [len(t.points) for t in trails] == [len(t) for t in expected_trails], where
            for trail, expected in zip(trails, expected_trails):
                np.testing.assert_allclose(points(trail), expected, atol=1e-3, err_msg=where)
            for trail in trails:
                colour = (trail.outline_color.r, trail.outline_color.g, trail.outline_color.b)
                assert colour in colours.values(), where
        assert annotations.count() == len(sequence)
    assert max(len(c) for c in centres.values()) > TRAIL, 'a trail reached its cap'
    assert len(colours) > 1


def test_autoware_with_a_2d_model_fails_configure_with_the_reason(model_2d, ros_client):
    namespace = '/test_planner_config'
    node = NodeUnderTest(namespace, {'model.path': str(model_2d), 'device': 'cpu',
                                     'autoware.enabled': True})
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    try:
        node.process.wait_for('configure failed: autoware.enabled needs a model with 3D heads')
        name = f'{namespace}/centertrack'
        report = diagnostics.wait_for(
            lambda m: 'autoware.enabled' in (diagnostics_values(m, name) or {}).get(
                'configure_error', ''), what='the configure error in the diagnostics',
            watch=node)
        assert diagnostics_values(report, name)['_level'] == '2'
        state = ros_client.call(GetState, node.name('~/get_state'), GetState.Request())
        assert state.current_state.label == 'unconfigured'
    finally:
        assert node.stop() == 0, node.output()
