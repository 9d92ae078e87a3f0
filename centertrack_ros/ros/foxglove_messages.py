"""Foxglove's image overlay message (rclpy): ``foxglove_msgs/ImageAnnotations``.

The content comes from :mod:`centertrack_ros.runtime.annotations` (one
:class:`~centertrack_ros.runtime.annotations.FrameOverlay` per image); this module only fills
in ``foxglove_msgs``' classes. The bag tool builds the same layout with rosbags
(:mod:`centertrack_ros.bags.foxglove_messages`; a test compares the serialised bytes).
"""

from __future__ import annotations

from typing import Any

from ..runtime.annotations import RGBA, FrameOverlay, Label, Polyline
from ..runtime.stamps import set_stamp

_TRANSPARENT: RGBA = (0.0, 0.0, 0.0, 0.0)


def _color(rgba: RGBA) -> Any:
    from foxglove_msgs.msg import Color
    r, g, b, a = rgba
    return Color(r=float(r), g=float(g), b=float(b), a=float(a))


def _points(line: Polyline, stamp_ns: int) -> Any:
    from foxglove_msgs.msg import Point2, PointsAnnotation
    msg = PointsAnnotation()
    set_stamp(msg.timestamp, stamp_ns)
    msg.type = line.kind
    msg.points = [Point2(x=float(x), y=float(y)) for x, y in line.points]
    msg.outline_color = _color(line.color)
    msg.fill_color = _color(_TRANSPARENT)
    msg.thickness = float(line.thickness)
    return msg


def _text(label: Label, stamp_ns: int) -> Any:
    from foxglove_msgs.msg import TextAnnotation
    msg = TextAnnotation()
    set_stamp(msg.timestamp, stamp_ns)
    msg.position.x, msg.position.y = (float(v) for v in label.position)
    msg.text = label.text
    msg.font_size = float(label.font_size)
    msg.text_color = _color(label.text_color)
    msg.background_color = _color(label.background_color)
    return msg


def image_annotations(overlay: FrameOverlay) -> Any:
    """Build a ``foxglove_msgs/ImageAnnotations`` of one image's overlay.

    ``points`` holds the trails, then the outlines (drawn in that order); ``texts`` the labels;
    ``circles`` is empty. Every annotation is stamped with the image stamp.
    """
    from foxglove_msgs.msg import ImageAnnotations
    msg = ImageAnnotations()
    msg.points = [_points(line, overlay.stamp_ns) for line in overlay.polylines()]
    msg.texts = [_text(label, overlay.stamp_ns) for label in overlay.labels()]
    return msg
