"""Foxglove's image overlay message as a ``rosbags`` object, laid out as the node publishes it.

The content comes from :mod:`centertrack_ros.runtime.annotations`; the node fills rclpy's
classes (:mod:`centertrack_ros.ros.foxglove_messages`), rosbags cannot serialise those, so the
same fields are set here on the typestore's classes (a test compares the serialised bytes).
"""

from __future__ import annotations

from typing import Any

from ..runtime.annotations import RGBA, FrameOverlay, Label, Polyline
from ..runtime.stamps import make_stamp
from .typestore import IMAGE_ANNOTATIONS, typestore

_TRANSPARENT: RGBA = (0.0, 0.0, 0.0, 0.0)


def _color(rgba: RGBA) -> Any:
    r, g, b, a = (float(v) for v in rgba)
    return typestore().types['foxglove_msgs/msg/Color'](r=r, g=g, b=b, a=a)


def _point(x: float, y: float) -> Any:
    return typestore().types['foxglove_msgs/msg/Point2'](x=float(x), y=float(y))


def _stamp(stamp_ns: int) -> Any:
    return make_stamp(typestore().types['builtin_interfaces/msg/Time'], stamp_ns)


def _points(line: Polyline, stamp_ns: int) -> Any:
    return typestore().types['foxglove_msgs/msg/PointsAnnotation'](
        timestamp=_stamp(stamp_ns), type=int(line.kind),
        points=[_point(x, y) for x, y in line.points], outline_color=_color(line.color),
        outline_colors=[], fill_color=_color(_TRANSPARENT), thickness=float(line.thickness))


def _text(label: Label, stamp_ns: int) -> Any:
    return typestore().types['foxglove_msgs/msg/TextAnnotation'](
        timestamp=_stamp(stamp_ns), position=_point(*label.position), text=label.text,
        font_size=float(label.font_size), text_color=_color(label.text_color),
        background_color=_color(label.background_color))


def image_annotations(overlay: FrameOverlay) -> Any:
    """Build a ``foxglove_msgs/ImageAnnotations`` as the node publishes it."""
    return typestore().types[IMAGE_ANNOTATIONS](
        circles=[], points=[_points(line, overlay.stamp_ns) for line in overlay.polylines()],
        texts=[_text(label, overlay.stamp_ns) for label in overlay.labels()])
