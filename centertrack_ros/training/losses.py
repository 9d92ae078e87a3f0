"""CenterTrack's training losses: penalty-reduced focal loss on the heatmap, masked L1 elsewhere.

Heatmap. With ``p`` the predicted probability (sigmoid clamped to ``[1e-4, 1 - 1e-4]``) and
``y`` the Gaussian target, every cell contributes the negative term
``-(1 - y)^4 p^2 log(1 - p)`` and every object centre the positive term
``-(1 - p)^2 log p``, read at the object's cell and class (so a centre's own cell, whose target
is exactly 1, has no negative term, and a cell raised to 1 by an ignore region has neither).
The sum is divided by the number of objects (not at all when there are none).

Regression heads. The head is read at each object's cell; the absolute error of the masked
entries is summed and divided by the number of masked entries.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

DEFAULT_WEIGHTS = {'hm': 1.0, 'reg': 1.0, 'wh': 0.1, 'tracking': 1.0, 'ltrb_amodal': 0.1}
"""The official loss weights (``--hm_weight`` 1, ``--off_weight`` 1, ``--wh_weight`` 0.1,
``--tracking_weight`` 1, ``--ltrb_amodal_weight`` 0.1)."""

_EPS = 1e-4


def gather_cells(feature: torch.Tensor, ind: torch.Tensor) -> torch.Tensor:
    """Values of a ``B x C x H x W`` map at flat cell indices ``B x M``; returns ``B x M x C``."""
    batch, channels = feature.shape[:2]
    flat = feature.reshape(batch, channels, -1)
    index = ind.unsqueeze(1).expand(batch, channels, ind.shape[1])
    return flat.gather(2, index).transpose(1, 2)


def clamped_sigmoid(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid kept away from 0 and 1 so that the logarithms stay finite."""
    return torch.clamp(torch.sigmoid(logits), min=_EPS, max=1 - _EPS)


def focal_loss(prob: torch.Tensor, target: torch.Tensor, ind: torch.Tensor,
               mask: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced focal loss (see the module docstring); ``prob`` after the sigmoid."""
    negative = (torch.log(1 - prob) * prob.pow(2) * (1 - target).pow(4)).sum()
    at_centres = gather_cells(prob, ind).gather(2, cat.unsqueeze(2)).squeeze(2)  # B x M
    positive = (torch.log(at_centres) * (1 - at_centres).pow(2) * mask).sum()
    num_pos = mask.sum()
    if num_pos == 0:
        return -negative
    return -(positive + negative) / num_pos


def masked_l1(output: torch.Tensor, mask: torch.Tensor, ind: torch.Tensor,
              target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of a regression head at the object cells, over masked entries."""
    pred = gather_cells(output, ind)
    total = torch.abs(pred * mask - target * mask).sum()
    return total / (mask.sum() + _EPS)


class CenterTrackLoss(nn.Module):
    """Weighted sum of the head losses of one batch.

    ``forward(outputs, batch)`` takes the raw network outputs (heatmap logits) and the batched
    targets and returns ``(total, {head: loss, ..., 'tot': total})``. Heads without a weight
    (or with weight 0) are not computed.
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)

    def forward(self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Compute the losses in float32 whatever precision the network ran in."""
        stats: dict[str, torch.Tensor] = {}
        total = None
        for head, weight in self.weights.items():
            if weight == 0 or head not in outputs:
                continue
            output = outputs[head].float()
            if head == 'hm':
                loss = focal_loss(clamped_sigmoid(output), batch['hm'], batch['ind'],
                                  batch['mask'], batch['cat'])
            else:
                if head not in batch:
                    raise KeyError(f'the network has a {head!r} head but the batch has no '
                                   f'{head!r} targets')
                loss = masked_l1(output, batch[f'{head}_mask'], batch['ind'], batch[head])
            stats[head] = loss
            total = weight * loss if total is None else total + weight * loss
        if total is None:
            raise ValueError('no head of the network has a loss weight')
        stats['tot'] = total
        return total, stats
