"""One node for several cameras, over DDS, with each camera a publisher in a process of its own.

The node runs the bundled model with ``cameras: [front, left, right]``. Each camera must be
tracked as if it were alone (its detections equal a one-camera core tracker fed that camera's
frames, up to the ids, which the node numbers across all cameras), a silent camera or one
sending malformed messages must not disturb the others, resets work per camera and for all,
and no id is ever seen on two cameras.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from support import REPO
from support import reference_data as ref
from support.node_harness import NodeUnderTest, detection_rows, node_running, track_rows
from vision_msgs.msg import Detection2DArray

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools.harness import image_msg, reliable_qos

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/test_multi'
CAMERAS = {'front': ('768x576', 5), 'left': ('640x384', 6), 'right': ('640x384', 7)}
FRAMES = 8
CAMERA_PROCESS = REPO / 'test' / 'support' / 'camera_process.py'


@pytest.fixture(scope='module')
def node(ros_client):
    with node_running(NodeUnderTest(NAMESPACE, {
            'cameras': list(CAMERAS), 'device': 'cpu', 'qos.reliability': 'reliable',
            'qos.depth': 10}), ros_client) as running:
        yield running


def camera(run_python, name: str, frames: int = FRAMES, record: Path | None = None,
           hostile: int = 0):
    size, seed = CAMERAS[name]
    args = ['--namespace', f'{NAMESPACE}/{name}', '--reliability', 'reliable', '--size', size,
            '--seed', seed, '--frames', frames, '--name', f'camera_{name}', '--hostile', hostile,
            '--timeout', 120]
    if record is not None:
        args += ['--record', record]
    return run_python(script=CAMERA_PROCESS, args=args)


def frames_of(name: str, count: int = FRAMES) -> list:
    size, seed = CAMERAS[name]
    width, height = (int(v) for v in size.split('x'))
    sequence = generate_sequence(SceneConfig(width=width, height=height, num_frames=count,
                                             seed=seed))
    return [sequence.image(i) for i in range(count)]


def camera_values(msg, camera: str) -> dict | None:
    """Return one camera's diagnostics key/values from a DiagnosticArray, or None."""
    for status in msg.status:
        if status.name == f'{NAMESPACE}/centertrack: {camera} tracking':
            return {kv.key: kv.value for kv in status.values}
    return None


def test_each_camera_is_tracked_as_if_it_were_alone(node, run_python, tmp_path):
    records = {name: tmp_path / f'{name}.jsonl' for name in CAMERAS}
    processes = {name: camera(run_python, name, record=records[name]) for name in CAMERAS}
    for name, process in processes.items():
        process.wait_for(rf'answered \d+ of {FRAMES}', timeout=300)
        assert f'answered {FRAMES} of {FRAMES}' in process.output(), process.output()
    seen_ids = {}
    for name in CAMERAS:
        answers = [json.loads(line) for line in records[name].read_text().splitlines()]
        alone = load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu'))
        mapping: dict[int, int] = {}  # the node's id -> the lone tracker's id
        per_frame = []
        for answer, frame in zip(answers, frames_of(name), strict=True):
            want = [{'tracking_id': track_id, 'class': label, 'score': score, 'bbox': list(box)}
                    for track_id, (label, score, box) in track_rows(
                        alone.step(frame), alone.config.model.class_name).items()]
            got = [{'tracking_id': track_id, 'class': label, 'score': score, 'bbox': box}
                   for track_id, label, score, *box in answer['detections']]
            for mine in got:  # the lone tracker's track with the same class and box
                near = [w['tracking_id'] for w in want if w['class'] == mine['class'] and max(
                    abs(a - b) for a, b in zip(mine['bbox'], w['bbox'])) <= ref.PIPELINE.position]
                assert len(near) == 1, f'{name}: id {mine["tracking_id"]} matches {near}'
                assert mapping.setdefault(mine['tracking_id'], near[0]) == near[0], \
                    f'{name}: id {mine["tracking_id"]} stood for two tracks'
            per_frame.append(([dict(g, tracking_id=mapping[g['tracking_id']]) for g in got],
                              want))
        assert len(set(mapping.values())) == len(mapping), f'{name}: two ids for one track'
        ref.assert_same_results(per_frame, ref.PIPELINE, f'camera {name} vs alone')
        seen_ids[name] = set(mapping)
        assert seen_ids[name], f'{name}: the model tracks something'
    for a in CAMERAS:
        for b in CAMERAS:
            if a < b:
                assert not seen_ids[a] & seen_ids[b], f'ids shared by {a} and {b}'
    log = node.output()
    assert len(re.findall(r'\]: loaded ', log)) == 1, 'one model for all cameras'
    assert 'cameras front, left, right' in log


