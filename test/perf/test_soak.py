"""Soak test of the live node, reduced for CI (1500 frames; the full runs are 10000 each).

``python -m centertrack_ros.tools.soak`` starts the node in its own process, sends it small
frames over DDS one at a time (each after the previous result) and samples the node's RSS and
the round-trip latency; it fails when RSS grows by more than the limit after the warm-up,
when a frame goes unanswered or when the node does not exit cleanly on SIGINT. The full runs
(one camera, three cameras through one node, the 3D model) and their figures are in
``benchmarks/SOAK.md``; the two others run here in miniature, for their mechanics. The
verdict logic itself is checked on made-up series, so that a leak would really fail the run.
"""

from __future__ import annotations

import json

import pytest

from centertrack_ros.tools.soak import Sample, SoakReport, markdown, summarise

CI_FRAMES = 1500
LIMIT_MIB = 8.0


@pytest.mark.ros
@pytest.mark.slow
def test_soak_reduced(tmp_path, run_python):
    report_path = tmp_path / 'soak.json'
    soak = run_python(module='centertrack_ros.tools.soak',
                      args=['--frames', CI_FRAMES, '--max-growth', LIMIT_MIB, '--json',
                            report_path, '--markdown', tmp_path / 'soak.md', '-q'])
    soak.wait_for(r'frames in \d+ s', timeout=600)
    code = soak.wait(60)
    report = json.loads(report_path.read_text())
    print(soak.output().strip().splitlines()[-1])
    assert code == 0, soak.output()
    assert report['passed'] and not report['problems']
    assert report['answered'] == CI_FRAMES
    assert abs(report['rss_growth_mib']) <= LIMIT_MIB
    assert report['rss_start_mib'] > 0 and report['rss_max_mib'] >= report['rss_end_mib']
    assert report['node_exit_code'] == 0
    node = report['node']
    assert int(node['frames_processed']) == CI_FRAMES
    assert node['frames_rejected'] == '0' and node['frames_dropped'] == '0'
    assert 0 < report['latency_ms']['p50'] <= report['latency_ms']['p99']
    assert len(report['samples']) >= 100
    assert '| frames | 1500 of 1500 answered |' in (tmp_path / 'soak.md').read_text()


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize(('options', 'frames', 'setup'), [
    (['--cameras', '3'], 40, '3 cameras through one node'),
    (['--ddd'], 60, 'one camera, 3D model with `camera_info` for every frame'),
], ids=['three_cameras', '3d'])
def test_soak_tiny_with_several_cameras_and_the_3d_model(tmp_path, run_python, options, frames,
                                                          setup):
    """The full runs' set-ups in miniature: every frame of every camera (and its 3D boxes)."""
    report_path = tmp_path / 'soak.json'
    soak = run_python(module='centertrack_ros.tools.soak',
                      args=['--frames', frames, *options, '--warm-up', 20, '--sample-every', 10,
                            '--max-growth', 1000, '--json', report_path, '--markdown',
                            tmp_path / 'soak.md', '-q'])
    soak.wait_for(r'frames in \d+ s', timeout=900)
    code = soak.wait(60)
    report = json.loads(report_path.read_text())
    assert code == 0, soak.output()
    assert report['passed'] and not report['problems'], report['problems']
    cameras = report['cameras']
    assert report['frames'] == report['answered'] == cameras * frames
    assert report['answered_per_camera'] == [frames] * cameras
    assert report['answered_3d'] == (frames if report['ddd'] else 0)
    node = report['node']
    assert int(node['frames_processed']) == int(node['frames_received']) == cameras * frames
    assert node['frames_rejected'] == node['frames_dropped'] == '0'
    assert report['engine'] == 'auto' and 'onnxruntime' in report['node_description']
    assert report['samples'][-1]['frame'] == cameras * frames
    assert setup in (tmp_path / 'soak.md').read_text()


def series(rss: list[float], frames_per_sample: int = 100, warm_up: int = 100) -> SoakReport:
    """Return a finished report whose RSS samples are ``rss`` (MiB), one per 100 frames."""
    report = SoakReport(command='test', started='now', machine={}, frames=len(rss) *
                        frames_per_sample, warm_up=warm_up, frame_size='8x8', model='test',
                        max_growth_mib=LIMIT_MIB, node_exit_code=0)
    report.answered = report.frames
    report.samples = [Sample((i + 1) * frames_per_sample, float(i), value, 1.0, 2.0)
                      for i, value in enumerate(rss)]
    summarise(report)
    return report


def test_the_verdict_fails_a_leak_and_passes_noise():
    flat = series([900.0] + [800.0 + (i % 3) * 0.4 for i in range(30)])  # warm-up ignored
    assert flat.passed, flat.problems
    assert flat.rss_start_mib == 800.0 and abs(flat.rss_slope_mib_per_1000) < 0.1
    leak = series([800.0 + 0.5 * i for i in range(30)])  # 5 MiB per 1000 frames
    assert not leak.passed
    assert 'node RSS grew by 14.0 MiB' in leak.problems[0]
    assert leak.rss_slope_mib_per_1000 == pytest.approx(5.0)
    unanswered = series([800.0] * 30)
    unanswered.answered -= 1
    summarise(unanswered)
    assert not unanswered.passed
    crashed = series([800.0] * 30)
    crashed.node_exit_code = -11
    summarise(crashed)
    assert 'node exit code -11' in crashed.problems
    assert 'FAIL' in markdown(crashed)
