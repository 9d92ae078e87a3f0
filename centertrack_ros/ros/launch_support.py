"""What the package's launch files share: their common arguments and how they become parameters.

Each launch file names its own arguments and the nodes it starts; the arguments every one of
them takes (the parameters file, a model path and a device that override it), the way they
are declared and resolved, and the environment every launched process gets (the package's
large-image Fast DDS profile unless the user set one) live here, once. ``launch`` and
``launch_ros`` are imported only by the functions that build launch actions, so the tables can
be read (and tested) without them.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Sequence

from ..runtime.dds_profile import profile_environment

PACKAGE = 'centertrack_ros'
Argument = tuple[str, str, str]  # name, default, description


def share_file(*parts: str) -> str:
    """Return the path of an installed share file of the package (``config``, ``launch``...)."""
    from ament_index_python.packages import get_package_share_directory
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def common_arguments() -> tuple[Argument, ...]:
    """Return the arguments of every launch file: the parameters file and its overrides."""
    return (
        ('params_file', share_file('config', 'centertrack.yaml'), 'Parameters YAML file'),
        ('model_path', '', 'Checkpoint (.pth) or exported network (.onnx); empty = the '
                           "parameters file's model.path"),
        ('device', '', "auto, cpu, cuda or cuda:N; empty = the parameters file's device"),
    )


def overrides(values: dict[str, str]) -> dict[str, Any]:
    """Return the node parameters that ``model_path`` and ``device`` set when given."""
    out: dict[str, Any] = {}
    if values.get('model_path'):
        out['model.path'] = values['model_path']
    if values.get('device'):
        out['device'] = values['device']
    return out


def node_parameters(values: dict[str, str], **extra: Any) -> list[Any]:
    """Return a node's ``parameters``: the file, then the overrides (and ``extra``) on top."""
    changes = {**overrides(values), **extra}
    return [values['params_file']] + ([changes] if changes else [])


def environment_defaults(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return the variables a launch sets for every process it starts, given ``environ``.

    The package's large-image Fast DDS profile, unless the launching environment sets a profile
    variable itself (an empty value switches it off): without it a reliable 1080p frame between
    two processes waits seconds for a lost UDP fragment to be repaired.
    """
    return profile_environment(environ)


def launch_description(arguments: Sequence[Argument],
                       actions: Callable[[dict[str, str]], list[Any]]) -> Any:
    """Declare ``arguments`` and add what ``actions`` returns for their resolved values.

    Every process the description starts gets :func:`environment_defaults` of the launching
    environment.
    """
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription

    def environment(context: Any) -> list[Any]:
        # The environment as the launch has it when it gets here (an including launch file
        # may have set a profile before), not as it was when this file was loaded.
        launching = getattr(context, 'environment', os.environ)
        return [SetEnvironmentVariable(name, value)
                for name, value in environment_defaults(launching).items()]

    def resolved(context: Any) -> list[Any]:
        values = {name: LaunchConfiguration(name).perform(context) for name, _, _ in arguments}
        return actions(values)

    return LaunchDescription(
        [OpaqueFunction(function=environment)]
        + [DeclareLaunchArgument(name, default_value=default, description=text)
           for name, default, text in arguments] + [OpaqueFunction(function=resolved)])
