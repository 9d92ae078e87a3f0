"""Inference engines: pre-processing + network + decoding for a batch of cameras.

An engine keeps each camera's previous network input between calls (CenterTrack feeds it to
the network alongside the current one) and returns the top-K decoded rows per camera; the
tracker on the host does the rest.

* :class:`ReferenceEngine` follows the original step by step on the host (OpenCV warp, numpy
  prior, float32 network). It is the CPU default and the yardstick for the fast path.
* :class:`TorchEngine` uploads the uint8 frame once and does everything else on the device:
  exact fixed-point warp, normalisation, prior rendering, optionally an fp16 channels-last
  network, decoding, and one small copy back. On CUDA the whole device part after the upload
  and prior can be replayed as a CUDA graph (re-captured when an image size changes).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .config import CenterTrackConfig
from .decode import RawDetections, decode_tensors, to_raw_detections
from .device import use_ieee_fp32_convolutions
from .geometry import FrameGeometry
from .preprocess import preprocess
from .prior import draw_peaks
from .torch_ops import (
    DeviceWarp,
    device_warp,
    normalise_chw,
    pack_detections,
    peaks_tensor,
    render_prior,
    unpack_detections,
    warp_uint8,
)

_LOG = logging.getLogger(__name__)
ENGINES = ('auto', 'reference', 'torch')


@dataclass
class FrameRequest:
    """One camera's input for one engine call."""

    image: np.ndarray                      # BGR uint8 H x W x 3, contiguous
    geometry: FrameGeometry
    peaks: Sequence[tuple[int, int, int]]  # prior Gaussians (x, y, radius), input pixels


class InferenceEngine(ABC):
    """Common state: the network, the configuration and the cameras' previous inputs."""

    def __init__(self, network: nn.Module, config: CenterTrackConfig, device: torch.device,
                 num_cameras: int) -> None:
        if num_cameras < 1:
            raise ValueError(f'num_cameras must be >= 1, got {num_cameras}')
        self.network = network
        self.config = config
        self.device = device
        self.num_cameras = num_cameras

    @abstractmethod
    def run(self, requests: Sequence[FrameRequest]) -> list[RawDetections]:
        """Process one frame per camera; returns the decoded top-K rows per camera."""

    @abstractmethod
    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""

    def _check(self, requests: Sequence[FrameRequest]) -> None:
        if len(requests) != self.num_cameras:
            raise ValueError(f'expected {self.num_cameras} frames, got {len(requests)}')


class ReferenceEngine(InferenceEngine):
    """The original's arithmetic on the host; float32 network on any device."""

    def __init__(self, network: nn.Module, config: CenterTrackConfig, device: torch.device,
                 num_cameras: int = 1) -> None:
        super().__init__(network.float(), config, device, num_cameras)
        use_ieee_fp32_convolutions(device)
        self._previous: list[Optional[torch.Tensor]] = [None] * num_cameras

    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""
        for index in range(self.num_cameras) if camera is None else [camera]:
            self._previous[index] = None

    @torch.no_grad()
    def run(self, requests: Sequence[FrameRequest]) -> list[RawDetections]:
        """Process one frame per camera; returns the decoded top-K rows per camera."""
        self._check(requests)
        model = self.config.model
        images = [torch.from_numpy(preprocess(r.image, r.geometry, self.config.input))
                  .to(self.device) for r in requests]
        previous = [p if p is not None else img for p, img in zip(self._previous, images)]
        prior = None
        if model.pre_hm:
            prior = torch.from_numpy(np.stack([
                draw_peaks(r.peaks, r.geometry.input_height, r.geometry.input_width)[None]
                for r in requests])).to(self.device)
        outputs = self.network(torch.cat(images), torch.cat(previous) if model.pre_img else None,
                               prior)
        outputs['hm'] = outputs['hm'].sigmoid()
        self._previous = images
        return to_raw_detections(decode_tensors(outputs, self.config.tracker.K))


@dataclass(eq=False)
class _CameraSlot:
    geometry: FrameGeometry
    warp: DeviceWarp
    image: torch.Tensor               # device uint8 H x W x 3 (static for CUDA graphs)
    staging: Optional[torch.Tensor]   # pinned host copy source on CUDA
    has_previous: bool = False


