"""The image subscription and its reliability, chosen to hear every publisher of the topic.

A best-effort subscription matches every publisher, but between processes it loses large
frames: a camera frame does not fit Fast DDS's default shared-memory segment, travels as dozens
of UDP fragments, and one lost fragment loses the frame (on one machine without the package's
DDS profile, 0 of 20 reliable 768x576 frames arrived). A reliable subscription gets every frame
of a reliable publisher but cannot match a best-effort one. With ``qos.reliability: auto`` the
subscription follows the publishers, as rosbag2's recorder does: reliable when every publisher
of the topic offers reliable, best effort when any offers best effort. The choice is re-made
whenever the set of publishers changes; the subscription is then re-created in the executor
thread, between frames, so the tracks are untouched.

While there is no publisher yet (at activation) the subscription is reliable. A publisher that
starts after the node (a bag player, a driver) sends its first frame as soon as *it* has
matched the subscription, which may be before the subscription has matched it (DDS discovery
runs both ways, not at once): a reliable subscription then asks for that frame again, a
best-effort one has lost it without knowing; and re-creating the subscription when the
publisher turns out to be reliable loses the frames sent meanwhile. A best-effort publisher
is heard after the switch, at the next graph check. When all publishers leave, the
subscription stays as it is until the next one comes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from ..runtime.dds_profile import PROFILE_VARIABLES, transport_advice
from ..runtime.settings import AUTO, BEST_EFFORT, RELIABILITIES, RELIABLE

GRAPH_CHECK_PERIOD = 0.5  # seconds between looks at the topic's publishers (steady time)
# Fast DDS's default shared-memory segment; a larger frame goes over UDP in 64 KiB fragments.
LARGE_FRAME_BYTES = 512 * 1024


@dataclass(frozen=True)
class Publisher:
    """What the subscription needs to know of one publisher of the image topic."""

    name: str
    reliable: bool


def choose_reliability(publishers: Iterable[Publisher]) -> tuple[str, str]:
    """Return the reliability that hears every publisher, and why in words."""
    publishers = list(publishers)
    if not publishers:
        return RELIABLE, 'no publisher yet'
    best_effort = [p.name for p in publishers if not p.reliable]
    if best_effort:
        return BEST_EFFORT, (f'{len(best_effort)} of {len(publishers)} publisher(s) offer '
                             f'best effort ({", ".join(sorted(best_effort))})')
    return RELIABLE, f'all {len(publishers)} publisher(s) offer reliable'


FIXES = ('Fixes: export FASTDDS_DEFAULT_PROFILES_FILE=<share>/centertrack_ros/config/'
         'fastdds_large_images.xml for the camera driver and this node; or publish reliable and '
         'use qos.reliability auto or reliable; or subscribe to compressed images '
         '(use_compressed: true)')


def large_frame_warning(size: int, reliability: str, rmw: str,
                        environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Return the warning for a frame of ``size`` bytes heard best effort, or None if safe.

    Only Fast DDS without a profile is known to lose such frames; with a profile file set the
    user has configured the transport.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if reliability != BEST_EFFORT or size <= LARGE_FRAME_BYTES or 'fastrtps' not in rmw:
        return None
    if any(env.get(name) for name in PROFILE_VARIABLES):
        return None
    return (f'image messages of {size / 2 ** 20:.1f} MiB arrive over a best-effort '
            'subscription without a Fast DDS profile: between processes most of them will be '
            'lost (they exceed the 512 KiB shared-memory segment and travel as UDP fragments). '
            + FIXES)


def lost_frames_warning(total: int, reliability: str) -> str:
    """Return the warning for image messages DDS reports lost on the way to the node."""
    text = f'{total} image message(s) lost in transport before reaching the node'
    if reliability == BEST_EFFORT:
        return text + (' (best-effort subscription: large frames between processes are lost '
                       'without a DDS profile). ' + FIXES)
    # A reliable reader hears of a loss when the publisher's history moved on before the
    # frame's missing fragments were repaired.
    return text + (' (the publisher\'s history moved on before their lost fragments were '
                   're-sent). ' + transport_advice())


def _publishers(node: Any, topic: str) -> list[Publisher]:
    return [Publisher(f'{info.node_namespace.rstrip("/")}/{info.node_name}',
                      info.qos_profile.reliability == ReliabilityPolicy.RELIABLE)
            for info in node.get_publishers_info_by_topic(topic)]


class ImageSubscription:
    """The node's image subscription; with ``auto`` reliability it follows the publishers.

    Args:
        node: the node that owns the subscription.
        msg_type: ``sensor_msgs/Image`` or ``CompressedImage``.
        topic: the topic name as given (relative names resolve in the node's namespace).
        callback: called with every message.
        reliability: ``auto``, ``best_effort`` or ``reliable``.
        depth: history depth.
        clock: the steady clock for the graph checks (a timer is created on it).
        on_lost: called with the number of messages DDS reports lost on their way (a
            best-effort subscription misses fragments of large frames).

    """

    def __init__(self, node: Any, msg_type: Any, topic: str, callback: Callable[[Any], None],
                 reliability: str, depth: int, clock: Any,
                 on_lost: Callable[[int], None] = lambda count: None) -> None:
        if reliability not in RELIABILITIES:
            raise ValueError(f'reliability must be one of {RELIABILITIES}, got {reliability!r}')
        self._node = node
        self._msg_type = msg_type
        self._callback = callback
        self._on_lost = on_lost
        self._depth = depth
        self.requested = reliability
        self.topic = node.resolve_topic_name(topic)
        self.effective = reliability
        self.reason = 'set by qos.reliability'
        self.changes = 0
        self._publishers: Optional[frozenset] = None
        self._subscription = None
        self._timer = None
        if reliability == AUTO:
            self.effective, self.reason = choose_reliability(self._look())
            self._timer = node.create_timer(GRAPH_CHECK_PERIOD, self.check_publishers,
                                            clock=clock)
        self._subscribe()

    @property
    def description(self) -> str:
        """The effective reliability and why, for logs and diagnostics."""
        if self.requested == AUTO:
            return f'{self.effective} (auto: {self.reason})'
        return self.effective

    def _look(self) -> list[Publisher]:
        publishers = _publishers(self._node, self.topic)
        self._publishers = frozenset(publishers)
        return publishers

    def _subscribe(self) -> None:
        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=self._depth,
            reliability=(ReliabilityPolicy.RELIABLE if self.effective == RELIABLE
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=DurabilityPolicy.VOLATILE)
        # A publisher that cannot match is reported by a graph check below, in words; rclpy's
        # default handler would log a generic warning once per publisher instead.
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda info: None,
            message_lost=lambda info: self._on_lost(int(info.total_count_change)))
        self._subscription = self._node.create_subscription(
            self._msg_type, self.topic, self._callback, qos, event_callbacks=events)

    def check_publishers(self) -> bool:
        """Follow a change in the topic's publishers; True when the subscription was re-made."""
        if self._subscription is None:
            return False
        previous = self._publishers
        publishers = self._look()
        if self._publishers == previous or not publishers:
            return False  # unchanged, or all gone: keep what matched them until one comes
        wanted, reason = choose_reliability(publishers)
        self.reason = reason
        if wanted == self.effective:
            return False
        self._node.get_logger().info(
            f'{self.topic}: switching the subscription from {self.effective} to {wanted} '
            f'({reason}); the tracks are kept')
        self._node.destroy_subscription(self._subscription)
        self.effective = wanted
        self.changes += 1
        self._subscribe()
        return True

    def destroy(self) -> None:
        """Destroy the subscription and the graph timer."""
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
            self._subscription = None
