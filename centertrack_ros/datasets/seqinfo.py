"""A MOTChallenge ``seqinfo.ini``: what a sequence folder says about itself, read and written.

The file has one ``[Sequence]`` section with ``name``, ``imDir``, ``frameRate``,
``seqLength``, ``imWidth``, ``imHeight`` and ``imExt`` (keys are case-insensitive). Every
reader of MOT sequences goes through :func:`read_seqinfo`, so a sequence means the same to
training, the bag converter and evaluation.
"""

from __future__ import annotations

import configparser
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import DatasetError
from ._fields import format_number

SEQINFO = 'seqinfo.ini'
"""File name of the description inside a sequence folder."""

DEFAULT_IMAGE_DIR = 'img1'
"""Image folder of a sequence whose ``seqinfo.ini`` names none (or that has no such file)."""


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a ``seqinfo.ini``; None where the file leaves a key out.

    Attributes:
        name: sequence name.
        image_dir: image folder relative to the sequence folder.
        frame_rate: frames per second.
        length: number of frames.
        width: image width in pixels.
        height: image height in pixels.
        image_ext: image file suffix with its dot (``.jpg``).

    """

    name: Optional[str] = None
    image_dir: str = DEFAULT_IMAGE_DIR
    frame_rate: Optional[float] = None
    length: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    image_ext: Optional[str] = None


def _positive(value: str, key: str, path: Path, integer: bool) -> float | int:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = 'an integer' if integer else 'a number'
        raise DatasetError(f'{path}: {key} is not {kind}: {value!r}') from None
    if not (math.isfinite(number) and number > 0):
        raise DatasetError(f'{path}: {key} must be positive, got {value!r}')
    return number


def read_seqinfo(path: str | os.PathLike[str]) -> SeqInfo:
    """Read a ``seqinfo.ini`` (``path`` is the file itself).

    Raises:
        DatasetError: the file cannot be read or parsed, has no ``[Sequence]`` section, or a
            value of the wrong kind (a frame rate, length or size that is not a positive number).

    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding='utf-8') as f:
            parser.read_file(f)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise DatasetError(f'cannot read {path}: {" ".join(str(exc).split())}') from exc
    if not parser.has_section('Sequence'):
        raise DatasetError(f'{path} has no [Sequence] section')
    section = {key: value.strip() for key, value in parser['Sequence'].items()}

    def number(key: str) -> Optional[float]:
        value = section.get(key.lower())
        return _positive(value, key, path, False) if value else None

    def count(key: str) -> Optional[int]:
        value = section.get(key.lower())
        return int(_positive(value, key, path, True)) if value else None

    ext = section.get('imext') or None
    if ext is not None and not ext.startswith('.'):
        ext = '.' + ext
    return SeqInfo(name=section.get('name') or None,
                   image_dir=section.get('imdir') or DEFAULT_IMAGE_DIR,
                   frame_rate=number('frameRate'), length=count('seqLength'),
                   width=count('imWidth'), height=count('imHeight'),
                   image_ext=ext)


def write_seqinfo(path: str | os.PathLike[str], name: str, frame_rate: float, length: int,
                  width: int, height: int, image_dir: str = DEFAULT_IMAGE_DIR,
                  image_ext: str = '.jpg') -> None:
    """Write a MOTChallenge ``seqinfo.ini`` describing a sequence folder, creating folders."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('[Sequence]\n'
                f'name={name}\n'
                f'imDir={image_dir}\n'
                f'frameRate={format_number(frame_rate)}\n'
                f'seqLength={length}\n'
                f'imWidth={width}\n'
                f'imHeight={height}\n'
                f'imExt={image_ext}\n')
