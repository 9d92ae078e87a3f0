"""What decoding produces (a :class:`Detection`) and what the tracker keeps (a :class:`Track`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional

import numpy as np


def _vec(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.float32)


@dataclass
class Detection:
    """One object found in one frame, in original-image pixels.

    Attributes:
        score: detection confidence (heatmap peak value).
        class_id: 1-based class id.
        ct: the point the tracker associates: the heatmap peak mapped to image pixels; with
            the 3D heads the amodal centre, the projection of the 3D box centre.
        tracking: offset such that ``ct + tracking`` is the object's centre in the previous
            frame, as predicted by the network (measured from the heatmap peak).
        bbox: ``[x1, y1, x2, y2]``; the amodal box when the model has an ``ltrb_amodal`` head.

    With the 3D heads (None otherwise; see :mod:`~centertrack_ros.core.mono3d`):
        dep: ``[d]``, depth of the box centre along the optical axis (m).
        dim: ``[h, w, l]`` (m): height (along y), width, length (along the heading).
        alpha: observation angle (rad), unwrapped as in the original.
        loc: ``[x, y, z]`` (m), the **bottom centre** of the box in the frame of the camera
            matrix P; None when the frame came without P.
        rot_y: yaw about that frame's y axis in [-pi, pi] (rad); None without P.

    """

    score: float
    class_id: int
    ct: np.ndarray = field(default_factory=lambda: _vec(2))
    tracking: np.ndarray = field(default_factory=lambda: _vec(2))
    bbox: np.ndarray = field(default_factory=lambda: _vec(4))
    dep: Optional[np.ndarray] = None
    dim: Optional[np.ndarray] = None
    alpha: Optional[float] = None
    loc: Optional[np.ndarray] = None
    rot_y: Optional[float] = None

    @property
    def has_3d_box(self) -> bool:
        """Whether the detection has a metric 3D box (dimensions, location and yaw)."""
        return self.dim is not None and self.loc is not None and self.rot_y is not None

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
        """Plain-Python form with the key names of the original implementation.

        The 3D fields (``dep``, ``dim``, ``alpha``, ``loc``, ``rot_y``) appear when present.
        """
        out = {
            'score': float(self.score), 'class': int(self.class_id),
            'ct': [float(v) for v in self.ct], 'tracking': [float(v) for v in self.tracking],
            'bbox': [float(v) for v in self.bbox], 'tracking_id': int(self.track_id),
            'age': int(self.age), 'active': int(self.active),
        }
        for name in ('dep', 'dim', 'loc'):
            value = getattr(self, name)
            if value is not None:
                out[name] = [float(v) for v in value]
        for name in ('alpha', 'rot_y'):
            value = getattr(self, name)
            if value is not None:
                out[name] = float(value)
        return out
