"""The node's settings as ROS parameters: declaring and reading them.

The settings themselves -- names, defaults, descriptions, validation -- are ROS-free and live
in :mod:`centertrack_ros.runtime.settings`; this module maps them onto ``rcl_interfaces``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)

from ..runtime.settings import (
    APPLIES_TEXT,
    BOOL,
    DOUBLE,
    DOUBLE_ARRAY,
    INTEGER,
    PARAMETERS,
    SPECS,
    STARTUP,
    STRING,
    STRING_ARRAY,
    ParameterSpec,
    check_value,
)

_TYPES = {
    STRING: ParameterType.PARAMETER_STRING, INTEGER: ParameterType.PARAMETER_INTEGER,
    DOUBLE: ParameterType.PARAMETER_DOUBLE, BOOL: ParameterType.PARAMETER_BOOL,
    STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY,
    DOUBLE_ARRAY: ParameterType.PARAMETER_DOUBLE_ARRAY,
}


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """Return the ``ParameterDescriptor`` to declare ``spec`` with."""
    out = ParameterDescriptor(
        name=spec.name,
        description=spec.description,
        additional_constraints=APPLIES_TEXT[spec.applies],
        read_only=spec.applies == STARTUP,
        dynamic_typing=spec.dynamic_typing,
    )
    if not spec.dynamic_typing:
        out.type = _TYPES[spec.type]
    if spec.float_range is not None:
        out.floating_point_range = [FloatingPointRange(
            from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)]
    if spec.int_range is not None:
        out.integer_range = [IntegerRange(
            from_value=spec.int_range[0], to_value=spec.int_range[1], step=spec.int_range[2])]
    return out


def declare(node: Any) -> None:
    """Declare every setting on ``node`` (overrides from the command line/YAML apply)."""
    from rclpy.parameter import Parameter
    for spec in PARAMETERS:
        default = spec.default
        if default is None:
            default = Parameter.Type(_TYPES[spec.type])  # declared without a value
        node.declare_parameter(spec.name, default, descriptor(spec))


def read(node: Any) -> dict[str, Any]:
    """Return all settings' current values; None for array settings without a value."""
    from rclpy.exceptions import ParameterUninitializedException
    values = {}
    for spec in PARAMETERS:
        try:
            values[spec.name] = node.get_parameter(spec.name).value
        except ParameterUninitializedException:
            values[spec.name] = None
    return values


def validator(params: list[Any]) -> SetParametersResult:
    """Accept a change of parameters only when every new value is valid (an on-set callback)."""
    from rclpy.parameter import Parameter
    for param in params:
        if param.type_ == Parameter.Type.NOT_SET:
            return SetParametersResult(successful=False, reason=f'{param.name} cannot be unset')
        problem = check_value(param.name, param.value)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
    return SetParametersResult(successful=True)


def integers_as_numbers(params: list[Any]) -> list[Any]:
    """Take an integer given for a number parameter as that number (a pre-set callback).

    ``ros2 param set /centertrack tracker.track_thresh 1`` sends an integer; rclpy would refuse
    it for a double parameter, although 1.0 is what the user meant.
    """
    from rclpy.parameter import Parameter
    out = []
    for param in params:
        spec = SPECS.get(param.name)
        if spec is not None and spec.type == DOUBLE and param.type_ == Parameter.Type.INTEGER:
            param = Parameter(param.name, Parameter.Type.DOUBLE, float(param.value))
        out.append(param)
    return out


def warn_unknown_overrides(node: Any) -> None:
    """Warn about overrides (YAML, command line) that name no parameter: likely misspelt."""
    overrides = getattr(node, '_parameter_overrides', {})
    for name in sorted(overrides):
        if node.has_parameter(name) or name.startswith('qos_overrides.'):
            continue
        node.get_logger().warn(f'parameter override {name!r} is not a parameter of this node; '
                               'ignored (centertrack_node --help lists them)')


_TYPE_WORDS = {
    STRING: 'a string', INTEGER: 'an integer', DOUBLE: 'a number', BOOL: 'true or false',
    STRING_ARRAY: 'a list of strings', DOUBLE_ARRAY: 'a list of numbers',
}


if TYPE_CHECKING:  # a mixin for rclpy's Node: checked against what it extends
    from rclpy.node import Node as _NodeBase
else:
    _NodeBase = object


class ReadableParameterErrors(_NodeBase):
    """Say in words what rclpy reports in codes when a parameter is set wrongly.

    rclpy refuses a value of the wrong type with "Wrong parameter type, expected '2' got '4'"
    (enum numbers), and an undeclared name with "Invalid access to undeclared parameter(s): []"
    (the names lost on the way). Mixed in before ``Node``, these wrappers keep rclpy's checks
    and only replace the texts.
    """

    def _apply_descriptor(self, parameter: Any, descriptor: Any = None,
                          check_read_only: bool = True) -> SetParametersResult:
        spec = SPECS.get(parameter.name)
        result = super()._apply_descriptor(parameter, descriptor, check_read_only)
        if not result.successful and result.reason.startswith('Wrong parameter type') and \
                spec is not None:
            result.reason = (f'{parameter.name} must be {_TYPE_WORDS[spec.type]}; got '
                             f'{parameter.value!r} ({parameter.type_.name.lower()})')
        return result

    def _check_undeclared_parameters(self, parameter_list: list[Any]) -> None:
        from rclpy.exceptions import ParameterNotDeclaredException
        unknown = [p.name for p in parameter_list if not self.has_parameter(p.name)]
        if unknown and not self._allow_undeclared_parameters:
            raise ParameterNotDeclaredException(
                [f'{name} (not a parameter of this node; centertrack_node --help lists them)'
                 for name in unknown])
        super()._check_undeclared_parameters(parameter_list)


def usage() -> argparse.ArgumentParser:
    """Return the node's command-line parser: no options of its own besides ``--help``."""
    rows = [f'  {spec.name} (default '
            f'{"unset" if spec.default is None else repr(spec.default)}, {spec.applies}): '
            f'{spec.description}' for spec in PARAMETERS]
    return argparse.ArgumentParser(
        prog='centertrack_node',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='CenterTrack multi-object tracking as a ROS 2 lifecycle node: subscribes to '
                    'image (or image/compressed), publishes detections '
                    '(vision_msgs/Detection2DArray, Detection2D.id = track id), label_info, '
                    '~/debug_image and /diagnostics; service ~/reset.',
        epilog='ROS arguments follow --ros-args, e.g.\n'
               '  centertrack_node --ros-args -r image:=/camera/image_raw '
               '-p model.path:=model.pth -p device:=cuda\n\nparameters:\n' + '\n'.join(rows))
