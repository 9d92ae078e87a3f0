r"""``centertrack_train``: train a CenterTrack network (see :mod:`centertrack_ros.training`).

Examples::

    # the bundled default model's recipe (config/train_synthetic.yaml)
    centertrack_train --config config/train_synthetic.yaml --output-dir runs/synthetic

    # fine-tune on MOT17 (first halves) from a checkpoint, 2 GPUs
    torchrun --nproc_per_node=2 $(which centertrack_train) --data mot:data/MOT17/train \\
        --frame-range 0:0.5 --classes pedestrian --arch dla_34 --ltrb-amodal \\
        --input-size 960x544 --load-model crowdhuman.pth --amp --output-dir runs/mot17_half

Every option can also be given in a YAML file (``--config``) under its long name with
underscores (``lr_step: [60, 90]``); options on the command line win.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

import yaml

from ..core.config import InputConfig, ModelConfig, TrackerConfig
from ..core.errors import DatasetError
from ..synthetic import CLASS_NAMES, SceneConfig
from ..training.augment import AugmentConfig
from ..training.datasets import (
    ConcatSource,
    FrameSource,
    SyntheticSource,
    coco_video_source,
    kitti_source,
    mot_source,
    synthetic_seeds,
)
from ..training.targets import Disturbance
from ..training.trainer import TrainConfig, Trainer
from .cli import fail, list_of, pair_of, parse_size, seed_range

DATA_HELP = ("training data, repeatable: 'synthetic' (generated on the fly), 'mot:DIR' "
             "(MOTChallenge train folder), 'kitti:DIR' (KITTI-tracking training folder with "
             "image_02/ and label_02/), 'coco:ANNOTATIONS.json:IMAGE_ROOT' (COCO-json video "
             "format)")


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface (its long option names are also the YAML keys)."""
    p = argparse.ArgumentParser(
        prog='centertrack_train', description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--config', help='YAML file with option values (long names, underscores)')
    p.add_argument('--output-dir', default='runs/train', help='checkpoints and log.jsonl')
    p.add_argument('--data', action='append', default=None, help=DATA_HELP)

    g = p.add_argument_group('model')
    g.add_argument('--arch', default='generic', choices=('generic', 'dla_34'))
    g.add_argument('--backbone', default='mobilenet', choices=('mobilenet', 'dla34'))
    g.add_argument('--classes', type=list_of(str), default=CLASS_NAMES,
                   help='class names in class-id order (comma separated)')
    g.add_argument('--ltrb-amodal', action=argparse.BooleanOptionalAction, default=False,
                   help='add the amodal box head')
    g.add_argument('--head-conv', type=int, default=-1, help='head width (-1: official)')
    g.add_argument('--input-size', type=parse_size, default=(960, 544),
                   help='inference input WxH stored in the checkpoint')
    g.add_argument('--train-size', type=parse_size, default=None,
                   help='training crop WxH (default: the input size); smaller crops show '
                        'the image at the inference scale')

    g = p.add_argument_group('schedule')
    g.add_argument('--epochs', type=int, default=70)
    g.add_argument('--iters-per-epoch', type=int, default=0,
                   help='steps per epoch (0: one pass over the data)')
    g.add_argument('--batch-size', type=int, default=32, help='total over all processes')
    g.add_argument('--lr', type=float, default=1.25e-4)
    g.add_argument('--lr-step', type=list_of(int), default=(60,),
                   help='epochs after which the learning rate drops 10x')
    g.add_argument('--optimizer', default='adam', choices=('adam', 'sgd'))
    g.add_argument('--grad-clip', type=float, default=0.0, help='max gradient norm (0: off)')
    g.add_argument('--wh-weight', type=float, default=0.1)
    g.add_argument('--tracking-weight', type=float, default=1.0)

    g = p.add_argument_group('samples and augmentation')
    g.add_argument('--max-frame-dist', type=int, default=3,
                   help='the paired frame is less than this many frames away')
    g.add_argument('--max-objs', type=int, default=128)
    g.add_argument('--hm-disturb', type=float, default=0.05)
    g.add_argument('--lost-disturb', type=float, default=0.4)
    g.add_argument('--fp-disturb', type=float, default=0.1)
    g.add_argument('--flip', type=float, default=0.5)
    g.add_argument('--color-aug', action=argparse.BooleanOptionalAction, default=True)
    g.add_argument('--rand-crop', action=argparse.BooleanOptionalAction, default=True)
    g.add_argument('--crop-scales', type=list_of(float),
                   default=AugmentConfig().crop_scales)
    g.add_argument('--shift', type=float, default=0.05)
    g.add_argument('--scale', type=float, default=0.05)
    g.add_argument('--same-aug-pre', action=argparse.BooleanOptionalAction, default=True)
    g.add_argument('--frame-range', type=pair_of(float, ':', 'START:END fractions'),
                   default=(0.0, 1.0),
                   help='START:END fraction of every MOT/KITTI sequence to train on')

    g = p.add_argument_group('synthetic data')
    g.add_argument('--synthetic-seeds', type=seed_range, default=(10000, 200),
                   help='FIRST:COUNT sequence seeds')
    g.add_argument('--synthetic-frames', type=int, default=100, help='frames per sequence')

    g = p.add_argument_group('tracker thresholds stored in the checkpoint')
    g.add_argument('--track-thresh', type=float, default=0.4)
    g.add_argument('--pre-thresh', type=float, default=0.5)
    g.add_argument('--new-thresh', type=float, default=0.4)

    g = p.add_argument_group('runtime')
    g.add_argument('--device', default='auto')
    g.add_argument('--amp', action=argparse.BooleanOptionalAction, default=False,
                   help='mixed precision (fp16 on CUDA, bf16 on the CPU)')
    g.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=False,
                   help='channels-last (NHWC) weights and inputs, for GPU tensor cores')
    g.add_argument('--num-workers', type=int, default=0)
    g.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    g.add_argument('--seed', type=int, default=317)
    g.add_argument('--resume', default='', help='continue from this checkpoint')
    g.add_argument('--load-model', default='', help='initialise from this checkpoint')
    g.add_argument('--save-every', type=int, default=1,
                   help='keep model_<epoch>.pth every N epochs (0: only model_last.pth)')
    g.add_argument('--log-every', type=int, default=20)
    g.add_argument('--deform-conv', default='auto', choices=('auto', 'torchvision', 'sampling'))
    g.add_argument('--progress', action=argparse.BooleanOptionalAction, default=True)
    return p


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line, taking defaults from ``--config`` when given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        with open(args.config, encoding='utf-8') as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            parser.error(f'{args.config}: expected a mapping of option names to values')
        known = {a.dest: a for a in parser._actions}
        defaults = {}
        for key, value in values.items():
            dest = key.replace('-', '_')
            if dest not in known or dest == 'config':
                parser.error(f'{args.config}: unknown option {key!r}')
            convert = known[dest].type
            if callable(convert) and value is not None and not isinstance(value, bool):
                try:
                    value = convert(value)
                except (argparse.ArgumentTypeError, ValueError) as exc:
                    parser.error(f'{args.config}: {key}: {exc}')
            if dest == 'data' and isinstance(value, str):
                value = [value]
            defaults[dest] = value
        parser.set_defaults(**defaults)
        args = parser.parse_args(argv)
    if not args.data:
        args.data = ['synthetic']
    return args


