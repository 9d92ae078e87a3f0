"""Fidelity against outputs of the official CenterTrack implementation.

Data-driven: every reference folder (see ``reference_data``) is inspected and the checks its
files call for are generated, with the configuration taken from its ``expected.json``.
Tolerances are those of the reference README (``reference_data`` states them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from support import reference_data as ref

from centertrack_ros.core import mono3d, torch_ops
from centertrack_ros.core import postprocess as postprocess_module
from centertrack_ros.core.calibration import projection_matrix
from centertrack_ros.core.checkpoint import load_state_dict_strict, read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.decode import decode_heads, extra_heads, sigmoid
from centertrack_ros.core.device import use_ieee_fp32_convolutions
from centertrack_ros.core.geometry import FrameGeometry, frame_geometry
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.onnx_model import cached_export
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.core.postprocess import detections_to_image
from centertrack_ros.core.tracker import TrackManager
from centertrack_ros.core.tracks import Track

pytestmark = [pytest.mark.reference, pytest.mark.equality]


def _checks_for(folder: Path) -> list[str]:
    """Which checks a reference folder's files call for."""
    checks = []
    if ref.has_network_io(folder):
        checks.append('network')
    if ref.is_pipeline(folder):
        checks.append('pipeline')
    if ref.is_post(folder):
        checks.append('post')
    return checks


# Each check on each path: the network alone (PyTorch on the CPU, the exported graph in ONNX
# Runtime, PyTorch on CUDA), the whole pipeline through each engine (``onnxruntime``: numpy
# pre-processing, the ONNX Runtime network, numpy decoding, the tracker; the torch-free path),
# and decoding plus tracking with each decoder (``reference``: the host's numpy decoding that
# the reference and onnxruntime engines share; ``torch``: the torch engine's device decoding).
PATHS = {
    'network': [('cpu', 'torch'), ('cpu', 'onnxruntime'), ('cuda', 'torch')],
    'pipeline': [('cpu', 'reference'), ('cpu', 'onnxruntime'), ('cuda', 'torch')],
    'post': [('cpu', 'reference'), ('cpu', 'torch'), ('cuda', 'torch')],
}


def _cases() -> list:
    cases = []
    on_gpu = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason='needs CUDA')]
    for param in ref.folder_params():
        folder = param.values[0]
        if folder is None:
            return [pytest.param(None, None, None, None, marks=param.marks)]
        for check in _checks_for(folder):
            for device, engine in PATHS[check]:
                name = f'{folder.name}-{check}' + ('' if engine == 'reference' or (
                    check == 'network' and engine == 'torch' and device == 'cpu')
                    else f'-{engine}') + ('-cuda' if device == 'cuda' else '')
                cases.append(pytest.param(folder, check, device, engine, id=name,
                                          marks=on_gpu if device == 'cuda' else ()))
    return cases


def _config(folder: Path, device: str = 'cpu', engine: str = 'reference') -> CenterTrackConfig:
    return ref.official_config(folder).replace(
        runtime=RuntimeConfig(device=device, engine=engine))


def _network(folder: Path, config: CenterTrackConfig) -> torch.nn.Module:
    network = build_network(config.model)
    load_state_dict_strict(network, read_checkpoint(str(folder / 'model.pth')).state_dict,
                           config.model)
    device = torch.device(config.runtime.device)
    use_ieee_fp32_convolutions(device)  # as the engines do
    return network.eval().to(device)


def run_network(network: torch.nn.Module, config: CenterTrackConfig, io: np.lib.npyio.NpzFile,
                frame: str) -> dict[str, torch.Tensor]:
    """Run ``network`` on one stored frame's inputs; host tensors, ``hm`` after the sigmoid."""
    device = next(network.parameters()).device
    inputs = [torch.from_numpy(io[f'{frame}_{name}']).to(device)
              for name in ('images', 'pre_images', 'pre_hms')]
    with torch.no_grad():
        outputs = network(inputs[0], inputs[1] if config.model.pre_img else None,
                          inputs[2] if config.model.pre_hm else None)
    outputs = {head: value.float().cpu() for head, value in outputs.items()}
    outputs['hm'] = outputs['hm'].sigmoid()
    return outputs


