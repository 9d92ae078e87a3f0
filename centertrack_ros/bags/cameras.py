"""Bags as cameras with ground truth: what a benchmark or a tuning run plays, tracks and scores.

One bag is one camera: its image topic (the bag's only one, or the one named) and its
ground-truth ``Detection2DArray`` topic (``/ground_truth`` as ``convert`` writes it, or the one
named). Frames are known by their header stamps, which must be unique within a camera. The
offline run tracks every frame with a session, exactly as ``centertrack_bag run`` does
(:func:`~.offline.run_bag`), and reads its output back as a scorer reads any bag.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..evaluation.metrics import OVERALL
from ..evaluation.tracker import Evaluation
from ..runtime.session import TrackingSession
from ..runtime.stamps import stamp_ns
from .benchmark import OFFLINE, CameraRun, RunReport, score_run
from .errors import BagError
from .evaluation import Rows, load
from .io import BagReader
from .offline import DEFAULT_DETECTIONS_TOPIC, pick_image_topic, run_bag

_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*$')


@dataclass
class CameraSource:
    """One camera: a bag's image topic and its ground truth.

    Attributes:
        name: the camera's name (a valid node camera name: letters, digits, underscores).
        bag: the bag.
        image_topic: the image topic played and tracked.
        msgtype: ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage``.
        stamps: the images' header stamps, in bag order.
        times: the images' receive times in the bag (ns), in bag order: the playback pace.
        gt: the ground truth by header stamp.

    """

    name: str
    bag: Path
    image_topic: str
    msgtype: str
    stamps: list[int]
    times: list[int]
    gt: Rows

    @property
    def frame_rate(self) -> float:
        """Frames per second of the recording (median spacing of the receive times)."""
        if len(self.times) < 2:
            return float('nan')
        step = statistics.median(b - a for a, b in zip(self.times, self.times[1:]))
        return 1e9 / step if step > 0 else float('nan')

    def run(self) -> CameraRun:
        """Return an empty run of this camera's frames, to be filled with answers."""
        return CameraRun(self.name, self.gt, list(self.stamps))


def camera_names(bags: Sequence[str | Path], names: Sequence[str] = ()) -> list[str]:
    """Names for the cameras of ``bags``: ``names`` if given, else from the bags' file names.

    Names become the node's ``cameras`` (topics ``<name>/image``), so a bag name is made a
    valid one (``drive-2.mcap`` -> ``drive_2``), and repeated ones are numbered.

    Raises:
        BagError: the number of names does not match, or a name is invalid or repeated.

    """
    if names:
        if len(names) != len(bags):
            raise BagError(f'{len(names)} camera names for {len(bags)} bags')
        bad = [n for n in names if not _NAME.match(n) or n == OVERALL]
        if bad:
            raise BagError(f'camera names must start with a letter and hold only letters, '
                           f'digits and underscores (and not be {OVERALL}); got {bad}')
        if len(set(names)) != len(names):
            raise BagError(f'camera names must be unique; got {list(names)}')
        return list(names)
    out: list[str] = []
    for bag in bags:
        path = Path(bag).expanduser()
        stem = path.stem if path.suffix in ('.mcap', '.db3') else path.name
        base = re.sub(r'[^A-Za-z0-9_]', '_', stem) or 'camera'
        if not base[0].isalpha() or base == OVERALL:
            base = f'camera_{base}'
        name, k = base, 2
        while name in out:
            name, k = f'{base}_{k}', k + 1
        out.append(name)
    return out


def read_camera(name: str, bag_path: str | Path, image_topic: Optional[str] = None,
                gt_topic: Optional[str] = None) -> CameraSource:
    """Read a camera's frame stamps and ground truth from a bag.

    Raises:
        BagError: no (or an ambiguous) image topic, no ground truth, repeated header stamps,
            corrupt bag.

    """
    path = Path(bag_path).expanduser()
    with BagReader(path) as bag:
        topic = pick_image_topic(bag, image_topic)
        stamps, times = [], []
        for _, timestamp, msg in bag.messages([topic.name]):
            stamps.append(stamp_ns(msg.header.stamp))
            times.append(timestamp)
    if not stamps:
        raise BagError(f'topic {topic.name} of {path} has no messages')
    if len(set(stamps)) != len(stamps):
        raise BagError(f'{path} {topic.name}: several images have the same header stamp; '
                       'frames are matched with the ground truth by stamp')
    try:
        gt = load(path, gt_topic, 'ground truth')
    except BagError as exc:
        raise BagError(f'{exc} (scoring needs ground truth: convert writes it from a source '
                       'that has it)') from exc
    return CameraSource(name, path, topic.name, topic.msgtype, stamps, times, gt)


def read_cameras(bags: Sequence[str | Path], names: Sequence[str] = (),
                 image_topic: Optional[str] = None,
                 gt_topic: Optional[str] = None) -> list[CameraSource]:
    """Read every bag as a camera (see :func:`camera_names`, :func:`read_camera`)."""
    return [read_camera(name, bag, image_topic, gt_topic)
            for name, bag in zip(camera_names(bags, names), bags)]


def common_frame_rate(sources: Sequence[CameraSource]) -> float:
    """Return the cameras' frame rate (the first camera's when they differ)."""
    return sources[0].frame_rate if sources else float('nan')


def class_names_of(sources: Sequence[CameraSource]) -> tuple[str, ...]:
    """Names of the ground truth's class ids (the first camera that states them)."""
    return next((s.gt.class_names for s in sources if s.gt.class_names), ())


def output_bag_name(label: str, camera: str, cameras: int) -> str:
    """Folder name of a recorded run: ``offline``, ``live_x3`` (``_<camera>`` when several)."""
    base = label.replace(' ', '_')
    return base if cameras == 1 else f'{base}_{camera}'


def run_offline(sources: Sequence[CameraSource], session: TrackingSession,
                record: Optional[Path] = None, progress: bool = False,
                iou_threshold: float = 0.5) -> tuple[RunReport, float]:
    """Track every frame of every camera with ``session`` (the ``run`` path); score it.

    Each camera starts a new sequence. The tracks go into bags under ``record`` (one per
    camera, see :func:`output_bag_name`; replaced if there) or into a temporary folder.

    Returns:
        the scored run, and the seconds the tracker spent per frame (decoding excluded).

    """
    runs, steps = [], []
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='centertrack_offline_') as scratch:
        folder = Path(record) if record is not None else Path(scratch)
        for source in sources:
            output = folder / output_bag_name(OFFLINE, source.name, len(sources))
            result = run_bag(source.bag, session, output, image_topic=source.image_topic,
                             detections_topic=DEFAULT_DETECTIONS_TOPIC, overwrite=True,
                             progress=progress)
            steps.extend(result.step_seconds)
            run = source.run()
            answers = load(output, DEFAULT_DETECTIONS_TOPIC).by_stamp or {}  # a bag: by stamp
            for stamp, boxes in answers.items():
                run.answer(stamp, boxes)
            runs.append(run)
    report = score_run(OFFLINE, runs, class_names=class_names_of(sources),
                       iou_threshold=iou_threshold, wall_s=time.monotonic() - begin)
    return report, sum(steps) / max(len(steps), 1)


def evaluate_offline(sources: Sequence[CameraSource], session: TrackingSession,
                     iou_threshold: float = 0.5) -> Evaluation:
    """Score the session's current tracker settings on the cameras, offline (for sweeps)."""
    report, seconds_per_frame = run_offline(sources, session, iou_threshold=iou_threshold)
    return Evaluation(report.metrics, report.frames[OVERALL], seconds_per_frame,
                      session.config.tracker)
