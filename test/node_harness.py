"""Helpers for tests that run the real ``centertrack_node`` over DDS.

:class:`NodeUnderTest` starts the console script in its own process (stdout/stderr captured by
``conftest.PythonProcess``); :class:`RosClient` is the test process's own rclpy node, spun on a
background thread, which publishes frames, collects outputs and calls services. Everything
waits on events with generous deadlines; nothing sleeps for a fixed time to "let DDS settle".
"""

from __future__ import annotations

import array
import atexit
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import cv2
import numpy as np
import rclpy
import reference_data
import torch
from conftest import REPO, PythonProcess, python_env
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from centertrack_ros.core.config import CenterTrackConfig
from centertrack_ros.tools.random_models import write_random_model

TIMEOUT = 60.0  # per wait; CI machines have 2 cores and start torch in several seconds
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
SENSITIVE_CLASSES = ('car', 'pedestrian')


def make_sensitive_checkpoint(path: Path) -> CenterTrackConfig:
    """Save a small random-weight generic/MobileNetV2 checkpoint that detects everywhere.

    With the heatmap bias at 0 every output cell scores about 0.5, so each frame yields the
    full top-K of detections, and which cells win depends on the faintest pixel differences.
    A node that fed the network even slightly different pixels (colour order, padding,
    decoding) would publish different tracks than the core does.
    """
    return write_random_model(path, class_names=SENSITIVE_CLASSES)


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


def param_arg(name: str, value: Any) -> str:
    """Format a ``-p`` argument in the syntax rcl parses (YAML)."""
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    elif isinstance(value, (list, tuple)):
        text = '[' + ', '.join(json.dumps(v) for v in value) + ']'
    else:
        text = str(value)
    return f'{name}:={text}'


_STARTED: list[PythonProcess] = []


@atexit.register
def _stop_leftovers() -> None:
    # Fixtures stop their nodes; this catches a test session that ends without teardown.
    for process in _STARTED:
        if process.poll() is None:
            process.stop(timeout=5)


class NodeUnderTest:
    """A ``centertrack_node`` process in its own namespace."""

    def __init__(self, namespace: str, params: dict[str, Any],
                 params_file: Optional[Path] = None) -> None:
        self.namespace = namespace
        argv = [self.executable(), '--ros-args', '-r', f'__ns:={namespace}']
        if params_file is not None:
            argv += ['--params-file', str(params_file)]
        for name, value in params.items():
            argv += ['-p', param_arg(name, value)]
        # As many threads as this process: the thread count changes the last bits of a
        # convolution, and the tests compare the node's results with the core's computed here.
        env = python_env({'OMP_NUM_THREADS': str(torch.get_num_threads())})
        self.process = PythonProcess(argv, env=env, cwd=str(REPO))
        _STARTED.append(self.process)

    @staticmethod
    def executable() -> str:
        """Return the installed console script (``make setup`` puts it beside python)."""
        script = Path(sys.executable).with_name('centertrack_node')
        if script.exists():
            return str(script)
        found = shutil.which('centertrack_node')
        assert found, 'centertrack_node is not installed; run make setup'
        return found

    def name(self, relative: str) -> str:
        """Resolve a name relative to the node (``~/reset``) or its namespace (``image``)."""
        if relative.startswith('~/'):
            return f'{self.namespace}/centertrack/{relative[2:]}'
        return f'{self.namespace}/{relative}'

    def output(self) -> str:
        """Return everything the node logged so far."""
        return self.process.output()

    def stop(self) -> int:
        """Stop the process (SIGINT first) and return its exit code."""
        return self.process.stop(timeout=20)


class Collector:
    """Stores every message of a subscription and lets a test wait for one."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = TIMEOUT,
                 what: str = 'a matching message', start: int = 0) -> Any:
        """Return the first message from index ``start`` on that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = start
            while True:
                for msg in self.messages[seen:]:
                    if predicate(msg):
                        return msg
                seen = max(seen, len(self.messages))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f'no {what} within {timeout:.0f} s '
                                         f'({len(self.messages)} messages received)')
                self._cond.wait(remaining)

    def count(self) -> int:
        """Return the number of messages received so far."""
        with self._cond:
            return len(self.messages)


