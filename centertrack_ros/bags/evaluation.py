"""Loading tracks and ground truth from bags or MOTChallenge files, and scoring them.

Either side of a comparison can be a bag topic of ``Detection2DArray`` messages or a
MOTChallenge text file (or a MOTChallenge sequence folder, for ground truth). Bag messages are
put on MOT frame numbers through their header stamps: the ground truth defines the frames
(frame ``k`` is its ``k``-th distinct stamp) and tracks are looked up by stamp, so a live
recording that dropped frames still lines up. The counting is :mod:`centertrack_ros.core.metrics`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..core.metrics import OVERALL, TrackingMetrics, evaluate_many
from ..core.motchallenge import MotRow, read_mot
from .convert import CLASS_NAMES_KEY, DEFAULT_GT_TOPIC
from .errors import BagError
from .io import BagReader, TopicSummary
from .messages import ClassIds, boxes_from_detections, rows_from_boxes
from .offline import DEFAULT_DETECTIONS_TOPIC
from .typestore import DETECTION_ARRAY, stamp_ns

_LOG = logging.getLogger(__name__)


@dataclass
class Rows:
    """Boxes of one sequence from one source, before frames are numbered.

    Attributes:
        origin: where they came from (for messages), e.g. ``bag.mcap:/detections``.
        rows: MOT rows when the source numbers frames itself (MOT files).
        by_stamp: for bag topics, ``stamp_ns -> [(track_id, x, y, w, h, score, label)]``.
        class_names: names of integer class ids, when the source states them.

    """

    origin: str
    rows: Optional[list[MotRow]] = None
    by_stamp: Optional[dict[int, list]] = None
    class_names: tuple[str, ...] = ()

    @property
    def is_bag(self) -> bool:
        """Whether the boxes came from a bag (and are keyed by stamp)."""
        return self.by_stamp is not None


def is_bag_path(path: Path) -> bool:
    """Whether ``path`` looks like a rosbag2 bag rather than MOTChallenge text."""
    if path.is_file():
        return path.suffix in ('.mcap', '.db3')
    return path.is_dir() and ((path / 'metadata.yaml').is_file() or any(
        p.suffix in ('.mcap', '.db3') for p in path.iterdir()))


def _pick_topic(bag: BagReader, topic: Optional[str], default: str, role: str) -> TopicSummary:
    if topic:
        return bag.topic(topic, (DETECTION_ARRAY,))
    candidates = bag.topics_of_type((DETECTION_ARRAY,))
    for summary in candidates:
        if summary.name == default:
            return summary
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BagError(f'bag {bag.path} has no {DETECTION_ARRAY} topic for the {role}')
    raise BagError(f'bag {bag.path} has several detection topics '
                   f'({", ".join(c.name for c in candidates)}); choose the {role} topic with '
                   f'--{"gt" if role == "ground truth" else "tracks"}-topic')


def load(path: str | Path, topic: Optional[str] = None, role: str = 'tracks') -> Rows:
    """Read one side of a comparison (``role`` is ``tracks`` or ``ground truth``).

    Bags: ``topic`` or the default (``/detections`` for tracks, ``/ground_truth`` for ground
    truth) or the bag's only ``Detection2DArray`` topic. MOT sources: a text file, or a
    sequence folder with ``gt/gt.txt``.

    Raises:
        BagError: missing file/topic, malformed MOT line, corrupt bag.

    """
    path = Path(path).expanduser()
    if not path.exists():
        raise BagError(f'{role} not found: {path}')
    if is_bag_path(path):
        default = DEFAULT_GT_TOPIC if role == 'ground truth' else DEFAULT_DETECTIONS_TOPIC
        with BagReader(path) as bag:
            summary = _pick_topic(bag, topic, default, role)
            by_stamp: dict[int, list] = {}
            for name, _, msg in bag.messages([summary.name]):
                stamp = stamp_ns(msg.header)
                where = f'{bag.path} {name} @ {stamp}'
                if stamp in by_stamp:
                    raise BagError(f'{where}: two messages with the same header stamp')
                by_stamp[stamp] = boxes_from_detections(msg, where)
            names = bag.custom_data.get(CLASS_NAMES_KEY, '')
        return Rows(f'{path}:{summary.name}', by_stamp=by_stamp,
                    class_names=tuple(n for n in names.split(',') if n))
    if topic:
        raise BagError(f'{path} is not a bag, so --{"gt" if role == "ground truth" else "tracks"}'
                       '-topic does not apply')
    if path.is_dir():
        candidate = path / 'gt' / 'gt.txt'
        if not candidate.is_file():
            raise BagError(f'{path} is neither a bag nor a MOT sequence with gt/gt.txt')
        path = candidate
    try:
        rows = read_mot(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BagError(f'bad MOTChallenge file: {exc}') from exc
    return Rows(str(path), rows=rows)


@dataclass
class AlignedSequence:
    """Ground truth and tracks of one sequence, numbered and ready for the metrics."""

    name: str
    gt: list[MotRow]
    tracks: list[MotRow]
    num_frames: int
    unmatched_stamps: int = 0
    class_map: dict[str, int] = field(default_factory=dict)


def align(name: str, gt: Rows, tracks: Rows, class_names: Sequence[str] = ()) -> AlignedSequence:
    """Put both sides on the same frame numbers and give classes common integer ids.

    Ground truth from a bag defines the frames by its stamps; tracks from a bag are placed on
    those frames by stamp (stamps not in the ground truth are counted and left out). When the
    ground truth is a MOT file, track messages are numbered by the order of their stamps.
    """
    names = tuple(class_names) or gt.class_names or tracks.class_names
    ids = ClassIds(names)
    unmatched = 0
    if gt.is_bag:
        stamps = sorted(gt.by_stamp)
        frames = {s: k + 1 for k, s in enumerate(stamps)}
        gt_rows = [r for s in stamps for r in rows_from_boxes(gt.by_stamp[s], frames[s], ids)]
        num_frames = len(stamps)
    else:
        gt_rows = list(gt.rows)
        num_frames = max((r.frame for r in gt_rows), default=0)
        frames = None
    if tracks.is_bag:
        if frames is None:
            frames = {s: k + 1 for k, s in enumerate(sorted(tracks.by_stamp))}
        track_rows = []
        for stamp in sorted(tracks.by_stamp):
            if stamp not in frames:
                unmatched += 1
                continue
            track_rows.extend(rows_from_boxes(tracks.by_stamp[stamp], frames[stamp], ids))
        if unmatched:
            _LOG.warning('%s: %d track messages have stamps that are not ground-truth frames; '
                         'they are left out', name, unmatched)
    else:
        track_rows = list(tracks.rows)
    num_frames = max([num_frames] + [r.frame for r in track_rows])
    return AlignedSequence(name, gt_rows, track_rows, num_frames, unmatched, dict(ids.mapping))


@dataclass
class Report:
    """Metrics per sequence and overall, plus how they were computed."""

    metrics: dict[str, TrackingMetrics]
    sequences: list[AlignedSequence]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"sequences": {...}, "overall": {...}, "settings": {...}}``."""
        return {
            'sequences': {s.name: {**self.metrics[s.name].as_dict(),
                                   'unmatched_track_stamps': s.unmatched_stamps}
                          for s in self.sequences},
            'overall': self.metrics[OVERALL].as_dict(),
            'settings': self.settings,
        }


