"""The fast path and batching compute what the reference path computes.

CPU tests run everywhere (the torch engine is device-agnostic); the CUDA ones (fp16,
channels-last, CUDA graphs) skip cleanly without a GPU.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.pipeline import CenterTracker, MultiCameraTracker
from centertrack_ros.core.prior import draw_peaks
from centertrack_ros.core.torch_ops import device_warp, render_prior, warp_uint8
from centertrack_ros.core.warp import warp_bilinear

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get('CENTERTRACK_REFERENCE_DIR',
                                    REPO.parent / 'shared' / 'reference'))
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')


def _pipeline_folders() -> list:
    if not REFERENCE_DIR.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason='no reference data'))]
    folders = [p for p in sorted(REFERENCE_DIR.iterdir())
               if (p / 'model.pth').is_file() and (p / 'expected.json').is_file()
               and 'frames' in json.loads((p / 'expected.json').read_text())]
    return [pytest.param(p, id=p.name) for p in folders]


def _reference_tracker(folder: Path, device: str = 'cpu') -> tuple[CenterTracker, list]:
    expected = json.loads((folder / 'expected.json').read_text())
    config = CenterTrackConfig.from_official_options(expected['config'])
    spec = ModelSpec(path=str(folder / 'model.pth'), input_width=config.input.width,
                     input_height=config.input.height, mean=config.input.mean,
                     std=config.input.std)
    tracker = load_tracker(spec, tracker=config.tracker, runtime=RuntimeConfig(device=device))
    frames = [cv2.imread(str(folder / name)) for name in expected['frames']]
    return tracker, frames


def _by_id(tracks):
    return {t.track_id: t for t in tracks}


def _assert_same_tracks(a, b, position_tol: float, score_tol: float) -> None:
    ta, tb = _by_id(a), _by_id(b)
    assert set(ta) == set(tb)
    for track_id in ta:
        assert ta[track_id].class_id == tb[track_id].class_id
        assert np.abs(ta[track_id].bbox - tb[track_id].bbox).max() <= position_tol
        assert abs(ta[track_id].score - tb[track_id].score) <= score_tol


@pytest.mark.parametrize('size', [((768, 576), (352, 256)), ((1920, 1080), (960, 544)),
                                  ((101, 333), (128, 160)), ((640, 480), (1280, 384))])
def test_device_warp_is_bit_identical(size) -> None:
    """The torch warp reproduces the OpenCV fixed-point warp exactly (up/down-scaling)."""
    from centertrack_ros.core.config import InputConfig
    (width, height), (in_w, in_h) = size
    image = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    geometry = frame_geometry(width, height, InputConfig(width=in_w, height=in_h))
    expected = warp_bilinear(image, geometry)
    got = warp_uint8(torch.from_numpy(image), device_warp(geometry, torch.device('cpu')))
    np.testing.assert_array_equal(got.numpy(), expected)


def test_device_prior_matches_host_prior() -> None:
    """Gaussians rendered on the device equal the host rendering (float32 vs float64)."""
    peaks = [(10, 20, 5), (0, 0, 3), (351, 255, 40), (100, 100, 0), (200, 120, 17),
             (205, 125, 9)] + [(x, 2 * x % 256, x % 7) for x in range(30, 350, 11)]
    expected = draw_peaks(peaks, 256, 352)
    got = render_prior(torch.tensor(peaks, dtype=torch.float32), 256, 352).numpy()
    assert np.abs(got - expected).max() < 1e-6
    assert render_prior(torch.zeros((0, 3)), 8, 8).abs().max() == 0


@pytest.mark.parametrize('folder', _pipeline_folders())
def test_torch_engine_equals_reference_engine_on_cpu(folder: Path) -> None:
    """Same tracks frame by frame from the fast path (on the CPU) and the reference path."""
    reference, frames = _reference_tracker(folder)
    fast = CenterTracker(reference.network, reference.config, engine='torch')
    for frame in frames:
        _assert_same_tracks(reference.step(frame), fast.step(frame), 1e-3, 1e-5)


@pytest.mark.parametrize('folder', _pipeline_folders())
def test_batching_equals_one_by_one(folder: Path) -> None:
    """Two cameras in one network call track exactly as two separate trackers."""
    single, frames = _reference_tracker(folder)
    other = CenterTracker(single.network, single.config)
    batched = MultiCameraTracker(single.network, single.config, num_cameras=2)
    small = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2)) for f in reversed(frames)]
    for frame, second in zip(frames, small):
        results = batched.step_all([frame, second])
        _assert_same_tracks(results[0], single.step(frame), 1e-3, 1e-5)
        _assert_same_tracks(results[1], other.step(second), 1e-3, 1e-5)


def test_camera_reset_is_independent() -> None:
    """Resetting one camera restarts it like a fresh tracker and leaves the other alone."""
    folders = [p for p in _pipeline_folders() if p.values[0] is not None]
    if not folders:
        pytest.skip('no reference data')
    single, frames = _reference_tracker(folders[-1].values[0])
    untouched = CenterTracker(single.network, single.config)
    batched = MultiCameraTracker(single.network, single.config, num_cameras=2)
    for frame in frames[:3]:
        batched.step_all([frame, frame])
        untouched.step(frame)
    batched.reset(0)
    fresh = CenterTracker(single.network, single.config)
    first, second = batched.step_all([frames[3], frames[3]])
    _assert_same_tracks(first, fresh.step(frames[3]), 1e-3, 1e-5)
    _assert_same_tracks(second, untouched.step(frames[3]), 1e-3, 1e-5)


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize('folder', _pipeline_folders())
@pytest.mark.parametrize('half', [False, True], ids=['fp32', 'fp16'])
def test_cuda_fast_path_equals_cpu_reference(folder: Path, half: bool) -> None:
    """CUDA graph + (fp16) fast path gives the CPU fp32 reference's ids and boxes."""
    reference, frames = _reference_tracker(folder)
    config = reference.config.replace(
        runtime=RuntimeConfig(device='cuda', half=half, cuda_graph=True, channels_last=True))
    fast = CenterTracker(copy.deepcopy(reference.network), config)
    tolerance = (0.5, 5e-3) if half else (0.05, 1e-4)
    for frame in frames:
        _assert_same_tracks(reference.step(frame), fast.step(frame), *tolerance)
    assert fast.engine.graph_captures == 1


@needs_cuda
@pytest.mark.gpu
def test_cuda_graph_recaptured_when_size_changes() -> None:
    """A new image size re-captures the graph and restarts the sequence."""
    folders = [p for p in _pipeline_folders() if p.values[0] is not None]
    if not folders:
        pytest.skip('no reference data')
    reference, frames = _reference_tracker(folders[-1].values[0], device='cuda')
    config = reference.config.replace(runtime=RuntimeConfig(device='cuda', cuda_graph=True))
    fast = CenterTracker(reference.network, config, engine='torch')
    fast.step(frames[0])
    fast.step(frames[1])
    resized = cv2.resize(frames[2], (frames[2].shape[1] // 2, frames[2].shape[0] // 2))
    fast.step(resized)
    assert fast.engine.graph_captures == 2
    assert all(t.track_id <= 100 for t in fast.tracks)
