"""KITTI-tracking: label files, their conversion to MOT rows, and the sequences of a root.

Label files have one object per line,
``frame track_id type truncated occluded alpha x1 y1 x2 y2 h w l x y z rotation_y [score]``,
with 0-based frames and ``DontCare`` rows (track id -1) marking regions to ignore. A
KITTI-tracking root (``training/``) holds sequence ``<seq>``'s frames in ``image_02/<seq>/``
(``000000.png`` ...) and its labels in ``label_02/<seq>.txt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from ..core.errors import DatasetError
from ._fields import numbered_lines, parse_integer, parse_number
from .folders import image_files
from .mot import MotRow

__all__ = [
    'IMAGE_DIR', 'KITTI_FPS', 'KITTI_TYPES', 'KittiLabel', 'KittiSequence', 'LABEL_DIR',
    'is_kitti_path', 'kitti_rows', 'kitti_sequences', 'labelled_kitti_sequences',
    'open_kitti_sequence', 'read_kitti_tracking', 'split_kitti_path',
]

KITTI_TYPES = ('Car', 'Van', 'Truck', 'Pedestrian', 'Person_sitting', 'Cyclist', 'Tram', 'Misc')
"""The object types that carry track ids (``DontCare`` marks regions to ignore)."""

KITTI_FPS = 10.0
"""Frame rate of the KITTI recordings."""

IMAGE_DIR, LABEL_DIR = 'image_02', 'label_02'
"""Folders of the left colour camera's frames and of the labels, under a root."""


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


def _parse_label(parts: list[str], where: str) -> KittiLabel:
    frame = parse_integer(parts[0], 'frame', where)
    if frame < 0:
        raise DatasetError(f'{where}: negative frame {frame}')
    track_id = parse_integer(parts[1], 'track id', where)
    nums = [parse_number(p, 'value', where) for p in parts[3:10]]
    x1, y1, x2, y2 = nums[3:7]
    if x2 < x1 or y2 < y1:
        raise DatasetError(f'{where}: box has x2 < x1 or y2 < y1: {x1} {y1} {x2} {y2}')
    dims = loc = rot = score = None
    if len(parts) >= 17:
        extra = [parse_number(p, 'value', where) for p in parts[10:]]
        dims = (extra[0], extra[1], extra[2])
        loc = (extra[3], extra[4], extra[5])
        rot = extra[6]
        if len(extra) == 8:
            score = extra[7]
    return KittiLabel(frame, track_id, parts[2], nums[0], int(nums[1]), nums[2], x1, y1, x2, y2,
                      dims, loc, rot, score)


def read_kitti_tracking(path: str | os.PathLike[str], keep_dontcare: bool = False
                        ) -> list[KittiLabel]:
    """Read a KITTI-tracking label (or result) file.

    Rows need at least the 10 columns up to the 2D box; the 3D box and a trailing score are
    read when present. ``DontCare`` rows are skipped unless ``keep_dontcare``.

    Raises:
        DatasetError: the file cannot be read, or a malformed line (naming the file and the
            1-based line number).

    """
    labels = []
    for where, line in numbered_lines(path, 'a KITTI-tracking label file',
                                      'KITTI-tracking labels'):
        parts = line.split()
        if not parts or parts[0].startswith('#'):
            continue
        if len(parts) not in (10, 17, 18):
            raise DatasetError(f'{where}: expected 10, 17 or 18 values, got '
                               f'{len(parts)}: {line.strip()!r}')
        if parts[2] == 'DontCare' and not keep_dontcare:
            continue
        labels.append(_parse_label(parts, where))
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
    ``dontcare_as_ignored`` kept as ignore regions: consider flag (score) 0, class -1 and
    track ids -1, -2, ... in file order (distinct, as the rows of one frame must be), which
    :func:`centertrack_ros.evaluation.metrics.evaluate` treats like MOT's ignored ground truth.
    """
    index = {name.lower(): k + 1 for k, name in enumerate(class_names)}
    alias = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
    rows = []
    ignored = 0
    for lab in labels:
        kind = lab.type.lower()
        if kind == 'dontcare':
            if dontcare_as_ignored:
                ignored += 1
                rows.append(MotRow(lab.frame + 1, -ignored, lab.x1, lab.y1, lab.x2 - lab.x1,
                                   lab.y2 - lab.y1, 0.0, -1, -1.0))
            continue
        class_id = index.get(alias.get(kind, kind))
        if class_id is None:
            continue
        rows.append(MotRow(lab.frame + 1, lab.track_id, lab.x1, lab.y1, lab.x2 - lab.x1,
                           lab.y2 - lab.y1, 1.0 if lab.score is None else lab.score, class_id,
                           -1.0))
    return rows


# --------------------------------------------------------------------------------------------
# Sequences of a KITTI-tracking root


def is_kitti_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a KITTI-tracking root or one of its ``image_02/<seq>``."""
    path = Path(path)
    return (path / IMAGE_DIR).is_dir() or path.parent.name == IMAGE_DIR


