"""Decoding network outputs into the top-K detections on the output grid (numpy, no torch).

Peaks are local maxima of the heatmap (3x3 NMS: a cell survives where it equals the maximum
of its window, the window seeing only cells inside the map, as the original's max-pool with
padding does); the K best over all classes are taken as the original does (K per class first,
then K overall), and the regression heads are read at those cells. This is the decoding of
every host path (the ONNX Runtime and reference engines); the torch engine decodes on its
device with :func:`~centertrack_ros.core.torch_ops.decode_tensors`, which computes the same.

Ties are decided deterministically: cells of equal score are ranked by their flat index
``class * H * W + y * W + x``, the lower first (``torch.topk`` leaves their order open). The
original's two stages select exactly the global top K of the (class, cell) pairs under any
such total order (a pair among the K best overall is among the K best of its class), so they
are computed as one selection. A tie decides only the order of equal scores among the rows
and which of several equal scores fill the last rows (e.g. the zero scores of suppressed
cells when a map has fewer than K peaks): when at most K cells score above a threshold,
every one of them comes out, whatever the rule.

Heads beyond the 2D box (``tracking``, and the 3D heads ``dep``, ``rot``, ``dim``,
``amodel_offset``) are gathered generically, as the original gathers its "regression heads";
only ``dep`` gets an activation (the depth transform), applied to the gathered values, which
equals applying it to the whole map as the original does (it is element-wise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import cv2
import numpy as np

from .mono3d import depth_from_raw

# Heads decoding consumes to build the scores, classes and boxes; every other head is gathered.
BOX_HEADS = ('hm', 'reg', 'wh', 'ltrb_amodal')
_WINDOW = np.ones((3, 3), dtype=np.uint8)


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


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Return the logistic function of ``logits`` as a new float32 array."""
    out = np.negative(np.asarray(logits, dtype=np.float32))
    with np.errstate(over='ignore', under='ignore'):  # saturation to 0 and 1 is intended
        np.exp(out, out=out)
    out += np.float32(1)
    return np.reciprocal(out, out=out)


def local_maxima(heat: np.ndarray) -> np.ndarray:
    """Mark the cells of a ``B x C x H x W`` map equal to the maximum of their 3x3 window.

    Windows are clipped to the map (replicating the border cannot raise a maximum), so a
    border cell competes only with its neighbours inside the map; equal neighbours (a
    plateau) all survive, as in the original.
    """
    heat = np.ascontiguousarray(heat, dtype=np.float32)
    pooled = np.empty_like(heat)
    for b in range(heat.shape[0]):
        for c in range(heat.shape[1]):
            cv2.dilate(heat[b, c], _WINDOW, dst=pooled[b, c], borderType=cv2.BORDER_REPLICATE)
    return heat == pooled


def heatmap_nms(heat: np.ndarray) -> np.ndarray:
    """Zero every heatmap value that is not the maximum of its 3x3 window (see above)."""
    heat = np.asarray(heat, dtype=np.float32)
    return heat * local_maxima(heat)


