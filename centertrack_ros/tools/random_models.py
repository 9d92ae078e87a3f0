"""Random-weight models for the tools and the tests: no training, reproducible to the bit.

:func:`random_network` builds a seeded network and shapes its weights for what it is used for;
:func:`write_random_model` saves a small ``generic`` (MobileNetV2) one as a checkpoint with our
metadata, so that the node and every tool load it without further options. The recipes in use:

* *detects everywhere* (the defaults): the heatmap bias at 0 makes every output cell score
  about 0.5, so each frame yields the full top-K of detections and which cells win depends on
  the faintest pixel differences. The node tests use it to catch a node that feeds the network
  even slightly different pixels than the core; the soak test, to keep association, births and
  deaths at their busiest.
* *detects a handful* (``calibrate=True``, a negative ``hm_bias`` and a ``threshold``): batch
  norms calibrated on random inputs and spread heads find a few boxes of plausible sizes per
  frame, so tracks and the metrics computed from them are not trivial (bag and demo tests).
* *varied scores* (``he_init=True``, :mod:`~centertrack_ros.tools.bench`): He-initialised
  convolutions spread the scores the way a trained network's are spread.

The same arguments give the same weights on every run: the global torch generator is seeded
and every random draw happens in a fixed order.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import torch

from ..core.config import CenterTrackConfig, InputConfig, ModelConfig, TrackerConfig
from ..core.model_spec import save_model
from ..core.models.networks import build_network
from ..synthetic.config import CLASS_NAMES

INPUT_SIZE = (224, 128)  # width, height


def random_network(model: ModelConfig, seed: int = 0, *, he_init: bool = False,
                   calibrate: Optional[tuple[int, int]] = None,
                   hm_bias: Optional[float] = None) -> torch.nn.Module:
    """Build a seeded random-weight network for ``model`` (in eval mode).

    Args:
        model: the network to build.
        seed: seed of torch's global generator, set before the network is built.
        he_init: re-initialise every convolution's weights He-normal: the activations stay
            alive (the largest below 200 for both architectures, safe in fp16) and the scores
            vary from place to place, where the training initialisation leaves an untrained
            heatmap flat (all scores equal to seven digits).
        calibrate: an input size ``(width, height)``: run three batches of random inputs of
            that size in training mode, so that the batch norms hold statistics under which the
            features vary (freshly initialised ones leave them near zero); then spread the
            heatmap weights and size the boxes at some tens of pixels.
        hm_bias: the heatmap head's output bias (the score of a featureless cell is its
            sigmoid); ``None`` keeps the initialisation's.

    """
    torch.manual_seed(seed)
    network = build_network(model)
    if he_init:
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
    if calibrate is not None:
        width, height = calibrate
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # a cumulative average over the calibration batches
        network.train()
        with torch.no_grad():
            for _ in range(3):
                x = torch.randn(2, 3, height, width)
                network(x, x, torch.rand(2, 1, height, width) ** 8)
            torch.nn.init.normal_(_head_output(network, 'hm').weight, 0.0, 0.3)
            _bias(network, 'wh').fill_(6.0)  # boxes of some tens of pixels
            if model.ddd:
                _bias(network, 'dep').fill_(-2.3)  # sigmoid 1 / (d + 1): about 10 m
                _bias(network, 'dim').copy_(torch.tensor([1.5, 1.8, 4.0]))  # car-like, metres
    if hm_bias is not None:
        with torch.no_grad():
            _bias(network, 'hm').fill_(hm_bias)
    return network.eval()


def _head_output(network: torch.nn.Module, head: str) -> torch.nn.Conv2d:
    """Return the convolution that gives a head's outputs (the last of its layers)."""
    conv = list(network.get_submodule(head).children())[-1]
    if not isinstance(conv, torch.nn.Conv2d):
        raise TypeError(f'head {head} does not end in a convolution')
    return conv


def _bias(network: torch.nn.Module, head: str) -> torch.Tensor:
    bias = _head_output(network, head).bias
    if bias is None:
        raise TypeError(f'head {head} has no output bias')
    return bias


def random_model_config(input_size: tuple[int, int] = INPUT_SIZE,
                        class_names: Sequence[str] = CLASS_NAMES,
                        threshold: Optional[float] = None,
                        ddd: bool = False) -> CenterTrackConfig:
    """Return the configuration of a small generic/MobileNetV2 random model.

    ``threshold``, when given, becomes its track, pre and new thresholds (else the defaults');
    ``ddd`` adds the monocular 3D heads.
    """
    tracker = TrackerConfig() if threshold is None else TrackerConfig(
        track_thresh=threshold, pre_thresh=threshold, new_thresh=threshold)
    return CenterTrackConfig(
        model=ModelConfig(arch='generic', backbone='mobilenet', num_classes=len(class_names),
                          class_names=tuple(class_names), ddd=ddd),
        input=InputConfig(width=input_size[0], height=input_size[1]),
        tracker=tracker)


def write_random_model(path: str | os.PathLike, *, input_size: tuple[int, int] = INPUT_SIZE,
                       seed: int = 0, hm_bias: float = 0.0, calibrate: bool = False,
                       threshold: Optional[float] = None,
                       class_names: Sequence[str] = CLASS_NAMES,
                       ddd: bool = False) -> CenterTrackConfig:
    """Save a small random-weight generic/MobileNetV2 checkpoint with our metadata.

    The defaults make the model that detects everywhere; ``calibrate=True`` (batch norms
    calibrated at ``input_size``, spread heads) with a negative ``hm_bias`` one that detects a
    handful (module docstring). ``threshold`` goes into the metadata (:func:`random_model_config`);
    ``ddd`` adds the 3D heads, biased to depths of about 10 m and car-like dimensions.
    Returns the configuration written into the file.
    """
    config = random_model_config(input_size, class_names, threshold, ddd)
    network = random_network(config.model, seed, calibrate=input_size if calibrate else None,
                             hm_bias=hm_bias)
    save_model(path, network, config)
    return config
