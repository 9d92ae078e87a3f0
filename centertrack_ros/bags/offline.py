"""Running the tracker over every image of a bag, offline and deterministically.

Unlike the live node (which drops frames it cannot keep up with), every image message is
tracked, in bag order, by a :class:`~centertrack_ros.runtime.session.TrackingSession` as the
node uses it (with its stream-time rules: a stamp going back or a change of image size starts a
new sequence); the result is a bag of ``Detection2DArray`` messages stamped like their images,
and optionally a MOTChallenge result file. A model with 3D heads also gets each image's camera
matrix from the bag's ``CameraInfo`` and writes ``Detection3DArray`` messages laid out as the
node publishes them on ``detections_3d``.

When asked (a topic each), the planner and viewer outputs of the node go into the bag too:
Autoware's ``TrackedObjects``/``DetectedObjects`` (3D models, frames with a camera matrix) and
Foxglove's ``ImageAnnotations`` (every model), from the same
:class:`~centertrack_ros.runtime.planner_outputs.CameraPlannerState` the node keeps per camera,
with the UUIDs of a node named ``node_name`` (a one-camera node): a bag run and the live node
with the same settings give the same object ids.
"""

from __future__ import annotations

import bisect
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Sequence

from tqdm import tqdm

from ..core.calibration import CalibrationError
from ..core.labels import ClassIds
from ..datasets.mot import MotRow, write_mot
from ..runtime.camera_info import MATRICES, projection_for_image
from ..runtime.planner_outputs import CameraPlannerState, PlannerOutputSettings
from ..runtime.runner import Frame
from ..runtime.session import TrackingSession
from ..runtime.stamps import stamp_ns
from .convert import CLASS_NAMES_KEY
from .errors import BagError
from .io import BagReader, BagWriter, TopicSummary, check_output_bag, topic_name
from .messages import (
    Box,
    decode_frame,
    detection3d_array,
    detection_array,
    rows_from_boxes,
)
from .typestore import (
    CAMERA_INFO,
    DETECTED_OBJECTS,
    DETECTION3D_ARRAY,
    DETECTION_ARRAY,
    IMAGE_ANNOTATIONS,
    IMAGE_TYPES,
    TRACKED_OBJECTS,
    missing_interfaces,
)

DEFAULT_DETECTIONS_TOPIC = '/detections'
DEFAULT_DETECTIONS_3D_TOPIC = '/detections_3d'
DEFAULT_NODE_NAME = '/centertrack'  # the UUID space of a node without namespace or rename


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
    camera_info_topic: Optional[str] = None
    detections_3d: int = 0
    detections_3d_topic: Optional[str] = None
    objects: int = 0  # objects in the TrackedObjects/DetectedObjects messages, all frames
    objects_topic: Optional[str] = None
    detected_objects_topic: Optional[str] = None
    annotations: int = 0  # ImageAnnotations messages
    annotations_topic: Optional[str] = None

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


def pick_camera_info_topic(bag: BagReader, topic: Optional[str] = None) -> Optional[TopicSummary]:
    """Return the ``CameraInfo`` topic to read: ``topic`` if given, else the bag's only one.

    None when the bag has none (and none was asked for).

    Raises:
        BagError: the topic is missing or not a CameraInfo, or the choice is ambiguous.

    """
    if topic:
        return bag.topic(topic, (CAMERA_INFO,))
    infos = bag.topics_of_type((CAMERA_INFO,))
    if len(infos) > 1:
        names = ', '.join(t.name for t in infos)
        raise BagError(f'bag {bag.path} has several CameraInfo topics ({names}); choose one '
                       'with --camera-info-topic')
    return infos[0] if infos else None