def split_kitti_path(path: str | os.PathLike[str]) -> tuple[Path, Optional[str]]:
    """``(root, sequence)`` of ``.../image_02/<seq>``; ``(path, None)`` for anything else."""
    path = Path(path)
    if path.parent.name == IMAGE_DIR:
        return path.parent.parent, path.name
    return path, None


def kitti_sequences(root: str | os.PathLike[str]) -> list[str]:
    """Names of the sequences with a frame folder (``image_02/<seq>/``), sorted.

    Raises:
        DatasetError: ``root`` has no ``image_02/`` folder.

    """
    images = Path(root) / IMAGE_DIR
    if not images.is_dir():
        raise DatasetError(f'{root} is not a KITTI-tracking root: it has no {IMAGE_DIR}/ folder')
    return sorted(p.name for p in images.iterdir() if p.is_dir())


def labelled_kitti_sequences(root: str | os.PathLike[str]) -> list[str]:
    """Names of the sequences with labels (``label_02/<seq>.txt``), sorted.

    Raises:
        DatasetError: ``root`` has no label file.

    """
    labels = Path(root) / LABEL_DIR
    names = sorted(p.stem for p in labels.glob('*.txt')) if labels.is_dir() else []
    if not names:
        raise DatasetError(f'{root}: no KITTI-tracking labels ({LABEL_DIR}/<seq>.txt) found')
    return names


@dataclass(frozen=True)
class KittiSequence:
    """One sequence of a KITTI-tracking root (only the listing read so far).

    Attributes:
        root: the KITTI-tracking root.
        name: the sequence, e.g. ``0003``.
        image_dir: ``image_02/<name>/``.
        images: the frame files in natural order.
        label_path: ``label_02/<name>.txt`` when it exists, else None.

    """

    root: Path
    name: str
    image_dir: Path
    images: tuple[Path, ...]
    label_path: Optional[Path]

    def __len__(self) -> int:
        return len(self.images)

    def frame_ids(self) -> list[int]:
        """Return the 0-based frame number of each image, from its name (``000042.png`` -> 42).

        Raises:
            DatasetError: an image name that is not a frame number.

        """
        try:
            return [int(p.stem) for p in self.images]
        except ValueError:
            bad = next(p for p in self.images if not p.stem.isdigit())
            raise DatasetError(f'{bad}: KITTI-tracking frames are named by their number '
                               '(000000.png ...)') from None

    def labels(self, keep_dontcare: bool = True) -> Optional[list[KittiLabel]]:
        """Read the sequence's labels; None when it has no label file."""
        if self.label_path is None:
            return None
        return read_kitti_tracking(self.label_path, keep_dontcare)


def open_kitti_sequence(root: str | os.PathLike[str], sequence: str,
                        require_labels: bool = False) -> KittiSequence:
    """Open sequence ``sequence`` of the KITTI-tracking root ``root``.

    Raises:
        DatasetError: ``root`` is not a KITTI-tracking root, has no such sequence, the sequence
            has no images, or (with ``require_labels``) no label file.

    """
    root = Path(root)
    names = kitti_sequences(root)
    image_dir = root / IMAGE_DIR / sequence
    if sequence not in names:
        raise DatasetError(f'KITTI-tracking root {root} has no sequence {sequence!r} '
                           f'({IMAGE_DIR}/{sequence}/); it has '
                           f'{", ".join(names) if names else "none"}')
    images = image_files(image_dir)
    if not images:
        raise DatasetError(f'no images in {image_dir}')
    label = root / LABEL_DIR / f'{sequence}.txt'
    if require_labels and not label.is_file():
        raise DatasetError(f'KITTI-tracking sequence {sequence} of {root} has no labels '
                           f'({LABEL_DIR}/{sequence}.txt)')
    return KittiSequence(root, sequence, image_dir, tuple(images),
                         label if label.is_file() else None)
