"""Configuration sections, the official option mapping and the model-zoo presets."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields, replace

import pytest
import torch
from support import reference_data as ref

from centertrack_ros.core.config import (
    DEFAULT_MEAN,
    DEFAULT_STD,
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
)
from centertrack_ros.core.device import resolve_device
from centertrack_ros.core.errors import ConfigError, DeviceError
from centertrack_ros.core.presets import COCO_CLASSES, PRESETS, preset

# The ten experiments of the official model zoo (experiments/*.sh of the original).
ZOO = ('coco_tracking', 'crowdhuman', 'mot17_half', 'mot17_half_sc', 'mot17_fulltrain',
       'mot17_fulltrain_sc', 'kitti_half', 'kitti_half_sc', 'kitti_fulltrain', 'nuscenes_3d')
# The test command of a preset's experiment script, as reference folders record it in
# ``official_args`` (without ``--gpus``): a folder made with it must resolve to the preset.
PRESET_TEST_ARGS = {
    'nuscenes_3d': ('tracking,ddd', '--dataset', 'nuscenes', '--pre_hm', '--track_thresh',
                    '0.1'),
}


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize('arch', ['dla34', 'resnet_18', 'hourglass', '', 'DLA_34'])
def test_model_rejects_unknown_architecture(arch):
    with pytest.raises(ConfigError, match='arch'):
        ModelConfig(arch=arch)


def test_model_generic_checks_backbone_and_neck():
    with pytest.raises(ConfigError, match='backbone'):
        ModelConfig(arch='generic', backbone='resnet')
    with pytest.raises(ConfigError, match='neck'):
        ModelConfig(arch='generic', neck='fpn')
    # dla_34 has a fixed backbone: the backbone field is not consulted there.
    assert ModelConfig(arch='dla_34', backbone='anything').arch == 'dla_34'
    assert ModelConfig(arch='generic', backbone='dla34').backbone == 'dla34'


@pytest.mark.parametrize('num_classes', [0, -1])
def test_model_rejects_class_count_below_one(num_classes):
    with pytest.raises(ConfigError, match='num_classes'):
        ModelConfig(num_classes=num_classes)


def test_model_class_names_must_match_count():
    with pytest.raises(ConfigError, match='2 names .*num_classes is 3'):
        ModelConfig(num_classes=3, class_names=('a', 'b'))
    with pytest.raises(ConfigError, match='class_names'):
        ModelConfig(num_classes=1, class_names=('a', 'b'))
    assert ModelConfig(num_classes=2, class_names=('a', 'b')).class_names == ('a', 'b')
    assert ModelConfig(num_classes=5).class_names == ()  # names are optional


@pytest.mark.parametrize('down_ratio', [1, 2, 8])
def test_model_output_stride_is_fixed(down_ratio):
    with pytest.raises(ConfigError, match='stride'):
        ModelConfig(down_ratio=down_ratio)


def test_model_head_width_defaults_follow_the_original():
    # opts.py: head_conv -1 -> 256 if 'dla' in arch else 64 ('generic' has no 'dla').
    assert ModelConfig(arch='dla_34').head_channels == 256
    assert ModelConfig(arch='generic').head_channels == 64
    assert ModelConfig(arch='generic', backbone='dla34').head_channels == 64
    assert ModelConfig(arch='dla_34', head_conv=64).head_channels == 64
    assert ModelConfig(arch='generic', head_conv=128).head_channels == 128


def test_model_heads_in_official_order():
    assert list(ModelConfig(num_classes=3).heads.items()) == [
        ('hm', 3), ('reg', 2), ('wh', 2), ('tracking', 2)]
    assert list(ModelConfig(num_classes=1, ltrb_amodal=True).heads.items()) == [
        ('hm', 1), ('reg', 2), ('wh', 2), ('tracking', 2), ('ltrb_amodal', 4)]


def test_model_class_name_lookup_is_one_based():
    model = ModelConfig(num_classes=3, class_names=('Pedestrian', 'Car', 'Cyclist'))
    assert [model.class_name(i) for i in (1, 2, 3)] == ['Pedestrian', 'Car', 'Cyclist']
    assert model.class_name(0) == '0'
    assert model.class_name(4) == '4'
    assert ModelConfig(num_classes=2).class_name(2) == '2'


@pytest.mark.parametrize(('width', 'height'), [
    (960, 540), (100, 64), (0, 64), (64, 0), (-32, 64), (16, 64), (64, 31)])
def test_input_size_must_be_multiple_of_32(width, height):
    with pytest.raises(ConfigError, match='multiple of 32'):
        InputConfig(width=width, height=height)


def test_input_accepts_multiples_of_32_and_derives_output_size():
    config = InputConfig(width=1280, height=384)
    assert (config.output_width, config.output_height) == (320, 96)
    config = InputConfig(width=32, height=32)
    assert (config.output_width, config.output_height) == (8, 8)


def test_input_normalisation_checks():
    with pytest.raises(ConfigError, match='3 values'):
        InputConfig(mean=(0.5, 0.5))
    with pytest.raises(ConfigError, match='3 values'):
        InputConfig(std=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match='std'):
        InputConfig(std=(0.2, 0.0, 0.2))
    with pytest.raises(ConfigError, match='std'):
        InputConfig(std=(0.2, -0.1, 0.2))


@pytest.mark.parametrize('name', ['track_thresh', 'pre_thresh', 'new_thresh'])
@pytest.mark.parametrize('value', [-0.01, 1.01, 2.0, -1.0])
def test_tracker_thresholds_must_be_probabilities(name, value):
    with pytest.raises(ConfigError, match=name):
        TrackerConfig(**{name: value})


@pytest.mark.parametrize('name', ['track_thresh', 'pre_thresh', 'new_thresh'])
@pytest.mark.parametrize('value', [0.0, 1.0])
def test_tracker_threshold_bounds_are_inclusive(name, value):
    assert getattr(TrackerConfig(**{name: value}), name) == value


def test_tracker_other_limits():
    with pytest.raises(ConfigError, match='out_thresh'):
        TrackerConfig(out_thresh=1.5)
    assert TrackerConfig(out_thresh=-1.0).out_thresh == -1.0  # the original's "unset"
    with pytest.raises(ConfigError, match='max_age'):
        TrackerConfig(max_age=-2)
    assert TrackerConfig(max_age=0).max_age == 0
    for k in (0, -5, 1001):
        with pytest.raises(ConfigError, match='K'):
            TrackerConfig(K=k)
    assert TrackerConfig(K=1).K == 1
    assert TrackerConfig(K=1000).K == 1000


@pytest.mark.parametrize(('track', 'other', 'effective'), [
    (0.4, 0.5, 0.5), (0.4, 0.3, 0.4), (0.4, 0.4, 0.4), (0.0, 0.0, 0.0), (0.9, 0.1, 0.9)])
def test_effective_thresholds_are_raised_to_track_thresh(track, other, effective):
    # opts.py: pre/new/out_thresh = max(track_thresh, value).
    config = TrackerConfig(track_thresh=track, pre_thresh=other, new_thresh=other,
                           out_thresh=other)
    assert config.effective_pre_thresh == effective
    assert config.effective_new_thresh == effective
    assert config.effective_out_thresh == effective


def test_effective_thresholds_are_independent():
    config = TrackerConfig(track_thresh=0.3, pre_thresh=0.6, new_thresh=0.5, out_thresh=-1)
    assert (config.effective_pre_thresh, config.effective_new_thresh,
            config.effective_out_thresh) == (0.6, 0.5, 0.3)


@pytest.mark.parametrize('device', ['auto', 'cpu', 'cuda', 'cuda:0', 'cuda:1', 'cuda:12'])
def test_runtime_accepts_device_strings(device):
    assert RuntimeConfig(device=device).device == device


@pytest.mark.parametrize('device', ['gpu', 'CUDA', 'cuda:', 'cuda:x', 'cuda:-1', 'cuda0',
                                    'cpu:0', 'mps', '', ' cpu'])
def test_runtime_rejects_bad_device_strings(device):
    with pytest.raises(ConfigError, match='device'):
        RuntimeConfig(device=device)


def test_resolve_device():
    assert resolve_device('cpu') == torch.device('cpu')
    if torch.cuda.is_available():
        assert resolve_device('auto').type == 'cuda'
        count = torch.cuda.device_count()
        with pytest.raises(DeviceError, match=f'only {count} CUDA'):
            resolve_device(f'cuda:{count}')
    else:
        assert resolve_device('auto') == torch.device('cpu')  # with a warning
        for setting in ('cuda', 'cuda:0'):
            with pytest.raises(DeviceError, match='CUDA is not available'):
                resolve_device(setting)


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)


def test_sections_are_frozen_and_replace_returns_copy():
    config = CenterTrackConfig()
    with pytest.raises(FrozenInstanceError):
        config.tracker.track_thresh = 0.9  # type: ignore[misc]
    changed = config.replace(tracker=TrackerConfig(track_thresh=0.9))
    assert changed.tracker.track_thresh == 0.9
    assert config.tracker.track_thresh == TrackerConfig().track_thresh
    assert changed.model is config.model


def test_to_dict_is_nested_and_complete():
    data = CenterTrackConfig().to_dict()
    assert set(data) == {'model', 'input', 'tracker', 'runtime'}
    assert set(data['tracker']) == {f.name for f in fields(TrackerConfig)}
    assert data['input']['mean'] == DEFAULT_MEAN


def test_default_statistics_are_centernet_bgr():
    # generic_dataset.py of the original: ImageNet mean/std in BGR order.
    assert DEFAULT_MEAN == pytest.approx((0.40789654, 0.44719302, 0.47026115), abs=1e-8)
    assert DEFAULT_STD == pytest.approx((0.28863828, 0.27408164, 0.27809835), abs=1e-8)


# ---------------------------------------------------------------- official option mapping

@pytest.mark.parametrize('folder', ref.folder_params())
def test_from_official_options_on_reference_configs(folder):
    options = ref.expected(folder)['config']
    config = CenterTrackConfig.from_official_options(options)
    model, inp, tracker = config.model, config.input, config.tracker
    assert model.arch == options.get('arch', 'dla_34')
    if model.arch == 'generic':
        assert model.backbone == options['backbone']
        assert model.neck == options['neck']
    assert model.num_classes == options['num_classes']
    assert model.heads == options['heads']
    assert model.ltrb_amodal == ('ltrb_amodal' in options['heads'])
    assert model.ddd == ('dep' in options['heads'])
    assert model.depth_scale == options.get('depth_scale', 1)
    assert model.class_names == tuple(options.get('class_names', ()))
    if isinstance(options.get('head_conv'), dict):
        widths = {w for v in options['head_conv'].values() for w in v}
        assert model.head_channels == widths.pop()
    else:
        assert model.head_channels == (256 if 'dla' in model.arch else 64)
    assert (inp.width, inp.height) == (options['input_w'], options['input_h'])
    assert inp.mean == pytest.approx(tuple(options.get('mean', DEFAULT_MEAN)))
    assert inp.std == pytest.approx(tuple(options.get('std', DEFAULT_STD)))
    assert tracker.track_thresh == options['track_thresh']
    # The stored options were already raised by the original parser; ours must agree.
    assert tracker.effective_pre_thresh == pytest.approx(options['pre_thresh'])
    assert tracker.effective_new_thresh == pytest.approx(options['new_thresh'])
    assert tracker.effective_out_thresh == pytest.approx(options['out_thresh'])
    assert tracker.max_age == options['max_age']
    assert tracker.hungarian == options['hungarian']
    assert tracker.K == options['K']
    assert tracker.pre_hm == (options['pre_hm'] and not options.get('zero_pre_hm', False))


def test_from_official_options_applies_original_defaults():
    config = CenterTrackConfig.from_official_options(
        {'num_classes': 2, 'input_w': 640, 'input_h': 320})
    assert config.model.arch == 'dla_34'
    assert config.model.head_channels == 256
    assert config.model.ltrb_amodal is False
    assert config.model.pre_img and config.model.pre_hm
    # opts.py defaults: track 0.3, pre -1, new 0.3, out -1, max_age -1, K 100.
    tracker = config.tracker
    assert tracker.track_thresh == 0.3
    assert tracker.effective_pre_thresh == 0.3
    assert tracker.effective_new_thresh == 0.3
    assert tracker.effective_out_thresh == 0.3
    assert (tracker.max_age, tracker.hungarian, tracker.K) == (-1, False, 100)
    assert config.input.mean == DEFAULT_MEAN


def test_from_official_options_unset_pre_thresh():
    config = CenterTrackConfig.from_official_options(
        {'num_classes': 1, 'input_w': 96, 'input_h': 64, 'track_thresh': 0.45,
         'pre_thresh': -1, 'new_thresh': 0.2})
    assert config.tracker.effective_pre_thresh == 0.45
    assert config.tracker.effective_new_thresh == 0.45


def test_from_official_options_flags():
    base = {'num_classes': 1, 'input_w': 96, 'input_h': 64}
    config = CenterTrackConfig.from_official_options({**base, 'no_pre_img': True,
                                                      'zero_pre_hm': True, 'hungarian': True,
                                                      'max_age': 5, 'head_conv': 32})
    assert config.model.pre_img is False
    assert config.model.pre_hm is True  # the network keeps its pre_hm input
    assert config.tracker.pre_hm is False  # but is fed zeros
    assert config.tracker.hungarian is True
    assert config.tracker.max_age == 5
    assert config.model.head_channels == 32
    config = CenterTrackConfig.from_official_options({**base, 'heads': {'hm': 1, 'reg': 2,
                                                                        'ltrb_amodal': 4}})
    assert config.model.ltrb_amodal is True


def test_from_official_options_rejects_unsupported():
    base = {'num_classes': 1, 'input_w': 96, 'input_h': 64}
    with pytest.raises(ConfigError, match='head_conv'):
        CenterTrackConfig.from_official_options(
            {**base, 'head_conv': {'hm': [256], 'reg': [128]}})
    with pytest.raises(ConfigError, match='head_conv'):
        CenterTrackConfig.from_official_options({**base, 'head_conv': {'hm': [256, 256]}})
    with pytest.raises(ConfigError, match='dla_node'):
        CenterTrackConfig.from_official_options({**base, 'dla_node': 'conv'})
    with pytest.raises(ConfigError, match='multiple of 32'):
        CenterTrackConfig.from_official_options({**base, 'input_w': 100})
    with pytest.raises(ConfigError, match='arch'):
        CenterTrackConfig.from_official_options({**base, 'arch': 'res_18'})
    with pytest.raises(KeyError):
        CenterTrackConfig.from_official_options({'input_w': 96, 'input_h': 64})


# ------------------------------------------------------------------------------ presets

def test_all_zoo_presets_exist():
    assert set(PRESETS) == set(ZOO)


@pytest.mark.parametrize('name', ZOO)
def test_preset_builds_and_is_consistent(name):
    config = preset(name)
    assert isinstance(config, CenterTrackConfig)
    assert config.model.arch == 'dla_34'
    assert config.model.head_channels == 256
    assert len(config.model.class_names) == config.model.num_classes
    assert config.input.mean == DEFAULT_MEAN
    assert config.input.std == DEFAULT_STD
    tracker = config.tracker
    assert (tracker.max_age, tracker.hungarian, tracker.K) == (-1, False, 100)
    assert tracker.pre_hm and config.model.pre_hm and config.model.pre_img


@pytest.mark.parametrize('name', [n for n in ZOO if n.startswith('mot17') or n == 'crowdhuman'])
def test_person_presets(name):
    config = preset(name)
    assert config.model.num_classes == 1
    assert config.model.ltrb_amodal is True
    assert 'ltrb_amodal' in config.model.heads
    assert (config.input.height, config.input.width) == (544, 960)
    # test.py ... --track_thresh 0.4 --pre_thresh 0.5 (new_thresh 0.3 raised to 0.4).
    assert config.tracker.effective_pre_thresh == 0.5
    assert config.tracker.effective_new_thresh == 0.4
    assert config.tracker.effective_out_thresh == 0.4


@pytest.mark.parametrize('name', [n for n in ZOO if n.startswith('kitti')])
def test_kitti_presets(name):
    config = preset(name)
    assert config.model.num_classes == 3
    assert config.model.class_names == ('Pedestrian', 'Car', 'Cyclist')
    assert config.model.ltrb_amodal is False
    assert (config.input.height, config.input.width) == (384, 1280)
    assert config.tracker.effective_out_thresh == 0.4
    assert config.tracker.effective_new_thresh == 0.4
    # Only kitti_half_sc is tested with --pre_thresh 0.5; the others leave it at -1.
    expected_pre = 0.5 if name == 'kitti_half_sc' else 0.4
    assert config.tracker.effective_pre_thresh == expected_pre


def test_coco_preset():
    config = preset('coco_tracking')
    assert config.model.num_classes == 80
    assert len(config.model.class_names) == 80
    assert config.model.class_names == COCO_CLASSES
    assert len(set(COCO_CLASSES)) == 80
    assert config.model.class_name(1) == 'person'
    assert config.model.class_name(80) == 'toothbrush'
    assert (config.input.height, config.input.width) == (512, 512)
    assert config.model.ltrb_amodal is False
    # No test command in the experiment: the option defaults (0.3 everywhere) apply.
    assert config.tracker.effective_pre_thresh == 0.3
    assert config.tracker.effective_new_thresh == 0.3
    assert config.tracker.effective_out_thresh == 0.3


def test_nuscenes_preset():
    config = preset('nuscenes_3d')
    assert config.model.ddd is True
    assert config.model.heads == {'hm': 10, 'reg': 2, 'wh': 2, 'tracking': 2, 'dep': 1, 'rot': 8,
                                  'dim': 3, 'amodel_offset': 2}
    assert config.model.class_names[0] == 'car' and config.model.class_names[-1] == 'barrier'
    assert (config.input.height, config.input.width) == (448, 800)
    # test.py tracking,ddd --pre_hm --track_thresh 0.1: new_thresh keeps its default 0.3.
    assert config.tracker.effective_out_thresh == 0.1
    assert config.tracker.effective_pre_thresh == 0.1
    assert config.tracker.effective_new_thresh == 0.3


def _without_gpus(args: list) -> tuple:
    out, skip = [], False
    for arg in args:
        if skip or arg == '--gpus':
            skip = not skip
            continue
        out.append(arg)
    return tuple(out)


@pytest.mark.parametrize('folder', ref.folder_params())
def test_presets_equal_reference_runs_of_their_test_command(folder):
    """A reference run made with a preset's official test command resolves to the preset."""
    args = _without_gpus(ref.expected(folder)['config'].get('official_args', []))
    matching = [name for name, command in PRESET_TEST_ARGS.items() if command == args]
    if not matching:
        pytest.skip(f'{folder.name} was not run with a preset\'s test command')
    official = CenterTrackConfig.from_official_options(ref.expected(folder)['config'])
    config = preset(matching[0])
    # head_conv -1 means the official default, which the stored options spell out.
    assert replace(config.model, head_conv=config.model.head_channels) == official.model
    assert (config.input.width, config.input.height) == (official.input.width,
                                                          official.input.height)
    assert config.input.mean == pytest.approx(official.input.mean)  # float32 in the dump
    assert config.input.std == pytest.approx(official.input.std)
    tracker, theirs = config.tracker, official.tracker
    for name in ('effective_out_thresh', 'effective_pre_thresh', 'effective_new_thresh',
                 'max_age', 'hungarian', 'K', 'pre_hm'):
        assert getattr(tracker, name) == pytest.approx(getattr(theirs, name)), name


def test_ddd_from_official_options():
    base = {'num_classes': 10, 'input_w': 800, 'input_h': 448}
    assert CenterTrackConfig.from_official_options(
        {**base, 'task': 'tracking,ddd'}).model.ddd is True
    heads = {'hm': 10, 'reg': 2, 'wh': 2, 'tracking': 2, 'dep': 1, 'rot': 8, 'dim': 3,
             'amodel_offset': 2}
    assert CenterTrackConfig.from_official_options({**base, 'heads': heads}).model.ddd is True
    assert CenterTrackConfig.from_official_options({**base, 'task': 'tracking'}).model.ddd \
        is False
    with pytest.raises(ConfigError, match='depth_scale'):
        ModelConfig(ddd=True, depth_scale=0.0)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(KeyError, match='mot17_half') as info:
        preset('mot17')
    assert 'unknown preset' in str(info.value)
