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

from ..runtime.dds_profile import use_package_profile
from ..runtime.stamps import set_stamp
from .errors import BagError
from .io import (
    QOS_BEST_EFFORT,
    QOS_RELIABLE,
    BagReader,
    BagWriter,
    TopicSummary,
    camera_info_topic_for,
    topic_name,
)
from .typestore import CAMERA_INFO, IMAGE_TYPES, typestore

_LOG = logging.getLogger(__name__)
QOS_CHOICES = ('reliable', 'best_effort')
_POLL = 0.05  # seconds between checks of stop conditions while spinning
ACK_TIMEOUT = 5.0  # seconds play waits at the end for reliable subscribers to acknowledge
FLUSH_INTERVAL = 1.0  # seconds between flushes of a recording: what a crash can lose


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
    # Before rclpy creates this process's participant: large frames need the profile here
    # as much as in the node (a reliable 1080p frame would otherwise stall for seconds).
    use_package_profile()
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
    """What :func:`play` published, and what it knows of its delivery, per bag topic.

    Attributes:
        published: messages published.
        unheard: messages published while the topic had no subscriber at all.
        subscribers: subscriptions matched at the end.
        best_effort: best-effort subscriptions among them (their losses are not re-sent
            and cannot be seen from here).
        acknowledged: True when every reliable subscriber acknowledged every message
            within :data:`ACK_TIMEOUT` (None: published best effort, nothing to wait for).
        stamp_age_s: how old the first message played is, on this machine's clock.
        loops: passes through the bag.
        interrupted: stopped by a signal.

    """

    published: dict[str, int] = field(default_factory=dict)
    unheard: dict[str, int] = field(default_factory=dict)
    subscribers: dict[str, int] = field(default_factory=dict)
    best_effort: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, Optional[bool]] = field(default_factory=dict)
    stamp_age_s: float = 0.0
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


