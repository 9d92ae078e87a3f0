"""Choosing the torch device from the ``device`` setting."""

from __future__ import annotations

import logging
import platform

import torch

_LOG = logging.getLogger(__name__)


class DeviceError(RuntimeError):
    """The requested device cannot be used."""


def resolve_device(setting: str) -> torch.device:
    """Map ``auto``/``cpu``/``cuda``/``cuda:N`` to a usable :class:`torch.device`.

    ``auto`` falls back to the CPU with a warning when CUDA is unavailable; an explicit CUDA
    request fails instead, because silently running 20x slower is worse than not starting.
    """
    if setting == 'cpu':
        return torch.device('cpu')
    available = torch.cuda.is_available()
    if setting == 'auto':
        if available:
            return torch.device('cuda')
        _LOG.warning('CUDA is not available; running CenterTrack on the CPU')
        return torch.device('cpu')
    if not available:
        raise DeviceError(f'device {setting!r} requested but CUDA is not available '
                          f'(torch {torch.__version__}); use device:=auto or cpu')
    device = torch.device(setting)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f'device {setting!r} requested but only {torch.cuda.device_count()} '
                          'CUDA device(s) exist')
    return device


def device_name(device: torch.device) -> str:
    """Human-readable device name for logs and benchmark reports."""
    if device.type == 'cuda':
        return f'{device} ({torch.cuda.get_device_name(device)})'
    return f'cpu ({cpu_model()}, {torch.get_num_threads()} threads)'


def cpu_model() -> str:
    """Return the CPU model name (``platform`` alone gives only the ISA on Linux)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def use_ieee_fp32_convolutions(device: torch.device) -> None:
    """Make float32 convolutions on ``device`` round like float32 (process-wide on CUDA).

    On Ampere and newer GPUs cuDNN runs float32 convolutions in TF32 by default: a 10-bit
    mantissa, so errors of fp16 size, which is outside the 1e-3 the official outputs are
    matched to. The float32 path exists for fidelity; ``half`` is the fast path.
    """
    if device.type != 'cuda':
        return
    conv = getattr(torch.backends.cudnn, 'conv', None)
    if conv is not None and hasattr(conv, 'fp32_precision'):
        conv.fp32_precision = 'ieee'
    else:  # PyTorch before the per-operator precision settings
        torch.backends.cudnn.allow_tf32 = False
