"""The ONNX Runtime engine: the network as an exported graph, on the CPU, CUDA or TensorRT.

Pre-processing and decoding are the reference engine's (the original's arithmetic on the
host); only the network runs in ONNX Runtime. On the CPU that is most of a frame, and ONNX
Runtime's kernels run the bundled model about 4x faster than eager PyTorch on two cores. On a
GPU the TensorRT execution provider (fp16, a persistent engine cache) and the CUDA one are
tried in that order; the provider that runs is logged once.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np
import torch

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections, decode_tensors, to_raw_detections
from ..preprocess import preprocess
from ..prior import draw_peaks
from .base import FrameRequest, InferenceEngine

_LOG = logging.getLogger(__name__)
CPU, CUDA, TENSORRT = ('CPUExecutionProvider', 'CUDAExecutionProvider',
                       'TensorrtExecutionProvider')


class EngineError(RuntimeError):
    """An engine cannot run the model (missing package, export failure, provider error)."""


def providers_for(device: torch.device, half: bool, cache: Path, inputs: Sequence,
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
            'trt_engine_cache_enable': True, 'trt_engine_cache_path': str(cache / 'tensorrt'),
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


class OnnxRuntimeEngine(InferenceEngine):
    """The original's host arithmetic around an ONNX Runtime session of the network.

    Args:
        path: the exported network (:mod:`centertrack_ros.core.onnx_model`).
        model, input, device, num_cameras, k: as for every engine.
        threads: intra-op threads on the CPU (0: torch's thread count, which follows
            ``OMP_NUM_THREADS``).
        half: fp16 in the TensorRT provider.
        cache: directory for TensorRT's engine cache.

    Raises:
        EngineError: the session cannot be created.

    """

    name = 'onnxruntime'

    def __init__(self, path: str | Path, model: ModelConfig, input: InputConfig,
                 device: torch.device, num_cameras: int = 1, k: int = 100, threads: int = 0,
                 half: bool = False, cache: Optional[Path] = None) -> None:
        super().__init__(None, model, input, device, num_cameras, k)
        import onnx
        import onnxruntime

        self.path = Path(path)
        graph_inputs = onnx.load(str(self.path), load_external_data=False).graph.input
        shapes = [_Input(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim])
                  for i in graph_inputs]
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning, as OMP_WAIT_POLICY=PASSIVE does for torch:
        # spinning threads steal the cores the rest of a robot's processes need.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        providers = providers_for(device, half, cache or self.path.parent, shapes, num_cameras)
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
        self._previous: list[Optional[np.ndarray]] = [None] * num_cameras

    def __deepcopy__(self, memo: dict) -> 'OnnxRuntimeEngine':
        # The session is immutable and costly: a copy shares it and copies only the state.
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone._previous = [None if p is None else p.copy() for p in self._previous]
        return clone

    def describe(self) -> str:
        """Name the engine and the execution provider that runs it."""
        return f'{self.name} ({self.provider.replace("ExecutionProvider", "")})'

    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""
        for index in range(self.num_cameras) if camera is None else [camera]:
            self._previous[index] = None

    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one (None: no frame this time)."""
        self._check(requests)
        present = [index for index, request in enumerate(requests) if request is not None]
        images = {index: preprocess(requests[index].image, requests[index].geometry,
                                    self.input) for index in present}
        feed = {'image': np.concatenate([images[i] for i in present])}
        if 'pre_image' in self._inputs:
            feed['pre_image'] = np.concatenate([
                self._previous[i] if self._previous[i] is not None else images[i]
                for i in present])
        if 'pre_hm' in self._inputs:
            feed['pre_hm'] = np.stack([
                draw_peaks(requests[i].peaks, requests[i].geometry.input_height,
                           requests[i].geometry.input_width)[None] for i in present])
        outputs = dict(zip(self._heads, self.session.run(self._heads, feed)))
        heads = {name: torch.from_numpy(value) for name, value in outputs.items()}
        heads['hm'] = heads['hm'].sigmoid()
        out: list[Optional[RawDetections]] = [None] * self.num_cameras
        for index, rows in zip(present, to_raw_detections(decode_tensors(heads, self.k))):
            self._previous[index] = images[index]
            out[index] = rows
        return out


class _Input(NamedTuple):
    """Name and shape (batch first) of one graph input."""

    name: str
    shape: list[int]
