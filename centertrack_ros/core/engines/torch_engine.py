"""The torch engine: the fast path, everything after the upload on the network's device.

It uploads the uint8 frame once and does everything else on the device: the exact fixed-point
warp, normalisation, prior rendering, optionally an fp16 channels-last network, decoding, and
one small copy back. On CUDA the whole device part after the upload and prior can be replayed
as a CUDA graph (re-captured when an image size changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections, extra_heads
from ..device import use_ieee_fp32_convolutions
from ..geometry import FrameGeometry
from ..torch_ops import (
    DeviceWarp,
    TorchDeviceMemory,
    as_torch_device,
    decode_tensors,
    device_warp,
    normalise_chw,
    pack_detections,
    packed_width,
    peaks_tensor,
    render_prior,
    unpack_detections,
    warp_uint8,
)
from .base import FrameRequest, InferenceEngine


@dataclass(eq=False)
class _CameraSlot:
    geometry: FrameGeometry
    warp: DeviceWarp
    image: torch.Tensor               # device uint8 H x W x 3 (static for CUDA graphs)
    staging: Optional[torch.Tensor]   # pinned host copy source on CUDA
    has_previous: bool = False


class TorchEngine(TorchDeviceMemory, InferenceEngine):
    """Device-side pre-processing, network and decoding (fast path; any device).

    ``device``: a ``torch.device`` or anything with the same text (see
    :class:`~.base.DeviceLike`); kept as a ``torch.device``.
    """

    name = 'torch'

    def __init__(self, network: nn.Module, model: ModelConfig, input: InputConfig,
                 device: Any, num_cameras: int = 1, k: int = 100, half: bool = False,
                 channels_last: bool = False, cuda_graph: bool = False) -> None:
        device = as_torch_device(device)
        super().__init__(network, model, input, device, num_cameras, k)
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
        inp = input
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
        self._extras = extra_heads(model.heads)  # gathered heads packed after the 2D fields
        self._allocate_results()

    def describe(self) -> str:
        """Name the engine, device and options, e.g. ``torch (cuda, fp16, CUDA graph)``."""
        options = [str(self.device), 'fp16' if self.dtype == torch.float16 else 'fp32']
        if self.channels_last:
            options.append('channels-last')
        if self.use_graph:
            options.append('CUDA graph')
        return f'{self.name} ({", ".join(options)})'

    def close(self) -> None:
        """Drop the network, the CUDA graph and every buffer, then return the cached memory."""
        self._graph = None
        self._slots = [None] * self.num_cameras
        empty = torch.empty(0)  # in place of every device buffer
        self._current = self._previous = self._prior = self._first = empty
        self._packed = self._host_packed = empty
        super().close()

    def _rows(self) -> int:
        return min(self.k, self.input.output_height * self.input.output_width)

    def _allocate_results(self) -> None:
        """Size the decoded-rows buffers for K (again when the tracker changes K)."""
        k = self._rows()
        self._packed = torch.zeros((self.num_cameras, k, packed_width(self._extras)),
                                   dtype=torch.float32, device=self.device)
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
            if slot is None:
                continue  # a camera that never sent a frame: its slot stays zeros
            pixels = warp_uint8(slot.image, slot.warp)
            self._current[index].copy_(normalise_chw(pixels, self._mean, self._inv_std,
                                                     self.dtype))
        previous = torch.where(self._first[:, None, None, None], self._current, self._previous)
        current, prior = self._current, self._prior
        if self.channels_last:
            current = current.contiguous(memory_format=torch.channels_last)
            previous = previous.contiguous(memory_format=torch.channels_last)
            prior = prior.contiguous(memory_format=torch.channels_last)
        outputs = self._torch_network()(current, previous if self.model.pre_img else None,
                                        prior if self.model.pre_hm else None)
        outputs = {name: value.float() for name, value in outputs.items()}
        outputs['hm'] = outputs['hm'].sigmoid()
        self._packed.copy_(pack_detections(decode_tensors(outputs, self.k), tuple(self._extras)))
        self._previous.copy_(self._current)

    def _capture(self) -> torch.cuda.CUDAGraph:
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
        return graph

    @torch.no_grad()
    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one (None: no frame this time).

        The static batch always runs whole: a camera without a frame fills its slot with its
        last image (or zeros), its rows are discarded and its previous input is restored, so
        the padding leaves no trace in its state.
        """
        present = self._check(requests)
        if self._packed.shape[1] != self._rows():
            self._allocate_results()  # the tracker changed K
        first = [False] * self.num_cameras
        slots = {}
        for index, request in present.items():
            slot = slots[index] = self._slot(index, request)
            self._upload(slot, request.image)
            if self.model.pre_hm:
                peaks = peaks_tensor(request.peaks, self.device)
                self._prior[index, 0].copy_(render_prior(peaks, self.input.height,
                                                         self.input.width))
            first[index] = not slot.has_previous
        padded = [index for index in range(self.num_cameras) if index not in present]
        kept = {index: self._previous[index].clone() for index in padded}
        self._first.copy_(torch.tensor(first, dtype=torch.bool), non_blocking=False)
        if self.use_graph:
            graph = self._graph if self._graph is not None else self._capture()
            graph.replay()
        else:
            self._forward()
        for index, previous in kept.items():
            self._previous[index].copy_(previous)
        self._host_packed.copy_(self._packed, non_blocking=self.device.type == 'cuda')
        if self.device.type == 'cuda':
            torch.cuda.current_stream(self.device).synchronize()
        # Copy: the pinned buffer is overwritten by the next call.
        rows = unpack_detections(self._host_packed.numpy().copy(), 'tracking' in self.model.heads,
                                 self._extras)
        out: list[Optional[RawDetections]] = [None] * self.num_cameras
        for index, slot in slots.items():
            slot.has_previous = True
            out[index] = rows[index]
        return out
