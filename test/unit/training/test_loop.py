"""The training loop: loss goes down, checkpoints are official and reload, resume, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from centertrack_ros.core.checkpoint import read_checkpoint
from centertrack_ros.core.config import InputConfig, ModelConfig, TrackerConfig
from centertrack_ros.core.model_spec import METADATA_KEY, ModelSpec, load_tracker
from centertrack_ros.core.models.networks import build_network
from centertrack_ros.synthetic import SceneConfig
from centertrack_ros.tools import train as train_cli
from centertrack_ros.training.datasets import SyntheticSource
from centertrack_ros.training.trainer import (
    LAST_CHECKPOINT,
    EpochSampler,
    TrainConfig,
    Trainer,
    _collate,
    load_matching_weights,
    scheduled_lr,
)

MODEL = ModelConfig(arch='generic', num_classes=2, class_names=('car', 'pedestrian'))
SCENE = SceneConfig(num_frames=8)


def _config(tmp_path: Path, **changes) -> TrainConfig:
    values = dict(output_dir=str(tmp_path / 'run'), model=MODEL,
                  input=InputConfig(width=160, height=96), train_size=(128, 64), epochs=1,
                  iters_per_epoch=2, batch_size=2, lr=1e-3, seed=3, log_every=1,
                  tracker=TrackerConfig(track_thresh=0.35, pre_thresh=0.45, new_thresh=0.5))
    values.update(changes)
    return TrainConfig(**values)


def _source() -> SyntheticSource:
    return SyntheticSource(SCENE, [10001, 10002])



def test_mixed_precision_step_on_the_cpu_runs_in_bfloat16(tmp_path):
    trainer = Trainer(_config(tmp_path, amp=True, train_size=(96, 64)), _source())
    batch = _collate([trainer.dataset[i] for i in (1, 5)])
    with trainer._autocast():
        outputs = trainer.network(batch['image'], batch['pre_img'], batch['pre_hm'])
    assert outputs['hm'].dtype == torch.bfloat16
    stats = trainer.train_step(batch)
    assert np.isfinite(stats['tot'])
    assert all(p.dtype == torch.float32 for p in trainer.network.parameters())

def test_channels_last_trains_the_same_network(tmp_path):
    """channels_last changes the layout of the weights and inputs, not the function."""
    losses = []
    for channels_last in (False, True):
        trainer = Trainer(_config(tmp_path / str(channels_last), amp=True,
                                  channels_last=channels_last, train_size=(96, 64)), _source())
        batch = _collate([trainer.dataset[i] for i in (1, 5)])
        losses.append(trainer.train_step(batch)['tot'])
        conv = next(m for m in trainer.network.modules() if isinstance(m, torch.nn.Conv2d)
                    and m.kernel_size != (1, 1))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert losses[1] == pytest.approx(losses[0], rel=1e-2)


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory):
    """One epoch of two steps, shared by the tests that only read its output."""
    config = _config(tmp_path_factory.mktemp('trained'))
    trainer = Trainer(config, _source())
    trainer.fit(progress=False)
    return trainer, Path(config.output_dir)


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(tmp_path):
    trainer = Trainer(_config(tmp_path, lr=2e-3, train_size=(96, 64)), _source())
    batch = _collate([trainer.dataset[i] for i in (1, 5, 9, 14)])
    losses = [trainer.train_step(batch)['tot'] for _ in range(10)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:2]), losses


def test_checkpoints_are_in_the_official_format_and_reload(trained_run):
    trainer, run = trained_run
    assert (run / LAST_CHECKPOINT).is_file() and (run / 'model_1.pth').is_file()
    raw = torch.load(run / LAST_CHECKPOINT, map_location='cpu', weights_only=True)
    assert set(raw) == {'epoch', 'state_dict', 'optimizer', METADATA_KEY}
    assert raw['epoch'] == 1
    assert set(raw['state_dict']) == set(build_network(MODEL).state_dict())
    assert 'hm.2.weight' in raw['state_dict']
    assert 'neck.dla_up.ida_0.proj_1.conv.conv_offset_mask.weight' in raw['state_dict']
    assert 'optimizer' not in torch.load(run / 'model_1.pth', weights_only=True)
    checkpoint = read_checkpoint(str(run / LAST_CHECKPOINT))
    assert checkpoint.epoch == 1
    for name, tensor in trainer.network.state_dict().items():
        assert torch.equal(checkpoint.state_dict[name], tensor.float()), name
    tracker = load_tracker(ModelSpec(path=str(run / LAST_CHECKPOINT)))
    assert tracker.config.model.class_names == ('car', 'pedestrian')
    assert (tracker.config.input.width, tracker.config.input.height) == (160, 96)
    assert tracker.config.tracker.new_thresh == 0.5
    image = _source().load(3)[0]
    assert isinstance(tracker.step(image), list)
    records = [json.loads(line) for line in (run / 'log.jsonl').read_text().splitlines()]
    assert [r['type'] for r in records] == ['config', 'step', 'step', 'epoch']
    assert records[-1]['epoch'] == 1 and np.isfinite(records[-1]['tot'])


def test_resume_continues_the_epoch_count_and_the_optimiser(tmp_path):
    config = _config(tmp_path, epochs=1, lr_step=(1,))
    Trainer(config, _source()).fit(progress=False)
    last = str(Path(config.output_dir) / LAST_CHECKPOINT)
    resumed = Trainer(_config(tmp_path, epochs=2, lr_step=(1,), resume=last), _source())
    assert resumed.start_epoch == 1 and resumed.global_step == 2
    state = resumed.optimizer.state_dict()['state']
    assert state and all(float(s['step']) == 2 for s in state.values())
    assert resumed.optimizer.param_groups[0]['lr'] == pytest.approx(1e-4)
    resumed.fit(progress=False)
    checkpoint = read_checkpoint(last)
    assert checkpoint.epoch == 2
    assert all(float(s['step']) == 4 for s in checkpoint.optimizer['state'].values())
    epochs = [json.loads(line) for line in
              (Path(config.output_dir) / 'log.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in epochs if r['type'] == 'epoch'] == [1, 2]
    assert [r['lr'] for r in epochs if r['type'] == 'epoch'] == pytest.approx([1e-3, 1e-4])
    # Nothing left to do: a resumed run at its final epoch trains no further.
    done = Trainer(_config(tmp_path, epochs=2, resume=last), _source())
    assert done.fit(progress=False) == {}


def test_load_model_keeps_mis_shaped_heads(trained_run):
    _, run = trained_run
    one_class = build_network(ModelConfig(arch='generic', num_classes=1))
    report = load_matching_weights(one_class, str(run / LAST_CHECKPOINT))
    assert report['mis-shaped'] == ['hm.2.bias', 'hm.2.weight']
    assert report['missing'] == [] and report['unexpected'] == []
    saved = read_checkpoint(str(run / LAST_CHECKPOINT)).state_dict
    assert torch.equal(one_class.state_dict()['wh.2.weight'], saved['wh.2.weight'])


def test_schedule_and_sampler():
    config = TrainConfig(output_dir='x', model=MODEL, input=InputConfig(), lr=1e-3,
                         lr_step=(3, 5))
    assert [scheduled_lr(config, e) for e in (0, 2, 3, 4, 5, 9)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    sampler = EpochSampler(10, 4, seed=1)
    first = list(sampler)
    assert len(first) == 4 and len(set(first)) == 4 and first == list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    ranks = [list(EpochSampler(10, 3, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1])
    assert len(list(EpochSampler(5, 12, seed=2))) == 12


def test_cli_with_yaml_config_trains_and_writes_a_checkpoint(tmp_path, capsys):
    yaml_file = tmp_path / 'recipe.yaml'
    yaml_file.write_text('\n'.join([
        'data: synthetic', 'synthetic_seeds: [10001, 2]', 'synthetic_frames: 8',
        'input_size: 160x96', 'train_size: [128, 64]', 'epochs: 1', 'iters_per_epoch: 1',
        'batch_size: 2', 'lr: 0.001', 'lr_step: [5]', 'hm_disturb: 0.05',
        'classes: [car, pedestrian]', 'progress: false', 'track_thresh: 0.3',
    ]) + '\n')
    out = tmp_path / 'cli'
    assert train_cli.main(['--config', str(yaml_file), '--output-dir', str(out),
                           '--lr', '0.002']) == 0
    checkpoint = read_checkpoint(str(out / LAST_CHECKPOINT))
    meta = checkpoint.extra[METADATA_KEY]
    assert meta['input']['width'] == 160 and meta['tracker']['track_thresh'] == 0.3
    assert meta['training']['epoch'] == 1
    config = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()][0]
    assert config['config']['lr'] == 0.002  # the command line wins over the file
    assert config['config']['train_size'] == [128, 64]


def test_cli_rejects_unknown_yaml_keys_and_bad_data(tmp_path, capsys):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('learning_rate: 0.1\n')
    with pytest.raises(SystemExit):
        train_cli.parse_args(['--config', str(bad)])
    assert 'unknown option' in capsys.readouterr().err
    assert train_cli.main(['--data', 'imagenet:/x', '--output-dir', str(tmp_path / 'o')]) == 2
    assert 'cannot understand --data' in capsys.readouterr().err


def test_evaluation_and_export_of_a_trained_checkpoint(trained_run, tmp_path):
    from centertrack_ros.evaluation.synthetic import heldout_sequences
    from centertrack_ros.evaluation.thresholds import threshold_grid
    from centertrack_ros.evaluation.tracker import evaluate_tracker
    from centertrack_ros.tools.evaluate_model import export_model
    from centertrack_ros.tools.evaluate_model import main as evaluate_main

    _, run = trained_run
    tracker = load_tracker(ModelSpec(path=str(run / LAST_CHECKPOINT)))
    sequences = heldout_sequences([1], SceneConfig(num_frames=4))
    result = evaluate_tracker(tracker, sequences)
    assert result.frames == 4 and result.seconds_per_frame > 0
    assert set(result.metrics) == {'seed-1', 'OVERALL'}
    assert result.overall.num_gt > 0 and result.overall.num_frames == 4
    grid = threshold_grid([0.3, 0.5], [0.2, 0.6], [0.5])
    assert [(c.track_thresh, c.pre_thresh, c.new_thresh) for c in grid] == [
        (0.3, 0.3, 0.5), (0.3, 0.6, 0.5), (0.5, 0.5, 0.5), (0.5, 0.6, 0.5)]
    assert {c.max_age for c in grid} == {-1}
    aged = threshold_grid([0.3], [0.5], [0.5], max_ages=[-1, 10])
    assert [c.max_age for c in aged] == [-1, 10]
    exported = tmp_path / 'small.pth'
    export_model(str(run / LAST_CHECKPOINT), str(exported), grid[1])
    raw = torch.load(exported, map_location='cpu', weights_only=True)
    assert set(raw) == {'epoch', 'state_dict', METADATA_KEY}
    assert all(t.dtype == torch.float16 for t in raw['state_dict'].values()
               if t.is_floating_point())
    assert raw[METADATA_KEY]['training']['epoch'] == 1
    reloaded = load_tracker(ModelSpec(path=str(exported)))
    assert reloaded.config.tracker.pre_thresh == 0.6
    assert reloaded.config.model.class_names == ('car', 'pedestrian')
    report = tmp_path / 'eval.json'
    assert evaluate_main(['--model', str(exported), '--seeds', '2:1', '--frames', '3',
                          '--json', str(report)]) == 0
    summary = json.loads(report.read_text())['best']
    assert summary['frames'] == 3 and summary['tracker']['pre_thresh'] == 0.6


@pytest.mark.slow
def test_torchrun_ddp_on_cpu(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = tmp_path / 'ddp'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', '-m', 'centertrack_ros.tools.train',
         '--synthetic-seeds', '10001:2', '--synthetic-frames', '8', '--input-size', '160x96',
         '--train-size', '128x64', '--epochs', '1', '--iters-per-epoch', '2',
         '--batch-size', '4', '--device', 'cpu', '--no-progress', '--output-dir', str(out)],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    assert records[0]['world_size'] == 2  # only rank 0 logs ...
    assert [r['type'] for r in records].count('epoch') == 1
    assert read_checkpoint(str(out / LAST_CHECKPOINT)).epoch == 1  # ... and saves


def test_training_3d_heads_is_refused_with_the_reason():
    with pytest.raises(ValueError, match='3D heads'):
        TrainConfig(output_dir='x', model=replace(MODEL, ddd=True), input=InputConfig())
