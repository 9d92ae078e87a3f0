"""DLA-34 backbone (Yu et al., "Deep Layer Aggregation") as CenterTrack uses it.

Module attribute names mirror the official implementation (``base_layer``, ``level0`` ...
``level5``, ``tree1``/``tree2``/``root``/``project``, ``pre_img_layer``, ``pre_hm_layer``) because
checkpoints are addressed by them.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

DLA34_LEVELS = (1, 1, 1, 2, 2, 1)
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                  stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                  padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection supplied by the caller."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Run the block; ``residual`` defaults to the input."""
        if residual is None:
            residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Root(nn.Module):
    """Aggregation node: 1x1 convolution over the concatenated children."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, *children: torch.Tensor) -> torch.Tensor:
        """Aggregate the children."""
        return self.relu(self.bn(self.conv(torch.cat(children, 1))))


class Tree(nn.Module):
    """Hierarchical aggregation tree of :class:`BasicBlock` leaves."""

    def __init__(self, levels: int, in_channels: int, out_channels: int, stride: int = 1,
                 level_root: bool = False, root_dim: int = 0) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        self.tree1: BasicBlock | Tree
        self.tree2: BasicBlock | Tree
        if levels == 1:
            self.tree1 = BasicBlock(in_channels, out_channels, stride)
            self.tree2 = BasicBlock(out_channels, out_channels, 1)
            self.root = Root(root_dim, out_channels)
        else:
            self.tree1 = Tree(levels - 1, in_channels, out_channels, stride, root_dim=0)
            self.tree2 = Tree(levels - 1, out_channels, out_channels,
                              root_dim=root_dim + out_channels)
        self.level_root = level_root
        self.levels = levels
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project = None
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None,
                children: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
        """Run the tree; ``children`` carries outputs aggregated by the deepest root."""
        # ``residual`` is part of the call signature shared with BasicBlock; a tree always
        # derives its own from the (down-sampled, projected) input.
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        residual = self.project(bottom) if self.project is not None else bottom
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, residual)
        if self.levels == 1:
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        children.append(x1)
        return self.tree2(x1, children=children)


class DLA34(nn.Module):
    """DLA-34 returning the six level outputs (strides 1, 2, 4, 8, 16, 32).

    The previous frame and the prior heatmap enter as extra stems added to the image stem.
    """

    def __init__(self, pre_img: bool = True, pre_hm: bool = True) -> None:
        super().__init__()
        channels = DLA34_CHANNELS
        levels = DLA34_LEVELS
        self.channels = list(channels)
        self.base_layer = nn.Sequential(*_conv_bn_relu(3, channels[0], 7))
        self.level0 = nn.Sequential(*_conv_bn_relu(channels[0], channels[0], 3))
        self.level1 = nn.Sequential(*_conv_bn_relu(channels[0], channels[1], 3, stride=2))
        self.level2 = Tree(levels[2], channels[1], channels[2], 2, level_root=False)
        self.level3 = Tree(levels[3], channels[2], channels[3], 2, level_root=True)
        self.level4 = Tree(levels[4], channels[3], channels[4], 2, level_root=True)
        self.level5 = Tree(levels[5], channels[4], channels[5], 2, level_root=True)
        if pre_img:
            self.pre_img_layer = nn.Sequential(*_conv_bn_relu(3, channels[0], 7))
        if pre_hm:
            self.pre_hm_layer = nn.Sequential(*_conv_bn_relu(1, channels[0], 7))

    def forward(self, x: torch.Tensor, pre_img: Optional[torch.Tensor] = None,
                pre_hm: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        """Return the outputs of all six levels."""
        x = self.base_layer(x)
        if pre_img is not None:
            x = x + self.pre_img_layer(pre_img)
        if pre_hm is not None:
            x = x + self.pre_hm_layer(pre_hm)
        outputs = []
        for level in (self.level0, self.level1, self.level2, self.level3, self.level4,
                      self.level5):
            x = level(x)
            outputs.append(x)
        return outputs
