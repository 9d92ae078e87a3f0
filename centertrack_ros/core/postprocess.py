"""Map decoded detections from output-grid cells back to original-image pixels (and to 3D)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .decode import RawDetections
from .geometry import FrameGeometry, transform_points
from .mono3d import alpha_from_rot, locations, rot_y_from_alpha
from .tracks import Detection

# What the original needs to turn a detection into 3D (its ``ddd2locrot`` condition).
_DDD_NEEDS = ('dep', 'rot', 'dim')


def detections_to_image(raw: RawDetections, geometry: FrameGeometry, out_thresh: float,
                        calib: Optional[np.ndarray] = None,
                        depth_scale: float = 1.0) -> list[Detection]:
    """Return detections scoring strictly above ``out_thresh``, in image pixels, best first.

    The original stops at the first score below the threshold and later keeps only scores
    above it; together that is "strictly above", which is what is applied here.

    With the 3D heads each detection also gets ``dep``, ``dim`` and ``alpha``, and ``ct``
    becomes the amodal centre; ``calib`` (the validated 3x4 P of the image, see
    :mod:`.calibration`) adds ``loc`` and ``rot_y``. ``depth_scale`` is the model's
    (the original's ``--depth_scale``, 1 for every official model).
    """
    # Scores are sorted, so the survivors are a prefix; compare in float64 like Python does.
    keep = int(np.count_nonzero(raw.scores.astype(np.float64) > out_thresh))
    if keep == 0:
        return []
    matrix = geometry.output_to_image
    cts = transform_points(raw.cts[:keep], matrix)
    boxes = transform_points(raw.bboxes[:keep].reshape(-1, 2), matrix).reshape(-1, 4)
    if raw.tracking is not None:
        previous = transform_points(raw.tracking[:keep] + raw.cts[:keep], matrix)
        tracking = previous - cts
    else:
        tracking = np.zeros_like(cts)
    detections = [
        Detection(score=float(raw.scores[i]), class_id=int(raw.classes[i]) + 1, ct=cts[i],
                  tracking=tracking[i], bbox=boxes[i])
        for i in range(keep)
    ]
    if all(name in raw.extras for name in _DDD_NEEDS):
        _add_3d(detections, raw, boxes, matrix, calib, depth_scale)
    return detections


def _add_3d(detections: list[Detection], raw: RawDetections, boxes: np.ndarray,
            matrix: np.ndarray, calib: Optional[np.ndarray], depth_scale: float) -> None:
    """Fill the 3D fields of ``detections`` (the first rows of ``raw``) in place."""
    keep = len(detections)
    extras = {name: np.asarray(value[:keep], dtype=np.float32)
              for name, value in raw.extras.items()}
    if depth_scale != 1.0:  # a float32 product, as the original's on the whole map
        extras['dep'] = extras['dep'] * np.float32(depth_scale)
    alpha = alpha_from_rot(extras['rot'])
    if 'amodel_offset' in extras:
        # The projected 3D centre: the 2D box centre in output cells (float32, as the
        # original's mean) plus the amodal offset, mapped to the image.
        bboxes = np.asarray(raw.bboxes[:keep], dtype=np.float32)
        center = (bboxes[:, 0:2] + bboxes[:, 2:4]) / np.float32(2)
        centers = transform_points(center + extras['amodel_offset'], matrix)
    else:
        centers = (boxes[:, 0:2] + boxes[:, 2:4]) / np.float32(2)
    for i, detection in enumerate(detections):
        detection.ct = centers[i]
        detection.dep = extras['dep'][i, :1]
        detection.dim = extras['dim'][i, :3]
        detection.alpha = float(alpha[i])
    if calib is not None:
        loc = locations(centers, extras['dep'][:, 0], extras['dim'], calib)
        rot_y = rot_y_from_alpha(alpha, centers[:, 0], calib)
        for i, detection in enumerate(detections):
            detection.loc = loc[i]
            detection.rot_y = float(rot_y[i])
