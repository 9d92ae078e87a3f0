"""The node's settings as ROS parameters: declaring and reading them.

The settings themselves -- names, defaults, descriptions, validation -- are ROS-free and live
in :mod:`centertrack_ros.runtime.settings`; this module maps them onto ``rcl_interfaces``.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

from ..runtime.settings import (
    APPLIES_TEXT,
    BOOL,
    DOUBLE,
    DOUBLE_ARRAY,
    INTEGER,
    PARAMETERS,
    STARTUP,
    STRING,
    STRING_ARRAY,
    ParameterSpec,
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
