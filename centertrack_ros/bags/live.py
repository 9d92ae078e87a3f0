"""Live replay and recording over DDS with rclpy, for machines without ``ros2 bag``.

``play`` publishes a bag's messages as the serialised bytes stored in the bag (exactly what
``ros2 bag play`` does), so headers and stamps are those of the recording; with ``clock`` it
also publishes the bag's time on ``/clock`` for nodes running with ``use_sim_time``.
``record`` takes messages as serialised bytes too and writes them unchanged. rclpy is imported
only here, and only when one of them runs.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from tqdm import tqdm

from ..runtime.stamps import set_stamp
from .errors import BagError
from .io import QOS_BEST_EFFORT, QOS_RELIABLE, BagReader, BagWriter, topic_name
from .typestore import IMAGE_TYPES, typestore

_LOG = logging.getLogger(__name__)
QOS_CHOICES = ('reliable', 'best_effort')
_POLL = 0.05  # seconds between checks of stop conditions while spinning


def _import_rclpy() -> Any:
    try:
        import rclpy
    except ImportError as exc:
        raise BagError(f'live play/record needs rclpy, which cannot be imported here ({exc}); '
                       'use `run` for offline tracking') from exc
    return rclpy


def message_type(msgtype: str) -> Any:
    """Return the rclpy message class of ``pkg/msg/Type``.

    Raises:
        BagError: the message package is not installed in this ROS environment.

    """
    package, _, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError) as exc:
        raise BagError(f'message type {msgtype} is not available in this ROS environment '
                       f'({exc})') from exc


@contextmanager
def _ros_context(node_name: str) -> Iterator[tuple[Any, threading.Event]]:
    """Yield a node in its own rclpy context, and an event set by SIGINT/SIGTERM.

    The first signal only sets the event, so that the caller stops between two messages and
    closes its bag cleanly; a second one raises KeyboardInterrupt.
    """
    rclpy = _import_rclpy()
    from rclpy.signals import SignalHandlerOptions

    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    # Set for SIGINT too: a process started in the background by a shell inherits SIGINT
    # ignored, and then Ctrl-C/`kill -INT` would never close the bag.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    context = rclpy.context.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(node_name, context=context)
    try:
        yield node, stop
    finally:
        node.destroy_node()
        context.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _qos(reliability: str, depth: int = 10) -> Any:
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    if reliability not in QOS_CHOICES:
        raise BagError(f'unknown QoS reliability {reliability!r}; use {" or ".join(QOS_CHOICES)}')
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE
                      if reliability == 'reliable' else ReliabilityPolicy.BEST_EFFORT)


@dataclass
class PlayResult:
    """What :func:`play` published."""

    published: dict[str, int] = field(default_factory=dict)
    loops: int = 0
    interrupted: bool = False


def parse_remaps(remaps: Sequence[str]) -> dict[str, str]:
    """``['/a:=/b', ...]`` as ``{'/a': '/b'}`` (names fully qualified).

    Raises:
        BagError: an entry is not ``FROM:=TO``.

    """
    out = {}
    for remap in remaps:
        source, sep, target = remap.partition(':=')
        if not sep or not source or not target:
            raise BagError(f'bad remap {remap!r}; expected FROM:=TO')
        out[topic_name(source)] = topic_name(target)
    return out


class _ClockPublisher:
    """Publishes the playback's bag time as ``rosgraph_msgs/Clock`` on ``/clock``."""

    def __init__(self, node: Any, frequency: float) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        self._msg = Clock()
        self.period = 1.0 / frequency
        self._publisher = node.create_publisher(
            Clock, '/clock', QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))

    def publish(self, time_ns: int) -> None:
        """Publish ``time_ns`` (bag time in nanoseconds)."""
        set_stamp(self._msg.clock, time_ns)
        self._publisher.publish(self._msg)


