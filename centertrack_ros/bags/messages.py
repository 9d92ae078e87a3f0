"""Building and reading the messages the bag tools store, as ``rosbags`` message objects.

Images are decoded by the runtime's frame conversions, the node's own (they only read message
fields, so they accept ``rosbags`` messages unchanged). Which tracks are published and with
which values comes from the runtime too (:mod:`centertrack_ros.runtime.boxes`); only the
message objects are built here, because the node builds rclpy objects, which ``rosbags``
cannot serialise. A test checks the two layouts field for field.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

import cv2
import numpy as np

from ..datasets.mot import MotRow
from ..runtime.boxes import DetectionBox as Box
from ..runtime.boxes3d import DetectionBox3D
from ..runtime.frames import ConversionError, DecodedImage
from ..runtime.frames import decode_image as decode_message
from .calibration_file import CameraCalibration
from .errors import BagError
from .typestore import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    DETECTION3D_ARRAY,
    DETECTION_ARRAY,
    IMAGE,
    header,
    message_class,
    typestore,
)

COMPRESSED_FORMATS = ('jpeg', 'png')


def image_message(image: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    """Build a ``sensor_msgs/Image`` (``bgr8``, rows unpadded) holding a BGR ``uint8`` frame."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    return message_class(IMAGE)(
        header=header(stamp_ns, frame_id), height=height, width=width, encoding='bgr8',
        is_bigendian=0, step=width * 3, data=image.reshape(-1))


def compressed_message(image: np.ndarray, stamp_ns: int, frame_id: str, fmt: str = 'jpeg',
                       quality: int = 95) -> Any:
    """Encode a BGR frame as ``sensor_msgs/CompressedImage`` (``format`` as image_transport).

    Raises:
        BagError: unknown format or an encoder failure.

    """
    if fmt not in COMPRESSED_FORMATS:
        raise BagError(f'unknown compressed format {fmt!r}; use one of '
                       f'{", ".join(COMPRESSED_FORMATS)}')
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == 'jpeg' else []
    ok, data = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', image, params)
    if not ok:
        raise BagError(f'OpenCV could not encode a {image.shape[1]}x{image.shape[0]} frame '
                       f'as {fmt}')
    return message_class(COMPRESSED_IMAGE)(
        header=header(stamp_ns, frame_id), format=f'bgr8; {fmt} compressed bgr8',
        data=data.reshape(-1))


def camera_info_message(calibration: CameraCalibration, width: int, height: int,
                        stamp_ns: int, frame_id: str) -> Any:
    """Build a ``sensor_msgs/CameraInfo`` for ``width x height`` frames (no binning, no ROI)."""
    types = typestore().types
    roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                    do_rectify=False)
    return message_class(CAMERA_INFO)(
        header=header(stamp_ns, frame_id), height=int(height), width=int(width),
        distortion_model=calibration.distortion_model,
        d=np.asarray(calibration.d, dtype=np.float64),
        k=np.asarray(calibration.k, dtype=np.float64),
        r=np.asarray(calibration.r, dtype=np.float64),
        p=np.asarray(calibration.p, dtype=np.float64), binning_x=0, binning_y=0, roi=roi)


def decode_frame(msg: Any, msgtype: str, where: str = '') -> DecodedImage:
    """BGR ``uint8`` pixels of an ``Image``/``CompressedImage`` message, with its format.

    Raises:
        BagError: unknown encoding, corrupt data or inconsistent fields (``where`` says which
            message, e.g. ``topic @ stamp``).

    """
    if msgtype not in (IMAGE, COMPRESSED_IMAGE):
        raise BagError(f'{where + ": " if where else ""}{msgtype} is not an image type')
    try:
        return decode_message(msg, compressed=msgtype == COMPRESSED_IMAGE)
    except ConversionError as exc:
        raise BagError(f'{where + ": " if where else ""}{exc}') from exc


def decode_image(msg: Any, msgtype: str, where: str = '') -> np.ndarray:
    """BGR ``uint8`` pixels of an ``Image``/``CompressedImage`` message (see decode_frame)."""
    return decode_frame(msg, msgtype, where).image


def boxes_from_rows(rows: Iterable[MotRow], class_names: Sequence[str] = ()) -> list[Box]:
    """Boxes of MOTChallenge rows; class ids become ``class_names[id - 1]`` (else the id)."""
    return [Box(row.track_id, row.x + row.w / 2.0, row.y + row.h / 2.0, row.w, row.h,
                class_label(row.class_id, class_names), float(row.score)) for row in rows]


