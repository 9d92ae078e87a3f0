"""CPU pre-processing: fit a frame into the network input and normalise it.

This is the reference path with the original's arithmetic (OpenCV 4 fixed-point bilinear warp,
float64 normalisation); the CUDA path computes the same on the GPU.
"""

from __future__ import annotations

import numpy as np

from .config import InputConfig
from .geometry import FrameGeometry
from .warp import warp_bilinear


def normalise(warped: np.ndarray, input_config: InputConfig) -> np.ndarray:
    """Scale to [0, 1], subtract mean, divide by std; return ``1x3xHxW`` float32 (NCHW)."""
    mean = np.asarray(input_config.mean, dtype=np.float32).reshape(1, 1, 3)
    std = np.asarray(input_config.std, dtype=np.float32).reshape(1, 1, 3)
    scaled = ((warped / 255.0 - mean) / std).astype(np.float32)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1)[np.newaxis])


def preprocess(image: np.ndarray, geometry: FrameGeometry, input_config: InputConfig) -> np.ndarray:
    """Warp and normalise a BGR uint8 image into a network input tensor (numpy, NCHW)."""
    return normalise(warp_bilinear(image, geometry), input_config)
