"""Training data: frame sources and the dataset that builds CenterTrack samples from them.

Sources: synthetic scenes, MOTChallenge, KITTI-tracking and COCO-json (video) annotations, the
files read by :mod:`centertrack_ros.datasets`; what is decided here is how their classes and
ignore regions become training annotations. The dataset turns a frame and a nearby "previous"
frame into one training sample.

A *frame source* gives random access to annotated frames grouped into videos. The
:class:`TrackingDataset` draws, for frame ``t``, a partner frame from the same video with
``|gap| < max_frame_dist`` (the original's rule: the partner may be ``t`` itself or even a later
frame). A frame paired with itself -- always the case for still images -- is shifted and
scaled independently, which simulates camera or object motion ("training on static images").
The partner's objects are rendered into the prior heatmap with the training disturbances
(:func:`centertrack_ros.training.targets.render_prior`).
"""

from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.config import InputConfig
from ..core.errors import ConfigError, DatasetError
from ..datasets.coco import read_coco_video
from ..datasets.folders import read_image
from ..datasets.kitti import labelled_kitti_sequences, open_kitti_sequence
from ..datasets.mot import (
    MOT_CAR,
    MOT_DISTRACTOR,
    MOT_PEDESTRIAN,
    MOT_PERSON_ON_VEHICLE,
    MOT_REFLECTION,
    MOT_STATIC_PERSON,
)
from ..datasets.mot_sequence import find_mot_sequences, open_mot_sequence
from ..synthetic import SceneConfig, SyntheticSequence, generate_sequence
from .augment import AugmentConfig, color_augment, normalise, random_view, view_transforms, warp
from .targets import SKIP_CLASS, Annotation, Disturbance, build_targets, render_prior


