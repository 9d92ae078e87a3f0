"""MOTChallenge and KITTI-tracking text files: their row types, reading and writing.

MOTChallenge rows are ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,visibility``.
In ground-truth files ``conf`` is the consider flag (1 = evaluate, 0 = ignore); in result files
it is the detection score and ``class``/``visibility`` may be -1. The reader accepts

- 6 columns: ``frame,id,x,y,w,h`` (score 1, class and visibility unknown);
- 7 columns: ``... ,conf``;
- 8 columns: ``... ,conf,class``;
- 9 columns: ``... ,conf,class,visibility`` (MOT16/17/20 ground truth);
- 10 columns: ``... ,conf,x,y,z`` (MOT15-style results, whose last three columns are world
  coordinates, normally -1; they are dropped and class/visibility are unknown).

Values may be separated by commas or by whitespace; blank lines and lines starting with ``#``
are skipped. Frames are 1-based. Boxes are written in image pixels exactly as given: no 1-pixel
shift is applied either way, so files produced by this module and compared with each other are
consistent (the official MOT files count pixels from 1, which changes IoUs negligibly).

KITTI-tracking label files have one object per line,
``frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]``,
with 0-based frames and ``DontCare`` rows (track id -1) marking regions to ignore.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = [
    'KittiLabel', 'MotRow', 'format_mot_row', 'kitti_rows', 'parse_mot_line',
    'read_kitti_tracking', 'read_mot', 'rows_by_frame', 'write_mot', 'write_seqinfo',
]


@dataclass(frozen=True)
class MotRow:
    """One box in one frame of a MOTChallenge file.

    ``score`` is the consider flag (0/1) for ground truth and the confidence for results;
    ``class_id`` and ``visibility`` are -1 when unknown.
    """

    frame: int
    track_id: int
    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
    class_id: int = -1
    visibility: float = -1.0

    @property
    def x2(self) -> float:
        """Right edge of the box."""
        return self.x + self.w

    @property
    def y2(self) -> float:
        """Bottom edge of the box."""
        return self.y + self.h

    @property
    def consider(self) -> bool:
        """For ground-truth rows: whether the box is evaluated (MOT's flag is 1)."""
        return self.score != 0

    def tlbr(self) -> tuple[float, float, float, float]:
        """Return the box as ``(x1, y1, x2, y2)``."""
        return (self.x, self.y, self.x + self.w, self.y + self.h)


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f'{value:.3f}'.rstrip('0').rstrip('.')


def _split(line: str) -> list[str]:
    if ',' in line:
        return [p.strip() for p in line.split(',')]
    return line.split()


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'{where}: {what} is not a number: {text!r}') from None
    if not math.isfinite(value):
        raise ValueError(f'{where}: {what} is not finite: {text!r}')
    return value


def _integer(text: str, what: str, where: str) -> int:
    value = _number(text, what, where)
    if value != int(value):
        raise ValueError(f'{where}: {what} must be an integer, got {text!r}')
    return int(value)


def parse_mot_line(line: str, where: str = '<string>') -> MotRow | None:
    """Parse one MOTChallenge line; None for blank and comment lines.

    ``where`` prefixes error messages (normally ``file:line``).

    Raises:
        ValueError: wrong number of columns, a non-numeric or non-finite value, a frame < 1, or
            a negative box size.

    """
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    parts = _split(text)
    if len(parts) not in (6, 7, 8, 9, 10):
        raise ValueError(f'{where}: expected 6 to 10 values, got {len(parts)}: {text!r}')
    frame = _integer(parts[0], 'frame', where)
    if frame < 1:
        raise ValueError(f'{where}: MOTChallenge frames are 1-based, got frame {frame}')
    track_id = _integer(parts[1], 'track id', where)
    x, y, w, h = (_number(p, n, where) for p, n in zip(parts[2:6], ('bb_left', 'bb_top',
                                                                 'bb_width', 'bb_height')))
    if w < 0 or h < 0:
        raise ValueError(f'{where}: negative box size {w} x {h}')
    score = _number(parts[6], 'conf', where) if len(parts) >= 7 else 1.0
    class_id, visibility = -1, -1.0
    if len(parts) in (8, 9):
        class_id = _integer(parts[7], 'class', where)
    if len(parts) == 9:
        visibility = _number(parts[8], 'visibility', where)
    return MotRow(frame, track_id, x, y, w, h, score, class_id, visibility)


def read_mot(path: str | os.PathLike[str]) -> list[MotRow]:
    """Read a MOTChallenge ground-truth or result file.

    Raises:
        ValueError: a malformed line, naming the file and the 1-based line number.

    """
    rows = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            row = parse_mot_line(line, f'{path}:{number}')
            if row is not None:
                rows.append(row)
    return rows


def format_mot_row(row: MotRow, mot15_result: bool = False) -> str:
    """Format one row as a 9-column line, or the 10-column MOT15 result layout."""
    head = [str(row.frame), str(row.track_id), _fmt(row.x), _fmt(row.y), _fmt(row.w),
            _fmt(row.h), _fmt(row.score)]
    if mot15_result:
        return ','.join(head + ['-1', '-1', '-1'])
    return ','.join(head + [str(row.class_id), _fmt(row.visibility)])


