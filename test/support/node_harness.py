"""Test-specific helpers for tests that run the real ``centertrack_node`` over DDS.

Starting the node and talking to it is :mod:`centertrack_ros.tools.harness` (the demo and the
soak test use it too); the tests import ``RosClient``, ``wait_active``, ``image_msg`` and the
like from there. What is only for tests is here: :class:`NodeUnderTest` (the node with this
process's thread count, stopped at exit if a test could not), :func:`node_running`, the
"sensitive" checkpoint, camera frames, the comparison of published detections with the
core's tracks, :class:`Camera` (publishes frames to a node and waits for each result) and
:func:`set_params` / :func:`get_param` (the node's parameter services). The shared fixtures
(``ros_client``, ``sensitive_checkpoint``) are in ``conftest.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np
import torch
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.runtime.stamps import set_stamp, stamp_ns
from centertrack_ros.tools.harness import (
    NodeProcess,
    RosClient,
    image_msg,
    latched_qos,
    node_status,
    reliable_qos,
    wait_active,
)
from centertrack_ros.tools.random_models import write_random_model
from support import REPO, reference_data

RELIABLE = reliable_qos()
LATCHED = latched_qos()
SENSITIVE_CLASSES = ('car', 'pedestrian')
SENSITIVE_BIRTHS = 100  # detections per frame of the sensitive checkpoint; all births after a reset
FRAME_STEP_NS = 100_000_000  # the stamp step between frames a Camera sends


def make_sensitive_checkpoint(path: Path) -> CenterTrackConfig:
    """Save a small random-weight generic/MobileNetV2 checkpoint that detects everywhere.

    With the heatmap bias at 0 every output cell scores about 0.5, so each frame yields the
    full top-K of detections, and which cells win depends on the faintest pixel differences.
    A node that fed the network even slightly different pixels (colour order, padding,
    decoding) would publish different tracks than the core does.
    """
    return write_random_model(path, class_names=SENSITIVE_CLASSES)


def core_tracker(checkpoint: Path, engine: str = 'auto') -> CenterTracker:
    """Return the core tracker that node outputs are compared with: ``checkpoint`` on the CPU.

    With the node's default engine (``auto``) it computes exactly what the node computes.
    """
    return load_tracker(ModelSpec(path=str(checkpoint)),
                        runtime=RuntimeConfig(device='cpu', engine=engine))


def camera_frames() -> list[np.ndarray]:
    """Return 8 real camera frames (the first reference pipeline folder's), else synthetic ones.

    The node tests only need realistic sizes and content that differs from frame to frame;
    the synthetic stand-in keeps them runnable where no reference data is present.
    """
    folders = [p for p in reference_data.reference_folders() if reference_data.is_pipeline(p)]
    if folders:
        return reference_data.frames(folders[0])[:8]
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(0, 256, (576, 768, 3), dtype=np.uint8),
                                  (0, 0), 9)
    frames = []
    for index in range(8):
        frame = background.copy()
        for person in range(4):
            x = 60 + person * 170 + index * 6
            cv2.rectangle(frame, (x, 200), (x + 45, 330), (40 + 50 * person, 90, 200), -1)
        frames.append(frame)
    return frames


_STARTED: list[NodeProcess] = []


@atexit.register
def _stop_leftovers() -> None:
    # Fixtures stop their nodes; this catches a test session that ends without teardown.
    for node in _STARTED:
        if node.poll() is None:
            node.process.stop(timeout=5)


class NodeUnderTest(NodeProcess):
    """A ``centertrack_node`` process in its own namespace, started from the repository root.

    It runs as many threads as this process: the thread count changes the last bits of a
    convolution, and the tests compare the node's results with the core's computed here.
    ``command`` replaces the console script (e.g. a fault-injecting wrapper); ``env`` adds to
    the environment (e.g. a profile variable set empty: no large-image DDS profile).
    """

    def __init__(self, namespace: str, params: dict[str, Any],
                 params_file: Optional[Path] = None,
                 command: Optional[Sequence[str]] = None,
                 env: Optional[dict[str, str]] = None) -> None:
        super().__init__(namespace, params, params_file, command=command, cwd=str(REPO),
                         env={'OMP_NUM_THREADS': str(torch.get_num_threads()), **(env or {})})
        _STARTED.append(self)


@contextlib.contextmanager
def node_running(node: NodeUnderTest, client: RosClient) -> Iterator[NodeUnderTest]:
    """Yield ``node`` once ``client`` sees it active; stop it after the block.

    After the block the node must have exited cleanly (status 0); an exception in the block
    stops the node and propagates unchanged.
    """
    try:
        wait_active(client, node)
        yield node
    finally:
        code = node.stop()
    assert code == 0, f'node did not exit cleanly ({code}):\n{node.output()}'


def detection_rows(msg: Any) -> dict[int, tuple[str, float, tuple[float, float, float, float]]]:
    """Read a Detection2DArray as ``{track id: (class, score, (x1, y1, x2, y2))}``."""
    rows = {}
    for detection in msg.detections:
        cx, cy = detection.bbox.center.position.x, detection.bbox.center.position.y
        w, h = detection.bbox.size_x, detection.bbox.size_y
        hypothesis = detection.results[0].hypothesis
        rows[int(detection.id)] = (hypothesis.class_id, hypothesis.score,
                                   (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return rows


def track_rows(tracks: Iterable[Any], class_name: Callable[[int], str]) -> dict[int, tuple]:
    """Return active core tracks in the form of :func:`detection_rows`."""
    return {t.track_id: (class_name(t.class_id), float(t.score),
                         tuple(float(v) for v in t.bbox))
            for t in tracks if t.active > 0}


def assert_rows_equal(got: dict, expected: dict, where: str, tolerance: float = 1e-3) -> None:
    """Assert the same ids and classes, boxes within ``tolerance`` px, scores within 1e-5."""
    assert sorted(got) == sorted(expected), f'{where}: track ids {sorted(got)} vs ' \
                                            f'{sorted(expected)}'
    for track_id, (label, score, box) in expected.items():
        got_label, got_score, got_box = got[track_id]
        assert got_label == label, f'{where}: id {track_id} class {got_label} vs {label}'
        assert abs(got_score - score) <= 1e-5, f'{where}: id {track_id} score {got_score} vs ' \
                                               f'{score}'
        deviation = max(abs(a - b) for a, b in zip(got_box, box))
        assert deviation <= tolerance, f'{where}: id {track_id} box {got_box} vs {box}'


def assert_published(msg: Any, tracks: Iterable[Any], class_name: Callable[[int], str],
                     where: str) -> None:
    """Assert that a Detection2DArray is what the core's ``tracks`` say should be published."""
    assert_rows_equal(detection_rows(msg), track_rows(tracks, class_name), where)


def camera_info_msg(calib: np.ndarray, width: int, height: int, stamp: int,
                    frame_id: str) -> CameraInfo:
    """Build a ``CameraInfo`` whose rectified projection is ``calib`` (3x4, its K the left 3x3)."""
    msg = CameraInfo(width=width, height=height, p=[float(v) for v in calib.reshape(-1)],
                     k=[float(v) for v in calib[:, :3].reshape(-1)])
    set_stamp(msg.header.stamp, stamp)
    msg.header.frame_id = frame_id
    return msg


def diagnostics_values(msg: Any, node_name: str) -> Optional[dict[str, str]]:
    """Return the key/values of the node's status in a DiagnosticArray, or None.

    ``_level`` and ``_message`` hold the status's level and message.
    """
    status = node_status(msg, node_name)
    if status is None:
        return None
    values = {kv.key: kv.value for kv in status.values}
    values['_level'] = str(status.level[0] if isinstance(status.level, bytes) else status.level)
    values['_message'] = status.message
    return values


class Camera:
    """Publishes frames to the node and waits for the detections of each."""

    latest_stamp = 0
    # The highest track id each node process has published so far: ids continue across resets
    # for the life of a process, and other modules import this class for their own nodes.
    highest_ids: 'weakref.WeakKeyDictionary[NodeUnderTest, int]' = weakref.WeakKeyDictionary()

    def __init__(self, client: RosClient, node: NodeUnderTest) -> None:
        self.client, self.node = client, node
        self.publisher = client.node.create_publisher(Image, node.name('image'), RELIABLE)
        self.detections = client.subscribe(Detection2DArray, node.name('detections'))
        # Stamps only ever increase across tests, so that no test sees an unintended jump back.
        self.stamp = max(client.now_ns(), Camera.latest_stamp)
        client.wait_matched(self.publisher, self.detections)

    def close(self) -> None:
        """Destroy the publisher and subscription."""
        self.seen_ids()
        self.client.node.destroy_publisher(self.publisher)
        self.client.unsubscribe(self.detections)

    def send(self, msg: Image) -> int:
        """Publish a prepared message; returns its stamp."""
        self.publisher.publish(msg)
        return stamp_ns(msg.header.stamp)

    def next_stamp(self, step_ns: int = FRAME_STEP_NS) -> int:
        """Return a stamp ``step_ns`` after the previous one."""
        self.stamp += step_ns
        Camera.latest_stamp = max(Camera.latest_stamp, self.stamp)
        return self.stamp

    def frame(self, image: np.ndarray, stamp: int | None = None, encoding: str = 'bgr8',
              frame_id: str = 'camera') -> int:
        """Publish a frame; returns its stamp."""
        stamp = self.next_stamp() if stamp is None else stamp
        return self.send(image_msg(image, stamp, frame_id, encoding))

    def result(self, stamp: int) -> Detection2DArray:
        """Wait for the detections of the frame with ``stamp``."""
        return self.detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp,
                                        what=f'detections for stamp {stamp}')

    def track(self, image: np.ndarray, **kwargs) -> Detection2DArray:
        """Publish a frame and wait for its detections."""
        return self.result(self.frame(image, **kwargs))

    def ids(self, image: np.ndarray, **kwargs) -> set[int]:
        """Publish a frame and return the track ids published for it."""
        return {int(d.id) for d in self.track(image, **kwargs).detections}

    def seen_ids(self) -> int:
        """Return the highest id published so far (every result waited for is received)."""
        highest = Camera.highest_ids.get(self.node, 0)
        for msg in self.detections.messages:
            for detection in msg.detections:
                highest = max(highest, int(detection.id))
        Camera.highest_ids[self.node] = highest
        return highest

    def new_sequence(self, image: np.ndarray, **kwargs) -> bool:
        """Publish a frame; True when its tracks were reset before it, False when continued.

        Reset: all 100 tracks are births numbered right above every id published before.
        Continued: some tracks keep ids published before. Anything else fails the test.
        """
        before = self.seen_ids()
        ids = self.ids(image, **kwargs)
        if ids == set(range(before + 1, before + SENSITIVE_BIRTHS + 1)):
            return True
        assert len(ids) == SENSITIVE_BIRTHS and min(ids) <= before, \
            f'neither a new sequence nor a continued one: {sorted(ids)} after id {before}'
        return False

    def reset(self) -> None:
        """Call ``~/reset`` and check that it succeeded."""
        response = self.client.call(Trigger, self.node.name('~/reset'), Trigger.Request())
        assert response.success, response.message


