"""Exported networks compute what the PyTorch network computes."""

from __future__ import annotations

import onnx
import pytest

from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig
from centertrack_ros.core.model_spec import save_model
from centertrack_ros.core.models.dcn import ModulatedDeformConv2d
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.tools import export

pytestmark = pytest.mark.equality


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """Save a small random-weight generic model with its configuration embedded."""
    config = CenterTrackConfig(
        model=ModelConfig(arch='generic', num_classes=2, class_names=('car', 'pedestrian')),
        input=InputConfig(width=160, height=96))
    path = str(tmp_path_factory.mktemp('export') / 'model.pth')
    save_model(path, build_network(config.model), config, 1)
    return path


def test_onnx_uses_standard_deform_conv_and_matches(checkpoint, tmp_path, capsys) -> None:
    """ONNX export holds DeformConv nodes and onnxruntime agrees with PyTorch."""
    output = tmp_path / 'model.onnx'
    assert export.main(['--model', checkpoint, '--output', str(output)]) == 0
    graph = onnx.load(str(output)).graph
    deformable = sum(isinstance(m, ModulatedDeformConv2d)
                     for m in build_network(ModelConfig(arch='generic')).modules())
    assert deformable == 16  # DLA-up 2+4+6, IDA-up 4
    assert sum(node.op_type == 'DeformConv' for node in graph.node) == deformable
    assert [i.name for i in graph.input] == list(export.INPUT_NAMES)
    assert [o.name for o in graph.output] == ['hm', 'reg', 'wh', 'tracking']
    assert 'largest deviation from PyTorch' in capsys.readouterr().out


def test_torchscript_matches(checkpoint, tmp_path) -> None:
    """The traced TorchScript file reproduces the network (and the input size is honoured)."""
    output = tmp_path / 'model.pt'
    assert export.main(['--model', checkpoint, '--format', 'torchscript', '--input-size',
                        '128x64', '--output', str(output)]) == 0
    assert output.stat().st_size > 1_000_000


def test_bad_checkpoint_is_a_clear_error(tmp_path, capsys) -> None:
    """A missing checkpoint gives exit code 2 and names the file."""
    missing = tmp_path / 'missing.pth'
    assert export.main(['--model', str(missing), '--output', str(tmp_path / 'x.onnx')]) == 2
    assert str(missing) in capsys.readouterr().err
