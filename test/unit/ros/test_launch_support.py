"""The launch files' shared arguments and the parameters they become (no launch package needed)."""

from __future__ import annotations

import os

from centertrack_ros.ros.launch_support import common_arguments, node_parameters, overrides


def test_common_arguments_point_at_the_installed_parameters_file():
    arguments = {name: default for name, default, _ in common_arguments()}
    assert set(arguments) == {'params_file', 'model_path', 'device'}
    assert arguments['params_file'].endswith(os.path.join('config', 'centertrack.yaml'))
    assert os.path.isfile(arguments['params_file'])
    assert arguments['model_path'] == arguments['device'] == ''


def test_empty_arguments_leave_the_parameters_file_alone():
    values = {'params_file': 'p.yaml', 'model_path': '', 'device': ''}
    assert overrides(values) == {}
    assert node_parameters(values) == ['p.yaml']


def test_given_arguments_override_the_file_and_extras_join_them():
    values = {'params_file': 'p.yaml', 'model_path': '/m/x.onnx', 'device': 'cuda:1'}
    assert node_parameters(values, cameras=['a', 'b']) == [
        'p.yaml', {'model.path': '/m/x.onnx', 'device': 'cuda:1', 'cameras': ['a', 'b']}]
