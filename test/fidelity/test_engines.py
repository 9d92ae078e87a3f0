"""The fast path and batching compute what the reference path computes, on any machine.

Two float32 paths (the torch engine and the reference engine, a batch and single cameras, CUDA
and the CPU) differ in the last bits of every convolution, as two CPUs do. They are compared on
the conditioned reference folders, whose every decision has a margin far above such noise, with
the reference README's result tolerances (``reference_data``): identities exactly, boxes within
0.2 px, scores within 0.02. The mutation tests below show that the comparison still fails for a
warp one pixel off, a prior one pixel off or one radius too large, a missing prior, swapped
tracking offsets and a decoder without NMS.

fp16 is checked with the trained bundled model, not with the reference weights: those random
backbones amplify rounding about 10^4-fold (float32 kernel sets already differ by 1e-4 of a
head's range), so fp16's 2^-11 rounding moves their outputs by 10-45 % of a head's range on any
device, and a comparison with the official outputs cannot hold. The CPU runs fp16 with float32
accumulation on the default kernels, so the fp16 arithmetic is checked in CI too; the CUDA
variants (CUDA graphs, cuDNN) skip cleanly without a GPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from support import margins
from support import reference_data as ref
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from centertrack_ros.core import torch_ops
from centertrack_ros.core.calibration import scale_projection
from centertrack_ros.core.config import InputConfig, ModelConfig, RuntimeConfig, TrackerOverrides
from centertrack_ros.core.engines import (
    FrameRequest,
    InferenceEngine,
    ReferenceEngine,
    TorchEngine,
    make_engine,
    torch_engine,
)
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.pipeline import CenterTracker, MultiCameraTracker
from centertrack_ros.core.prior import draw_peaks, prior_peaks
from centertrack_ros.core.torch_ops import device_warp, render_prior, warp_uint8
from centertrack_ros.core.warp import warp_bilinear
from centertrack_ros.synthetic import SceneConfig, generate_sequence

pytestmark = pytest.mark.equality

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
DEVICES = [pytest.param('cpu', id='cpu'),
           pytest.param('cuda', id='cuda', marks=[needs_cuda, pytest.mark.gpu])]

# How far two correct float32 runs of the reference folders' networks move apart under other
# CPU kernels (the reference README: scores 1.6e-3, boxes 0.019 px at most).
REFERENCE_NOISE = margins.NoiseBound(score=2e-3, relative=1e-3, pixels=0.02)
# Bundled model, same state, fp16 vs float32 on the CPU: scores 0.0055 and positions 0.037
# output cells over these 12 frames; 0.038 and 0.12 over 40 frames of the same sequence.
FP16_SCORE, FP16_POSITION_CELLS = 0.06, 0.25
TRAINED_FRAMES = 12
# Ops that make the host wait for a value on the device (they break CUDA graph capture).
HOST_READS = {'aten._local_scalar_dense.default', 'aten.nonzero.default',
              'aten.is_nonzero.default', 'aten.equal.default', 'aten.unique_consecutive.default',
              'aten._unique2.default', 'aten.masked_select.default'}
PIPELINE_FOLDERS = ref.folder_params(ref.is_pipeline, 'pipeline reference folders')


def _calib(folder: Path, frame: np.ndarray):
    """Return the camera matrix of a folder's frame (None for a 2D folder), at any size.

    The folder's P is for its own frames (``image_size``); a resized frame gets it scaled.
    """
    width, height = ref.expected(folder).get('image_size') or frame.shape[1::-1]
    matrix = ref.calibration(folder, width, height)
    if matrix is None or (frame.shape[1], frame.shape[0]) == (width, height):
        return matrix
    return scale_projection(matrix, frame.shape[1] / width, frame.shape[0] / height)


def _reference_tracker(folder: Path, device: str = 'cpu') -> tuple[CenterTracker, list]:
    config = ref.official_config(folder)
    spec = ModelSpec(path=str(folder / 'model.pth'), input_width=config.input.width,
                     input_height=config.input.height, mean=config.input.mean,
                     std=config.input.std)
    tracker = load_tracker(spec, TrackerOverrides.of(config.tracker),
                           runtime=RuntimeConfig(device=device, engine='reference'))
    return tracker, ref.frames(folder)


@pytest.fixture(scope='module')
def trained() -> tuple[CenterTracker, list]:
    """Load the bundled (trained) model and the first frames of a held-out sequence."""
    sequence = generate_sequence(SceneConfig(seed=1, num_frames=TRAINED_FRAMES))
    tracker = load_tracker(ModelSpec(), runtime=RuntimeConfig(engine='reference'))
    return tracker, [sequence.image(i) for i in range(len(sequence))]


def _above(raw, threshold: float) -> dict:
    return {(int(c), int(x), int(y)): i
            for i, (c, (x, y), s) in enumerate(zip(raw.classes, raw.cts, raw.scores))
            if s > threshold}


def _compare_engines(tracker: CenterTracker, first: InferenceEngine, second: InferenceEngine,
                     frames: list, position_tol: float, score_tol: float) -> dict:
    """Feed both engines the same requests (state from ``tracker``) and compare detections.

    Every detection scoring above the output threshold plus ``score_tol`` in one engine must
    be in the other: same class, peak within one cell, boxes and tracking offsets within
    ``position_tol`` output cells, score within ``score_tol``. Every frame must have such
    detections (two engines that detect nothing agree vacuously). Returns the largest
    deviations.
    """
    tracker.reset()
    thresholds = tracker.config.tracker
    worst = {'score': 0.0, 'position': 0.0}
    for index, frame in enumerate(frames):
        geometry = frame_geometry(frame.shape[1], frame.shape[0], tracker.config.input)
        peaks = prior_peaks(tracker.tracks, geometry, thresholds.effective_pre_thresh)
        request = [FrameRequest(frame, geometry, peaks)]
        a, b = first.run(request)[0], second.run(request)[0]
        tracker.step(frame)
        compared = 0
        for mine, theirs in ((a, b), (b, a)):
            candidates = _above(theirs, thresholds.effective_out_thresh)
            checked = _above(mine, thresholds.effective_out_thresh + score_tol)
            compared += len(checked)
            for (cls, x, y), i in checked.items():
                near = [j for (c, u, v), j in candidates.items()
                        if c == cls and abs(u - x) <= 1 and abs(v - y) <= 1]
                assert near, f'frame {index}: class {cls} at ({x}, {y}) score {mine.scores[i]} ' \
                             'has no counterpart'
                j = min(near, key=lambda j: abs(theirs.scores[j] - mine.scores[i]))
                deviation = max(np.abs(mine.bboxes[i] - theirs.bboxes[j]).max(),
                                np.abs(mine.tracking[i] - theirs.tracking[j]).max())
                worst['position'] = max(worst['position'], float(deviation))
                worst['score'] = max(worst['score'], float(abs(mine.scores[i] - theirs.scores[j])))
        assert compared, f'frame {index}: neither engine detects anything above ' \
                         f'{thresholds.effective_out_thresh + score_tol:.3f}: nothing was compared'
    assert worst['position'] <= position_tol, worst
    assert worst['score'] <= score_tol, worst
    return worst


def _same_tracks(a: list, b: list, label: str) -> dict:
    """Both paths' tracks frame by frame, within the reference README's pipeline tolerances."""
    return ref.assert_same_results([(ref.as_dicts(x), ref.as_dicts(y)) for x, y in zip(a, b)],
                                   ref.PIPELINE, label)


class _OpRecorder(TorchDispatchMode):
    """Record the name of every aten op and the devices of every tensor it touches."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()
        self.devices: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        self.ops.add(str(func))
        for leaf in tree_leaves((args, kwargs, result)):
            if isinstance(leaf, torch.Tensor):
                self.devices.add(leaf.device.type)
        return result


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


