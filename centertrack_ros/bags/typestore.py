"""The ``rosbags`` type store the bag tools use: ROS 2 standard types plus ``vision_msgs``.

``vision_msgs`` is not part of ``rosbags``' built-in stores; its definitions are registered from
the package's ``msg/`` folder (field for field the upstream package, so the type hashes written
into bags equal those of a ROS distribution's ``vision_msgs``, and ``ros2 bag play`` accepts
them).
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
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)

# Kilted is what the PyPI ROS wheels are; Jazzy only where an older rosbags lacks Kilted.
_STORE = getattr(Stores, 'ROS2_KILTED', None) or Stores.ROS2_JAZZY


@functools.lru_cache(maxsize=None)
def typestore() -> Any:
    """Return the shared type store (built once per process)."""
    return msg_defs.register_vision_msgs(get_typestore(_STORE))


def message_class(msgtype: str) -> Any:
    """Return the ``rosbags`` dataclass of a message type, e.g. ``sensor_msgs/msg/Image``."""
    return typestore().types[msgtype]


def header(nanoseconds: int, frame_id: str) -> Any:
    """Build a ``std_msgs/Header`` stamped ``nanoseconds`` (since the epoch)."""
    store = typestore()
    stamp = make_stamp(store.types['builtin_interfaces/msg/Time'], nanoseconds)
    return store.types['std_msgs/msg/Header'](stamp=stamp, frame_id=frame_id)
