"""A MOTChallenge sequence folder: ``seqinfo.ini``, the image folder and ``gt/gt.txt``.

A sequence folder holds its frames in ``img1/`` (or the ``imDir`` of its ``seqinfo.ini``),
frame ``k`` (1-based) being the ``k``-th image in natural order, and for training sequences
the ground truth in ``gt/gt.txt``. A MOTChallenge split (``train/``, ``test/``) is a folder of
such sequences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..core.errors import DatasetError
from .folders import image_files
from .mot import MotRow, read_mot
from .seqinfo import DEFAULT_IMAGE_DIR, SEQINFO, SeqInfo, read_seqinfo


def gt_file(folder: str | os.PathLike[str]) -> Path:
    """Where a sequence folder keeps its ground truth (``<folder>/gt/gt.txt``)."""
    return Path(folder) / 'gt' / 'gt.txt'


def is_mot_sequence(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` looks like a MOTChallenge sequence (a ``seqinfo.ini`` or ``img1/``)."""
    folder = Path(folder)
    return (folder / SEQINFO).is_file() or (folder / DEFAULT_IMAGE_DIR).is_dir()


@dataclass(frozen=True)
class MotSequence:
    """An opened MOTChallenge sequence folder (nothing but its listing and ``seqinfo.ini`` read).

    Attributes:
        path: the sequence folder.
        name: the ``seqinfo.ini`` name, else the folder's name.
        info: the ``seqinfo.ini``, or None when the folder has none.
        image_dir: the folder of the frames.
        images: the frame files; ``images[k - 1]`` is frame ``k``.
        gt_path: ``gt/gt.txt`` when the folder has one, else None.

    """

    path: Path
    name: str
    info: Optional[SeqInfo]
    image_dir: Path
    images: tuple[Path, ...]
    gt_path: Optional[Path]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def frame_rate(self) -> Optional[float]:
        """Frames per second from ``seqinfo.ini``, or None where it does not say."""
        return self.info.frame_rate if self.info is not None else None

    def ground_truth(self) -> Optional[list[MotRow]]:
        """Read ``gt/gt.txt``; None when the sequence has no ground truth.

        Raises:
            DatasetError: a malformed line (naming file and line).

        """
        return read_mot(self.gt_path) if self.gt_path is not None else None


def open_mot_sequence(path: str | os.PathLike[str]) -> MotSequence:
    """Open a MOTChallenge sequence folder; ``seqinfo.ini`` is read here, once.

    Without ``imExt`` every image suffix counts. Images beyond ``seqLength`` are left out.

    Raises:
        DatasetError: ``path`` is not a sequence folder (no image folder), a bad
            ``seqinfo.ini``, no images, or fewer images than ``seqLength`` says.

    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f'{path} is not a MOTChallenge sequence folder')
    info_path = path / SEQINFO
    info = read_seqinfo(info_path) if info_path.is_file() else None
    image_dir = path / (info.image_dir if info is not None else DEFAULT_IMAGE_DIR)
    if not image_dir.is_dir():
        why = (f'its {SEQINFO} names the image folder {image_dir.name}/, which is missing'
               if info is not None else f'it has neither {SEQINFO} nor {DEFAULT_IMAGE_DIR}/')
        raise DatasetError(f'{path} is not a MOTChallenge sequence: {why}')
    ext = info.image_ext if info is not None else None
    images = image_files(image_dir, ext)
    if not images:
        raise DatasetError(f'no {ext + " " if ext else ""}images in {image_dir}')
    if info is not None and info.length is not None:
        if len(images) < info.length:
            raise DatasetError(f'{info_path} says seqLength={info.length} but {image_dir} '
                               f'holds {len(images)} images')
        images = images[:info.length]
    gt = gt_file(path)
    return MotSequence(path, (info.name if info is not None else None) or path.name, info,
                       image_dir, tuple(images), gt if gt.is_file() else None)


def find_mot_sequences(root: str | os.PathLike[str],
                       names: Optional[Sequence[str]] = None) -> list[Path]:
    """List the sequence folders with ground truth of a split (``<root>/<seq>/gt/gt.txt``).

    ``names`` keeps only those sequences, each of which must be there. Sorted by name.

    Raises:
        DatasetError: ``root`` holds no such sequence, or not one of ``names``.

    """
    root = Path(root)
    found = sorted(d for d in root.iterdir() if gt_file(d).is_file()) if root.is_dir() else []
    if not found:
        raise DatasetError(f'{root}: no MOTChallenge sequences (<seq>/gt/gt.txt) found')
    if names:
        missing = sorted(set(names) - {d.name for d in found})
        if missing:
            raise DatasetError(f'{root}: no MOTChallenge sequence {", ".join(missing)} with '
                               f'gt/gt.txt (there are {", ".join(d.name for d in found)})')
        found = [d for d in found if d.name in set(names)]
    return found
