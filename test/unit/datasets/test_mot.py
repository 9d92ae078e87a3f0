"""MOTChallenge text rows: reading, writing, the column variants and malformed lines."""

import pytest
from support.dataset_files import read_error

from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets.mot import (
    MotRow,
    parse_mot_line,
    read_mot,
    rows_by_frame,
    write_mot,
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
    """Malformed lines raise DatasetError naming file and line."""
    path = tmp_path / 'bad.txt'
    assert f'{path}:2' in read_error(read_mot, path, '1,1,1,1,1,1,1,1,1\n' + line + '\n', message)


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


def test_unreadable_files_are_dataset_errors(tmp_path):
    """A missing file or one that is not text is a DatasetError naming it."""
    with pytest.raises(DatasetError, match='cannot read MOTChallenge file') as info:
        read_mot(tmp_path / 'missing.txt')
    assert str(tmp_path / 'missing.txt') in str(info.value)
    binary = tmp_path / 'gt.txt'
    binary.write_bytes(b'\xff\xfe\x00\x81' * 10)
    with pytest.raises(DatasetError, match='not a MOTChallenge text file'):
        read_mot(binary)