def play(bag_path: str | Path, topics: Sequence[str] = (), remap: Mapping[str, str] = (),
         rate: float = 1.0, loop: bool = False, start_offset: float = 0.0,
         reliability: str = 'reliable', wait_for_subscribers: float = 0.0,
         progress: bool = True, node_name: str = 'centertrack_bag_play',
         clock: float = 0.0) -> PlayResult:
    """Publish a bag's topics at the recorded pace.

    Args:
        bag_path: the bag.
        topics: topics to publish (default: every image topic).
        remap: bag topic -> published topic.
        rate: playback speed factor (2 = twice as fast).
        loop: start again at the end, until interrupted.
        start_offset: seconds into the bag to start at.
        reliability: publisher QoS reliability (``reliable`` also reaches best-effort
            subscribers).
        wait_for_subscribers: wait up to this many seconds until every topic has a
            subscriber before starting (0: do not wait).
        progress: show a progress bar.
        node_name: name of the publishing node.
        clock: publish the bag time on ``/clock`` this many times a second while playing,
            and at each message's bag timestamp just before the message (0: no clock). The
            clock only moves forward within one pass; with ``loop`` it jumps back to the
            start of the bag, as the messages' stamps do.

    Raises:
        BagError: missing topics, bad options, corrupt bag, rclpy unavailable.

    """
    if not rate > 0:
        raise BagError(f'--rate must be > 0, got {rate}')
    if start_offset < 0:
        raise BagError(f'--start-offset must be >= 0, got {start_offset}')
    if not clock >= 0:
        raise BagError(f'--clock must be >= 0, got {clock}')
    remap = dict(remap)
    result = PlayResult()
    with BagReader(bag_path) as bag:
        chosen = [bag.topic(t) for t in topics] if topics else bag.topics_of_type(IMAGE_TYPES)
        if not chosen:
            raise BagError(f'bag {bag.path} has no image topic; name the topics to play')
        start_ns = bag.start_ns + int(start_offset * 1e9)
        if start_ns > bag.end_ns:
            raise BagError(f'--start-offset {start_offset} s is past the end of the bag '
                           f'({bag.duration_ns / 1e9:.3f} s long)')
        with _ros_context(node_name) as (node, stop):
            qos = _qos(reliability)
            publishers = {t.name: node.create_publisher(message_type(t.msgtype),
                                                        remap.get(t.name, t.name), qos)
                          for t in chosen}
            result.published = {t.name: 0 for t in chosen}
            clock_publisher = _ClockPublisher(node, clock) if clock > 0 else None
            _wait_for_subscribers(publishers, wait_for_subscribers, stop)
            total = sum(t.count for t in chosen)
            while not stop.is_set():
                _play_once(bag, publishers, start_ns, rate, result, progress, total, stop,
                           clock_publisher)
                if stop.is_set():
                    break
                result.loops += 1
                if not loop:
                    break
            result.interrupted = stop.is_set()
            # Give DDS a moment to deliver the last (reliable) samples before the node goes.
            time.sleep(0.2)
    return result


def _wait_for_subscribers(publishers: Mapping[str, Any], timeout: float,
                          stop: threading.Event) -> None:
    if timeout <= 0:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if all(p.get_subscription_count() > 0 for p in publishers.values()):
            return
        stop.wait(_POLL)
    missing = [p.topic_name for p in publishers.values() if p.get_subscription_count() == 0]
    _LOG.warning('no subscriber on %s after %.1f s; playing anyway', ', '.join(missing), timeout)


def _play_once(bag: BagReader, publishers: Mapping[str, Any], start_ns: int, rate: float,
               result: PlayResult, progress: bool, total: int, stop: threading.Event,
               clock: Optional[_ClockPublisher] = None) -> None:
    wall_start = time.monotonic()
    with tqdm(total=total, unit='msg', desc=f'play {bag.path.name}', disable=not progress,
              leave=False) as bar:
        for topic, _, timestamp, data in bag.raw_messages(publishers, start_ns):
            due = wall_start + (timestamp - start_ns) / 1e9 / rate
            while not stop.is_set():
                delay = due - time.monotonic()
                if delay <= 0:
                    break
                if clock is None:
                    stop.wait(delay)
                    continue
                # Bag time now, never past the next message's own time.
                elapsed = (time.monotonic() - wall_start) * rate
                clock.publish(min(start_ns + int(elapsed * 1e9), timestamp))
                stop.wait(min(delay, clock.period))
            if stop.is_set():
                return
            if clock is not None:
                clock.publish(timestamp)
            publishers[topic].publish(bytes(data))
            result.published[topic] += 1
            bar.update()


