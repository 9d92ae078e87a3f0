"""Image files of a folder: natural order, suffixes, reading, and what is not an image."""

import cv2
import numpy as np
import pytest

from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets.folders import image_files, natural_key, read_image, read_images


def test_natural_order_and_suffixes(tmp_path):
    for name in ('frame10.jpg', 'frame2.JPG', 'frame1.png', 'readme.txt', 'frame3.webp'):
        (tmp_path / name).write_bytes(b'')
    (tmp_path / 'sub.jpg').mkdir()  # a folder named like an image is not one
    assert [p.name for p in image_files(tmp_path)] == ['frame1.png', 'frame2.JPG',
                                                        'frame3.webp', 'frame10.jpg']
    assert [p.name for p in image_files(tmp_path, '.JPG')] == ['frame2.JPG', 'frame10.jpg']
    assert sorted(['b10', 'b9', 'a'], key=natural_key) == ['a', 'b9', 'b10']


def test_not_a_folder(tmp_path):
    with pytest.raises(DatasetError, match='is not a folder of images'):
        image_files(tmp_path / 'missing')


def test_read_images_and_a_corrupt_one(tmp_path):
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert cv2.imwrite(str(tmp_path / 'a.png'), image)
    (tmp_path / 'b.png').write_bytes(b'not a png')
    np.testing.assert_array_equal(read_image(tmp_path / 'a.png'), image)
    frames = read_images([tmp_path / 'a.png', tmp_path / 'b.png'])
    np.testing.assert_array_equal(next(frames), image)
    with pytest.raises(DatasetError, match='cannot read image .*b.png'):
        next(frames)
