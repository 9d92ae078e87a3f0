"""Training data: MOT/KITTI/COCO-json readers on tiny fixtures, the synthetic source, samples."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centertrack_ros.core.config import InputConfig
from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets import mot_sequence
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.training.datasets import (
    ConcatSource,
    SampleConfig,
    SyntheticSource,
    TrackingDataset,
    coco_video_source,
    default_mot_class_map,
    kitti_source,
    mot_source,
)
from centertrack_ros.training.targets import Disturbance

CLASSES = ('car', 'pedestrian')


def _write_images(folder: Path, names, width=64, height=48):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        image = np.full((height, width, 3), 40 * k % 255, dtype=np.uint8)
        assert cv2.imwrite(str(folder / name), image)


@pytest.fixture
def mot_root(tmp_path):
    seq = tmp_path / 'MOT17-02-FRCNN'
    _write_images(seq / 'img1', [f'{i:06d}.jpg' for i in range(1, 5)])
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\n'
                                     'frameRate=30\nseqLength=4\nimWidth=64\nimHeight=48\n'
                                     'imExt=.jpg\n')
    (seq / 'gt').mkdir()
    (seq / 'gt' / 'gt.txt').write_text('\n'.join([
        '1,1,10,10,8,20,1,1,1.0',      # pedestrian
        '1,2,30,5,10,10,1,3,0.9',      # car
        '1,3,40,10,8,20,1,7,1.0',      # static person -> ignore region of pedestrians
        '2,1,11,10,8,20,1,1,0.1',      # too occluded: dropped
        '2,4,20,10,8,20,0,1,1.0',      # consider flag 0: dropped
        '3,1,12,10,8,20,1,1,1.0',
        '3,5,1,1,5,5,1,10,1.0',        # occluder on the ground: not a class we train
        '4,1,13,10,8,20,1,1,1.0',
    ]) + '\n')
    return tmp_path


def test_mot_class_map_follows_the_model_classes():
    assert default_mot_class_map(CLASSES) == {1: 2, 2: -2, 7: -2, 8: -2, 12: -2, 3: 1}
    assert default_mot_class_map(('person',)) == {1: 1, 2: -1, 7: -1, 8: -1, 12: -1}
    assert default_mot_class_map(('thing',)) == {1: 1, 2: -1, 7: -1, 8: -1, 12: -1}


def test_mot_reader(mot_root):
    source = mot_source(mot_root, CLASSES)
    assert len(source) == 4 and source.num_videos == 1
    image, anns = source.load(0)
    assert image.shape == (48, 64, 3)
    assert sorted((a.class_id, a.track_id) for a in anns) == [(-2, 3), (1, 2), (2, 1)]
    ped = next(a for a in anns if a.track_id == 1)
    assert ped.bbox == (10, 10, 18, 30)
    assert source.load(1)[1] == []
    assert [a.track_id for a in source.load(2)[1]] == [1]
    assert source.locate(3) == ('MOT17-02-FRCNN', 4)
    assert source.neighbours(0, 3) == [0, 1, 2]
    assert source.neighbours(2, 2) == [1, 2, 3]
    half = mot_source(mot_root, CLASSES, frame_range=(0.5, 1.0))
    assert [half.locate(i)[1] for i in range(len(half))] == [3, 4]


def test_mot_reader_errors(tmp_path):
    with pytest.raises(DatasetError, match='no MOTChallenge sequences'):
        mot_source(tmp_path, CLASSES)


def test_mot_reader_reads_seqinfo_once_and_follows_it(mot_root, monkeypatch):
    seq = mot_root / 'MOT17-02-FRCNN'
    (seq / 'img1').rename(seq / 'frames')
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=MOT17-02-FRCNN\nimDir=frames\n'
                                     'seqLength=3\nimExt=.jpg\n')
    _write_images(seq / 'frames', ['cover.png'])  # another suffix: not a frame
    calls = []
    real = mot_sequence.read_seqinfo
    monkeypatch.setattr(mot_sequence, 'read_seqinfo', lambda p: calls.append(p) or real(p))
    source = mot_source(mot_root, CLASSES)
    assert calls == [seq / 'seqinfo.ini']
    assert [Path(r.image_path).relative_to(seq).as_posix() for r in source.records] == [
        'frames/000001.jpg', 'frames/000002.jpg', 'frames/000003.jpg']
    with pytest.raises(DatasetError, match='no MOTChallenge sequence MOT17-04'):
        mot_source(mot_root, CLASSES, sequences=['MOT17-04'])


@pytest.fixture
def kitti_root(tmp_path):
    _write_images(tmp_path / 'image_02' / '0003', [f'{i:06d}.png' for i in range(3)])
    (tmp_path / 'label_02').mkdir()
    rows = [
        '0 1 Car 0 0 -1 10 10 30 20 -1 -1 -1 -1000 -1000 -1000 -10',
        '0 2 Pedestrian 0 0 -1 40 5 46 25 -1 -1 -1 -1000 -1000 -1000 -10',
        '0 3 Van 0 0 -1 5 30 20 40 -1 -1 -1 -1000 -1000 -1000 -10',
        '0 -1 DontCare -1 -1 -10 50 30 60 40 -1 -1 -1 -1000 -1000 -1000 -10',
        '1 1 Car 0 0 -1 11 10 31 20 -1 -1 -1 -1000 -1000 -1000 -10',
        '1 4 Tram 0 0 -1 0 0 10 10 -1 -1 -1 -1000 -1000 -1000 -10',
        '2 5 Person_sitting 0 0 -1 0 0 10 10 -1 -1 -1 -1000 -1000 -1000 -10',
    ]
    (tmp_path / 'label_02' / '0003.txt').write_text('\n'.join(rows) + '\n')
    return tmp_path


def test_kitti_reader(kitti_root):
    source = kitti_source(kitti_root, CLASSES)
    assert len(source) == 3
    image, anns = source.load(0)
    assert image.shape == (48, 64, 3)
    assert sorted((a.class_id, a.track_id) for a in anns) == [(-1, 3), (0, -1), (1, 1), (2, 2)]
    assert [(a.class_id, a.bbox) for a in source.load(1)[1]] == [(1, (11, 10, 31, 20))]
    assert [a.class_id for a in source.load(2)[1]] == [-2]
    assert source.locate(2) == ('0003', 2)
    with pytest.raises(DatasetError, match='KITTI'):
        kitti_source(kitti_root / 'image_02', CLASSES)
    with pytest.raises(DatasetError, match='no KITTI-tracking labels for 0004'):
        kitti_source(kitti_root, CLASSES, sequences=['0004'])
    (kitti_root / 'label_02' / '0005.txt').write_text('')
    with pytest.raises(DatasetError, match="has no sequence '0005'"):
        kitti_source(kitti_root, CLASSES)


def test_coco_video_reader(tmp_path):
    _write_images(tmp_path / 'images', ['a.jpg', 'b.jpg', 'c.jpg'])
    data = {
        'images': [{'id': 1, 'file_name': 'a.jpg', 'video_id': 1, 'frame_id': 1},
                   {'id': 2, 'file_name': 'b.jpg', 'video_id': 1, 'frame_id': 2},
                   {'id': 3, 'file_name': 'c.jpg'}],
        'annotations': [
            {'id': 1, 'image_id': 1, 'bbox': [1, 2, 10, 20], 'category_id': 7, 'track_id': 5},
            {'id': 2, 'image_id': 2, 'bbox': [2, 2, 10, 20], 'category_id': 7, 'track_id': 5},
            {'id': 3, 'image_id': 2, 'bbox': [30, 2, 10, 10], 'category_id': 3, 'track_id': 6,
             'iscrowd': 1},
            {'id': 4, 'image_id': 3, 'bbox': [5, 5, 10, 10], 'category_id': 3},
            {'id': 5, 'image_id': 3, 'bbox': [20, 5, 10, 10], 'category_id': 3},
            {'id': 6, 'image_id': 3, 'bbox': [20, 5, 10, 10], 'category_id': 99},
        ],
        'categories': [{'id': 7, 'name': 'Pedestrian'}, {'id': 3, 'name': 'car'},
                       {'id': 99, 'name': 'boat'}],
    }
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(data))
    source = coco_video_source(path, tmp_path / 'images', CLASSES)
    assert len(source) == 3 and source.num_videos == 2
    assert [(a.class_id, a.track_id, a.bbox) for a in source.load(0)[1]] == [
        (2, 5, (1, 2, 11, 22))]
    assert sorted(a.class_id for a in source.load(1)[1]) == [-1, 2]
    still = source.load(2)[1]
    assert [a.class_id for a in still] == [1, 1]
    assert len({a.track_id for a in still}) == 2  # distinct identities for a still image
    assert source.neighbours(2, 3) == [2]
    assert source.neighbours(0, 3) == [0, 1]
    explicit = coco_video_source(path, tmp_path / 'images', CLASSES, category_map={99: 1})
    assert [a.class_id for a in explicit.load(2)[1]] == [1]


def test_coco_reader_with_the_original_mot_conventions(tmp_path):
    _write_images(tmp_path, ['a.jpg'])
    data = {'images': [{'id': 1, 'file_name': 'a.jpg', 'video_id': 1, 'frame_id': 1}],
            'annotations': [
                {'image_id': 1, 'bbox': [1, 2, 10, 20], 'category_id': 1, 'track_id': 3},
                {'image_id': 1, 'bbox': [20, 2, 10, 20], 'category_id': -1, 'track_id': 4}],
            'categories': [{'id': 1, 'name': 'pedestrain'}]}
    path = tmp_path / 'mot.json'
    path.write_text(json.dumps(data))
    source = coco_video_source(path, tmp_path, ('pedestrian',))
    assert [(a.class_id, a.track_id) for a in source.load(0)[1]] == [(1, 3), (-1, 4)]
    with pytest.raises(DatasetError, match='no category'):
        coco_video_source(path, tmp_path, CLASSES)
    data['annotations'][0]['image_id'] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r'annotations\[0\] refers to image 2'):
        coco_video_source(path, tmp_path, ('pedestrian',))


def test_synthetic_source_matches_the_generator():
    scene = SceneConfig(num_frames=12)
    source = SyntheticSource(scene, [10001, 10002], cache_size=1)
    assert len(source) == 24
    image, anns = source.load(12 + 5)
    reference_image, objects = generate_sequence(SceneConfig(num_frames=12, seed=10002)).frame(5)
    assert np.array_equal(image, reference_image)
    assert len(anns) == len(objects) and objects
    for ann, obj in zip(anns, objects):
        assert ann.track_id == obj.track_id
        assert ann.class_id == (obj.class_id if obj.consider else -obj.class_id)
        assert ann.bbox == (obj.x1, obj.y1, obj.x2, obj.y2)
    assert source.locate(17) == ('synthetic-10002', 5)
    assert source.neighbours(12, 3) == [12, 13, 14]
    assert source.neighbours(23, 2) == [22, 23]
    concat = ConcatSource([source, SyntheticSource(scene, [10003])])
    assert len(concat) == 36 and concat.neighbours(25, 2) == [24, 25, 26]
    assert concat.locate(30)[0].startswith('1:')


def _dataset(**changes):
    scene = SceneConfig(num_frames=10)
    config = SampleConfig(input=InputConfig(width=128, height=96), num_classes=2,
                          view_scale=0.4, disturbance=Disturbance(0.05, 0.4, 0.1), **changes)
    return TrackingDataset(SyntheticSource(scene, [10001, 10002]), config, seed=5)


def test_samples_have_consistent_shapes_and_ranges():
    dataset = _dataset()
    sample = dataset[3]
    assert sample['image'].shape == (3, 96, 128) and sample['pre_img'].shape == (3, 96, 128)
    assert sample['pre_hm'].shape == (1, 96, 128)
    assert sample['hm'].shape == (2, 24, 32)
    assert sample['image'].dtype == torch.float32 and sample['ind'].dtype == torch.int64
    assert 0 <= float(sample['pre_hm'].min()) and float(sample['pre_hm'].max()) <= 1
    assert 0 <= float(sample['hm'].min()) and float(sample['hm'].max()) <= 1
    assert int(sample['ind'].max()) < 24 * 32
    valid = sample['mask'] > 0
    assert torch.all(sample['wh'][valid] > 0)
    assert torch.all((sample['reg'][valid] >= 0) & (sample['reg'][valid] < 1))


def test_samples_are_reproducible_per_epoch():
    dataset = _dataset()
    a, b = dataset[4], dataset[4]
    assert all(torch.equal(a[k], b[k]) for k in a)
    dataset.set_epoch(1)
    c = dataset[4]
    assert not torch.equal(a['image'], c['image'])


def test_partner_frames_stay_within_max_frame_dist():
    dataset = _dataset(max_frame_dist=2)
    for index in range(20):
        partners = dataset.source.neighbours(index, 2)
        frame = index % 10
        assert all(abs(p % 10 - frame) < 2 and p // 10 == index // 10 for p in partners)


def test_evaluation_mode_uses_the_frame_itself_without_disturbance():
    dataset = _dataset()
    dataset.train = False
    sample = dataset[3]
    assert torch.equal(sample['image'], sample['pre_img'])
    # Without disturbance an object's tracking target is (its own centre - peak cell), i.e. the
    # sub-cell offset -- up to half a cell for boxes cut by the border, which (as in the
    # original) are clipped to the last input pixel for the prior but to the last output cell
    # for the targets.
    valid = sample['tracking_mask'][:, 0] > 0
    assert valid.sum() >= 3
    diff = (sample['tracking'][valid] - sample['reg'][valid]).abs()
    assert float(diff.max()) <= 0.5
    assert float((diff.max(dim=1).values < 1e-4).float().mean()) >= 0.5