def test_silent_and_hostile_cameras_do_not_disturb_the_others(node, run_python, ros_client):
    keys = ('frames_received', 'frames_processed', 'frames_rejected', 'frames_dropped')
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    first = diagnostics.wait_for(lambda m: camera_values(m, 'left'))
    before, right_before = camera_values(first, 'left'), camera_values(first, 'right')

    def left(msg) -> dict:
        values = camera_values(msg, 'left')
        return {key: int(values[key]) - int(before[key]) for key in keys}

    front = camera(run_python, 'front', frames=6)
    hostile = camera(run_python, 'left', frames=6, hostile=3)  # right stays silent
    for process in (front, hostile):
        process.wait_for(r'answered \d+ of 6', timeout=300)
        assert 'answered 6 of 6' in process.output(), process.output()
    msg = diagnostics.wait_for(lambda m: left(m)['frames_received'] == 24,
                               start=diagnostics.count(), what="all of left's messages")
    got = left(msg)
    # Every malformed message is rejected, or replaced unexamined by a newer one (dropped).
    assert got['frames_processed'] == 6 and got['frames_rejected'] >= 1
    assert got['frames_rejected'] + got['frames_dropped'] == 18
    assert camera_values(msg, 'front')['frames_rejected'] == '0'
    assert camera_values(msg, 'right')['frames_received'] == right_before['frames_received']
    assert re.search(r'left: rejected frame \(stamp', node.output())
    ros_client.unsubscribe(diagnostics)


def test_resets_per_camera_and_for_all(node, ros_client):
    publishers = {name: ros_client.node.create_publisher(Image, f'{NAMESPACE}/{name}/image',
                                                         reliable_qos())
                  for name in ('front', 'left')}
    outputs = {name: ros_client.subscribe(Detection2DArray, f'{NAMESPACE}/{name}/detections',
                                          reliable_qos(50)) for name in publishers}
    for name in publishers:
        ros_client.wait_matched(publishers[name], outputs[name])
    frames = {name: frames_of(name, 6) for name in publishers}
    stamp = ros_client.now_ns()
    highest = [0]

    def step(index: int) -> dict[str, set[int]]:
        nonlocal stamp
        stamp += 100_000_000
        ids = {}
        for name, publisher in publishers.items():
            publisher.publish(image_msg(frames[name][index], stamp, name))
            msg = outputs[name].wait_for(lambda m, s=stamp: m.header.stamp.sec * 10 ** 9 +
                                         m.header.stamp.nanosec == s)
            ids[name] = set(detection_rows(msg))
        return ids

    def new_sequence(ids: set[int]) -> bool:
        return bool(ids) and min(ids) > highest[0]

    def note(ids: dict[str, set[int]]) -> None:
        highest[0] = max([highest[0]] + [max(i) for i in ids.values() if i])

    first = step(0)
    note(first)
    second = step(1)
    assert second['front'] & first['front'] and second['left'] & first['left'], 'continued'
    note(second)
    assert ros_client.call(Trigger, f'{NAMESPACE}/left/reset', Trigger.Request()).success
    third = step(2)
    assert new_sequence(third['left']), 'left starts over, above every earlier id'
    assert third['front'] & second['front'], 'front keeps its tracks'
    note(third)
    assert ros_client.call(Trigger, f'{NAMESPACE}/centertrack/reset', Trigger.Request()).success
    fourth = step(3)
    assert new_sequence(fourth['front']) and new_sequence(fourth['left'])
    for collector in outputs.values():
        ros_client.unsubscribe(collector)
    for publisher in publishers.values():
        ros_client.node.destroy_publisher(publisher)
