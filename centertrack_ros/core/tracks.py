"""What decoding produces (a :class:`Detection`) and what the tracker keeps (a :class:`Track`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


def _vec(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.float32)


@dataclass
class Detection:
    """One object found in one frame, in original-image pixels.

    Attributes:
        score: detection confidence (heatmap peak value).
        class_id: 1-based class id.
        ct: heatmap peak mapped to image pixels (the point the tracker associates).
        tracking: offset such that ``ct + tracking`` is the object's centre in the previous
            frame, as predicted by the network.
        bbox: ``[x1, y1, x2, y2]``; the amodal box when the model has an ``ltrb_amodal`` head.

    """

    score: float
    class_id: int
    ct: np.ndarray = field(default_factory=lambda: _vec(2))
    tracking: np.ndarray = field(default_factory=lambda: _vec(2))
    bbox: np.ndarray = field(default_factory=lambda: _vec(4))

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return float(self.bbox[3] - self.bbox[1])

    @property
    def center(self) -> tuple[float, float]:
        """Box centre in pixels (not the heatmap peak ``ct``)."""
        return (float(self.bbox[0] + self.bbox[2]) / 2, float(self.bbox[1] + self.bbox[3]) / 2)


# Looked up once: the tracker makes a Track of every detection it continues, every frame.
_DETECTION_FIELDS = tuple(f.name for f in fields(Detection))


@dataclass
class Track(Detection):
    """A detection the tracker has given an identity, as it stands after one frame.

    Attributes:
        track_id: persistent identity.
        age: frames since the track was last matched (1 when matched in this frame).
        active: consecutive frames matched; 0 for a coasting (unmatched, kept) track.
        velocity: smoothed image-pixel displacement per frame, kept only with the tracker's
            ``motion: velocity`` (zero otherwise); a coasting track's box has been moved by it.

    """

    track_id: int = 0
    age: int = 1
    active: int = 1
    velocity: np.ndarray = field(default_factory=lambda: _vec(2))

    @classmethod
    def of(cls, detection: Detection, track_id: int, age: int = 1, active: int = 1) -> 'Track':
        """Give ``detection`` an identity (every detection field is kept)."""
        values = {name: getattr(detection, name) for name in _DETECTION_FIELDS}
        return cls(**values, track_id=track_id, age=age, active=active)

    def to_dict(self) -> dict:
        """Plain-Python form with the key names of the original implementation."""
        return {
            'score': float(self.score), 'class': int(self.class_id),
            'ct': [float(v) for v in self.ct], 'tracking': [float(v) for v in self.tracking],
            'bbox': [float(v) for v in self.bbox], 'tracking_id': int(self.track_id),
            'age': int(self.age), 'active': int(self.active),
        }
