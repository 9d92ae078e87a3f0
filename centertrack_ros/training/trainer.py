"""The training loop: optimiser, schedule, mixed precision, DDP, logging and checkpoints.

Checkpoints are written in the official format (``{'epoch', 'state_dict', 'optimizer'}``,
official parameter names) plus our self-description under
:data:`~centertrack_ros.core.model_spec.METADATA_KEY`, so they load in the original code, in
our loader and in the ROS node without further options. Every epoch writes
``model_last.pth``; every ``save_every`` epochs also ``model_<epoch>.pth``.

Multi-GPU: start the same command with ``torchrun --nproc_per_node=N``. Each process trains
on its share of every epoch's samples (``batch_size`` is the total over all processes) and
gradients are averaged by ``DistributedDataParallel``; only rank 0 logs and saves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from ..core.checkpoint import CheckpointError, load_state_dict_strict, read_checkpoint
from ..core.config import CenterTrackConfig, InputConfig, ModelConfig, TrackerConfig
from ..core.model_spec import save_model
from ..core.models.networks import build_network
from .augment import AugmentConfig
from .datasets import FrameSource, SampleConfig, TrackingDataset
from .deform import use_sampling_deform_conv
from .losses import DEFAULT_WEIGHTS, CenterTrackLoss
from .targets import Disturbance

LOG = logging.getLogger(__name__)
LAST_CHECKPOINT = 'model_last.pth'
LOG_FILE = 'log.jsonl'
IMAGE_INPUTS = ('image', 'pre_img', 'pre_hm')  # the network's inputs (channels-last with it)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data.

    Attributes:
        output_dir: where checkpoints and ``log.jsonl`` go.
        model: the network to train.
        input: the *inference* input size and normalisation (stored in the checkpoint).
        train_size: ``(width, height)`` of training crops; ``None`` trains on ``input``'s size.
            Smaller crops see the image at the inference scale (see ``SampleConfig.view_scale``)
            and cost less per sample.
        tracker: thresholds stored in the checkpoint for trackers built from it.
        epochs, iters_per_epoch: epoch count; iterations per epoch (0: one pass over the data).
        batch_size: samples per step, summed over all processes.
        lr, lr_step: Adam learning rate, divided by 10 after each listed epoch.
        optimizer: ``adam`` (the original's default) or ``sgd`` (momentum 0.9, decay 1e-4).
        grad_clip: clip the gradient norm to this (0: off).
        amp: mixed precision -- float16 with loss scaling on CUDA, bfloat16 on the CPU.
        channels_last: keep the network's weights and its image inputs channels-last (NHWC),
            the layout the GPU's tensor cores run convolutions in without transposes.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (DDP picks ``cuda:LOCAL_RANK``).
        num_workers: DataLoader worker processes.
        threads: CPU threads for torch (0: leave torch's default).
        seed: seeds the weights and every sample's augmentation.
        resume: continue from this checkpoint (weights, optimiser, epoch count).
        load_model: initialise from this checkpoint's matching weights (epoch starts at 0).
        save_every: also keep ``model_<epoch>.pth`` every this many epochs (0: never).
        log_every: write a loss record every this many steps.
        deform_conv: ``torchvision``, ``sampling`` (see :mod:`.deform`) or ``auto``
            (sampling on the CPU).
        loss_weights: per head; missing heads use the official weights.

    """

    output_dir: str
    model: ModelConfig
    input: InputConfig
    train_size: Optional[tuple[int, int]] = None
    tracker: TrackerConfig = TrackerConfig()
    epochs: int = 70
    iters_per_epoch: int = 0
    batch_size: int = 32
    lr: float = 1.25e-4
    lr_step: tuple[int, ...] = (60,)
    optimizer: str = 'adam'
    grad_clip: float = 0.0
    amp: bool = False
    channels_last: bool = False
    device: str = 'auto'
    num_workers: int = 0
    threads: int = 0
    seed: int = 317
    resume: str = ''
    load_model: str = ''
    save_every: int = 1
    log_every: int = 20
    deform_conv: str = 'auto'
    max_frame_dist: int = 3
    max_objs: int = 128
    augment: AugmentConfig = AugmentConfig()
    disturbance: Disturbance = Disturbance(0.05, 0.4, 0.1)
    loss_weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.iters_per_epoch < 0:
            raise ValueError('epochs and batch_size must be >= 1 and iters_per_epoch >= 0')
        if not self.lr > 0:
            raise ValueError(f'lr must be > 0, got {self.lr}')
        if self.optimizer not in ('adam', 'sgd'):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.deform_conv not in ('auto', 'torchvision', 'sampling'):
            raise ValueError("deform_conv must be 'auto', 'torchvision' or 'sampling'")
        if self.resume and self.load_model:
            raise ValueError('give either resume or load_model, not both')
        if self.model.ddd:
            # The datasets here have no 3D boxes to build dep/rot/dim/amodel_offset targets.
            raise ValueError('training the 3D heads (model.ddd) is not supported; the 3D '
                             'models run from the official nuScenes checkpoint')
        if self.train_size is not None:
            w, h = self.train_size
            InputConfig(width=int(w), height=int(h))  # same validity rules as the input

    @property
    def heads(self) -> dict[str, int]:
        """The network's heads."""
        return self.model.heads

    def weights(self) -> dict[str, float]:
        """Loss weight of each head of the network."""
        merged = {**DEFAULT_WEIGHTS, **dict(self.loss_weights)}
        return {head: float(merged.get(head, 1.0)) for head in self.heads}

    def train_input(self) -> InputConfig:
        """Return the input configuration of the training crops."""
        if self.train_size is None:
            return self.input
        w, h = self.train_size
        return InputConfig(width=int(w), height=int(h), mean=self.input.mean,
                           std=self.input.std)

    def sample_config(self) -> SampleConfig:
        """How the dataset builds samples for this run."""
        train_input = self.train_input()
        return SampleConfig(
            input=train_input, num_classes=self.model.num_classes,
            view_scale=train_input.width / self.input.width,
            max_frame_dist=self.max_frame_dist, max_objs=self.max_objs,
            ltrb_amodal=self.model.ltrb_amodal, pre_hm=self.model.pre_hm,
            augment=self.augment, disturbance=self.disturbance)

    def center_track_config(self) -> CenterTrackConfig:
        """Return the configuration stored in checkpoints."""
        return CenterTrackConfig(model=self.model, input=self.input, tracker=self.tracker)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the log and the checkpoint's training record)."""
        data = asdict(self)
        data['loss_weights'] = self.weights()
        return data