class FrameSource:
    """Random access to annotated frames grouped into videos (subclasses fill in the data)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, list[Annotation]]:
        """BGR uint8 image and annotations of frame ``index``."""
        raise NotImplementedError

    def locate(self, index: int) -> tuple[str, int]:
        """``(video, frame_id)`` of frame ``index``."""
        raise NotImplementedError

    def neighbours(self, index: int, max_frame_dist: int) -> list[int]:
        """List frames of the same video with ``|frame gap| < max_frame_dist`` (indices)."""
        raise NotImplementedError


@dataclass(frozen=True)
class FrameRecord:
    """One frame of a file-based source: where the image is and what it shows."""

    video: str
    frame_id: int
    image_path: str
    annotations: tuple[Annotation, ...]


class RecordSource(FrameSource):
    """A frame source over a list of :class:`FrameRecord` (MOT, KITTI, COCO-json)."""

    def __init__(self, records: Sequence[FrameRecord], name: str = '') -> None:
        if not records:
            raise DatasetError(f'{name or "dataset"}: no annotated frames found')
        self.name = name
        self.records = list(records)
        self._by_video: dict[str, dict[int, int]] = defaultdict(dict)
        for index, record in enumerate(self.records):
            self._by_video[record.video][record.frame_id] = index

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_videos(self) -> int:
        """Number of distinct videos."""
        return len(self._by_video)

    def load(self, index: int) -> tuple[np.ndarray, list[Annotation]]:
        """Read frame ``index`` from disk."""
        record = self.records[index]
        return read_image(record.image_path), list(record.annotations)

    def locate(self, index: int) -> tuple[str, int]:
        """``(video, frame_id)`` of frame ``index``."""
        record = self.records[index]
        return record.video, record.frame_id

    def neighbours(self, index: int, max_frame_dist: int) -> list[int]:
        """Frames of the same video less than ``max_frame_dist`` apart (itself included)."""
        record = self.records[index]
        frames = self._by_video[record.video]
        return [frames[f] for f in range(record.frame_id - max_frame_dist + 1,
                                         record.frame_id + max_frame_dist) if f in frames]


class SyntheticSource(FrameSource):
    """Frames of procedurally generated sequences, rendered when asked for.

    One sequence per seed, each ``scene.num_frames`` long. Sequences are generated lazily and
    the ``cache_size`` most recent are kept (generation costs tens of milliseconds; rendering
    a frame a few milliseconds). Objects the generator marks as not to be considered (too
    occluded or too small) become ignore regions of their class.
    """

    def __init__(self, scene: SceneConfig, seeds: Sequence[int], cache_size: int = 64) -> None:
        if not seeds:
            raise ConfigError('synthetic source needs at least one seed')
        self.scene = scene
        self.seeds = [int(s) for s in seeds]
        self.cache_size = cache_size
        self._cache: OrderedDict[int, SyntheticSequence] = OrderedDict()

    def __len__(self) -> int:
        return len(self.seeds) * self.scene.num_frames

    def sequence(self, seed: int) -> SyntheticSequence:
        """Return the sequence of ``seed`` (generated on first use, then cached)."""
        seq = self._cache.get(seed)
        if seq is None:
            seq = generate_sequence(replace(self.scene, seed=seed))
            self._cache[seed] = seq
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(seed)
        return seq

    def _split(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f'frame index {index} out of range ({len(self)} frames)')
        return self.seeds[index // self.scene.num_frames], index % self.scene.num_frames

    def load(self, index: int) -> tuple[np.ndarray, list[Annotation]]:
        """Render frame ``index`` and convert its ground truth."""
        seed, frame = self._split(index)
        image, objects = self.sequence(seed).frame(frame)
        annotations = [Annotation((o.x1, o.y1, o.x2, o.y2),
                                  o.class_id if o.consider else -o.class_id, o.track_id,
                                  o.amodal_box) for o in objects]
        return image, annotations

    def locate(self, index: int) -> tuple[str, int]:
        """``(video, frame_id)`` of frame ``index``; the video is named after its seed."""
        seed, frame = self._split(index)
        return f'synthetic-{seed}', frame

    def neighbours(self, index: int, max_frame_dist: int) -> list[int]:
        """Frames of the same sequence less than ``max_frame_dist`` apart."""
        _, frame = self._split(index)
        start = index - frame
        lo = max(0, frame - max_frame_dist + 1)
        hi = min(self.scene.num_frames - 1, frame + max_frame_dist - 1)
        return [start + f for f in range(lo, hi + 1)]


class ConcatSource(FrameSource):
    """Several sources as one (indices run through them in order)."""

    def __init__(self, sources: Sequence[FrameSource]) -> None:
        if not sources:
            raise ConfigError('no data sources given')
        self.sources = list(sources)
        self._offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def _find(self, index: int) -> tuple[int, int]:
        k = int(np.searchsorted(self._offsets, index, side='right')) - 1
        if not 0 <= k < len(self.sources):
            raise IndexError(f'frame index {index} out of range ({len(self)} frames)')
        return k, index - int(self._offsets[k])

    def load(self, index: int) -> tuple[np.ndarray, list[Annotation]]:
        """Load from the source that holds ``index``."""
        k, local = self._find(index)
        return self.sources[k].load(local)

    def locate(self, index: int) -> tuple[str, int]:
        """``(video, frame_id)``, the video prefixed with the source's position."""
        k, local = self._find(index)
        video, frame = self.sources[k].locate(local)
        return f'{k}:{video}', frame

    def neighbours(self, index: int, max_frame_dist: int) -> list[int]:
        """Neighbours within the source that holds ``index``."""
        k, local = self._find(index)
        offset = int(self._offsets[k])
        return [offset + i for i in self.sources[k].neighbours(local, max_frame_dist)]


# --------------------------------------------------------------------------------------------
# Frame sources of the public formats (the files are read by centertrack_ros.datasets)


def _class_lookup(class_names: Sequence[str]) -> dict[str, int]:
    return {name.lower(): k + 1 for k, name in enumerate(class_names)}


def default_mot_class_map(class_names: Sequence[str]) -> dict[int, int]:
    """MOT ground-truth class -> our class id, for a model with ``class_names``.

    Pedestrians train the class named ``pedestrian`` (or ``person``; the only class of a
    one-class model), persons on vehicles, static persons, distractors and reflections become
    ignore regions of that class (as the original's MOT conversion), and MOT's ``car`` rows
    train a ``car`` class when the model has one. Other MOT classes are dropped.
    """
    lookup = _class_lookup(class_names)
    person = lookup.get('pedestrian') or lookup.get('person') or \
        (1 if len(class_names) <= 1 else None)
    mapping: dict[int, int] = {}
    if person:
        mapping[MOT_PEDESTRIAN] = person
        for ignored in (MOT_PERSON_ON_VEHICLE, MOT_STATIC_PERSON, MOT_DISTRACTOR,
                        MOT_REFLECTION):
            mapping[ignored] = -person
    if 'car' in lookup:
        mapping[MOT_CAR] = lookup['car']
    return mapping


