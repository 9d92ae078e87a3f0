"""Inference engines: pre-processing + network + decoding for a batch of cameras.

* :class:`ReferenceEngine` follows the original step by step on the host; the CPU default and
  the yardstick for the others.
* :class:`TorchEngine` does everything after the upload on the network's device (the CUDA
  fast path: fp16, channels-last, CUDA graphs).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..config import CenterTrackConfig
from .base import FrameRequest, InferenceEngine
from .reference import ReferenceEngine
from .torch_engine import TorchEngine

__all__ = ['ENGINES', 'FrameRequest', 'InferenceEngine', 'ReferenceEngine', 'TorchEngine',
           'make_engine', 'resolve_engine']

_LOG = logging.getLogger(__name__)
ENGINES = ('auto', 'reference', 'torch')


def resolve_engine(kind: str, device: torch.device) -> str:
    """Name the engine ``kind`` means on ``device``: ``auto`` becomes ``torch`` or ``reference``."""
    if kind not in ENGINES:
        raise ValueError(f'engine must be one of {ENGINES}, got {kind!r}')
    if kind == 'auto':
        return 'torch' if device.type == 'cuda' else 'reference'
    return kind


def make_engine(kind: str, network: nn.Module, config: CenterTrackConfig, device: torch.device,
                num_cameras: int = 1) -> InferenceEngine:
    """Create an engine: ``auto`` is the fast path on CUDA and the reference path on the CPU."""
    k = config.tracker.K
    if resolve_engine(kind, device) == 'reference':
        return ReferenceEngine(network, config.model, config.input, device, num_cameras, k)
    runtime = config.runtime
    half = runtime.half and device.type == 'cuda'
    if runtime.half and not half:
        _LOG.warning('half precision is slower than float32 without CUDA; running float32 on %s',
                     device)
    return TorchEngine(network, config.model, config.input, device, num_cameras, k, half=half,
                       channels_last=runtime.channels_last, cuda_graph=runtime.cuda_graph)
