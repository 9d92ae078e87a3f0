"""The network as an ONNX graph: export, a content-keyed cache, and the metadata it carries.

The graph is the network only -- inputs ``image``, ``pre_image``, ``pre_hm`` (normalised NCHW
float32, the prior at input resolution; a model without the previous-frame inputs has fewer),
outputs the raw heads (``hm`` as logits). Deformable convolutions become the standard ONNX
``DeformConv`` operator (opset 19), which ONNX Runtime runs on the CPU since 1.25 and
TensorRT's parser takes since 10.1, so no custom plugin is needed. The batch dimension is
dynamic (one camera or several per call); the input size is fixed by the export.

Exporting takes seconds, so the node exports once and keeps the file in a cache keyed by
everything the graph depends on: the weights (hashed), the model and input configuration, the
opset and the versions of torch and this package. Our configuration is stored in the file's
metadata properties, so an exported file is a complete model on its own.
"""

from __future__ import annotations

import hashlib
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

ONNX_OPSET = 19  # the first opset with DeformConv
INPUT_NAMES = ('image', 'pre_image', 'pre_hm')
METADATA_PROPERTY = 'centertrack_ros'
CACHE_VARIABLE = 'CENTERTRACK_CACHE_DIR'
MAX_BATCH = 64
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


def export_onnx(network: nn.Module, config: CenterTrackConfig, path: str | Path,
                batch: int = 2) -> None:
    """Write ``network`` as ONNX with a dynamic batch and our configuration as metadata.

    ``batch`` is the size of the example used for tracing (any batch runs afterwards).
    """
    import onnx
    from torch.export import Dim

    module = HeadsAsTuple(network.float().eval(), tuple(config.model.heads)).eval()
    inputs = example_inputs(config.input.width, config.input.height, batch)
    dim = Dim('batch', min=1, max=MAX_BATCH)
    path = Path(path)
    # The exporter's optimisation passes log hundreds of INFO lines and warn about their own
    # deprecations; none of it is about the model.
    quiet = [logging.getLogger(name) for name in ('onnx_ir', 'onnxscript', 'torch.onnx')]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(module, inputs, str(path), opset_version=ONNX_OPSET, dynamo=True,
                              input_names=list(INPUT_NAMES), output_names=list(module.heads),
                              dynamic_shapes={name: {0: dim} for name in INPUT_NAMES},
                              external_data=False, verbose=False)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_PROPERTY, json.dumps(config.describe(), sort_keys=True)
    onnx.save(graph, str(path))


def read_metadata(path: str | Path) -> Optional[dict[str, Any]]:
    """Return the configuration an exported file carries, or None for a foreign file."""
    import onnx
    graph = onnx.load(str(path), load_external_data=False)
    for entry in graph.metadata_props:
        if entry.key == METADATA_PROPERTY:
            return json.loads(entry.value)
    return None


def graph_input_size(path: str | Path) -> tuple[int, int]:
    """Return the ``(width, height)`` of an exported network's ``image`` input."""
    import onnx
    graph = onnx.load(str(path), load_external_data=False).graph
    for graph_input in graph.input:
        if graph_input.name == 'image':
            dims = graph_input.type.tensor_type.shape.dim
            return int(dims[3].dim_value), int(dims[2].dim_value)
    raise ValueError(f'{path} has no input named image: not a CenterTrack network export')


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
    """Hash everything an export depends on: weights, shape, input, opset, versions."""
    parts = {
        'weights': weights_digest(network), 'model': config.describe()['model'],
        'input': config.describe()['input'], 'opset': ONNX_OPSET, 'torch': torch.__version__,
        'centertrack_ros': __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cache_dir() -> Path:
    """Where exports are kept: ``$CENTERTRACK_CACHE_DIR``, else the user's cache directory."""
    setting = os.environ.get(CACHE_VARIABLE)
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'centertrack_ros'


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