class CameraInfos:
    """A bag's ``CameraInfo`` messages, found for each image by header stamp.

    An image takes the info with its own stamp (as a driver publishes them), else the
    latest one before it, else the first one: the order in which the two were recorded does
    not matter.
    """

    def __init__(self, bag: BagReader, topic: TopicSummary) -> None:
        self.topic = topic.name
        self._infos = sorted(((stamp_ns(m.header.stamp), index, m) for index, (_, _, m) in
                              enumerate(bag.messages([topic.name]))), key=lambda e: e[:2])
        if not self._infos:
            raise BagError(f'topic {topic.name} of {bag.path} has no messages')
        self._stamps = [stamp for stamp, _, _ in self._infos]

    def at(self, stamp: int) -> Any:
        """Return the info for an image stamped ``stamp`` (nanoseconds)."""
        index = bisect.bisect_right(self._stamps, stamp) - 1
        return self._infos[max(index, 0)][2]


def run_bag(bag_path: str | Path, session: TrackingSession, output: Optional[str | Path] = None, *,
            image_topic: Optional[str] = None,
            detections_topic: str = DEFAULT_DETECTIONS_TOPIC,
            mot_path: Optional[str | Path] = None, storage: Optional[str] = None,
            copy_topics: Sequence[str] = (), max_frames: Optional[int] = None,
            overwrite: bool = False, progress: bool = True,
            camera_info_topic: Optional[str] = None, camera_info_matrix: str = 'p',
            detections_3d_topic: str = DEFAULT_DETECTIONS_3D_TOPIC,
            objects_topic: Optional[str] = None, detected_objects_topic: Optional[str] = None,
            annotations_topic: Optional[str] = None,
            planner: Optional[PlannerOutputSettings] = None,
            node_name: str = DEFAULT_NODE_NAME) -> RunResult:
    """Track every image of a bag; write the tracks to a bag and/or a MOTChallenge file.

    The first image starts a new sequence, so a run depends only on the bag and the model (a
    new session's ids start at 1). Detection arrays carry their image's header (stamp and
    frame_id) and are written at the image's receive time; MOT frame numbers are the 1-based
    positions of the images in the bag.

    Args:
        bag_path: input bag.
        session: a one-camera tracking session.
        output: output bag directory (None: no bag).
        image_topic: image topic (default: the bag's only image topic).
        detections_topic: topic of the tracks in the output bag.
        mot_path: MOTChallenge result file to write (None: none).
        storage: output storage (default: the input's).
        copy_topics: input topics copied unchanged into the output bag (e.g. ground truth,
            or the image topic, for a bag that a viewer opens on its own).
        max_frames: stop after this many images (copied topics stop there too).
        overwrite: replace an existing output bag.
        progress: show a progress bar.
        camera_info_topic: where the camera matrices are (default: the bag's only
            ``CameraInfo`` topic); read only for a model with 3D heads, which then writes
            ``Detection3DArray`` messages on ``detections_3d_topic`` beside the 2D ones.
        camera_info_matrix: ``p`` (rectified images) or ``k`` (raw images), see
            :func:`~centertrack_ros.runtime.camera_info.projection_for_image`.
        detections_3d_topic: topic of the 3D boxes in the output bag.
        objects_topic: write ``autoware_perception_msgs/TrackedObjects`` here (None: not);
            needs a model with 3D heads; written for the frames that have a camera matrix.
        detected_objects_topic: the same for ``DetectedObjects`` (None: not).
        annotations_topic: write ``foxglove_msgs/ImageAnnotations`` here, one per image
            (None: not); every model.
        planner: the ``autoware.*``/``annotations.*`` settings (class map, covariance model,
            velocity window, UUID instance, trail length); its ``autoware`` flag is ignored
            (the topics ask for the objects).
        node_name: the fully qualified name of the node whose object UUIDs to reproduce.

    Raises:
        BagError: missing topic, undecodable image, corrupt bag, existing output, a
            CameraInfo that does not give a usable camera matrix for an image, Autoware objects
            asked of a 2D model, an output type whose definitions are not installed, two
            outputs on one topic.

    """
    if output is None and mot_path is None:
        raise BagError('nothing to write: give an output bag and/or --mot')
    if camera_info_matrix not in MATRICES:
        raise BagError(f"--camera-info-matrix must be 'p' or 'k', got {camera_info_matrix!r}")
    three_d = session.ddd
    wants_objects = objects_topic is not None or detected_objects_topic is not None
    if wants_objects and not three_d:
        raise BagError('--objects-topic/--detected-objects-topic need a model with 3D heads '
                       '(Autoware objects are 3D boxes): this model has 2D boxes only; leave '
                       'them out or load a 3D model (e.g. the nuscenes_3d preset)')
    _check_interfaces(wants_objects, annotations_topic is not None)
    class_names = tuple(session.config.model.class_names)
    class_ids = ClassIds(class_names)  # the labels back to the model's own class ids
    session.runner.start_new_sequences()
    with BagReader(bag_path) as bag:
        images = pick_image_topic(bag, image_topic)
        copied = [bag.topic(t) for t in copy_topics]
        det_topic = topic_name(detections_topic)
        if det_topic in {t.name for t in copied} | {images.name}:
            raise BagError(f'output topic {det_topic} would clash with a copied/input topic')
        infos = None
        if three_d:
            info_topic = pick_camera_info_topic(bag, camera_info_topic)
            infos = CameraInfos(bag, info_topic) if info_topic is not None else None
        det3d_topic = topic_name(detections_3d_topic) if infos is not None else None
        if det3d_topic in {t.name for t in copied} | {images.name, det_topic}:
            raise BagError(f'output topic {det3d_topic} would clash with another topic')
        # Objects exist for frames with a camera matrix only (as detections_3d).
        wanted = {
            TRACKED_OBJECTS: objects_topic if infos is not None else None,
            DETECTED_OBJECTS: detected_objects_topic if infos is not None else None,
            IMAGE_ANNOTATIONS: annotations_topic}
        planner_topics = {msgtype: topic_name(topic) for msgtype, topic in
                          wanted.items() if topic is not None and output is not None}
        taken = {t.name for t in copied} | {images.name, det_topic, det3d_topic}
        for topic in planner_topics.values():
            if topic in taken:
                raise BagError(f'output topic {topic} would clash with another topic')
            taken.add(topic)
        state = None
        if planner_topics:
            state = CameraPlannerState(replace(
                planner or PlannerOutputSettings(),
                autoware=TRACKED_OBJECTS in planner_topics or DETECTED_OBJECTS in planner_topics),
                node_name)
        result = RunResult(Path(output) if output else None, Path(mot_path) if mot_path else None,
                           images.name, 0, 0, 0,
                           camera_info_topic=infos.topic if infos is not None else None,
                           detections_3d_topic=det3d_topic if output is not None else None,
                           objects_topic=planner_topics.get(TRACKED_OBJECTS),
                           detected_objects_topic=planner_topics.get(DETECTED_OBJECTS),
                           annotations_topic=planner_topics.get(IMAGE_ANNOTATIONS))
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
                if det3d_topic:
                    writer.add_topic(det3d_topic, DETECTION3D_ARRAY)
                for msgtype, topic in planner_topics.items():
                    writer.add_topic(topic, msgtype)
                for summary in copied:
                    writer.add_topic(summary.name, summary.msgtype)
            topics = [images.name] + ([t.name for t in copied if t.name != images.name]
                                      if writer is not None else [])
            # The image topic itself may be copied: a bag that opens in a viewer on its own.
            copy_images = writer is not None and images.name in {t.name for t in copied}
            total = images.count if max_frames is None else min(images.count, max_frames)
            with tqdm(total=total, unit='frame', desc=f'track {images.name}',
                      disable=not progress, leave=False) as bar:
                for topic, msgtype, timestamp, data in bag.raw_messages(topics):
                    if result.frames == total:
                        break
                    if topic != images.name:
                        writer.write_raw(topic, timestamp, data)
                        continue
                    if copy_images:
                        writer.write_raw(topic, timestamp, data)
                    msg = bag.decode(topic, msgtype, timestamp, data)
                    decoded = decode_frame(msg, msgtype,
                                           f'{bag.path} {topic} message {result.frames + 1}')
                    where = f'{bag.path} {topic} message {result.frames + 1}'
                    calib = None if infos is None else _calibration(
                        infos, decoded.image, stamp_ns(msg.header.stamp), camera_info_matrix,
                        where)
                    frame = Frame(0, decoded.image, stamp_ns(msg.header.stamp), decoded.source,
                                  calib=calib)
                    begin = time.perf_counter()
                    (tracked,) = session.track([frame])
                    result.step_seconds.append(time.perf_counter() - begin)
                    result.frames += 1
                    boxes = tracked.boxes
                    result.detections += len(boxes)
                    ids.update(b.track_id for b in boxes)
                    result.detections_3d += len(tracked.boxes_3d)
                    if writer is not None:
                        writer.write(det_topic, timestamp, detection_array(
                            boxes, stamp_ns(msg.header.stamp), msg.header.frame_id))
                        if det3d_topic:
                            writer.write(det3d_topic, timestamp, detection3d_array(
                                tracked.boxes_3d, stamp_ns(msg.header.stamp),
                                msg.header.frame_id))
                        if state is not None:
                            _write_planner_outputs(writer, timestamp, tracked, state,
                                                   planner_topics, msg.header.frame_id, result)
                    rows.extend(_mot_rows(result.frames, boxes, class_ids))
                    bar.update()
            if result.frames == 0:
                raise BagError(f'topic {images.name} of {bag_path} has no messages')
    result.track_ids = len(ids)
    if mot_path is not None:
        write_mot(mot_path, rows)
    return result


