"""Checkpoint reading/writing, strict loading with precise errors, and model resolution."""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from centertrack_ros.core import model_spec
from centertrack_ros.core.checkpoint import (
    Checkpoint,
    infer_model_config,
    load_state_dict_strict,
    read_checkpoint,
    save_checkpoint,
)
from centertrack_ros.core.config import (
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
    TrackerOverrides,
)
from centertrack_ros.core.errors import CheckpointError, ConfigError
from centertrack_ros.core.model_spec import (
    METADATA_KEY,
    ModelSpec,
    config_metadata,
    default_model_path,
    load_tracker,
    resolve_config,
)
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.core.presets import preset

MOBILENET = ModelConfig(arch='generic', backbone='mobilenet', num_classes=2)
_STATE_CACHE: dict = {}
_NETWORK_CACHE: dict = {}


def _network(config: ModelConfig, seed: int = 0) -> torch.nn.Module:
    """Build a network with every floating tensor randomised (so round trips mean something)."""
    key = (repr(config), seed)
    if key not in _NETWORK_CACHE:
        _NETWORK_CACHE[key] = _random_network(config, seed)
    return copy.deepcopy(_NETWORK_CACHE[key])


def _random_network(config: ModelConfig, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    network = build_network(config)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            if name.endswith('running_var'):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    return network.eval()


def _state(config: ModelConfig) -> dict[str, torch.Tensor]:
    """State dict of a fresh network of ``config`` (cached: building DLA-34 takes a while)."""
    key = repr(config)
    if key not in _STATE_CACHE:
        _STATE_CACHE[key] = build_network(config).state_dict()
    return _STATE_CACHE[key]


def _assert_same_state(a, b):
    assert set(a) == set(b)
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ------------------------------------------------------------------------ reading/writing

def test_round_trip_fp32(tmp_path):
    network = _network(MOBILENET)
    path = tmp_path / 'sub' / 'model.pth'
    save_checkpoint(str(path), network, epoch=7)
    checkpoint = read_checkpoint(str(path))
    assert checkpoint.epoch == 7
    assert checkpoint.optimizer is None and checkpoint.extra is None
    _assert_same_state(checkpoint.state_dict, network.state_dict())
    assert not os.path.exists(f'{path}.tmp')


def test_round_trip_fp16_storage_is_upcast(tmp_path):
    network = _network(MOBILENET)
    path = tmp_path / 'half.pth'
    save_checkpoint(str(path), network, epoch=1, half=True)
    raw = torch.load(str(path), map_location='cpu', weights_only=True)
    stored = raw['state_dict']
    assert stored['hm.2.weight'].dtype == torch.float16
    # Integer buffers (BatchNorm's num_batches_tracked) keep their type.
    counters = [n for n in stored if n.endswith('num_batches_tracked')]
    assert counters and all(stored[n].dtype == torch.int64 for n in counters)
    checkpoint = read_checkpoint(str(path))
    for name, tensor in network.state_dict().items():
        loaded = checkpoint.state_dict[name]
        if tensor.is_floating_point():
            assert loaded.dtype == torch.float32
            assert torch.equal(loaded, tensor.half().float()), name
        else:
            assert torch.equal(loaded, tensor)


def test_module_prefix_is_stripped_and_bare_dicts_accepted(tmp_path):
    state = OrderedDict([('module.hm.0.weight', torch.ones(2, 2)),
                         ('module.module_list.0.bias', torch.zeros(3)),
                         ('module_list.1.bias', torch.ones(1))])
    torch.save({'epoch': 3, 'state_dict': state}, tmp_path / 'wrapped.pth')
    checkpoint = read_checkpoint(str(tmp_path / 'wrapped.pth'))
    assert sorted(checkpoint.state_dict) == ['hm.0.weight', 'module_list.0.bias',
                                             'module_list.1.bias']
    assert checkpoint.epoch == 3
    torch.save(state, tmp_path / 'bare.pth')
    bare = read_checkpoint(str(tmp_path / 'bare.pth'))
    assert bare.epoch == 0 and bare.optimizer is None
    assert sorted(bare.state_dict) == sorted(checkpoint.state_dict)


def test_optimizer_and_extra_entries_are_tolerated(tmp_path):
    network = _network(MOBILENET)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    for parameter in network.parameters():  # a training step's state, without the backward
        parameter.grad = torch.full_like(parameter, 0.01)
    optimizer.step()
    path = tmp_path / 'train.pth'
    save_checkpoint(str(path), network, epoch=70, optimizer=optimizer,
                    extra={'model_card': {'name': 'x'}})
    checkpoint = read_checkpoint(str(path))
    assert checkpoint.epoch == 70
    assert set(checkpoint.optimizer) == {'state', 'param_groups'}
    assert checkpoint.extra == {'model_card': {'name': 'x'}}
    load_state_dict_strict(_network(MOBILENET, seed=1), checkpoint.state_dict, MOBILENET)


def test_missing_file(tmp_path):
    path = tmp_path / 'nope.pth'
    with pytest.raises(CheckpointError, match='not found') as info:
        read_checkpoint(str(path))
    assert str(path) in str(info.value)


def test_corrupt_and_truncated_files_name_the_path(tmp_path):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'this is not a checkpoint' * 10)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(junk))
    assert str(junk) in str(info.value)
    good = tmp_path / 'good.pth'
    save_checkpoint(str(good), _network(MOBILENET), epoch=1)
    data = good.read_bytes()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(truncated))
    assert str(truncated) in str(info.value)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty.pth'):
        read_checkpoint(str(empty))


