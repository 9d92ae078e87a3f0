"""The ONNX Runtime engine: the network as an exported graph, on the CPU, CUDA or TensorRT.

Pre-processing and decoding are the reference engine's (the original's arithmetic on the
host, numpy and OpenCV); only the network runs in ONNX Runtime. On the CPU that is most of a
frame, and ONNX Runtime's kernels run the bundled model about 4x faster than eager PyTorch on
two cores. On a GPU the TensorRT execution provider (fp16, a persistent engine cache) and the
CUDA one are tried in that order; the provider that runs is logged once. Nothing here imports
torch: with an exported ``.onnx`` model this engine runs where torch is not installed.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections
from ..device import Device, cpu_threads
from ..errors import EngineError
from ..onnx_file import inspect_onnx
from ..preprocess import preprocess
from .base import FrameRequest
from .host import HostDecodingEngine, host_priors

_LOG = logging.getLogger(__name__)
CPU, CUDA, TENSORRT = ('CPUExecutionProvider', 'CUDAExecutionProvider',
                       'TensorrtExecutionProvider')


def providers_for(device: Any, half: bool, cache: Path, inputs: Sequence,
                  num_cameras: int) -> list:
    """Return the execution providers to try on ``device``, best first, with their options.

    Raises:
        EngineError: onnxruntime is not installed, or CUDA was asked for and this onnxruntime
            has neither the CUDA nor the TensorRT provider.

    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise EngineError(f'onnxruntime is not installed ({exc})') from exc
    available = onnxruntime.get_available_providers()
    if device.type != 'cuda':
        return [CPU]
    index = device.index or 0
    chosen: list = []
    if TENSORRT in available:
        # One optimisation profile from a single camera to all of them.
        def shapes(batch: int) -> str:
            return ','.join(f'{i.name}:{batch}x' + 'x'.join(str(d) for d in i.shape[1:])
                            for i in inputs)
        chosen.append((TENSORRT, {
            'device_id': index, 'trt_fp16_enable': bool(half),
            'trt_engine_cache_enable': True, 'trt_engine_cache_path': str(cache),
            'trt_timing_cache_enable': True, 'trt_profile_min_shapes': shapes(1),
            'trt_profile_opt_shapes': shapes(num_cameras),
            'trt_profile_max_shapes': shapes(num_cameras)}))
    if CUDA in available:
        chosen.append((CUDA, {'device_id': index}))
    if not chosen:
        raise EngineError(f'device {device} asked for, but this onnxruntime has no CUDA or '
                          f'TensorRT provider (it has {", ".join(available)}); install '
                          'onnxruntime-gpu, or use engine torch')
    return chosen + [CPU]


class OnnxRuntimeEngine(HostDecodingEngine[np.ndarray]):
    """The original's host arithmetic around an ONNX Runtime session of the network.

    Args:
        path: the exported network (:mod:`centertrack_ros.core.onnx_model`).
        model, input, device, num_cameras, k: as for every engine (``device``: its text, a
            :class:`~centertrack_ros.core.device.Device` or anything with ``type`` and
            ``index``; kept as a ``Device``).
        threads: intra-op threads on the CPU (0: :func:`cpu_threads`, i.e.
            ``OMP_NUM_THREADS`` if set, else the cores this process may use).
        half: fp16 in the TensorRT provider.
        cache: TensorRT's engine cache directory, one per model file (``make_engine`` gives
            :func:`~..onnx_file.tensorrt_cache_dir`; default ``tensorrt/`` beside the file).

    Raises:
        EngineError: the session cannot be created.

    """

    name = 'onnxruntime'

    def __init__(self, path: str | Path, model: ModelConfig, input: InputConfig,
                 device: Any, num_cameras: int = 1, k: int = 100, threads: int = 0,
                 half: bool = False, cache: Optional[Path] = None) -> None:
        device = Device(device)
        super().__init__(None, model, input, device, num_cameras, k)
        import onnxruntime

        self.path = Path(path)
        # The header only (no weights, no onnx package): TensorRT's profiles need the shapes.
        shapes = inspect_onnx(self.path).inputs
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning, as OMP_WAIT_POLICY=PASSIVE does for torch:
        # spinning threads steal the cores the rest of a robot's processes need.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        providers = providers_for(device, half, cache or self.path.parent / 'tensorrt', shapes,
                                  num_cameras)
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options,
                                                        providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for every failure
            raise EngineError(f'onnxruntime cannot load {self.path}: {exc}') from exc
        self.provider = self.session.get_providers()[0]
        wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
        if self.provider != wanted:
            _LOG.warning('onnxruntime runs on %s (%s was not usable)', self.provider, wanted)
        _LOG.info('onnxruntime %s: %s, %d thread(s), model %s', onnxruntime.__version__,
                  self.provider, options.intra_op_num_threads, self.path.name)
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._heads = [o.name for o in self.session.get_outputs()]

    def __deepcopy__(self, memo: dict) -> 'OnnxRuntimeEngine':
        # The session is immutable and costly: a copy shares it and copies only the state.
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone._previous = [None if p is None else p.copy() for p in self._previous]
        return clone

    def describe(self) -> str:
        """Name the engine and the execution provider that runs it."""
        return f'{self.name} ({self.provider.replace("ExecutionProvider", "")})'

    def close(self) -> None:
        """Drop the session (its memory, on the CPU or the GPU, goes with it)."""
        self.session = None
        super().close()

    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one (None: no frame this time)."""
        present = self._check(requests)
        images = {index: preprocess(request.image, request.geometry, self.input)
                  for index, request in present.items()}
        feed = {'image': np.concatenate(list(images.values()))}
        if 'pre_image' in self._inputs:
            feed['pre_image'] = np.concatenate(self._previous_inputs(images))
        if 'pre_hm' in self._inputs:
            feed['pre_hm'] = host_priors(present)
        return self._decode(dict(zip(self._heads, self.session.run(self._heads, feed))), images)