class RosClient:
    """The test process's rclpy node, spinning on a background thread."""

    def __init__(self, name: str = 'centertrack_test_client') -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except (ExternalShutdownException, rclpy.executors.ShutdownException):
            pass

    def close(self) -> None:
        """Shut the node and its context down."""
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(10)

    def subscribe(self, msg_type: Any, topic: str, qos: QoSProfile = RELIABLE) -> Collector:
        """Collect every message on ``topic``."""
        collector = Collector()
        collector.subscription = self.node.create_subscription(msg_type, topic, collector, qos)
        return collector

    def unsubscribe(self, collector: Collector) -> None:
        """Destroy a collector's subscription."""
        self.node.destroy_subscription(collector.subscription)

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = TIMEOUT) -> Any:
        """Call a service and return its response."""
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f'service {name} not available'
            done = threading.Event()
            future = client.call_async(request)
            future.add_done_callback(lambda _: done.set())
            assert done.wait(timeout), f'service {name} did not answer within {timeout:.0f} s'
            return future.result()
        finally:
            self.node.destroy_client(client)

    def wait_until(self, condition: Callable[[], bool], what: str,
                   timeout: float = TIMEOUT) -> None:
        """Poll ``condition`` (graph state such as matched endpoints) until it holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f'{what} did not happen within {timeout:.0f} s')
            time.sleep(0.05)

    def now_ns(self) -> int:
        """Return the client node's clock in nanoseconds."""
        return self.node.get_clock().now().nanoseconds


def wait_active(client: RosClient, node: NodeUnderTest) -> None:
    """Wait for the node to report the lifecycle state ``active`` (fails if it exits)."""
    from lifecycle_msgs.srv import GetState
    deadline = time.monotonic() + TIMEOUT
    while True:
        assert node.process.poll() is None, f'node exited:\n{node.output()}'
        state = client.call(GetState, node.name('~/get_state'), GetState.Request())
        if state.current_state.label == 'active':
            return
        assert time.monotonic() < deadline, f'node not active:\n{node.output()}'
        time.sleep(0.2)


def set_stamp(header: Any, stamp_ns: int, frame_id: str) -> None:
    """Fill a header's stamp and frame_id."""
    header.stamp.sec, header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    header.frame_id = frame_id


def header_ns(header: Any) -> int:
    """Return a header's stamp in nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def image_msg(image: np.ndarray, stamp_ns: int, frame_id: str = 'camera',
              encoding: str = 'bgr8') -> Any:
    """Build a ``sensor_msgs/Image`` of a BGR frame in ``encoding`` (bgr8/rgb8/mono8)."""
    from sensor_msgs.msg import Image
    if encoding == 'rgb8':
        image = image[:, :, ::-1]
    elif encoding == 'mono8':
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    data = np.ascontiguousarray(image)
    msg = Image()
    set_stamp(msg.header, stamp_ns, frame_id)
    msg.height, msg.width = data.shape[:2]
    msg.encoding = encoding
    msg.step = data.shape[1] * (data.shape[2] if data.ndim == 3 else 1)
    msg.data = array.array('B', data.tobytes())
    return msg


def compressed_msg(data: bytes, stamp_ns: int, fmt: str, frame_id: str = 'camera') -> Any:
    """Build a ``sensor_msgs/CompressedImage`` holding ``data``."""
    from sensor_msgs.msg import CompressedImage
    msg = CompressedImage()
    set_stamp(msg.header, stamp_ns, frame_id)
    msg.format = fmt
    msg.data = array.array('B', data)
    return msg


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


def diagnostics_values(msg: Any, node_name: str) -> Optional[dict[str, str]]:
    """Return the key/values of the node's status in a DiagnosticArray, or None."""
    for status in msg.status:
        if status.name.startswith(node_name + ':'):
            values = {kv.key: kv.value for kv in status.values}
            values['_level'] = str(status.level[0] if isinstance(status.level, bytes)
                                   else status.level)
            values['_message'] = status.message
            return values
    return None