def write_mot(path: str | os.PathLike[str], rows: Iterable[MotRow],
              mot15_result: bool = False) -> None:
    """Write rows sorted by (frame, track id), creating parent folders.

    By default rows have 9 columns (class and visibility kept, which :func:`read_mot` reads
    back exactly up to 3 decimals). ``mot15_result`` writes the 10-column result layout that
    some evaluation servers expect, which drops class and visibility.
    """
    ordered = sorted(rows, key=lambda r: (r.frame, r.track_id))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        for row in ordered:
            f.write(format_mot_row(row, mot15_result) + '\n')


def rows_by_frame(rows: Iterable[MotRow]) -> dict[int, list[MotRow]]:
    """Group rows by frame, in increasing frame order; rows keep their order within a frame."""
    grouped: dict[int, list[MotRow]] = {}
    for row in rows:
        grouped.setdefault(row.frame, []).append(row)
    return dict(sorted(grouped.items()))


def write_seqinfo(path: str | os.PathLike[str], name: str, frame_rate: float, length: int,
                  width: int, height: int, image_dir: str = 'img1', image_ext: str = '.jpg'
                  ) -> None:
    """Write a MOTChallenge ``seqinfo.ini`` describing a sequence folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[Sequence]\n'
                f'name={name}\n'
                f'imDir={image_dir}\n'
                f'frameRate={_fmt(frame_rate)}\n'
                f'seqLength={length}\n'
                f'imWidth={width}\n'
                f'imHeight={height}\n'
                f'imExt={image_ext}\n')


@dataclass(frozen=True)
class KittiLabel:
    """One row of a KITTI-tracking label file (frames 0-based, as in the file)."""

    frame: int
    track_id: int
    type: str
    truncated: float
    occluded: int
    alpha: float
    x1: float
    y1: float
    x2: float
    y2: float
    dimensions: tuple[float, float, float] | None = None  # height, width, length (m)
    location: tuple[float, float, float] | None = None  # camera coordinates (m)
    rotation_y: float | None = None
    score: float | None = None


def read_kitti_tracking(path: str | os.PathLike[str], keep_dontcare: bool = False
                        ) -> list[KittiLabel]:
    """Read a KITTI-tracking label (or result) file.

    Rows need at least the 10 columns up to the 2D box; the 3D box and a trailing score are
    read when present. ``DontCare`` rows are skipped unless ``keep_dontcare``.

    Raises:
        ValueError: a malformed line, naming the file and the 1-based line number.

    """
    labels = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            where = f'{path}:{number}'
            parts = line.split()
            if not parts or parts[0].startswith('#'):
                continue
            if len(parts) not in (10, 17, 18):
                raise ValueError(f'{where}: expected 10, 17 or 18 values, got {len(parts)}: '
                                 f'{line.strip()!r}')
            kind = parts[2]
            if kind == 'DontCare' and not keep_dontcare:
                continue
            frame = _integer(parts[0], 'frame', where)
            if frame < 0:
                raise ValueError(f'{where}: negative frame {frame}')
            track_id = _integer(parts[1], 'track id', where)
            nums = [_number(p, 'value', where) for p in parts[3:10]]
            x1, y1, x2, y2 = nums[3:7]
            if x2 < x1 or y2 < y1:
                raise ValueError(f'{where}: box has x2 < x1 or y2 < y1: {x1} {y1} {x2} {y2}')
            dims = loc = rot = score = None
            if len(parts) >= 17:
                extra = [_number(p, 'value', where) for p in parts[10:]]
                dims = (extra[0], extra[1], extra[2])
                loc = (extra[3], extra[4], extra[5])
                rot = extra[6]
                if len(extra) == 8:
                    score = extra[7]
            labels.append(KittiLabel(frame, track_id, kind, nums[0], int(nums[1]), nums[2],
                                     x1, y1, x2, y2, dims, loc, rot, score))
    return labels


def kitti_rows(labels: Iterable[KittiLabel], class_names: Sequence[str],
               aliases: Mapping[str, str] | None = None, dontcare_as_ignored: bool = False
               ) -> list[MotRow]:
    """Convert KITTI labels to MOT rows, with class ids from ``class_names``.

    A label's type (after ``aliases``, e.g. ``{'Van': 'car'}``) is matched to ``class_names``
    case-insensitively; class id = position + 1. Labels of other types are dropped. Frames
    become 1-based; ``score`` is the KITTI score when the file has one and 1 otherwise;
    visibility is unknown (-1), since KITTI only grades occlusion coarsely.

    ``DontCare`` rows (read with ``keep_dontcare=True``) are dropped, or with
    ``dontcare_as_ignored`` kept as ignore regions: consider flag (score) 0, track id -1 and
    class -1, which :func:`centertrack_ros.evaluation.metrics.evaluate` treats like MOT's ignored
    ground truth.
    """
    index = {name.lower(): k + 1 for k, name in enumerate(class_names)}
    alias = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
    rows = []
    for lab in labels:
        kind = lab.type.lower()
        if kind == 'dontcare':
            if dontcare_as_ignored:
                rows.append(MotRow(lab.frame + 1, -1, lab.x1, lab.y1, lab.x2 - lab.x1,
                                   lab.y2 - lab.y1, 0.0, -1, -1.0))
            continue
        class_id = index.get(alias.get(kind, kind))
        if class_id is None:
            continue
        rows.append(MotRow(lab.frame + 1, lab.track_id, lab.x1, lab.y1, lab.x2 - lab.x1,
                           lab.y2 - lab.y1, 1.0 if lab.score is None else lab.score, class_id,
                           -1.0))
    return rows
