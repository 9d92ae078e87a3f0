"""``convert --synthetic SEED --frames N --drive-frames L``: the first N frames of one drive."""

from __future__ import annotations

import numpy as np
from support.bags import START_TIME, cli, error_of

from centertrack_ros.bags.io import BagReader
from centertrack_ros.synthetic import SceneConfig, generate_sequence


def frames_of(bag_path):
    """Return (image bytes, ground-truth ids and boxes) per frame of a converted bag."""
    with BagReader(bag_path) as bag:
        images = [bytes(m.data) for _, _, m in bag.messages(['/camera/image_raw'])]
        truth = [[(d.id, round(d.bbox.center.position.x, 3), round(d.bbox.size_x, 3))
                  for d in m.detections] for _, _, m in bag.messages(['/ground_truth'])]
    return images, truth


def convert(path, *args):
    assert cli('convert', '--synthetic', 7, '-o', path, '--start-time', START_TIME, '-q',
               *args) == 0
    return frames_of(path)


def test_the_first_frames_of_a_longer_drive(tmp_path):
    whole_images, whole_truth = convert(tmp_path / 'whole', '--frames', 12)
    images, truth = convert(tmp_path / 'first', '--frames', 5, '--drive-frames', 12)
    assert images == whole_images[:5] and truth == whole_truth[:5]
    # The frames are the drive's, as the demo and evaluation generate it.
    drive = generate_sequence(SceneConfig(seed=7, num_frames=12))
    with BagReader(tmp_path / 'first') as bag:
        first = next(m for _, _, m in bag.messages(['/camera/image_raw']))
    assert np.array_equal(np.frombuffer(first.data, np.uint8).reshape(drive.image(0).shape),
                          drive.image(0))
    # Documented: the length is part of the drive's recipe, so --frames alone is another drive.
    other_images, _ = convert(tmp_path / 'other', '--frames', 5)
    assert other_images != images


def test_drive_frames_errors(tmp_path, capsys):
    assert 'more than the 5 frames' in error_of(
        capsys, 'convert', '--synthetic', 7, '--frames', 6, '--drive-frames', 5,
        '-o', tmp_path / 'x')
    assert '--synthetic only' in error_of(capsys, 'convert', tmp_path, '--drive-frames', 5,
                                          '-o', tmp_path / 'y')
