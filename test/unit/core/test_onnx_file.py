"""Exported ``.onnx`` files as models: their header, metadata formats, and what does not fit.

The files here are hand-made graphs with the export's signature (``support.tiny_onnx``); the
export of a real network, and running it without torch, are in
``test/fidelity/test_onnx_without_torch.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
from support.tiny_onnx import replace_metadata, write_tiny_onnx

from centertrack_ros.core.config import (
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
)
from centertrack_ros.core.errors import CheckpointError
from centertrack_ros.core.model_spec import ModelSpec, load_model
from centertrack_ros.core.onnx_file import (
    METADATA_FORMAT,
    inspect_onnx,
    read_metadata,
    tensorrt_cache_dir,
)
from centertrack_ros.core.onnx_model import export_metadata

CONFIG = CenterTrackConfig(
    model=ModelConfig(arch='generic', num_classes=2, class_names=('car', 'pedestrian')),
    input=InputConfig(width=64, height=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)),
    tracker=TrackerConfig(track_thresh=0.35, new_thresh=0.45, max_age=7,
                          association='hungarian'))
RUNTIME = RuntimeConfig(device='cpu', engine='onnxruntime')


def _load(path: Path, **spec) -> object:
    return load_model(ModelSpec(path=str(path), **spec), RUNTIME)


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert '\n' not in message and 'Traceback' not in message
    return message


def test_header_equals_what_the_onnx_package_reads(tmp_path):
    path = write_tiny_onnx(tmp_path / 'model.onnx', CONFIG, export_metadata(CONFIG))
    info = inspect_onnx(path)
    model = onnx.load(str(path))

    def shape(value):
        return tuple(d.dim_value if d.HasField('dim_value') else d.dim_param
                     for d in value.type.tensor_type.shape.dim)

    assert [(v.name, v.shape) for v in info.inputs] == [(v.name, shape(v))
                                                        for v in model.graph.input]
    assert [(v.name, v.shape) for v in info.outputs] == [(v.name, shape(v))
                                                         for v in model.graph.output]
    assert dict(info.opsets) == {o.domain: o.version for o in model.opset_import}
    assert dict(info.metadata_props) == {p.key: p.value for p in model.metadata_props}
    assert (info.ir_version, info.producer) == (model.ir_version, model.producer_name)
    assert info.opset == 19 and info.input_size() == (64, 32)
    assert info.input('image').shape == ('batch', 3, 32, 64)
    assert info.input('image').fixed == (None, 3, 32, 64)


def test_metadata_round_trip_carries_the_writer_versions(tmp_path):
    """What an export stores (format 2) describes the model completely, with its writer."""
    import torch

    stored = export_metadata(CONFIG)
    path = write_tiny_onnx(tmp_path / 'model.onnx', CONFIG, stored)
    assert read_metadata(path) == json.loads(json.dumps(stored))
    assert stored['format'] == METADATA_FORMAT == 2
    assert stored['versions']['torch'] == torch.__version__
    assert stored['versions']['onnx'] == onnx.__version__
    assert stored['versions']['opset'] == 19 and stored['versions']['onnxscript']
    assert stored['batch'] == {'dynamic': True, 'min': 1, 'max': 64}
    model = _load(path)
    assert (model.config.model, model.config.input, model.config.tracker) == \
        (CONFIG.model, CONFIG.input, CONFIG.tracker)
    assert model.network is None and model.onnx_path == path
    assert model.metadata['versions'] == stored['versions']


def test_metadata_of_older_exports_is_still_read(tmp_path):
    """Format 1 (before the versions were recorded): the configuration sections only."""
    path = write_tiny_onnx(tmp_path / 'old.onnx', CONFIG, CONFIG.describe())
    model = _load(path)
    assert (model.config.model, model.config.input, model.config.tracker) == \
        (CONFIG.model, CONFIG.input, CONFIG.tracker)


def test_metadata_of_a_newer_writer_is_refused_with_its_version(tmp_path):
    newer = dict(export_metadata(CONFIG), format=METADATA_FORMAT + 1)
    newer['versions'] = dict(newer['versions'], centertrack_ros='9.1.0')
    path = write_tiny_onnx(tmp_path / 'newer.onnx', CONFIG, newer)
    with pytest.raises(CheckpointError) as error:
        _load(path)
    assert 'written by centertrack_ros 9.1.0 in metadata format 3' in _one_line(error)
    assert 'upgrade centertrack_ros' in str(error.value)
    unknown = export_metadata(CONFIG)
    unknown['model'] = dict(unknown['model'], heads_v2=True)
    unknown['versions'] = dict(unknown['versions'], centertrack_ros='0.3.0')
    replace_metadata(path, path, unknown)
    with pytest.raises(CheckpointError) as error:
        _load(path)
    assert 'settings this version does not know (model.heads_v2)' in _one_line(error)
    assert 'written by centertrack_ros 0.3.0' in str(error.value)
    replace_metadata(path, path, '{"model": ')
    with pytest.raises(CheckpointError, match='metadata is not JSON'):
        _load(path)


def test_a_foreign_file_says_what_to_pass(tmp_path):
    path = write_tiny_onnx(tmp_path / 'foreign.onnx',
                           CONFIG.replace(model=ModelConfig(num_classes=3)), None)
    with pytest.raises(CheckpointError) as error:
        _load(path)
    message = _one_line(error)
    assert 'carries no centertrack_ros metadata' in message
    for setting in ('model.preset', 'model.arch', 'model.num_classes'):
        assert setting in message
    assert '64x32 input, 3 classes' in message
    # Described by the user: the input size comes from the graph, the rest must fit it.
    model = _load(path, arch='dla_34', num_classes=3)
    assert (model.config.input.width, model.config.input.height) == (64, 32)
    assert model.metadata is None
    with pytest.raises(CheckpointError, match=r'scores 3 classes \(its hm head\), but '
                                              r'model.num_classes is 1'):
        _load(path, arch='dla_34')
    with pytest.raises(CheckpointError, match='takes 64x32 inputs'):
        _load(path, arch='dla_34', num_classes=3, input_width=96)


def test_a_graph_that_does_not_fit_its_description_is_refused(tmp_path):
    described = export_metadata(CONFIG)
    cases = [
        ({'heads': {'hm': 2, 'reg': 2, 'wh': 2, 'tracking': 2, 'ltrb_amodal': 4}},
         'has the heads hm, reg, wh, tracking, ltrb_amodal, but the configured model has '
         'hm, reg, wh, tracking'),
        ({'heads': {'hm': 5, 'reg': 2, 'wh': 2, 'tracking': 2}}, 'scores 5 classes'),
        ({'inputs': ('image', 'pre_image')}, 'lacks the pre_hm input, but model.pre_hm is True'),
        ({'inputs': ('pre_image', 'pre_hm')}, 'has no input named image'),
    ]
    for index, (change, message) in enumerate(cases):
        path = write_tiny_onnx(tmp_path / f'{index}.onnx', CONFIG, described, **change)
        with pytest.raises(CheckpointError) as error:
            _load(path)
        assert message in _one_line(error)


def test_damaged_and_other_files_are_refused_in_one_line(tmp_path):
    good = write_tiny_onnx(tmp_path / 'good.onnx', CONFIG, export_metadata(CONFIG)).read_bytes()
    for name, content in [('cut_early.onnx', good[:40]), ('cut_late.onnx', good[:-30]),
                          ('empty.onnx', b''), ('text.onnx', b'not a model\n' * 20),
                          ('zeros.onnx', bytes(500))]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointError) as error:
            _load(path)
        assert 'cannot read ONNX file' in _one_line(error), name
    (tmp_path / 'folder.onnx').mkdir()
    with pytest.raises(CheckpointError, match='is a directory'):
        _load(tmp_path / 'folder.onnx')


def test_tensorrt_engines_are_cached_per_file_content(tmp_path):
    first = write_tiny_onnx(tmp_path / 'a.onnx', CONFIG, export_metadata(CONFIG), seed=1)
    other = write_tiny_onnx(tmp_path / 'b.onnx', CONFIG, export_metadata(CONFIG), seed=2)
    copy = tmp_path / 'elsewhere' / 'a.onnx'
    copy.parent.mkdir()
    shutil.copy(first, copy)
    root = tmp_path / 'cache'
    directory = tensorrt_cache_dir(first, root)
    assert directory.parent == root / 'tensorrt'
    assert tensorrt_cache_dir(copy, root) == directory, 'the same model, wherever it lies'
    assert tensorrt_cache_dir(other, root) != directory, 'other weights, another engine'
    write_tiny_onnx(first, CONFIG, export_metadata(CONFIG), seed=3)  # a re-export
    assert tensorrt_cache_dir(first, root) != directory
