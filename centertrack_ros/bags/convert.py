"""Writing a frame source (and its ground truth) into a rosbag2 bag."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from tqdm import tqdm

from ..core.calibration import CalibrationError
from ..runtime.camera_info import projection_for_image
from .calibration_file import CameraCalibration
from .errors import BagError
from .io import BagWriter, camera_info_topic_for, topic_name
from .messages import (
    boxes_from_rows,
    camera_info_message,
    compressed_message,
    detection_array,
    image_message,
)
from .sources import Source
from .typestore import CAMERA_INFO, COMPRESSED_IMAGE, DETECTION_ARRAY, IMAGE

DEFAULT_TOPIC = '/camera/image_raw'
DEFAULT_GT_TOPIC = '/ground_truth'
DEFAULT_FRAME_ID = 'camera'
CLASS_NAMES_KEY = 'centertrack_ros.class_names'


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` wrote."""

    path: Path
    frames: int
    gt_messages: int
    start_ns: int
    end_ns: int
    image_topic: str
    gt_topic: Optional[str]
    camera_info_topic: Optional[str] = None


def frame_stamp(start_ns: int, index: int, fps: float) -> int:
    """Capture time of frame ``index`` (0-based) of a stream starting at ``start_ns``."""
    return start_ns + round(index * 1e9 / fps)


def convert(source: Source, output: str | Path, *, topic: str = DEFAULT_TOPIC,
            frame_id: str = DEFAULT_FRAME_ID, gt_topic: str = DEFAULT_GT_TOPIC,
            compressed: Optional[str] = None, quality: int = 95, storage: str = 'mcap',
            start_ns: Optional[int] = None, max_frames: Optional[int] = None,
            overwrite: bool = False, progress: bool = True,
            calibration: Optional[CameraCalibration] = None,
            camera_info_topic: Optional[str] = None) -> ConvertResult:
    """Write every frame of ``source`` into a new bag at ``output``.

    Frames go to ``topic`` as ``sensor_msgs/Image`` (``bgr8``) or, with ``compressed``
    (``jpeg``/``png``), as ``sensor_msgs/CompressedImage``; frame ``i`` is stamped
    ``start_ns + i / fps`` in its header and in the bag. When the source has ground truth, each
    frame also gets a ``vision_msgs/Detection2DArray`` on ``gt_topic`` with the same header
    (empty when the frame has no objects), whose detection ids are the ground-truth identities
    and whose scores are the consider flags. With ``calibration`` every frame also gets a
    ``sensor_msgs/CameraInfo`` with the same header on ``camera_info_topic`` (default: beside
    the image topic), written just before its image, as camera drivers pair them.

    Args:
        source: an opened :class:`~centertrack_ros.bags.sources.Source`.
        output: bag directory to create.
        topic: image topic.
        frame_id: ``header.frame_id`` of every message.
        gt_topic: ground-truth topic (unused when the source has no ground truth).
        compressed: ``jpeg`` or ``png`` for compressed images; None for raw ``bgr8``.
        quality: JPEG quality.
        storage: ``mcap`` or ``sqlite3``.
        start_ns: stamp of the first frame (default: now).
        max_frames: stop after this many frames.
        overwrite: replace an existing bag at ``output``.
        progress: show a progress bar.
        calibration: the camera's calibration (:mod:`.calibration_file`); its size is the
            frames' own unless the file gives one.
        camera_info_topic: the ``CameraInfo`` topic.

    Raises:
        BagError: unreadable source, existing output, encoder failure, frames that are not
            the calibrated size nor a uniform resize of it.

    """
    if source.fps is None:
        raise BagError(f'{source.name} has no frame rate; pass --fps')
    if max_frames is not None and max_frames < 1:
        raise BagError(f'--frames must be >= 1, got {max_frames}')
    start = time.time_ns() if start_ns is None else int(start_ns)
    if start < 0:
        raise BagError(f'--start-time must not be negative, got {start} ns')
    custom = {
        'centertrack_ros.source': f'{source.kind}:{source.name}',
        'centertrack_ros.fps': repr(float(source.fps)),
    }
    if source.gt is not None:
        custom[CLASS_NAMES_KEY] = ','.join(source.class_names)
    total = source.num_frames
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    written = gt_written = 0
    image_topic = topic_name(topic)
    truth_topic = topic_name(gt_topic) if source.gt is not None else None
    if truth_topic == image_topic:
        raise BagError(f'image and ground-truth topics are both {image_topic}')
    info_topic = None
    if calibration is not None:
        info_topic = topic_name(camera_info_topic or camera_info_topic_for(image_topic))
        if info_topic in (image_topic, truth_topic):
            raise BagError(f'the camera_info topic {info_topic} clashes with another topic')
    last_stamp = start
    with BagWriter(output, storage, overwrite, custom) as writer:
        writer.add_topic(image_topic, COMPRESSED_IMAGE if compressed else IMAGE)
        if truth_topic:
            writer.add_topic(truth_topic, DETECTION_ARRAY)
        if info_topic:
            writer.add_topic(info_topic, CAMERA_INFO)
        bar = tqdm(total=total, unit='frame', desc=f'convert {source.name}', disable=not progress,
                   leave=False)
        try:
            for index, image in enumerate(source.frames()):
                if max_frames is not None and index >= max_frames:
                    break
                stamp = frame_stamp(start, index, source.fps)
                if info_topic and calibration is not None:
                    writer.write(info_topic, stamp, _camera_info(calibration, image, stamp,
                                                                 frame_id))
                if compressed:
                    msg = compressed_message(image, stamp, frame_id, compressed, quality)
                else:
                    msg = image_message(image, stamp, frame_id)
                writer.write(image_topic, stamp, msg)
                if truth_topic and source.gt is not None:
                    rows = source.gt.get(index + 1, [])
                    writer.write(truth_topic, stamp, detection_array(
                        boxes_from_rows(rows, source.class_names), stamp, frame_id))
                    gt_written += 1
                written += 1
                last_stamp = stamp
                bar.update()
        finally:
            bar.close()
        if written == 0:
            raise BagError(f'{source.name} has no frames')
    return ConvertResult(Path(output), written, gt_written, start, last_stamp, image_topic,
                         truth_topic, info_topic)


def _camera_info(calibration: CameraCalibration, image: np.ndarray, stamp: int,
                 frame_id: str) -> Any:
    """Build one frame's CameraInfo: the file's size, else the frame's, checked to fit."""
    height, width = image.shape[:2]
    if calibration.width is None or calibration.height is None:
        return camera_info_message(calibration, width, height, stamp, frame_id)
    info = camera_info_message(calibration, calibration.width, calibration.height, stamp,
                               frame_id)
    try:  # the tracker will need a P for these frames: refuse a bag it could not use
        projection_for_image(info, width, height)
    except CalibrationError as exc:
        raise BagError(f'the calibration does not fit the frames: {exc}') from exc
    return info