class EpochSampler(Sampler[int]):
    """A fresh random selection of ``samples_per_epoch`` indices every epoch, split by rank.

    Without replacement while the dataset is large enough (whole permutations otherwise);
    rank ``r`` of ``world_size`` takes every ``world_size``-th index from ``r``.
    """

    def __init__(self, size: int, samples_per_epoch: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self.size = int(size)
        self.samples = int(samples_per_epoch)
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose indices :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        total = self.samples * self.world_size
        chunks = [torch.randperm(self.size, generator=generator)
                  for _ in range(math.ceil(total / self.size))]
        indices = torch.cat(chunks)[:total]
        return iter(indices[self.rank::self.world_size].tolist())


def _collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}


def _distributed() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (0, 1, 0 without)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ['RANK']), world, int(os.environ.get('LOCAL_RANK', '0'))


def _select_device(name: str, local_rank: int, world: int) -> torch.device:
    if world > 1 and torch.cuda.is_available():
        return torch.device('cuda', local_rank)
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'device {name!r} requested but CUDA is not available')
    return device


def load_matching_weights(network: nn.Module, path: str) -> dict[str, list[str]]:
    """Initialise ``network`` from a checkpoint's parameters that fit (name and shape).

    As the original's ``--load_model``, mis-shaped parameters (e.g. a heatmap head for another
    class count) and missing ones keep their initial values. Returns the names skipped,
    missing and unexpected.
    """
    checkpoint = read_checkpoint(path)
    own = network.state_dict()
    usable: dict[str, torch.Tensor] = {}
    report: dict[str, list[str]] = {'mis-shaped': [], 'missing': [], 'unexpected': []}
    for name, tensor in checkpoint.state_dict.items():
        if name not in own:
            report['unexpected'].append(name)
        elif own[name].shape != tensor.shape:
            report['mis-shaped'].append(name)
        else:
            usable[name] = tensor
    report['missing'] = sorted(set(own) - set(checkpoint.state_dict))
    report = {kind: sorted(names) for kind, names in report.items()}
    if not usable:
        raise CheckpointError(f'{path}: no parameter fits the configured network')
    network.load_state_dict(usable, strict=False)
    return report