def _fraction_range(length: int, frame_range: tuple[float, float]) -> range:
    lo, hi = frame_range
    if not 0.0 <= lo < hi <= 1.0:
        raise ConfigError(f'frame_range must satisfy 0 <= start < end <= 1, got {frame_range}')
    return range(int(round(lo * length)), int(round(hi * length)))


def mot_source(root: str | os.PathLike[str], class_names: Sequence[str],
               class_map: Optional[Mapping[int, int]] = None, min_visibility: float = 0.25,
               frame_range: tuple[float, float] = (0.0, 1.0),
               sequences: Optional[Sequence[str]] = None) -> RecordSource:
    """Read MOTChallenge training sequences under ``root`` (each ``<seq>/img1``, ``gt/gt.txt``).

    Following the original's conversion, rows with consider flag 0 or (known) visibility
    below ``min_visibility`` are left out; ``class_map`` (default
    :func:`default_mot_class_map`) maps MOT classes to ours (negative: ignore region); rows
    of unknown class (-1, MOT15) count as MOT pedestrians. ``frame_range`` selects a fraction
    of every sequence, e.g. ``(0, 0.5)`` for the first half; ``sequences`` names the ones to
    read (default: all with ground truth).

    Raises:
        DatasetError: no sequence with ground truth, a named one missing, or a sequence
            that is not what it claims (see
            :func:`~centertrack_ros.datasets.mot_sequence.open_mot_sequence`).

    """
    mapping = dict(class_map) if class_map is not None else default_mot_class_map(class_names)
    records = []
    for seq_dir in find_mot_sequences(root, sequences):
        sequence = open_mot_sequence(seq_dir)
        by_frame: dict[int, list[Annotation]] = defaultdict(list)
        for row in sequence.ground_truth() or ():
            if not row.consider or (0 <= row.visibility < min_visibility):
                continue
            cls = mapping.get(MOT_PEDESTRIAN if row.class_id == -1 else row.class_id)
            if cls is None:
                continue
            by_frame[row.frame].append(Annotation(row.tlbr(), cls, row.track_id))
        for index in _fraction_range(len(sequence), frame_range):
            frame = index + 1
            records.append(FrameRecord(seq_dir.name, frame, str(sequence.images[index]),
                                       tuple(by_frame.get(frame, ()))))
    return RecordSource(records, str(root))


def kitti_source(root: str | os.PathLike[str], class_names: Sequence[str],
                 aliases: Optional[Mapping[str, str]] = None,
                 ignored_types: Optional[Mapping[str, str]] = None,
                 frame_range: tuple[float, float] = (0.0, 1.0),
                 sequences: Optional[Sequence[str]] = None) -> RecordSource:
    """Read KITTI-tracking training data (``image_02/<seq>/*.png``, ``label_02/<seq>.txt``).

    Label types match ``class_names`` case-insensitively (after ``aliases``). As in the
    original's KITTI set-up, ``ignored_types`` (default ``Van``/``Truck`` -> car and
    ``Person_sitting`` -> pedestrian, where those classes exist) become ignore regions of that
    class and ``DontCare`` an ignore region of every class; other types are dropped. Every
    labelled sequence is read unless ``sequences`` names some.

    Raises:
        DatasetError: no label files, a named sequence without labels, a labelled sequence
            without images, or a malformed label line.

    """
    lookup = _class_lookup(class_names)
    alias = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
    if ignored_types is None:
        ignored_types = {'van': 'car', 'truck': 'car', 'person_sitting': 'pedestrian'}
    ignored = {k.lower(): lookup[v.lower()] for k, v in ignored_types.items()
               if v.lower() in lookup}
    names = labelled_kitti_sequences(root)
    if sequences:
        missing = sorted(set(sequences) - set(names))
        if missing:
            raise DatasetError(f'{root}: no KITTI-tracking labels for {", ".join(missing)} '
                               f'(labelled: {", ".join(names)})')
        names = [n for n in names if n in set(sequences)]
    records = []
    for name in names:
        sequence = open_kitti_sequence(root, name, require_labels=True)
        by_frame: dict[int, list[Annotation]] = defaultdict(list)
        for lab in sequence.labels(keep_dontcare=True) or ():
            kind = lab.type.lower()
            kind = alias.get(kind, kind)
            box = (lab.x1, lab.y1, lab.x2, lab.y2)
            if kind == 'dontcare':
                by_frame[lab.frame].append(Annotation(box, 0))
            elif kind in lookup:
                by_frame[lab.frame].append(Annotation(box, lookup[kind], lab.track_id))
            elif kind in ignored:
                by_frame[lab.frame].append(Annotation(box, -ignored[kind], lab.track_id))
        frames = sorted(zip(sequence.frame_ids(), sequence.images))
        for index in _fraction_range(len(frames), frame_range):
            frame, image = frames[index]
            records.append(FrameRecord(name, frame, str(image), tuple(by_frame.get(frame, ()))))
    return RecordSource(records, str(root))


