"""Writing a frame source (and its ground truth) into a rosbag2 bag."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from .errors import BagError
from .io import BagWriter, topic_name
from .messages import boxes_from_rows, compressed_message, detection_array, image_message
from .sources import Source
from .typestore import COMPRESSED_IMAGE, DETECTION_ARRAY, IMAGE

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


def frame_stamp(start_ns: int, index: int, fps: float) -> int:
    """Capture time of frame ``index`` (0-based) of a stream starting at ``start_ns``."""
    return start_ns + round(index * 1e9 / fps)


def convert(source: Source, output: str | Path, *, topic: str = DEFAULT_TOPIC,
            frame_id: str = DEFAULT_FRAME_ID, gt_topic: str = DEFAULT_GT_TOPIC,
            compressed: Optional[str] = None, quality: int = 95, storage: str = 'mcap',
            start_ns: Optional[int] = None, max_frames: Optional[int] = None,
            overwrite: bool = False, progress: bool = True) -> ConvertResult:
    """Write every frame of ``source`` into a new bag at ``output``.

    Frames go to ``topic`` as ``sensor_msgs/Image`` (``bgr8``) or, with ``compressed``
    (``jpeg``/``png``), as ``sensor_msgs/CompressedImage``; frame ``i`` is stamped
    ``start_ns + i / fps`` in its header and in the bag. When the source has ground truth, each
    frame also gets a ``vision_msgs/Detection2DArray`` on ``gt_topic`` with the same header
    (empty when the frame has no objects), whose detection ids are the ground-truth identities
    and whose scores are the consider flags.

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

    Raises:
        BagError: unreadable source, existing output, encoder failure.

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
    last_stamp = start
    with BagWriter(output, storage, overwrite, custom) as writer:
        writer.add_topic(image_topic, COMPRESSED_IMAGE if compressed else IMAGE)
        if truth_topic:
            writer.add_topic(truth_topic, DETECTION_ARRAY)
        bar = tqdm(total=total, unit='frame', desc=f'convert {source.name}', disable=not progress,
                   leave=False)
        try:
            for index, image in enumerate(source.frames()):
                if max_frames is not None and index >= max_frames:
                    break
                stamp = frame_stamp(start, index, source.fps)
                if compressed:
                    msg = compressed_message(image, stamp, frame_id, compressed, quality)
                else:
                    msg = image_message(image, stamp, frame_id)
                writer.write(image_topic, stamp, msg)
                if truth_topic:
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
                         truth_topic)
