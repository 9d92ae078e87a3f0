"""What the node publishes for each camera, and the publishers it takes.

One :class:`CameraOutputs` per camera holds that camera's lifecycle publishers and turns a
:class:`~centertrack_ros.runtime.runner.FrameResult` into messages. Outputs that cost work per
frame (the debug image, Autoware's objects, the Foxglove overlay) are built only while someone
subscribes; what they need from earlier frames (velocities, trails) is kept up all the time.
The planner message packages are imported only when their outputs exist.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeGuard

from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray, Detection3DArray

from ..core.errors import ConfigError
from ..runtime.drawing import draw_tracks
from ..runtime.planner_outputs import CameraPlannerState, PlannerOutputSettings
from ..runtime.runner import FrameResult
from ..runtime.stats import StreamStats
from .messages import bgr_to_image_msg, detection3d_array, detection_array

RELIABLE_10 = QoSProfile(depth=10)  # reliable, volatile: also serves best-effort subscribers


class CameraOutputs:
    """The publishers of one camera and how a frame's results become messages.

    Args:
        node: the lifecycle node that owns the publishers.
        topic: maps an output's relative name (``detections``, ``debug_image``, ...) to the
            camera's topic.
        ddd: the model has 3D heads (``detections_3d`` is published).
        class_name: a class id's published label, for the debug image.
        stats: the camera's statistics (debug images are counted).
        planner: the Autoware and overlay settings.
        camera: the camera's name ('' for a node's one camera): part of the objects' UUIDs.

    Raises:
        ConfigError: the Autoware output is asked for but its messages are not installed.

    """

    def __init__(self, node: Any, topic: Callable[[str], str], ddd: bool,
                 class_name: Callable[[int], str], stats: StreamStats,
                 planner: PlannerOutputSettings = PlannerOutputSettings(),
                 camera: str = '') -> None:
        self._node = node
        self._class_name = class_name
        self._stats = stats
        self._planner = CameraPlannerState(planner, node.get_fully_qualified_name(), camera)
        self._publishers: list[Any] = []
        self._detections = self._create(Detection2DArray, topic('detections'))
        self._detections_3d = self._create(Detection3DArray, topic('detections_3d')) \
            if ddd else None
        self._debug = self._create(Image, topic('debug_image'), QoSProfile(depth=1))
        self._objects = self._detected_objects = None
        if planner.autoware:
            try:
                from autoware_perception_msgs.msg import DetectedObjects, TrackedObjects
            except ImportError as exc:
                raise ConfigError(f'autoware.enabled, but autoware_perception_msgs cannot be '
                                  f'imported ({exc}): install it or source its workspace')
            self._objects = self._create(TrackedObjects, topic('objects'))
            self._detected_objects = self._create(DetectedObjects, topic('detected_objects'))
        self._annotations = None
        try:
            from foxglove_msgs.msg import ImageAnnotations
        except ImportError:  # a workspace without foxglove_msgs: the overlay is left out
            node.get_logger().warn('foxglove_msgs cannot be imported: no annotations topic')
        else:
            self._annotations = self._create(ImageAnnotations, topic('annotations'))

    def _create(self, msg_type: Any, topic: str, qos: QoSProfile = RELIABLE_10) -> Any:
        publisher = self._node.create_lifecycle_publisher(msg_type, topic, qos)
        self._publishers.append(publisher)
        return publisher

    def publish(self, result: FrameResult) -> None:
        """Publish one frame's results, header copied from the image's."""
        header = result.frame.context
        self._detections.publish(detection_array(result.boxes, header))
        if self._detections_3d is not None and result.frame.calib is not None:
            self._detections_3d.publish(detection3d_array(result.boxes_3d, header))
        if self._debug.get_subscription_count() > 0:
            canvas = draw_tracks(result.frame.image, result.tracks, self._class_name,
                                 result.frame.calib)
            self._debug.publish(bgr_to_image_msg(canvas, header))
            self._stats.count_debug_image()
        objects = self._planner.observe(result)
        if objects is not None:
            from .autoware_messages import detected_objects, tracked_objects
            if _subscribed(self._objects):
                self._objects.publish(tracked_objects(objects, header))
            if _subscribed(self._detected_objects):
                self._detected_objects.publish(detected_objects(objects, header))
        if _subscribed(self._annotations):
            from .foxglove_messages import image_annotations
            self._annotations.publish(image_annotations(self._planner.overlay(result)))

    def destroy(self) -> None:
        """Destroy the publishers (on cleanup)."""
        for publisher in self._publishers:
            self._node.destroy_lifecycle_publisher(publisher)
        self._publishers = []


def _subscribed(publisher: Optional[Any]) -> TypeGuard[Any]:
    return publisher is not None and publisher.get_subscription_count() > 0