@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_pipeline_folders_have_margins_for_exact_ids(folder: Path) -> None:
    """Every decision of the reference path is ten times the kernel noise from flipping.

    The precondition of comparing ids exactly between two paths in the tests of this module.
    """
    reference, frames = _reference_tracker(folder)
    measured = margins.measure(reference, frames)
    print(f'{folder.name}: {measured}')
    margins.assert_conditioned(measured, REFERENCE_NOISE)


@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_torch_engine_equals_reference_engine_on_cpu(folder: Path) -> None:
    """Same tracks frame by frame from the fast path (on the CPU) and the reference path."""
    reference, frames = _reference_tracker(folder)
    fast = CenterTracker(reference.network, reference.config, engine='torch')
    _same_tracks([reference.step(f, calib=_calib(folder, f)) for f in frames],
                 [fast.step(f, calib=_calib(folder, f)) for f in frames],
                 f'{folder.name} torch engine')


def _shifted_warp(image, warp):
    return torch.roll(warp_uint8(image, warp), 1, dims=1)


def _prior_one_pixel_right(peaks, height, width):
    moved = peaks.clone()
    moved[:, 0] += 1
    return render_prior(moved, height, width)


def _prior_radius_plus_one(peaks, height, width):
    wider = peaks.clone()
    wider[:, 2] += 1
    return render_prior(wider, height, width)


def _no_prior(peaks, height, width):
    return render_prior(peaks[:0], height, width)


def _tracking_swapped(outputs, k):
    decoded = torch_ops.decode_tensors(outputs, k)
    decoded['tracking'] = decoded['tracking'].flip(-1)
    return decoded


