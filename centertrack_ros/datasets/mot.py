"""MOTChallenge text rows (ground truth, detections, results): their type, reading and writing.

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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..core.errors import DatasetError
from ._fields import format_number, numbered_lines, parse_integer, parse_number

__all__ = [
    'MOT_CLASSES', 'MOT_CAR', 'MOT_DISTRACTOR', 'MOT_PEDESTRIAN', 'MOT_PERSON_ON_VEHICLE',
    'MOT_REFLECTION', 'MOT_STATIC_PERSON', 'MotRow', 'format_mot_row', 'parse_mot_line',
    'read_mot', 'rows_by_frame', 'write_mot',
]

MOT_CLASSES = ('pedestrian', 'person_on_vehicle', 'car', 'bicycle', 'motorbike',
               'non_mot_vehicle', 'static_person', 'distractor', 'occluder',
               'occluder_on_ground', 'occluder_full', 'reflection')
"""Names of the MOT16/17/20 ground-truth class ids (``MOT_CLASSES[id - 1]``)."""

MOT_PEDESTRIAN, MOT_PERSON_ON_VEHICLE, MOT_CAR = 1, 2, 3
MOT_STATIC_PERSON, MOT_DISTRACTOR, MOT_REFLECTION = 7, 8, 12


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


def _split(line: str) -> list[str]:
    if ',' in line:
        return [p.strip() for p in line.split(',')]
    return line.split()


def parse_mot_line(line: str, where: str = '<string>') -> MotRow | None:
    """Parse one MOTChallenge line; None for blank and comment lines.

    ``where`` prefixes error messages (normally ``file:line``).

    Raises:
        DatasetError: wrong number of columns, a non-numeric or non-finite value, a frame < 1,
            or a negative box size.

    """
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    parts = _split(text)
    if len(parts) not in (6, 7, 8, 9, 10):
        raise DatasetError(f'{where}: expected 6 to 10 values, got {len(parts)}: {text!r}')
    frame = parse_integer(parts[0], 'frame', where)
    if frame < 1:
        raise DatasetError(f'{where}: MOTChallenge frames are 1-based, got frame {frame}')
    track_id = parse_integer(parts[1], 'track id', where)
    x, y, w, h = (parse_number(p, n, where) for p, n in zip(
        parts[2:6], ('bb_left', 'bb_top', 'bb_width', 'bb_height')))
    if w < 0 or h < 0:
        raise DatasetError(f'{where}: negative box size {w} x {h}')
    score = parse_number(parts[6], 'conf', where) if len(parts) >= 7 else 1.0
    class_id, visibility = -1, -1.0
    if len(parts) in (8, 9):
        class_id = parse_integer(parts[7], 'class', where)
    if len(parts) == 9:
        visibility = parse_number(parts[8], 'visibility', where)
    return MotRow(frame, track_id, x, y, w, h, score, class_id, visibility)


def read_mot(path: str | os.PathLike[str]) -> list[MotRow]:
    """Read a MOTChallenge ground-truth, detection or result file.

    Raises:
        DatasetError: the file cannot be read, or a malformed line (naming the file and the
            1-based line number).

    """
    rows = []
    for where, line in numbered_lines(path, 'a MOTChallenge text file', 'MOTChallenge file'):
        row = parse_mot_line(line, where)
        if row is not None:
            rows.append(row)
    return rows


def format_mot_row(row: MotRow, mot15_result: bool = False) -> str:
    """Format one row as a 9-column line, or the 10-column MOT15 result layout."""
    head = [str(row.frame), str(row.track_id), format_number(row.x), format_number(row.y),
            format_number(row.w), format_number(row.h), format_number(row.score)]
    if mot15_result:
        return ','.join(head + ['-1', '-1', '-1'])
    return ','.join(head + [str(row.class_id), format_number(row.visibility)])


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
