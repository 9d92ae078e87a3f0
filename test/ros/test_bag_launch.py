"""``launch/replay.launch.py``: static checks here, evaluation where launch_ros exists.

``launch``/``launch_ros`` and ``ros2 bag`` come only with a ROS distribution; without one the
file is compiled and its syntax tree checked for the documented arguments and the three
processes (recorder, node, player), and the evaluation test is skipped.
"""

from __future__ import annotations

import ast
import importlib.util

import pytest
from support import REPO

REPLAY = REPO / 'launch' / 'replay.launch.py'


def test_replay_launch_file_starts_recorder_node_and_player():
    # The declared arguments are checked with the other launch files' (test_launch.py).
    tree = ast.parse(REPLAY.read_text(), filename=str(REPLAY))
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {'ros2', 'bag', 'play', 'record', '--topics', '--rate', '--storage', '--output',
            'centertrack_node', 'centertrack', '/detections', 'active'} <= strings
    calls = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {'ExecuteProcess', 'LifecycleNode', 'OnStateTransition', 'OnProcessExit',
            'Shutdown'} <= calls
    # The node is this package's: the package name comes from the launch helper.
    assert 'launch_support.PACKAGE' in {ast.unparse(n) for n in ast.walk(tree)
                                        if isinstance(n, ast.Attribute)}


def test_replay_launch_description_evaluates():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installed (no ROS distribution); static checks only')
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
    from launch_ros.actions import LifecycleNode

    from launch import LaunchContext

    spec = importlib.util.spec_from_file_location('replay_launch', REPLAY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LaunchContext()
    arguments = {'bag': '/data/drive', 'image_topic': '/cam/image', 'output': '/data/out',
                 'rate': '0.5'}
    context.launch_configurations.update(arguments)
    actions = []
    for entity in module.generate_launch_description().entities:
        if isinstance(entity, DeclareLaunchArgument) and entity.name not in arguments:
            context.launch_configurations[entity.name] = ''.join(
                s.perform(context) for s in entity.default_value)
        elif isinstance(entity, OpaqueFunction):
            actions += entity.execute(context)
    processes = [a for a in actions if isinstance(a, ExecuteProcess)]
    nodes = [a for a in actions if isinstance(a, LifecycleNode)]
    assert len(processes) == 1 and len(nodes) == 1  # the player starts from an event handler
    record = ' '.join(''.join(s.perform(context) for s in part) for part in processes[0].cmd)
    assert record == 'ros2 bag record --storage mcap /detections --output /data/out'
    assert nodes[0].node_executable == 'centertrack_node'