def check_outputs(output: Optional[str | Path], mot_path: Optional[str | Path],
                  overwrite: bool) -> None:
    """Refuse outputs of :func:`run_bag` that exist (before any model is loaded).

    Raises:
        BagError: nothing to write, or an output exists and may not be replaced.

    """
    if output is None and mot_path is None:
        raise BagError('nothing to write: give an output bag and/or --mot')
    if output is not None:
        check_output_bag(output, overwrite)
    if mot_path is not None and Path(mot_path).expanduser().is_dir():
        raise BagError(f'--mot {mot_path} is a directory; give a file name')


def _check_interfaces(objects: bool, annotations: bool) -> None:
    """Refuse outputs whose message definitions the type store could not find."""
    missing = missing_interfaces()
    for wanted, package, option in ((objects, 'autoware_perception_msgs',
                                     '--objects-topic/--detected-objects-topic'),
                                    (annotations, 'foxglove_msgs', '--annotations-topic')):
        if wanted and package in missing:
            raise BagError(f'{option}: the {package} message definitions are not installed '
                           f'(install the package or source its workspace)')


def _write_planner_outputs(writer: BagWriter, timestamp: int, tracked: Any,
                           state: CameraPlannerState, topics: dict[str, str], frame_id: str,
                           result: RunResult) -> None:
    """Write one frame's Autoware objects and overlay, as the node publishes them."""
    from .autoware_messages import detected_objects, tracked_objects
    from .foxglove_messages import image_annotations

    estimates = state.observe(tracked)
    stamp = tracked.frame.stamp_ns
    if estimates is not None:
        result.objects += len(estimates)
        if TRACKED_OBJECTS in topics:
            writer.write(topics[TRACKED_OBJECTS], timestamp,
                         tracked_objects(estimates, stamp, frame_id))
        if DETECTED_OBJECTS in topics:
            writer.write(topics[DETECTED_OBJECTS], timestamp,
                         detected_objects(estimates, stamp, frame_id))
    if IMAGE_ANNOTATIONS in topics:
        writer.write(topics[IMAGE_ANNOTATIONS], timestamp,
                     image_annotations(state.overlay(tracked)))
        result.annotations += 1


def _calibration(infos: CameraInfos, image: Any, stamp: int, matrix: str, where: str) -> Any:
    """Return the camera matrix of one image from the bag's CameraInfo, or a BagError."""
    try:
        return projection_for_image(infos.at(stamp), image.shape[1], image.shape[0], matrix)
    except CalibrationError as exc:
        raise BagError(f'{where}: no usable camera matrix in {infos.topic}: {exc}') from exc


def _mot_rows(frame: int, boxes: Sequence[Box], class_ids: ClassIds) -> list[MotRow]:
    """MOT result rows of one frame: the published boxes, with the model's class ids."""
    return rows_from_boxes(boxes, frame, class_ids)
