"""The lent-GPU scripts keep working: benchmarks/gpu_check.py, gpu_train.py, gpu_prepare.py.

They run once, on a machine with CUDA but without ROS or a package registry, where a typo
costs the whole run. CI has neither the GPU nor that machine, so it checks what it can: the
code they run imports with ROS blocked as it is there, the bench command lines they build
parse, the wheel handling, and the training script's CPU rehearsal end to end.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from support import REPO

from centertrack_ros.core.checkpoint import read_checkpoint
from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.tools import bench

BENCHMARKS = REPO / 'benchmarks'


def _script(name: str):
    """Import ``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f'centertrack_{name}', BENCHMARKS / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_ros_env() -> dict:
    common = _script('gpu_common')
    return common.child_env(block_ros=True)


def test_the_gpu_code_paths_import_without_ros() -> None:
    """ROS is refused as on the GPU machine, and the bench, engines and training still load."""
    code = '\n'.join([
        'import importlib',
        "for name in ('rclpy', 'sensor_msgs.msg', 'vision_msgs.msg', 'rosbags.rosbag2',",
        "             'motmetrics', 'ament_index_python.packages'):",
        '    try:',
        '        importlib.import_module(name)',
        "        raise SystemExit(f'{name} imported')",
        '    except ModuleNotFoundError:',
        '        pass',
        'import centertrack_ros.tools.bench, centertrack_ros.tools.train',
        'import centertrack_ros.training.trainer, centertrack_ros.core.engines',
        'from centertrack_ros.core.model_spec import default_model_path',
        "print('ok', default_model_path())",
    ])
    proc = subprocess.run([sys.executable, '-c', code], env=_no_ros_env(), cwd=str(REPO),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith('ok ') and 'centertrack_synthetic.pth' in proc.stdout


@pytest.mark.parametrize(('cuda', 'providers'), [
    (True, ['CPUExecutionProvider']),
    (True, ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']),
    (False, ['CPUExecutionProvider']),
])
def test_gpu_check_bench_parts_are_valid_bench_command_lines(cuda, providers) -> None:
    parts = _script('gpu_check').bench_parts(cuda, providers)
    parsed = {part['name']: bench.build_parser().parse_args(part['args']) for part in parts}
    torch_parts = [name for name in parsed if name != 'bench-onnxruntime']
    assert len(torch_parts) == 4
    for name in torch_parts:
        args = parsed[name]
        assert args.engine == ['torch'] and args.batch == [1, 6]
        assert args.graph == ['on', 'off'] and not args.no_baseline
        assert args.device == ('cuda' if cuda else 'cpu')
        assert args.image_size == ((1920, 1080) if cuda else (320, 192))
        assert args.input_size == ([(960, 544)] if cuda else [(128, 64)])
    assert sorted((parsed[n].arch[0], parsed[n].precision[0]) for n in torch_parts) == [
        ('dla_34', 'fp16'), ('dla_34', 'fp32'), ('generic', 'fp16'), ('generic', 'fp32')]
    if cuda and 'CUDAExecutionProvider' not in providers:
        assert 'bench-onnxruntime' not in parsed
    else:
        ort = parsed['bench-onnxruntime']
        assert ort.engine == ['onnxruntime'] and ort.graph == ['off']
        tensorrt = 'TensorrtExecutionProvider' in providers
        assert ort.precision == (['fp32', 'fp16'] if tensorrt else ['fp32'])


def test_gpu_check_counts_a_junit_report(tmp_path) -> None:
    report = tmp_path / 'junit.xml'
    report.write_text(
        '<testsuites><testsuite tests="4" failures="1" errors="0" skipped="1">'
        '<testcase classname="test.a" name="one"/><testcase classname="test.a" name="two">'
        '<failure message="x"/></testcase><testcase classname="test.b" name="three">'
        '<skipped/></testcase><testcase classname="test.b" name="four"/>'
        '</testsuite></testsuites>')
    counts = _script('gpu_check')._junit_counts(report)
    assert (counts['passed'], counts['failures'], counts['skipped']) == (2, 1, 1)
    assert counts['not_passed'] == ['test.a::two: failure']
    assert _script('gpu_check')._junit_counts(tmp_path / 'missing.xml') == {}


def test_wheels_are_matched_to_their_modules_and_this_python(tmp_path) -> None:
    common = _script('gpu_common')
    wheel = tmp_path / 'demo_pkg-1.0-py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as archive:
        archive.writestr('demo_pkg/__init__.py', '')
        archive.writestr('demo_helper.py', '')
        archive.writestr('demo_pkg-1.0.dist-info/METADATA', 'Name: demo-pkg\n')
    assert common.wheel_modules(wheel) == ['demo_helper', 'demo_pkg']
    assert common.wheel_fits(wheel)
    assert not common.wheel_fits(tmp_path / 'demo_pkg-1.0-cp27-cp27m-win32.whl')


def test_a_part_is_stopped_with_its_children_at_the_end_of_its_time_box(tmp_path,
                                                                      capsys) -> None:
    common = _script('gpu_common')
    pid_file = tmp_path / 'grandchild.pid'
    code = ('import subprocess, sys, time\n'
            'child = subprocess.Popen(["sleep", "60"])\n'
            f'open({str(pid_file)!r}, "w").write(str(child.pid))\n'
            'print("started", flush=True)\n'
            'time.sleep(60)\n')
    record = common.run_part([sys.executable, '-c', code], common.Progress(), 'part',
                             timeout=3.0)
    assert record['status'] == 'timeout' and record['seconds'] < 20
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f'/proc/{grandchild}').exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f'/proc/{grandchild}').exists() or \
        Path(f'/proc/{grandchild}/stat').read_text().split()[2] == 'Z'
    assert 'part] started' in capsys.readouterr().out