def _without_nms(outputs, k):
    saved = torch_ops.heatmap_nms
    torch_ops.heatmap_nms = lambda heat, kernel=3: heat
    try:
        return torch_ops.decode_tensors(outputs, k)
    finally:
        torch_ops.heatmap_nms = saved


MUTATIONS = {
    'warp_one_pixel_off': ('warp_uint8', _shifted_warp),
    'prior_one_pixel_off': ('render_prior', _prior_one_pixel_right),
    'prior_radius_plus_one': ('render_prior', _prior_radius_plus_one),
    'no_prior': ('render_prior', _no_prior),
    'tracking_offsets_swapped': ('decode_tensors', _tracking_swapped),
    'decode_without_nms': ('decode_tensors', _without_nms),
}


@pytest.mark.parametrize('mutation', list(MUTATIONS))
@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_engine_comparison_fails_on_a_semantic_error(folder: Path, mutation: str,
                                                     monkeypatch) -> None:
    """The tolerances cannot hide a real difference: a wrong warp, prior or decode fails."""
    reference, frames = _reference_tracker(folder)
    frames = frames[:3]  # every mutation shows within the first two frames
    expected = [ref.as_dicts(reference.step(f)) for f in frames]
    name, replacement = MUTATIONS[mutation]
    monkeypatch.setattr(torch_engine, name, replacement)  # after the reference path has run
    fast = CenterTracker(reference.network, reference.config, engine='torch')
    problems, _ = ref.sequence_problems(
        [(ref.as_dicts(fast.step(f)), want) for f, want in zip(frames, expected)], ref.PIPELINE)
    assert problems, f'{mutation} went unnoticed'


def _assert_batching_equals_one_by_one(network: torch.nn.Module, config, folder: Path,
                                       label: str = '') -> None:
    """Two cameras in one network call track as two separate trackers of ``config``.

    Camera 1 sees the folder's sequence backwards at half size: another image size, other
    tracks. A 3D folder's frames come with their camera matrices.
    """
    frames = ref.frames(folder)
    single = CenterTracker(network, config)
    other = CenterTracker(network, config)
    batched = MultiCameraTracker(network, config, num_cameras=2)
    small = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2)) for f in reversed(frames)]
    results = [batched.step_all([frame, second], calibs=[_calib(folder, frame),
                                                        _calib(folder, second)])
               for frame, second in zip(frames, small)]
    label = label or folder.name
    _same_tracks([r[0] for r in results], [single.step(f, calib=_calib(folder, f))
                                           for f in frames], f'{label} camera 0 of 2')
    _same_tracks([r[1] for r in results], [other.step(f, calib=_calib(folder, f))
                                           for f in small], f'{label} camera 1 of 2')


@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_batching_equals_one_by_one(folder: Path) -> None:
    """Two cameras in one network call track as two separate trackers."""
    single, _ = _reference_tracker(folder)
    _assert_batching_equals_one_by_one(single.network, single.config, folder)


def test_camera_reset_is_independent() -> None:
    """Resetting one camera restarts it like a fresh tracker and leaves the other alone."""
    folder = PIPELINE_FOLDERS[-1].values[0]
    if folder is None:
        pytest.skip('no reference data')
    single, frames = _reference_tracker(folder)
    untouched = CenterTracker(single.network, single.config)
    batched = MultiCameraTracker(single.network, single.config, num_cameras=2)
    for frame in frames[:3]:
        batched.step_all([frame, frame])
        untouched.step(frame)
    batched.reset(0)
    fresh = CenterTracker(single.network, single.config)
    first, second = batched.step_all([frames[3], frames[3]])
    _same_tracks([first], [fresh.step(frames[3])], 'reset camera')
    _same_tracks([second], [untouched.step(frames[3])], 'other camera')


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_cuda_fast_path_equals_cpu_reference(folder: Path) -> None:
    """The float32 CUDA fast path (graph, channels-last) gives the CPU reference's tracks."""
    reference, frames = _reference_tracker(folder)
    config = reference.config.replace(
        runtime=RuntimeConfig(device='cuda', half=False, cuda_graph=True, channels_last=True))
    fast = CenterTracker(copy.deepcopy(reference.network), config)
    _same_tracks([reference.step(f, calib=_calib(folder, f)) for f in frames],
                 [fast.step(f, calib=_calib(folder, f)) for f in frames], f'{folder.name} CUDA')
    assert fast.engine.graph_captures == 1


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize('folder', PIPELINE_FOLDERS)
def test_cuda_batching_equals_one_by_one(folder: Path) -> None:
    """Two cameras in one call of the float32 CUDA fast path track as two such trackers.

    With the CUDA graph and channels-last, as the node runs several cameras on a GPU.
    """
    reference, _ = _reference_tracker(folder)
    config = reference.config.replace(runtime=RuntimeConfig(
        device='cuda', engine='torch', half=False, cuda_graph=True, channels_last=True))
    _assert_batching_equals_one_by_one(copy.deepcopy(reference.network), config, folder,
                                       f'{folder.name} CUDA')