def coco_video_source(annotation_file: str | os.PathLike[str],
                      image_root: str | os.PathLike[str], class_names: Sequence[str],
                      category_map: Optional[Mapping[int, int]] = None) -> RecordSource:
    """Read a COCO-style JSON with video fields (the original's training format).

    Images may carry ``video_id`` and ``frame_id``; annotations ``track_id``. Images without a
    video are still images (each its own video, its objects given distinct identities), which
    the dataset pairs with a shifted/scaled copy of themselves. Categories map to our classes
    by name (case-insensitive; a single category to a single class regardless) unless
    ``category_map`` (category id -> our class id; negative: ignore region) is given.
    ``iscrowd`` annotations, and those with category ``-k`` (the original's marking of ignored
    objects of category ``k``), become ignore regions of their class.

    Raises:
        DatasetError: the file is not what it claims (see
            :func:`~centertrack_ros.datasets.coco.read_coco_video`), or no category matches
            the classes.

    """
    coco = read_coco_video(annotation_file)
    if category_map is None:
        lookup = _class_lookup(class_names)
        category_map = {c.id: lookup[c.name.lower()] for c in coco.categories
                        if c.name.lower() in lookup}
        if not category_map and len(coco.categories) == 1 and len(class_names) == 1:
            # One class on each side (e.g. the original's MOT files name it 'pedestrain').
            category_map = {coco.categories[0].id: 1}
    if not category_map:
        names = [c.name for c in coco.categories]
        raise DatasetError(f'{coco.path}: no category ({names}) matches the classes '
                           f'{list(class_names)}; give a category map')
    by_image = coco.by_image()
    records = []
    for image in coco.images:
        still = image.video_id is None
        annotations = []
        for k, ann in enumerate(by_image.get(image.id, ())):
            category = ann.category_id
            if category < 0 and -category in category_map:
                # The original marks ignored objects of category k with id -k (MOT's files).
                cls = -abs(category_map[-category])
            else:
                cls = category_map.get(category, SKIP_CLASS)
            if cls == SKIP_CLASS:
                continue
            if ann.iscrowd:
                cls = -abs(cls)
            track = (-1 if ann.track_id is None else ann.track_id) if not still else k + 1
            annotations.append(Annotation(ann.tlbr(), cls, track))
        records.append(FrameRecord(
            f'image-{image.id}' if still else f'video-{image.video_id}',
            1 if still else (1 if image.frame_id is None else image.frame_id),
            str(Path(image_root) / image.file_name), tuple(annotations)))
    return RecordSource(records, str(coco.path))


# --------------------------------------------------------------------------------------------
# The training sample


@dataclass(frozen=True)
class SampleConfig:
    """How a training sample is built from a frame and its partner.

    Attributes:
        input: network input size (training crops may be smaller than the inference input)
            and the normalisation.
        num_classes: heatmap channels.
        view_scale: side of the viewed image square relative to the image's longer side,
            before augmentation. 1 shows the whole image (the original); training on an input
            smaller than the inference input with ``train_width / inference_width`` keeps
            objects at their inference size in pixels.
        max_frame_dist: the partner frame is less than this many frames away.
        max_objs: regression slots per sample.
        ltrb_amodal: also build the amodal box targets.
        pre_hm: render the prior heatmap (otherwise an all-zero one).

    """

    input: InputConfig
    num_classes: int
    view_scale: float = 1.0
    max_frame_dist: int = 3
    max_objs: int = 128
    ltrb_amodal: bool = False
    pre_hm: bool = True
    augment: AugmentConfig = AugmentConfig()
    disturbance: Disturbance = Disturbance()

    def __post_init__(self) -> None:
        if self.max_frame_dist < 1:
            raise ValueError(f'max_frame_dist must be >= 1, got {self.max_frame_dist}')
        if not self.view_scale > 0:
            raise ValueError(f'view_scale must be > 0, got {self.view_scale}')


