"""The node's settings without DDS: the parameter contract, its checks and its core mapping."""

from __future__ import annotations

import pytest
import yaml
from rcl_interfaces.msg import ParameterType
from support import REPO

from centertrack_ros.core.config import ConfigError, TrackerConfig
from centertrack_ros.core.model_spec import ModelSpec
from centertrack_ros.ros import parameters as ros_parameters
from centertrack_ros.runtime import settings as parameters

CONTRACT = {  # the parameter names users and launch files rely on
    'model.preset', 'model.path', 'model.arch', 'model.backbone', 'model.neck',
    'model.num_classes', 'model.class_names', 'model.ltrb_amodal', 'model.input_width',
    'model.input_height', 'model.mean', 'model.std', 'tracker.track_thresh',
    'tracker.pre_thresh', 'tracker.new_thresh', 'tracker.max_age', 'tracker.hungarian',
    'tracker.pre_hm', 'tracker.association', 'tracker.low_thresh', 'tracker.motion',
    'tracker.prior_lost', 'device', 'engine', 'threads', 'half', 'use_compressed',
    'qos.reliability', 'qos.depth', 'cameras', 'camera_schedule', 'camera_lanes',
    'batch_wait_ms',
    'camera_info.matrix',
    'max_frame_gap', 'autostart', 'autoware.enabled', 'autoware.class_map',
    'autoware.velocity_window', 'autoware.pixel_sigma', 'autoware.depth_sigma_base',
    'autoware.depth_sigma_ratio', 'autoware.yaw_sigma', 'autoware.uuid_instance',
    'annotations.trail_length',
}


def defaults() -> dict:
    """Return every parameter's default value (None where declared without one)."""
    return {spec.name: spec.default for spec in parameters.PARAMETERS}


def test_the_parameter_contract_is_declared():
    assert set(parameters.SPECS) == CONTRACT
    for spec in parameters.PARAMETERS:
        descriptor = ros_parameters.descriptor(spec)
        assert descriptor.description, spec.name
        assert descriptor.read_only == (spec.name in ('autostart', 'cameras'))
    assert ros_parameters.descriptor(parameters.SPECS['tracker.track_thresh']) \
        .floating_point_range[0].to_value == 1.0
    assert ros_parameters.descriptor(parameters.SPECS['model.input_width']) \
        .integer_range[0].step == 32


def test_the_yaml_file_lists_every_parameter_with_its_default():
    text = (REPO / 'config' / 'centertrack.yaml').read_text()
    values = yaml.safe_load(text)['/**']['ros__parameters']
    for name, spec in parameters.SPECS.items():
        if spec.default is None:  # empty arrays cannot be written: present as a comment
            assert f'# {name}:' in text, name
            continue
        assert name in values, name
        assert values[name] == spec.default, name
    assert set(values) <= set(parameters.SPECS)


def test_defaults_mean_everything_comes_from_the_model():
    values = defaults()
    assert parameters.check_all(values) is None
    assert parameters.model_spec(values) == ModelSpec()
    model_tracker = TrackerConfig(track_thresh=0.3, pre_thresh=0.35, new_thresh=0.45,
                                  max_age=10, association='byte', low_thresh=0.15,
                                  motion='velocity')
    assert parameters.tracker_overrides(values).apply(model_tracker) == model_tracker
    assert parameters.runtime_config(values).device == 'auto'


def test_parameters_map_onto_the_core_configuration():
    values = defaults() | {
        'model.path': '~/m.pth', 'model.preset': 'mot17_half', 'model.num_classes': 2,
        'model.class_names': ['car', 'person'], 'model.ltrb_amodal': 'false',
        'model.input_width': 640, 'model.mean': [0.1, 0.2, 0.3], 'tracker.track_thresh': 0.25,
        'tracker.max_age': 5, 'tracker.hungarian': True, 'device': 'cuda:1', 'half': True,
    }
    spec = parameters.model_spec(values)
    assert (spec.path, spec.preset, spec.num_classes, spec.class_names) == (
        '~/m.pth', 'mot17_half', 2, ('car', 'person'))
    assert (spec.ltrb_amodal, spec.input_width, spec.input_height, spec.mean) == (
        False, 640, 0, (0.1, 0.2, 0.3))
    tracker = parameters.tracker_overrides(values).apply(TrackerConfig(pre_thresh=0.6))
    assert (tracker.track_thresh, tracker.pre_thresh, tracker.max_age, tracker.hungarian) == (
        0.25, 0.6, 5, True)
    runtime = parameters.runtime_config(values)
    assert (runtime.device, runtime.half) == ('cuda:1', True)