def run_onnx(network: torch.nn.Module, config: CenterTrackConfig, io: np.lib.npyio.NpzFile,
             frame: str) -> dict[str, torch.Tensor]:
    """Run the network as the onnxruntime engine does: exported, in an ONNX Runtime session."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(cached_export(network, config)),
                                           providers=['CPUExecutionProvider'])
    stored = {'image': 'images', 'pre_image': 'pre_images', 'pre_hm': 'pre_hms'}
    feed = {i.name: io[f'{frame}_{stored[i.name]}'] for i in session.get_inputs()}
    heads = [o.name for o in session.get_outputs()]
    outputs = {head: torch.from_numpy(value)
               for head, value in zip(heads, session.run(heads, feed))}
    outputs['hm'] = outputs['hm'].sigmoid()
    return outputs


def check_network(folder: Path, device: str, engine: str) -> None:
    """Check that network outputs from the stored inputs equal the original's, per head."""
    config = _config(folder, device)
    network = _network(folder, config)
    run = run_onnx if engine == 'onnxruntime' else run_network
    io = np.load(folder / 'network_io.npz')
    frames = ref.stored_frames(io)
    assert frames, 'network_io.npz holds no frames'
    problems, worst = [], {}
    for frame in frames:
        outputs = run(network, config, io, frame)
        heads = [n[len(frame) + 5:] for n in io.files if n.startswith(f'{frame}_out_')]
        assert set(heads) == set(outputs), f'heads {sorted(outputs)} vs stored {sorted(heads)}'
        for head in heads:
            expected = io[f'{frame}_out_{head}']
            deviation = float(np.abs(outputs[head].numpy() - expected).max())
            bound = ref.network_bound(expected)
            worst[head] = max(worst.get(head, 0.0), deviation / bound)
            if deviation > bound:
                problems.append(f'{frame} {head}: off by {deviation:.4g} > {bound:.4g}')
    print(f'{folder.name} ({engine}): largest network deviation as a fraction of the bound '
          f'{worst}')
    assert not problems, '\n'.join(problems)


def check_pipeline(folder: Path, device: str, engine: str) -> None:
    """Check that the whole tracker over the stored frames returns the original's tracks.

    On CUDA the torch engine is the fast path with its defaults (float32, channels-last,
    CUDA graph). A 3D folder's frames come with the camera matrix its ``calib_source`` says.
    """
    config = _config(folder, device, engine)
    tracker = CenterTracker(_network(folder, config), config)
    results = ref.expected(folder)['results']
    per_frame = [(ref.as_dicts(tracker.step(image, calib=ref.calibration(
                     folder, image.shape[1], image.shape[0]))), want)
                 for image, want in zip(ref.frames(folder), results, strict=True)]
    assert tracker.engine.name == engine
    ref.assert_same_results(per_frame, ref.PIPELINE, f'{folder.name} ({engine})',
                            required=ref.THREE_D_FIELDS)


def track_outputs(outputs: dict[str, np.ndarray], geometry: FrameGeometry,
                  manager: TrackManager, calib: Optional[np.ndarray] = None,
                  depth_scale: float = 1.0, device: Optional[str] = None) -> list[Track]:
    """Decode one image's head outputs (``hm`` as logits) and update the tracks.

    Without ``device`` as the host paths do (numpy sigmoid and decoding); with one as the
    torch engine does there (torch sigmoid and decoding, K packed rows copied back).
    ``calib``: the image's camera matrix P, for the 3D heads.
    """
    config = manager.config
    if device is None:
        heads = dict(outputs, hm=sigmoid(outputs['hm']))
        raw = decode_heads(heads, config.K)[0]
    else:
        heads = {name: torch.from_numpy(value).to(device) for name, value in outputs.items()}
        heads['hm'] = heads['hm'].sigmoid()
        extras = extra_heads(heads)
        packed = torch_ops.pack_detections(torch_ops.decode_tensors(heads, config.K),
                                           tuple(extras))
        raw = torch_ops.unpack_detections(packed.cpu().numpy(), 'tracking' in heads,
                                          {name: heads[name].shape[1] for name in extras})[0]
    matrix = None if calib is None else projection_matrix(calib)
    return manager.update(detections_to_image(raw, geometry, config.effective_low_thresh,
                                              matrix, depth_scale))