def class_label(class_id: int, class_names: Sequence[str]) -> str:
    """Return the label of a 1-based class id: its name, its number, or '' when unknown."""
    if class_id < 0:
        return ''
    if 1 <= class_id <= len(class_names):
        return class_names[class_id - 1]
    return str(class_id)


def _hypothesis(class_name: str, score: float) -> Any:
    """``ObjectHypothesisWithPose`` with rclpy's defaults besides class and score."""
    types = typestore().types
    point = types['geometry_msgs/msg/Point']
    quaternion = types['geometry_msgs/msg/Quaternion']
    pose = types['geometry_msgs/msg/Pose']
    pose_cov = types['geometry_msgs/msg/PoseWithCovariance']
    return types['vision_msgs/msg/ObjectHypothesisWithPose'](
        hypothesis=types['vision_msgs/msg/ObjectHypothesis'](class_id=class_name,
                                                            score=float(score)),
        # rclpy's defaults: identity orientation, zero covariance.
        pose=pose_cov(pose=pose(position=point(x=0.0, y=0.0, z=0.0),
                                orientation=quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
                      covariance=np.zeros(36, dtype=np.float64)))


def detection_array(boxes: Iterable[Box], stamp_ns: int, frame_id: str) -> Any:
    """Build a ``vision_msgs/Detection2DArray`` laid out exactly as the node publishes it."""
    types = typestore().types
    msg_header = header(stamp_ns, frame_id)
    detections = []
    for box in boxes:
        hypothesis = _hypothesis(box.class_name, box.score)
        bbox = types['vision_msgs/msg/BoundingBox2D'](
            center=types['vision_msgs/msg/Pose2D'](
                position=types['vision_msgs/msg/Point2D'](x=box.cx, y=box.cy), theta=0.0),
            size_x=box.width, size_y=box.height)
        detections.append(types['vision_msgs/msg/Detection2D'](
            header=msg_header, results=[hypothesis], bbox=bbox, id=str(box.track_id)))
    return types[DETECTION_ARRAY](header=msg_header, detections=detections)


def detection3d_array(boxes: Iterable[DetectionBox3D], stamp_ns: int, frame_id: str) -> Any:
    """Build a ``vision_msgs/Detection3DArray`` laid out exactly as the node will publish it."""
    types = typestore().types
    msg_header = header(stamp_ns, frame_id)
    detections = []
    for box in boxes:
        x, y, z = box.center
        qx, qy, qz, qw = box.orientation
        sx, sy, sz = box.size
        bbox = types['vision_msgs/msg/BoundingBox3D'](
            center=types['geometry_msgs/msg/Pose'](
                position=types['geometry_msgs/msg/Point'](x=x, y=y, z=z),
                orientation=types['geometry_msgs/msg/Quaternion'](x=qx, y=qy, z=qz, w=qw)),
            size=types['geometry_msgs/msg/Vector3'](x=sx, y=sy, z=sz))
        detections.append(types['vision_msgs/msg/Detection3D'](
            header=msg_header, results=[_hypothesis(box.class_name, box.score)], bbox=bbox,
            id=str(box.track_id)))
    return types[DETECTION3D_ARRAY](header=msg_header, detections=detections)


def boxes_from_detections(msg: Any, where: str = '') -> list[Box]:
    """Return the boxes of a ``Detection2DArray`` (rosbags or rclpy message).

    A detection without results has class '' and score 1; ids must be integers (track ids).

    Raises:
        BagError: a detection id is not an integer (``where`` names the message).

    """
    out = []
    for detection in msg.detections:
        try:
            track_id = int(detection.id)
        except ValueError:
            raise BagError(f'{where + ": " if where else ""}detection id {detection.id!r} is not '
                           'an integer track id') from None
        cx, cy = float(detection.bbox.center.position.x), float(detection.bbox.center.position.y)
        sx, sy = float(detection.bbox.size_x), float(detection.bbox.size_y)
        if detection.results:
            best = detection.results[0].hypothesis
            class_name, score = str(best.class_id), float(best.score)
        else:
            class_name, score = '', 1.0
        out.append(Box(track_id, cx, cy, sx, sy, class_name, score))
    return out


def rows_from_boxes(boxes: Iterable[Box], frame: int, class_ids: Callable[[str], int],
                    visibility: Optional[float] = None) -> list[MotRow]:
    """MOTChallenge rows of one frame's boxes."""
    return [MotRow(frame, b.track_id, b.x1, b.y1, b.width, b.height, b.score,
                   class_ids(b.class_name), -1.0 if visibility is None else visibility)
            for b in boxes]
