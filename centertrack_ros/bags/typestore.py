"""The ``rosbags`` type store the bag tools use: ROS 2 standard types plus our interfaces.

``vision_msgs``, ``autoware_perception_msgs`` and ``foxglove_msgs`` are not part of ``rosbags``'
built-in stores; their definitions are registered from the package's ``msg/<package>/msg``
folders (field for field the upstream packages, so the type hashes written into bags equal
those of a ROS distribution's packages, ``ros2 bag play`` accepts them and Foxglove decodes
them), or from their installed share directories. ``vision_msgs`` is required; the other two
are registered when found (:func:`missing_interfaces` names those that were not).
"""

from __future__ import annotations

import functools
from typing import Any

from rosbags.typesys import Stores, get_typestore

from .. import msg_defs
from ..runtime.stamps import make_stamp

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
DETECTION_ARRAY = 'vision_msgs/msg/Detection2DArray'
DETECTION3D_ARRAY = 'vision_msgs/msg/Detection3DArray'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
TRACKED_OBJECTS = 'autoware_perception_msgs/msg/TrackedObjects'
DETECTED_OBJECTS = 'autoware_perception_msgs/msg/DetectedObjects'
IMAGE_ANNOTATIONS = 'foxglove_msgs/msg/ImageAnnotations'
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)

# Kilted is what the PyPI ROS wheels are; Jazzy only where an older rosbags lacks Kilted.
_STORE = getattr(Stores, 'ROS2_KILTED', None) or Stores.ROS2_JAZZY


@functools.lru_cache(maxsize=None)
def _store() -> tuple[Any, tuple[str, ...]]:
    store = get_typestore(_STORE)
    missing = tuple(msg_defs.register_interfaces(store))
    return store, missing


def typestore() -> Any:
    """Return the shared type store (built once per process)."""
    return _store()[0]


def missing_interfaces() -> tuple[str, ...]:
    """Return the interface packages whose definitions were not found (not registered)."""
    return _store()[1]


def message_class(msgtype: str) -> Any:
    """Return the ``rosbags`` dataclass of a message type, e.g. ``sensor_msgs/msg/Image``."""
    return typestore().types[msgtype]


def header(nanoseconds: int, frame_id: str) -> Any:
    """Build a ``std_msgs/Header`` stamped ``nanoseconds`` (since the epoch)."""
    store = typestore()
    stamp = make_stamp(store.types['builtin_interfaces/msg/Time'], nanoseconds)
    return store.types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)
