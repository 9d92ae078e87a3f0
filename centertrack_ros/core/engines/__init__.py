"""Inference engines: pre-processing + network + decoding for a batch of cameras.

* :class:`ReferenceEngine` follows the original step by step on the host; the yardstick for
  the others.
* :class:`OnnxRuntimeEngine` runs the exported network in ONNX Runtime around the reference
  engine's host arithmetic: the CPU default, and TensorRT/CUDA where they are installed.
* :class:`TorchEngine` does everything after the upload on the network's device (the CUDA
  fast path: fp16, channels-last, CUDA graphs).

``auto`` means ONNX Runtime on the CPU when it is installed (exporting the network once,
cached) and the torch fast path on CUDA; when ONNX Runtime cannot run the model, ``auto``
falls back with a warning, while an engine asked for by name fails with the reason.

Importing this package imports no engine: each is imported when it is made (or named), so a
process that runs an exported file in ONNX Runtime never imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..config import ENGINES, CenterTrackConfig, TrackerConfig
from ..errors import EngineError
from .base import FrameRequest, InferenceEngine

if TYPE_CHECKING:
    from torch import nn

    from .ort_engine import OnnxRuntimeEngine
    from .reference import ReferenceEngine
    from .torch_engine import TorchEngine

__all__ = ['ENGINES', 'EngineError', 'FrameRequest', 'InferenceEngine', 'OnnxRuntimeEngine',
           'ReferenceEngine', 'TorchEngine', 'make_engine', 'resolve_engine']

_LOG = logging.getLogger(__name__)
_LAZY = {'OnnxRuntimeEngine': '.ort_engine', 'ReferenceEngine': '.reference',
         'TorchEngine': '.torch_engine'}


def __getattr__(name: str) -> Any:
    """Import an engine class the first time it is named (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a blocked or broken package
        return False


def resolve_engine(kind: str, device: Any, onnx_file: bool = False) -> str:
    """Name the engine ``kind`` means on ``device`` (``auto`` resolved; see module doc).

    ``onnx_file``: the model is an exported file, which only ONNX Runtime runs.
    """
    if kind not in ENGINES:
        raise ValueError(f'engine must be one of {ENGINES}, got {kind!r}')
    if kind != 'auto':
        return kind
    if onnx_file:
        return 'onnxruntime'
    if device.type == 'cuda':
        return 'torch'
    return 'onnxruntime' if _installed('onnxruntime') else 'reference'


def cached_export(network: nn.Module, config: CenterTrackConfig,
                  directory: Optional[Path] = None) -> Path:
    """Return the network's export in the cache, made once (:mod:`..onnx_model`)."""
    from ..onnx_model import cached_export as export
    return export(network, config, directory)


def make_engine(kind: str, network: Optional[nn.Module], config: CenterTrackConfig,
                device: Any, num_cameras: int = 1, onnx_path: Optional[Path] = None,
                model_tracker: Optional[TrackerConfig] = None) -> InferenceEngine:
    """Create the engine ``kind`` names for ``network`` (or the exported ``onnx_path``).

    ``device``: a :class:`~..device.Device` (or anything with ``type`` and ``index``).
    ``model_tracker``: the model's own tracker settings, which an export of ``network``
    records in its metadata (default ``config.tracker``).

    Raises:
        EngineError: the engine asked for by name cannot run the model.

    """
    runtime = config.runtime
    k = config.tracker.K
    resolved = resolve_engine(kind, device, onnx_path is not None and network is None)
    if resolved == 'onnxruntime':
        try:
            from ..onnx_file import tensorrt_cache_dir
            from .ort_engine import OnnxRuntimeEngine

            if onnx_path is not None:
                path = onnx_path
            elif network is not None:
                path = cached_export(
                    network, config.replace(tracker=model_tracker or config.tracker))
            else:
                raise ValueError('make_engine needs a network or an ONNX file')
            # The TensorRT cache is keyed by the file's content, hashed only where TensorRT
            # may run.
            cache = tensorrt_cache_dir(path) if device.type == 'cuda' else None
            return OnnxRuntimeEngine(path, config.model, config.input, device, num_cameras, k,
                                     threads=runtime.threads,
                                     half=runtime.half and device.type == 'cuda',
                                     cache=cache)
        except Exception as exc:  # export and session errors come in many types
            if kind != 'auto' or network is None:
                if isinstance(exc, EngineError):
                    raise
                raise EngineError(f'the onnxruntime engine cannot run this model: '
                                  f'{type(exc).__name__}: {exc}') from exc
            resolved = 'torch' if device.type == 'cuda' else 'reference'
            _LOG.warning('the onnxruntime engine cannot run this model (%s: %s); using the %s '
                         'engine', type(exc).__name__, exc, resolved)
    if network is None:
        raise EngineError(f'the {resolved} engine needs the PyTorch network; this model is an '
                          f'ONNX file, which only the onnxruntime engine runs')
    import torch
    if runtime.threads:
        torch.set_num_threads(runtime.threads)  # process-wide: one model per process
    if resolved == 'reference':
        from .reference import ReferenceEngine
        return ReferenceEngine(network, config.model, config.input, device, num_cameras, k)
    from .torch_engine import TorchEngine
    half = runtime.half and device.type == 'cuda'
    if runtime.half and not half:
        _LOG.warning('half precision is slower than float32 without CUDA; running float32 on %s',
                     device)
    return TorchEngine(network, config.model, config.input, device, num_cameras, k, half=half,
                       channels_last=runtime.channels_last, cuda_graph=runtime.cuda_graph)
