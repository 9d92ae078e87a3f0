"""``centertrack_demo`` end to end: the real node over DDS, metrics, and the annotated video.

A short drive with the random-weight test model keeps this quick; the bundled model's quality
is not what is checked here.
"""

from __future__ import annotations

import re

import cv2
import pytest
from bag_support import make_random_model

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
