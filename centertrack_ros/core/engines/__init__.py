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
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..config import ENGINES, CenterTrackConfig
from ..onnx_model import cache_dir, cached_export
from .base import FrameRequest, InferenceEngine
from .ort_engine import EngineError, OnnxRuntimeEngine
from .reference import ReferenceEngine
from .torch_engine import TorchEngine

__all__ = ['ENGINES', 'EngineError', 'FrameRequest', 'InferenceEngine', 'OnnxRuntimeEngine',
           'ReferenceEngine', 'TorchEngine', 'make_engine', 'resolve_engine']

_LOG = logging.getLogger(__name__)


def resolve_engine(kind: str, device: torch.device, onnx_file: bool = False) -> str:
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
    return 'onnxruntime' if importlib.util.find_spec('onnxruntime') else 'reference'


def make_engine(kind: str, network: Optional[nn.Module], config: CenterTrackConfig,
                device: torch.device, num_cameras: int = 1,
                onnx_path: Optional[Path] = None) -> InferenceEngine:
    """Create the engine ``kind`` names for ``network`` (or the exported ``onnx_path``).

    Raises:
        EngineError: the engine asked for by name cannot run the model.

    """
    runtime = config.runtime
    k = config.tracker.K
    resolved = resolve_engine(kind, device, onnx_path is not None and network is None)
    if resolved == 'onnxruntime':
        try:
            path = onnx_path or cached_export(network, config)
            return OnnxRuntimeEngine(path, config.model, config.input, device, num_cameras, k,
                                     threads=runtime.threads,
                                     half=runtime.half and device.type == 'cuda',
                                     cache=cache_dir())
        except Exception as exc:  # export and session errors come in many types
            if kind != 'auto' or network is None:
                raise EngineError(f'the onnxruntime engine cannot run this model: '
                                  f'{type(exc).__name__}: {exc}') from exc
            resolved = 'torch' if device.type == 'cuda' else 'reference'
            _LOG.warning('the onnxruntime engine cannot run this model (%s: %s); using the %s '
                         'engine', type(exc).__name__, exc, resolved)
    if network is None:
        raise EngineError(f'the {resolved} engine needs the PyTorch network; this model is an '
                          f'ONNX file, which only the onnxruntime engine runs')
    if runtime.threads:
        torch.set_num_threads(runtime.threads)  # process-wide: one model per process
    if resolved == 'reference':
        return ReferenceEngine(network, config.model, config.input, device, num_cameras, k)
    half = runtime.half and device.type == 'cuda'
    if runtime.half and not half:
        _LOG.warning('half precision is slower than float32 without CUDA; running float32 on %s',
                     device)
    return TorchEngine(network, config.model, config.input, device, num_cameras, k, half=half,
                       channels_last=runtime.channels_last, cuda_graph=runtime.cuda_graph)
