"""``centertrack_bag benchmark`` and the live sweep, over DDS with the real node in a process.

Mechanics only (these run on loaded 2-core machines): at a slow rate every frame is answered;
the report's numbers are those of ``centertrack_bag eval`` on the recorded output; stdout
holds the JSON alone with ``--json -``; the live sweep really sets the node's tracker between
replays; a terminated benchmark takes its node along.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psutil
import pytest
from support.bags import START_TIME, cli, make_random_model

from centertrack_ros.tools.evaluate_model import main as evaluate_main

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FRAMES = 20
SLOW = '0.25'  # 2.5 frames/s per camera: time enough for the test model on a loaded CPU
METRICS = ('hota', 'deta', 'assa', 'mota', 'idf1', 'id_switches', 'num_predictions', 'misses')


@pytest.fixture(scope='module')
def model(tmp_path_factory) -> Path:
    return make_random_model(tmp_path_factory.mktemp('model') / 'random.pth')


def drive(folder: Path, name: str, seed: int) -> Path:
    path = folder / name
    assert cli('convert', '--synthetic', seed, '--frames', FRAMES, '--size', '320x192', '-o',
               path, '--start-time', START_TIME, '-q') == 0
    return path


def evaluated(gt: Path, tracks: Path, report: Path) -> dict:
    assert cli('eval', '--gt', gt, '--tracks', tracks, '--json', report) == 0
    return json.loads(report.read_text())['overall']


def test_two_cameras_every_frame_answered_and_the_report_matches_eval(tmp_path, model, capfd):
    front, rear = drive(tmp_path, 'front', 9), drive(tmp_path, 'rear', 11)
    record = tmp_path / 'recorded'
    capfd.readouterr()
    assert cli('benchmark', front, rear, '--model', model, '--device', 'cpu', '--rate', SLOW,
               '--json', '-', '--record', record, '-q') == 0
    out, err = capfd.readouterr()
    data = json.loads(out)  # stdout holds the JSON and nothing else
    assert '| live x0.25 (2.5 fps) | 40/40 (100.0 %) |' in err  # the table went to stderr
    assert 'cameras:=["front", "rear"]' in ' '.join(data['settings']['node_command'])
    offline, live = data['runs']
    assert (offline['label'], live['label']) == ('offline', 'live x0.25')
    assert live['settled'] is True
    assert (live['overall']['frames'], live['overall']['answered']) == (2 * FRAMES, 2 * FRAMES)
    for name, bag in (('front', front), ('rear', rear)):
        camera = live['cameras'][name]
        assert camera['answered_fraction'] == 1.0 and camera['unanswered_frames'] == []
        assert camera['node_counters'] == {
            'frames_received': FRAMES, 'frames_processed': FRAMES, 'frames_dropped': 0,
            'frames_lost_in_transport': 0, 'frames_rejected': 0}, camera['node_counters']
        assert camera['latency']['samples'] == FRAMES and camera['latency']['p50_ms'] > 0
        assert camera['unexpected_answers'] == 0
        # The report scores the recorded output exactly as eval does, offline and live.
        for run in (offline, live):
            recorded = record / f'{run["label"].replace(" ", "_")}_{name}'
            expected = evaluated(bag, recorded, tmp_path / f'{recorded.name}.json')
            got = run['cameras'][name]['metrics']
            for key in METRICS:
                assert got[key] == pytest.approx(expected[key], abs=1e-9), (run['label'], key)
    assert live['overall']['metrics']['num_frames'] == 2 * FRAMES


def test_live_sweep_sets_the_node_tracker_between_replays(tmp_path, model):
    bag = drive(tmp_path, 'drive', 9)
    grid = ['--sweep', '--rank', 'hota', '--grid-track', '0.3,0.5', '--grid-pre', '0.5',
            '--grid-new', '0.5']
    base = ['--model', str(model), '--device', 'cpu', '--bag', str(bag)]
    assert evaluate_main(base + ['--live', '--rate', SLOW, '--json', str(tmp_path / 'live.json'),
                                 *grid]) == 0
    assert evaluate_main(base + ['--json', str(tmp_path / 'offline.json'), *grid]) == 0
    live = json.loads((tmp_path / 'live.json').read_text())
    offline = json.loads((tmp_path / 'offline.json').read_text())
    assert live['mode'] == 'live' and live['rate'] == 0.25
    assert [r['answered_fraction'] for r in live['all']] == [1.0, 1.0]
    # Every frame answered: what the node published under each setting is what the same
    # setting gives offline, so each replay ran with its own setting, from fresh tracks.
    offline_by_setting = {r['tracker']['track_thresh']: r['metrics']['OVERALL']
                          for r in offline['all']}
    for result in live['all']:
        expected = offline_by_setting[result['tracker']['track_thresh']]
        for key in METRICS:
            assert result['metrics']['OVERALL'][key] == pytest.approx(expected[key], abs=1e-9)
    predictions = {r['tracker']['track_thresh']: r['metrics']['OVERALL']['num_predictions']
                   for r in live['all']}
    assert predictions[0.5] < predictions[0.3]


def test_a_terminated_benchmark_stops_its_node(tmp_path, model, run_python):
    bag = drive(tmp_path, 'drive', 9)
    benchmark = run_python(module='centertrack_ros.tools.bag', args=[
        'benchmark', bag, '--model', model, '--device', 'cpu', '--rate', '0.05', '-q'])
    benchmark.wait_for(r'live: playing at 0\.05x', timeout=300)
    children = psutil.Process(benchmark.pid).children(recursive=True)
    nodes = [c for c in children if '__ns:=/centertrack_benchmark_' in ' '.join(c.cmdline())]
    assert nodes, [c.cmdline() for c in children]
    benchmark.send_signal(signal.SIGTERM)
    assert benchmark.wait(60) == 130
    assert 'benchmark: interrupted' in benchmark.output()
    gone, alive = psutil.wait_procs(nodes, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
