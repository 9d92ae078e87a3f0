"""``scripts/requirements-runtime.txt``: the vehicle runtime alone is enough, and stays lean.

The file's pins equal the development lock's, nothing it pulls in (transitively, by the
installed metadata) is torch, torchvision, onnx or onnxscript, and a process that imports the
node module and tracks with an ``.onnx`` model where none of those four can be imported needs
no third-party module outside what the file installs. The same check over the real node's
whole life, over DDS, is in ``test/ros/test_lean_node.py``.
"""

from __future__ import annotations

import json
import warnings

import pytest
from support import runtime_requirements as rt
from support.no_torch import run_python
from support.tiny_onnx import write_tiny_onnx

from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig


def test_the_runtime_pins_are_the_locked_versions():
    runtime = rt.pins(rt.RUNTIME_FILE)
    locked = rt.pins(rt.CONSTRAINTS_FILE)
    assert runtime, 'no pins read'
    assert {name: locked.get(name) for name in runtime} == runtime


def test_the_runtime_pulls_in_neither_torch_nor_onnx():
    installed = rt.closure(rt.pins(rt.RUNTIME_FILE))
    assert {'onnxruntime', 'numpy', 'opencv-python-headless', 'ros-rclpy'} <= installed
    assert sorted(installed & set(rt.EXCLUDED)) == []
    # ... nor anything else the development set adds for training and export
    assert sorted(n for n in installed if n.startswith(('nvidia-', 'cuda-'))) == []


def test_the_closure_follows_requirements(tmp_path):
    """The closure is what metadata says: onnxruntime brings protobuf, not its extras."""
    installed = rt.closure(['onnxruntime'])
    assert {'onnxruntime', 'numpy', 'protobuf', 'flatbuffers'} <= installed
    assert 'sympy' not in installed and 'ml-dtypes' not in installed  # extras only


def test_the_classification_names_what_is_missing():
    sorted_out = rt.classify(['os', 'centertrack_ros', 'vision_msgs', 'numpy', 'torch',
                              'not_a_module_anywhere'], installed={'numpy'})
    assert sorted_out['stdlib'] == ['os'] and sorted_out['own'] == ['centertrack_ros']
    assert sorted_out['msg'] == ['vision_msgs'] and sorted_out['installed'] == ['numpy']
    assert sorted_out['missing'] == ['torch (torch)']
    assert sorted_out['unknown'] == ['not_a_module_anywhere']


@pytest.mark.slow
def test_the_lean_path_imports_only_the_runtime(tmp_path):
    """Node module, session, engine and decoding, tracking an .onnx: nothing from outside."""
    config = CenterTrackConfig(model=ModelConfig(num_classes=2, class_names=('car', 'person')),
                               input=InputConfig(width=96, height=64))
    path = write_tiny_onnx(tmp_path / 'tiny.onnx', config, config.describe(), seed=3)
    out = run_python(f"""
        import json, sys
        import numpy as np
        import centertrack_ros.ros.node
        from centertrack_ros.core.config import RuntimeConfig
        from centertrack_ros.core.model_spec import ModelSpec
        from centertrack_ros.runtime.session import SessionSettings, TrackingSession
        session = TrackingSession.open(SessionSettings(
            model=ModelSpec(path={str(path)!r}),
            runtime=RuntimeConfig(device='cpu', engine='onnxruntime')))
        frames = np.random.default_rng(0).integers(0, 255, (3, 120, 160, 3), dtype=np.uint8)
        tracked = [len(session.step(frame)) for frame in frames]
        print(json.dumps({{'engine': session.status()['engine'], 'frames': len(tracked),
                          'modules': sorted({{m.partition('.')[0] for m in sys.modules}})}}))
        """, env={'CENTERTRACK_BLOCKED_MODULES': ','.join(rt.EXCLUDED)})
    result = json.loads(out.strip().split('\n')[-1])
    assert result['engine'] == 'onnxruntime (CPU)' and result['frames'] == 3
    origin = rt.classify(result['modules'], rt.closure(rt.pins(rt.RUNTIME_FILE)))
    print(json.dumps(origin, indent=1))
    assert {'onnxruntime', 'cv2', 'numpy', 'rclpy'} <= set(origin['installed'])
    assert origin['missing'] == [] and origin['unknown'] == []


# rosdep keys of the Python packages in the first section of requirements-runtime.txt
ROSDEP_KEYS = {'numpy': 'python3-numpy', 'opencv-python-headless': 'python3-opencv',
               'onnxruntime': 'python3-onnxruntime-pip', 'pyyaml': 'python3-yaml'}


def exec_depends(environment: dict[str, str]) -> set[str]:
    """Return package.xml's exec_depends whose condition holds in ``environment``."""
    from catkin_pkg.package import parse_package
    package = parse_package(str(rt.REPO / 'package.xml'))
    with warnings.catch_warnings():  # catkin_pkg's use of pyparsing's old names
        warnings.simplefilter('ignore', DeprecationWarning)
        package.evaluate_conditions(environment)
    return {d.name for d in package.exec_depends if d.evaluated_condition}


def test_rosdep_installs_the_lean_runtime_and_torch_only_when_asked():
    lean = exec_depends({'CENTERTRACK_RUNTIME': 'lean'})
    full = exec_depends({})
    assert {'python3-torch', 'python3-torchvision'} <= full - lean
    assert not {d for d in lean if 'torch' in d or d.startswith('python3-onnx-')}
    runtime = {n for n in rt.pins(rt.RUNTIME_FILE) if not n.startswith('ros-')}
    assert {ROSDEP_KEYS[n] for n in runtime} <= lean
    assert {'rclpy', 'sensor_msgs', 'vision_msgs', 'diagnostic_msgs', 'std_srvs'} <= lean
