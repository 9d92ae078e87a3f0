"""DLA-up / IDA-up feature aggregation with deformable convolutions.

This is the upsampling path shared by ``dla_34`` (attributes ``dla_up``/``ida_up`` on the
network) and the ``generic`` network's ``dlaup`` neck (the same attributes under ``neck``).
It fuses the backbone's maps from stride 32 down to stride 4, the output stride of every
CenterTrack head.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .dcn import ModulatedDeformConv2d

FIRST_LEVEL = 2  # log2 of the output stride 4
LAST_LEVEL = 5


class DeformConvBlock(nn.Module):
    """Deformable 3x3 convolution followed by batch norm and ReLU (``conv`` then ``actf``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.actf = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.conv = ModulatedDeformConv2d(in_channels, out_channels, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        return self.actf(self.conv(x))


def _bilinear_upsampling_(weight: torch.Tensor) -> None:
    """Initialise a depthwise transposed convolution as bilinear interpolation."""
    size = weight.shape[2]
    factor = math.ceil(size / 2)
    centre = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    coords = torch.arange(size, dtype=torch.float64)
    profile = 1 - torch.abs(coords / factor - centre)
    kernel = (profile[:, None] * profile[None, :]).to(weight.dtype)
    with torch.no_grad():
        weight.copy_(kernel.expand_as(weight))


class IDAUp(nn.Module):
    """Iterative deep aggregation: project, upsample and merge maps into the first one."""

    def __init__(self, out_channels: int, in_channels: Sequence[int],
                 up_factors: Sequence[int]) -> None:
        super().__init__()
        for i in range(1, len(in_channels)):
            factor = int(up_factors[i])
            up = nn.ConvTranspose2d(out_channels, out_channels, factor * 2, stride=factor,
                                    padding=factor // 2, output_padding=0,
                                    groups=out_channels, bias=False)
            _bilinear_upsampling_(up.weight)
            setattr(self, f'proj_{i}', DeformConvBlock(in_channels[i], out_channels))
            setattr(self, f'up_{i}', up)
            setattr(self, f'node_{i}', DeformConvBlock(out_channels, out_channels))

    def forward(self, layers: list[torch.Tensor], start: int, end: int) -> None:
        """Merge ``layers[start+1:end]`` in place, each into its predecessor's resolution."""
        for i in range(start + 1, end):
            k = i - start
            upsampled = getattr(self, f'up_{k}')(getattr(self, f'proj_{k}')(layers[i]))
            layers[i] = getattr(self, f'node_{k}')(upsampled + layers[i - 1])


class DLAUp(nn.Module):
    """Deep layer aggregation from the deepest map up to ``FIRST_LEVEL``."""

    def __init__(self, channels: Sequence[int], scales: Sequence[int]) -> None:
        super().__init__()
        in_channels = list(channels)
        scales = list(scales)
        for i in range(len(channels) - 1):
            j = len(channels) - i - 2
            setattr(self, f'ida_{i}', IDAUp(channels[j], in_channels[j:],
                                            [s // scales[j] for s in scales[j:]]))
            # After this stage every deeper map has channels[j] channels at scale j.
            scales[j + 1:] = [scales[j]] * (len(scales) - j - 1)
            in_channels[j + 1:] = [channels[j]] * (len(in_channels) - j - 1)
        self._stages = len(channels) - 1

    def forward(self, layers: list[torch.Tensor]) -> list[torch.Tensor]:
        """Return the aggregated maps, highest resolution first."""
        layers = list(layers)
        outputs = [layers[-1]]
        for i in range(self._stages):
            getattr(self, f'ida_{i}')(layers, len(layers) - i - 2, len(layers))
            outputs.insert(0, layers[-1])
        return outputs


def build_aggregation(channels: Sequence[int]) -> tuple[DLAUp, IDAUp, int]:
    """Create the DLA-up and final IDA-up stages for backbone ``channels``.

    Returns the two stages and the channel count of the stride-4 map they produce.
    """
    used = list(channels[FIRST_LEVEL:])
    dla_up = DLAUp(used, [2 ** i for i in range(len(used))])
    out_channels = channels[FIRST_LEVEL]
    span = LAST_LEVEL - FIRST_LEVEL
    ida_up = IDAUp(out_channels, list(channels[FIRST_LEVEL:LAST_LEVEL]),
                   [2 ** i for i in range(span)])
    return dla_up, ida_up, out_channels


def aggregate(dla_up: DLAUp, ida_up: IDAUp, features: list[torch.Tensor]) -> torch.Tensor:
    """Fuse backbone features into the stride-4 map the heads read."""
    aggregated = dla_up(features)
    maps = aggregated[:LAST_LEVEL - FIRST_LEVEL]
    ida_up(maps, 0, len(maps))
    return maps[-1]


class DLAUpNeck(nn.Module):
    """The ``dlaup`` neck of the generic network: DLA-up followed by a final IDA-up."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        self.dla_up, self.ida_up, self.out_channels = build_aggregation(channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Return the aggregated stride-4 map."""
        return aggregate(self.dla_up, self.ida_up, features)
