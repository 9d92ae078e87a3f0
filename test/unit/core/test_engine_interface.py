"""What every engine offers besides running: its name, memory, release, devices; ORT without torch.

The ONNX Runtime engine must run where torch cannot be imported (issue 26): checked in a
process whose torch import fails (``benchmarks/no_torch``), against the same engine here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.device import Device, cpu_threads
from centertrack_ros.core.engines.base import FrameRequest
from centertrack_ros.core.engines.ort_engine import OnnxRuntimeEngine
from centertrack_ros.core.engines.reference import ReferenceEngine
from centertrack_ros.core.engines.torch_engine import TorchEngine
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.model_spec import ModelSpec, load_model
from centertrack_ros.core.onnx_model import cached_export
from centertrack_ros.synthetic import SceneConfig, generate_sequence

REPO = Path(__file__).resolve().parents[3]
NO_TORCH = REPO / 'benchmarks' / 'no_torch'
PEAKS = [[], [(100, 60, 9), (220, 130, 14)]]  # prior Gaussians of frames 0 and 1 (input px)


class PlainDevice:
    """The least a device must offer an engine: ``type``, ``index`` and torch's text."""

    def __init__(self, text: str) -> None:
        self.type, _, index = text.partition(':')
        self.index = int(index) if index else None

    def __str__(self) -> str:
        return self.type if self.index is None else f'{self.type}:{self.index}'


@pytest.fixture(scope='module')
def bundled():
    return load_model(ModelSpec(), RuntimeConfig(device='cpu'))


@pytest.fixture(scope='module')
def onnx_file(bundled, tmp_path_factory) -> Path:
    return cached_export(bundled.network, bundled.config, tmp_path_factory.mktemp('export'))


@pytest.fixture(scope='module')
def frames() -> list[np.ndarray]:
    sequence = generate_sequence(SceneConfig(seed=2, num_frames=2))
    return [sequence.image(i) for i in range(len(sequence))]


def _requests(frames: list[np.ndarray], config) -> list[list[FrameRequest]]:
    return [[FrameRequest(frame, frame_geometry(frame.shape[1], frame.shape[0], config.input),
                          peaks)] for frame, peaks in zip(frames, PEAKS)]


def _ort(bundled, onnx_file, device='cpu', **options) -> OnnxRuntimeEngine:
    return OnnxRuntimeEngine(onnx_file, bundled.config.model, bundled.config.input, device,
                             **options)


_IN_A_PROCESS_WITHOUT_TORCH = '''
import sys
import numpy as np
from centertrack_ros.core.config import InputConfig, ModelConfig
from centertrack_ros.core.engines.base import FrameRequest
from centertrack_ros.core.engines.ort_engine import OnnxRuntimeEngine
from centertrack_ros.core.geometry import frame_geometry
data = np.load(sys.argv[2], allow_pickle=True)
model = ModelConfig(**data['model'].item())
inp = InputConfig(**data['input'].item())
engine = OnnxRuntimeEngine(sys.argv[1], model, inp, 'cpu', threads=1)
out = {}
for index, peaks in enumerate(data['peaks']):
    frame = data[f'frame{index}']
    geometry = frame_geometry(frame.shape[1], frame.shape[0], inp)
    (raw,) = engine.run([FrameRequest(frame, geometry, [tuple(p) for p in peaks])])
    for name in ('scores', 'classes', 'cts', 'bboxes', 'tracking'):
        out[f'{index}_{name}'] = getattr(raw, name)
assert not [m for m in sys.modules if m.partition('.')[0] in ('torch', 'torchvision')]
np.savez(sys.argv[3], **out)
print('engine', engine.describe(), engine.memory())
'''


