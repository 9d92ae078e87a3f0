"""Choosing the device from the ``device`` setting, without importing torch unless it is wanted.

A node that runs an exported ``.onnx`` model in ONNX Runtime never imports torch (issue 26), so
the device is a small type of its own, :class:`Device`, and CUDA's availability is asked of
whoever will run the network: torch for the torch engines (and whenever torch is already
loaded), ONNX Runtime's execution providers plus the CUDA driver otherwise.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import logging
import os
import platform
import sys
from typing import Any, Optional

from .errors import DeviceError

_LOG = logging.getLogger(__name__)
TORCH_ENGINES = ('torch', 'reference')
GPU_PROVIDERS = ('CUDAExecutionProvider', 'TensorrtExecutionProvider')


class Device(str):
    """A device as torch names it: ``cpu``, ``cuda`` or ``cuda:N``; ``type`` and ``index``.

    It is a ``str`` (its text is exactly ``str(torch.device(...))``) so that every torch call
    that takes a device takes it unchanged (torch accepts device strings everywhere), while
    nothing here needs torch. It equals a ``torch.device`` of the same type and index.
    """

    def __new__(cls, spec: Any) -> 'Device':
        """Parse ``spec`` (``cpu``, ``cuda``, ``cuda:N``, or anything with ``type``/``index``)."""
        if not isinstance(spec, str):
            index = getattr(spec, 'index', None)
            spec = spec.type if index is None else f'{spec.type}:{index}'
        kind, _, index = spec.partition(':')
        if kind not in ('cpu', 'cuda') or (index and not index.isdigit()) or \
                (kind == 'cpu' and index) or (_ and not index):
            raise DeviceError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
        return super().__new__(cls, f'{kind}:{int(index)}' if index else kind)

    @property
    def type(self) -> str:
        """``cpu`` or ``cuda``."""
        return self.partition(':')[0]

    @property
    def index(self) -> Optional[int]:  # type: ignore[override]  # torch.device's, not str's
        """The CUDA device's number, None for ``cpu`` and for ``cuda`` (the current one)."""
        index = self.partition(':')[2]
        return int(index) if index else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, other)
        if hasattr(other, 'type') and hasattr(other, 'index'):  # e.g. a torch.device
            return (self.type, self.index) == (other.type, other.index)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"Device('{self}')"


CPU = Device('cpu')


def resolve_device(setting: str, engine: Optional[str] = None) -> Device:
    """Map ``auto``/``cpu``/``cuda``/``cuda:N`` to a usable :class:`Device`.

    ``engine`` is the engine that will run the network (``onnxruntime``, ``torch``,
    ``reference``, or ``auto``/None when not known yet); it says whom to ask whether CUDA
    works: torch for the torch engines, and for ``auto``/None when torch is already loaded;
    otherwise ONNX Runtime, where a CUDA device counts only when the installed onnxruntime
    has the CUDA or TensorRT provider (``auto`` without torch thus means: a GPU where
    onnxruntime can use one, else the CPU). ``cpu`` imports nothing.

    ``auto`` falls back to the CPU with a warning when CUDA is unavailable; an explicit CUDA
    request fails instead, because silently running 20x slower is worse than not starting.

    Raises:
        DeviceError: CUDA was asked for by name and cannot be used.

    """
    if setting == 'cpu':
        return CPU
    if setting != 'auto':
        requested = Device(setting)
    if _ask_torch(engine):
        import torch
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        via = f'torch {torch.__version__}'
    else:
        count, via = _onnxruntime_cuda_devices()
    if setting == 'auto':
        if count:
            return Device('cuda')
        _LOG.warning('CUDA is not available (%s); running CenterTrack on the CPU', via)
        return CPU
    if not count:
        raise DeviceError(f'device {setting!r} requested but CUDA is not available ({via}); '
                          'use device:=auto or cpu')
    if requested.index is not None and requested.index >= count:
        raise DeviceError(f'device {setting!r} requested but only {count} CUDA device(s) '
                          f'exist ({via})')
    return requested


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a blocked or broken package
        return False


def _ask_torch(engine: Optional[str]) -> bool:
    """Whether torch decides about CUDA for ``engine`` (see :func:`resolve_device`)."""
    if engine in TORCH_ENGINES:
        return _importable('torch')
    if engine == 'onnxruntime':
        return False
    return 'torch' in sys.modules or not _importable('onnxruntime') and _importable('torch')


