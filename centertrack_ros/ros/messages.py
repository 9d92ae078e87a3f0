"""ROS messages the node publishes: detections, the class map and debug images.

The boxes come from :mod:`centertrack_ros.runtime.boxes` and
:mod:`centertrack_ros.runtime.boxes3d`; this module only fills in the message types.
"""

from __future__ import annotations

import array
import sys
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ..runtime.boxes import DetectionBox
from ..runtime.boxes3d import DetectionBox3D


def load_cv_bridge() -> Optional[Any]:
    """Return a ``cv_bridge.CvBridge`` when the ROS distribution provides one, else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def bgr_to_image_msg(image: np.ndarray, header: Any, encoding: str = 'bgr8') -> Any:
    """Wrap a BGR ``uint8`` array in a ``sensor_msgs/Image`` (no row padding).

    ``encoding`` is ``bgr8`` (as is), ``rgb8`` (channels swapped, as most camera drivers
    publish) or ``mono8`` (converted to grey with OpenCV).
    """
    from sensor_msgs.msg import Image
    if encoding not in ('bgr8', 'rgb8', 'mono8'):
        raise ValueError(f"encoding must be 'bgr8', 'rgb8' or 'mono8', got {encoding!r}")
    if encoding == 'mono8':
        import cv2
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    else:
        pixels = image[:, :, ::-1] if encoding == 'rgb8' else image
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == 'big'
    msg.step = int(image.shape[1]) * (1 if encoding == 'mono8' else 3)
    msg.data = array.array('B', np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return msg


def _identify(detection: Any, box: Any, header: Any) -> Any:
    """Fill what every published detection carries: header, track id, class and score."""
    from vision_msgs.msg import ObjectHypothesisWithPose
    detection.header = header
    detection.id = str(box.track_id)
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = box.class_name
    hypothesis.hypothesis.score = box.score
    detection.results.append(hypothesis)
    return detection


def detection_array(boxes: Iterable[DetectionBox], header: Any) -> Any:
    """Build a ``vision_msgs/Detection2DArray`` of one frame's boxes.

    ``header`` is the input image's header, copied to the array and to every detection.
    """
    from vision_msgs.msg import Detection2D, Detection2DArray
    out = Detection2DArray()
    out.header = header
    for box in boxes:
        detection = _identify(Detection2D(), box, header)
        detection.bbox.center.position.x, detection.bbox.center.position.y = box.cx, box.cy
        detection.bbox.size_x = box.width
        detection.bbox.size_y = box.height
        out.detections.append(detection)
    return out


def detection3d_array(boxes: Iterable[DetectionBox3D], header: Any) -> Any:
    """Build a ``vision_msgs/Detection3DArray`` of one frame's 3D boxes.

    ``header`` is the input image's header (its ``frame_id`` is the camera's optical frame,
    the frame of the boxes), copied to the array and to every detection. Each detection:
    ``id`` the track id (as in ``detections``), ``bbox`` the box
    (:mod:`~centertrack_ros.runtime.boxes3d` states the conventions), ``results[0]`` the
    class label and score (its pose is left at identity, as in 2D).
    """
    from vision_msgs.msg import Detection3D, Detection3DArray
    out = Detection3DArray()
    out.header = header
    for box in boxes:
        detection = _identify(Detection3D(), box, header)
        position, orientation = detection.bbox.center.position, detection.bbox.center.orientation
        position.x, position.y, position.z = box.center
        orientation.x, orientation.y, orientation.z, orientation.w = box.orientation
        size = detection.bbox.size
        size.x, size.y, size.z = box.size
        out.detections.append(detection)
    return out


def label_info(labels: Sequence[str], threshold: float, header: Any) -> Any:
    """Build a ``vision_msgs/LabelInfo`` mapping 1-based class ids to the detections' labels.

    ``labels`` are the model's labels in id order (:attr:`ModelConfig.labels`: a class without
    a name is listed under its id as text, which is also what its detections carry).
    """
    from vision_msgs.msg import LabelInfo, VisionClass
    msg = LabelInfo()
    msg.header = header
    for class_id, label in enumerate(labels, start=1):
        entry = VisionClass()
        entry.class_id = class_id
        entry.class_name = label
        msg.class_map.append(entry)
    msg.threshold = float(threshold)
    return msg
