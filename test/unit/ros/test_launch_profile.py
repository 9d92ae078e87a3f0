"""Every process a launch file starts gets the large-image Fast DDS profile unless one is set.

``launch`` is not installable here (no ROS distribution), so the few classes
:func:`~centertrack_ros.ros.launch_support.launch_description` builds are stood in for by
records of their arguments; the decision itself (what the launching environment gets) is the
package's code, run as a launch would run it.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from centertrack_ros.ros.launch_support import environment_defaults, launch_description
from centertrack_ros.runtime.dds_profile import PROFILE_VARIABLE, profile_path


@dataclass
class Recorded:
    """A launch entity as built: its positional and keyword arguments."""

    kind: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


def _entity(kind: str) -> Callable[..., Recorded]:
    return lambda *args, **kwargs: Recorded(kind, args, kwargs)


@pytest.fixture
def launch_stand_in(monkeypatch):
    """Put stand-ins for ``launch``, ``launch.actions`` and ``launch.substitutions`` in place."""
    launch = types.ModuleType('launch')
    actions = types.ModuleType('launch.actions')
    substitutions = types.ModuleType('launch.substitutions')
    launch.LaunchDescription = lambda entities: list(entities)
    for name in ('DeclareLaunchArgument', 'OpaqueFunction', 'SetEnvironmentVariable'):
        setattr(actions, name, _entity(name))

    class LaunchConfiguration:
        def __init__(self, name: str) -> None:
            self.name = name

        def perform(self, context: Any) -> str:
            return context.launch_configurations[self.name]

    substitutions.LaunchConfiguration = LaunchConfiguration
    for module in (launch, actions, substitutions):
        monkeypatch.setitem(sys.modules, module.__name__, module)


class Context:
    """What the launch passes to an OpaqueFunction: its environment and arguments."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        self.launch_configurations = {'camera': 'front'}


def run(entities: list[Recorded], context: Context) -> list[Recorded]:
    """Return what the description's OpaqueFunctions give for ``context``, in order."""
    out = []
    for entity in entities:
        if entity.kind == 'OpaqueFunction':
            out += entity.kwargs['function'](context)
    return out


def test_the_profile_is_set_for_the_launched_processes_unless_the_user_set_one(launch_stand_in):
    nodes = []
    entities = launch_description((('camera', 'front', 'a camera'),),
                                  lambda values: nodes.append(values) or ['the node'])
    # The environment comes first, before any process can start.
    assert entities[0].kind == 'OpaqueFunction'
    assert [e.kind for e in entities[1:]] == ['DeclareLaunchArgument', 'OpaqueFunction']
    started = run(entities, Context({'HOME': '/root'}))
    assert started[0] == Recorded('SetEnvironmentVariable',
                                  (PROFILE_VARIABLE, str(profile_path())))
    assert started[1:] == ['the node'] and nodes == [{'camera': 'front'}]
    for own in ({PROFILE_VARIABLE: '/mine.xml'}, {PROFILE_VARIABLE: ''},
                {'FASTRTPS_DEFAULT_PROFILES_FILE': '/old.xml'}):
        assert run(entities, Context(own)) == ['the node']


def test_environment_defaults_follow_the_launching_environment():
    assert environment_defaults({}) == {PROFILE_VARIABLE: str(profile_path())}
    assert environment_defaults({PROFILE_VARIABLE: ''}) == {}
