"""KITTI-tracking: label files, their MOT rows, and the sequences of a KITTI-tracking root."""

from pathlib import Path

import pytest
from support.dataset_files import read_error

from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets.kitti import (
    is_kitti_path,
    kitti_rows,
    kitti_sequences,
    labelled_kitti_sequences,
    open_kitti_sequence,
    read_kitti_tracking,
    split_kitti_path,
)

KITTI = """\
0 0 Car 0 0 -1.79 296.74 161.75 455.23 292.00 2.00 1.82 4.43 -4.55 1.86 13.41 -2.11
0 1 Pedestrian 0 1 -0.2 600 150 620 210 1.7 0.6 0.8 1 1.6 20 0.1
0 -1 DontCare -1 -1 -10 700 140 750 170 -1000 -1000 -1000 -10 -10 -10 -1
1 0 Van 0.2 2 -1.5 290 160 450 290 2.0 1.8 4.4 -4.5 1.8 13 -2.1
1 2 Cyclist 0 0 0.1 100 150 130 200 1.7 0.6 1.8 -6 1.6 15 0.2 0.93
"""


def test_kitti_tracking_reader_and_conversion(tmp_path):
    """KITTI labels are read, DontCare skipped or ignored, classes mapped."""
    path = tmp_path / '0000.txt'
    path.write_text(KITTI)
    labels = read_kitti_tracking(path)
    assert [lab.type for lab in labels] == ['Car', 'Pedestrian', 'Van', 'Cyclist']
    assert labels[0].dimensions == (2.0, 1.82, 4.43) and labels[0].score is None
    assert labels[3].score == pytest.approx(0.93)
    rows = kitti_rows(labels, ('car', 'pedestrian'), aliases={'Van': 'Car'})
    assert [(r.frame, r.track_id, r.class_id) for r in rows] == [(1, 0, 1), (1, 1, 2), (2, 0, 1)]
    assert rows[0].x == pytest.approx(296.74) and rows[0].w == pytest.approx(455.23 - 296.74)
    with_dc = read_kitti_tracking(path, keep_dontcare=True)
    ignored = [r for r in kitti_rows(with_dc, ('car',), dontcare_as_ignored=True)
               if not r.consider]
    assert len(ignored) == 1 and ignored[0].track_id == -1 and ignored[0].frame == 1


def test_dontcare_regions_get_distinct_ids(tmp_path):
    """Several DontCare rows of one frame are ignored rows with ids -1, -2, ... (no clash)."""
    path = tmp_path / '0001.txt'
    path.write_text('0 -1 DontCare -1 -1 -10 1 1 5 5 -1 -1 -1 -1000 -1000 -1000 -10\n'
                    '0 -1 DontCare -1 -1 -10 9 9 20 20 -1 -1 -1 -1000 -1000 -1000 -10\n')
    rows = kitti_rows(read_kitti_tracking(path, keep_dontcare=True), ('car',),
                      dontcare_as_ignored=True)
    assert [(r.frame, r.track_id, r.class_id, r.score) for r in rows] == [
        (1, -1, -1, 0.0), (1, -2, -1, 0.0)]


@pytest.mark.parametrize('line, message', [
    ('0 0 Car 0 0 -1 1 2 3', 'expected 10, 17 or 18 values'),
    ('0 0 Car 0 0 -1 1 2 x 4', 'not a number'),
    ('0 0 Car 0 0 -1 10 2 3 4', 'x2 < x1'),
    ('-1 0 Car 0 0 -1 1 2 3 4', 'negative frame'),
])
def test_kitti_malformed_lines(tmp_path, line, message):
    """Malformed KITTI lines raise DatasetError naming file and line."""
    path = tmp_path / 'bad.txt'
    assert f'{path}:6' in read_error(read_kitti_tracking, path, KITTI + line + '\n', message)


def test_missing_label_file(tmp_path):
    with pytest.raises(DatasetError, match='cannot read KITTI-tracking labels'):
        read_kitti_tracking(tmp_path / 'label_02' / '0000.txt')


@pytest.fixture
def kitti_root(tmp_path) -> Path:
    root = tmp_path / 'training'
    for seq, names in (('0000', ['000000.png', '000001.png', '000010.png', '000002.png']),
                       ('0001', ['000000.png'])):
        (root / 'image_02' / seq).mkdir(parents=True)
        for name in names:
            (root / 'image_02' / seq / name).write_bytes(b'')
    (root / 'label_02').mkdir()
    (root / 'label_02' / '0000.txt').write_text(KITTI)
    return root


def test_sequences_of_a_root(kitti_root):
    assert kitti_sequences(kitti_root) == ['0000', '0001']
    assert labelled_kitti_sequences(kitti_root) == ['0000']
    sequence = open_kitti_sequence(kitti_root, '0000', require_labels=True)
    assert [p.name for p in sequence.images] == ['000000.png', '000001.png', '000002.png',
                                                 '000010.png']
    assert sequence.frame_ids() == [0, 1, 2, 10]
    assert [lab.type for lab in sequence.labels()] == ['Car', 'Pedestrian', 'DontCare', 'Van',
                                                       'Cyclist']
    unlabelled = open_kitti_sequence(kitti_root, '0001')
    assert unlabelled.label_path is None and unlabelled.labels() is None


def test_image_folder_path_form(kitti_root):
    assert split_kitti_path(kitti_root / 'image_02' / '0001') == (kitti_root, '0001')
    assert split_kitti_path(kitti_root) == (kitti_root, None)
    assert is_kitti_path(kitti_root) and is_kitti_path(kitti_root / 'image_02' / '0001')
    assert not is_kitti_path(kitti_root / 'label_02')


def test_a_root_without_the_sequence(kitti_root):
    with pytest.raises(DatasetError, match=r"has no sequence '0007' \(image_02/0007/\); it has "
                                           '0000, 0001') as info:
        open_kitti_sequence(kitti_root, '0007')
    assert str(kitti_root) in str(info.value)
    with pytest.raises(DatasetError, match=r'sequence 0001 of .* has no labels '
                                           r'\(label_02/0001.txt\)'):
        open_kitti_sequence(kitti_root, '0001', require_labels=True)


def test_a_folder_that_is_not_a_kitti_root(tmp_path):
    with pytest.raises(DatasetError, match='is not a KITTI-tracking root: it has no image_02/'):
        open_kitti_sequence(tmp_path, '0000')
    with pytest.raises(DatasetError, match=r'no KITTI-tracking labels \(label_02/<seq>.txt\)'):
        labelled_kitti_sequences(tmp_path)


def test_frames_must_be_named_by_number(kitti_root):
    (kitti_root / 'image_02' / '0001' / 'cover.png').write_bytes(b'')
    sequence = open_kitti_sequence(kitti_root, '0001')
    with pytest.raises(DatasetError, match='cover.png: KITTI-tracking frames are named by'):
        sequence.frame_ids()
