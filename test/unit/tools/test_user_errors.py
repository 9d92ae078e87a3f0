"""User errors in every tool: one line on stderr, status 2, no traceback, nothing loaded in vain.

The cases a new user met (issue "the first hour"): an exported network with an engine that
cannot run it, a directory or a text file or a TorchScript archive as the model, an output that
exists (found before the model loads), and the evaluate tool's help text.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.bags import START_TIME, make_random_model
from support.tiny_onnx import write_tiny_onnx

from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig

BAG = [sys.executable, '-m', 'centertrack_ros.tools.bag']
EVALUATE = [sys.executable, '-m', 'centertrack_ros.tools.evaluate_model']


def run(command: list, *args) -> subprocess.CompletedProcess:
    """Run a tool in a subprocess (as a user does), output captured."""
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                          timeout=240)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """Check the shape of a user error and return its line."""
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope='module')
def bag(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('bags') / 'drive'
    result = run(BAG, 'convert', '--synthetic', 3, '--frames', 2, '--size', '160x96', '-o', out,
                 '--start-time', START_TIME, '-q')
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory) -> Path:
    config = CenterTrackConfig(model=ModelConfig(arch='generic', num_classes=1),
                               input=InputConfig(width=160, height=96))
    path = tmp_path_factory.mktemp('models') / 'net.onnx'
    return write_tiny_onnx(path, config, config.describe())


def test_an_onnx_model_with_the_torch_engine(bag, exported, tmp_path):
    line = one_line_error(run(BAG, 'run', bag, '--model', exported, '--engine', 'torch',
                              '-o', tmp_path / 'out', '-q'), 'centertrack_bag run: error:')
    assert 'onnxruntime' in line, 'says which engine runs an exported network'


@pytest.mark.parametrize('kind', ['directory', 'text', 'torchscript'])
def test_a_model_file_is_recognised_for_what_it_is(bag, tmp_path, kind):
    path = tmp_path / 'model.pth'
    if kind == 'directory':
        path.mkdir()
        expected = 'is a directory'
    elif kind == 'text':
        path.write_text('not a model\n')
        expected = 'not a PyTorch checkpoint'
    else:
        with zipfile.ZipFile(path, 'w') as archive:  # the layout torch.jit.save writes
            archive.writestr('model/constants.pkl', b'')
            archive.writestr('model/code/__torch__.py', 'class Model: pass\n')
            archive.writestr('model/data.pkl', b'')
        expected = 'TorchScript'
    line = one_line_error(run(BAG, 'run', bag, '--model', path, '-o', tmp_path / 'out', '-q'))
    assert expected in line
    assert 'weights_only' not in line
    evaluate = one_line_error(run(EVALUATE, '--model', path, '--seeds', '1:1', '--frames', 2))
    assert expected in evaluate


def test_an_existing_output_is_refused_before_the_model_loads(bag, tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'notes.txt').write_text('mine\n')
    # The model does not exist either: the output is what is reported, so nothing was loaded.
    line = one_line_error(run(BAG, 'run', bag, '--model', tmp_path / 'missing.pth',
                              '-o', tmp_path / 'out', '-q'))
    assert 'exists' in line and 'out' in line


def test_run_names_what_it_loaded_and_tracks(bag, tmp_path):
    model = make_random_model(tmp_path / 'm.pth')
    result = run(BAG, 'run', bag, '--model', model, '-o', tmp_path / 'out', '-q')
    assert result.returncode == 0, result.stderr
    assert f'loaded {model}' in result.stderr
    assert 'tracked 2 frames' in result.stdout


def test_evaluate_help_shows_no_empty_defaults():
    result = run(EVALUATE, '--help')
    assert result.returncode == 0
    text = ' '.join(result.stdout.split())
    assert '(default: )' not in text
    assert text.count('the bundled model') == 1
