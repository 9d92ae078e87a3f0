"""Image files of a folder in natural order (``2.png`` before ``10.png``), and reading them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Iterator, Optional

import cv2
import numpy as np

from ..core.errors import DatasetError

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
"""Suffixes (lower case) of the image files a folder is read for."""


def natural_key(path: str | os.PathLike[str]) -> list:
    """Sort key of a file name with its digit runs compared as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', Path(path).name)]


def image_files(folder: str | os.PathLike[str], suffix: Optional[str] = None) -> list[Path]:
    """Image files directly in ``folder``, in natural order.

    ``suffix`` (e.g. ``.jpg``, any case) keeps only files with that suffix; by default every
    suffix of :data:`IMAGE_SUFFIXES` counts.

    Raises:
        DatasetError: ``folder`` is not a folder.

    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f'{folder} is not a folder of images')
    suffixes = (suffix.lower(),) if suffix else IMAGE_SUFFIXES
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
                  key=natural_key)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as BGR ``uint8``.

    Raises:
        DatasetError: the file is missing, corrupt or of a format OpenCV cannot read.

    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f'cannot read image {path} (missing, corrupt or unsupported format)')
    return image


def read_images(paths: Iterable[str | os.PathLike[str]]) -> Iterator[np.ndarray]:
    """Read image files one by one, in the given order (see :func:`read_image`)."""
    for path in paths:
        yield read_image(path)
