"""Map decoded detections from output-grid cells back to original-image pixels."""

from __future__ import annotations

import numpy as np

from .decode import RawDetections
from .geometry import FrameGeometry, transform_points
from .tracks import Detection


def detections_to_image(raw: RawDetections, geometry: FrameGeometry,
                        out_thresh: float) -> list[Detection]:
    """Return detections scoring strictly above ``out_thresh``, in image pixels, best first.

    The original stops at the first score below the threshold and later keeps only scores
    above it; together that is "strictly above", which is what is applied here.
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
    return [
        Detection(score=float(raw.scores[i]), class_id=int(raw.classes[i]) + 1, ct=cts[i],
              tracking=tracking[i], bbox=boxes[i])
        for i in range(keep)
    ]
