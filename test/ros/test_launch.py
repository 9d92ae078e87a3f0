"""The launch files: their arguments, and the nodes they start when launch_ros is installed.

``launch``/``launch_ros`` are not installable from PyPI, so without a ROS distribution only the
static checks run (the files compile and declare the documented arguments and node); with one,
the launch descriptions are also evaluated for a set of arguments.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
from support import REPO

LAUNCH = REPO / 'launch'
SINGLE = LAUNCH / 'centertrack.launch.py'
MULTI = LAUNCH / 'multi_camera.launch.py'
REPLAY = LAUNCH / 'replay.launch.py'
COMMON_ARGUMENTS = {'params_file', 'model_path', 'device'}
SINGLE_ARGUMENTS = {'namespace', 'image_topic'} | COMMON_ARGUMENTS
MULTI_ARGUMENTS = {'cameras', 'image_topic', 'one_node_per_camera'} | COMMON_ARGUMENTS
REPLAY_ARGUMENTS = {'bag', 'image_topic', 'output', 'rate', 'storage'} | COMMON_ARGUMENTS


def declared(path: Path) -> tuple[set[str], set[str], ast.Module]:
    """Return the argument names of ``ARGUMENTS``, the string constants, and the syntax tree.

    ``ARGUMENTS`` is the file's own tuple of entries plus ``launch_support.common_arguments()``.
    """
    from centertrack_ros.ros.launch_support import common_arguments

    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'ARGUMENTS' for t in node.targets):
            value = node.value
            assert isinstance(value, ast.BinOp), 'own entries + launch_support.common_arguments()'
            assert ast.unparse(value.right) == 'launch_support.common_arguments()'
            for entry in value.left.elts:
                names.add(ast.literal_eval(entry.elts[0]))
            names |= {name for name, _, _ in common_arguments()}
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return names, strings, tree


@pytest.mark.parametrize(('path', 'arguments'), [(SINGLE, SINGLE_ARGUMENTS),
                                                 (MULTI, MULTI_ARGUMENTS),
                                                 (REPLAY, REPLAY_ARGUMENTS)],
                         ids=['centertrack', 'multi_camera', 'replay'])
def test_launch_file_declares_its_arguments_and_the_node(path, arguments):
    compile(path.read_text(), str(path), 'exec')
    names, strings, tree = declared(path)
    assert names == arguments
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    assert {'centertrack_node', 'centertrack', 'image'} <= strings
    assert 'image/compressed' not in strings, 'the image remap carries the compressed topic'


def test_setup_installs_the_launch_and_config_files():
    setup = (REPO / 'setup.py').read_text()
    assert "_share('launch', '*.launch.py')" in setup
    assert "_share('config', '*.yaml')" in setup


def load_launch_file(path: Path):
    """Import a launch file as a module (needs launch and launch_ros)."""
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nodes_for(path: Path, arguments: dict[str, str]) -> list:
    """Evaluate a launch description for ``arguments``; return its Node actions."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch_ros.actions import Node

    from launch import LaunchContext

    description = load_launch_file(path).generate_launch_description()
    context = LaunchContext()
    context.launch_configurations.update(arguments)
    nodes = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            if entity.name not in arguments:
                context.launch_configurations[entity.name] = ''.join(
                    s.perform(context) for s in entity.default_value)
        elif isinstance(entity, OpaqueFunction):
            nodes += [a for a in entity.execute(context) if isinstance(a, Node)]
    return nodes


def test_launch_descriptions_evaluate():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installed (no ROS distribution); static checks only')
    single = nodes_for(SINGLE, {'namespace': 'front', 'image_topic': '/cam/image_raw',
                                'device': 'cpu'})
    assert len(single) == 1
    node = single[0]
    assert node.node_package == 'centertrack_ros'
    assert node.node_executable == 'centertrack_node'
    multi = nodes_for(MULTI, {'cameras': 'front, left,right'})
    assert len(multi) == 1, 'one node serves every camera by default'
    multi = nodes_for(MULTI, {'cameras': 'front, left,right', 'one_node_per_camera': 'true'})
    assert len(multi) == 3