def test_gpu_prepare_finds_the_pins_of_the_carried_wheels() -> None:
    prepare = _script('gpu_prepare')
    pins = prepare.pinned_versions(prepare.WHEELS)
    assert set(pins) == set(prepare.WHEELS) and all(pins.values())


@pytest.mark.slow
def test_gpu_train_rehearsal_runs_end_to_end(tmp_path) -> None:
    """The training script's CPU rehearsal: time box, periodic checkpoints, a loadable model."""
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / 'gpu_train.py'), '--out', str(out), '--rehearse',
         '--minutes', '0.5', '--checkpoint-minutes', '0.05', '--log-seconds', '2'],
        cwd=str(REPO), env=_no_ros_env(), capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ['log.jsonl', 'model_last.pth',
                                                      'summary.json', 'train.log']
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['stopped_by'] == 'time' and summary['steps'] > 0
    assert summary['seconds'] < 60 and summary['rehearsal']
    assert (summary['amp'], summary['channels_last'], summary['pin_memory']) == (
        'bfloat16', True, False)
    assert len(summary['checkpoints']) >= 2 and summary['checkpoints'][-1]['final']
    assert summary['checkpoints'][-1]['step'] == summary['steps']
    records = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    assert records[0]['type'] == 'config' and records[-1]['type'] == 'summary'
    assert any(r['type'] == 'progress' and r['steps_per_s'] > 0 for r in records)
    assert all(line.startswith('[') for line in (out / 'train.log').read_text().splitlines())
    raw = torch.load(out / 'model_last.pth', map_location='cpu', weights_only=True)
    assert {'epoch', 'state_dict'} <= set(raw) and 'optimizer' not in raw  # official format
    assert all(t.dtype == torch.float16 for t in raw['state_dict'].values()
               if t.is_floating_point())
    assert read_checkpoint(str(out / 'model_last.pth')).extra['centertrack_ros']['training'][
        'script'] == 'benchmarks/gpu_train.py'
    tracker = load_tracker(ModelSpec(path=str(out / 'model_last.pth')),
                           runtime=RuntimeConfig(engine='reference'))
    config = tracker.config
    assert (config.model.arch, config.model.backbone) == ('generic', 'mobilenet')
    assert config.model.class_names == ('car', 'pedestrian')
    assert (config.input.width, config.input.height) == (320, 192)
    assert (out / 'model_last.pth').stat().st_size < 8 * 2 ** 20
