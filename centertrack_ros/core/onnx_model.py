"""The network as an ONNX graph: export, a content-keyed cache, and the metadata it carries.

This is the torch side (an export needs the network); reading an exported file needs neither
torch nor ``onnx`` and lives in :mod:`~centertrack_ros.core.onnx_file`.

The graph is the network only -- inputs ``image``, ``pre_image``, ``pre_hm`` (normalised NCHW
float32, the prior at input resolution; a model without the previous-frame inputs has fewer),
outputs the raw heads (``hm`` as logits). Deformable convolutions become the standard ONNX
``DeformConv`` operator (opset 19), which ONNX Runtime runs on the CPU since 1.25 and
TensorRT's parser takes since 10.1, so no custom plugin is needed. The batch dimension is
dynamic (one camera or several per call); the input size is fixed by the export.

Exporting takes seconds, so the node exports once and keeps the file in a cache keyed by
everything the graph depends on: the weights (hashed), the model and input configuration, the
opset and the versions that make the graph. Our configuration, those versions and the batch
range are stored in the file's metadata properties (:func:`export_metadata`), so an exported
file is a complete model on its own.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .. import __version__
from .config import CenterTrackConfig
from .onnx_file import (  # noqa: F401 (the reading side, re-exported for existing callers)
    CACHE_VARIABLE,
    INPUT_NAMES,
    MAX_BATCH,
    METADATA_FORMAT,
    METADATA_PROPERTY,
    ONNX_OPSET,
    cache_dir,
    graph_input_size,
    read_metadata,
)

_LOG = logging.getLogger(__name__)


class HeadsAsTuple(nn.Module):
    """Wrap a CenterTrack network so it returns a tuple of heads in a fixed order."""

    def __init__(self, network: nn.Module, heads: tuple[str, ...]) -> None:
        super().__init__()
        self.network = network
        self.heads = tuple(heads)

    def forward(self, image: torch.Tensor, pre_image: torch.Tensor,
                pre_hm: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the network; heads in ``self.heads`` order."""
        outputs = self.network(image, pre_image, pre_hm)
        return tuple(outputs[name] for name in self.heads)


def example_inputs(width: int, height: int, batch: int = 1,
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the exported signature."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, height, width, generator=generator)
    pre_image = torch.randn(batch, 3, height, width, generator=generator)
    pre_hm = torch.rand(batch, 1, height, width, generator=generator)
    return image, pre_image, pre_hm


def export_metadata(config: CenterTrackConfig) -> dict[str, Any]:
    """Return what an export stores about itself (format 2 of :mod:`.onnx_file`).

    ``config.describe()`` (model, input, tracker), the metadata ``format``, the ``versions``
    that make the graph and the ``batch`` sizes it takes.
    """
    data: dict[str, Any] = {'format': METADATA_FORMAT}
    data.update(config.describe())
    data['versions'] = export_versions()
    data['batch'] = {'dynamic': True, 'min': 1, 'max': MAX_BATCH}
    return data


def export_versions() -> dict[str, Any]:
    """Return the versions an exported graph depends on (package, torch, onnx, opset)."""
    return {'centertrack_ros': __version__, 'torch': torch.__version__,
            'onnx': _version('onnx'), 'onnxscript': _version('onnxscript'),
            'opset': ONNX_OPSET}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ''


def export_onnx(network: nn.Module, config: CenterTrackConfig, path: str | Path,
                batch: int = 2) -> None:
    """Write ``network`` as ONNX with a dynamic batch and :func:`export_metadata`.

    ``batch`` is the size of the example used for tracing (any batch from 1 to
    ``MAX_BATCH`` runs afterwards).
    """
    from torch.export import Dim

    module = HeadsAsTuple(network.float().eval(), tuple(config.model.heads)).eval()
    inputs = example_inputs(config.input.width, config.input.height, batch)
    dim = Dim('batch', min=1, max=MAX_BATCH)
    # The exporter's optimisation passes log hundreds of INFO lines and warn about their own
    # deprecations; none of it is about the model.
    quiet = [logging.getLogger(name) for name in ('onnx_ir', 'onnxscript', 'torch.onnx')]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            program = torch.onnx.export(
                module, inputs, opset_version=ONNX_OPSET, dynamo=True,
                input_names=list(INPUT_NAMES), output_names=list(module.heads),
                dynamic_shapes={name: {0: dim} for name in INPUT_NAMES}, verbose=False)
            if program is None:  # only the legacy exporter (dynamo=False) returns nothing
                raise RuntimeError('torch.onnx.export returned no ONNX program')
            # Set on the exporter's in-memory model: no second parse of the written file.
            program.model.metadata_props.clear()
            program.model.metadata_props[METADATA_PROPERTY] = json.dumps(
                export_metadata(config), sort_keys=True)
            program.save(str(path), external_data=False)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


def weights_digest(network: nn.Module) -> str:
    """Hash every parameter and buffer (name, dtype, shape, bytes) of ``network``."""
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{data.dtype}|{tuple(data.shape)}|'.encode())
        digest.update(data.numpy().tobytes() if data.dtype != torch.bfloat16
                      else data.float().numpy().tobytes())
    return digest.hexdigest()


def cache_key(network: nn.Module, config: CenterTrackConfig) -> str:
    """Hash everything an export depends on and stores: weights, configuration, versions.

    The tracker section is part of the key because the file's metadata carries it (pass the
    model's own settings, not a run's overrides, or every override would export anew).
    """
    parts = {'weights': weights_digest(network), 'format': METADATA_FORMAT,
             'versions': export_versions(), **config.describe()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cached_export(network: nn.Module, config: CenterTrackConfig,
                  directory: Optional[Path] = None) -> Path:
    """Return the ONNX file of ``network``, exporting it first if the cache has none."""
    directory = (directory or cache_dir()) / 'onnx'
    path = directory / f'{cache_key(network, config)}.onnx'
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    _LOG.info('exporting the network to ONNX (once per model; cached in %s)', directory)
    # Export beside the target and rename: a concurrent process never reads half a file.
    handle, partial = tempfile.mkstemp(suffix='.onnx.partial', dir=directory)
    os.close(handle)
    try:
        export_onnx(network, config, partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path