def build_source(args: argparse.Namespace, class_names: Sequence[str]) -> FrameSource:
    """Open the frame source(s) named by ``--data``."""
    sources: list[FrameSource] = []
    for spec in args.data:
        kind, _, rest = spec.partition(':')
        if kind == 'synthetic':
            first, count = args.synthetic_seeds
            scene = SceneConfig(num_frames=args.synthetic_frames)
            sources.append(SyntheticSource(scene, synthetic_seeds(first, count),
                                           cache_size=max(64, min(count, 512))))
        elif kind == 'mot' and rest:
            sources.append(mot_source(rest, class_names, frame_range=args.frame_range))
        elif kind == 'kitti' and rest:
            sources.append(kitti_source(rest, class_names, frame_range=args.frame_range))
        elif kind == 'coco' and ':' in rest:
            annotations, image_root = rest.rsplit(':', 1)
            sources.append(coco_video_source(annotations, image_root, class_names))
        else:
            raise DatasetError(f'cannot understand --data {spec!r}; {DATA_HELP}')
    return sources[0] if len(sources) == 1 else ConcatSource(sources)


def build_config(args: argparse.Namespace) -> TrainConfig:
    """Turn parsed arguments into a :class:`TrainConfig`."""
    classes = tuple(args.classes)
    width, height = args.input_size
    return TrainConfig(
        output_dir=args.output_dir,
        model=ModelConfig(arch=args.arch, backbone=args.backbone, num_classes=len(classes),
                          class_names=classes, ltrb_amodal=args.ltrb_amodal,
                          head_conv=args.head_conv),
        input=InputConfig(width=width, height=height),
        train_size=args.train_size,
        tracker=TrackerConfig(track_thresh=args.track_thresh, pre_thresh=args.pre_thresh,
                              new_thresh=args.new_thresh),
        epochs=args.epochs, iters_per_epoch=args.iters_per_epoch, batch_size=args.batch_size,
        lr=args.lr, lr_step=tuple(args.lr_step), optimizer=args.optimizer,
        grad_clip=args.grad_clip, amp=args.amp, channels_last=args.channels_last,
        device=args.device,
        num_workers=args.num_workers, threads=args.threads, seed=args.seed,
        resume=args.resume, load_model=args.load_model, save_every=args.save_every,
        log_every=args.log_every, deform_conv=args.deform_conv,
        max_frame_dist=args.max_frame_dist, max_objs=args.max_objs,
        augment=AugmentConfig(rand_crop=args.rand_crop, crop_scales=tuple(args.crop_scales),
                              shift=args.shift, scale=args.scale, flip=args.flip,
                              color=args.color_aug, same_aug_pre=args.same_aug_pre),
        disturbance=Disturbance(args.hm_disturb, args.lost_disturb, args.fp_disturb),
        loss_weights={'wh': args.wh_weight, 'tracking': args.tracking_weight},
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``centertrack_train``."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    try:
        config = build_config(args)
        source = build_source(args, config.model.class_names)
        trainer = Trainer(config, source)
    except (ValueError, OSError, RuntimeError) as exc:
        return fail('centertrack_train', str(exc))
    if trainer.is_main:
        logging.info('training %s on %d frames, %d steps of %d per epoch, device %s%s',
                     config.model.arch, len(source), trainer.iters_per_epoch,
                     config.batch_size, trainer.device,
                     f' x{trainer.world_size}' if trainer.world_size > 1 else '')
    trainer.fit(progress=args.progress)
    return 0


if __name__ == '__main__':
    sys.exit(main())
