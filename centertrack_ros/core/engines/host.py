"""What the engines that decode on the host share: the previous inputs, the prior, the decoding.

The reference engine (a torch network) and the ONNX Runtime engine differ only in how they
pre-process a frame into a network input and compute the network; keeping each camera's
previous input, rendering the prior of the previous tracks in numpy and decoding the heads
with the original's arithmetic are the same in both, and written here once. Nothing here
imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Mapping, Optional, TypeVar

import numpy as np

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections, decode_heads, sigmoid
from ..prior import draw_peaks
from .base import FrameRequest, InferenceEngine

if TYPE_CHECKING:
    from torch import nn

Input = TypeVar('Input')  # one camera's network input, as the engine's runtime holds it


def host_priors(present: Mapping[int, FrameRequest]) -> np.ndarray:
    """Render the prior heatmap of every camera with a frame, in order: ``N x 1 x H x W``."""
    return np.stack([draw_peaks(r.peaks, r.geometry.input_height, r.geometry.input_width)[None]
                     for r in present.values()])


class HostDecodingEngine(InferenceEngine, Generic[Input]):
    """An engine that keeps each camera's previous input and decodes the heads on the host.

    A subclass pre-processes the frames into ``Input`` values (one per camera with a frame,
    by camera index), runs the network on them and on :meth:`_previous_inputs`, and hands the
    heads to :meth:`_decode`.
    """

    def __init__(self, network: Optional['nn.Module'], model: ModelConfig, input: InputConfig,
                 device: Any, num_cameras: int = 1, k: int = 100) -> None:
        super().__init__(network, model, input, device, num_cameras, k)
        self._previous: list[Optional[Input]] = [None] * num_cameras

    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""
        for index in range(self.num_cameras) if camera is None else [camera]:
            self._previous[index] = None

    def _previous_inputs(self, images: Mapping[int, Input]) -> list[Input]:
        """Return the previous input of each camera in ``images``; on its first frame, its own."""
        return [images[index] if (kept := self._previous[index]) is None else kept
                for index in images]

    def _decode(self, heads: dict[str, np.ndarray], images: Mapping[int, Input]
                ) -> list[Optional[RawDetections]]:
        """Decode the network's heads (``hm`` before the sigmoid; replaced in ``heads``).

        ``images`` are the inputs the heads were computed from, by camera index in batch
        order; they become the cameras' previous inputs. Returns one entry per camera, None
        for a camera without a frame.
        """
        heads['hm'] = sigmoid(heads['hm'])
        out: list[Optional[RawDetections]] = [None] * self.num_cameras
        for index, rows in zip(images, decode_heads(heads, self.k)):
            self._previous[index] = images[index]
            out[index] = rows
        return out
