"""Where a camera's input topics are, by image_transport's convention.

One remap of the image topic carries the others along, as image_transport users expect: the
compressed stream is ``<image topic>/compressed`` and the calibration is ``camera_info`` beside
the image topic (``/front/camera_info`` for ``/front/image_raw``). A remap given for
``image/compressed`` or ``camera_info`` themselves still wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..runtime.camera_info import camera_info_topic


@dataclass(frozen=True)
class CameraTopics:
    """The fully qualified input topics of one camera."""

    image: str
    compressed: str
    camera_info: str


def camera_topics(node: Any, prefix: str = '') -> CameraTopics:
    """Resolve the input topics of the camera whose relative names start with ``prefix``.

    ``prefix`` is ``''`` for the node's one camera, else the camera's name (``front`` for
    ``front/image``).
    """
    base = f'{prefix}/' if prefix else ''
    image = node.resolve_topic_name(base + 'image')
    compressed = _remapped(node, base + 'image/compressed') or f'{image}/compressed'
    camera_info = _remapped(node, base + 'camera_info') or camera_info_topic(image)
    return CameraTopics(image, compressed, camera_info)


def _remapped(node: Any, name: str) -> Optional[str]:
    """Return where a remap rule sends ``name``, or None when no rule applies to it."""
    resolved = node.resolve_topic_name(name)
    return None if resolved == node.resolve_topic_name(name, only_expand=True) else resolved
