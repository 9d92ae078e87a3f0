"""``seqinfo.ini``: writing, reading back, defaults, and files that are not what they claim."""

import pytest
from support.dataset_files import read_error

from centertrack_ros.datasets.seqinfo import SeqInfo, read_seqinfo, write_seqinfo


def test_write_seqinfo(tmp_path):
    """seqinfo.ini carries name, rate, length and size."""
    path = tmp_path / 'seq' / 'seqinfo.ini'
    write_seqinfo(path, 'synthetic-0001', 10.0, 200, 640, 384)
    text = path.read_text()
    assert '[Sequence]' in text and 'frameRate=10\n' in text and 'seqLength=200' in text
    assert 'imWidth=640' in text and 'imHeight=384' in text and 'imExt=.jpg' in text


def test_written_seqinfo_reads_back(tmp_path):
    path = tmp_path / 'seqinfo.ini'
    write_seqinfo(path, 'MOT17-02', 29.97, 600, 1920, 1080, image_dir='frames', image_ext='.png')
    assert read_seqinfo(path) == SeqInfo('MOT17-02', 'frames', 29.97, 600, 1920, 1080, '.png')


def test_keys_are_case_insensitive_and_optional(tmp_path):
    path = tmp_path / 'seqinfo.ini'
    path.write_text('[Sequence]\nNAME = MOT20-01\nframerate=25\nimext=jpg\n')
    info = read_seqinfo(path)
    assert info == SeqInfo(name='MOT20-01', frame_rate=25.0, image_ext='.jpg')
    assert info.image_dir == 'img1' and info.length is None


@pytest.mark.parametrize('text, message', [
    ('name=x\n', 'cannot read'),                        # no section header at all
    ('[Other]\nname=x\n', r'no \[Sequence\] section'),
    ('[Sequence]\nframeRate=fast\n', 'frameRate is not a number'),
    ('[Sequence]\nseqLength=12.5\n', 'seqLength is not an integer'),
    ('[Sequence]\nimWidth=0\n', 'imWidth must be positive'),
    ('[Sequence]\nframeRate=nan\n', 'frameRate must be positive'),
])
def test_bad_files_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / 'seqinfo.ini'
    assert str(path) in read_error(read_seqinfo, path, text, message)
