"""Loading tracks and ground truth from bags or MOTChallenge files onto common frame numbers.

Either side of a comparison can be a bag topic of ``Detection2DArray`` messages or a
MOTChallenge text file (or a MOTChallenge sequence folder, for ground truth). Bag messages are
put on MOT frame numbers through their header stamps: the ground truth defines the frames
(frame ``k`` is its ``k``-th distinct stamp) and tracks are looked up by stamp, so a live
recording that dropped frames still lines up. The scoring is
:mod:`centertrack_ros.evaluation.sequences`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..core.labels import ClassIds
from ..datasets.mot import MotRow, read_mot
from ..datasets.mot_sequence import gt_file
from ..evaluation.sequences import AlignedSequence
from ..runtime.stamps import stamp_ns
from .convert import CLASS_NAMES_KEY, DEFAULT_GT_TOPIC
from .errors import BagError
from .io import BagReader, TopicSummary
from .messages import boxes_from_detections, rows_from_boxes
from .offline import DEFAULT_DETECTIONS_TOPIC
from .typestore import DETECTION_ARRAY

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
                stamp = stamp_ns(msg.header.stamp)
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
        candidate = gt_file(path)
        if not candidate.is_file():
            raise BagError(f'{path} is neither a bag nor a MOT sequence with gt/gt.txt')
        path = candidate
    try:
        rows = read_mot(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BagError(f'bad MOTChallenge file: {exc}') from exc
    return Rows(str(path), rows=rows)


def align(name: str, gt: Rows, tracks: Rows, class_names: Sequence[str] = ()) -> AlignedSequence:
    """Put both sides on the same frame numbers and give classes common integer ids.

    Ground truth from a bag defines the frames by its stamps; tracks from a bag are placed on
    those frames by stamp (stamps not in the ground truth are counted and left out). When the
    ground truth is a MOT file, track messages are numbered by the order of their stamps.
    """
    names = tuple(class_names) or gt.class_names or tracks.class_names
    ids = ClassIds(names)
    unmatched = 0
    frames: Optional[dict[int, int]] = None
    if gt.by_stamp is not None:  # a bag
        stamps = sorted(gt.by_stamp)
        frames = {s: k + 1 for k, s in enumerate(stamps)}
        gt_rows = [r for s in stamps for r in rows_from_boxes(gt.by_stamp[s], frames[s], ids)]
        num_frames = len(stamps)
    else:
        gt_rows = list(gt.rows or [])
        num_frames = max((r.frame for r in gt_rows), default=0)
    if tracks.by_stamp is not None:  # a bag
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
        track_rows = list(tracks.rows or [])
    num_frames = max([num_frames] + [r.frame for r in track_rows])
    return AlignedSequence(name, gt_rows, track_rows, num_frames, unmatched, dict(ids.mapping))
