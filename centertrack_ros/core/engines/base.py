"""The interface every inference engine implements, and what it is given per camera.

Nothing here imports torch: the ONNX Runtime engine, and every layer above the engines, use
this interface without it (issue 26). Device memory is reported and released through the
engine (:meth:`InferenceEngine.memory`, :meth:`InferenceEngine.release`), so that callers need
not ask torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence

import numpy as np

from ..config import InputConfig, ModelConfig
from ..decode import RawDetections
from ..geometry import FrameGeometry

if TYPE_CHECKING:
    from torch import nn


class DeviceLike(Protocol):
    """What an engine needs of a device: ``str()`` as torch writes it, ``type`` and ``index``.

    :class:`~centertrack_ros.core.device.Device` and ``torch.device`` both are one; the torch
    engines convert it with ``torch.device(str(device))``.
    """

    @property
    def type(self) -> str:
        """``cpu`` or ``cuda``."""

    @property
    def index(self) -> Optional[int]:
        """The CUDA device's number, or None."""


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

    ``network`` is the torch module of the torch engines, None for an engine that runs an
    exported graph; ``device`` is the device's text (``cpu``, ``cuda:1``) or anything
    :class:`DeviceLike` (each engine keeps it as the type its runtime wants).
    """

    def __init__(self, network: Optional['nn.Module'], model: ModelConfig, input: InputConfig,
                 device: Any, num_cameras: int = 1, k: int = 100) -> None:
        if num_cameras < 1:
            raise ValueError(f'num_cameras must be >= 1, got {num_cameras}')
        self.network = network
        self.model = model
        self.input = input
        self.device = device
        self.num_cameras = num_cameras
        self.k = k
        self.closed = False

    @abstractmethod
    def run(self, requests: Sequence[Optional[FrameRequest]]) -> list[Optional[RawDetections]]:
        """Process one frame per camera that has one; returns each one's top-K rows.

        ``requests`` has one entry per camera, None for a camera without a frame this time
        (its result is None and its previous input is kept).
        """

    name = 'engine'

    def describe(self) -> str:
        """Name what actually runs, for logs and diagnostics (e.g. ``onnxruntime (CPU)``)."""
        return self.name

    @abstractmethod
    def reset(self, camera: Optional[int] = None) -> None:
        """Forget the previous input of one camera (or of all)."""

    def memory(self) -> dict[str, str]:
        """Device memory the engine's runtime holds, as diagnostics values (MiB, one decimal).

        Empty where nothing is measured (the CPU; ONNX Runtime, whose arena is not exposed).
        """
        return {}

    def release(self) -> None:
        """Give back device memory that is cached but not in use (e.g. after a failed frame).

        The engine stays usable; only what its runtime keeps for later allocations is
        returned (the CUDA caching allocator's free blocks for the torch engines).
        """

    def close(self) -> None:
        """Drop the network, session and buffers, then :meth:`release`; the engine is done.

        For tearing a model down (the node unloading it): afterwards :meth:`run` fails.
        """
        self.network = None
        self.closed = True
        self.release()

    def _check(self, requests: Sequence[Optional[FrameRequest]]) -> dict[int, FrameRequest]:
        """Validate one call's requests; return the cameras that have a frame, by index."""
        if self.closed:
            raise RuntimeError(f'the {self.name} engine was closed')
        if len(requests) != self.num_cameras:
            raise ValueError(f'expected {self.num_cameras} requests, got {len(requests)}')
        present = {index: request for index, request in enumerate(requests)
                   if request is not None}
        if not present:
            raise ValueError('no camera has a frame')
        return present

    def _torch_network(self) -> 'nn.Module':
        """Return the torch module of a torch engine, which is open (:meth:`_check` passed)."""
        if self.network is None:
            raise RuntimeError(f'the {self.name} engine has no network')
        return self.network
