"""``centertrack_demo`` end to end: the real node over DDS, metrics, and the annotated video.

A short drive with the random-weight test model keeps this quick; the bundled model's quality
is not what is checked here.
"""

from __future__ import annotations

import re
import signal

import cv2
import psutil
import pytest
from support.bags import make_random_model

from centertrack_ros.tools.demo import main as demo_main


@pytest.mark.ros
@pytest.mark.slow
def test_demo_runs_the_node_and_reports(tmp_path, run_python):
    model = make_random_model(tmp_path / 'random.pth')
    output = tmp_path / 'demo'
    demo = run_python(module='centertrack_ros.tools.demo', args=[
        '--model', model, '--frames', 6, '--seed', 3, '--output', output, '--device', 'cpu',
        '--association', 'byte', '-q'])
    assert demo.wait(240) == 0, demo.output()
    text = demo.output()
    assert 'frames     6 sent, 6 tracked, 0 dropped by the node' in text, text
    latency = re.search(r'latency    p50 (\d+) ms, p90 (\d+) ms', text)
    assert latency and 0 < int(latency.group(1)) <= int(latency.group(2)), text
    assert re.search(r'quality    HOTA [\d.]+% \(DetA [\d.]+%, AssA [\d.]+%\), '
                     r'MOTA -?[\d.]+%, IDF1 [\d.]+%, ID switches \d+', text), text
    assert 'tracker.association:=byte' in text, 'the node was started with BYTE'
    video = output / 'demo.mp4'
    assert f'video      {video}' in text
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == \
        (640, 384)


def test_demo_refuses_a_missing_model(tmp_path, capsys):
    assert demo_main(['--model', str(tmp_path / 'missing.pth'), '--frames', '3']) == 2
    assert 'checkpoint not found' in capsys.readouterr().err


def _demo_until_active(run_python, tmp_path, *extra):
    model = make_random_model(tmp_path / 'random.pth')
    demo = run_python(module='centertrack_ros.tools.demo', args=[
        '--model', model, '--frames', 300, '--seed', 3, '--output', tmp_path / 'demo',
        '--device', 'cpu', '-q', *extra])
    demo.wait_for(r'node is active; sending frames', timeout=240)
    nodes = psutil.Process(demo.pid).children(recursive=True)
    assert nodes, 'the demo runs its node as a child process'
    return demo, nodes


@pytest.mark.ros
@pytest.mark.slow
def test_sigterm_stops_the_demo_and_its_node(tmp_path, run_python):
    demo, nodes = _demo_until_active(run_python, tmp_path)
    demo.send_signal(signal.SIGTERM)  # as `timeout` does
    assert demo.wait(60) == 130, demo.output()
    _, alive = psutil.wait_procs(nodes, timeout=30)
    assert not alive, f'node process(es) left behind: {[p.pid for p in alive]}'


@pytest.mark.ros
@pytest.mark.slow
def test_a_killed_demo_takes_its_node_along(tmp_path, run_python):
    demo, nodes = _demo_until_active(run_python, tmp_path)
    demo.kill()  # no handler runs: the node gets SIGTERM from the kernel (parent-death signal)
    demo.wait(30)
    _, alive = psutil.wait_procs(nodes, timeout=30)
    assert not alive, f'node process(es) left behind: {[p.pid for p in alive]}'


@pytest.mark.ros
def test_the_demo_fails_at_once_when_the_node_cannot_configure(tmp_path, run_python):
    if torch_cuda_available():
        pytest.skip('this machine has CUDA: device cuda is not an error here')
    model = make_random_model(tmp_path / 'random.pth')
    demo = run_python(module='centertrack_ros.tools.demo', args=[
        '--model', model, '--frames', 3, '--output', tmp_path / 'demo', '--device', 'cuda',
        '-q'])
    # The node says at once that CUDA is not available; the demo must not wait out its
    # 180 s start-up timeout.
    assert demo.wait(90) == 2, demo.output()
    errors = [line for line in demo.output().splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'the node cannot start' in errors[0], demo.output()
    assert 'CUDA' in errors[0]


def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
