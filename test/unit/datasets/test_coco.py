"""COCO-json annotations with video fields: reading, and files whose references are broken."""

import json

import pytest
from support.dataset_files import read_error

from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets.coco import (
    CocoAnnotation,
    CocoCategory,
    CocoImage,
    read_coco_video,
)


def _data():
    return {
        'images': [{'id': 1, 'file_name': 'v/1.jpg', 'video_id': 4, 'frame_id': 1},
                   {'id': 2, 'file_name': 'v/2.jpg', 'video_id': 4, 'frame_id': 2},
                   {'id': 9, 'file_name': 'still.jpg'}],
        'annotations': [
            {'id': 1, 'image_id': 2, 'bbox': [1, 2, 10, 20], 'category_id': 1, 'track_id': 5},
            {'id': 2, 'image_id': 9, 'bbox': [0.5, 0, 3, 4], 'category_id': 2, 'iscrowd': 1},
            {'id': 3, 'image_id': 2, 'bbox': [5, 5, 1, 1], 'category_id': -1, 'track_id': 6},
        ],
        'categories': [{'id': 1, 'name': 'pedestrian'}, {'id': 2, 'name': 'car'}],
    }


def _write(tmp_path, data):
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(data))
    return path


def test_reads_images_annotations_and_categories(tmp_path):
    coco = read_coco_video(_write(tmp_path, _data()))
    assert coco.images == (CocoImage(1, 'v/1.jpg', 4, 1), CocoImage(2, 'v/2.jpg', 4, 2),
                           CocoImage(9, 'still.jpg'))
    assert coco.categories == (CocoCategory(1, 'pedestrian'), CocoCategory(2, 'car'))
    by_image = coco.by_image()
    assert sorted(by_image) == [2, 9]
    assert by_image[2][0] == CocoAnnotation(2, 1, (1.0, 2.0, 10.0, 20.0), 5, False)
    assert by_image[2][0].tlbr() == (1.0, 2.0, 11.0, 22.0)
    assert by_image[2][1].category_id == -1  # the original's "ignored pedestrian"
    assert by_image[9] == [CocoAnnotation(9, 2, (0.5, 0.0, 3.0, 4.0), None, True)]


def _broken(change):
    data = _data()
    change(data)
    return data


@pytest.mark.parametrize('change, message', [
    (lambda d: d['annotations'][1].update(image_id=7),
     r'annotations\[1\] refers to image 7, which is not in images'),
    (lambda d: d['annotations'][0].update(category_id=3),
     r'annotations\[0\] refers to category 3, which is not in categories \(1, 2\)'),
    (lambda d: d['images'].append({'id': 2, 'file_name': 'x.jpg'}),
     r'images\[3\]: image id 2 is already used by images\[1\]'),
    (lambda d: d['categories'].append({'id': 1, 'name': 'again'}),
     r'categories\[2\]: category id 1 is defined twice'),
    (lambda d: d['images'][0].pop('file_name'), r'images\[0\] has no file_name'),
    (lambda d: d['annotations'][2].pop('image_id'), r"annotations\[2\] has no 'image_id'"),
    (lambda d: d['annotations'][0].update(bbox=[1, 2, 3]), 'bbox must be 4 finite numbers'),
    (lambda d: d['annotations'][0].update(bbox=[1, 2, -3, 4]), 'negative box size'),
    (lambda d: d['images'][0].update(frame_id='one'), 'frame_id must be an integer'),
    (lambda d: d.pop('annotations'), "no 'annotations' list"),
    (lambda d: d.update(images={}), "no 'images' list"),
])
def test_broken_files_name_the_entry(tmp_path, change, message):
    path = tmp_path / 'train.json'
    assert str(path) in read_error(read_coco_video, path, json.dumps(_broken(change)), message)


def test_categories_are_checked_only_where_the_file_lists_them(tmp_path):
    data = _data()
    del data['categories']
    data['annotations'][0]['category_id'] = 42
    assert read_coco_video(_write(tmp_path, data)).annotations[0].category_id == 42


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / 'train.json'
    path.write_text('{"images": [')
    with pytest.raises(DatasetError, match='cannot read COCO annotations'):
        read_coco_video(path)
    path.write_text('[1, 2]')
    with pytest.raises(DatasetError, match='is not COCO annotations'):
        read_coco_video(path)
    with pytest.raises(DatasetError, match='cannot read COCO annotations'):
        read_coco_video(tmp_path / 'missing.json')
