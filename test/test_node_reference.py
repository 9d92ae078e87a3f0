"""The node over DDS reproduces the official CenterTrack outputs of a reference folder.

The checkpoint is in the official format (no metadata), so the node gets the configuration of
``expected.json`` through its parameters, as a user of an official checkpoint would give it.
The frames are fed one at a time, each after the previous result arrived; the published
detections must equal the core's and the official results (active tracks only).
"""

from __future__ import annotations

import pytest
from node_harness import (
    REFERENCE,
    RELIABLE,
    NodeUnderTest,
    RosClient,
    assert_rows_equal,
    detection_rows,
    header_ns,
    image_msg,
    reference_frames,
    track_rows,
    wait_active,
)
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from centertrack_ros.core.checkpoint import load_state_dict_strict, read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.pipeline import CenterTracker

pytestmark = [
    pytest.mark.ros, pytest.mark.reference, pytest.mark.slow,
    pytest.mark.skipif(not (REFERENCE / 'expected.json').is_file(),
                       reason=f'no reference data at {REFERENCE}'),
]

# The official results' tolerances (see the reference README).
POSITION_TOLERANCE = 0.05
SCORE_TOLERANCE = 1e-4


def node_parameters(config: CenterTrackConfig) -> dict:
    """Return the node parameters that describe ``config`` for an official checkpoint."""
    model, tracker = config.model, config.tracker
    return {
        'model.path': str(REFERENCE / 'model.pth'),
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


def test_node_matches_the_official_results_and_the_core():
    expected, frames = reference_frames()
    config = CenterTrackConfig.from_official_options(expected['config'])
    # The node publishes no out_thresh; it must not matter for this folder.
    assert config.tracker.effective_out_thresh == config.tracker.track_thresh
    network = build_network(config.model)
    load_state_dict_strict(network, read_checkpoint(str(REFERENCE / 'model.pth')).state_dict,
                           config.model)
    core = CenterTracker(network.eval(), config.replace(runtime=RuntimeConfig(device='cpu')))

    client = RosClient('centertrack_reference_client')
    node = NodeUnderTest('/test_reference', node_parameters(config))
    try:
        wait_active(client, node)
        publisher = client.node.create_publisher(Image, node.name('image'), RELIABLE)
        detections = client.subscribe(Detection2DArray, node.name('detections'))
        client.wait_until(lambda: publisher.get_subscription_count() > 0 and
                          detections.subscription.get_publisher_count() > 0, 'matching')
        stamp = client.now_ns()
        for index, (frame, official) in enumerate(zip(frames, expected['results'],
                                                      strict=True)):
            stamp += 100_000_000
            publisher.publish(image_msg(frame, stamp, 'reference_camera'))
            got = detection_rows(detections.wait_for(lambda m, s=stamp: header_ns(m.header) == s))
            class_name = core.config.model.class_name
            assert_rows_equal(got, track_rows(core.step(frame), class_name),
                              f'frame {index} vs core')
            official_rows = {o['tracking_id']: (class_name(o['class']), o['score'],
                                                tuple(o['bbox']))
                             for o in official if o.get('active', 1) > 0}
            assert official_rows, 'the reference frames have active tracks'
            for track_id, (label, score, box) in official_rows.items():
                assert track_id in got, f'frame {index}: track {track_id} missing'
                got_label, got_score, got_box = got[track_id]
                assert got_label == label
                assert abs(got_score - score) <= SCORE_TOLERANCE
                assert max(abs(a - b) for a, b in zip(got_box, box)) <= POSITION_TOLERANCE
            assert sorted(got) == sorted(official_rows), f'frame {index}: track ids'
    finally:
        code = node.stop()
        client.close()
    assert code == 0, node.output()