def test_non_state_dict_contents(tmp_path):
    torch.save(torch.zeros(3), tmp_path / 'tensor.pth')
    with pytest.raises(CheckpointError, match='Tensor'):
        read_checkpoint(str(tmp_path / 'tensor.pth'))
    torch.save({'state_dict': {'a': torch.zeros(1), 'b': 3}}, tmp_path / 'mixed.pth')
    with pytest.raises(CheckpointError, match='not a mapping of names to tensors'):
        read_checkpoint(str(tmp_path / 'mixed.pth'))
    torch.save({'state_dict': [torch.zeros(1)]}, tmp_path / 'list.pth')
    with pytest.raises(CheckpointError, match='state_dict'):
        read_checkpoint(str(tmp_path / 'list.pth'))


# -------------------------------------------------------------------------- strict loads

def test_wrong_architecture_lists_names_and_hints():
    dla_state = _state(ModelConfig(arch='dla_34', num_classes=2))
    network = _network(MOBILENET)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(network, dla_state, MOBILENET, source='dla.pth')
    message = str(info.value)
    assert message.startswith('dla.pth does not fit the configured network (arch=generic')
    assert 'missing: backbone.' in message
    assert 'unexpected: base.' in message
    assert 'more)' in message  # long lists are shortened
    assert 'the file looks like: arch=dla_34' in message
    assert 'num_classes=2' in message
    _assert_same_state(network.state_dict(), before)  # never a partial load


def test_mis_shaped_tensors_are_named_with_both_shapes():
    file_config = ModelConfig(arch='generic', num_classes=3)
    network = _network(MOBILENET)  # 2 classes
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(network, _state(file_config), MOBILENET)
    message = str(info.value)
    assert '2 mis-shaped (file vs model)' in message
    assert 'hm.2.weight (3, 64, 1, 1) vs (2, 64, 1, 1)' in message
    assert 'hm.2.bias (3,) vs (2,)' in message
    assert 'missing' not in message and 'unexpected' not in message
    assert 'looks like: arch=generic, backbone=mobilenet, num_classes=3' in message


def test_missing_head_is_reported():
    with_amodal = ModelConfig(arch='generic', num_classes=2, ltrb_amodal=True)
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(_network(with_amodal), _state(MOBILENET), with_amodal)
    message = str(info.value)
    assert '4 missing: ltrb_amodal.0.bias, ltrb_amodal.0.weight' in message
    assert 'ltrb_amodal=False' in message.split('looks like')[1]


def test_unrecognisable_state_dict_hint():
    network = _network(MOBILENET)
    with pytest.raises(CheckpointError, match='not a CenterTrack checkpoint'):
        load_state_dict_strict(network, {'fc.weight': torch.zeros(2, 2)}, MOBILENET)


def test_strict_load_copies_the_values():
    source = _network(MOBILENET, seed=3)
    target = _network(MOBILENET, seed=4)
    load_state_dict_strict(target, source.state_dict(), MOBILENET)
    _assert_same_state(target.state_dict(), source.state_dict())


# ---------------------------------------------------------------------------- inference

