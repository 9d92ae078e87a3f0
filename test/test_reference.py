"""Fidelity against outputs of the official CenterTrack implementation.

Data-driven: every sub-folder of ``CENTERTRACK_REFERENCE_DIR`` (default ``../shared/reference``
beside the repository) is inspected and the checks its files call for are generated, with the
configuration taken from its ``expected.json``. Tolerances are those of the reference README.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centertrack_ros.core.checkpoint import load_state_dict_strict, read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, RuntimeConfig
from centertrack_ros.core.device import use_ieee_fp32_convolutions
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.pipeline import CenterTracker, track_outputs
from centertrack_ros.core.tracker import TrackManager
from centertrack_ros.core.tracks import Track

pytestmark = pytest.mark.reference

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get('CENTERTRACK_REFERENCE_DIR',
                                    REPO.parent / 'shared' / 'reference'))
NETWORK_TOLERANCE = 1e-3
POSITION_TOLERANCE = 0.05
SCORE_TOLERANCE = 1e-4


def _checks_for(folder: Path) -> list[str]:
    """Which checks a reference folder's files call for."""
    files = {p.name for p in folder.iterdir()}
    checks = []
    if 'expected.json' not in files:
        return checks
    if {'model.pth', 'network_io.npz'} <= files:
        checks.append('network')
    if 'model.pth' in files and 'frames' in json.loads((folder / 'expected.json').read_text()):
        checks.append('pipeline')
    if 'head_outputs.npz' in files:
        checks.append('post')
    return checks


def _cases() -> list:
    if not REFERENCE_DIR.is_dir():
        return [pytest.param(None, None, None, marks=pytest.mark.skip(
            reason=f'no reference data at {REFERENCE_DIR} (set CENTERTRACK_REFERENCE_DIR)'))]
    cases = []
    on_gpu = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason='needs CUDA')]
    for folder in sorted(p for p in REFERENCE_DIR.iterdir() if p.is_dir()):
        for check in _checks_for(folder):
            cases.append(pytest.param(folder, check, 'cpu', id=f'{folder.name}-{check}'))
            if check in ('network', 'pipeline'):  # the float32 CUDA path is held to the same
                cases.append(pytest.param(folder, check, 'cuda', marks=on_gpu,
                                          id=f'{folder.name}-{check}-cuda'))
    return cases


def _config(folder: Path, device: str = 'cpu') -> tuple[dict, CenterTrackConfig]:
    expected = json.loads((folder / 'expected.json').read_text())
    config = CenterTrackConfig.from_official_options(expected['config'])
    return expected, config.replace(runtime=RuntimeConfig(device=device))


def _network(folder: Path, config: CenterTrackConfig) -> torch.nn.Module:
    network = build_network(config.model)
    load_state_dict_strict(network, read_checkpoint(str(folder / 'model.pth')).state_dict,
                           config.model)
    device = torch.device(config.runtime.device)
    use_ieee_fp32_convolutions(device)  # as the engines do
    return network.eval().to(device)


def compare_frame(got: list[Track], expected: list[dict]) -> tuple[list[str], dict]:
    """Differences between our tracks and the reference objects of one frame.

    Returns readable problems and the largest deviations seen per field.
    """
    ours = {t.track_id: t.to_dict() for t in got}
    theirs = {e['tracking_id']: e for e in expected}
    problems = []
    worst: dict[str, float] = {}
    if len(got) != len(expected):
        problems.append(f'{len(got)} objects, expected {len(expected)}')
    if set(ours) != set(theirs):
        problems.append(f'track ids {sorted(ours)}, expected {sorted(theirs)}')
    for track_id in sorted(set(ours) & set(theirs)):
        a, b = ours[track_id], theirs[track_id]
        if a['class'] != b['class']:
            problems.append(f'id {track_id}: class {a["class"]}, expected {b["class"]}')
        for key in ('active', 'age'):
            if key in b and a[key] != b[key]:
                problems.append(f'id {track_id}: {key} {a[key]}, expected {b[key]}')
        for key, tolerance in (('bbox', POSITION_TOLERANCE), ('ct', POSITION_TOLERANCE),
                               ('tracking', POSITION_TOLERANCE), ('score', SCORE_TOLERANCE)):
            deviation = float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key]))))
            worst[key] = max(worst.get(key, 0.0), deviation)
            if deviation > tolerance:
                problems.append(f'id {track_id}: {key} {a[key]} vs {b[key]} '
                                f'(off by {deviation:.4g} > {tolerance})')
    return problems, worst


