"""The outputs for planners and viewers: Autoware objects and Foxglove overlays, per camera.

Settings (``autoware.*``, ``annotations.*``) and the state each camera keeps between frames: the
observations behind the objects' velocities and the overlay's trails. Both are updated with
every frame, whether or not anyone subscribes, so that a subscriber that comes late gets
velocities and trails at once; the messages themselves are built only for subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..core.errors import ConfigError
from .annotations import FrameOverlay, TrailState, frame_overlay
from .object_classes import ClassMap, parse_class_overrides
from .object_ids import ObjectIdSpace
from .objects3d import CameraObjects, ObjectEstimate, UncertaintyModel
from .runner import FrameResult


@dataclass(frozen=True)
class PlannerOutputSettings:
    """What the ``autoware.*`` and ``annotations.*`` settings ask for."""

    autoware: bool = False
    class_map: Mapping[str, int] = field(default_factory=dict)
    uncertainty: UncertaintyModel = field(default_factory=UncertaintyModel)
    velocity_window: float = 1.0
    uuid_instance: str = ''
    trail_length: int = 30

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'PlannerOutputSettings':
        """Read the settings from the node's values (:mod:`.settings` names).

        Raises:
            ConfigError: a value is invalid (an unknown Autoware class, a negative sigma, a
                trail length that is not a whole number >= 0...).

        """
        trail_length = _number(values, 'annotations.trail_length', int)
        if trail_length < 0:
            raise ConfigError(f'annotations.trail_length must be a whole number >= 0, got '
                              f'{trail_length}')
        return cls(
            autoware=bool(values['autoware.enabled']),
            class_map=parse_class_overrides(values['autoware.class_map'] or ()),
            uncertainty=UncertaintyModel(
                pixel_sigma=_number(values, 'autoware.pixel_sigma', float),
                depth_sigma_base=_number(values, 'autoware.depth_sigma_base', float),
                depth_sigma_ratio=_number(values, 'autoware.depth_sigma_ratio', float),
                yaw_sigma=_number(values, 'autoware.yaw_sigma', float)),
            velocity_window=_number(values, 'autoware.velocity_window', float),
            uuid_instance=str(values['autoware.uuid_instance']),
            trail_length=trail_length)

    def check_model(self, ddd: bool) -> None:
        """Refuse Autoware objects for a model without 3D heads (they need 3D boxes).

        Raises:
            ConfigError: ``autoware.enabled`` with a 2D model.

        """
        if self.autoware and not ddd:
            raise ConfigError('autoware.enabled needs a model with 3D heads (monocular 3D, e.g. '
                              'the nuscenes_3d preset): this model has 2D boxes only; set '
                              'autoware.enabled false or load a 3D model')


def _number(values: Mapping[str, Any], name: str, kind: type) -> Any:
    """Return ``values[name]`` as ``kind`` (a bag tool's YAML is not type-checked by ROS)."""
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (kind is int and isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f'{name} must be a {"whole " if kind is int else ""}number, got '
                          f'{value!r}')
    return kind(value)


class CameraPlannerState:
    """One camera's Autoware objects and overlay trails, frame by frame.

    Args:
        settings: the output settings.
        node: the fully qualified name of the node (the objects' UUID space).
        camera: the camera's name ('' for a node's one camera).

    """

    def __init__(self, settings: PlannerOutputSettings, node: str, camera: str = '') -> None:
        self.objects: Optional[CameraObjects] = None
        if settings.autoware:
            self.objects = CameraObjects(ObjectIdSpace(node, camera, settings.uuid_instance),
                                         ClassMap(settings.class_map), settings.uncertainty,
                                         settings.velocity_window)
        self.trails = TrailState(settings.trail_length)

    def observe(self, result: FrameResult) -> Optional[list[ObjectEstimate]]:
        """Take in one frame; return its Autoware objects (None: none to publish).

        None when the Autoware output is off or the frame had no camera matrix (then it has
        no 3D boxes, as ``detections_3d`` has none).
        """
        alive = [track.track_id for track in result.tracks]
        self.trails.observe(result.boxes, alive)
        if self.objects is None:
            return None
        calib = result.frame.calib
        estimates = self.objects.update(result.frame.stamp_ns,
                                        result.boxes_3d if calib is not None else [], calib,
                                        alive)
        return estimates if calib is not None else None

    def overlay(self, result: FrameResult) -> FrameOverlay:
        """Return the overlay of a frame already given to :meth:`observe`."""
        height, width = result.frame.image.shape[:2]
        return frame_overlay(result.frame.stamp_ns, result.boxes, self.trails, (width, height),
                             result.tracks, result.frame.calib)