@pytest.mark.parametrize('config', [
    ModelConfig(arch='dla_34', num_classes=1, ltrb_amodal=True),
    ModelConfig(arch='dla_34', num_classes=3),
    ModelConfig(arch='dla_34', num_classes=1, head_conv=64, pre_img=False, pre_hm=False),
    ModelConfig(arch='generic', backbone='mobilenet', num_classes=2, ltrb_amodal=True),
    ModelConfig(arch='generic', backbone='mobilenet', num_classes=1, pre_hm=False),
    ModelConfig(arch='generic', backbone='dla34', num_classes=4),
    ModelConfig(arch='dla_34', num_classes=10, ddd=True),
    ModelConfig(arch='generic', backbone='mobilenet', num_classes=2, ddd=True),
], ids=['dla-amodal', 'dla-3', 'dla-narrow-no-pre', 'mobilenet-amodal', 'mobilenet-no-hm',
        'generic-dla34', 'dla-3d', 'mobilenet-3d'])
def test_infer_model_config(config):
    inferred = infer_model_config(_state(config))
    for field in ('arch', 'num_classes', 'ltrb_amodal', 'ddd', 'head_channels', 'pre_img',
                  'pre_hm'):
        assert getattr(inferred, field) == getattr(config, field), field
    if config.arch == 'generic':
        assert inferred.backbone == config.backbone


def test_a_partial_set_of_3d_heads_is_refused():
    """The 3D heads come as a set: a file with only some of them does not load silently."""
    state = dict(_state(ModelConfig(arch='generic', num_classes=2, ddd=True)))
    for name in [n for n in state if n.startswith('amodel_offset.')]:
        del state[name]
    config = infer_model_config(state)
    assert config.ddd is False
    with pytest.raises(CheckpointError, match='unexpected: dep.0.bias'):
        load_state_dict_strict(build_network(config), state, config)


def test_infer_model_config_keeps_fitting_names_from_base():
    state = _state(ModelConfig(arch='dla_34', num_classes=3))
    kitti = preset('kitti_half').model
    assert infer_model_config(state, kitti).class_names == kitti.class_names
    mot = preset('mot17_half').model  # one name for three classes: dropped
    assert infer_model_config(state, mot).class_names == ()


def test_infer_model_config_rejects_foreign_dicts():
    with pytest.raises(CheckpointError, match='neither'):
        infer_model_config({'layer.weight': torch.zeros(1)})
    with pytest.raises(CheckpointError, match='no hm head'):
        infer_model_config({'base.base_layer.0.weight': torch.zeros(1)})


# ------------------------------------------------------------------- model resolution

def _checkpoint(config: ModelConfig, metadata=None) -> Checkpoint:
    extra = {METADATA_KEY: metadata} if metadata is not None else None
    return Checkpoint(state_dict=_state(config), extra=extra)


def test_resolve_infers_from_weights_without_anything_else():
    config = resolve_config(ModelSpec(), _checkpoint(MOBILENET))
    assert (config.model.arch, config.model.backbone, config.model.num_classes) == (
        'generic', 'mobilenet', 2)
    assert config.input == InputConfig()
    assert config.tracker == TrackerConfig()
    assert config.runtime == RuntimeConfig()


def test_resolve_uses_embedded_metadata():
    own = CenterTrackConfig(
        model=ModelConfig(arch='generic', num_classes=2, class_names=('car', 'person')),
        input=InputConfig(width=128, height=96, mean=(0.5, 0.5, 0.5)),
        tracker=TrackerConfig(track_thresh=0.55, max_age=3))
    config = resolve_config(ModelSpec(), _checkpoint(MOBILENET, config_metadata(own)))
    assert config.model.class_names == ('car', 'person')
    assert config.input == own.input
    assert config.tracker == own.tracker
    assert 'runtime' not in config_metadata(own)


def test_resolve_preset_beats_metadata_and_weights():
    own = CenterTrackConfig(input=InputConfig(width=128, height=96),
                            tracker=TrackerConfig(track_thresh=0.9))
    checkpoint = _checkpoint(MOBILENET, config_metadata(own))
    config = resolve_config(ModelSpec(preset='kitti_half'), checkpoint)
    assert config == preset('kitti_half').replace(runtime=RuntimeConfig())


def test_resolve_explicit_overrides_beat_everything():
    own = CenterTrackConfig(input=InputConfig(width=128, height=96))
    checkpoint = _checkpoint(MOBILENET, config_metadata(own))
    spec = ModelSpec(preset='mot17_half', input_width=640, mean=(0.1, 0.2, 0.3),
                     num_classes=2, ltrb_amodal=False)
    config = resolve_config(spec, checkpoint, TrackerOverrides(max_age=9),
                            runtime=RuntimeConfig(device='cpu'))
    assert config.input.width == 640 and config.input.height == 544
    assert config.input.mean == (0.1, 0.2, 0.3)
    assert config.model.num_classes == 2
    assert config.model.class_names == ()  # the preset's single name no longer fits
    assert config.model.ltrb_amodal is False
    assert config.tracker.max_age == 9
    assert config.tracker.track_thresh == 0.4  # the preset's, not overridden
    assert config.runtime.device == 'cpu'
    spec = ModelSpec(arch='generic', class_names=('a', 'b'))
    config = resolve_config(spec, _checkpoint(MOBILENET))
    assert config.model.num_classes == 2 and config.model.class_names == ('a', 'b')


