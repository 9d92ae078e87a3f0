"""COCO-json annotations with CenterTrack's video fields, read and checked.

The file is a JSON object with ``images`` (``id``, ``file_name``, optionally ``video_id`` and
``frame_id``), ``annotations`` (``image_id``, ``category_id``, ``bbox`` as ``[x, y, w, h]``
in pixels, optionally ``track_id`` and ``iscrowd``) and ``categories`` (``id``, ``name``).
CenterTrack's converted MOT files mark ignored objects of category ``k`` with category
``-k``. Every reference is checked on reading: an annotation of an image or a category that
the file does not define is an error, not a silently lost box.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..core.errors import DatasetError


@dataclass(frozen=True)
class CocoImage:
    """One entry of ``images``; ``video_id``/``frame_id`` are None for still images."""

    id: int
    file_name: str
    video_id: Optional[int] = None
    frame_id: Optional[int] = None


@dataclass(frozen=True)
class CocoAnnotation:
    """One entry of ``annotations``, ``bbox`` as ``(x, y, w, h)`` in pixels."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    track_id: Optional[int] = None
    iscrowd: bool = False

    def tlbr(self) -> tuple[float, float, float, float]:
        """Return the box as ``(x1, y1, x2, y2)``."""
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)


@dataclass(frozen=True)
class CocoCategory:
    """One entry of ``categories``."""

    id: int
    name: str


@dataclass(frozen=True)
class CocoVideo:
    """The content of a COCO-json file with video fields, in file order."""

    path: Path
    images: tuple[CocoImage, ...]
    annotations: tuple[CocoAnnotation, ...]
    categories: tuple[CocoCategory, ...]

    def by_image(self) -> dict[int, list[CocoAnnotation]]:
        """Annotations grouped by image id (file order within an image)."""
        grouped: dict[int, list[CocoAnnotation]] = defaultdict(list)
        for ann in self.annotations:
            grouped[ann.image_id].append(ann)
        return dict(grouped)


def _optional_integer(entry: dict, key: str, where: str) -> Optional[int]:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise DatasetError(f'{where}: {key} must be an integer, got {value!r}')
    return int(value)


def _integer(entry: dict, key: str, where: str) -> int:
    value = _optional_integer(entry, key, where)
    if value is None:
        raise DatasetError(f'{where} has no {key!r}')
    return value


def _entries(data: dict, key: str, path: Path, required: bool) -> list[tuple[str, dict]]:
    items = data.get(key)
    if items is None and not required:
        return []
    if not isinstance(items, list):
        raise DatasetError(f'{path}: no {key!r} list')
    out = []
    for k, item in enumerate(items):
        where = f'{path}: {key}[{k}]'
        if not isinstance(item, dict):
            raise DatasetError(f'{where} is not an object')
        out.append((where, item))
    return out


def _bbox(value: Any, where: str) -> tuple[float, float, float, float]:
    if not (isinstance(value, list) and len(value) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value)):
        raise DatasetError(f'{where}: bbox must be 4 finite numbers [x, y, w, h], got {value!r}')
    x, y, w, h = (float(v) for v in value)
    if w < 0 or h < 0:
        raise DatasetError(f'{where}: negative box size {w} x {h}')
    return (x, y, w, h)


def read_coco_video(path: str | os.PathLike[str]) -> CocoVideo:
    """Read and check a COCO-json annotation file with video fields.

    Raises:
        DatasetError: the file cannot be read or is not JSON; ``images`` or ``annotations`` is
            missing; an entry lacks a field or has one of the wrong kind; two images or two
            categories share an id; an annotation refers to an image, or (where the file lists
            categories) a category, that the file does not define. Messages name the file and
            the entry (``annotations[12]``).

    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f'cannot read COCO annotations {path}: {exc}') from exc
    if not isinstance(data, dict):
        raise DatasetError(f'{path} is not COCO annotations (not a JSON object)')

    images: list[CocoImage] = []
    seen: dict[int, str] = {}
    for k, (where, item) in enumerate(_entries(data, 'images', path, required=True)):
        image_id = _integer(item, 'id', where)
        if image_id in seen:
            raise DatasetError(f'{where}: image id {image_id} is already used by {seen[image_id]}')
        seen[image_id] = f'images[{k}]'
        name = item.get('file_name')
        if not isinstance(name, str) or not name:
            raise DatasetError(f'{where} has no file_name')
        images.append(CocoImage(image_id, name, _optional_integer(item, 'video_id', where),
                                _optional_integer(item, 'frame_id', where)))

    categories: list[CocoCategory] = []
    category_ids: set[int] = set()
    for where, item in _entries(data, 'categories', path, required=False):
        category_id = _integer(item, 'id', where)
        if category_id in category_ids:
            raise DatasetError(f'{where}: category id {category_id} is defined twice')
        category_ids.add(category_id)
        categories.append(CocoCategory(category_id, str(item.get('name', ''))))

    annotations: list[CocoAnnotation] = []
    for where, item in _entries(data, 'annotations', path, required=True):
        image_id = _integer(item, 'image_id', where)
        if image_id not in seen:
            raise DatasetError(f'{where} refers to image {image_id}, which is not in images')
        category = _integer(item, 'category_id', where)
        if category_ids and category not in category_ids and -category not in category_ids:
            raise DatasetError(f'{where} refers to category {category}, which is not in '
                               f'categories ({", ".join(map(str, sorted(category_ids)))})')
        annotations.append(CocoAnnotation(image_id, category, _bbox(item.get('bbox'), where),
                                          _optional_integer(item, 'track_id', where),
                                          bool(item.get('iscrowd', 0))))
    return CocoVideo(path, tuple(images), tuple(annotations), tuple(categories))
