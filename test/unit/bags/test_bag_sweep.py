"""Tuning on a bag offline: ``centertrack_evaluate --bag BAG --sweep --rank hota``.

Each grid point must be scored exactly as a user would score it by hand: ``centertrack_bag run``
with those tracker options, then ``centertrack_bag eval`` against the bag's ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.bags import cli, convert_synthetic, make_random_model

from centertrack_ros.tools.evaluate_model import main as evaluate_main

FRAMES = 12
TRACK_THRESHOLDS = (0.3, 0.5)


@pytest.fixture(scope='module')
def model(tmp_path_factory) -> Path:
    return make_random_model(tmp_path_factory.mktemp('model') / 'random.pth')


@pytest.fixture(scope='module')
def drive(tmp_path_factory) -> Path:
    return convert_synthetic(tmp_path_factory.mktemp('bags') / 'drive', 9, FRAMES,
                             '--size', '320x192')


def by_hand(tmp_path: Path, model: Path, drive: Path, track_thresh: float) -> dict:
    """``run`` with one tracker setting, then ``eval``: the overall metrics."""
    tracks = tmp_path / f'tracks_{track_thresh}'
    report = tmp_path / f'eval_{track_thresh}.json'
    assert cli('run', drive, '-o', tracks, '--model', model, '--device', 'cpu',
               '--track-thresh', track_thresh, '--pre-thresh', 0.5, '--new-thresh', 0.5,
               '-q') == 0
    assert cli('eval', '--gt', drive, '--tracks', tracks, '--json', report) == 0
    return json.loads(report.read_text())['overall']


@pytest.mark.slow
def test_offline_sweep_on_a_bag_scores_each_setting_as_run_and_eval_do(tmp_path, model, drive,
                                                                       capsys):
    output = tmp_path / 'sweep.json'
    assert evaluate_main(['--model', str(model), '--device', 'cpu', '--bag', str(drive),
                          '--sweep', '--rank', 'hota',
                          '--grid-track', ','.join(map(str, TRACK_THRESHOLDS)),
                          '--grid-pre', '0.5', '--grid-new', '0.5', '--json', str(output)]) == 0
    printed = capsys.readouterr().out
    assert '2 tracker settings' in printed and 'best first (hota)' in printed
    data = json.loads(output.read_text())
    assert data['mode'] == 'offline' and data['bags'] == [str(drive)]
    results = data['all']
    assert sorted(r['tracker']['track_thresh'] for r in results) == list(TRACK_THRESHOLDS)
    hotas = [r['metrics']['OVERALL']['hota'] for r in results]
    assert hotas == sorted(hotas, reverse=True)
    assert data['best'] == results[0]
    for result in results:
        metrics = result['metrics']['OVERALL']
        assert metrics['num_frames'] == FRAMES
        expected = by_hand(tmp_path, model, drive, result['tracker']['track_thresh'])
        for key in ('hota', 'deta', 'assa', 'mota', 'idf1', 'id_switches', 'num_predictions'):
            assert metrics[key] == pytest.approx(expected[key], abs=1e-9), key
    # The two settings differ in what they publish, so the sweep really changed the tracker.
    predictions = {r['tracker']['track_thresh']: r['metrics']['OVERALL']['num_predictions']
                   for r in results}
    assert predictions[0.5] < predictions[0.3]


def test_bag_only_options_without_a_bag_are_refused(capsys):
    assert evaluate_main(['--live']) == 2
    assert '--live and --params-file apply to --bag' in capsys.readouterr().err


def test_a_bag_without_ground_truth_is_named(tmp_path, model, capsys):
    bag = tmp_path / 'no_gt'
    assert cli('convert', '--synthetic', 9, '--frames', 3, '--size', '320x192', '--no-gt',
               '-o', bag, '-q') == 0
    assert evaluate_main(['--model', str(model), '--bag', str(bag)]) == 2
    err = capsys.readouterr().err
    assert 'ground truth' in err and 'no_gt' in err
