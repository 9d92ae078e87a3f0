"""Small hand-made ONNX files with the exported network's signature, written without torch.

An export of a real network takes tens of seconds on two cores; the loading, metadata and
no-torch tests need only a file whose inputs and heads look like one: ``image``,
``pre_image``, ``pre_hm`` in, ``hm``/``reg``/``wh``/``tracking`` (and optional heads) out at a
quarter of the input size, computed by one strided convolution of the concatenated inputs.
ONNX Runtime runs it like an export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from centertrack_ros.core.config import CenterTrackConfig


def write_tiny_onnx(path: Path, config: CenterTrackConfig,
                    metadata: Optional[Mapping[str, Any]] = None, *, seed: int = 0,
                    heads: Optional[Mapping[str, int]] = None, opset: int = 19,
                    inputs: tuple[str, ...] = ('image', 'pre_image', 'pre_hm')) -> Path:
    """Write a network-shaped graph for ``config``'s input size and heads to ``path``.

    ``metadata``: the ``centertrack_ros`` metadata property (a mapping, stored as JSON, or
    None for a foreign file). ``heads`` replaces ``config.model.heads`` (name -> channels),
    ``inputs`` the graph inputs, to make files that do not fit their description.
    """
    width, height = config.input.width, config.input.height
    heads = dict(config.model.heads if heads is None else heads)
    channels = {'image': 3, 'pre_image': 3, 'pre_hm': 1}
    generator = np.random.default_rng(seed)
    graph_inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                  ['batch', channels[name], height, width])
                    for name in inputs]
    nodes = [helper.make_node('Concat', list(inputs), ['features'], axis=1)]
    initializers, outputs = [], []
    total = sum(channels[name] for name in inputs)
    for name, count in heads.items():
        weight = generator.normal(0, 0.05, (count, total, 4, 4)).astype(np.float32)
        initializers.append(numpy_helper.from_array(weight, f'{name}_weight'))
        nodes.append(helper.make_node('Conv', ['features', f'{name}_weight'], [name],
                                      strides=[4, 4], kernel_shape=[4, 4]))
        outputs.append(helper.make_tensor_value_info(
            name, TensorProto.FLOAT, ['batch', count, height // 4, width // 4]))
    graph = helper.make_graph(nodes, 'tiny_centertrack', graph_inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='tiny_onnx')
    model.ir_version = 9
    if metadata is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = 'centertrack_ros', json.dumps(dict(metadata))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def replace_metadata(source: Path, target: Path, metadata: Optional[Any]) -> Path:
    """Copy the ONNX file ``source`` to ``target`` with other (or no) centertrack_ros metadata.

    ``metadata``: a mapping (stored as JSON), a string (stored as it is), or None (removed).
    """
    model = onnx.load(str(source))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != 'centertrack_ros']
    del model.metadata_props[:]
    if metadata is not None:
        kept.append(('centertrack_ros', metadata if isinstance(metadata, str)
                     else json.dumps(dict(metadata))))
    for key, value in kept:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))
    return target
