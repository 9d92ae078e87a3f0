"""Training targets of CenterTrack: heatmaps, regression targets and the prior heatmap.

Coordinates. Annotations are boxes in image pixels. An affine matrix maps them into the network
input (``trans_input``, where the prior heatmap lives) or into the output grid
(``trans_output``, stride 4, where every target lives). Semantics follow the original training
code:

* each object's centre is the centre of its box in the output grid *after* clipping to the map;
  the heatmap gets a Gaussian with CenterNet's radius at the integer cell ``ct_int``;
* ``reg`` is the sub-cell remainder ``ct - ct_int``, ``wh`` the clipped box size in cells,
  ``ltrb_amodal`` the unclipped box edges relative to ``ct_int``;
* ``tracking`` is the object's centre in the previous frame (output cells) minus ``ct_int``,
  only for objects whose track id is in the prior;
* regression slots are indexed by the object's position in the annotation list (so slots may be
  sparse) and every regression target has a per-dimension mask.

Ignore regions. A class id of 0 marks a region where no class is trained (KITTI's DontCare);
a negative id ``-k`` marks one where only class ``k`` is not trained (an object too occluded or
too small to demand, a crowd). The heatmap is raised to 1 there, which removes the focal loss's
negative term, and no positive is placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ..core.config import OUTPUT_STRIDE
from ..core.prior import draw_gaussian, gaussian_radius

SKIP_CLASS = -999
"""Class ids at or below this are dropped entirely (neither object nor ignore region)."""
_PRIOR_SKIP = -99  # the original leaves ids at or below this out of the prior heatmap


@dataclass(frozen=True)
class Annotation:
    """One labelled box in one frame, in image pixels.

    Attributes:
        bbox: ``(x1, y1, x2, y2)``; for MOT-style labels the full box, possibly beyond the image.
        class_id: 1-based class to detect; 0 = ignore region for all classes; ``-k`` = ignore
            region for class ``k``; ``<= SKIP_CLASS`` = drop.
        track_id: identity within its video (-1 when unknown).
        amodal_box: the unclipped box when ``bbox`` was clipped (for ``ltrb_amodal``);
            ``None`` means ``bbox`` itself.

    """

    bbox: tuple[float, float, float, float]
    class_id: int
    track_id: int = -1
    amodal_box: Optional[tuple[float, float, float, float]] = None

    def flipped(self, width: int) -> 'Annotation':
        """Return this annotation in the horizontally mirrored image of ``width`` pixels."""
        def mirror(box: Optional[tuple[float, ...]]) -> Optional[tuple[float, ...]]:
            if box is None:
                return None
            x1, y1, x2, y2 = box
            return (width - x2, y1, width - x1, y2)

        return Annotation(mirror(self.bbox), self.class_id, self.track_id,  # type: ignore
                          mirror(self.amodal_box))  # type: ignore


@dataclass(frozen=True)
class Disturbance:
    """How the prior heatmap is corrupted in training (the paper's Section 4.2).

    Attributes:
        hm_disturb: std of the Gaussian jitter of each prior centre, relative to box size.
        lost_disturb: probability that an object is missing from the prior (a lost track).
        fp_disturb: probability that an object gets a second, nearby peak (a false positive).

    """

    hm_disturb: float = 0.0
    lost_disturb: float = 0.0
    fp_disturb: float = 0.0

    def __post_init__(self) -> None:
        if self.hm_disturb < 0:
            raise ValueError(f'hm_disturb must be >= 0, got {self.hm_disturb}')
        for name in ('lost_disturb', 'fp_disturb'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {getattr(self, name)}')


def map_box(box: Sequence[float], matrix: np.ndarray) -> np.ndarray:
    """Bounding box of the four mapped corners of ``box`` (float32, unclipped)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    corners = np.array([[x1, y1, 1.0], [x1, y2, 1.0], [x2, y2, 1.0], [x2, y1, 1.0]],
                       dtype=np.float32)
    mapped = corners @ matrix.astype(np.float32).T
    return np.array([mapped[:, 0].min(), mapped[:, 1].min(), mapped[:, 0].max(),
                     mapped[:, 1].max()], dtype=np.float32)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``[x1, y1, x2, y2]`` to a ``width x height`` map (last cell inclusive)."""
    out = box.copy()
    out[[0, 2]] = np.clip(out[[0, 2]], 0, width - 1)
    out[[1, 3]] = np.clip(out[[1, 3]], 0, height - 1)
    return out


def _radius(height: float, width: float) -> int:
    return max(0, int(gaussian_radius(math.ceil(height), math.ceil(width))))


def _draw_inside(heatmap: np.ndarray, center: np.ndarray, radius: int) -> None:
    """Draw a peak only when its centre cell lies on the map (a jittered centre may not)."""
    x, y = int(center[0]), int(center[1])
    if 0 <= x < heatmap.shape[1] and 0 <= y < heatmap.shape[0] and center.min() >= 0:
        draw_gaussian(heatmap, (x, y), radius)


def render_prior(annotations: Sequence[Annotation], trans_input: np.ndarray, input_width: int,
                 input_height: int, num_classes: int, disturbance: Disturbance,
                 rng: np.random.Generator, down_ratio: int = OUTPUT_STRIDE
                 ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Render the previous frame's objects into a prior heatmap, with training disturbances.

    Returns the ``1 x H x W`` float32 heatmap in input pixels and, per track id, the previous
    centre in output cells that the ``tracking`` target points to. A lost object (probability
    ``lost_disturb``) draws no peak and its tracking target points to its jittered centre; a
    kept one is drawn at the jittered centre and its target is its true centre. Ignore-all
    regions (class 0) are not objects and stay out of the prior.
    """
    heatmap = np.zeros((input_height, input_width), dtype=np.float32)
    centres: dict[int, np.ndarray] = {}
    for ann in annotations:
        if ann.class_id > num_classes or ann.class_id <= _PRIOR_SKIP or ann.class_id == 0:
            continue
        box = clip_box(map_box(ann.bbox, trans_input), input_width, input_height)
        h, w = float(box[3] - box[1]), float(box[2] - box[0])
        if h <= 0 or w <= 0:
            continue
        radius = _radius(h, w)
        true_ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
        ct = true_ct.copy()
        ct[0] += rng.standard_normal() * disturbance.hm_disturb * w
        ct[1] += rng.standard_normal() * disturbance.hm_disturb * h
        kept = rng.random() >= disturbance.lost_disturb
        if ann.track_id not in centres:
            centres[ann.track_id] = (true_ct if kept else ct) / down_ratio
        if kept:
            _draw_inside(heatmap, ct, radius)
        if rng.random() < disturbance.fp_disturb and kept:
            fp = true_ct + rng.standard_normal(2).astype(np.float32) * 0.05 * np.array(
                [w, h], dtype=np.float32)
            _draw_inside(heatmap, fp, radius)
    centres.pop(-1, None)  # an unknown identity cannot be a tracking target
    return heatmap[np.newaxis], centres


def target_shapes(num_classes: int, max_objs: int, output_width: int, output_height: int,
                  ltrb_amodal: bool = False) -> dict[str, tuple[tuple[int, ...], type]]:
    """Shapes and dtypes of every target array (see :func:`build_targets`)."""
    m = max_objs
    shapes: dict[str, tuple[tuple[int, ...], type]] = {
        'hm': ((num_classes, output_height, output_width), np.float32),
        'ind': ((m,), np.int64), 'cat': ((m,), np.int64), 'mask': ((m,), np.float32),
    }
    dims = {'reg': 2, 'wh': 2, 'tracking': 2}
    if ltrb_amodal:
        dims['ltrb_amodal'] = 4
    for head, dim in dims.items():
        shapes[head] = ((m, dim), np.float32)
        shapes[f'{head}_mask'] = ((m, dim), np.float32)
    return shapes


def build_targets(annotations: Sequence[Annotation], trans_output: np.ndarray,
                  output_width: int, output_height: int, num_classes: int, max_objs: int,
                  pre_centres: Optional[Mapping[int, np.ndarray]] = None,
                  ltrb_amodal: bool = False) -> dict[str, np.ndarray]:
    """Targets of one training sample on the output grid.

    Returns ``hm`` (``C x H x W``), ``ind`` (flat cell index), ``cat`` (0-based class),
    ``mask`` and, per regression head, the target and its per-dimension ``<head>_mask``
    (``max_objs x dim``). Only the first ``max_objs`` annotations are used.
    """
    shapes = target_shapes(num_classes, max_objs, output_width, output_height, ltrb_amodal)
    out: dict[str, np.ndarray] = {name: np.zeros(shape, dtype=dtype)
                                  for name, (shape, dtype) in shapes.items()}
    hm = out['hm']
    for k, ann in enumerate(annotations[:max_objs]):
        cls = ann.class_id
        if cls > num_classes or cls <= SKIP_CLASS:
            continue
        unclipped = map_box(ann.bbox, trans_output)
        box = clip_box(unclipped, output_width, output_height)
        if cls <= 0:
            x1, y1, x2, y2 = (int(v) for v in box)
            region = hm[:, y1:y2 + 1, x1:x2 + 1] if cls == 0 else \
                hm[-cls - 1, y1:y2 + 1, x1:x2 + 1]
            np.maximum(region, 1.0, out=region)
            continue
        h, w = float(box[3] - box[1]), float(box[2] - box[0])
        if h <= 0 or w <= 0:
            continue
        ct = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
        ct_int = ct.astype(np.int32)
        out['cat'][k] = cls - 1
        out['mask'][k] = 1
        out['ind'][k] = int(ct_int[1]) * output_width + int(ct_int[0])
        out['wh'][k] = (w, h)
        out['wh_mask'][k] = 1
        out['reg'][k] = ct - ct_int
        out['reg_mask'][k] = 1
        draw_gaussian(hm[cls - 1], (int(ct_int[0]), int(ct_int[1])), _radius(h, w))
        if pre_centres is not None and ann.track_id in pre_centres:
            out['tracking'][k] = pre_centres[ann.track_id] - ct_int
            out['tracking_mask'][k] = 1
        if ltrb_amodal:
            amodal = unclipped if ann.amodal_box is None else map_box(ann.amodal_box,
                                                                      trans_output)
            out['ltrb_amodal'][k] = (amodal[0] - ct_int[0], amodal[1] - ct_int[1],
                                     amodal[2] - ct_int[0], amodal[3] - ct_int[1])
            out['ltrb_amodal_mask'][k] = 1
    return out
