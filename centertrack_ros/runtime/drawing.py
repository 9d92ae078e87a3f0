"""The debug image: a frame with its tracks drawn on it."""

from __future__ import annotations

import colorsys
from typing import Any, Callable, Iterable

import cv2
import numpy as np


def track_color(track_id: int) -> tuple[int, int, int]:
    """Return a stable, well separated BGR colour for a track id."""
    hue = (track_id * 0.618033988749895) % 1.0  # golden-ratio steps spread consecutive ids
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_tracks(image: np.ndarray, tracks: Iterable[Any],
                class_name: Callable[[int], str]) -> np.ndarray:
    """Draw the active tracks' boxes, ids, classes and scores on a copy of a BGR frame."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 500))
    scale = max(0.4, max(image.shape[:2]) / 1500)
    for track in tracks:
        if track.active <= 0:
            continue
        color = track_color(int(track.track_id))
        x1, y1, x2, y2 = (int(round(float(v))) for v in track.bbox)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        label = f'{track.track_id} {class_name(int(track.class_id))} {track.score:.2f}'
        (tw, th), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1, th + baseline)
        cv2.rectangle(canvas, (x1, top - th - baseline), (x1 + tw, top), color, -1)
        cv2.putText(canvas, label, (x1, top - baseline), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
