"""Pre-processing, prior rendering, decoding and result packing as torch ops (GPU fast path).

These compute on the network's device what :mod:`preprocess`, :mod:`prior` and :mod:`decode`
compute with numpy/OpenCV on the host: the warp uses the same fixed-point source coordinates
and integer weights as :mod:`warp`, so the warped pixels are bit-identical; normalisation and
the Gaussians are evaluated in float32 instead of float64. Decoding selects the same peaks
(up to the order of exactly equal scores, which ``torch.topk`` leaves open) and does the same
float32 arithmetic; only ``K`` rows leave the device, and the depth transform of ``dep`` is
applied to those on the host, by :func:`~.mono3d.depth_from_raw` (one formula for both paths).
Only the torch engines (and tools timing them) import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .decode import RawDetections, extra_heads
from .geometry import FrameGeometry
from .mono3d import depth_from_raw
from .warp import COEF_BITS, INTER_TAB_SIZE, warp_maps

PACKED_FIELDS = 10  # score, class, ct x/y, x1, y1, x2, y2, tracking x/y; then the extras
PRIOR_CHUNK = 16  # peaks rendered per dense pass: bounds the temporary to 16 x H x W


@dataclass(frozen=True, eq=False)
class DeviceWarp:
    """The separable fixed-point warp of one geometry, as device tensors.

    CenterTrack's transform has no rotation, so a source column depends only on the output
    column and a source row only on the output row; the 2-D maps collapse to vectors.
    """

    cols: torch.Tensor      # (w,) int64 left tap, clamped into the image
    rows: torch.Tensor      # (h,) int64 top tap, clamped
    wx: torch.Tensor        # (2, w) int32 weights of left/right taps (0 where outside)
    wy: torch.Tensor        # (2, h) int32 weights of top/bottom taps (0 where outside)
    cols_next: torch.Tensor  # (w,) int64 right tap, clamped
    rows_next: torch.Tensor  # (h,) int64 bottom tap, clamped


def device_warp(geometry: FrameGeometry, device: torch.device) -> DeviceWarp:
    """Build the device-side warp for ``geometry`` (call once per image size)."""
    maps = warp_maps(geometry)
    src_x, src_y = maps.src_x[0], maps.src_y[:, 0]
    if not (np.all(maps.src_x == src_x) and np.all(maps.src_y == src_y[:, None])):
        raise ValueError('the input transform is not separable (rotation is unsupported)')
    frac_x, frac_y = maps.frac_x[0], maps.frac_y[:, 0]

    def taps(src: np.ndarray, frac: np.ndarray, size: int) -> tuple:
        first, second = src, src + 1
        w_first = (INTER_TAB_SIZE - frac) * ((first >= 0) & (first < size))
        w_second = frac * ((second >= 0) & (second < size))
        return (torch.from_numpy(np.clip(first, 0, size - 1).astype(np.int64)).to(device),
                torch.from_numpy(np.clip(second, 0, size - 1).astype(np.int64)).to(device),
                torch.from_numpy(np.stack([w_first, w_second]).astype(np.int32)).to(device))

    cols, cols_next, wx = taps(src_x, frac_x, geometry.image_width)
    rows, rows_next, wy = taps(src_y, frac_y, geometry.image_height)
    return DeviceWarp(cols=cols, rows=rows, wx=wx, wy=wy, cols_next=cols_next,
                      rows_next=rows_next)


def warp_uint8(image: torch.Tensor, warp: DeviceWarp) -> torch.Tensor:
    """Warp an ``H x W x 3`` uint8 device image to ``h x w x 3`` int32 pixel values (0..255).

    Weights are products of the 1/32-step tap weights, scaled to 2**15 as OpenCV's table is;
    rounding and shift match OpenCV's fixed-point bilinear exactly.
    """
    img = image.to(torch.int32)
    top = img.index_select(0, warp.rows)
    bottom = img.index_select(0, warp.rows_next)
    terms = []
    for vertical, row_weight in ((top, warp.wy[0]), (bottom, warp.wy[1])):
        left = vertical.index_select(1, warp.cols)
        right = vertical.index_select(1, warp.cols_next)
        # 32 * wy * wx sums to 2**15 over the four taps, as OpenCV's interpolation table does.
        horizontal = left * warp.wx[0][None, :, None] + right * warp.wx[1][None, :, None]
        terms.append(horizontal * (row_weight * (1 << (COEF_BITS - 2 * 5)))[:, None, None])
    return (terms[0] + terms[1] + (1 << (COEF_BITS - 1))) >> COEF_BITS


def normalise_chw(pixels: torch.Tensor, mean: torch.Tensor, inv_std: torch.Tensor,
                  dtype: torch.dtype) -> torch.Tensor:
    """``h x w x 3`` pixel values → ``3 x h x w`` normalised network input in ``dtype``."""
    scaled = pixels.to(torch.float32).permute(2, 0, 1) / 255.0
    return ((scaled - mean[:, None, None]) * inv_std[:, None, None]).to(dtype)


def peaks_tensor(peaks: Sequence[tuple[int, int, int]], device: torch.device) -> torch.Tensor:
    """Pack ``(x, y, radius)`` peaks into an ``N x 3`` float32 tensor on ``device``."""
    data = np.asarray(peaks, dtype=np.float32).reshape(-1, 3)
    return torch.from_numpy(data).to(device, non_blocking=True)


def render_prior(peaks: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Render ``N x 3`` (x, y, radius) peaks as max-blended Gaussians into ``H x W`` float32.

    Each Gaussian is separable and is zero outside its ``(2r+1)^2`` window, so it is the outer
    product of two windowed 1-D profiles; peaks are blended in chunks to bound memory.
    """
    heat = torch.zeros(height, width, dtype=torch.float32, device=peaks.device)
    if peaks.shape[0] == 0:
        return heat
    xs = torch.arange(width, dtype=torch.float32, device=peaks.device)
    ys = torch.arange(height, dtype=torch.float32, device=peaks.device)
    for start in range(0, peaks.shape[0], PRIOR_CHUNK):
        chunk = peaks[start:start + PRIOR_CHUNK]
        cx, cy, radius = chunk[:, 0:1], chunk[:, 1:2], chunk[:, 2:3]
        two_sigma_sq = 2 * ((2 * radius + 1) / 6) ** 2
        dx, dy = xs[None, :] - cx, ys[None, :] - cy
        profile_x = torch.exp(-dx * dx / two_sigma_sq) * (dx.abs() <= radius)
        profile_y = torch.exp(-dy * dy / two_sigma_sq) * (dy.abs() <= radius)
        blended = (profile_y[:, :, None] * profile_x[:, None, :]).amax(dim=0)
        heat = torch.maximum(heat, blended)
    return heat


