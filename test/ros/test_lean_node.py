"""The vehicle runtime: an exported ``.onnx`` tracked where torch cannot be imported (issue 26).

The real ``centertrack_node`` runs in its own process with ``benchmarks/no_torch`` first on
``PYTHONPATH`` (``import torch`` fails there as where it is not installed), the bundled model
exported by ``centertrack_export`` and ``engine: onnxruntime``; this process sends it a few
frames of a synthetic drive over DDS. The node must answer each with tracked detections, name
the execution provider that ran in its diagnostics (``engine``), and import no third-party
module outside what ``scripts/requirements-runtime.txt`` installs (every module it imported in
its life is recorded at exit). ``centertrack_bag run`` and ``centertrack_demo`` do the same in
torch-free processes of their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from support import REPO
from support import runtime_requirements as rt
from support.bags import cli as bag_cli
from support.exported import bundled_onnx
from support.no_torch import NO_TORCH
from support.node_harness import Camera, diagnostics_values, node_running

from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools.harness import CapturedProcess, NodeProcess, process_env

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = '/lean'
FRAMES = 6
CLASSES = {'car', 'pedestrian'}  # the bundled model's


def no_torch_env(modules_out: Path) -> dict[str, str]:
    """Environment additions: torch blocked, imported modules recorded to ``modules_out``."""
    return {'PYTHONPATH': str(NO_TORCH), 'CENTERTRACK_MODULES_OUT': str(modules_out)}


@pytest.fixture(scope='module')
def onnx_model(tmp_path_factory) -> Path:
    """Return the bundled model exported to ONNX (shared by the session)."""
    return bundled_onnx(tmp_path_factory)


@pytest.fixture(scope='module')
def lean_run(onnx_model, ros_client, tmp_path_factory) -> dict[str, Any]:
    """Run the lean node over a short synthetic drive; return what it published and imported."""
    modules_out = tmp_path_factory.mktemp('lean_node') / 'modules.json'
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    node = NodeProcess(NAMESPACE, {'model.path': str(onnx_model), 'engine': 'onnxruntime',
                                   'device': 'cpu'},
                       env=no_torch_env(modules_out),
                       command=rt.recorder_command('centertrack_ros.ros.node'), cwd=str(REPO))
    sequence = generate_sequence(SceneConfig(seed=1, num_frames=FRAMES))
    name = f'{NAMESPACE}/centertrack'
    try:
        with node_running(node, ros_client):
            camera = Camera(ros_client, node)
            results = [camera.track(sequence.image(index)) for index in range(FRAMES)]
            report = diagnostics.wait_for(
                lambda msg: (diagnostics_values(msg, name) or {}).get('frames_processed')
                == str(FRAMES), what=f'diagnostics after {FRAMES} frames', watch=node)
            camera.close()
    finally:
        ros_client.unsubscribe(diagnostics)
    return {'results': results, 'status': diagnostics_values(report, name),
            'log': node.output(), 'modules': json.loads(modules_out.read_text())}


def test_the_lean_node_tracks(lean_run):
    frames = [{d.id: d.results[0].hypothesis.class_id for d in msg.detections}
              for msg in lean_run['results']]
    for index, detections in enumerate(frames):
        print(f'frame {index}: {detections}')
    assert all(frames), 'every frame has detections'
    assert set().union(*(set(f.values()) for f in frames)) <= CLASSES
    assert all(track_id.isdigit() for f in frames for track_id in f)
    kept = set(frames[0]).intersection(*frames[1:])
    assert kept, 'some track keeps its id over the whole drive'


def test_its_diagnostics_name_the_provider_that_ran(lean_run):
    status = lean_run['status']
    assert status['engine'] == 'onnxruntime (CPU)', status
    assert status['model_path'].endswith('.onnx') and status['classes'] == 'car, pedestrian'
    assert 'CPUExecutionProvider' in lean_run['log']


def test_it_never_imports_torch(lean_run):
    modules = set(lean_run['modules'])
    assert {'rclpy', 'onnxruntime', 'vision_msgs', 'centertrack_ros'} <= modules, \
        'the record covers the node'
    assert sorted(modules & {'torch', 'torchvision'}) == []


def test_it_needs_only_the_runtime_requirements(lean_run):
    origin = rt.classify(lean_run['modules'], rt.closure(rt.pins(rt.RUNTIME_FILE)))
    print(json.dumps(origin, indent=1))
    assert origin['missing'] == [], \
        'imported by the lean node but not installed by scripts/requirements-runtime.txt'
    assert origin['unknown'] == []
    assert set(origin['msg']) <= rt.interface_packages() and 'vision_msgs' in origin['msg']


def test_the_bag_tool_runs_the_onnx_without_torch(onnx_model, tmp_path):
    bag = tmp_path / 'drive'
    assert bag_cli('convert', '--synthetic', 1, '--frames', FRAMES, '-o', bag, '-q') == 0
    modules_out = tmp_path / 'modules.json'
    run = CapturedProcess(
        rt.recorder_command('centertrack_ros.tools.bag') + [
            'run', str(bag), '--model', str(onnx_model), '--engine', 'onnxruntime',
            '--device', 'cpu', '--mot', str(tmp_path / 'tracks.txt'), '-q'],
        env=process_env(no_torch_env(modules_out)), cwd=str(REPO))
    assert run.wait(240) == 0, run.output()
    assert f'tracked {FRAMES} frames' in run.output() and 'onnxruntime (CPU)' in run.output()
    rows = [line.split(',') for line in (tmp_path / 'tracks.txt').read_text().splitlines()]
    assert {int(row[0]) for row in rows} == set(range(1, FRAMES + 1)), 'tracks in every frame'
    assert 'torch' not in json.loads(modules_out.read_text())


def test_the_demo_runs_the_onnx_without_torch(onnx_model, tmp_path):
    modules_out = tmp_path / 'modules.json'
    demo = CapturedProcess(
        rt.recorder_command('centertrack_ros.tools.demo') + [
            '--model', str(onnx_model), '--engine', 'onnxruntime', '--device', 'cpu',
            '--frames', '4', '--output', str(tmp_path / 'demo'), '-q'],
        env=process_env(no_torch_env(modules_out)), cwd=str(REPO))
    assert demo.wait(240) == 0, demo.output()
    text = demo.output()
    assert 'frames     4 sent, 4 tracked, 0 dropped by the node' in text, text
    assert 'engine:=onnxruntime' in text
    # The demo's node runs in the demo's environment (torch blocked there too) and answered
    # every frame; the demo process itself never imported torch either.
    assert 'torch' not in json.loads(modules_out.read_text())