def check_post(folder: Path, device: str, engine: str) -> None:
    """Check decoding, mapping back and association over the stored head outputs."""
    config = _config(folder)
    expected = ref.expected(folder)
    outputs = np.load(folder / 'head_outputs.npz')
    width, height = expected['image_size']
    geometry = frame_geometry(width, height, config.input)
    calib = ref.calibration(folder, width, height)
    manager = TrackManager(config.tracker)
    per_frame = []
    for index, want in enumerate(expected['results']):
        prefix = f'f{index:03d}_'
        heads = {name[len(prefix):]: outputs[name]
                 for name in outputs.files if name.startswith(prefix)}
        heads['hm'] = heads.pop('hm_logits')
        assert set(heads) == set(config.model.heads), f'{prefix}: heads {sorted(heads)}'
        tracks = track_outputs(heads, geometry, manager, calib, config.model.depth_scale,
                               None if engine == 'reference' else device)
        per_frame.append((ref.as_dicts(tracks), want))
    ref.assert_same_results(per_frame, ref.POST, f'{folder.name} ({engine} on {device})',
                            required=ref.THREE_D_FIELDS)


CHECKS = {'network': check_network, 'pipeline': check_pipeline, 'post': check_post}


@pytest.mark.parametrize(('folder', 'check', 'device', 'engine'), _cases())
def test_reference(folder: Path, check: str, device: str, engine: str) -> None:
    """Run one check of one reference folder on one device and engine."""
    CHECKS[check](folder, device, engine)


# The 3D tolerances cannot hide a wrong formula: each mutation of the 3D decoding below
# must make a 3D post folder fail (where its data exercise what the mutation breaks).
def _alpha_bins_swapped(rot):
    return mono3d.alpha_from_rot(np.asarray(rot)[:, [4, 5, 6, 7, 0, 1, 2, 3]])


def _translation_ignored(centers, depths, dims, matrix):
    flat = np.array(matrix, dtype=np.float32)
    flat[:, 3] = 0
    return mono3d.locations(centers, depths, dims, flat)


def _centre_not_bottom(centers, depths, dims, matrix):
    return mono3d.unproject(centers, depths, matrix)


def _rot_y_not_wrapped(alpha, u, matrix):
    p = np.asarray(matrix, dtype=np.float64)
    return np.asarray(alpha) + np.arctan2(np.asarray(u, dtype=np.float64) - p[0, 2], p[0, 0])


MUTATIONS_3D = {
    'alpha_bins_swapped': ('alpha_from_rot', _alpha_bins_swapped),
    'translation_column_ignored': ('locations', _translation_ignored),
    'location_not_bottom_centre': ('locations', _centre_not_bottom),
    'rot_y_not_wrapped': ('rot_y_from_alpha', _rot_y_not_wrapped),
}


def _exercised(mutation: str, folder: Path) -> bool:
    """Whether a folder's data can show a mutation (a held-out folder may not)."""
    options = ref.expected(folder)['config']
    results = [r for frame in ref.expected(folder)['results'] for r in frame if 'loc' in r]
    if mutation == 'translation_column_ignored':
        return bool(np.abs(np.asarray(options['calib'])[:, 3]).max() > 0.05)
    if mutation == 'rot_y_not_wrapped':
        return any(abs(r['rot_y'] - r['alpha']) > np.pi / 2 for r in results)
    return bool(results)


def _is_post_3d(folder: Path) -> bool:
    return ref.is_post(folder) and ref.official_config(folder).model.ddd


@pytest.mark.parametrize('mutation', list(MUTATIONS_3D))
@pytest.mark.parametrize('folder', ref.folder_params(_is_post_3d, '3D post folders'))
def test_3d_comparison_fails_on_a_semantic_error(folder: Path, mutation: str,
                                                 monkeypatch) -> None:
    """A wrong rotation bin, a lost P column, the box centre for the bottom or no wrap fail."""
    if not _exercised(mutation, folder):
        pytest.skip(f'{folder.name} has no data that {mutation} would change')
    name, replacement = MUTATIONS_3D[mutation]
    monkeypatch.setattr(postprocess_module, name, replacement)
    with pytest.raises(AssertionError, match='off by'):
        check_post(folder, 'cpu', 'reference')
