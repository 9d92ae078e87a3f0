"""Ground truth of a frame: every listed object's box, visibility and consider flag.

Ground truth (:class:`GroundTruthObject`), one entry per object whose box overlaps the image:

- ``x1, y1, x2, y2``: the object's full (amodal) box clipped to the image. Occlusion does not
  shrink the box, as in MOTChallenge; ``visibility`` says how much of it can be seen.
- ``amodal_box``: the full box, not clipped to the image (for CenterTrack's ``ltrb_amodal``
  regression of objects cut by the border).
- ``visibility``: the part of the *unclipped* box that is inside the image and not covered by the
  box of anything nearer (other objects, roadside poles and trees), over the unclipped box area.
  Occluders are approximated by their boxes, like MOTChallenge's visibility ratio.
- ``consider``: False when ``visibility < SceneConfig.min_visibility``, when the clipped box is
  lower than ``SceneConfig.min_size`` pixels or narrower than half of that (pedestrians are
  about three times higher than wide, so a width rule as strict as the height rule would drop
  people a detector can still find). Consumers should treat such objects as
  "don't care" regions (MOT's consider flag 0): neither a miss when not found nor a false positive
  when found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import CLASS_NAMES, SceneConfig
from .layout import Layout
from .roadside import RoadsideItem, item_boxes
from .traffic import Track


@dataclass(frozen=True)
class GroundTruthObject:
    """One object in one frame; see the module docstring for the exact meaning of each field."""

    track_id: int
    class_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    visibility: float
    consider: bool
    amodal_box: tuple[float, float, float, float] | None = None

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.y2 - self.y1

    @property
    def class_name(self) -> str:
        """Name of the class, from :data:`CLASS_NAMES`."""
        return CLASS_NAMES[self.class_id - 1]


def _visible_fraction(box: np.ndarray, occluders: list[np.ndarray], width: int,
                      height: int) -> tuple[float, np.ndarray]:
    """Return (visibility, clipped box) of ``box`` given nearer ``occluders`` (all boxes).

    The union of occluders inside the clipped box is measured exactly by coordinate compression,
    which is cheap for the handful of rectangles a frame has.
    """
    x1, y1, x2, y2 = box
    full = max((x2 - x1) * (y2 - y1), 1e-9)
    c = np.array([max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))])
    if c[2] <= c[0] or c[3] <= c[1]:
        return 0.0, c
    area = (c[2] - c[0]) * (c[3] - c[1])
    occ = [o for o in occluders if o[0] < c[2] and o[2] > c[0] and o[1] < c[3] and o[3] > c[1]]
    if occ:
        o = np.clip(np.array(occ), [c[0], c[1], c[0], c[1]], [c[2], c[3], c[2], c[3]])
        xs = np.unique(np.concatenate([o[:, 0], o[:, 2], c[[0, 2]]]))
        ys = np.unique(np.concatenate([o[:, 1], o[:, 3], c[[1, 3]]]))
        mx = (xs[:-1] + xs[1:]) / 2
        my = (ys[:-1] + ys[1:]) / 2
        inx = (o[:, 0, None] <= mx[None]) & (mx[None] <= o[:, 2, None])  # (k, nx)
        iny = (o[:, 1, None] <= my[None]) & (my[None] <= o[:, 3, None])  # (k, ny)
        covered = np.any(iny[:, :, None] & inx[:, None, :], axis=0)
        cell = np.diff(ys)[:, None] * np.diff(xs)[None, :]
        area -= float((cell * covered).sum())
    return float(min(max(area / full, 0.0), 1.0)), c


def frame_ground_truth(cfg: SceneConfig, lay: Layout, shake: np.ndarray, frame: int,
                       items: list[RoadsideItem], tracks: list[Track]
                       ) -> list[GroundTruthObject]:
    """Ground truth of one frame, ordered by track id.

    ``shake`` is the frame's (dx, dy) image offset, ``items`` its roadside items and ``tracks``
    the objects listed in it.
    """
    occluders: list[tuple[float, np.ndarray]] = []
    for item in items:
        boxes = item_boxes(lay, shake, item)
        if item.kind == 'tree':
            # The crown is round: its box overstates what it hides; use the inscribed square.
            b = boxes[1]
            cxb, cyb = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            hw, hh = (b[2] - b[0]) * 0.35, (b[3] - b[1]) * 0.35
            boxes[1] = np.array([cxb - hw, cyb - hh, cxb + hw, cyb + hh])
        occluders.extend((item.depth, b) for b in boxes)
    for tr in tracks:
        j = frame - tr.first
        occluders.append((float(tr.depth[j]), tr.boxes[j]))
    out = []
    for tr in tracks:
        j = frame - tr.first
        z = float(tr.depth[j])
        nearer = [b for dz, b in occluders if dz < z]
        vis, c = _visible_fraction(tr.boxes[j], nearer, cfg.width, cfg.height)
        consider = bool(vis >= cfg.min_visibility and c[3] - c[1] >= cfg.min_size
                        and c[2] - c[0] >= cfg.min_size / 2)
        b = tr.boxes[j]
        out.append(GroundTruthObject(tr.track_id, tr.class_id, float(c[0]), float(c[1]),
                                     float(c[2]), float(c[3]), vis, consider,
                                     (float(b[0]), float(b[1]), float(b[2]), float(b[3]))))
    return sorted(out, key=lambda o: o.track_id)
