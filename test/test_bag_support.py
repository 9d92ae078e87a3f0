"""Shared helpers of the bag and demo tests (this module holds no tests itself).

The bundled model may not exist where the tests run, and its quality is not what these tests
check, so they use a small random-weight ``generic`` (MobileNetV2) checkpoint at a 224x128
input. Its weights are shaped so that it finds a handful of boxes of plausible sizes per frame,
which makes the tracks (and the metrics computed from them) non-trivial.
"""

from __future__ import annotations

from pathlib import Path

import torch

from centertrack_ros.core.checkpoint import save_checkpoint
from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig, TrackerConfig
from centertrack_ros.core.model_spec import METADATA_KEY, config_metadata
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.synthetic import CLASS_NAMES

INPUT_WIDTH, INPUT_HEIGHT = 224, 128
START_TIME = 1_700_000_000  # seconds; fixed so that stamps are known to the tests


def make_random_model(path: Path, seed: int = 0, threshold: float = 0.3,
                      hm_bias: float = -2.5, ddd: bool = False) -> Path:
    """Write a random-weight checkpoint (with our config metadata) that detects something.

    With ``ddd`` the network has the 3D heads, biased to depths of about 10 m and car-like
    dimensions.
    """
    torch.manual_seed(seed)
    config = CenterTrackConfig(
        model=ModelConfig(arch='generic', backbone='mobilenet', num_classes=len(CLASS_NAMES),
                          class_names=tuple(CLASS_NAMES), ddd=ddd),
        input=InputConfig(width=INPUT_WIDTH, height=INPUT_HEIGHT),
        tracker=TrackerConfig(track_thresh=threshold, pre_thresh=threshold,
                              new_thresh=threshold))
    network = build_network(config.model)
    # Freshly initialised batch norms leave the features near zero; a few batches in training
    # mode give them statistics under which the features (and so the heads) vary.
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    network.train()
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(2, 3, INPUT_HEIGHT, INPUT_WIDTH)
            network(x, x, torch.rand(2, 1, INPUT_HEIGHT, INPUT_WIDTH) ** 8)
        network.eval()
        network.hm[2].bias.fill_(hm_bias)
        torch.nn.init.normal_(network.hm[2].weight, 0.0, 0.3)
        network.wh[2].bias.fill_(6.0)  # boxes of some tens of pixels
        if ddd:
            network.dep[2].bias.fill_(-2.3)  # sigmoid 1 / (d + 1): about 10 m
            network.dim[2].bias.copy_(torch.tensor([1.5, 1.8, 4.0]))
    save_checkpoint(str(path), network, 0, extra={METADATA_KEY: config_metadata(config)})
    return path
