"""The reference engine: the original's arithmetic on the host, a float32 network on any device.

It follows the original step by step (OpenCV warp, numpy prior, float32 network, then the
host decoding) and is the yardstick for the other engines. Everything after the network is
the numpy decoding the ONNX Runtime engine runs too, so the original's arithmetic path and the
torch-free path differ only in how the network is computed.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections, decode_heads, sigmoid
from ..device import use_ieee_fp32_convolutions
from ..preprocess import preprocess
from ..prior import draw_peaks
from ..torch_ops import as_torch_device, cuda_memory, release_cached_memory
from .base import FrameRequest, InferenceEngine


class ReferenceEngine(InferenceEngine):
    """The original's arithmetic on the host; float32 network on any device.

    ``device``: a ``torch.device`` or anything with the same text (see
    :class:`~.base.DeviceLike`); kept as a ``torch.device``.
    """

    name = 'reference'

    def __init__(self, network: torch.nn.Module, model: ModelConfig, input: InputConfig,
                 device: Any, num_cameras: int = 1, k: int = 100) -> None:
        device = as_torch_device(device)
        super().__init__(network.float(), model, input, device, num_cameras, k)
        use_ieee_fp32_convolutions(device)
        self._previous: list[Optional[torch.Tensor]] = [None] * num_cameras

    def describe(self) -> str:
        """Name the engine and the device its network runs on, e.g. ``reference (cpu)``."""
        return f'{self.name} ({self.device})'

    def memory(self) -> dict[str, str]:
        """Report the CUDA memory torch holds on the device (allocated, reserved); {} on a CPU."""
        return cuda_memory(self.device)

    def release(self) -> None:
        """Return torch's cached, unused CUDA memory (the engine stays usable)."""
        release_cached_memory(self.device)

    def close(self) -> None:
        """Drop the network and the previous inputs, then return the cached memory."""
        self._previous = [None] * self.num_cameras
        super().close()

    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""
        for index in range(self.num_cameras) if camera is None else [camera]:
            self._previous[index] = None

    @torch.no_grad()
    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one (None: no frame this time)."""
        present = self._check(requests)
        images = {index: torch.from_numpy(preprocess(request.image, request.geometry, self.input))
                  .to(self.device) for index, request in present.items()}
        previous = [images[index] if (kept := self._previous[index]) is None else kept
                    for index in present]
        prior = None
        if self.model.pre_hm:
            prior = torch.from_numpy(np.stack([
                draw_peaks(r.peaks, r.geometry.input_height, r.geometry.input_width)[None]
                for r in present.values()])
            ).to(self.device)
        outputs = self._torch_network()(torch.cat([images[i] for i in present]),
                                        torch.cat(previous) if self.model.pre_img else None,
                                        prior)
        # From here on the ONNX Runtime engine's arithmetic: sigmoid and decoding in numpy.
        heads = {name: value.float().cpu().numpy() for name, value in outputs.items()}
        heads['hm'] = sigmoid(heads['hm'])
        out: list[Optional[RawDetections]] = [None] * self.num_cameras
        for index, rows in zip(present, decode_heads(heads, self.k)):
            self._previous[index] = images[index]
            out[index] = rows
        return out
