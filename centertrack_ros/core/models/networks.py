"""The two CenterTrack networks and a factory that builds one from a :class:`ModelConfig`.

* ``dla_34``: DLA-34 backbone under ``base``, aggregation under ``dla_up``/``ida_up``.
* ``generic``: a backbone under ``backbone`` (MobileNetV2 or DLA-34) and the DLA-up neck
  under ``neck``.

Both carry one head per output (``hm``, ``reg``, ``wh``, ``tracking``, ``ltrb_amodal``):
3x3 convolution, ReLU, 1x1 convolution, indexed ``0`` and ``2`` as in official checkpoints.
Forward returns a dict of raw head outputs (the heatmap before its sigmoid).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..config import ModelConfig
from .dla import DLA34
from .dla_up import DLAUpNeck, aggregate, build_aggregation
from .mobilenet import MobileNetV2Backbone


def _make_head(in_channels: int, hidden: int, out_channels: int, bias: float) -> nn.Sequential:
    first = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=True)
    last = nn.Conv2d(hidden, out_channels, 1, bias=True)
    assert first.bias is not None and last.bias is not None  # built with bias=True
    nn.init.zeros_(first.bias)
    nn.init.constant_(last.bias, bias)
    return nn.Sequential(first, nn.ReLU(inplace=True), last)


class _CenterTrackHeads(nn.Module):
    """Mixin-like base holding the heads as direct attributes (``hm``, ``reg`` ...)."""

    def _add_heads(self, config: ModelConfig, in_channels: int) -> None:
        self.head_names = tuple(config.heads)
        for name, channels in config.heads.items():
            # Only the heatmap gets the focal-loss prior; regression heads start at zero bias.
            bias = config.prior_bias if name == 'hm' else 0.0
            setattr(self, name, _make_head(in_channels, config.head_channels, channels, bias))

    def _run_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name)(features) for name in self.head_names}


class DLASegNetwork(_CenterTrackHeads):
    """The official ``dla_34`` CenterTrack network."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.base = DLA34(pre_img=config.pre_img, pre_hm=config.pre_hm)
        # The official network keeps the two aggregation stages as direct attributes.
        self.dla_up, self.ida_up, out_channels = build_aggregation(self.base.channels)
        self._add_heads(config, out_channels)

    def forward(self, image: torch.Tensor, pre_img: Optional[torch.Tensor] = None,
                pre_hm: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Return raw head outputs for the current image, previous image and prior heatmap."""
        features = self.base(image, pre_img, pre_hm)
        return self._run_heads(aggregate(self.dla_up, self.ida_up, features))


class GenericNetwork(_CenterTrackHeads):
    """The official ``generic`` CenterTrack network (backbone + neck + heads)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.backbone: MobileNetV2Backbone | DLA34
        if config.backbone == 'mobilenet':
            self.backbone = MobileNetV2Backbone(pre_img=config.pre_img, pre_hm=config.pre_hm)
        else:
            self.backbone = DLA34(pre_img=config.pre_img, pre_hm=config.pre_hm)
        self.neck = DLAUpNeck(self.backbone.channels)
        self._add_heads(config, self.neck.out_channels)

    def forward(self, image: torch.Tensor, pre_img: Optional[torch.Tensor] = None,
                pre_hm: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        """Return raw head outputs for the current image, previous image and prior heatmap."""
        return self._run_heads(self.neck(self.backbone(image, pre_img, pre_hm)))


def build_network(config: ModelConfig) -> nn.Module:
    """Create the (randomly initialised) network described by ``config``."""
    if config.arch == 'dla_34':
        return DLASegNetwork(config)
    return GenericNetwork(config)