def _onnxruntime_cuda_devices() -> tuple[int, str]:
    """Count the CUDA devices ONNX Runtime could use, and say what was asked."""
    try:
        import onnxruntime
    except ImportError:
        return 0, 'onnxruntime is not installed'
    providers = onnxruntime.get_available_providers()
    gpu = [p.replace('ExecutionProvider', '') for p in providers if p in GPU_PROVIDERS]
    via = f'onnxruntime {onnxruntime.__version__}'
    if not gpu:
        return 0, f'{via} has no CUDA or TensorRT provider; install onnxruntime-gpu'
    count = cuda_device_count()
    return count, f'{via} with {"/".join(gpu)}, {count} CUDA device(s) visible'


def _libcuda() -> Optional[ctypes.CDLL]:
    """Load and initialise the CUDA driver library; None without a driver or a device."""
    try:
        lib = ctypes.CDLL('libcuda.so.1')
    except OSError:
        return None
    return lib if lib.cuInit(0) == 0 else None


def cuda_device_count() -> int:
    """How many CUDA devices this process sees (``CUDA_VISIBLE_DEVICES`` applied), no torch.

    Asks the CUDA driver (``libcuda``), as every CUDA runtime does; 0 without a driver.
    """
    lib = _libcuda()
    count = ctypes.c_int(0)
    if lib is None or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def cuda_device_model(index: int) -> Optional[str]:
    """Return the model name of CUDA device ``index`` without torch (driver, else /proc)."""
    lib = _libcuda()
    handle, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
    if lib is not None and lib.cuDeviceGet(ctypes.byref(handle), index) == 0 and \
            lib.cuDeviceGetName(name, len(name), handle) == 0:
        return name.value.decode(errors='replace')
    # Without the driver library (e.g. a container with only /proc): PCI order, which is the
    # CUDA order only when CUDA_DEVICE_ORDER=PCI_BUS_ID or there is one GPU.
    models = []
    for info in sorted(glob.glob('/proc/driver/nvidia/gpus/*/information')):
        try:
            with open(info, encoding='utf-8') as f:
                models += [line.split(':', 1)[1].strip() for line in f
                           if line.startswith('Model:')]
        except OSError:
            continue
    return models[index] if index < len(models) else None


def cpu_threads() -> int:
    """CPU threads for the network when the ``threads`` setting is 0.

    ``OMP_NUM_THREADS`` if set, else the cores this process may run on
    (``os.sched_getaffinity``, which a container or ``taskset`` may restrict). The same
    whether or not torch is loaded, so that a default never depends on what else a process
    imported.
    """
    try:
        threads = int(os.environ.get('OMP_NUM_THREADS', '0'))
    except ValueError:
        threads = 0
    if threads > 0:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity
        return os.cpu_count() or 1


def device_name(device: Any, threads: Optional[int] = None) -> str:
    """Human-readable device name for logs, diagnostics and benchmark reports.

    ``device``: a :class:`Device` or a ``torch.device``. The CUDA name is torch's when torch
    is loaded, else the driver's; ``threads`` (default :func:`cpu_threads`) is shown for
    the CPU.
    """
    device = Device(device)
    if device.type == 'cuda':
        index = device.index or 0
        torch = sys.modules.get('torch')
        model = torch.cuda.get_device_name(index) if torch is not None \
            else cuda_device_model(index)
        return f'{device} ({model})' if model else str(device)
    return f'cpu ({cpu_model()}, {threads or cpu_threads()} threads)'


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


def use_ieee_fp32_convolutions(device: Any) -> None:
    """Make float32 convolutions on ``device`` round like float32 (process-wide on CUDA).

    On Ampere and newer GPUs cuDNN runs float32 convolutions in TF32 by default: a 10-bit
    mantissa, so errors of fp16 size, which is outside the 1e-3 the official outputs are
    matched to. The float32 path exists for fidelity; ``half`` is the fast path. For the torch
    engines only (torch is imported here, on CUDA).
    """
    if device.type != 'cuda':
        return
    import torch
    conv = getattr(torch.backends.cudnn, 'conv', None)
    if conv is not None and hasattr(conv, 'fp32_precision'):
        conv.fp32_precision = 'ieee'
    else:  # PyTorch before the per-operator precision settings
        torch.backends.cudnn.allow_tf32 = False
