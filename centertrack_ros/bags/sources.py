"""Frame sources for ``convert``: video files, image folders, MOT/KITTI sequences, synthetic.

Each source yields BGR frames in order, knows its frame rate (or says that it has none), and
yields the ground truth of each frame as MOTChallenge rows (1-based frames) when it has any.
The dataset folders and files are read by :mod:`centertrack_ros.datasets`; this module makes
sources of them and turns their :class:`~centertrack_ros.core.errors.DatasetError` into the
bag tool's :class:`BagError`, also for an image that turns out unreadable mid-conversion.
Video files are read here: a video is no dataset layout, only ``convert`` reads one, and what
can go wrong with it (a codec OpenCV lacks, no frame rate) is about the conversion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TypeVar

import cv2
import numpy as np

from ..core.errors import DatasetError
from ..datasets.folders import IMAGE_SUFFIXES, image_files, read_images
from ..datasets.kitti import (
    KITTI_FPS,
    KITTI_TYPES,
    is_kitti_path,
    kitti_rows,
    kitti_sequences,
    open_kitti_sequence,
    split_kitti_path,
)
from ..datasets.mot import MOT_CLASSES, MotRow, read_mot, rows_by_frame
from ..datasets.mot_sequence import is_mot_sequence, open_mot_sequence
from .errors import BagError

KINDS = ('auto', 'video', 'images', 'mot', 'kitti', 'synthetic')

_T = TypeVar('_T')


@dataclass
class Source:
    """An ordered stream of frames plus what is known about it.

    Attributes:
        kind: which reader produced it (one of :data:`KINDS` except ``auto``).
        name: sequence name (for metadata and reports).
        fps: frame rate, or None when the source does not define one.
        num_frames: number of frames when known up front (for progress bars).
        class_names: names of the ground-truth class ids (``class_names[id - 1]``).
        gt: ground-truth rows by 1-based frame, or None when the source has none.

    """

    kind: str
    name: str
    fps: Optional[float]
    num_frames: Optional[int]
    class_names: tuple[str, ...] = ()
    gt: Optional[dict[int, list[MotRow]]] = None
    _frames: Optional[Iterator[np.ndarray]] = field(default=None, repr=False)

    def frames(self) -> Iterator[np.ndarray]:
        """Return the frames, BGR ``uint8``, in order (a source can be iterated once)."""
        if self._frames is None:
            raise BagError(f'{self.name}: frames were already read')
        frames, self._frames = self._frames, None
        return frames


def _bag_errors(items: Iterator[_T]) -> Iterator[_T]:
    # Images are read while converting; one that cannot be read stops it with a BagError.
    try:
        yield from items
    except DatasetError as exc:
        raise BagError(str(exc)) from exc


def detect_kind(path: Path) -> str:
    """Guess the source kind of ``path`` (see :data:`KINDS`)."""
    if path.is_file():
        return 'video'
    if is_mot_sequence(path):
        return 'mot'
    if is_kitti_path(path):
        return 'kitti'
    return 'images'


def open_source(path: str | Path, kind: str = 'auto', fps: Optional[float] = None,
                sequence: Optional[str] = None, gt_file: Optional[str | Path] = None,
                class_names: Sequence[str] = ()) -> Source:
    """Open a frame source.

    Args:
        path: video file, image folder, MOT sequence folder, or KITTI folder (the tracking
            root with ``sequence``, or ``.../image_02/<sequence>``).
        kind: one of :data:`KINDS`; ``auto`` guesses from the path.
        fps: frame rate to use instead of the source's own (required for image folders).
        sequence: KITTI sequence (e.g. ``0003``) when ``path`` is the dataset root.
        gt_file: a MOTChallenge file with the ground truth (for sources without their own, or
            to replace it).
        class_names: names of the class ids in ``gt_file`` (default: the MOT17 classes).

    Raises:
        BagError: the path is missing or is not what ``kind`` expects.

    """
    path = Path(path).expanduser()
    if kind not in KINDS or kind == 'synthetic':
        raise BagError(f'unknown source kind {kind!r}; use one of '
                       f'{", ".join(k for k in KINDS if k != "synthetic")}')
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise BagError(f'--fps must be a positive number, got {fps}')
    if not path.exists():
        raise BagError(f'source not found: {path}')
    if kind == 'auto':
        kind = detect_kind(path)
    try:
        if kind == 'video':
            source = _video(path, fps)
        elif kind == 'images':
            source = _images(path, fps)
        elif kind == 'mot':
            source = _mot(path, fps)
        else:
            source = _kitti(path, fps, sequence)
    except DatasetError as exc:
        raise BagError(str(exc)) from exc
    if gt_file is not None:
        gt_path = Path(gt_file).expanduser()
        if not gt_path.is_file():
            raise BagError(f'ground-truth file not found: {gt_path}')
        source.gt = _read_gt(lambda: read_mot(gt_path))
        source.class_names = tuple(class_names) or MOT_CLASSES
    if source.fps is None:
        raise BagError(f'{path} has no frame rate ({source.kind} source); pass --fps')
    return source


def _read_gt(read: Callable[[], Optional[list[MotRow]]]) -> Optional[dict[int, list[MotRow]]]:
    try:
        rows = read()
    except DatasetError as exc:
        raise BagError(f'bad ground-truth file: {exc}') from exc
    return rows_by_frame(rows) if rows is not None else None


def _video(path: Path, fps: Optional[float]) -> Source:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BagError(f'cannot open video {path} (not a video, or a codec OpenCV lacks)')
    own_fps = capture.get(cv2.CAP_PROP_FPS)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not fps and not (math.isfinite(own_fps) and 0 < own_fps < 1000):
        capture.release()
        raise BagError(f'video {path} does not state a frame rate; pass --fps')

    def frames() -> Iterator[np.ndarray]:
        try:
            read = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                read += 1
                yield image
            if read == 0:
                raise BagError(f'video {path} has no readable frames')
        finally:
            capture.release()

    return Source('video', path.stem, fps or float(own_fps), count if count > 0 else None,
                  _frames=frames())


def _images(path: Path, fps: Optional[float]) -> Source:
    files = image_files(path)
    if not files:
        raise BagError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {path}')
    return Source('images', path.name, fps, len(files), _frames=_bag_errors(read_images(files)))


def _mot(path: Path, fps: Optional[float]) -> Source:
    sequence = open_mot_sequence(path)
    gt = _read_gt(sequence.ground_truth)
    return Source('mot', sequence.name, fps or sequence.frame_rate, len(sequence),
                  MOT_CLASSES if gt is not None else (), gt,
                  _bag_errors(read_images(sequence.images)))


def _kitti(path: Path, fps: Optional[float], name: Optional[str]) -> Source:
    root, in_path = split_kitti_path(path)
    name = in_path or name
    if name is None:
        names = kitti_sequences(root)
        if len(names) != 1:
            raise BagError(f'KITTI folder {root} has sequences {", ".join(names) or "none"}; '
                           'choose one with --sequence')
        name = names[0]
    sequence = open_kitti_sequence(root, name)
    # DontCare regions: ignored ground truth (consider flag 0) of no particular class.
    def rows() -> Optional[list[MotRow]]:
        labels = sequence.labels(keep_dontcare=True)
        return None if labels is None else kitti_rows(labels, KITTI_TYPES,
                                                      dontcare_as_ignored=True)

    gt = _read_gt(rows)
    return Source('kitti', f'kitti_{name}', fps or KITTI_FPS, len(sequence),
                  KITTI_TYPES if gt is not None else (), gt,
                  _bag_errors(read_images(sequence.images)))


def synthetic_source(seed: int, num_frames: int, fps: Optional[float] = None,
                     width: int = 0, height: int = 0) -> Source:
    """Open a synthetic drive of :mod:`centertrack_ros.synthetic`, with ground truth.

    Raises:
        BagError: invalid frame count or size.

    """
    from ..datasets.synthetic import synthetic_gt_rows
    from ..synthetic import CLASS_NAMES, SceneConfig, generate_sequence

    options: dict = {'seed': int(seed), 'num_frames': int(num_frames)}
    if fps:
        options['fps'] = float(fps)
    if width and height:
        options.update(width=int(width), height=int(height))
    try:
        sequence = generate_sequence(SceneConfig(**options))
    except ValueError as exc:
        raise BagError(f'synthetic sequence: {exc}') from exc
    gt = rows_by_frame(synthetic_gt_rows(sequence))
    frames = (sequence.image(i) for i in range(len(sequence)))
    return Source('synthetic', f'synthetic_seed{seed}', sequence.fps, len(sequence),
                  tuple(CLASS_NAMES), gt, frames)
