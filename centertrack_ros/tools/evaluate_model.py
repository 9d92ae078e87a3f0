r"""``centertrack_evaluate``: tracking quality and speed of a model on held-out sequences.

Runs the model on held-out synthetic sequences; optionally picks tracker thresholds and
exports a deployable checkpoint.

Examples::

    # the bundled default model on 5 held-out sequences of 200 frames
    centertrack_evaluate --seeds 1:5

    # choose thresholds for a freshly trained model and export it (fp16, thresholds stored)
    centertrack_evaluate --model runs/synthetic/model_last.pth --sweep \\
        --export models/centertrack_synthetic.pth
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from typing import Optional, Sequence

import torch

from ..core.checkpoint import CheckpointError, read_checkpoint
from ..core.config import ENGINES, ConfigError, RuntimeConfig, TrackerConfig
from ..core.model_spec import METADATA_KEY, ModelSpec, load_model, load_tracker, save_model
from ..evaluation.metrics import format_table
from ..evaluation.synthetic import HELDOUT_FIRST_SEED, heldout_sequences
from ..evaluation.thresholds import sweep_thresholds, threshold_grid
from ..evaluation.tracker import Evaluation, evaluate_tracker
from ..synthetic import SceneConfig
from .train import _list_of, _seed_range


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface."""
    p = argparse.ArgumentParser(prog='centertrack_evaluate', description=__doc__.split('\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--model', default='', help='checkpoint (default: the bundled model)')
    p.add_argument('--seeds', type=_seed_range, default=(HELDOUT_FIRST_SEED, 5),
                   help='FIRST:COUNT held-out sequence seeds (training uses 10000 and up)')
    p.add_argument('--frames', type=int, default=200, help='frames per sequence')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: default)')
    p.add_argument('--engine', choices=ENGINES, default='auto',
                   help='inference engine: auto (default), onnxruntime, torch, reference')
    p.add_argument('--track-thresh', type=float, default=None)
    p.add_argument('--pre-thresh', type=float, default=None)
    p.add_argument('--new-thresh', type=float, default=None)
    p.add_argument('--max-age', type=int, default=None)
    p.add_argument('--sweep', action='store_true',
                   help='try every combination of the --grid-* values, best (MOTA, IDF1) first')
    p.add_argument('--grid-track', type=_list_of(float), default=(0.3, 0.4, 0.5))
    p.add_argument('--grid-pre', type=_list_of(float), default=(0.4, 0.5, 0.6))
    p.add_argument('--grid-new', type=_list_of(float), default=(0.4, 0.5, 0.6))
    p.add_argument('--grid-max-age', type=_list_of(int), default=(),
                   help='max_age values to try (default: only the model\'s own)')
    p.add_argument('--export', default='',
                   help='write the model with the chosen thresholds here (no optimiser state)')
    p.add_argument('--half', action=argparse.BooleanOptionalAction, default=True,
                   help='store the exported weights as float16')
    p.add_argument('--json', default='', help='write the results as JSON here')
    return p


def _tracker_config(args: argparse.Namespace, base: TrackerConfig) -> TrackerConfig:
    changes = {name: getattr(args, name) for name in
               ('track_thresh', 'pre_thresh', 'new_thresh', 'max_age')
               if getattr(args, name) is not None}
    return replace(base, **changes)


def _summary(result: Evaluation) -> dict:
    t = result.tracker
    return {'tracker': {'track_thresh': t.track_thresh, 'pre_thresh': t.pre_thresh,
                        'new_thresh': t.new_thresh, 'max_age': t.max_age},
            'frames': result.frames, 'seconds_per_frame': result.seconds_per_frame,
            'metrics': {name: m.as_dict() for name, m in result.metrics.items()}}


def export_model(source: str, destination: str, tracker: TrackerConfig, half: bool = True
                 ) -> None:
    """Copy a checkpoint without optimiser state, storing ``tracker`` in its metadata."""
    loaded = load_model(ModelSpec(path=source), RuntimeConfig(device='cpu'))
    checkpoint = read_checkpoint(source)
    save_model(destination, loaded.network.float(), loaded.config.replace(tracker=tracker),
               checkpoint.epoch, half=half,
               metadata=(checkpoint.extra or {}).get(METADATA_KEY, {}))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``centertrack_evaluate``."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = build_parser().parse_args(argv)
    try:
        tracker = load_tracker(ModelSpec(path=args.model),
                               runtime=RuntimeConfig(device=args.device, engine=args.engine,
                                                     threads=args.threads))
        tracker.set_tracker_config(_tracker_config(args, tracker.config.tracker))
    except (CheckpointError, ConfigError, RuntimeError) as exc:
        print(f'centertrack_evaluate: error: {exc}', file=sys.stderr)
        return 2
    first, count = args.seeds
    sequences = heldout_sequences(range(first, first + count),
                                  SceneConfig(num_frames=args.frames))
    if args.sweep:
        grid = threshold_grid(args.grid_track, args.grid_pre, args.grid_new,
                              tracker.config.tracker, args.grid_max_age)
        results = sweep_thresholds(tracker, sequences, grid)
        print(f'{"track":>6} {"pre":>5} {"new":>5} {"age":>4} {"MOTA":>7} {"IDF1":>7} '
              f'{"IDsw":>5} {"prec":>6} {"rec":>6}')
        for r in results:
            m, t = r.overall, r.tracker
            print(f'{t.track_thresh:6.2f} {t.pre_thresh:5.2f} {t.new_thresh:5.2f} '
                  f'{t.max_age:4d} {m.mota:7.3f} {m.idf1:7.3f} {m.id_switches:5d} '
                  f'{m.precision:6.3f} {m.recall:6.3f}')
        best = results[0]
        print('\nbest thresholds:', _summary(best)['tracker'])
    else:
        best = evaluate_tracker(tracker, sequences)
        results = [best]
    print(format_table(best.metrics))
    print(f'{best.frames} frames, {1000 * best.seconds_per_frame:.1f} ms per frame '
          f'({args.device}, {torch.get_num_threads()} threads)')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'best': _summary(best), 'all': [_summary(r) for r in results]}, f,
                      indent=2)
    if args.export:
        if not args.model:
            print('centertrack_evaluate: error: --export needs --model', file=sys.stderr)
            return 2
        export_model(args.model, args.export, best.tracker, half=args.half)
        print(f'wrote {args.export}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