def evaluate_sequences(sequences: Sequence[AlignedSequence], iou_threshold: float = 0.5,
                       class_aware: bool = True, min_visibility: float = 0.0,
                       min_score: Optional[float] = None) -> Report:
    """Score aligned sequences with :func:`centertrack_ros.core.metrics.evaluate_many`.

    Raises:
        BagError: invalid settings or inconsistent inputs (e.g. duplicate ids in a frame).

    """
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise BagError(f'sequence names must be unique, got {names}')
    if class_aware:
        for seq in sequences:
            gt_classes = {r.class_id for r in seq.gt if r.class_id >= 0}
            hyp_classes = {r.class_id for r in seq.tracks if r.class_id >= 0}
            if gt_classes and hyp_classes and not gt_classes & hyp_classes:
                _LOG.warning('%s: no track class occurs in the ground truth (%s); use '
                             '--class-agnostic if the labels differ only in name', seq.name,
                             ', '.join(sorted(seq.class_map)) or 'class ids only')
    try:
        metrics = evaluate_many(
            {s.name: (s.gt, s.tracks) for s in sequences}, iou_threshold=iou_threshold,
            class_aware=class_aware, min_visibility=min_visibility, min_score=min_score,
            num_frames={s.name: s.num_frames for s in sequences})
    except ValueError as exc:
        raise BagError(f'evaluation failed: {exc}') from exc
    settings = {'iou_threshold': iou_threshold, 'class_aware': class_aware,
                'min_visibility': min_visibility, 'min_score': min_score}
    return Report(metrics, list(sequences), settings)


def sequence_name(gt: Path, tracks: Path, taken: Mapping[str, Any]) -> str:
    """Return a readable, unique name for a sequence, from its file names."""
    for candidate in (tracks.stem if tracks.suffix == '.txt' else tracks.name, gt.name):
        if candidate and candidate not in taken and candidate != OVERALL:
            return candidate
    k = len(taken) + 1
    while f'seq{k}' in taken:
        k += 1
    return f'seq{k}'
