"""A bag that was never closed is readable up to its last flush (``bags/unclosed.py``).

A process killed with SIGKILL leaves on disk exactly what it had written with system calls:
copying the bag directory while its writer is still open, and never closing the copy, is that
state (``test/ros/test_bag_live.py`` kills a real recorder too). Each copy is read with this
package's reader and with ``rosbags``' own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from centertrack_ros.bags.io import BagReader, BagWriter
from centertrack_ros.bags.typestore import typestore

STRING = 'std_msgs/msg/String'


def message(text: str):
    return typestore().types[STRING](data=text)


def killed_copy(bag: Path, name: str) -> Path:
    """Copy the bag directory as a process killed now would leave it."""
    copy = bag.parent / name
    shutil.copytree(bag, copy)
    return copy


def ours(path: Path) -> list[int]:
    with BagReader(path) as bag:
        stamps = [t for _, _, t, _ in bag.raw_messages(['/x'])] if '/x' in bag.topics else []
        assert bag.message_count == len(stamps)
        if stamps:
            assert (bag.start_ns, bag.end_ns) == (stamps[0], stamps[-1])
        return stamps


def theirs(path: Path) -> list[int]:
    """Return the stamps ``rosbags`` reads from the bag directory (through metadata.yaml)."""
    reader = Reader(path)
    reader.open()
    try:
        stamps = [t for _, t, _ in reader.messages()]
        assert reader.message_count == len(stamps)
        return stamps
    finally:
        reader.close()


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_killed_writer_leaves_what_it_flushed(tmp_path, storage):
    writer = BagWriter(tmp_path / 'bag', storage)
    writer.flush()
    empty = killed_copy(writer.path, 'killed_at_start')
    writer.add_topic('/x', STRING)
    for i in range(5):
        writer.write('/x', 100 + i, message(f'flushed {i}'))
    assert writer.flush()
    assert not writer.flush()  # nothing new
    for i in range(5, 8):
        writer.write('/x', 100 + i, message(f'not flushed {i}'))
    killed = killed_copy(writer.path, 'killed')
    writer.close()

    assert ours(empty) == theirs(empty) == []
    assert ours(killed) == theirs(killed) == [100, 101, 102, 103, 104]
    assert ours(writer.path) == theirs(writer.path) == list(range(100, 108))
    with BagReader(killed) as bag:
        assert bag.storage == storage and bag.topic('/x').count == 5


def test_a_chunk_rosbags_closes_by_itself_is_readable_at_once(tmp_path):
    """MCAP chunks close at 1 MiB inside ``write``: what they hold is on disk, with a footer."""
    writer = BagWriter(tmp_path / 'bag', 'mcap')
    writer.flush()
    writer.add_topic('/x', STRING)
    for i in range(5):
        writer.write('/x', 10 + i, message('x' * 600_000))
    killed = killed_copy(writer.path, 'killed')
    writer.close()
    # Two messages pass 1 MiB and close a chunk: 0-1 and 2-3 are on disk, 4 waits.
    assert ours(killed) == theirs(killed) == [10, 11, 12, 13]


def test_a_kill_during_a_flush_is_read_up_to_the_last_complete_record(tmp_path):
    writer = BagWriter(tmp_path / 'bag', 'mcap')
    writer.add_topic('/x', STRING)
    for i in range(2):
        writer.write('/x', 10 + i, message('x' * 600_000))
    writer.flush()  # one chunk of two messages
    for i in range(2, 4):
        writer.write('/x', 10 + i, message('x' * 600_000))
    writer.flush()  # a second one
    killed = killed_copy(writer.path, 'killed')
    writer.close()
    storage = killed / 'bag.mcap'
    size = storage.stat().st_size
    with open(storage, 'r+b') as f:  # the second chunk's write was cut short
        f.truncate(size - 300_000)
    with pytest.raises(Exception):
        theirs(killed)  # rosbags needs the footer
    assert ours(killed) == [10, 11]
    assert storage.stat().st_size == size - 300_000  # read without changing the file


def test_a_torn_mcap_without_one_complete_record_is_a_one_line_error(tmp_path):
    from centertrack_ros.bags import BagError
    folder = tmp_path / 'bag'
    folder.mkdir()
    (folder / 'bag.mcap').write_bytes(b'\x89MCAP0\r\n\x01\x40\x00')
    with pytest.raises(BagError, match='truncated or corrupt'):
        BagReader(folder)


def test_a_closed_bag_after_flushes_is_an_ordinary_indexed_bag(tmp_path):
    writer = BagWriter(tmp_path / 'bag', 'mcap', custom_data={'k': 'v'})
    writer.add_topic('/x', STRING)
    for i in range(3):
        writer.write('/x', 10 + i, message(str(i)))
        writer.flush()
    writer.close()
    reader = Reader(writer.path)
    reader.open()
    try:
        assert reader.storage.storages[0].chunks, 'the summary indexes the chunks'
    finally:
        reader.close()
    with BagReader(writer.path) as bag:
        assert bag.custom_data == {'k': 'v'}
    assert ours(writer.path) == [10, 11, 12]


def test_the_rosbags_internals_used_are_there():
    """``bags/unclosed.py`` reaches into rosbags' storage writers (pinned version)."""
    for name in ('bio', 'chunk', 'chunks', 'close_chunk'):
        assert name in McapWriter.__init__.__code__.co_names + tuple(dir(McapWriter)), name
    assert 'conn' in Sqlite3Writer.__init__.__code__.co_names
