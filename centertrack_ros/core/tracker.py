"""Association of detections with the previous frame's tracks (CenterTrack's tracker).

Each detection carries the network's predicted displacement to the previous frame; the
displaced centre ``ct + tracking`` is matched to previous centres by squared distance. A pair
is admissible only when the distance is below both boxes' areas and the classes agree.
Matching is greedy in detection-score order (the paper's default) or optimal (Hungarian).
Unmatched detections above ``new_thresh`` start tracks; unmatched tracks coast for
``max_age`` frames (never, with the default -1).

With ``association: byte`` (ByteTrack's BYTE, Zhang et al., ECCV 2022) the same matching runs
twice: the detections above the output threshold against every kept track, then the tracks
that were seen in the previous frame and are still unmatched against the detections between
``low_thresh`` and the output threshold. A low-scoring detection thus continues a track (and is
published with it) but never starts one. With ``motion: velocity`` coasting tracks move on by
their velocity (:mod:`.motion`), so that they can be found again after an occlusion.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .config import VELOCITY, TrackerConfig
from .errors import CenterTrackError
from .motion import coast, gate_scale, updated_velocities
from .tracks import Detection, Track

_INVALID = 1e18
_MATCHABLE = 1e16
# Track ids fit in 48 bits: the object UUIDs (runtime/object_ids.py) carry a track id in their
# low six bytes, which makes a node's UUIDs distinct by construction. At 1000 new tracks a
# second the ids would last 8900 years.
MAX_TRACK_ID = 2**48 - 1


class TrackIdsExhausted(CenterTrackError, OverflowError):
    """Every track id up to :data:`MAX_TRACK_ID` has been handed out."""


def _areas(tracks: Sequence[Detection]) -> np.ndarray:
    return np.array([(t.bbox[2] - t.bbox[0]) * (t.bbox[3] - t.bbox[1]) for t in tracks],
                    dtype=np.float32)


def association_costs(detections: Sequence[Detection], tracks: Sequence[Detection],
                      gate_scale: Optional[np.ndarray] = None) -> np.ndarray:
    """``N x M`` squared distances, inadmissible pairs raised by 1e18 (float64).

    ``gate_scale`` (one factor per track) widens both area gates of a track's column, e.g.
    for a track whose place is only predicted.
    """
    n, m = len(detections), len(tracks)
    displaced = np.array([d.ct + d.tracking for d in detections], dtype=np.float32).reshape(n, 2)
    previous = np.array([t.ct for t in tracks], dtype=np.float32).reshape(m, 2)
    dist = ((previous.reshape(1, m, 2) - displaced.reshape(n, 1, 2)) ** 2).sum(axis=2)
    det_classes = np.array([d.class_id for d in detections], dtype=np.int32).reshape(n, 1)
    track_classes = np.array([t.class_id for t in tracks], dtype=np.int32).reshape(1, m)
    track_gate = _areas(tracks).reshape(1, m)
    det_gate = _areas(detections).reshape(n, 1)
    if gate_scale is not None:
        scale = np.asarray(gate_scale, dtype=np.float32).reshape(1, m)
        track_gate, det_gate = track_gate * scale, det_gate * scale
    invalid = (dist > track_gate) | (dist > det_gate) | (det_classes != track_classes)
    return dist + invalid * _INVALID


def greedy_match(costs: np.ndarray) -> np.ndarray:
    """Match each detection in order to its nearest still-free track; ``K x 2`` pairs."""
    costs = costs.copy()
    pairs = []
    if costs.shape[1] > 0:
        for i in range(costs.shape[0]):
            j = int(costs[i].argmin())
            if costs[i, j] < _MATCHABLE:
                costs[:, j] = _INVALID
                pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def munkres(costs: np.ndarray) -> np.ndarray:
    """Kuhn-Munkres assignment in its classical step form; ``K x 2`` pairs sorted by row.

    The original calls the Munkres solver of scikit-learn 0.22 on a matrix holding 1e18 for
    inadmissible pairs. In float64 the 1e18 entries swallow the small distances whenever the
    algorithm adds them up, so the solution it returns depends on the exact sequence of
    steps, not only on the costs: another solver (e.g. scipy's) picks different admissible
    matches in about a quarter of frames with a few tens of objects. Following the classical
    steps with the same arithmetic gives the same choices. A wide matrix is solved as is,
    a tall one transposed; min(rows, cols) pairs are returned.
    """
    cost = np.array(costs, dtype=np.float64)
    if not np.isfinite(cost).all():
        raise ValueError('munkres needs finite costs')  # NaN would make step 6 loop forever
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T.copy()
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # Step 1: reduce each row by its minimum; star zeros, at most one per row and column.
    cost -= cost.min(axis=1)[:, np.newaxis]
    starred = np.zeros((n, m), dtype=bool)
    primed = np.zeros((n, m), dtype=bool)
    row_covered = np.zeros(n, dtype=bool)
    col_covered = np.zeros(m, dtype=bool)
    for i, j in zip(*np.nonzero(cost == 0)):  # row-major order
        if not row_covered[i] and not col_covered[j]:
            starred[i, j] = row_covered[i] = col_covered[j] = True
    row_covered[:] = False
    while True:
        # Step 3: cover the columns of starred zeros; done when every row has one.
        col_covered = np.asarray(starred.any(axis=0))  # (the stubs allow a scalar here)
        if np.count_nonzero(col_covered) >= n:
            break
        while True:
            # Step 4: prime the first uncovered zero (row-major).
            free = (cost == 0) & ~row_covered[:, np.newaxis] & ~col_covered[np.newaxis, :]
            if not free.any():
                # Step 6: shift by the smallest uncovered value and look again.
                smallest = cost[~row_covered][:, ~col_covered].min()
                cost[row_covered] += smallest
                cost[:, ~col_covered] -= smallest
                continue
            i, j = np.unravel_index(np.argmax(free), free.shape)
            primed[i, j] = True
            star = np.flatnonzero(starred[i])
            if star.size:
                row_covered[i] = True
                col_covered[star[0]] = False
                continue
            # Step 5: alternate primes and stars from (i, j), then swap them along the path.
            path = [(i, j)]
            while True:
                rows = np.flatnonzero(starred[:, path[-1][1]])
                if not rows.size:
                    break
                path.append((rows[0], path[-1][1]))
                path.append((path[-1][0], np.flatnonzero(primed[path[-1][0]])[0]))
            for a, b in path:
                starred[a, b] = not starred[a, b]
            primed[:] = False
            row_covered[:] = False
            break
    pairs = np.argwhere(starred)
    if transposed:
        pairs = pairs[:, ::-1]
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))].astype(np.int64)


def hungarian_match(costs: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """Optimal assignment; returns admissible pairs and the inadmissible rows/columns it used."""
    # A NaN distance (a NaN detection) is never admissible, as in greedy matching.
    assignment = munkres(np.where(np.isnan(costs), _INVALID, np.minimum(costs, _INVALID)))
    rows, cols = assignment[:, 0], assignment[:, 1]
    admissible = costs[rows, cols] <= _MATCHABLE
    pairs = np.stack([rows[admissible], cols[admissible]], axis=1).astype(np.int64)
    return pairs, rows[~admissible].tolist(), cols[~admissible].tolist()


class TrackIds:
    """The id counter of one or several track managers (cameras that share ids)."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        """Return a new id, one above every id handed out since the last restart.

        Raises:
            TrackIdsExhausted: the id would exceed :data:`MAX_TRACK_ID`.

        """
        if self.last >= MAX_TRACK_ID:
            raise TrackIdsExhausted(
                f'track ids exhausted: every id up to {MAX_TRACK_ID} (2**48 - 1, what the '
                'object UUIDs can carry) has been handed out; restart the tracker')
        self.last += 1
        return self.last


class TrackManager:
    """Holds the tracks between frames and assigns persistent ids.

    ``ids`` may be shared with other managers (several cameras of one node), so that no id is
    ever given to two objects; by default the manager counts on its own.
    """

    def __init__(self, config: TrackerConfig, ids: Optional[TrackIds] = None) -> None:
        self.config = config
        self.tracks: list[Track] = []
        self.ids = ids or TrackIds()

    @property
    def last_id(self) -> int:
        """The highest id assigned so far (0 before the first track)."""
        return self.ids.last

    def reset(self, restart_ids: bool = True) -> None:
        """Forget all tracks.

        Args:
            restart_ids: restart ids at 1, as the original does (the default); False keeps
                counting, so that tracks born after the reset never reuse an earlier id.

        """
        self.tracks = []
        if restart_ids:
            self.ids.last = 0

    def continue_ids_after(self, last_id: int) -> None:
        """Assign ids above ``last_id`` from now on (never lowers the counter).

        Lets a new manager carry on the ids of an earlier one, e.g. after the model was
        reloaded, so that ids stay unique across both.

        Raises:
            TrackIdsExhausted: ``last_id`` is above :data:`MAX_TRACK_ID`.

        """
        if int(last_id) > MAX_TRACK_ID:
            raise TrackIdsExhausted(f'cannot continue track ids after {int(last_id)}: ids must '
                                    f'not exceed {MAX_TRACK_ID} (2**48 - 1)')
        self.ids.last = max(self.ids.last, int(last_id))

    def _new_id(self) -> int:
        return self.ids.next()

    def update(self, detections: list[Detection]) -> list[Track]:
        """Associate this frame's detections (best first) and return the new track list.

        The list holds matched tracks, then newborn tracks, then coasting (inactive) ones.
        Earlier results are never modified.
        """
        if self.config.byte:
            return self._update_byte(detections)
        pairs, unmatched_dets, unmatched_tracks = self._match(detections, self.tracks)
        result = self._continued(detections, self.tracks, pairs)
        result += self._births(detections, unmatched_dets)
        result += self._coasting(unmatched_tracks)
        self.tracks = result
        return result

    def _update_byte(self, detections: list[Detection]) -> list[Track]:
        out_thresh = self.config.effective_out_thresh
        high = [d for d in detections if d.score > out_thresh]
        low = [d for d in detections if not d.score > out_thresh]
        pairs, unmatched_high, unmatched = self._match(high, self.tracks)
        result = self._continued(high, self.tracks, pairs)
        # As in ByteTrack, only tracks seen in the previous frame may be continued by a
        # low-scoring detection: for a track lost for longer, such a box is too weak a proof.
        recent = [j for j in unmatched if self.tracks[j].active > 0]
        pairs_low, _, unmatched_recent = self._match(low, [self.tracks[j] for j in recent])
        result += self._continued(low, self.tracks, [(i, recent[k]) for i, k in pairs_low])
        result += self._births(high, unmatched_high)
        taken = set(recent) - {recent[k] for k in unmatched_recent}
        result += self._coasting([j for j in unmatched if j not in taken])
        self.tracks = result
        return result

    def _match(self, detections: list[Detection], tracks: list[Track]
               ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Match by the configured method; return pairs, unmatched detections and tracks."""
        costs = association_costs(detections, tracks, self._gates(tracks))
        if self.config.optimal_matching:
            pairs, lost_dets, lost_tracks = hungarian_match(costs)
        else:
            pairs, lost_dets, lost_tracks = greedy_match(costs), [], []
        matched_dets = set(pairs[:, 0].tolist())
        matched_tracks = set(pairs[:, 1].tolist())
        # Order matters for id assignment: the original lists never-assigned detections first,
        # then the ones the Hungarian solver paired inadmissibly.
        unmatched_dets = [i for i in range(len(detections)) if i not in matched_dets
                          and i not in lost_dets] + lost_dets
        unmatched_tracks = [j for j in range(len(tracks)) if j not in matched_tracks
                            and j not in lost_tracks] + lost_tracks
        return pairs.tolist(), unmatched_dets, unmatched_tracks

    def _gates(self, tracks: list[Track]) -> Optional[np.ndarray]:
        return gate_scale(tracks) if self.config.motion == VELOCITY else None

    def _continued(self, detections: list[Detection], tracks: list[Track],
                   pairs: list[tuple[int, int]]) -> list[Track]:
        """Continue ``tracks[j]`` with ``detections[i]`` for each pair ``(i, j)``."""
        result = [Track.of(detections[i], tracks[j].track_id, 1, tracks[j].active + 1)
                  for i, j in pairs]
        if self.config.motion == VELOCITY and pairs:
            velocities = updated_velocities([tracks[j] for _, j in pairs],
                                            [detections[i] for i, _ in pairs])
            for track, velocity in zip(result, velocities):
                track.velocity = velocity
        return result

    def _births(self, detections: list[Detection], candidates: list[int]) -> list[Track]:
        new_thresh = self.config.effective_new_thresh
        return [Track.of(detections[i], self._new_id()) for i in candidates
                if detections[i].score > new_thresh]

    def _coasting(self, unmatched_tracks: list[int]) -> list[Track]:
        move = self.config.motion == VELOCITY
        return [coast(self.tracks[j], move) for j in unmatched_tracks
                if self.tracks[j].age < self.config.max_age]