@pytest.mark.parametrize(('value', 'expected'), [
    ('auto', None), ('', None), ('TRUE', True), ('false', False), (True, True), (False, False)])
def test_ltrb_amodal_is_a_tri_state(value, expected):
    assert parameters.check_value('model.ltrb_amodal', value) is None
    assert parameters.ltrb_amodal(value) is expected


@pytest.mark.parametrize(('name', 'value', 'words'), [
    ('tracker.track_thresh', 1.01, 'must be in [0, 1] or -1'),
    ('tracker.pre_thresh', -0.2, 'must be in [0, 1] or -1'),
    ('tracker.max_age', -3, "must be -2 (the model's value), -1 (drop at once) or >= 0"),
    ('tracker.association', 'bytetrack', 'must be one of'),
    ('tracker.association', 'BYTE', 'greedy, hungarian, byte'),
    ('tracker.low_thresh', 1.2, 'must be in [0, 1] or -1'),
    ('tracker.motion', 'kalman', 'must be one of'),
    ('model.input_height', 100, 'multiple of 32'),
    ('model.std', [0.2, 0.0, 0.2], 'must be > 0'),
    ('model.class_names', ['car', ' '], 'must not be empty'),
    ('model.preset', 'coco', 'model.preset must be one of'),
    ('model.backbone', 'resnet', 'model.backbone must be one of'),
    ('device', 'cuda:x', 'device must be'),
    ('engine', 'tensorrt', 'engine must be one of auto, onnxruntime, torch, reference'),
    ('threads', -1, 'threads must be >= 0 (0 = the default)'),
    ('cameras', ['front', '2nd'], 'names must start with a letter'),
    ('cameras', ['front', 'front'], 'names must be unique'),
    ('batch_wait_ms', -5.0, 'must be >= 0'),
    ('qos.reliability', '', 'must be one of auto, best_effort, reliable'),
    ('max_frame_gap', -1.0, 'must be >= 0'),
    ('no.such', 1, 'not a parameter of this node'),
])
def test_invalid_values_are_explained(name, value, words):
    problem = parameters.check_value(name, value)
    assert problem is not None and words in problem
    assert parameters.check_all(defaults() | {name: value}) is not None


def test_association_settings_override_the_model_or_leave_its_own():
    model_tracker = TrackerConfig(association='byte', low_thresh=0.2, motion='velocity')
    kept = parameters.tracker_overrides(defaults()).apply(model_tracker)
    assert (kept.association, kept.low_thresh, kept.motion, kept.prior_lost) == (
        'byte', 0.2, 'velocity', False)
    values = defaults() | {'tracker.association': 'greedy', 'tracker.low_thresh': 0.05,
                           'tracker.motion': 'none', 'tracker.prior_lost': True}
    changed = parameters.tracker_overrides(values).apply(model_tracker)
    assert (changed.association, changed.low_thresh, changed.motion, changed.prior_lost) == (
        'greedy', 0.05, 'none', True)
    # tracker.hungarian, the original's switch, makes greedy matching optimal, in BYTE too.
    alias = parameters.tracker_overrides(defaults() | {'tracker.hungarian': True})
    assert alias.apply(TrackerConfig()).optimal_matching
    assert alias.apply(model_tracker).byte and alias.apply(model_tracker).optimal_matching


def test_max_age_minus_one_drops_at_once_whatever_the_model_says():
    model_tracker = TrackerConfig(max_age=10)
    for value, expected in ((-2, 10), (-1, -1), (0, 0), (25, 25)):
        assert parameters.check_value('tracker.max_age', value) is None
        values = defaults() | {'tracker.max_age': value}
        assert parameters.tracker_overrides(values).apply(model_tracker).max_age == expected


def test_thresholds_accept_the_model_sentinel_and_the_unit_interval():
    for value in (-1.0, 0.0, 0.5, 1.0):
        assert parameters.check_value('tracker.new_thresh', value) is None
    with pytest.raises(ConfigError):
        parameters.tracker_overrides(defaults() | {'tracker.max_age': -5}).apply(TrackerConfig())


def test_array_parameters_are_declared_without_a_value():
    for name in ('model.class_names', 'model.mean', 'model.std', 'cameras'):
        spec = parameters.SPECS[name]
        assert spec.default is None
        assert ros_parameters.descriptor(spec).type in (ParameterType.PARAMETER_STRING_ARRAY,
                                                        ParameterType.PARAMETER_DOUBLE_ARRAY)