def set_params(client: RosClient, node: NodeUnderTest, **values) -> list:
    """Set parameters (``tracker__track_thresh`` for ``tracker.track_thresh``); return results."""
    request = SetParameters.Request()
    for key, value in values.items():
        param = Parameter(name=key.replace('__', '.'))
        if isinstance(value, bool):
            param.value = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
        elif isinstance(value, int):
            param.value = ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                         integer_value=value)
        elif isinstance(value, float):
            param.value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        elif isinstance(value, str):
            param.value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        else:
            param.value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                                         double_array_value=list(value))
        request.parameters.append(param)
    return client.call(SetParameters, node.name('~/set_parameters'), request).results


def get_param(client: RosClient, node: NodeUnderTest, name: str) -> ParameterValue | None:
    """Read one parameter of the node (None for one declared without a value)."""
    request = GetParameters.Request(names=[name])
    values = client.call(GetParameters, node.name('~/get_parameters'), request).values
    return values[0] if values else None


def assert_change_refused(client: RosClient, node: NodeUnderTest, name: str, value: Any,
                          reason: str) -> None:
    """Set parameter ``name`` to ``value``: the node must refuse, say ``reason``, keep its value."""
    before = get_param(client, node, name)
    result = set_params(client, node, **{name.replace('.', '__'): value})[0]
    assert not result.successful
    assert reason.lower() in result.reason.lower(), result.reason
    assert get_param(client, node, name) == before
