"""Bags that are not closed: kept readable while they are written, and read after a crash.

``rosbags`` writes a bag's index and ``metadata.yaml`` only when it is closed: an MCAP file
keeps everything in a 1 MiB pending chunk and a Python buffer, a sqlite3 file keeps every
message in one open transaction, so a recorder killed with SIGKILL (or by a power cut) left a
0-byte MCAP file or a database without a message. A long-running writer therefore calls
:func:`flush` now and then (``centertrack_bag record``: every second); after it returns, the
files on disk form a complete bag of everything written so far:

- MCAP: the pending chunk is written out, followed by a *Data End* record and a footer
  without a summary section (MCAP readers then scan the data section, as ``rosbags`` and the
  ``mcap`` tools do for a file without an index). The file position stays before that tail,
  so the next chunk overwrites it and is followed by a new tail; a chunk that ``rosbags``
  closes by itself (at 1 MiB) gets its tail (and ``metadata.yaml``) at once too
  (:func:`after_write`). On close the tail is cut off and ``rosbags`` writes the real
  summary and footer.
- sqlite3: the transaction is committed. The connection does not spill pages into the
  database file between commits (``cache_spill`` off), so the file only changes inside a
  commit.
- both: ``metadata.yaml`` is rewritten (atomically, by rename) with the counts and times of
  what was flushed, as ``rosbags`` writes it on close, so ``ros2 bag`` and ``rosbags`` open the
  directory as it is. It is rewriting ``metadata.yaml`` progressively rather than
  reconstructing it afterwards (``ros2 bag reindex``) that makes a killed recording usable
  without any step, by any reader.

What can be lost is what was written after the last flush. A kill *during* a flush (a few
milliseconds) can leave an MCAP file whose last chunk is cut short, or a sqlite3 journal that
must be rolled back; :func:`readable_storage` reads such files up to their last complete
record (MCAP, without changing the file) or rolls the journal back (sqlite3, as any SQLite
client does on opening).

The functions reach into ``rosbags``' storage writers (``McapWriter.bio``/``chunk``/
``close_chunk``, ``Sqlite3Writer.conn``), whose version is pinned in the requirements;
``test/unit/bags/test_unclosed.py`` fails if those change.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import struct
from pathlib import Path
from typing import Any, BinaryIO, Optional

import yaml
from rosbags.interfaces import ConnectionExtRosbag2
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.metadata import dump_qos_v8, dump_qos_v9
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

_LOG = logging.getLogger(__name__)

MAGIC = b'\x89MCAP0\r\n'
_DATA_END = bytes([0x0F]) + struct.pack('<QI', 4, 0)
_FOOTER = bytes([0x02]) + struct.pack('<QQQI', 20, 0, 0, 0) + MAGIC  # no summary section
TAIL = _DATA_END + _FOOTER
# MCAP record opcodes this package's writer (rosbags) puts before the summary section.
_DATA_OPCODES = {0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0A, 0x0C, 0x0D}


# ------------------------------------------------------------------------------ writing
class FlushState:
    """What :func:`flush` keeps between calls for one open writer."""

    def __init__(self) -> None:
        self.active = False  # once flushed, every chunk rosbags closes gets a tail too
        self.chunks = 0  # chunks written when the tail was last written
        self.written = (-1, -1)  # messages and topics at the last flush


def flush(writer: Writer, metadata_path: Path, state: FlushState) -> bool:
    """Make everything ``writer`` has written so far a readable bag on disk.

    Returns False when nothing changed since the previous flush (nothing is done then).
    """
    written = _written(writer)
    if state.active and written == state.written:
        return False
    storage = _storage(writer)
    if isinstance(storage, McapWriter):
        if storage.chunk.bio.tell():
            storage.close_chunk()
        _write_tail(storage, state)
    else:
        if not state.active:
            storage.conn.execute('PRAGMA cache_spill = OFF')
        storage.conn.commit()
    state.active = True
    state.written = written
    write_metadata(writer, metadata_path)
    return True


def after_write(writer: Writer, metadata_path: Path, state: FlushState) -> None:
    """Give a chunk that ``rosbags`` closed by itself in ``write`` its tail at once.

    Everything written is then on disk (the chunk closed after its last message), so this is
    a flush.
    """
    storage = _storage(writer)
    if state.active and isinstance(storage, McapWriter) and len(storage.chunks) != state.chunks:
        _write_tail(storage, state)
        state.written = _written(writer)
        write_metadata(writer, metadata_path)


def before_close(writer: Writer, state: FlushState) -> None:
    """Cut the MCAP tail off, so that ``rosbags`` writes the summary where it was."""
    storage = _storage(writer)
    if state.active and isinstance(storage, McapWriter):
        storage.bio.truncate()  # the position is at the end of the data


def _written(writer: Writer) -> tuple[int, int]:
    """Messages and topics written so far: what a flush records as flushed."""
    return sum(writer.counts.values()), len(writer.connections)


def _storage(writer: Writer) -> McapWriter | Sqlite3Writer:
    storage = writer.storage
    if not isinstance(storage, (McapWriter, Sqlite3Writer)):
        raise TypeError(f'not an open rosbags MCAP or sqlite3 writer: {storage!r}')
    return storage


def _write_tail(storage: McapWriter, state: FlushState) -> None:
    bio = storage.bio
    end = bio.tell()
    bio.write(TAIL)
    bio.flush()
    os.fsync(bio.fileno())
    bio.seek(end)  # the next chunk overwrites the tail
    state.chunks = len(storage.chunks)


def write_metadata(writer: Writer, path: Path) -> None:
    """Write ``metadata.yaml`` for what ``writer`` holds now, as ``rosbags`` does on close."""
    count = sum(writer.counts.values())
    start = writer.min_timestamp if count else 0
    duration = max(0, writer.max_timestamp - writer.min_timestamp) if count else 0
    dump_qos = dump_qos_v9 if writer.version >= 9 else dump_qos_v8
    name = _storage(writer).path.name
    info = {
        'version': writer.version,
        'storage_identifier': writer.storage_plugin.name.lower(),
        'relative_file_paths': [name],
        'duration': {'nanoseconds': duration},
        'starting_time': {'nanoseconds_since_epoch': start},
        'message_count': count,
        'topics_with_message_count': [
            {'topic_metadata': {
                'name': c.topic, 'type': c.msgtype,
                'serialization_format': c.ext.serialization_format,
                'offered_qos_profiles': dump_qos(c.ext.offered_qos_profiles),
                'type_description_hash': c.digest},
             'message_count': writer.counts[c.id]}
            for c in writer.connections if isinstance(c.ext, ConnectionExtRosbag2)],
        'compression_format': '',
        'compression_mode': '',
        'files': [{'path': name, 'starting_time': {'nanoseconds_since_epoch': start},
                   'duration': {'nanoseconds': duration}, 'message_count': count}],
        'custom_data': dict(writer.custom_data) or None,
        'ros_distro': 'rosbags',
    }
    temporary = path.with_suffix('.yaml.tmp')
    temporary.write_text(yaml.safe_dump({'rosbag2_bagfile_information': info},
                                        default_flow_style=False, sort_keys=False),
                         encoding='utf-8')
    temporary.replace(path)


# ------------------------------------------------------------------------------ reading
def readable_storage(path: Path) -> Optional[RecoveredMcap]:
    """Return what ``rosbags`` can open for a storage file left unclosed, or None if intact.

    An MCAP file without a valid end gets a read-only view of its complete records followed by
    a footer; a sqlite3 file with a hot journal has the journal rolled back.

    Raises:
        ValueError: an MCAP file with no complete record after its header.

    """
    if path.suffix == '.db3':
        journal = path.with_name(path.name + '-journal')
        if journal.is_file() and journal.stat().st_size > 0:
            _LOG.warning('%s was not closed: rolling back its unfinished transaction', path)
            try:  # opening it does: SQLite rolls a hot journal back on first read
                connection = sqlite3.connect(path)
                try:
                    connection.execute('SELECT count(*) FROM sqlite_master').fetchone()
                finally:
                    connection.close()
            except sqlite3.Error as exc:  # e.g. a read-only copy: read the file as it is
                _LOG.warning('%s: cannot roll back (%s); reading it as it is', path, exc)
        return None
    size = path.stat().st_size
    with open(path, 'rb') as f:
        if size >= len(MAGIC) + len(_FOOTER):
            f.seek(-len(MAGIC), os.SEEK_END)
            if f.read(len(MAGIC)) == MAGIC:
                return None
        end = complete_records_end(f, size)
    if end is None:
        raise ValueError(f'{path} holds no complete MCAP record')
    _LOG.warning('%s was not closed: reading its first %d of %d bytes (its complete records)',
                 path, end, size)
    return RecoveredMcap(path, end)


def complete_records_end(f: BinaryIO, size: int) -> Optional[int]:
    """Offset after the last complete data record of an MCAP file, None if there is none."""
    f.seek(0)
    if f.read(len(MAGIC)) != MAGIC:
        return None
    position, end = len(MAGIC), None
    while position + 9 <= size:
        f.seek(position)
        opcode, length = struct.unpack('<BQ', f.read(9))
        record_end = position + 9 + length
        if opcode not in _DATA_OPCODES or record_end > size:
            break
        position = end = record_end
    return end


class RecoveredMcap:
    """A path-like view of an unclosed MCAP file: its complete records, then a footer.

    Enough of :class:`pathlib.Path` for ``rosbags.rosbag2.Reader``; ``os.fspath`` gives the
    real file.
    """

    def __init__(self, path: Path, end: int) -> None:
        self.real = path
        self.end = end
        self.suffix = path.suffix
        self.name = path.name

    def __fspath__(self) -> str:
        """Return the real file's path."""
        return str(self.real)

    def __str__(self) -> str:
        """Return the real file's path."""
        return str(self.real)

    def exists(self) -> bool:
        """Return True: the file exists."""
        return True

    def is_dir(self) -> bool:
        """Return False: a file."""
        return False

    def is_file(self) -> bool:
        """Return True: a file."""
        return True

    def open(self, mode: str = 'rb') -> BinaryIO:
        """Open the view for reading (binary only)."""
        if mode != 'rb':
            raise ValueError('a recovered MCAP file is read-only')
        return io.BufferedReader(_PrefixWithTail(open(self.real, 'rb'), self.end, TAIL))


class _PrefixWithTail(io.RawIOBase):
    """The first ``end`` bytes of a file followed by ``tail``."""

    def __init__(self, raw: io.BufferedIOBase, end: int, tail: bytes) -> None:
        super().__init__()
        self._raw, self._end, self._tail = raw, end, tail
        self._size = end + len(tail)
        self._position = 0

    def readable(self) -> bool:
        """Return True."""
        return True

    def seekable(self) -> bool:
        """Return True."""
        return True

    def tell(self) -> int:
        """Return the position in the view."""
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move within the view."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Read from the file's prefix, then from the tail."""
        view = memoryview(buffer).cast('B')
        done = 0
        while done < len(view) and self._position < self._size:
            if self._position < self._end:
                self._raw.seek(self._position)
                n = self._raw.readinto(view[done:done + self._end - self._position])
                if not n:
                    break
            else:
                start = self._position - self._end
                chunk = self._tail[start:start + len(view) - done]
                n = len(chunk)
                view[done:done + n] = chunk
            done += n
            self._position += n
        return done

    def close(self) -> None:
        """Close the underlying file."""
        self._raw.close()
        super().close()
