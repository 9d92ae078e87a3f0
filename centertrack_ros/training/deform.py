"""Modulated deformable convolution written with ``grid_sample`` for training on the CPU.

torchvision's CPU kernel for the *backward* pass of ``deform_conv2d`` is single-threaded and
took about 80 % of a training step of the generic network on a 2-core machine. The same
operation -- bilinear sampling of every kernel tap at its offset position with zeros outside
the image, times the modulation mask, followed by a dense matrix product with the weights --
can be expressed with ``grid_sample`` and ``einsum``, whose gradients PyTorch already
parallelises. The result equals torchvision's to floating-point rounding (the tests compare
both, values and gradients). Parameters and their names are untouched, so checkpoints are
the same either way.
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn

from ..core.models.dcn import ModulatedDeformConv2d


def sampling_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                           bias: torch.Tensor | None, mask: torch.Tensor, stride: int = 1,
                           padding: int = 1, dilation: int = 1) -> torch.Tensor:
    """``torchvision.ops.deform_conv2d`` (one offset group) via ``grid_sample``.

    ``offset`` is ``N x 2K x Ho x Wo`` with (dy, dx) per kernel tap, ``mask`` ``N x K x Ho x
    Wo`` (already in [0, 1]), ``weight`` ``O x C x kh x kw``.
    """
    n, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = offset.shape[2:]
    taps = kh * kw
    def positions(count: int) -> torch.Tensor:
        return torch.arange(count, device=x.device, dtype=offset.dtype)

    tap_y = (positions(kh) * dilation).repeat_interleave(kw).view(1, taps, 1, 1)
    tap_x = (positions(kw) * dilation).repeat(kh).view(1, taps, 1, 1)
    base_y = (positions(out_h) * stride - padding).view(1, 1, out_h, 1)
    base_x = (positions(out_w) * stride - padding).view(1, 1, 1, out_w)
    offset = offset.view(n, taps, 2, out_h, out_w)
    y = base_y + tap_y + offset[:, :, 0]
    x_pos = base_x + tap_x + offset[:, :, 1]
    # Pixel centres sit at (2i + 1) / size - 1 in grid_sample's normalised coordinates.
    grid = torch.stack(((2 * x_pos + 1) / width - 1, (2 * y + 1) / height - 1), dim=-1)
    sampled = F.grid_sample(x, grid.view(n, taps * out_h, out_w, 2).to(x.dtype),
                            mode='bilinear', padding_mode='zeros', align_corners=False)
    sampled = sampled.view(n, channels, taps, out_h, out_w) * mask.view(
        n, 1, taps, out_h, out_w).to(x.dtype)
    out = torch.einsum('nckp,ock->nop', sampled.reshape(n, channels, taps, out_h * out_w),
                       weight.view(out_channels, channels, taps).to(x.dtype))
    if bias is not None:
        out = out + bias.view(1, out_channels, 1).to(out.dtype)
    return out.view(n, out_channels, out_h, out_w)


def _sampling_forward(self: ModulatedDeformConv2d, x: torch.Tensor) -> torch.Tensor:
    offset_y_x, offset_x_y, mask = torch.chunk(self.conv_offset_mask(x), 3, dim=1)
    offset = torch.cat((offset_y_x, offset_x_y), dim=1)
    return sampling_deform_conv2d(x, offset, self.weight, self.bias, torch.sigmoid(mask),
                                  self.stride, self.padding, self.dilation)


def use_sampling_deform_conv(network: nn.Module) -> int:
    """Switch every deformable convolution of ``network`` to :func:`sampling_deform_conv2d`.

    Returns how many layers were switched. Only the instances' ``forward`` changes.
    """
    count = 0
    for module in network.modules():
        if isinstance(module, ModulatedDeformConv2d):
            # Per instance, on purpose: the class (and other networks) keep torchvision's op.
            module.forward = types.MethodType(  # type: ignore[method-assign]
                _sampling_forward, module)
            count += 1
    return count
