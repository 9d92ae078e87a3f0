"""Opening rosbag2 bags for reading and writing, with errors a user can act on.

Thin wrappers over ``rosbags.rosbag2``: they resolve topic names the way ROS does (``image`` is
``/image``), deserialise with the shared :func:`~centertrack_ros.bags.typestore.typestore`,
turn every library/storage failure into a one-line :class:`~centertrack_ros.bags.BagError`,
and write ``metadata.yaml`` files that ``ros2 bag play``/``ros2 bag info`` accept.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Iterable, Iterator, Mapping, Optional, Sequence

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError

from ..runtime.camera_info import camera_info_topic
from .errors import BagError
from .typestore import typestore
from .unclosed import FlushState, after_write, before_close, flush, readable_storage

_LOG = logging.getLogger(__name__)

STORAGES = ('mcap', 'sqlite3')
_STORAGE_PLUGINS = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_STORAGE_SUFFIXES = ('.mcap', '.db3')
# Version 8 (Jazzy's) rather than 9 (Kilted's): Jazzy and Kilted both read it.
BAG_VERSION: Final = 8

_ZERO = QosTime(0, 0)  # rmw's "system default", i.e. infinite deadline/lifespan/lease
QOS_RELIABLE = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
                   _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)
QOS_BEST_EFFORT = QOS_RELIABLE._replace(reliability=QosReliability.BEST_EFFORT)

# What a truncated or damaged file raises from deep inside the storage readers.
_CORRUPT = (ReaderError, SerdeError, sqlite3.Error, struct.error, EOFError, ValueError,
            KeyError, IndexError, OSError, AssertionError)


def topic_name(name: str) -> str:
    """Fully qualified form of a topic name as stored in bags (``image`` -> ``/image``)."""
    name = name.strip()
    if not name:
        raise BagError('empty topic name')
    return name if name.startswith('/') else '/' + name


def camera_info_topic_for(image_topic: str) -> str:
    """``camera_info`` beside an image topic (see :func:`camera_info_topic`); checks the name."""
    return camera_info_topic(topic_name(image_topic))


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: its message type and how many messages it holds."""

    name: str
    msgtype: str
    count: int