class TrackingDataset(Dataset):
    """CenterTrack training samples: current frame, partner frame, prior heatmap, targets.

    Each item is a dict of tensors: ``image`` and ``pre_img`` (``3 x H x W``), ``pre_hm``
    (``1 x H x W``) and the targets of :func:`~centertrack_ros.training.targets.build_targets`.
    Randomness comes from ``numpy.random.default_rng((seed, epoch, index))``, so an item is
    reproducible and independent of the DataLoader's worker layout; call
    :meth:`set_epoch` to draw new augmentations.
    """

    def __init__(self, source: FrameSource, config: SampleConfig, seed: int = 0,
                 train: bool = True) -> None:
        self.source = source
        self.config = config
        self.seed = int(seed)
        self.train = train
        self.epoch = 0
        self._mean = np.asarray(config.input.mean, dtype=np.float32).reshape(1, 1, 3)
        self._std = np.asarray(config.input.std, dtype=np.float32).reshape(1, 1, 3)

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch."""
        self.epoch = int(epoch)

    def _input(self, image: np.ndarray, trans: np.ndarray, rng: np.random.Generator
               ) -> np.ndarray:
        size = (self.config.input.width, self.config.input.height)
        warped = warp(image, trans, size).astype(np.float32) / 255.0
        if self.train and self.config.augment.color:
            color_augment(warped, rng)
        return normalise(warped, self._mean, self._std)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        cfg, aug = self.config, self.config.augment
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        image, annotations = self.source.load(index)
        height, width = image.shape[:2]
        in_size = (cfg.input.width, cfg.input.height)
        out_size = (cfg.input.output_width, cfg.input.output_height)
        center = np.array([width / 2.0, height / 2.0], dtype=np.float32)
        size = max(width, height) * cfg.view_scale
        flipped = False
        if self.train:
            center, factor = random_view(center, size, width, height, aug, rng)
            size *= factor
            flipped = rng.random() < aug.flip
        if flipped:
            image = image[:, ::-1]
            annotations = [a.flipped(width) for a in annotations]
        trans_input, trans_output = view_transforms(center, size, in_size, out_size)
        sample = {'image': self._input(image, trans_input, rng)}

        partners = self.source.neighbours(index, cfg.max_frame_dist) if self.train else [index]
        partner = int(partners[rng.integers(len(partners))])
        if partner == index:
            pre_image, pre_annotations = image, annotations
        else:
            pre_image, pre_annotations = self.source.load(partner)
            if flipped:
                pre_image = pre_image[:, ::-1]
                pre_annotations = [a.flipped(width) for a in pre_annotations]
        if (aug.same_aug_pre and partner != index) or not self.train:
            trans_input_pre = trans_input
        else:
            pre_center, pre_factor = random_view(center, size, width, height, aug, rng,
                                                 jitter_only=True)
            trans_input_pre, _ = view_transforms(pre_center, size * pre_factor, in_size,
                                                 out_size)
        sample['pre_img'] = self._input(pre_image, trans_input_pre, rng)
        pre_hm, pre_centres = render_prior(
            pre_annotations, trans_input_pre, cfg.input.width, cfg.input.height,
            cfg.num_classes, cfg.disturbance if self.train else Disturbance(), rng)
        sample['pre_hm'] = pre_hm if cfg.pre_hm else np.zeros_like(pre_hm)
        sample.update(build_targets(annotations, trans_output, out_size[0], out_size[1],
                                    cfg.num_classes, cfg.max_objs, pre_centres,
                                    cfg.ltrb_amodal))
        return {name: torch.from_numpy(np.ascontiguousarray(value))
                for name, value in sample.items()}


def synthetic_seeds(first: int, count: int) -> list[int]:
    """``count`` consecutive sequence seeds from ``first`` (training and held-out ranges)."""
    return list(range(int(first), int(first) + int(count)))

