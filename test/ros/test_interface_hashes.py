"""rclpy publishers of the interfaces built from msg/ advertise upstream's type hashes.

The hash a publisher offers over DDS is what a subscriber on another machine (an Autoware or
Foxglove system built elsewhere) compares with its own; msg/type_hashes.json records upstream's.
vision_msgs is checked in test/unit/setup/test_msgs.py.
"""

from __future__ import annotations

import importlib
import json

import pytest
from support import REPO
from support.advertised_types import advertised_types

RECORD = json.loads((REPO / 'msg' / 'type_hashes.json').read_text())['packages']


@pytest.mark.ros
def test_rclpy_publishers_advertise_the_upstream_hashes():
    """The hash a publisher offers over DDS (what a remote subscriber compares) is upstream's."""
    names = [(p, n) for p in RECORD if p != 'vision_msgs' for n in RECORD[p]['hashes']]
    types = [getattr(importlib.import_module(f'{package}.msg'), name) for package, name in names]
    offered = advertised_types(types, 'centertrack_type_hashes')
    for (package, name), (type_name, type_hash) in zip(names, offered, strict=True):
        assert type_name == f'{package}/msg/{name}'
        assert type_hash == RECORD[package]['hashes'][name], name