def play(bag_path: str | Path, topics: Sequence[str] = (),
         remap: Optional[Mapping[str, str]] = None,
         rate: float = 1.0, loop: bool = False, start_offset: float = 0.0,
         reliability: str = 'reliable', wait_for_subscribers: float = 0.0,
         progress: bool = True, node_name: str = 'centertrack_bag_play',
         clock: float = 0.0, camera_info: bool = True) -> PlayResult:
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
            subscriber before starting (0: do not wait). The ``camera_info`` topics added by
            ``camera_info`` are not waited for (a 2D node never subscribes to them).
        progress: show a progress bar.
        node_name: name of the publishing node.
        clock: publish the bag time on ``/clock`` this many times a second while playing,
            and at each message's bag timestamp just before the message (0: no clock). The
            clock only moves forward within one pass; with ``loop`` it jumps back to the
            start of the bag, as the messages' stamps do.
        camera_info: also publish the ``sensor_msgs/CameraInfo`` topic beside each image
            topic played (``<ns>/camera_info`` for ``<ns>/image_raw`` or
            ``<ns>/image_raw/compressed``), when the bag has one; a remapped image topic takes
            it along (``<new ns>/camera_info``) unless it is remapped itself.

    Raises:
        BagError: missing topics, bad options, corrupt bag, rclpy unavailable.

    """
    if not rate > 0:
        raise BagError(f'--rate must be > 0, got {rate}')
    if start_offset < 0:
        raise BagError(f'--start-offset must be >= 0, got {start_offset}')
    if not clock >= 0:
        raise BagError(f'--clock must be >= 0, got {clock}')
    remap = dict(remap or {})
    result = PlayResult()
    with BagReader(bag_path) as bag:
        chosen = [bag.topic(t) for t in topics] if topics else bag.topics_of_type(IMAGE_TYPES)
        if not chosen:
            raise BagError(f'bag {bag.path} has no image topic; name the topics to play')
        companions = camera_info_companions(bag.topics, chosen, remap) if camera_info else {}
        remap.update({t: published for t, published in companions.items() if t not in remap})
        chosen += [bag.topics[t] for t in companions]
        start_ns = bag.start_ns + int(start_offset * 1e9)
        if start_ns > bag.end_ns:
            raise BagError(f'--start-offset {start_offset} s is past the end of the bag '
                           f'({bag.duration_ns / 1e9:.3f} s long)')
        result.stamp_age_s = (time.time_ns() - start_ns) / 1e9
        with _ros_context(node_name) as (node, stop):
            qos = _qos(reliability)
            publishers = {t.name: node.create_publisher(message_type(t.msgtype),
                                                        remap.get(t.name, t.name), qos)
                          for t in chosen}
            result.published = {t.name: 0 for t in chosen}
            result.unheard = {t.name: 0 for t in chosen}
            clock_publisher = _ClockPublisher(node, clock) if clock > 0 else None
            _wait_for_subscribers(node, publishers, [t for t in publishers if t not in companions],
                                  wait_for_subscribers, reliability == 'reliable', stop)
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
            _confirm_delivery(node, publishers, reliability == 'reliable', result)
    return result


def camera_info_companions(bag_topics: Mapping[str, TopicSummary],
                           chosen: Sequence[TopicSummary], remap: Mapping[str, str]
                           ) -> dict[str, str]:
    """Return the bag's ``CameraInfo`` topics beside the chosen image topics (unless chosen).

    Returns:
        bag topic -> topic to publish it on (beside the image topic's published name).

    """
    names = {t.name for t in chosen}
    out = {}
    for image in chosen:
        if image.msgtype not in IMAGE_TYPES:
            continue
        info = camera_info_topic_for(image.name)
        summary = bag_topics.get(info)
        if summary is None or summary.msgtype != CAMERA_INFO or info in names or info in out:
            continue
        out[info] = camera_info_topic_for(remap.get(image.name, image.name))
    return out


def _confirm_delivery(node: Any, publishers: Mapping[str, Any], reliable: bool,
                      result: PlayResult) -> None:
    """Wait until reliable subscribers acknowledged every message; note who cannot."""
    from rclpy.duration import Duration
    from rclpy.qos import ReliabilityPolicy
    deadline = time.monotonic() + ACK_TIMEOUT
    for topic, publisher in publishers.items():
        infos = node.get_subscriptions_info_by_topic(publisher.topic_name)
        result.best_effort[topic] = sum(
            1 for i in infos if i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT)
        result.subscribers[topic] = publisher.get_subscription_count()
        if reliable:
            left = max(deadline - time.monotonic(), 0.0)
            result.acknowledged[topic] = bool(
                publisher.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))))
        else:
            result.acknowledged[topic] = None
    if not reliable:
        time.sleep(0.2)  # nothing to wait for: give DDS a moment to send the last samples


def _wait_for_subscribers(node: Any, publishers: Mapping[str, Any], required: Sequence[str],
                          timeout: float, reliable: bool, stop: threading.Event) -> None:
    """Wait until every ``required`` topic has a subscriber and every topic has matched all.

    The second condition covers subscribers that come with the required ones (a 3D node's
    ``camera_info`` subscription): a publisher that has not matched them yet would send them
    nothing.
    """
    if timeout <= 0:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if all(publishers[t].get_subscription_count() > 0 for t in required) and all(
                p.get_subscription_count() >= _compatible_subscriptions(node, p, reliable)
                for p in publishers.values()):
            return
        stop.wait(_POLL)
    missing = [publishers[t].topic_name for t in required
               if publishers[t].get_subscription_count() == 0]
    if missing:
        _LOG.warning('no subscriber on %s after %.1f s; playing anyway', ', '.join(missing),
                     timeout)


def _compatible_subscriptions(node: Any, publisher: Any, reliable: bool) -> int:
    """Subscriptions in the graph that ``publisher`` (volatile) can match."""
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
    return sum(1 for i in node.get_subscriptions_info_by_topic(publisher.topic_name)
               if i.qos_profile.durability != DurabilityPolicy.TRANSIENT_LOCAL
               and (reliable or i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT))


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
            publisher = publishers[topic]
            if publisher.get_subscription_count() == 0:
                result.unheard[topic] = result.unheard.get(topic, 0) + 1
            publisher.publish(bytes(data))
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
           node_name: str = 'centertrack_bag_record',
           flush_interval: float = FLUSH_INTERVAL) -> RecordResult:
    """Subscribe to ``topics`` and write what arrives into a new bag.

    A topic's type is learnt from the ROS graph once a publisher appears; until then the
    recorder waits for it. The subscription matches the publishers' reliability and
    durability (best effort if any publisher is; transient local only if all are), as
    ``ros2 bag record`` does. Messages are stored with their receive time.

    Stops at Ctrl-C/SIGTERM, after ``duration`` seconds, or after ``count`` messages (all
    topics together); the bag is then closed properly. Every ``flush_interval`` seconds what
    was received is flushed to disk as a readable bag (``metadata.yaml`` included), so a
    recorder killed without closing (SIGKILL, power loss) loses at most the messages of the
    last ``flush_interval`` seconds (:mod:`.unclosed`).

    Raises:
        BagError: bad options, existing output, a type the bag type store does not know.

    """
    if duration is not None and not duration > 0:
        raise BagError(f'--duration must be > 0, got {duration}')
    if not flush_interval > 0:
        raise BagError(f'--flush-interval must be > 0, got {flush_interval}')
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
        writer.flush()  # a valid, empty bag from the start
        next_flush = time.monotonic() + flush_interval
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
                if time.monotonic() >= next_flush:
                    writer.flush()
                    next_flush = time.monotonic() + flush_interval
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
