"""``centertrack_bench``: its reports are complete, consistent and name the device.

The timings themselves are not asserted (they belong in ``benchmarks/RESULTS.md``, not in
unit tests); what is checked is that every configuration asked for is measured, that the
figures hang together (stages add up to the total, the speed-up is the ratio of the p50s),
that the Markdown names the device and the machine, and that the threshold calibration gives
the tracker a realistic number of tracks rather than none or all K.
"""

from __future__ import annotations

import json

import pytest
import torch

from centertrack_ros.core.config import (
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
)
from centertrack_ros.core.device import cpu_model
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.tools import bench
from centertrack_ros.tools.random_models import random_network

TINY = ['--arch', 'generic', '--input-size', '128x64', '--image-size', '320x192',
        '--iterations', '3', '--warmup', '1']


def test_report_covers_every_configuration_and_adds_up(tmp_path) -> None:
    lines: list[str] = []
    json_path, md_path = tmp_path / 'bench.json', tmp_path / 'bench.md'
    code = bench.main(TINY + ['--batch', '1', '2', '--engine', 'torch', '--device', 'cpu',
                              '--json', str(json_path), '--markdown', str(md_path)],
                      out=lines.append)
    assert code == 0
    payload = json.loads(json_path.read_text())
    assert payload['device'].startswith('cpu (') and cpu_model() in payload['device']
    assert payload['machine']['cores'] and payload['command'].startswith('centertrack_bench ')
    single, batched = payload['results']
    assert (single['batch'], batched['batch']) == (1, 2)
    assert single['engine'] == batched['engine'] == 'torch'
    for result in (single, batched):
        assert 0 < result['fast']['p50'] <= result['fast']['p99']
    original = single['original']
    assert set(original) == set(bench.STAGES) | {'total'}
    stage_sum = sum(original[stage]['mean'] for stage in bench.STAGES)
    assert stage_sum == pytest.approx(original['total']['mean'], rel=0.05)
    assert single['speedup'] == pytest.approx(original['total']['p50'] / single['fast']['p50'])
    # One baseline per architecture and size: the batched row is compared per frame with it.
    assert batched['original'] == original
    assert batched['speedup'] == pytest.approx(original['total']['p50'] / batched['fast']['p50'])
    markdown = md_path.read_text()
    assert markdown.startswith(f'### {payload["device"]}')
    assert markdown.count('| generic | 128x64 | 320x192 | torch | fp32 | off |') == 2
    assert any(line.startswith('generic 128x64') for line in lines)


def test_auto_engine_is_what_the_node_runs_on_the_device(tmp_path) -> None:
    json_path = tmp_path / 'bench.json'
    assert bench.main(TINY + ['--device', 'cpu', '--no-baseline', '--json', str(json_path)],
                      out=lambda text: None) == 0
    (result,) = json.loads(json_path.read_text())['results']
    assert result['engine'] == 'onnxruntime' and result['original'] == {}


def test_each_engine_is_a_row_beside_one_baseline(tmp_path) -> None:
    json_path = tmp_path / 'bench.json'
    assert bench.main(TINY + ['--device', 'cpu', '--engine', 'onnxruntime', 'reference',
                              '--json', str(json_path)], out=lambda text: None) == 0
    results = json.loads(json_path.read_text())['results']
    assert [r['engine'] for r in results] == ['onnxruntime', 'reference']
    assert results[0]['original'] == results[1]['original'] != {}


@pytest.mark.parametrize('arch', ['generic', 'dla_34'])
def test_calibration_gives_a_realistic_track_count(arch) -> None:
    model = ModelConfig(arch=arch, backbone='mobilenet', num_classes=1)
    config = CenterTrackConfig(model=model, input=InputConfig(width=256, height=128),
                               runtime=RuntimeConfig(device='cpu'))
    network = random_network(model, he_init=True)
    frames = bench.synthetic_frames(512, 256, count=8)
    tracker = CenterTracker(network, config)
    threshold = bench.calibrate_threshold(tracker, frames, detections=20)
    tracker.set_tracker_config(TrackerConfig(track_thresh=threshold, pre_thresh=threshold,
                                             new_thresh=threshold))
    counts = [sum(1 for t in tracker.step(frame) if t.active) for frame in frames]
    assert 5 <= sum(counts) / len(counts) <= 40, counts


def test_bad_size_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(['--input-size', '960by544'])
    assert exit_info.value.code == 2
    assert "expected WIDTHxHEIGHT, got '960by544'" in capsys.readouterr().err


@pytest.mark.ros
@pytest.mark.slow
def test_ros_overhead_round_trip(tmp_path, run_python) -> None:
    json_path, md_path = tmp_path / 'ros.json', tmp_path / 'ros.md'
    run = run_python(module='centertrack_ros.tools.bench', args=[
        '--ros', '--frames', 12, '--image-size', '640x360', '--device', 'cpu',
        '--json', json_path, '--markdown', md_path])
    assert run.wait(240) == 0, run.output()
    figures = json.loads(json_path.read_text())
    assert figures['frames_received'] == figures['frames_sent'] == 12
    assert 0 < figures['step_p50'] and 0 < figures['e2e_p50'] <= figures['e2e_p99']
    assert figures['model_name'] == 'centertrack_synthetic.pth'
    assert '`rgb8` 640x360 frames' in md_path.read_text()


@pytest.mark.gpu
def test_cuda_configurations_report_graph_precision_and_memory(tmp_path) -> None:
    json_path = tmp_path / 'bench.json'
    assert bench.main(TINY + ['--device', 'cuda', '--precision', 'fp32', 'fp16',
                              '--graph', 'on', '--json', str(json_path)],
                      out=lambda text: None) == 0
    results = json.loads(json_path.read_text())['results']
    assert [(r['precision'], r['cuda_graph']) for r in results] == [('fp32', True),
                                                                    ('fp16', True)]
    assert all(r['engine'] == 'torch' and r['peak_gpu_mib'] > 0 for r in results)
    assert torch.cuda.get_device_name(0) in results[0]['device']