def test_the_onnxruntime_engine_runs_without_torch(bundled, onnx_file, frames, tmp_path):
    """Numpy pre-processing, ONNX Runtime, numpy decoding: the same rows with torch blocked."""
    config = bundled.config
    inputs = tmp_path / 'inputs.npz'
    np.savez(inputs, model=np.array(config.model.__dict__, dtype=object),
             input=np.array(config.input.__dict__, dtype=object),
             peaks=np.array([np.array(p, dtype=np.int64).reshape(-1, 3) for p in PEAKS],
                            dtype=object),
             **{f'frame{i}': frame for i, frame in enumerate(frames)})
    result = tmp_path / 'rows.npz'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NO_TORCH), str(REPO)]))
    done = subprocess.run([sys.executable, '-c', _IN_A_PROCESS_WITHOUT_TORCH, str(onnx_file),
                           str(inputs), str(result)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'engine onnxruntime (CPU) {}' in done.stdout
    theirs = np.load(result)
    engine = _ort(bundled, onnx_file, threads=1)
    for index, request in enumerate(_requests(frames, config)):
        (raw,) = engine.run(request)
        assert np.count_nonzero(raw.scores > config.tracker.track_thresh) >= 1
        for name in ('scores', 'cts', 'bboxes', 'tracking'):
            np.testing.assert_allclose(getattr(raw, name), theirs[f'{index}_{name}'],
                                       rtol=1e-6, atol=1e-6, err_msg=f'frame {index} {name}')
        np.testing.assert_array_equal(raw.classes, theirs[f'{index}_classes'])


def test_default_threads_follow_omp_num_threads_else_the_usable_cores(bundled, onnx_file,
                                                                      monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '3')
    assert cpu_threads() == 3
    engine = _ort(bundled, onnx_file)
    assert engine.session.get_session_options().intra_op_num_threads == 3
    assert _ort(bundled, onnx_file, threads=1).session.get_session_options() \
        .intra_op_num_threads == 1
    for unset in ('', 'many', '0'):
        monkeypatch.setenv('OMP_NUM_THREADS', unset)
        assert cpu_threads() == len(os.sched_getaffinity(0))
    monkeypatch.delenv('OMP_NUM_THREADS')
    assert cpu_threads() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize('device', [torch.device('cpu'), Device('cpu'), PlainDevice('cpu')],
                         ids=['torch.device', 'Device', 'plain'])
def test_engines_take_any_device_object(bundled, onnx_file, frames, device):
    """A torch.device, the core's Device or any object with type, index and torch's text."""
    config = bundled.config
    request = _requests(frames, config)[0]
    for engine in (ReferenceEngine(bundled.network, config.model, config.input, device),
                   TorchEngine(bundled.network, config.model, config.input, device)):
        assert engine.device == torch.device('cpu') and isinstance(engine.device, torch.device)
        assert engine.run(request)[0].scores.shape == (config.tracker.K,)
    engine = _ort(bundled, onnx_file, device)
    assert engine.describe() == 'onnxruntime (CPU)'
    assert engine.run(request)[0].scores.shape == (config.tracker.K,)


def _engines(bundled, onnx_file) -> dict:
    config = bundled.config
    return {
        'reference': ReferenceEngine(bundled.network, config.model, config.input, 'cpu'),
        'torch': TorchEngine(bundled.network, config.model, config.input, 'cpu'),
        'onnxruntime': _ort(bundled, onnx_file),
    }


def test_each_engine_names_what_runs(bundled, onnx_file):
    described = {name: engine.describe() for name, engine in _engines(bundled, onnx_file).items()}
    assert described == {'reference': 'reference (cpu)', 'torch': 'torch (cpu, fp32)',
                         'onnxruntime': 'onnxruntime (CPU)'}


def test_memory_release_and_close_on_the_cpu(bundled, onnx_file, frames):
    """No device memory to report; release keeps the engine running, close ends it."""
    requests = _requests(frames, bundled.config)
    for name, engine in _engines(bundled, onnx_file).items():
        assert engine.memory() == {}, name
        before = engine.run(requests[0])[0]
        engine.release()
        engine.reset()
        after = engine.run(requests[0])[0]
        np.testing.assert_array_equal(before.scores, after.scores, err_msg=name)
        engine.close()
        assert engine.network is None and engine.closed, name
        with pytest.raises(RuntimeError, match=f'the {name} engine was closed'):
            engine.run(requests[1])
    closed = _ort(bundled, onnx_file)
    closed.close()
    assert closed.session is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_torch_engines_report_and_release_cuda_memory(bundled, frames):
    config = bundled.config
    request = _requests(frames, config)[0]
    for engine in (TorchEngine(bundled.network, config.model, config.input, Device('cuda')),
                   ReferenceEngine(bundled.network, config.model, config.input,
                                   Device('cuda'))):
        engine.run(request)
        scratch = torch.empty(64 * 2 ** 20, dtype=torch.uint8, device='cuda')
        del scratch  # 64 MiB cached, not in use
        memory = engine.memory()
        assert set(memory) == {'gpu_memory_allocated_mb', 'gpu_memory_reserved_mb'}
        allocated, reserved = (float(memory[key]) for key in sorted(memory))
        assert 0 < allocated <= reserved
        engine.release()
        assert float(engine.memory()['gpu_memory_reserved_mb']) <= reserved - 63
        assert engine.run(request)[0].scores.shape == (config.tracker.K,)
        engine.close()
