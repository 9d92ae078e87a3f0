"""Running the tracker over every image of a bag, offline and deterministically.

Unlike the live node (which drops frames it cannot keep up with), every image message is
tracked, in bag order, by the same :class:`~centertrack_ros.runtime.runner.FrameRunner` the
node uses (with its stream-time rules: a stamp going back or a change of image size starts a
new sequence); the result is a bag of ``Detection2DArray`` messages stamped like their images,
and optionally a MOTChallenge result file.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from tqdm import tqdm

from ..evaluation.mot import MotRow, write_mot
from ..runtime.runner import Frame, FrameRunner
from ..runtime.stamps import stamp_ns
from .convert import CLASS_NAMES_KEY
from .errors import BagError
from .io import BagReader, BagWriter, TopicSummary, topic_name
from .messages import Box, ClassIds, decode_frame, detection_array, rows_from_boxes
from .typestore import DETECTION_ARRAY, IMAGE_TYPES

DEFAULT_DETECTIONS_TOPIC = '/detections'


@dataclass
class RunResult:
    """What :func:`run_bag` did, with timings of the tracker alone."""

    output: Optional[Path]
    mot_path: Optional[Path]
    image_topic: str
    frames: int
    detections: int
    track_ids: int
    step_seconds: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second of the tracker alone (decode/encode/IO excluded)."""
        total = sum(self.step_seconds)
        return len(self.step_seconds) / total if total > 0 else float('nan')


def pick_image_topic(bag: BagReader, topic: Optional[str] = None) -> TopicSummary:
    """Return the image topic to track: ``topic`` if given, else the bag's only one.

    Raises:
        BagError: the topic is missing/not an image, or the choice is ambiguous.

    """
    if topic:
        return bag.topic(topic, IMAGE_TYPES)
    images = bag.topics_of_type(IMAGE_TYPES)
    if len(images) == 1:
        return images[0]
    if not images:
        raise BagError(f'bag {bag.path} has no sensor_msgs/Image or CompressedImage topic')
    names = ', '.join(t.name for t in images)
    raise BagError(f'bag {bag.path} has several image topics ({names}); choose one with '
                   '--image-topic')


def run_bag(bag_path: str | Path, runner: FrameRunner, output: Optional[str | Path] = None, *,
            image_topic: Optional[str] = None,
            detections_topic: str = DEFAULT_DETECTIONS_TOPIC,
            mot_path: Optional[str | Path] = None, storage: Optional[str] = None,
            copy_topics: Sequence[str] = (), max_frames: Optional[int] = None,
            overwrite: bool = False, progress: bool = True) -> RunResult:
    """Track every image of a bag; write the tracks to a bag and/or a MOTChallenge file.

    The first image starts a new sequence, so a run depends only on the bag and the model (a
    new runner's ids start at 1). Detection arrays carry their image's header (stamp and
    frame_id) and are written at the image's receive time; MOT frame numbers are the 1-based
    positions of the images in the bag.

    Args:
        bag_path: input bag.
        runner: a one-camera :class:`~centertrack_ros.runtime.runner.FrameRunner`.
        output: output bag directory (None: no bag).
        image_topic: image topic (default: the bag's only image topic).
        detections_topic: topic of the tracks in the output bag.
        mot_path: MOTChallenge result file to write (None: none).
        storage: output storage (default: the input's).
        copy_topics: input topics copied unchanged into the output bag (e.g. ground truth).
        max_frames: stop after this many images (copied topics stop there too).
        overwrite: replace an existing output bag.
        progress: show a progress bar.

    Raises:
        BagError: missing topic, undecodable image, corrupt bag, existing output.

    """
    if output is None and mot_path is None:
        raise BagError('nothing to write: give an output bag and/or --mot')
    class_names = tuple(runner.tracker.config.model.class_names)
    class_ids = ClassIds(class_names)  # the labels back to the model's own class ids
    runner.start_new_sequences()
    with BagReader(bag_path) as bag:
        images = pick_image_topic(bag, image_topic)
        copied = [bag.topic(t) for t in copy_topics]
        det_topic = topic_name(detections_topic)
        if det_topic in {t.name for t in copied} | {images.name}:
            raise BagError(f'output topic {det_topic} would clash with a copied/input topic')
        result = RunResult(Path(output) if output else None, Path(mot_path) if mot_path else None,
                           images.name, 0, 0, 0)
        rows: list[MotRow] = []
        ids: set[int] = set()
        writer_context: Any = nullcontext(None)
        if output is not None:
            writer_context = BagWriter(output, storage or bag.storage, overwrite, {
                'centertrack_ros.source': str(Path(bag_path).resolve()),
                'centertrack_ros.image_topic': images.name,
                CLASS_NAMES_KEY: ','.join(class_names),
            })
        with writer_context as writer:
            if writer is not None:
                writer.add_topic(det_topic, DETECTION_ARRAY)
                for topic in copied:
                    writer.add_topic(topic.name, topic.msgtype)
            topics = [images.name] + ([t.name for t in copied] if writer is not None else [])
            total = images.count if max_frames is None else min(images.count, max_frames)
            with tqdm(total=total, unit='frame', desc=f'track {images.name}',
                      disable=not progress, leave=False) as bar:
                for topic, msgtype, timestamp, data in bag.raw_messages(topics):
                    if result.frames == total:
                        break
                    if topic != images.name:
                        writer.write_raw(topic, timestamp, data)
                        continue
                    msg = bag.decode(topic, msgtype, timestamp, data)
                    decoded = decode_frame(msg, msgtype,
                                           f'{bag.path} {topic} message {result.frames + 1}')
                    frame = Frame(0, decoded.image, stamp_ns(msg.header.stamp), decoded.source)
                    begin = time.perf_counter()
                    (tracked,) = runner.run([frame])
                    result.step_seconds.append(time.perf_counter() - begin)
                    result.frames += 1
                    boxes = tracked.boxes
                    result.detections += len(boxes)
                    ids.update(b.track_id for b in boxes)
                    if writer is not None:
                        writer.write(det_topic, timestamp, detection_array(
                            boxes, stamp_ns(msg.header.stamp), msg.header.frame_id))
                    rows.extend(_mot_rows(result.frames, boxes, class_ids))
                    bar.update()
            if result.frames == 0:
                raise BagError(f'topic {images.name} of {bag_path} has no messages')
    result.track_ids = len(ids)
    if mot_path is not None:
        write_mot(mot_path, rows)
    return result


def _mot_rows(frame: int, boxes: Sequence[Box], class_ids: ClassIds) -> list[MotRow]:
    """MOT result rows of one frame: the published boxes, with the model's class ids."""
    return rows_from_boxes(boxes, frame, class_ids)
