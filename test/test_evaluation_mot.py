"""Tests of MOTChallenge / KITTI-tracking reading and writing."""

import pytest

from centertrack_ros.evaluation.mot import (
    MotRow,
    kitti_rows,
    parse_mot_line,
    read_kitti_tracking,
    read_mot,
    rows_by_frame,
    write_mot,
    write_seqinfo,
)


def test_round_trip_keeps_every_field(tmp_path):
    """Writing then reading gives the same rows, sorted."""
    rows = [
        MotRow(2, 5, 10.5, 20.25, 30.125, 40.0, 1.0, 2, 0.75),
        MotRow(1, 3, 0.0, 1.0, 2.0, 3.0, 0.0, 1, 1.0),
        MotRow(1, 1, 100.333, 7.0, 8.5, 9.5, 0.875, -1, -1.0),
    ]
    path = tmp_path / 'sub' / 'gt.txt'
    write_mot(path, rows)
    back = read_mot(path)
    assert back == sorted(rows, key=lambda r: (r.frame, r.track_id))
    assert path.read_text().splitlines()[0] == '1,1,100.333,7,8.5,9.5,0.875,-1,-1'


def test_mot15_result_layout(tmp_path):
    """The 10-column result layout writes -1 world coordinates and reads back."""
    path = tmp_path / 'res.txt'
    write_mot(path, [MotRow(1, 4, 1.5, 2.0, 3.0, 4.0, 0.9, 2, 0.5)], mot15_result=True)
    assert path.read_text() == '1,4,1.5,2,3,4,0.9,-1,-1,-1\n'
    (row,) = read_mot(path)
    assert row == MotRow(1, 4, 1.5, 2.0, 3.0, 4.0, 0.9, -1, -1.0)


def test_column_variants_whitespace_and_comments(tmp_path):
    """All column variants, whitespace separators and comments are read."""
    path = tmp_path / 'mixed.txt'
    path.write_text('# a comment\n'
                    '\n'
                    '1,1,10,20,30,40\n'
                    '1, 2, 10, 20, 30, 40, 0.5\n'
                    '2,1,10,20,30,40,1,7\n'
                    '2 2 10 20 30 40 1 1 0.3\n'
                    '3,1.0,10,20,30,40,0.8,-1,-1,-1\n')
    rows = read_mot(path)
    assert rows == [
        MotRow(1, 1, 10, 20, 30, 40, 1.0, -1, -1.0),
        MotRow(1, 2, 10, 20, 30, 40, 0.5, -1, -1.0),
        MotRow(2, 1, 10, 20, 30, 40, 1.0, 7, -1.0),
        MotRow(2, 2, 10, 20, 30, 40, 1.0, 1, 0.3),
        MotRow(3, 1, 10, 20, 30, 40, 0.8, -1, -1.0),
    ]
    assert rows[0].tlbr() == (10, 20, 40, 60)
    assert rows[1].consider and not MotRow(1, 1, 0, 0, 1, 1, 0.0).consider


@pytest.mark.parametrize('line, message', [
    ('1,2,3,4,5', 'expected 6 to 10 values'),
    ('1,2,3,4,5,6,7,8,9,10,11', 'expected 6 to 10 values'),
    ('1,2,abc,4,5,6', 'bb_left is not a number'),
    ('0,2,3,4,5,6', '1-based'),
    ('1,2,3,4,-5,6', 'negative box size'),
    ('1.5,2,3,4,5,6', 'frame must be an integer'),
    ('1,2,3,4,5,nan', 'not finite'),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    """Malformed lines raise ValueError naming file and line."""
    path = tmp_path / 'bad.txt'
    path.write_text('1,1,1,1,1,1,1,1,1\n' + line + '\n')
    with pytest.raises(ValueError, match=message) as info:
        read_mot(path)
    assert f'{path}:2' in str(info.value)


def test_parse_line_skips_blank_and_comments():
    """Blank and comment lines parse to None."""
    assert parse_mot_line('   ') is None
    assert parse_mot_line('# x') is None


def test_rows_by_frame_groups_in_frame_order():
    """Rows are grouped by frame in frame order, keeping row order."""
    rows = [MotRow(3, 1, 0, 0, 1, 1), MotRow(1, 2, 0, 0, 1, 1), MotRow(3, 0, 0, 0, 1, 1)]
    grouped = rows_by_frame(rows)
    assert list(grouped) == [1, 3]
    assert [r.track_id for r in grouped[3]] == [1, 0]


def test_write_seqinfo(tmp_path):
    """seqinfo.ini carries name, rate, length and size."""
    path = tmp_path / 'seq' / 'seqinfo.ini'
    write_seqinfo(path, 'synthetic-0001', 10.0, 200, 640, 384)
    text = path.read_text()
    assert '[Sequence]' in text and 'frameRate=10\n' in text and 'seqLength=200' in text
    assert 'imWidth=640' in text and 'imHeight=384' in text and 'imExt=.jpg' in text


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


@pytest.mark.parametrize('line, message', [
    ('0 0 Car 0 0 -1 1 2 3', 'expected 10, 17 or 18 values'),
    ('0 0 Car 0 0 -1 1 2 x 4', 'not a number'),
    ('0 0 Car 0 0 -1 10 2 3 4', 'x2 < x1'),
])
def test_kitti_malformed_lines(tmp_path, line, message):
    """Malformed KITTI lines raise ValueError naming file and line."""
    path = tmp_path / 'bad.txt'
    path.write_text(KITTI + line + '\n')
    with pytest.raises(ValueError, match=message) as info:
        read_kitti_tracking(path)
    assert f'{path}:6' in str(info.value)
