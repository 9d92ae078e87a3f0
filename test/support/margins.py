"""How far each decision of a tracking run is from flipping: the precondition of exact ids.

Two floating-point paths that compute the same thing (other CPU kernels or thread counts,
another engine, another process) differ in the last bits. Their tracks can only be required
to carry the same ids where every discrete decision of the run has a margin well above that
noise: a score that is far from each threshold, a heatmap peak that clearly beats its
neighbours, births and competitors whose scores are clearly ordered, and detection-track pairs
clearly inside or outside the association gate. :func:`measure` runs a tracker over frames and
records these margins; tests that compare ids exactly call :func:`assert_conditioned` on
their data first, so that a badly chosen sequence fails loudly instead of passing on one
machine and failing on another.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable

import numpy as np
import torch

from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.core.tracker import association_costs

INADMISSIBLE = 1e16
NMS_WINDOW = 0.02  # cells this far below the lowest threshold cannot become detections


@dataclass
class Margins:
    """The smallest margin of each kind of decision over a run (inf where none was taken).

    Attributes:
        threshold: |score - threshold| over every potential heatmap peak (a cell within 1e-3
            of its neighbours' maximum), for each threshold in use.
        nms: |value - max of its 8 neighbours| over every cell above the lowest threshold
            minus ``NMS_WINDOW``.
        birth_order: score gap between two births of one frame (their ids follow it).
        competition: score gap between two detections admissible for the same track.
        gate: |distance^2 / gate area - 1| over same-class detection-track pairs.
        nearest: distance (px) between a detection's best and second-best admissible track.

    """

    threshold: float = float('inf')
    nms: float = float('inf')
    birth_order: float = float('inf')
    competition: float = float('inf')
    gate: float = float('inf')
    nearest: float = float('inf')

    def merge(self, **values: float) -> None:
        """Keep the smaller of the current and the given margins."""
        for name, value in values.items():
            setattr(self, name, min(getattr(self, name), float(value)))


@dataclass(frozen=True)
class NoiseBound:
    """The largest difference two correct paths are expected to show, per quantity."""

    score: float = 1e-3       # heatmap values
    relative: float = 1e-3    # distances and areas, relative
    pixels: float = 0.05      # positions in image pixels


def _neighbour_max(heat: np.ndarray) -> np.ndarray:
    padded = np.pad(heat, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    height, width = heat.shape[1:]
    shifts = [padded[:, 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    return np.max(shifts, axis=0)


def _heatmap_margins(heat: np.ndarray, thresholds: Iterable[float]) -> dict[str, float]:
    thresholds = sorted(set(thresholds))
    lead = heat - _neighbour_max(heat)
    potential = lead > -1e-3  # peaks, and cells that a little noise would make peaks
    out = {'threshold': float(min(np.abs(heat[potential] - t).min() for t in thresholds))}
    near = heat > thresholds[0] - NMS_WINDOW
    if near.any():
        out['nms'] = float(np.abs(lead[near]).min())
    return out


def _score_gap(scores: list[float]) -> float:
    ordered = sorted(scores)
    return min((b - a for a, b in zip(ordered, ordered[1:])), default=float('inf'))


def _association_margins(detections: list, tracks: list) -> dict[str, float]:
    if not detections or not tracks:
        return {}
    admissible = association_costs(detections, tracks) < INADMISSIBLE
    displaced = np.array([d.ct + d.tracking for d in detections], dtype=np.float64)
    previous = np.array([t.ct for t in tracks], dtype=np.float64)
    distance = ((displaced[:, None, :] - previous[None, :, :]) ** 2).sum(axis=2)
    same_class = np.array([[d.class_id == t.class_id for t in tracks] for d in detections])
    area = np.array([[min(_area(d), _area(t)) for t in tracks] for d in detections])
    out = {}
    if same_class.any():
        ratio = distance[same_class] / np.maximum(area[same_class], 1e-9)
        out['gate'] = float(np.abs(ratio - 1.0).min())
    scores = np.array([d.score for d in detections])
    competition, nearest = [], []
    for j in range(len(tracks)):
        rivals = scores[admissible[:, j]]
        if rivals.size > 1:
            competition.append(_score_gap(list(rivals)))
    for i in range(len(detections)):
        candidates = np.sort(np.sqrt(distance[i][admissible[i]]))
        if candidates.size > 1:
            nearest.append(candidates[1] - candidates[0])
    if competition:
        out['competition'] = min(competition)
    if nearest:
        out['nearest'] = float(min(nearest))
    return out


def _area(box) -> float:
    return float((box.bbox[2] - box.bbox[0]) * (box.bbox[3] - box.bbox[1]))


def measure(tracker: CenterTracker, frames: Iterable[np.ndarray]) -> Margins:
    """Run ``tracker`` (reset first) over ``frames`` and return the margins of its decisions.

    The tracker must run a PyTorch network (the reference or torch engine): its heatmap is
    read with a forward hook.
    """
    margins = Margins()
    heatmaps: list[np.ndarray] = []
    hook = tracker.network.register_forward_hook(
        lambda module, args, output: heatmaps.append(
            torch.sigmoid(output['hm'].detach().float()).cpu().numpy()))
    manager = tracker.manager
    update = manager.update
    seen: list[tuple[list, list]] = []

    def recording_update(detections):
        seen.append((list(detections), list(manager.tracks)))
        return update(detections)

    manager.update = recording_update
    config = tracker.config.tracker
    thresholds = (config.effective_out_thresh, config.effective_new_thresh,
                  config.effective_pre_thresh)
    try:
        tracker.reset()
        for frame in frames:
            heatmaps.clear()
            seen.clear()
            before = tracker.last_id
            tracks = tracker.step(frame)
            for heat in heatmaps:
                margins.merge(**_heatmap_margins(heat[0], thresholds))
            detections, previous = seen[-1]
            margins.merge(**_association_margins(detections, previous))
            births = [t.score for t in tracks if t.track_id > before]
            margins.merge(birth_order=_score_gap(births))
    finally:
        hook.remove()
        del manager.update
    return margins


def assert_conditioned(margins: Margins, noise: NoiseBound = NoiseBound(),
                       factor: float = 10.0) -> None:
    """Fail unless every margin is ``factor`` times the noise between two correct paths."""
    limits = {'threshold': noise.score, 'nms': noise.score, 'birth_order': noise.score,
              'competition': noise.score, 'gate': noise.relative, 'nearest': noise.pixels}
    thin = {f.name: getattr(margins, f.name) for f in fields(margins)
            if getattr(margins, f.name) < factor * limits[f.name]}
    assert not thin, (f'the data are not conditioned for an exact comparison: margins {thin} '
                      f'are below {factor:g} x the noise {noise}')
