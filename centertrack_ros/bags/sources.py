"""Frame sources for ``convert``: video files, image folders, MOT/KITTI sequences, synthetic.

Each source yields BGR frames in order, knows its frame rate (or says that it has none), and
yields the ground truth of each frame as MOTChallenge rows (1-based frames) when it has any.
"""

from __future__ import annotations

import configparser
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np

from ..evaluation.mot import MotRow, kitti_rows, read_kitti_tracking, read_mot, rows_by_frame
from .errors import BagError

KINDS = ('auto', 'video', 'images', 'mot', 'kitti', 'synthetic')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
# MOT16/17/20 ground-truth class ids, 1-based, as defined by the benchmark.
MOT_CLASSES = ('pedestrian', 'person_on_vehicle', 'car', 'bicycle', 'motorbike',
               'non_mot_vehicle', 'static_person', 'distractor', 'occluder',
               'occluder_on_ground', 'occluder_full', 'reflection')
# KITTI object types that carry track ids; DontCare regions become ignored ground truth.
KITTI_TYPES = ('Car', 'Van', 'Truck', 'Pedestrian', 'Person_sitting', 'Cyclist', 'Tram', 'Misc')
KITTI_FPS = 10.0


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


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', path.name)]


def _image_files(folder: Path, suffix: Optional[str] = None) -> list[Path]:
    suffixes = (suffix.lower(),) if suffix else IMAGE_SUFFIXES
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
                  key=_natural_key)


def _read_images(files: Sequence[Path]) -> Iterator[np.ndarray]:
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise BagError(f'cannot read image {path} (corrupt or unsupported format)')
        yield image


def detect_kind(path: Path) -> str:
    """Guess the source kind of ``path`` (see :data:`KINDS`)."""
    if path.is_file():
        return 'video'
    if (path / 'seqinfo.ini').is_file() or (path / 'img1').is_dir():
        return 'mot'
    if (path / 'image_02').is_dir() or path.parent.name == 'image_02':
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
    opener = {'video': _video, 'images': _images, 'mot': _mot, 'kitti': _kitti}[kind]
    source = opener(path, fps, sequence) if kind == 'kitti' else opener(path, fps)
    if gt_file is not None:
        gt_path = Path(gt_file).expanduser()
        if not gt_path.is_file():
            raise BagError(f'ground-truth file not found: {gt_path}')
        source.gt = _read_gt(gt_path)
        source.class_names = tuple(class_names) or MOT_CLASSES
    if source.fps is None:
        raise BagError(f'{path} has no frame rate ({source.kind} source); pass --fps')
    return source


def _read_gt(path: Path) -> dict[int, list[MotRow]]:
    try:
        return rows_by_frame(read_mot(path))
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise BagError(f'bad ground-truth file: {exc}') from exc


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
    if not path.is_dir():
        raise BagError(f'{path} is not a folder of images')
    files = _image_files(path)
    if not files:
        raise BagError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {path}')
    return Source('images', path.name, fps, len(files), _frames=_read_images(files))


def _mot(path: Path, fps: Optional[float]) -> Source:
    info = configparser.ConfigParser()
    seqinfo = path / 'seqinfo.ini'
    section: dict = {}
    if seqinfo.is_file():
        try:
            info.read(seqinfo, encoding='utf-8')
        except configparser.Error as exc:
            raise BagError(f'bad {seqinfo}: {" ".join(str(exc).split())}') from exc
        section = dict(info['Sequence']) if info.has_section('Sequence') else {}
    image_dir = path / section.get('imdir', 'img1')
    if not image_dir.is_dir():
        raise BagError(f'MOT sequence {path} has no image folder {image_dir.name}/')
    files = _image_files(image_dir, section.get('imext'))
    if not files:
        raise BagError(f'no images in {image_dir}')
    if 'seqlength' in section and section['seqlength'].isdigit():
        files = files[:int(section['seqlength'])]
    own_fps = None
    if 'framerate' in section:
        try:
            own_fps = float(section['framerate'])
        except ValueError:
            raise BagError(f'{seqinfo}: frameRate is not a number: '
                           f'{section["framerate"]!r}') from None
    gt_path = path / 'gt' / 'gt.txt'
    gt = _read_gt(gt_path) if gt_path.is_file() else None
    return Source('mot', section.get('name', path.name), fps or own_fps, len(files),
                  MOT_CLASSES if gt is not None else (), gt, _read_images(files))


def _kitti(path: Path, fps: Optional[float], sequence: Optional[str]) -> Source:
    if path.parent.name == 'image_02':
        image_dir, root, sequence = path, path.parent.parent, path.name
    else:
        root = path
        sequences = sorted(p.name for p in (root / 'image_02').iterdir() if p.is_dir()) \
            if (root / 'image_02').is_dir() else []
        if sequence is None:
            if len(sequences) != 1:
                raise BagError(f'KITTI folder {root} has sequences {", ".join(sequences)}; '
                               'choose one with --sequence')
            sequence = sequences[0]
        image_dir = root / 'image_02' / sequence
    if not image_dir.is_dir():
        raise BagError(f'KITTI sequence folder not found: {image_dir}')
    files = _image_files(image_dir)
    if not files:
        raise BagError(f'no images in {image_dir}')
    label = root / 'label_02' / f'{sequence}.txt'
    gt = None
    if label.is_file():
        try:
            labels = read_kitti_tracking(label, keep_dontcare=True)
        except (ValueError, OSError) as exc:
            raise BagError(f'bad KITTI label file: {exc}') from exc
        rows = kitti_rows(labels, KITTI_TYPES)
        # DontCare regions: ignored ground truth (consider flag 0) of no particular class.
        rows += [MotRow(lab.frame + 1, -(k + 1), lab.x1, lab.y1, lab.x2 - lab.x1,
                        lab.y2 - lab.y1, 0.0, -1, -1.0)
                 for k, lab in enumerate(x for x in labels if x.type == 'DontCare')]
        gt = rows_by_frame(rows)
    return Source('kitti', f'kitti_{sequence}', fps or KITTI_FPS, len(files),
                  KITTI_TYPES if gt is not None else (), gt, _read_images(files))


def synthetic_source(seed: int, num_frames: int, fps: Optional[float] = None,
                     width: int = 0, height: int = 0) -> Source:
    """Open a synthetic drive of :mod:`centertrack_ros.synthetic`, with ground truth.

    Raises:
        BagError: invalid frame count or size.

    """
    from ..evaluation.synthetic import synthetic_gt_rows
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