def top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` largest of a 1-D array, best first, ties to the lower.

    Linear in the array's size (a partition around the k-th largest value, then a sort of
    the ``k`` chosen); NaN, which has no rank, comes last.
    """
    values = np.asarray(values)
    size = values.size
    k = min(k, size)
    if k < size:
        kth = np.partition(values, size - k)[size - k]
        above = np.flatnonzero(values > kth)
        tied = np.flatnonzero(values == kth)[:k - above.size]
        chosen = np.concatenate([above, tied])
        if chosen.size == k:  # fewer only when NaN is among the values
            return chosen[np.lexsort((chosen, -values[chosen]))]
    return np.argsort(-values, kind='stable')[:k]


def _peak_indices(heat: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Flat (class, cell) indices of the top ``k`` of one image's NMS-filtered ``C x H x W`` map.

    Only the positive peaks are ranked when there are at least ``k`` of them (a heatmap after
    the sigmoid is positive everywhere, so the usual case); otherwise the whole filtered map,
    whose suppressed cells are 0 and fill the remaining rows by the tie rule.
    """
    flat = heat.reshape(-1)
    mask = keep.reshape(-1)
    candidates = np.flatnonzero(mask & (flat > 0))
    if candidates.size >= k:
        return candidates[top_indices(flat[candidates], k)]
    return top_indices(flat * mask, k)


def topk(heat: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Top-``k`` cells over all classes of a (filtered) heatmap, ranked as the module says.

    Returns ``(scores, flat cell indices, classes, ys, xs)``, each ``B x k``; classes are
    0-based (int64), cell indices ``y * W + x`` (int64), ys/xs integer cells as float32.
    """
    heat = np.asarray(heat, dtype=np.float32)
    batch, _, height, width = heat.shape
    flat = heat.reshape(batch, -1)
    index = np.stack([top_indices(flat[b], k) for b in range(batch)])
    return _split(flat, index, height, width)


def _split(flat: np.ndarray, index: np.ndarray, height: int, width: int) -> tuple:
    scores = np.take_along_axis(flat, index, axis=1)
    classes, cells = np.divmod(index, height * width)
    ys, xs = np.divmod(cells, width)
    return scores, cells, classes, ys.astype(np.float32), xs.astype(np.float32)


def gather_at(feature: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Read a ``B x C x H x W`` map at flat cell indices ``B x K``; returns ``B x K x C``."""
    batch, channels = feature.shape[:2]
    flat = np.asarray(feature).reshape(batch, channels, -1)
    return np.stack([flat[b][:, cells[b]].T for b in range(batch)])


def decode_heads(outputs: Mapping[str, np.ndarray], k: int) -> list[RawDetections]:
    """Decode head outputs (``B x C x H x W`` each) into one :class:`RawDetections` per image.

    ``outputs['hm']`` must already be passed through the sigmoid; ``dep`` is raw and decoded
    to depth (the model's ``depth_scale`` is applied with the other 3D arithmetic, in
    :mod:`.postprocess`). Rows: ``min(k, H * W)``, best first (the original's count).
    Every other head than the box heads and ``tracking`` is gathered under its own name.
    """
    heat = np.ascontiguousarray(outputs['hm'], dtype=np.float32)
    batch, _, height, width = heat.shape
    k = min(k, height * width)
    keep = local_maxima(heat)
    index = np.stack([_peak_indices(heat[b], keep[b], k) for b in range(batch)])
    scores, cells, classes, ys0, xs0 = _split(heat.reshape(batch, -1), index, height, width)
    # Suppressed cells score 0 (they are selected only when there are fewer peaks than rows).
    scores = scores * np.take_along_axis(keep.reshape(batch, -1), index, axis=1)

    def gathered(name: str) -> np.ndarray:
        return gather_at(np.asarray(outputs[name], dtype=np.float32), cells)

    if 'reg' in outputs:
        reg = gathered('reg')
        xs, ys = xs0 + reg[..., 0], ys0 + reg[..., 1]
    else:
        xs, ys = xs0 + np.float32(0.5), ys0 + np.float32(0.5)
    if 'ltrb_amodal' in outputs:
        # The original replaces the size-based box by the amodal one when the head exists.
        ltrb = gathered('ltrb_amodal')
        bboxes = np.stack([xs0 + ltrb[..., 0], ys0 + ltrb[..., 1],
                           xs0 + ltrb[..., 2], ys0 + ltrb[..., 3]], axis=2)
    else:
        wh = np.maximum(gathered('wh'), np.float32(0))
        half_w, half_h = wh[..., 0] / np.float32(2), wh[..., 1] / np.float32(2)
        bboxes = np.stack([xs - half_w, ys - half_h, xs + half_w, ys + half_h], axis=2)
    cts = np.stack([xs0, ys0], axis=2)
    tracking = gathered('tracking') if 'tracking' in outputs else None
    extras = {name: gathered(name) for name in extra_heads({name: 0 for name in outputs})}
    if 'dep' in extras:
        extras['dep'] = depth_from_raw(extras['dep'])
    return [RawDetections(scores=scores[b], classes=classes[b], cts=cts[b], bboxes=bboxes[b],
                          tracking=None if tracking is None else tracking[b],
                          extras={name: value[b] for name, value in extras.items()})
            for b in range(batch)]
