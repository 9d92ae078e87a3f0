"""The reference engine: the original's arithmetic on the host, a float32 network on any device.

It follows the original step by step (OpenCV warp, numpy prior, float32 network, then the
host decoding) and is the yardstick for the other engines. Everything after the network is
the numpy decoding the ONNX Runtime engine runs too, so the original's arithmetic path and the
torch-free path differ only in how the network is computed.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections
from ..device import use_ieee_fp32_convolutions
from ..preprocess import preprocess
from ..torch_ops import TorchDeviceMemory, as_torch_device
from .base import FrameRequest
from .host import HostDecodingEngine, host_priors


class ReferenceEngine(TorchDeviceMemory, HostDecodingEngine[torch.Tensor]):
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

    def describe(self) -> str:
        """Name the engine and the device its network runs on, e.g. ``reference (cpu)``."""
        return f'{self.name} ({self.device})'

    def close(self) -> None:
        """Drop the network and the previous inputs, then return the cached memory."""
        self.reset()
        super().close()

    @torch.no_grad()
    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one (None: no frame this time)."""
        present = self._check(requests)
        images = {index: torch.from_numpy(preprocess(request.image, request.geometry, self.input))
                  .to(self.device) for index, request in present.items()}
        prior = None
        if self.model.pre_hm:
            prior = torch.from_numpy(host_priors(present)).to(self.device)
        outputs = self._torch_network()(
            torch.cat(list(images.values())),
            torch.cat(self._previous_inputs(images)) if self.model.pre_img else None, prior)
        # From here on the ONNX Runtime engine's arithmetic: sigmoid and decoding in numpy.
        return self._decode({name: value.float().cpu().numpy()
                             for name, value in outputs.items()}, images)
