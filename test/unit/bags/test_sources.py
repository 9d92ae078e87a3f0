"""``centertrack_bag convert`` on dataset folders that are not what they claim: one line, status 2.

The folders are read by :mod:`centertrack_ros.datasets`, whose ``DatasetError`` the bag tool
must still report as its own one-line error (exit status 2), also when an image turns out
unreadable in the middle of a conversion.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from support.bags import error_of

from centertrack_ros.bags.sources import open_source


def _images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        assert cv2.imwrite(str(folder / name), np.zeros((16, 24, 3), np.uint8))


def test_a_folder_that_is_not_a_mot_sequence(tmp_path, capsys):
    _images(tmp_path / 'pictures', ['1.png'])
    message = error_of(capsys, 'convert', tmp_path / 'pictures', '--kind', 'mot', '-o',
                       tmp_path / 'out')
    assert message.startswith('centertrack_bag convert: error: ')
    assert f'{tmp_path / "pictures"} is not a MOTChallenge sequence' in message
    assert not (tmp_path / 'out').exists()


def test_a_bad_seqinfo(tmp_path, capsys):
    seq = tmp_path / 'MOT17-02'
    _images(seq / 'img1', ['000001.jpg'])
    (seq / 'seqinfo.ini').write_text('[Sequence]\nframeRate=fast\n')
    message = error_of(capsys, 'convert', seq, '-o', tmp_path / 'out')
    assert f'{seq / "seqinfo.ini"}: frameRate is not a number' in message


def test_a_kitti_root_without_the_sequence(tmp_path, capsys):
    root = tmp_path / 'training'
    _images(root / 'image_02' / '0000', ['000000.png'])
    _images(root / 'image_02' / '0001', ['000000.png'])
    message = error_of(capsys, 'convert', root, '--sequence', '0009', '-o', tmp_path / 'out')
    assert "has no sequence '0009' (image_02/0009/); it has 0000, 0001" in message
    assert 'choose one with --sequence' in error_of(capsys, 'convert', root, '-o',
                                                    tmp_path / 'out')


def test_bad_kitti_labels(tmp_path, capsys):
    root = tmp_path / 'training'
    _images(root / 'image_02' / '0000', ['000000.png'])
    (root / 'label_02').mkdir()
    (root / 'label_02' / '0000.txt').write_text('0 1 Car 0 0\n')
    message = error_of(capsys, 'convert', root, '-o', tmp_path / 'out')
    assert f'bad ground-truth file: {root / "label_02" / "0000.txt"}:1: expected 10' in message


def test_an_unreadable_image_mid_conversion(tmp_path, capsys):
    _images(tmp_path / 'frames', ['1.png'])
    (tmp_path / 'frames' / '2.png').write_bytes(b'not a png')
    message = error_of(capsys, 'convert', tmp_path / 'frames', '--fps', 5, '-o',
                       tmp_path / 'out', '-q')
    assert f'cannot read image {tmp_path / "frames" / "2.png"}' in message


def test_kitti_dontcare_regions_are_ignored_truth_with_distinct_ids(tmp_path):
    root = tmp_path / 'training'
    _images(root / 'image_02' / '0000', ['000000.png'])
    (root / 'label_02').mkdir()
    (root / 'label_02' / '0000.txt').write_text(
        '0 -1 DontCare -1 -1 -10 1 1 5 5 -1 -1 -1 -1000 -1000 -1000 -10\n'
        '0 3 Car 0 0 -1.5 10 10 50 40 1.5 1.6 4.0 1 2 20 0.1\n'
        '0 -1 DontCare -1 -1 -10 9 9 20 20 -1 -1 -1 -1000 -1000 -1000 -10\n')
    source = open_source(root)
    assert (source.kind, source.name, source.fps) == ('kitti', 'kitti_0000', 10.0)
    assert sorted((r.track_id, r.class_id, r.score) for r in source.gt[1]) == [
        (-2, -1, 0.0), (-1, -1, 0.0), (3, 1, 1.0)]
