"""A MOTChallenge sequence folder: what ``seqinfo.ini`` says, the images, the ground truth."""

from pathlib import Path

import pytest

from centertrack_ros.core.errors import DatasetError
from centertrack_ros.datasets import mot_sequence
from centertrack_ros.datasets.mot import MotRow
from centertrack_ros.datasets.mot_sequence import (
    find_mot_sequences,
    is_mot_sequence,
    open_mot_sequence,
)


def _touch(folder: Path, names) -> None:
    # The sequence reader lists files and never decodes them, so empty files do.
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b'')


def test_seqinfo_decides_folder_suffix_length_and_name(tmp_path):
    seq = tmp_path / 'MOT17-09'
    _touch(seq / 'frames', ['1.png', '2.png', '10.png', '11.png', '3.jpg', 'notes.txt'])
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=MOT17-09-FRCNN\nimDir=frames\n'
                                     'frameRate=30\nseqLength=3\nimExt=.png\n')
    (seq / 'gt').mkdir()
    (seq / 'gt' / 'gt.txt').write_text('1,4,1,2,3,4,1,1,0.5\n')
    sequence = open_mot_sequence(seq)
    assert sequence.name == 'MOT17-09-FRCNN' and sequence.frame_rate == 30.0
    # natural order, .png only, cut at seqLength
    assert [p.name for p in sequence.images] == ['1.png', '2.png', '10.png']
    assert sequence.ground_truth() == [MotRow(1, 4, 1, 2, 3, 4, 1.0, 1, 0.5)]
    assert is_mot_sequence(seq)


def test_without_seqinfo_img1_and_every_image_suffix(tmp_path):
    seq = tmp_path / 'clip'
    _touch(seq / 'img1', ['000002.jpg', '000001.png'])
    sequence = open_mot_sequence(seq)
    assert sequence.name == 'clip' and sequence.info is None and sequence.frame_rate is None
    assert [p.name for p in sequence.images] == ['000001.png', '000002.jpg']
    assert sequence.gt_path is None and sequence.ground_truth() is None


def test_seqinfo_is_read_once_per_sequence(tmp_path, monkeypatch):
    seq = tmp_path / 'seq'
    _touch(seq / 'img1', ['000001.jpg'])
    (seq / 'seqinfo.ini').write_text('[Sequence]\nname=seq\nseqLength=1\n')
    calls = []
    real = mot_sequence.read_seqinfo
    monkeypatch.setattr(mot_sequence, 'read_seqinfo', lambda p: calls.append(p) or real(p))
    open_mot_sequence(seq)
    assert calls == [seq / 'seqinfo.ini']


def test_a_folder_that_is_not_a_mot_sequence(tmp_path):
    _touch(tmp_path / 'pictures', ['a.jpg'])
    assert not is_mot_sequence(tmp_path / 'pictures')
    with pytest.raises(DatasetError, match='is not a MOTChallenge sequence: it has neither '
                                           r'seqinfo.ini nor img1/') as info:
        open_mot_sequence(tmp_path / 'pictures')
    assert str(tmp_path / 'pictures') in str(info.value)
    with pytest.raises(DatasetError, match='not a MOTChallenge sequence folder'):
        open_mot_sequence(tmp_path / 'pictures' / 'a.jpg')


def test_what_seqinfo_claims_must_be_there(tmp_path):
    seq = tmp_path / 'seq'
    (seq).mkdir()
    (seq / 'seqinfo.ini').write_text('[Sequence]\nimDir=frames\nseqLength=3\n')
    with pytest.raises(DatasetError, match='names the image folder frames/, which is missing'):
        open_mot_sequence(seq)
    _touch(seq / 'frames', ['1.jpg', '2.jpg'])
    with pytest.raises(DatasetError, match='says seqLength=3 but .* holds 2 images'):
        open_mot_sequence(seq)
    (seq / 'seqinfo.ini').write_text('[Sequence]\nimDir=frames\nimExt=.png\n')
    with pytest.raises(DatasetError, match=r'no \.png images in'):
        open_mot_sequence(seq)


def test_find_sequences_of_a_split(tmp_path):
    for name in ('B', 'A', 'no-gt'):
        _touch(tmp_path / name / 'img1', ['1.jpg'])
    for name in ('A', 'B'):
        (tmp_path / name / 'gt').mkdir()
        (tmp_path / name / 'gt' / 'gt.txt').write_text('')
    assert [p.name for p in find_mot_sequences(tmp_path)] == ['A', 'B']
    assert [p.name for p in find_mot_sequences(tmp_path, ['B'])] == ['B']
    with pytest.raises(DatasetError, match='no MOTChallenge sequence C with gt/gt.txt '
                                           r'\(there are A, B\)'):
        find_mot_sequences(tmp_path, ['B', 'C'])
    with pytest.raises(DatasetError, match=r'no MOTChallenge sequences \(<seq>/gt/gt.txt\)'):
        find_mot_sequences(tmp_path / 'A')
