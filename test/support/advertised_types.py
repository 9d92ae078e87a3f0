"""What rclpy publishers advertise over DDS for message types: the type name and its hash.

That hash is what a subscriber on another machine compares with its own, so the interface
packages built from ``msg/`` are checked through it. rclpy is imported at the call, not at
import time, so that modules without DDS tests can import this one.
"""

from __future__ import annotations

import uuid
from typing import Iterable


def advertised_types(message_types: Iterable[type], node_name: str) -> list[tuple[str, str]]:
    """Create one publisher per message type; return the (type name, type hash) each offers.

    The publishers live on a node ``node_name`` in a context of its own, on topics no other
    process uses, and are gone when this returns.
    """
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node(node_name, context=context)
        prefix = f'/{node_name}_{uuid.uuid4().hex[:12]}'
        offered = []
        for index, message_type in enumerate(message_types):
            topic = f'{prefix}/topic_{index}'
            node.create_publisher(message_type, topic, 1)
            (info,) = node.get_publishers_info_by_topic(topic)
            offered.append((info.topic_type, str(info.topic_type_hash)))
        node.destroy_node()
        return offered
    finally:
        context.try_shutdown()