@dataclass
class RecordResult:
    """What :func:`record` wrote."""

    path: Path
    counts: dict[str, int]
    missing: list[str]
    interrupted: bool = False


def record(output: str | Path, topics: Sequence[str] = ('/detections',), storage: str = 'mcap',
           duration: Optional[float] = None, count: Optional[int] = None,
           overwrite: bool = False, progress: bool = True,
           node_name: str = 'centertrack_bag_record') -> RecordResult:
    """Subscribe to ``topics`` and write what arrives into a new bag.

    A topic's type is learnt from the ROS graph once a publisher appears; until then the
    recorder waits for it. The subscription matches the publishers' reliability and
    durability (best effort if any publisher is; transient local only if all are), as
    ``ros2 bag record`` does. Messages are stored with their receive time.

    Stops at Ctrl-C/SIGTERM, after ``duration`` seconds, or after ``count`` messages (all
    topics together); the bag is always closed properly.

    Raises:
        BagError: bad options, existing output, a type the bag type store does not know.

    """
    if duration is not None and not duration > 0:
        raise BagError(f'--duration must be > 0, got {duration}')
    if count is not None and count < 1:
        raise BagError(f'--count must be >= 1, got {count}')
    wanted = [topic_name(t) for t in topics]
    if not wanted:
        raise BagError('no topics to record')
    received = 0
    with BagWriter(output, storage, overwrite, {'centertrack_ros.recorder': node_name}) \
            as writer, _ros_context(node_name) as (node, stop):
        from rclpy.executors import SingleThreadedExecutor
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        subscriptions: dict[str, Any] = {}
        _LOG.info('waiting for publishers on %s', ', '.join(wanted))
        deadline = None if duration is None else time.monotonic() + duration
        bar = tqdm(total=count, unit='msg', desc=f'record {Path(output).name}',
                   disable=not progress, leave=False)

        def on_message(topic: str) -> Any:
            def callback(data: bytes) -> None:
                nonlocal received
                if count is not None and received >= count:
                    return
                writer.write_raw(topic, node.get_clock().now().nanoseconds, data)
                received += 1
                bar.update()
            return callback

        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline) \
                    and (count is None or received < count):
                for topic in wanted:
                    if subscriptions.get(topic) is None:
                        subscriptions[topic] = _subscribe(node, writer, topic, on_message(topic))
                executor.spin_once(timeout_sec=_POLL)
        finally:
            bar.close()
            executor.shutdown(timeout_sec=0)
        interrupted = stop.is_set()
    counts = {t: writer.counts.get(t, 0) for t in wanted}
    missing = [t for t in wanted if subscriptions.get(t) is None]
    return RecordResult(Path(output), counts, missing, interrupted)


def _subscribe(node: Any, writer: BagWriter, topic: str, callback: Any) -> Optional[Any]:
    """Subscribe (raw) to ``topic`` once it has a publisher; None while it has none."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    types = {info.topic_type for info in infos}
    if len(types) > 1:
        raise BagError(f'topic {topic} is published with several types: {", ".join(types)}')
    msgtype = types.pop()
    if msgtype not in typestore().types:
        raise BagError(f'cannot record {topic}: type {msgtype} is unknown to the bag type store')
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
    qos = QoSProfile(depth=100,
                     reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
                     else ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                     else DurabilityPolicy.VOLATILE)
    stored = QOS_BEST_EFFORT if best_effort else QOS_RELIABLE
    writer.add_topic(topic, msgtype, stored)
    _LOG.info('recording %s (%s)', topic, msgtype)
    return node.create_subscription(message_type(msgtype), topic, callback, qos, raw=True)