@pytest.mark.parametrize('device', DEVICES)
def test_fp16_detections_match_fp32_with_trained_weights(trained, device: str) -> None:
    """The fp16 fast path detects what the float32 reference path does, given the same state.

    On CUDA the fp16 engine also runs channels-last and replays a CUDA graph.
    """
    tracker, frames = trained
    config = tracker.config
    fp32 = ReferenceEngine(copy.deepcopy(tracker.network), config.model, config.input,
                           torch.device('cpu'))
    fp16 = TorchEngine(copy.deepcopy(tracker.network), config.model, config.input,
                       torch.device(device), half=True, channels_last=True, cuda_graph=True)
    worst = _compare_engines(tracker, fp32, fp16, frames, FP16_POSITION_CELLS, FP16_SCORE)
    print(f'fp16 on {device}: largest deviations {worst}')


def test_half_on_the_cpu_falls_back_to_float32(trained, caplog) -> None:
    """runtime.half asks for the CUDA fast path; on the CPU fp16 is slower, so float32 runs."""
    tracker, _ = trained
    config = tracker.config.replace(runtime=RuntimeConfig(device='cpu', half=True))
    engine = make_engine('torch', copy.deepcopy(tracker.network), config, torch.device('cpu'))
    assert engine.dtype == torch.float32
    assert 'running float32 on cpu' in caplog.text


@needs_cuda
@pytest.mark.gpu
def test_cuda_graph_replay_equals_eager(trained) -> None:
    """Replaying the captured fp16 graph computes what running the same ops eagerly does."""
    tracker, frames = trained
    device = torch.device('cuda')
    config = tracker.config
    eager = TorchEngine(copy.deepcopy(tracker.network), config.model, config.input, device,
                        half=True, channels_last=True, cuda_graph=False)
    graph = TorchEngine(copy.deepcopy(tracker.network), config.model, config.input, device,
                        half=True, channels_last=True, cuda_graph=True)
    _compare_engines(tracker, eager, graph, frames, 1e-3, 1e-4)
    assert graph.graph_captures == 1


def test_graph_region_stays_on_the_device() -> None:
    """The part a CUDA graph captures never waits for a value and touches no host tensor.

    Either would break the capture. Checked on the meta device, which has no values at all.
    """
    tracker = load_tracker(ModelSpec(), runtime=RuntimeConfig(engine='reference'))
    _assert_graph_region_on_device(tracker.network, tracker.config.model, tracker.config.input)


def test_graph_region_with_3d_heads_stays_on_the_device() -> None:
    """Decoding the 3D heads (gather, depth transform, packing) is graph-safe too."""
    model = ModelConfig(arch='generic', num_classes=2, ddd=True)
    _assert_graph_region_on_device(build_network(model), model,
                                   InputConfig(width=320, height=192))


def _assert_graph_region_on_device(network, model, inp) -> None:
    engine = TorchEngine(copy.deepcopy(network), model, inp, torch.device('meta'), half=True,
                         channels_last=True)
    for index in range(engine.num_cameras):
        image = np.zeros((384, 640, 3), dtype=np.uint8)
        engine._slot(index, FrameRequest(image, frame_geometry(640, 384, inp), []))
    with torch.no_grad(), _OpRecorder() as recorder:
        engine._forward()
    assert recorder.devices == {'meta'}
    assert 'torchvision.deform_conv2d.default' in recorder.ops  # the whole network was seen
    assert not recorder.ops & HOST_READS
    assert engine._packed.shape[-1] == 10 + sum(
        channels for name, channels in model.heads.items()
        if name not in ('hm', 'reg', 'wh', 'tracking', 'ltrb_amodal'))


@needs_cuda
@pytest.mark.gpu
def test_cuda_graph_recaptured_when_size_changes() -> None:
    """A new image size re-captures the graph and restarts the sequence."""
    folder = PIPELINE_FOLDERS[-1].values[0]
    if folder is None:
        pytest.skip('no reference data')
    reference, frames = _reference_tracker(folder, device='cuda')
    config = reference.config.replace(runtime=RuntimeConfig(device='cuda', cuda_graph=True))
    fast = CenterTracker(reference.network, config, engine='torch')
    fast.step(frames[0])
    fast.step(frames[1])
    resized = cv2.resize(frames[2], (frames[2].shape[1] // 2, frames[2].shape[0] // 2))
    fast.step(resized)
    assert fast.engine.graph_captures == 2
    assert all(t.track_id <= 100 for t in fast.tracks)
