"""Test-specific helpers for tests that run the real ``centertrack_node`` over DDS.

Starting the node and talking to it is :mod:`centertrack_ros.tools.harness` (the demo and the
soak test use it too); the tests import ``RosClient``, ``wait_active``, ``image_msg`` and the
like from there. What is only for tests is here: :class:`NodeUnderTest` (the node with this
process's thread count, stopped at exit if a test could not), :func:`node_running`, the
"sensitive" checkpoint, camera frames and the comparison of published detections with the
core's tracks. The shared fixtures (``ros_client``, ``sensitive_checkpoint``) are in
``conftest.py``.
"""

from __future__ import annotations

import atexit
import contextlib
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np
import reference_data
import torch
from conftest import REPO

from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.tools.harness import (
    NodeProcess,
    RosClient,
    latched_qos,
    node_status,
    reliable_qos,
    wait_active,
)
from centertrack_ros.tools.random_models import write_random_model

RELIABLE = reliable_qos()
LATCHED = latched_qos()
SENSITIVE_CLASSES = ('car', 'pedestrian')


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
    ``command`` replaces the console script (e.g. a fault-injecting wrapper).
    """

    def __init__(self, namespace: str, params: dict[str, Any],
                 params_file: Optional[Path] = None,
                 command: Optional[Sequence[str]] = None) -> None:
        super().__init__(namespace, params, params_file, command=command, cwd=str(REPO),
                         env={'OMP_NUM_THREADS': str(torch.get_num_threads())})
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
