"""What the runtime tests feed a frame runner: a small model on the CPU and small frames.

The model is :func:`support.bags.make_random_model`'s random-weight checkpoint (it finds a few
boxes per frame, so tracks are non-trivial) loaded for the eager torch engine; the frames are
192x128 synthetic images, small enough for many network calls per test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import LoadedModel, ModelSpec, load_model
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from support.bags import make_random_model


def load_random_model(folder: Path) -> LoadedModel:
    """Write the random-weight model into ``folder`` and load it for torch on the CPU."""
    path = make_random_model(folder / 'random.pth')
    return load_model(ModelSpec(path=str(path)), RuntimeConfig(device='cpu', engine='torch'))


def small_frames(seed: int, count: int) -> list[np.ndarray]:
    """Return the first ``count`` frames (192x128, BGR) of the synthetic drive ``seed``."""
    sequence = generate_sequence(SceneConfig(seed=seed, num_frames=count, width=192, height=128))
    return [sequence.image(i) for i in range(count)]
