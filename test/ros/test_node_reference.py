"""The node over DDS reproduces the official CenterTrack outputs of every pipeline folder.

The checkpoints are in the official format (no metadata), so the node gets the configuration of
``expected.json`` through its parameters, as a user of an official checkpoint would give it.
The frames are fed one at a time, each after the previous result arrived (a 3D folder's with a
``CameraInfo`` holding its camera matrix). The published detections (and 3D boxes) must equal
the core's, computed in this process on the same machine with the same thread count (bit for
bit the same arithmetic), and the official results (active tracks only) within the reference
READMEs' tolerances.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from support import reference_data as ref
from support.node_harness import (
    RELIABLE,
    NodeUnderTest,
    assert_rows_equal,
    camera_info_msg,
    detection_rows,
    node_running,
    track_rows,
)
from vision_msgs.msg import Detection2DArray, Detection3DArray

from centertrack_ros.core.checkpoint import load_state_dict_strict, read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.runtime.boxes3d import DetectionBox3D, camera_offset, detection_boxes_3d
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.harness import image_msg, reliable_qos

pytestmark = [pytest.mark.ros, pytest.mark.reference, pytest.mark.slow]


def node_parameters(folder: Path, config: CenterTrackConfig) -> dict:
    """Return the node parameters that describe ``config`` for an official checkpoint."""
    model, tracker = config.model, config.tracker
    return {
        'model.path': str(folder / 'model.pth'),
        'model.arch': model.arch,
        'model.backbone': model.backbone,
        'model.num_classes': model.num_classes,
        'model.ltrb_amodal': model.ltrb_amodal,
        'model.input_width': config.input.width,
        'model.input_height': config.input.height,
        'model.mean': list(config.input.mean),
        'model.std': list(config.input.std),
        'tracker.track_thresh': tracker.track_thresh,
        'tracker.pre_thresh': tracker.pre_thresh,
        'tracker.new_thresh': tracker.new_thresh,
        'tracker.max_age': tracker.max_age,
        'tracker.hungarian': tracker.hungarian,
        'tracker.pre_hm': tracker.pre_hm,
        'device': 'cpu',
        'qos.reliability': 'reliable',
    } | ({'model.class_names': list(model.class_names)} if model.class_names else {})


def node_can_run(folder: Path) -> bool:
    """Tell whether the node can run a folder: a pipeline whose out_thresh is track_thresh."""
    if not ref.is_pipeline(folder):
        return False
    config = ref.official_config(folder)
    return config.tracker.effective_out_thresh == config.tracker.track_thresh


@pytest.mark.parametrize('folder', ref.folder_params(node_can_run, 'pipeline folders'))
def test_node_matches_the_official_results_and_the_core(folder: Path, ros_client):
    config = ref.official_config(folder)
    frames = ref.frames(folder)
    network = build_network(config.model)
    load_state_dict_strict(network, read_checkpoint(str(folder / 'model.pth')).state_dict,
                           config.model)
    core = CenterTracker(network.eval(), config.replace(runtime=RuntimeConfig(device='cpu')))
    class_name = core.config.model.class_name

    height, width = frames[0].shape[:2]
    calib = ref.calibration(folder, width, height) if config.model.ddd else None
    with node_running(NodeUnderTest('/test_reference', node_parameters(folder, config)),
                      ros_client) as node:
        publisher = ros_client.node.create_publisher(Image, node.name('image'), RELIABLE)
        infos = ros_client.node.create_publisher(CameraInfo, node.name('camera_info'), RELIABLE)
        detections = ros_client.subscribe(Detection2DArray, node.name('detections'))
        boxes = ros_client.subscribe(Detection3DArray, node.name('detections_3d'),
                                     reliable_qos(50))
        ros_client.wait_matched(publisher, detections)
        if calib is not None:
            ros_client.wait_until(lambda: infos.get_subscription_count() > 0, 'camera_info')
        stamp = ros_client.now_ns()
        per_frame, per_frame_3d = [], []
        for index, (frame, official) in enumerate(zip(frames, ref.expected(folder)['results'],
                                                      strict=True)):
            stamp += 100_000_000
            if calib is not None:
                infos.publish(camera_info_msg(calib, width, height, stamp, 'reference_camera'))
            publisher.publish(image_msg(frame, stamp, 'reference_camera'))
            got = detection_rows(detections.wait_for(
                lambda m, s=stamp: stamp_ns(m.header.stamp) == s))
            tracks = core.step(frame, calib=calib)
            assert_rows_equal(got, track_rows(tracks, class_name), f'frame {index} vs core')
            active = [o for o in official if o.get('active', 1) > 0]
            assert active, 'the reference frames have active tracks'
            per_frame.append((published_as_results(got, class_name, config), active))
            if calib is not None:
                # The camera_info and its image race: the first frame may precede it.
                msg = _maybe(boxes, stamp) if index == 0 else boxes.wait_for(
                    lambda m, s=stamp: stamp_ns(m.header.stamp) == s)
                if msg is None:
                    continue
                ours = detection_boxes_3d(tracks, class_name, calib)
                published = published_3d(msg, calib, config, class_name)
                ref.assert_same_results([(published, [box_as_result(b, calib) for b in ours])],
                                        ref.PIPELINE, f'frame {index} 3D vs core')
                per_frame_3d.append((published, active))
        ref.assert_same_results(per_frame, ref.PIPELINE, f'{folder.name} over DDS')
        if calib is not None:
            assert len(per_frame_3d) >= len(frames) - 1, 'every frame after the first in 3D'
            ref.assert_same_results(per_frame_3d, ref.PIPELINE, f'{folder.name} 3D over DDS')


def _maybe(collector, stamp: int):
    """Return the 3D message of ``stamp`` if it comes within a few seconds, else None."""
    try:
        return collector.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp, timeout=5)
    except TimeoutError:
        return None


def box_as_result(box, calib: np.ndarray) -> dict:
    """Express a published 3D box in the original's terms: bottom ``loc``, ``dim``, ``rot_y``."""
    length, h, w = box.size
    loc = np.asarray(box.center) - camera_offset(calib) + (0.0, h / 2.0, 0.0)
    rot_y = math.remainder(2.0 * math.atan2(box.orientation[1], box.orientation[3]), 2 * math.pi)
    return {'tracking_id': box.track_id, 'dim': [h, w, length], 'loc': list(loc),
            'rot_y': rot_y}


def published_3d(msg, calib: np.ndarray, config: CenterTrackConfig, class_name) -> list[dict]:
    """Read a Detection3DArray back into the original's terms (see box_as_result)."""
    labels = {class_name(c): c for c in range(1, config.model.num_classes + 1)}
    out = []
    for d in msg.detections:
        box = DetectionBox3D(
            int(d.id), (d.bbox.center.position.x, d.bbox.center.position.y,
                        d.bbox.center.position.z),
            (d.bbox.center.orientation.x, d.bbox.center.orientation.y,
             d.bbox.center.orientation.z, d.bbox.center.orientation.w),
            (d.bbox.size.x, d.bbox.size.y, d.bbox.size.z), d.results[0].hypothesis.class_id,
            d.results[0].hypothesis.score)
        out.append(box_as_result(box, calib) | {'class': labels[box.class_name],
                                                'score': box.score})
    return out


def published_as_results(rows: dict, class_name, config: CenterTrackConfig) -> list[dict]:
    """Return the published detections in the official results' form (the fields they carry)."""
    labels = {class_name(c): c for c in range(1, config.model.num_classes + 1)}
    return [{'tracking_id': track_id, 'class': labels[label], 'score': score,
             'bbox': list(box)} for track_id, (label, score, box) in rows.items()]