class TorchEngine(InferenceEngine):
    """Device-side pre-processing, network and decoding (fast path; any device)."""

    def __init__(self, network: nn.Module, config: CenterTrackConfig, device: torch.device,
                 num_cameras: int = 1, half: bool = False, channels_last: bool = False,
                 cuda_graph: bool = False) -> None:
        super().__init__(network, config, device, num_cameras)
        on_cuda = device.type == 'cuda'
        # fp16 is honoured on any device (the CPU runs it slowly, which lets CI check the fp16
        # arithmetic); whether to ask for it is make_engine's decision.
        self.dtype = torch.float16 if half else torch.float32
        if not half:
            use_ieee_fp32_convolutions(device)
        self.channels_last = channels_last
        self.use_graph = cuda_graph and on_cuda
        self.network = network.to(device=device, dtype=self.dtype)
        if channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        inp = config.input
        self._mean = torch.tensor(inp.mean, dtype=torch.float32, device=device)
        self._inv_std = 1.0 / torch.tensor(inp.std, dtype=torch.float32, device=device)
        shape = (num_cameras, 3, inp.height, inp.width)
        self._current = torch.zeros(shape, dtype=self.dtype, device=device)
        self._previous = torch.zeros(shape, dtype=self.dtype, device=device)
        self._prior = torch.zeros((num_cameras, 1, inp.height, inp.width), dtype=self.dtype,
                                  device=device)
        self._first = torch.ones(num_cameras, dtype=torch.bool, device=device)
        self._slots: list[Optional[_CameraSlot]] = [None] * num_cameras
        self._graph: Optional[torch.cuda.CUDAGraph] = None
        self.graph_captures = 0
        self._allocate_results()

    def _allocate_results(self) -> None:
        """Size the decoded-rows buffers for the configured K (again when K changes)."""
        inp = self.config.input
        k = min(self.config.tracker.K, inp.output_height * inp.output_width)
        self._packed = torch.zeros((self.num_cameras, k, 10), dtype=torch.float32,
                                   device=self.device)
        self._host_packed = torch.zeros_like(self._packed, device='cpu',
                                             pin_memory=self.device.type == 'cuda')
        self._graph = None  # the captured graph writes into the old buffer

    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""
        for index in range(self.num_cameras) if camera is None else [camera]:
            slot = self._slots[index]
            if slot is not None:
                slot.has_previous = False

    def _slot(self, index: int, request: FrameRequest) -> _CameraSlot:
        slot = self._slots[index]
        if slot is not None and slot.geometry.same_size(request.geometry):
            return slot
        height, width = request.image.shape[:2]
        image = torch.zeros((height, width, 3), dtype=torch.uint8, device=self.device)
        staging = None
        if self.device.type == 'cuda':
            staging = torch.zeros((height, width, 3), dtype=torch.uint8, pin_memory=True)
        slot = _CameraSlot(request.geometry, device_warp(request.geometry, self.device), image,
                           staging)
        self._slots[index] = slot
        self._graph = None  # static buffers changed: capture again
        return slot

    def _upload(self, slot: _CameraSlot, image: np.ndarray) -> None:
        source = torch.from_numpy(image)
        if slot.staging is None:
            slot.image.copy_(source)
        else:
            slot.staging.copy_(source)
            slot.image.copy_(slot.staging, non_blocking=True)

    def _forward(self) -> None:
        """Device work of one call, reading and writing only static buffers (graph-safe)."""
        for index, slot in enumerate(self._slots):
            pixels = warp_uint8(slot.image, slot.warp)
            self._current[index].copy_(normalise_chw(pixels, self._mean, self._inv_std,
                                                     self.dtype))
        previous = torch.where(self._first[:, None, None, None], self._current, self._previous)
        current, prior = self._current, self._prior
        if self.channels_last:
            current = current.contiguous(memory_format=torch.channels_last)
            previous = previous.contiguous(memory_format=torch.channels_last)
            prior = prior.contiguous(memory_format=torch.channels_last)
        model = self.config.model
        outputs = self.network(current, previous if model.pre_img else None,
                               prior if model.pre_hm else None)
        outputs = {name: value.float() for name, value in outputs.items()}
        outputs['hm'] = outputs['hm'].sigmoid()
        self._packed.copy_(pack_detections(decode_tensors(outputs, self.config.tracker.K)))
        self._previous.copy_(self._current)

    def _capture(self) -> None:
        saved_previous = self._previous.clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm-up: cuDNN autotuning and lazy allocations
                self._forward()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._forward()
        self._previous.copy_(saved_previous)
        self._graph = graph
        self.graph_captures += 1

    @torch.no_grad()
    def run(self, requests: Sequence[FrameRequest]) -> list[RawDetections]:
        """Process one frame per camera; returns the decoded top-K rows per camera."""
        self._check(requests)
        inp = self.config.input
        if self._packed.shape[1] != min(self.config.tracker.K,
                                        inp.output_height * inp.output_width):
            self._allocate_results()  # K changed through set_tracker_config
        first = []
        for index, request in enumerate(requests):
            slot = self._slot(index, request)
            self._upload(slot, request.image)
            if self.config.model.pre_hm:
                peaks = peaks_tensor(request.peaks, self.device)
                self._prior[index, 0].copy_(render_prior(peaks, self.config.input.height,
                                                         self.config.input.width))
            first.append(not slot.has_previous)
        self._first.copy_(torch.tensor(first, dtype=torch.bool), non_blocking=False)
        if self.use_graph:
            if self._graph is None:
                self._capture()
            self._graph.replay()
        else:
            self._forward()
        self._host_packed.copy_(self._packed, non_blocking=self.device.type == 'cuda')
        if self.device.type == 'cuda':
            torch.cuda.current_stream(self.device).synchronize()
        for slot in self._slots:
            slot.has_previous = True
        # Copy: the pinned buffer is overwritten by the next call.
        return unpack_detections(self._host_packed.numpy().copy(),
                                 'tracking' in self.config.model.heads)


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
    if resolve_engine(kind, device) == 'reference':
        return ReferenceEngine(network, config, device, num_cameras)
    runtime = config.runtime
    half = runtime.half and device.type == 'cuda'
    if runtime.half and not half:
        _LOG.warning('half precision is slower than float32 without CUDA; running float32 on %s',
                     device)
    return TorchEngine(network, config, device, num_cameras, half=half,
                       channels_last=runtime.channels_last, cuda_graph=runtime.cuda_graph)