def test_resolve_invalid_override_and_metadata():
    with pytest.raises(ConfigError, match='multiple of 32'):
        resolve_config(ModelSpec(input_width=100), _checkpoint(MOBILENET))
    with pytest.raises(CheckpointError, match='metadata is invalid'):
        resolve_config(ModelSpec(), _checkpoint(MOBILENET, {'model': {'arch': 'vgg'}}))
    with pytest.raises(CheckpointError, match='metadata is invalid'):
        resolve_config(ModelSpec(), _checkpoint(MOBILENET, {'input': {'colour': 1}}))
    with pytest.raises(KeyError, match='unknown preset'):
        resolve_config(ModelSpec(preset='imagenet'), _checkpoint(MOBILENET))


def test_load_tracker_from_official_format_file(tmp_path):
    network = _network(MOBILENET, seed=5)
    path = tmp_path / 'official.pth'
    state = {f'module.{k}': v.half() if v.is_floating_point() else v
             for k, v in network.state_dict().items()}
    torch.save({'epoch': 70, 'state_dict': state, 'optimizer': {'state': {}}}, path)
    tracker = load_tracker(ModelSpec(path=str(path), input_width=96, input_height=64),
                           runtime=RuntimeConfig(device='cpu', engine='reference'))
    assert tracker.config.model.num_classes == 2
    assert (tracker.config.input.width, tracker.config.input.height) == (96, 64)
    loaded = tracker.network.state_dict()
    for name, tensor in network.state_dict().items():
        expected = tensor.half().float() if tensor.is_floating_point() else tensor
        assert torch.equal(loaded[name].cpu(), expected), name


def test_load_tracker_with_a_preset_that_does_not_fit(tmp_path):
    path = tmp_path / 'mobilenet.pth'
    save_checkpoint(str(path), _network(MOBILENET), epoch=1)
    with pytest.raises(CheckpointError) as info:
        load_tracker(ModelSpec(path=str(path), preset='mot17_half'),
                     runtime=RuntimeConfig(device='cpu'))
    message = str(info.value)
    assert str(path) in message and 'arch=dla_34' in message
    assert 'looks like: arch=generic, backbone=mobilenet, num_classes=2' in message


def test_load_tracker_expands_user_paths(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    save_checkpoint(str(tmp_path / 'm.pth'), _network(MOBILENET), epoch=1)
    tracker = load_tracker(ModelSpec(path='~/m.pth'), runtime=RuntimeConfig(device='cpu'))
    assert tracker.config.model.arch == 'generic'


def test_default_model_path_error_names_where_it_looked(monkeypatch):
    monkeypatch.setattr(model_spec, 'DEFAULT_MODEL_FILE', 'no_such_model_file.pth')
    with pytest.raises(CheckpointError, match='no_such_model_file.pth not found') as info:
        default_model_path()
    assert str(Path(model_spec.__file__).resolve().parents[2] / 'models') in str(info.value)
    assert 'model.path' in str(info.value)
    with pytest.raises(CheckpointError, match='not found'):
        load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu'))


def test_default_model_path_finds_a_bundled_file():
    try:
        path = default_model_path()
    except CheckpointError:
        pytest.skip('no bundled default model in this checkout')
    assert os.path.isfile(path) and path.endswith(model_spec.DEFAULT_MODEL_FILE)


def test_non_finite_weights_are_refused_before_loading():
    # NaN offsets crash torchvision's CPU deform_conv2d (SIGSEGV); such files must not load.
    network = _network(MOBILENET)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    state = {k: v.clone() for k, v in _network(MOBILENET, seed=1).state_dict().items()}
    state['neck.ida_up.proj_1.conv.conv_offset_mask.weight'][0, 0, 0, 0] = float('nan')
    state['hm.2.bias'][0] = float('inf')
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(network, state, MOBILENET, source='diverged.pth')
    message = str(info.value)
    assert message.startswith('diverged.pth holds NaN or infinite values: 2 tensors:')
    assert 'hm.2.bias' in message and 'conv_offset_mask.weight' in message
    _assert_same_state(network.state_dict(), before)
