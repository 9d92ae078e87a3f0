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
ARGUMENTS = {'bag', 'image_topic', 'params_file', 'output', 'model_path', 'device', 'rate',
             'storage'}


def test_replay_launch_file_declares_arguments_and_processes():
    source = REPLAY.read_text()
    compile(source, str(REPLAY), 'exec')
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'ARGUMENTS' for t in node.targets):
            names = {ast.literal_eval(entry.elts[0]) for entry in node.value.elts}
    assert names == ARGUMENTS
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {'ros2', 'bag', 'play', 'record', '--topics', '--rate', '--storage', '--output',
            'centertrack_ros', 'centertrack_node', 'centertrack', '/detections', 'image',
            'active'} <= strings
    calls = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {'ExecuteProcess', 'LifecycleNode', 'OnStateTransition', 'OnProcessExit',
            'Shutdown'} <= calls
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


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
