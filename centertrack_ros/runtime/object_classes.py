"""Autoware's object classes and the map from the model's class names to them.

``autoware_perception_msgs/ObjectClassification.label`` is one of twelve constants (UNKNOWN,
CAR, ..., UNDER_DRIVABLE). A model's class name is looked up after normalising it (lower case,
spaces and hyphens as underscores): first in the overrides, then in :data:`DEFAULT_CLASS_MAP`;
any other name is UNKNOWN, never an error.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Union

from ..core.errors import ConfigError

# The values of autoware_perception_msgs/msg/ObjectClassification's constants.
AUTOWARE_LABELS = {
    'UNKNOWN': 0, 'CAR': 1, 'TRUCK': 2, 'BUS': 3, 'TRAILER': 4, 'MOTORCYCLE': 5, 'BICYCLE': 6,
    'PEDESTRIAN': 7, 'ANIMAL': 8, 'HAZARD': 9, 'OVER_DRIVABLE': 10, 'UNDER_DRIVABLE': 11,
}
UNKNOWN = AUTOWARE_LABELS['UNKNOWN']

# The model class names with an Autoware counterpart: nuScenes' names (CenterTrack's 3D models)
# and two common spellings of the same classes (COCO/MOT 'person', KITTI 'cyclist').
DEFAULT_CLASS_MAP = {
    'car': 'CAR', 'truck': 'TRUCK', 'bus': 'BUS', 'trailer': 'TRAILER',
    'motorcycle': 'MOTORCYCLE', 'bicycle': 'BICYCLE', 'pedestrian': 'PEDESTRIAN',
    'person': 'PEDESTRIAN', 'cyclist': 'BICYCLE',
}


def normalise(class_name: str) -> str:
    """Return the lookup form of a class name: lower case, spaces and hyphens as underscores."""
    return '_'.join(str(class_name).strip().lower().replace('-', ' ').split())


def autoware_label(name: Union[str, int]) -> int:
    """Return the value of an Autoware label given by name (any case) or value.

    Raises:
        ConfigError: not one of the twelve labels.

    """
    if isinstance(name, int) and not isinstance(name, bool):
        if name in AUTOWARE_LABELS.values():
            return name
    elif isinstance(name, str) and name.strip().upper() in AUTOWARE_LABELS:
        return AUTOWARE_LABELS[name.strip().upper()]
    raise ConfigError(f'{name!r} is not an Autoware object class; use one of '
                      f'{", ".join(AUTOWARE_LABELS)}')


def parse_class_overrides(entries: Iterable[str]) -> dict[str, int]:
    """Parse ``['model_class:AUTOWARE_LABEL', ...]`` (a string-array parameter) into a map.

    Raises:
        ConfigError: an entry without a colon, with an empty class name, with an unknown label,
            or a class named twice.

    """
    out: dict[str, int] = {}
    for entry in entries:
        name, sep, label = str(entry).rpartition(':')
        if not sep or not name.strip():
            raise ConfigError(f'class override {entry!r} must be written class_name:LABEL, e.g. '
                              "'construction_vehicle:TRUCK'")
        key = normalise(name)
        if key in out:
            raise ConfigError(f'class override names {name.strip()!r} twice')
        out[key] = autoware_label(label)
    return out


class ClassMap:
    """Maps a model's class names to Autoware labels (module doc); unknown names to UNKNOWN.

    Args:
        overrides: class name -> label (name or value), consulted before the defaults.

    """

    def __init__(self, overrides: Optional[Mapping[str, Union[str, int]]] = None) -> None:
        self._map = {name: AUTOWARE_LABELS[label] for name, label in DEFAULT_CLASS_MAP.items()}
        for name, label in (overrides or {}).items():
            self._map[normalise(name)] = autoware_label(label)

    def label(self, class_name: str) -> int:
        """Return the Autoware label of a class name (UNKNOWN when it has none)."""
        return self._map.get(normalise(class_name), UNKNOWN)