class BagReader:
    """A rosbag2 bag opened for reading (a bag directory, or a bare ``.mcap``/``.db3`` file).

    A directory without ``metadata.yaml`` (a recording that was killed before it could write
    one) is read through its single storage file, with a warning. A storage file that was not
    closed (a writer killed while flushing, see :mod:`.unclosed`) is read up to its last
    complete record (MCAP) or after rolling back its unfinished transaction (sqlite3).

    Raises:
        BagError: the path does not exist, is not a bag, or is truncated/corrupt.

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise BagError(f'bag not found: {self.path}')
        target: Any = self.path
        storage_file = self.path if self.path.is_file() else None
        if self.path.is_dir():
            storage = sorted(p for p in self.path.iterdir() if p.suffix in _STORAGE_SUFFIXES)
            storage_file = storage[0] if len(storage) == 1 else None
            if not (self.path / 'metadata.yaml').is_file():
                if storage_file is None:
                    raise BagError(f'{self.path} is not a rosbag2 bag: no metadata.yaml and '
                                   f'{len(storage)} .mcap/.db3 files (expected one)')
                _LOG.warning('%s has no metadata.yaml; reading %s directly', self.path,
                             storage_file.name)
                target = storage_file
        elif self.path.suffix not in _STORAGE_SUFFIXES:
            raise BagError(f'{self.path} is not a rosbag2 bag (expected a bag directory or a '
                           f'.mcap/.db3 file)')
        if storage_file is not None:
            try:
                target = readable_storage(storage_file) or target
            except (ValueError, OSError, sqlite3.Error) as exc:
                raise BagError(f'cannot read bag {self.path} (truncated or corrupt?): '
                               f'{_one_line(exc)}') from exc
        try:
            self._reader = Reader(target)
            self._reader.open()
        except _CORRUPT as exc:
            raise BagError(f'cannot read bag {self.path} (truncated or corrupt?): '
                           f'{_one_line(exc)}') from exc
        self.storage = 'mcap' if _uses(self._reader, '.mcap') else 'sqlite3'

    def __enter__(self) -> 'BagReader':
        """Return the open reader."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the reader."""
        self.close()

    def close(self) -> None:
        """Release the storage files."""
        if self._reader.is_open:
            self._reader.close()

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Topics by fully qualified name, in name order."""
        out = {}
        for name, info in sorted(self._reader.topics.items()):
            out[name] = TopicSummary(name, info.msgtype or '?', int(info.msgcount))
        return out

    @property
    def start_ns(self) -> int:
        """Receive time of the first message (0 for an empty bag)."""
        return int(self._reader.start_time) if self.message_count else 0

    @property
    def end_ns(self) -> int:
        """Receive time of the last message (0 for an empty bag)."""
        return int(self._reader.end_time) - 1 if self.message_count else 0

    @property
    def duration_ns(self) -> int:
        """Time between the first and the last message."""
        return self.end_ns - self.start_ns

    @property
    def custom_data(self) -> dict[str, str]:
        """The ``custom_data`` of ``metadata.yaml`` (empty for bare storage files)."""
        metadata = getattr(self._reader.storage, 'metadata', None)
        return dict(getattr(metadata, 'custom', None) or {})

    @property
    def message_count(self) -> int:
        """Messages on all topics."""
        return int(self._reader.message_count)

    def topic(self, name: str, msgtypes: Sequence[str] = ()) -> TopicSummary:
        """Return topic ``name``, checked to exist and (if given) to have one of ``msgtypes``.

        Raises:
            BagError: naming the topics the bag does have.

        """
        full = topic_name(name)
        topics = self.topics
        if full not in topics:
            listing = ', '.join(f'{t.name} ({t.msgtype})' for t in topics.values()) or 'none'
            raise BagError(f'topic {full} not in bag {self.path}; it has: {listing}')
        summary = topics[full]
        if msgtypes and summary.msgtype not in msgtypes:
            raise BagError(f'topic {full} in {self.path} has type {summary.msgtype}; expected '
                           f'{" or ".join(msgtypes)}')
        return summary

    def topics_of_type(self, msgtypes: Sequence[str]) -> list[TopicSummary]:
        """All topics whose type is one of ``msgtypes``."""
        return [t for t in self.topics.values() if t.msgtype in msgtypes]

    def raw_messages(self, topics: Iterable[str], start_ns: Optional[int] = None
                     ) -> Iterator[tuple[str, str, int, bytes]]:
        """Yield ``(topic, msgtype, receive_time_ns, cdr_bytes)`` in receive-time order.

        Raises:
            BagError: a topic is missing, or the storage turns out to be truncated/corrupt.

        """
        names = {self.topic(t).name for t in topics}
        connections = [c for c in self._reader.connections if c.topic in names]
        try:
            for connection, timestamp, data in self._reader.messages(connections,
                                                                     start=start_ns):
                yield connection.topic, connection.msgtype, int(timestamp), data
        except _CORRUPT as exc:
            raise BagError(f'bag {self.path} is truncated or corrupt: {_one_line(exc)}') from exc

    def messages(self, topics: Iterable[str], start_ns: Optional[int] = None
                 ) -> Iterator[tuple[str, int, Any]]:
        """Yield ``(topic, receive_time_ns, message)`` with messages deserialised.

        Raises:
            BagError: as :meth:`raw_messages`, or a message cannot be deserialised.

        """
        for topic, msgtype, timestamp, data in self.raw_messages(topics, start_ns):
            yield topic, timestamp, self.decode(topic, msgtype, timestamp, data)

    def decode(self, topic: str, msgtype: str, timestamp: int, data: bytes) -> Any:
        """Deserialise one message read by :meth:`raw_messages`.

        Raises:
            BagError: the bytes are not a valid ``msgtype`` message.

        """
        try:
            return typestore().deserialize_cdr(data, msgtype)
        except (SerdeError, KeyError, ValueError, struct.error) as exc:
            raise BagError(f'bag {self.path}: cannot decode the {msgtype} message on {topic} '
                           f'at t={timestamp} ns: {_one_line(exc)}') from exc


def _uses(reader: Reader, suffix: str) -> bool:
    path = Path(str(reader.path))  # a Path, or the RecoveredMcap view of one
    if path.is_file():
        return path.suffix == suffix
    return any(p.suffix == suffix for p in path.iterdir())


def _one_line(exc: BaseException) -> str:
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + '...'


def _looks_like_bag(path: Path) -> bool:
    if path.is_file():
        return path.suffix in _STORAGE_SUFFIXES
    entries = list(path.iterdir())
    # A killed recorder may leave a sqlite3 journal or a metadata.yaml being replaced.
    return not entries or all(
        p.name in ('metadata.yaml', 'metadata.yaml.tmp') or p.suffix in _STORAGE_SUFFIXES
        or p.name.endswith(('.zstd', '.db3-journal')) for p in entries)


def check_output_bag(path: str | Path, overwrite: bool) -> None:
    """Refuse an output bag path that exists, unless ``overwrite`` and it is a bag.

    Raises:
        BagError: the path exists and may not (or, not being a bag, must not) be replaced.

    """
    path = Path(path).expanduser()
    if not path.exists():
        return
    if not overwrite:
        raise BagError(f'output {path} exists; remove it or pass --overwrite')
    if not _looks_like_bag(path):
        raise BagError(f'refusing to overwrite {path}: it is not a rosbag2 bag')


class BagWriter:
    """A new rosbag2 bag directory being written; use as a context manager.

    On leaving the block normally or through Ctrl-C the bag is closed (and ``metadata.yaml``
    written), so an interrupted conversion or recording is still a valid, shorter bag. On any
    other exception the partial output is removed. A long-running writer calls :meth:`flush`
    now and then, so that a process killed without closing leaves a bag of everything written
    up to the last flush.

    Args:
        path: the bag directory to create.
        storage: ``mcap`` or ``sqlite3``.
        overwrite: replace an existing bag at ``path`` (refused for anything that is not one).
        custom_data: string pairs stored in ``metadata.yaml`` (provenance).

    """

    def __init__(self, path: str | Path, storage: str = 'mcap', overwrite: bool = False,
                 custom_data: Optional[Mapping[str, str]] = None) -> None:
        self.path = Path(path).expanduser()
        if storage not in STORAGES:
            raise BagError(f'unknown storage {storage!r}; use one of {", ".join(STORAGES)}')
        if self.path.exists():
            check_output_bag(self.path, overwrite)
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self._writer = Writer(self.path, version=BAG_VERSION,
                              storage_plugin=_STORAGE_PLUGINS[storage])
        # A mapping (never null) keeps strict metadata.yaml readers happy.
        for key, value in (custom_data or {'writer': 'centertrack_ros'}).items():
            self._writer.set_custom_data(str(key), str(value))
        self._connections: dict[str, Any] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._flushed = FlushState()
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f'cannot create bag {self.path}: {_one_line(exc)}') from exc

    def __enter__(self) -> 'BagWriter':
        """Return the open writer."""
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: object) -> None:
        """Close the bag, or discard it when the block failed."""
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.discard()

    def add_topic(self, topic: str, msgtype: str, qos: Qos = QOS_RELIABLE) -> str:
        """Declare a topic (once); returns its fully qualified name."""
        full = topic_name(topic)
        if full in self._connections:
            if self._types[full] != msgtype:
                raise BagError(f'topic {full} already written with type {self._types[full]}')
            return full
        try:
            self._connections[full] = self._writer.add_connection(
                full, msgtype, typestore=typestore(), offered_qos_profiles=[qos])
        except KeyError:
            raise BagError(f'unknown message type {msgtype}') from None
        self._types[full] = msgtype
        self.counts[full] = 0
        return full

    def write(self, topic: str, timestamp_ns: int, msg: Any) -> None:
        """Serialise a ``rosbags`` message and write it on a declared topic."""
        full = topic_name(topic)
        self.write_raw(full, timestamp_ns, typestore().serialize_cdr(msg, self._types[full]))

    def write_raw(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Write already serialised CDR bytes on a declared topic."""
        full = topic_name(topic)
        self._writer.write(self._connections[full], int(timestamp_ns), data)
        self.counts[full] += 1
        if self._flushed.active:
            try:
                after_write(self._writer, self.path / 'metadata.yaml', self._flushed)
            except OSError as exc:
                raise BagError(f'cannot write bag {self.path}: {_one_line(exc)}') from exc

    def flush(self) -> bool:
        """Put everything written so far on disk as a readable bag (see :mod:`.unclosed`).

        Returns False when nothing was written since the previous flush.

        Raises:
            BagError: the disk refused the write (full, removed).

        """
        try:
            return flush(self._writer, self.path / 'metadata.yaml', self._flushed)
        except (OSError, sqlite3.Error) as exc:
            raise BagError(f'cannot write bag {self.path}: {_one_line(exc)}') from exc

    def close(self) -> None:
        """Finish the storage file and write ``metadata.yaml``."""
        if self._writer.storage is not None:
            before_close(self._writer, self._flushed)
            self._writer.close()

    def discard(self) -> None:
        """Abandon the bag and remove what was written."""
        if self._writer.storage is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the directory is removed anyway
                pass
        shutil.rmtree(self.path, ignore_errors=True)
