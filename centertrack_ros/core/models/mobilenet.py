"""MobileNetV2 backbone as used by CenterTrack's ``generic`` network.

Returns the feature maps at the end of each resolution (strides 2, 2, 4, 8, 16, 32) so that
the DLA-up neck can aggregate them. Attribute names (``features.N.conv...``, ``pre_img_layer``,
``pre_hm_layer``) follow the official implementation so checkpoints load unchanged.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

# (expansion t, output channels c, repeats n, first stride s) of MobileNetV2.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32


class ConvBNReLU6(nn.Sequential):
    """Convolution, batch norm and ReLU6 (indices 0, 1, 2 as in the official model)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand (1x1), depthwise (3x3), project (1x1, linear)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_channels, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 (width 1.0) returning one feature map per resolution."""

    def __init__(self, pre_img: bool = True, pre_hm: bool = True) -> None:
        super().__init__()
        if pre_img:
            self.pre_img_layer = nn.Sequential(
                nn.Conv2d(3, STEM_CHANNELS, 3, padding=1, stride=2, bias=False),
                nn.BatchNorm2d(STEM_CHANNELS))
        if pre_hm:
            self.pre_hm_layer = nn.Sequential(
                nn.Conv2d(1, STEM_CHANNELS, 3, padding=1, stride=2, bias=False),
                nn.BatchNorm2d(STEM_CHANNELS))
        features: list[nn.Module] = [ConvBNReLU6(3, STEM_CHANNELS, stride=2)]
        strides = [2]
        block_channels = [STEM_CHANNELS]
        in_channels = STEM_CHANNELS
        for expand, out_channels, repeats, first_stride in INVERTED_RESIDUAL_SETTING:
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                features.append(InvertedResidual(in_channels, out_channels, stride, expand))
                strides.append(stride)
                block_channels.append(out_channels)
                in_channels = out_channels
        self.features = nn.ModuleList(features)
        # A feature map is tapped right before each down-sampling block and after the last
        # block, i.e. the deepest map of each resolution. The stem output is always tapped.
        taps = [i for i in range(1, len(features) - 1) if strides[i + 1] == 2]
        taps.append(len(features) - 1)
        self._taps = frozenset(taps)
        self.channels = [STEM_CHANNELS] + [block_channels[i] for i in taps]

    def forward(self, x: torch.Tensor, pre_img: Optional[torch.Tensor] = None,
                pre_hm: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        """Return the stem output followed by the deepest map of each resolution."""
        x = self.features[0](x)
        if pre_img is not None:
            x = x + self.pre_img_layer(pre_img)
        if pre_hm is not None:
            x = x + self.pre_hm_layer(pre_hm)
        outputs = [x]
        for i in range(1, len(self.features)):
            x = self.features[i](x)
            if i in self._taps:
                outputs.append(x)
        return outputs