def _optimizer_state_fits(optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> bool:
    """Whether a saved optimiser state matches our parameters one for one (by shape)."""
    try:
        groups = state['param_groups']
        saved = state['state']
        params = [p for g in optimizer.param_groups for p in g['params']]
        ids = [i for g in groups for i in g['params']]
        if len(ids) != len(params):
            return False
        for index, param in zip(ids, params):
            entry = saved.get(index, saved.get(str(index), {}))
            for value in entry.values():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                    return False
        return True
    except (KeyError, TypeError, AttributeError):
        return False


def scheduled_lr(config: TrainConfig, epoch: int) -> float:
    """Learning rate for the epoch after ``epoch`` completed epochs (step schedule)."""
    return config.lr * 0.1 ** sum(1 for step in config.lr_step if epoch >= step)


class Trainer:
    """Trains a CenterTrack network on a :class:`FrameSource`.

    Create it, then call :meth:`fit`. Under ``torchrun`` it sets up the process group itself.
    """

    def __init__(self, config: TrainConfig, source: FrameSource) -> None:
        self.config = config
        self.rank, self.world_size, local_rank = _distributed()
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        self.device = _select_device(config.device, local_rank, self.world_size)
        if self.world_size > 1 and not torch.distributed.is_initialized():
            torch.distributed.init_process_group(
                'nccl' if self.device.type == 'cuda' else 'gloo')
        if self.device.type == 'cuda':
            torch.cuda.set_device(self.device)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2 ** 32)
        self.network = build_network(config.model)
        use_sampling = config.deform_conv == 'sampling' or (
            config.deform_conv == 'auto' and self.device.type == 'cpu')
        if use_sampling:
            use_sampling_deform_conv(self.network)
        self.network.to(self.device)
        if config.channels_last:
            self.network.to(memory_format=torch.channels_last)
        self.optimizer = self._make_optimizer()
        self.start_epoch = 0
        if config.resume:
            self._resume(config.resume)
        elif config.load_model:
            report = load_matching_weights(self.network, config.load_model)
            for kind, names in report.items():
                if names:
                    LOG.warning('load_model %s: %d %s parameters kept at their initial '
                                'values or dropped: %s', config.load_model, len(names), kind,
                                ', '.join(names[:6]))
        self.model: nn.Module = self.network
        if self.world_size > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.network, device_ids=[self.device.index] if self.device.type == 'cuda'
                else None)
        self.criterion = CenterTrackLoss(config.weights())
        self.dataset = TrackingDataset(source, config.sample_config(), seed=config.seed)
        per_rank_batch = max(1, config.batch_size // self.world_size)
        iters = config.iters_per_epoch or max(1, len(source) // config.batch_size)
        self.iters_per_epoch = iters
        self.sampler = EpochSampler(len(source), iters * per_rank_batch, config.seed,
                                    self.rank, self.world_size)
        self.loader = DataLoader(self.dataset, batch_size=per_rank_batch, sampler=self.sampler,
                                 num_workers=config.num_workers, collate_fn=_collate,
                                 drop_last=True, pin_memory=self.device.type == 'cuda',
                                 persistent_workers=False)
        self.scaler = torch.amp.GradScaler('cuda', enabled=config.amp and
                                           self.device.type == 'cuda')
        self.output_dir = Path(config.output_dir)
        self.global_step = self.start_epoch * iters

    # -- set-up ------------------------------------------------------------------------------

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = self.network.parameters()
        if self.config.optimizer == 'sgd':
            return torch.optim.SGD(params, self.config.lr, momentum=0.9, weight_decay=1e-4)
        return torch.optim.Adam(params, self.config.lr)

    def _resume(self, path: str) -> None:
        checkpoint = read_checkpoint(path)
        load_state_dict_strict(self.network, checkpoint.state_dict, self.config.model,
                               source=path)
        self.start_epoch = checkpoint.epoch
        state = checkpoint.optimizer
        if state and _optimizer_state_fits(self.optimizer, state):
            self.optimizer.load_state_dict(state)
        elif state:
            LOG.warning('%s: optimiser state does not fit this network; starting it afresh',
                        path)
        for group in self.optimizer.param_groups:
            group['lr'] = scheduled_lr(self.config, self.start_epoch)
        if self.is_main:
            LOG.info('resumed %s at epoch %d (lr %.3g)', path, self.start_epoch,
                     self.optimizer.param_groups[0]['lr'])

    @property
    def is_main(self) -> bool:
        """Whether this process logs and saves (rank 0)."""
        return self.rank == 0

    def _autocast(self):
        if not self.config.amp:
            return nullcontext()
        if self.device.type == 'cuda':
            return torch.autocast('cuda', dtype=torch.float16)
        return torch.autocast('cpu', dtype=torch.bfloat16)

    # -- one step ----------------------------------------------------------------------------

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step on a batch; returns the loss values."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.config.channels_last:
            batch.update({k: batch[k].contiguous(memory_format=torch.channels_last)
                          for k in IMAGE_INPUTS if k in batch})
        self.model.train()
        with self._autocast():
            outputs = self.model(batch['image'], batch.get('pre_img'), batch.get('pre_hm'))
        total, stats = self.criterion(outputs, batch)
        if not torch.isfinite(total):
            raise FloatingPointError(f'loss is {total.item()} at step {self.global_step}; '
                                     'lower the learning rate or check the data')
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.network.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.global_step += 1
        return {k: float(v.detach()) for k, v in stats.items()}

    # -- checkpoints and logs ----------------------------------------------------------------

    def training_record(self, epoch: int) -> dict[str, Any]:
        """Return what the checkpoint's metadata says about the training run."""
        return {'epoch': epoch, 'seed': self.config.seed, 'global_step': self.global_step,
                'command': ' '.join(sys.argv)}

    def save(self, path: Path, epoch: int, with_optimizer: bool = True) -> None:
        """Write an official-format checkpoint with our metadata (rank 0 only)."""
        if self.is_main:
            save_model(path, self.network, self.config.center_track_config(), epoch,
                       optimizer=self.optimizer if with_optimizer else None,
                       metadata={'training': self.training_record(epoch)})

    def _log(self, record: Mapping[str, Any]) -> None:
        if self.is_main:
            with open(self.output_dir / LOG_FILE, 'a', encoding='utf-8') as f:
                f.write(json.dumps(record) + '\n')

    # -- the loop ----------------------------------------------------------------------------

    def fit(self, progress: bool = True) -> dict[str, float]:
        """Train from the start (or resumed) epoch to ``config.epochs``.

        Returns the mean losses of the last epoch (empty if nothing was left to train).
        """
        from tqdm import tqdm

        config = self.config
        if self.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self._log({'type': 'config', 'config': config.to_dict(),
                       'start_epoch': self.start_epoch, 'world_size': self.world_size,
                       'device': str(self.device), 'time': time.time()})
        summary: dict[str, float] = {}
        for epoch in range(self.start_epoch + 1, config.epochs + 1):
            lr = scheduled_lr(config, epoch - 1)
            for group in self.optimizer.param_groups:
                group['lr'] = lr
            self.dataset.set_epoch(epoch)
            self.sampler.set_epoch(epoch)
            sums: dict[str, float] = {}
            window: dict[str, float] = {}
            started = window_start = time.time()
            bar = tqdm(self.loader, total=len(self.loader), desc=f'epoch {epoch}/{config.epochs}',
                       disable=not (progress and self.is_main), dynamic_ncols=True,
                       mininterval=1.0 if sys.stderr.isatty() else 30.0)
            steps = 0
            for batch in bar:
                stats = self.train_step(batch)
                steps += 1
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                    window[k] = window.get(k, 0.0) + v
                bar.set_postfix({k: f'{v / steps:.3f}' for k, v in sums.items()
                                 if k in ('tot', 'hm', 'tracking')}, refresh=False)
                if steps % config.log_every == 0:
                    now = time.time()
                    self._log({'type': 'step', 'epoch': epoch, 'step': self.global_step,
                               'lr': lr, 'seconds': now - window_start,
                               **{k: v / config.log_every for k, v in window.items()}})
                    window, window_start = {}, now
            summary = {k: v / max(steps, 1) for k, v in sums.items()}
            elapsed = time.time() - started
            self._log({'type': 'epoch', 'epoch': epoch, 'step': self.global_step, 'lr': lr,
                       'seconds': elapsed, **summary})
            self.save(self.output_dir / LAST_CHECKPOINT, epoch)
            if config.save_every and epoch % config.save_every == 0:
                self.save(self.output_dir / f'model_{epoch}.pth', epoch, with_optimizer=False)
            if self.is_main:
                LOG.info('epoch %d: %s (%.0f s)', epoch,
                         ' '.join(f'{k} {v:.4f}' for k, v in summary.items()), elapsed)
        if self.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
        return summary
