"""Modulated deformable convolution (DCNv2) on top of ``torchvision.ops.deform_conv2d``.

The parameter names (``weight``, ``bias``, ``conv_offset_mask.*``) are those of the DCNv2
extension CenterTrack was trained with, so official checkpoints load without renaming. The
offset layout is identical too: the offset/mask convolution emits ``[o1, o2, mask]`` thirds;
``cat(o1, o2)`` interleaves (dy, dx) per kernel tap exactly as torchvision expects.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import deform_conv2d


class ModulatedDeformConv2d(nn.Module):
    """3x3 (or k x k) modulated deformable convolution with learned offsets and masks."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        taps = kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(in_channels, 3 * taps, kernel_size, stride=stride,
                                          padding=padding, dilation=dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like DCNv2: uniform weights, zero offsets (a plain conv at start)."""
        fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset_mask.weight)
        assert self.conv_offset_mask.bias is not None  # built with bias=True
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the deformable convolution."""
        offset_y_x, offset_x_y, mask = torch.chunk(self.conv_offset_mask(x), 3, dim=1)
        offset = torch.cat((offset_y_x, offset_x_y), dim=1)
        return deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation,
                             mask=torch.sigmoid(mask))
