"""rclpy publishers of the interfaces built from msg/ advertise upstream's type hashes.

The hash a publisher offers over DDS is what a subscriber on another machine (an Autoware or
Foxglove system built elsewhere) compares with its own; msg/type_hashes.json records upstream's.
vision_msgs is checked in test/unit/setup/test_msgs.py.
"""

from __future__ import annotations

import importlib
import json
import uuid

import pytest
from support import REPO

RECORD = json.loads((REPO / 'msg' / 'type_hashes.json').read_text())['packages']


@pytest.mark.ros
def test_rclpy_publishers_advertise_the_upstream_hashes():
    """The hash a publisher offers over DDS (what a remote subscriber compares) is upstream's."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('centertrack_type_hashes', context=context)
        prefix = f'/centertrack_hash_test_{uuid.uuid4().hex[:12]}'
        for package, name in [(p, n) for p in RECORD if p != 'vision_msgs'
                              for n in RECORD[p]['hashes']]:
            module = importlib.import_module(f'{package}.msg')
            topic = f'{prefix}/{package}/{name.lower()}'
            node.create_publisher(getattr(module, name), topic, 1)
            (info,) = node.get_publishers_info_by_topic(topic)
            assert info.topic_type == f'{package}/msg/{name}'
            assert str(info.topic_type_hash) == RECORD[package]['hashes'][name], name
        node.destroy_node()
    finally:
        context.try_shutdown()