def _assert_sequence(folder: Path, per_frame: list[tuple[list[Track], list[dict]]]) -> None:
    problems, worst = [], {}
    for index, (got, expected) in enumerate(per_frame):
        frame_problems, frame_worst = compare_frame(got, expected)
        problems += [f'frame {index}: {p}' for p in frame_problems]
        for key, value in frame_worst.items():
            worst[key] = max(worst.get(key, 0.0), value)
    print(f'{folder.name}: largest deviations {worst}')
    assert not problems, f'{folder.name}:\n' + '\n'.join(problems[:40])


def stored_frames(io: np.lib.npyio.NpzFile) -> list[str]:
    """List the frame prefixes (``f0``, ``f1``, ...) a ``network_io.npz`` holds."""
    return sorted({name.split('_')[0] for name in io.files})


def run_network(network: torch.nn.Module, config: CenterTrackConfig, io: np.lib.npyio.NpzFile,
                frame: str, dtype: torch.dtype = torch.float32,
                memory_format: torch.memory_format = torch.contiguous_format,
                ) -> dict[str, torch.Tensor]:
    """Run ``network`` on one stored frame's inputs, as the reference stores its outputs.

    Returns host float32 tensors with the sigmoid applied to ``hm``. ``dtype`` and
    ``memory_format`` are those the network was converted to (the fp16 path's, say).
    """
    device = next(network.parameters()).device
    inputs = [torch.from_numpy(io[f'{frame}_{name}']).to(device, dtype)
              .contiguous(memory_format=memory_format)
              for name in ('images', 'pre_images', 'pre_hms')]
    with torch.no_grad():
        outputs = network(inputs[0], inputs[1] if config.model.pre_img else None,
                          inputs[2] if config.model.pre_hm else None)
    outputs = {head: value.float().cpu() for head, value in outputs.items()}
    outputs['hm'] = outputs['hm'].sigmoid()
    return outputs


def check_network(folder: Path, device: str) -> None:
    """Network outputs from the stored inputs equal the original's."""
    _, config = _config(folder, device)
    network = _network(folder, config)
    io = np.load(folder / 'network_io.npz')
    frames = stored_frames(io)
    assert frames, 'network_io.npz holds no frames'
    worst = 0.0
    for frame in frames:
        outputs = run_network(network, config, io, frame)
        heads = [n[len(frame) + 5:] for n in io.files if n.startswith(f'{frame}_out_')]
        assert set(heads) == set(outputs), f'heads {sorted(outputs)} vs stored {sorted(heads)}'
        for head in heads:
            deviation = float((outputs[head] - torch.from_numpy(io[f'{frame}_out_{head}']))
                              .abs().max())
            worst = max(worst, deviation)
            assert deviation <= NETWORK_TOLERANCE, f'{frame} {head}: off by {deviation}'
    print(f'{folder.name}: largest network deviation {worst:.3g}')


def check_pipeline(folder: Path, device: str) -> None:
    """Check that the whole tracker over the stored frames returns the original's tracks.

    On CUDA this is the fast path with its defaults (float32, channels-last, CUDA graph).
    """
    expected, config = _config(folder, device)
    tracker = CenterTracker(_network(folder, config), config)
    per_frame = []
    for name, frame_results in zip(expected['frames'], expected['results'], strict=True):
        image = cv2.imread(str(folder / name))
        assert image is not None, f'cannot read {name}'
        per_frame.append((tracker.step(image), frame_results))
    _assert_sequence(folder, per_frame)


def check_post(folder: Path, device: str) -> None:
    """Check decoding, mapping back and association over the stored head outputs."""
    expected, config = _config(folder)
    outputs = np.load(folder / 'head_outputs.npz')
    width, height = expected['image_size']
    geometry = frame_geometry(width, height, config.input)
    manager = TrackManager(config.tracker)
    per_frame = []
    for index, frame_results in enumerate(expected['results']):
        prefix = f'f{index:03d}_'
        heads = {name[len(prefix):]: torch.from_numpy(outputs[name])
                 for name in outputs.files if name.startswith(prefix)}
        heads['hm'] = heads.pop('hm_logits').sigmoid()
        per_frame.append((track_outputs(heads, geometry, manager), frame_results))
    _assert_sequence(folder, per_frame)


CHECKS = {'network': check_network, 'pipeline': check_pipeline, 'post': check_post}


@pytest.mark.parametrize(('folder', 'check', 'device'), _cases())
def test_reference(folder: Path, check: str, device: str) -> None:
    """Run one check of one reference folder on one device."""
    CHECKS[check](folder, device)
