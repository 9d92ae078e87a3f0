"""The interface every inference engine implements, and what it is given per camera."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections
from ..geometry import FrameGeometry


@dataclass
class FrameRequest:
    """One camera's input for one engine call."""

    image: np.ndarray                      # BGR uint8 H x W x 3, contiguous
    geometry: FrameGeometry
    peaks: Sequence[tuple[int, int, int]]  # prior Gaussians (x, y, radius), input pixels


class InferenceEngine(ABC):
    """Pre-processing, network and decoding for a batch of cameras.

    An engine keeps each camera's previous network input between calls (CenterTrack feeds it
    to the network alongside the current one) and returns the top-``k`` decoded rows per
    camera; the tracker on the host does the rest. It knows the network's shape (``model``),
    the input it expects (``input``) and how many rows to decode (``k``, which the tracker may
    change between calls), nothing of the tracker's thresholds.
    """

    def __init__(self, network: torch.nn.Module, model: ModelConfig, input: InputConfig,
                 device: torch.device, num_cameras: int = 1, k: int = 100) -> None:
        if num_cameras < 1:
            raise ValueError(f'num_cameras must be >= 1, got {num_cameras}')
        self.network = network
        self.model = model
        self.input = input
        self.device = device
        self.num_cameras = num_cameras
        self.k = k

    @abstractmethod
    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one; returns each one's top-K rows.

        ``requests`` has one entry per camera, None for a camera without a frame this time
        (its result is None and its previous input is kept).
        """

    name = 'engine'

    def describe(self) -> str:
        """Name the engine for logs and diagnostics (e.g. ``onnxruntime (CPU)``)."""
        return self.name

    @abstractmethod
    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""

    def _check(self, requests: Sequence[Optional[FrameRequest]]) -> None:
        if len(requests) != self.num_cameras:
            raise ValueError(f'expected {self.num_cameras} requests, got {len(requests)}')
        if all(request is None for request in requests):
            raise ValueError('no camera has a frame')
