"""Decoding network outputs into the top-K detections on the output grid (torch, any device).

Peaks are local maxima of the heatmap (3x3 max-pool NMS); the K best over all classes are
taken the way the original does (K per class first, then K overall), and the regression heads
are read at those cells. Everything stays on the network's device; only ``K`` rows leave it.

Heads beyond the 2D box (``tracking``, and the 3D heads ``dep``, ``rot``, ``dim``,
``amodel_offset``) are gathered generically, as the original gathers its "regression heads";
only ``dep`` gets an activation (the depth transform), applied to the gathered values, which
equals applying it to the whole map as the original does (it is element-wise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .mono3d import depth_from_raw

# Heads decoding consumes to build the scores, classes and boxes; every other head is gathered.
BOX_HEADS = ('hm', 'reg', 'wh', 'ltrb_amodal')


def heatmap_nms(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Zero every heatmap value that is not the maximum of its ``kernel x kernel`` window."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return heat * (hmax == heat).to(heat.dtype)


def topk(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Top-``k`` peaks over all classes: ``(scores, flat indices, classes, ys, xs)``.

    Each output is ``B x k``; classes are 0-based; ys/xs are integer grid cells (as floats).
    """
    batch, num_classes, height, width = heat.shape
    per_class_scores, per_class_inds = torch.topk(heat.reshape(batch, num_classes, -1), k)
    scores, best = torch.topk(per_class_scores.reshape(batch, -1), k)
    classes = torch.div(best, k, rounding_mode='floor')
    inds = per_class_inds.reshape(batch, -1).gather(1, best)
    ys = torch.div(inds, width, rounding_mode='floor').to(heat.dtype)
    xs = (inds % width).to(heat.dtype)
    return scores, inds, classes, ys, xs


def gather_at(feature: torch.Tensor, inds: torch.Tensor) -> torch.Tensor:
    """Read a ``B x C x H x W`` map at flat cell indices ``B x K``; returns ``B x K x C``."""
    batch, channels = feature.shape[:2]
    flat = feature.reshape(batch, channels, -1)
    return flat.gather(2, inds.unsqueeze(1).expand(batch, channels, inds.shape[1])).transpose(1, 2)


@dataclass
class RawDetections:
    """Top-K detections of one image on the output grid (numpy, sorted by score).

    ``bboxes`` are ``x1, y1, x2, y2`` in output cells (amodal when the model has that head),
    ``cts`` are the integer peak cells and ``tracking`` the raw offsets to the previous frame.
    ``extras`` holds the other gathered heads (``K x C`` each, e.g. the 3D heads; ``dep``
    already through the depth transform), in the model's head order.
    """

    scores: np.ndarray
    classes: np.ndarray
    cts: np.ndarray
    bboxes: np.ndarray
    tracking: Optional[np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def extra_heads(heads: Mapping[str, int]) -> dict[str, int]:
    """Return the heads decoding gathers besides ``tracking``, with their channels."""
    return {name: channels for name, channels in heads.items()
            if name not in BOX_HEADS and name != 'tracking'}


def decode_tensors(outputs: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Decode sigmoid-activated head outputs into ``B x K`` tensors on their device.

    ``outputs['hm']`` must already be passed through the sigmoid; ``dep`` is raw and decoded
    to depth (the model's ``depth_scale`` is applied with the other 3D arithmetic, in
    :mod:`.postprocess`). Besides ``scores``, ``classes``, ``cts``, ``bboxes`` and
    ``tracking`` the result holds every other head gathered under its own name.
    """
    heat = outputs['hm']
    k = min(k, heat.shape[2] * heat.shape[3])
    scores, inds, classes, ys0, xs0 = topk(heatmap_nms(heat), k)
    if 'reg' in outputs:
        reg = gather_at(outputs['reg'], inds)
        xs = xs0 + reg[..., 0]
        ys = ys0 + reg[..., 1]
    else:
        xs, ys = xs0 + 0.5, ys0 + 0.5
    if 'ltrb_amodal' in outputs:
        # The original replaces the size-based box by the amodal one when the head exists.
        ltrb = gather_at(outputs['ltrb_amodal'], inds)
        bboxes = torch.stack([xs0 + ltrb[..., 0], ys0 + ltrb[..., 1],
                              xs0 + ltrb[..., 2], ys0 + ltrb[..., 3]], dim=2)
    else:
        wh = gather_at(outputs['wh'], inds).clamp(min=0)
        bboxes = torch.stack([xs - wh[..., 0] / 2, ys - wh[..., 1] / 2,
                              xs + wh[..., 0] / 2, ys + wh[..., 1] / 2], dim=2)
    decoded = {
        'scores': scores, 'classes': classes, 'cts': torch.stack([xs0, ys0], dim=2),
        'bboxes': bboxes,
    }
    if 'tracking' in outputs:
        decoded['tracking'] = gather_at(outputs['tracking'], inds)
    for name in extra_heads({name: 0 for name in outputs}):
        decoded[name] = gather_at(outputs[name], inds)
    if 'dep' in decoded:
        decoded['dep'] = depth_from_raw(decoded['dep'])
    return decoded


def to_raw_detections(decoded: Mapping[str, torch.Tensor]) -> list[RawDetections]:
    """Copy decoded tensors to the host, one :class:`RawDetections` per image."""
    host = {name: value.detach().float().cpu().numpy() for name, value in decoded.items()}
    host['classes'] = decoded['classes'].detach().cpu().numpy().astype(np.int64)
    extras = [name for name in decoded if name not in _CORE_FIELDS]
    return [
        RawDetections(scores=host['scores'][b], classes=host['classes'][b], cts=host['cts'][b],
                      bboxes=host['bboxes'][b], tracking=host.get('tracking', [None] * (b + 1))[b],
                      extras={name: host[name][b] for name in extras})
        for b in range(host['scores'].shape[0])
    ]


_CORE_FIELDS = ('scores', 'classes', 'cts', 'bboxes', 'tracking')
