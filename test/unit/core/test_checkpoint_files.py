"""``model.path`` names something that is not a checkpoint: one line that says what it is.

Never PyTorch's paragraph about ``weights_only``: the user learns what the file is and what
to give instead (:func:`~centertrack_ros.core.checkpoint.read_checkpoint`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from support.tiny_onnx import write_tiny_onnx

from centertrack_ros.core.checkpoint import read_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, InputConfig, RuntimeConfig
from centertrack_ros.core.errors import CheckpointError
from centertrack_ros.core.model_spec import ModelSpec, default_model_path, load_model
from centertrack_ros.tools import export


def _refusal(path: Path) -> str:
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(str(path))
    message = str(error.value)
    assert '\n' not in message and 'weights_only' not in message, message
    assert str(path) in message
    return message


def test_a_directory(tmp_path):
    message = _refusal(tmp_path)
    assert message.endswith('is a directory; model.path must name a checkpoint file (.pth) '
                            'or an exported .onnx')
    with pytest.raises(CheckpointError, match='is a directory'):
        load_model(ModelSpec(path=str(tmp_path)))


def test_a_torchscript_archive(tmp_path):
    """What ``centertrack_export --format torchscript`` writes (a zip with code/, constants)."""
    path = tmp_path / 'model.pt'
    with pytest.warns(Warning):  # torch.jit.trace is deprecated in torch 2.10+
        torch.jit.trace(torch.nn.Conv2d(3, 2, 3), torch.zeros(1, 3, 8, 8)).save(str(path))
    assert 'is a TorchScript archive; use the checkpoint it was exported from or the .onnx ' \
           'export' in _refusal(path)


def test_files_that_are_not_checkpoints(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('epoch: 3\nweights: somewhere else\n')
    assert "is not a PyTorch checkpoint (a text file starting 'epoch: 3 weights: " \
        in _refusal(text)
    noise = tmp_path / 'noise.pth'
    noise.write_bytes(np.random.default_rng(0).integers(1, 256, 3000, dtype=np.uint8).tobytes())
    assert 'is not a PyTorch checkpoint (unrecognised content starting' in _refusal(noise)
    archive = tmp_path / 'weights.pth'
    np.savez(archive.with_suffix(''), conv=np.zeros(3))
    os.replace(archive.with_suffix('.npz'), archive)
    assert 'is not a PyTorch checkpoint (a zip archive without data.pkl; it holds conv.npy)' \
        in _refusal(archive)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    assert 'is empty' in _refusal(empty)
    assert 'checkpoint not found' in _refusal(tmp_path / 'missing.pth')


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
def test_pickles_that_torch_save_did_not_write(tmp_path):
    whole = tmp_path / 'whole_module.pth'
    torch.save(torch.nn.Linear(2, 2), whole)  # the module object, not its state dict
    assert ('is not a PyTorch checkpoint of weights: it holds objects beyond tensors and plain '
            "values (torch.nn.modules.linear.Linear); save the model's state_dict() instead") \
        in _refusal(whole)
    plain = tmp_path / 'plain.pth'
    plain.write_bytes(pickle.dumps({'weights': [1.0, 2.0]}, protocol=4))
    assert 'is not a readable PyTorch checkpoint (a damaged pickle, or one that torch.save ' \
        'did not write)' in _refusal(plain)


def _bundled_with(path: Path, member: str, damage: Callable[[bytes], bytes]) -> Path:
    """Copy the bundled checkpoint's zip to ``path`` with ``damage`` done to ``*member``."""
    with zipfile.ZipFile(default_model_path()) as source, zipfile.ZipFile(path, 'w') as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, damage(data) if item.filename.endswith(member) else data)
    return path


def test_damaged_checkpoints(tmp_path):
    content = Path(default_model_path()).read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(content[:len(content) // 2])  # the zip's directory is at its end
    assert 'a damaged or truncated zip archive' in _refusal(cut)
    corrupt = _bundled_with(tmp_path / 'corrupt.pth', 'data.pkl', lambda data: b'\x00' * len(data))
    assert 'is not a readable PyTorch checkpoint (a damaged pickle' in _refusal(corrupt)
    short = _bundled_with(tmp_path / 'short_tensor.pth', '/data/0', lambda data: data[:10])
    assert 'cannot read checkpoint' in _refusal(short)
    assert 'damaged, or not a torch save' in _refusal(short)


def test_an_onnx_model_under_another_name(tmp_path):
    config = CenterTrackConfig(input=InputConfig(width=64, height=32))
    path = write_tiny_onnx(tmp_path / 'model.pth', config, config.describe())
    assert 'is not a PyTorch checkpoint (it is an ONNX model: name it with the extension ' \
           '.onnx)' in _refusal(path)
    with pytest.raises(CheckpointError, match='name it with the extension .onnx'):
        load_model(ModelSpec(path=str(path)), RuntimeConfig(device='cpu'))


def test_real_checkpoints_still_load(tmp_path):
    """The official layouts: the bundled zip save and PyTorch's legacy (pre-1.6) format."""
    bundled = read_checkpoint(default_model_path())
    legacy = tmp_path / 'legacy.pth'
    torch.save({'epoch': 3, 'state_dict': bundled.state_dict}, legacy,
               _use_new_zipfile_serialization=False)
    again = read_checkpoint(str(legacy))
    assert again.epoch == 3 and again.state_dict.keys() == bundled.state_dict.keys()


def test_centertrack_export_shows_the_reason_on_one_line(tmp_path, capsys):
    text = tmp_path / 'notes.pth'
    text.write_text('not weights\n')
    for model in (tmp_path, text):
        assert export.main(['--model', str(model), '--output', str(tmp_path / 'x.onnx')]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1 and str(model) in err