def heatmap_nms(heat: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Zero every heatmap value that is not the maximum of its ``kernel x kernel`` window."""
    hmax = F.max_pool2d(heat, kernel, stride=1, padding=(kernel - 1) // 2)
    return heat * (hmax == heat).to(heat.dtype)


def topk(heat: torch.Tensor, k: int) -> tuple[torch.Tensor, ...]:
    """Top-``k`` peaks over all classes: ``(scores, flat indices, classes, ys, xs)``.

    K per class first, then K overall, as the original. Each output is ``B x k``; classes
    are 0-based; ys/xs are integer grid cells (as floats).
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


def decode_tensors(outputs: Mapping[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Decode sigmoid-activated head outputs into ``B x K`` tensors on their device.

    The device twin of :func:`~centertrack_ros.core.decode.decode_heads`:
    ``outputs['hm']`` must already be passed through the sigmoid. Besides ``scores``,
    ``classes``, ``cts``, ``bboxes`` and ``tracking`` the result holds every other head
    gathered under its own name, ``dep`` still **raw** (:func:`to_raw_detections` and
    :func:`unpack_detections` apply the depth transform on the host).
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
    return decoded


def to_raw_detections(decoded: Mapping[str, torch.Tensor]) -> list[RawDetections]:
    """Copy decoded tensors to the host field by field, one :class:`RawDetections` per image.

    (The torch engine copies one packed tensor instead: :func:`pack_detections`.)
    """
    host = {name: value.detach().float().cpu().numpy() for name, value in decoded.items()}
    host['classes'] = decoded['classes'].detach().cpu().numpy().astype(np.int64)
    if 'dep' in host:
        host['dep'] = depth_from_raw(host['dep'])
    extras = [name for name in decoded if name not in _CORE_FIELDS]
    return [
        RawDetections(scores=host['scores'][b], classes=host['classes'][b], cts=host['cts'][b],
                      bboxes=host['bboxes'][b],
                      tracking=host['tracking'][b] if 'tracking' in host else None,
                      extras={name: host[name][b] for name in extras})
        for b in range(host['scores'].shape[0])
    ]


_CORE_FIELDS = ('scores', 'classes', 'cts', 'bboxes', 'tracking')


def packed_width(extras: Optional[Mapping[str, int]] = None) -> int:
    """Columns of a packed row: the 10 fixed fields plus each extra head's channels."""
    return PACKED_FIELDS + sum((extras or {}).values())


def pack_detections(decoded: Mapping[str, torch.Tensor],
                    extras: Sequence[str] = ()) -> torch.Tensor:
    """Pack decoded ``B x K`` tensors into one ``B x K x C`` float32 tensor (one copy back).

    The 10 fixed fields come first, then the gathered heads named in ``extras`` in that order
    (see :func:`~centertrack_ros.core.decode.extra_heads`; ``dep`` raw).
    """
    batch, k = decoded['scores'].shape
    tracking = decoded.get('tracking')
    if tracking is None:
        tracking = decoded['scores'].new_zeros(batch, k, 2)
    return torch.cat([
        decoded['scores'].float()[..., None], decoded['classes'].float()[..., None],
        decoded['cts'].float(), decoded['bboxes'].float(), tracking.float(),
    ] + [decoded[name].float() for name in extras], dim=2)


def unpack_detections(packed: np.ndarray, has_tracking: bool = True,
                      extras: Optional[Mapping[str, int]] = None) -> list[RawDetections]:
    """Inverse of :func:`pack_detections` on the host (``extras``: names and channels).

    ``dep`` goes through the depth transform here, as on the host path.
    """
    out = []
    for rows in packed:
        columns, start = {}, PACKED_FIELDS
        for name, channels in (extras or {}).items():
            columns[name] = rows[:, start:start + channels]
            start += channels
        if 'dep' in columns:
            columns['dep'] = depth_from_raw(columns['dep'])
        out.append(RawDetections(
            scores=rows[:, 0], classes=rows[:, 1].astype(np.int64), cts=rows[:, 2:4],
            bboxes=rows[:, 4:8], tracking=rows[:, 8:10] if has_tracking else None,
            extras=columns))
    return out


def as_torch_device(device: object) -> torch.device:
    """Return ``device`` (a ``torch.device``, a ``Device`` or its text) as a ``torch.device``."""
    return device if isinstance(device, torch.device) else torch.device(str(device))


class TorchDeviceMemory:
    """Device memory of an engine whose network runs in torch on ``self.device``.

    A mixin before :class:`~.engines.base.InferenceEngine` in the torch engines' bases: it
    provides their :meth:`memory` and :meth:`release` through torch's CUDA caching allocator.
    """

    device: torch.device

    def memory(self) -> dict[str, str]:
        """Report the CUDA memory torch holds on the device (allocated, reserved); {} on a CPU.

        MiB, one decimal.
        """
        if self.device.type != 'cuda':
            return {}
        return {
            'gpu_memory_allocated_mb': f'{torch.cuda.memory_allocated(self.device) / 2 ** 20:.1f}',
            'gpu_memory_reserved_mb': f'{torch.cuda.memory_reserved(self.device) / 2 ** 20:.1f}'}

    def release(self) -> None:
        """Return torch's cached, unused CUDA memory to the driver (the engine stays usable)."""
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()
