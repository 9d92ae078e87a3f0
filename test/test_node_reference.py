"""The node over DDS reproduces the official CenterTrack outputs of every 2D pipeline folder.

The checkpoints are in the official format (no metadata), so the node gets the configuration of
``expected.json`` through its parameters, as a user of an official checkpoint would give it.
The frames are fed one at a time, each after the previous result arrived. The published
detections must equal the core's, computed in this process on the same machine with the same
thread count (bit for bit the same arithmetic), and the official results (active tracks only)
within the reference README's tolerances.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import reference_data as ref
from node_harness import (
    RELIABLE,
    NodeUnderTest,
    assert_rows_equal,
    detection_rows,
    node_running,
    track_rows,
)
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from centertrack_ros.core.checkpoint import load_state_dict_strict, read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.runtime.stamps import stamp_ns
from centertrack_ros.tools.harness import image_msg

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
    }


def node_can_run(folder: Path) -> bool:
    """Tell whether the node can run a folder: 2D heads, out_thresh = track_thresh."""
    if not ref.is_pipeline(folder):
        return False
    config = ref.official_config(folder)
    return (set(config.model.heads) <= {'hm', 'reg', 'wh', 'tracking', 'ltrb_amodal'}
            and config.tracker.effective_out_thresh == config.tracker.track_thresh)


@pytest.mark.parametrize('folder', ref.folder_params(node_can_run, 'pipeline folders'))
def test_node_matches_the_official_results_and_the_core(folder: Path, ros_client):
    config = ref.official_config(folder)
    frames = ref.frames(folder)
    network = build_network(config.model)
    load_state_dict_strict(network, read_checkpoint(str(folder / 'model.pth')).state_dict,
                           config.model)
    core = CenterTracker(network.eval(), config.replace(runtime=RuntimeConfig(device='cpu')))
    class_name = core.config.model.class_name

    with node_running(NodeUnderTest('/test_reference', node_parameters(folder, config)),
                      ros_client) as node:
        publisher = ros_client.node.create_publisher(Image, node.name('image'), RELIABLE)
        detections = ros_client.subscribe(Detection2DArray, node.name('detections'))
        ros_client.wait_matched(publisher, detections)
        stamp = ros_client.now_ns()
        per_frame = []
        for index, (frame, official) in enumerate(zip(frames, ref.expected(folder)['results'],
                                                      strict=True)):
            stamp += 100_000_000
            publisher.publish(image_msg(frame, stamp, 'reference_camera'))
            got = detection_rows(detections.wait_for(
                lambda m, s=stamp: stamp_ns(m.header.stamp) == s))
            assert_rows_equal(got, track_rows(core.step(frame), class_name),
                              f'frame {index} vs core')
            active = [o for o in official if o.get('active', 1) > 0]
            assert active, 'the reference frames have active tracks'
            per_frame.append((published_as_results(got, class_name, config), active))
        ref.assert_same_results(per_frame, ref.PIPELINE, f'{folder.name} over DDS')


def published_as_results(rows: dict, class_name, config: CenterTrackConfig) -> list[dict]:
    """Return the published detections in the official results' form (the fields they carry)."""
    labels = {class_name(c): c for c in range(1, config.model.num_classes + 1)}
    return [{'tracking_id': track_id, 'class': labels[label], 'score': score,
             'bbox': list(box)} for track_id, (label, score, box) in rows.items()]
