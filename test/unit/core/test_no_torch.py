"""The core runs an exported ``.onnx`` model where torch cannot be imported (issue 26).

Each check runs in a fresh interpreter with ``benchmarks/no_torch`` first on ``PYTHONPATH``,
whose ``sitecustomize`` makes ``import torch`` (and torchvision) fail as if neither were
installed; one more runs with torch installed and checks that importing the core leaves it
out of ``sys.modules``. The model is a hand-made graph with the export's signature
(``support.tiny_onnx``); the bundled model's real export, tracked without torch and compared
with the torch path, is in ``test/fidelity/test_onnx_without_torch.py``.
"""

from __future__ import annotations

import json

import pytest
from support.no_torch import run_python
from support.tiny_onnx import write_tiny_onnx

from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig

CORE = ('centertrack_ros.core.pipeline', 'centertrack_ros.core.model_spec',
        'centertrack_ros.core.engines', 'centertrack_ros.core.onnx_file',
        'centertrack_ros.core.checkpoint', 'centertrack_ros.core.device')


def test_the_blocker_hides_torch():
    out = run_python("""
        for name in ('torch', 'torchvision', 'torch.nn'):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                print(name, 'blocked' if 'no torch here' in str(exc) else exc)
        """)
    assert out.split('\n')[:3] == ['torch blocked', 'torchvision blocked', 'torch.nn blocked']


@pytest.mark.parametrize('block_torch', [True, False], ids=['torch blocked', 'torch installed'])
def test_the_core_imports_without_torch(block_torch):
    out = run_python(f"""
        import sys
        import {', '.join(CORE)}
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))
        """, block_torch)
    assert out.strip() == '[]'


def test_an_onnx_model_tracks_without_torch(tmp_path):
    """Load, resolve the device, build the engine and track frames: torch never imported."""
    config = CenterTrackConfig(model=ModelConfig(num_classes=2, class_names=('car', 'person')),
                               input=InputConfig(width=96, height=64))
    path = write_tiny_onnx(tmp_path / 'tiny.onnx', config, config.describe(), seed=3)
    out = run_python(f"""
        import json, sys
        import numpy as np
        from centertrack_ros.core.config import RuntimeConfig
        from centertrack_ros.core.device import device_name
        from centertrack_ros.core.errors import DeviceError
        from centertrack_ros.core.model_spec import ModelSpec, load_model
        model = load_model(ModelSpec(path={str(path)!r}), RuntimeConfig(device='auto'))
        tracker = model.tracker()
        frames = np.random.default_rng(0).integers(0, 255, (4, 120, 160, 3), dtype=np.uint8)
        counts = [len(tracker.step(frame)) for frame in frames]
        print(json.dumps({{'engine': tracker.engine.describe(), 'device': str(tracker.device),
                          'name': device_name(tracker.device), 'frames': len(counts),
                          'classes': list(tracker.config.model.class_names),
                          'torch': sorted(m for m in sys.modules if m.startswith('torch'))}}))
        """)
    result = json.loads(out.strip().split('\n')[-1])
    assert result['torch'] == [] and result['frames'] == 4
    assert result['classes'] == ['car', 'person']
    assert result['engine'].startswith('onnxruntime (')
    assert result['device'] in ('cpu', 'cuda') and result['name'].startswith(result['device'])
