r"""``centertrack_evaluate``: tracking quality and speed of a model on held-out sequences.

Runs the model on held-out synthetic sequences, or on bags with ground truth (offline, or
replayed through the live node); optionally picks tracker thresholds and exports a deployable
checkpoint.

Examples::

    # the bundled default model on 5 held-out sequences of 200 frames
    centertrack_evaluate --seeds 1:5

    # BYTE association with a motion model instead of the original greedy matching
    centertrack_evaluate --seeds 1:5 --association byte --motion velocity --max-age 30

    # the associations side by side, the model's thresholds kept
    centertrack_evaluate --seeds 1:5 --sweep --grid-track 0.3 --grid-pre 0.5 --grid-new 0.5 \\
        --grid-association greedy,hungarian,byte --grid-motion none,velocity

    # choose thresholds for a freshly trained model and export it (fp16, thresholds stored)
    centertrack_evaluate --model runs/synthetic/model_last.pth --sweep \\
        --export models/centertrack_synthetic.pth

    # tune on your own recorded drive (a bag with ground truth) for HOTA: offline on every
    # frame, or what the live node publishes at the camera's rate (node in another process)
    centertrack_evaluate --bag drive_bag --sweep --rank hota
    centertrack_evaluate --bag drive_bag --live --rate 1 --sweep --rank hota
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, replace
from typing import Any, Optional, Sequence

from ..core.checkpoint import read_checkpoint
from ..core.config import ASSOCIATIONS, ENGINES, MOTIONS, RuntimeConfig, TrackerConfig
from ..core.device import device_name
from ..core.errors import CheckpointError
from ..core.model_spec import METADATA_KEY, ModelSpec, load_model, save_model
from ..evaluation.metrics import OVERALL, format_table
from ..evaluation.synthetic import HELDOUT_FIRST_SEED, heldout_sequences
from ..evaluation.thresholds import RANKINGS, sweep, sweep_thresholds, threshold_grid
from ..evaluation.tracker import Evaluation, evaluate_tracker
from ..runtime.session import SessionSettings, TrackingSession
from ..synthetic import SceneConfig
from .cli import fail, list_of, run_tool, seed_range, sigterm_as_interrupt

PROG = 'centertrack_evaluate'


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except empty ones and where the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if 'default' in text or action.default in (None, '', (), argparse.SUPPRESS):
            return text
        return super()._get_help_string(action) or text


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n')[0],
                                formatter_class=_DefaultsFormatter)
    p.add_argument('--model', default='',
                   help='checkpoint or exported .onnx (default: the bundled model)')
    p.add_argument('--seeds', type=seed_range, default=(HELDOUT_FIRST_SEED, 5),
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
    p.add_argument('--association', choices=ASSOCIATIONS, default=None,
                   help='greedy (the original), hungarian or byte (default: the model\'s)')
    p.add_argument('--hungarian', action=argparse.BooleanOptionalAction, default=None,
                   help='optimal matching in every association step (the original\'s option)')
    p.add_argument('--low-thresh', type=float, default=None,
                   help='byte: lowest score that may continue a track')
    p.add_argument('--motion', choices=MOTIONS, default=None,
                   help='how coasting tracks move: none (the original) or velocity')
    p.add_argument('--prior-lost', action=argparse.BooleanOptionalAction, default=None,
                   help='draw coasting tracks into the prior heatmap')
    p.add_argument('--sweep', action='store_true',
                   help='try every combination of the --grid-* values, best first (--rank)')
    p.add_argument('--rank', choices=tuple(RANKINGS), default='mota',
                   help='sweep order: mota (then IDF1), idf1 (then MOTA) or hota (then MOTA)')
    p.add_argument('--grid-track', type=list_of(float), default=(0.3, 0.4, 0.5))
    p.add_argument('--grid-pre', type=list_of(float), default=(0.4, 0.5, 0.6))
    p.add_argument('--grid-new', type=list_of(float), default=(0.4, 0.5, 0.6))
    p.add_argument('--grid-max-age', type=list_of(int), default=(),
                   help='max_age values to try (default: only the model\'s own)')
    p.add_argument('--grid-association', type=list_of(str), default=(),
                   help='associations to try, e.g. greedy,hungarian,byte (default: the one set)')
    p.add_argument('--grid-low', type=list_of(float), default=(),
                   help='byte low_thresh values to try (default: the one set)')
    p.add_argument('--grid-motion', type=list_of(str), default=(),
                   help='motion models to try, e.g. none,velocity (default: the one set)')
    p.add_argument('--grid-prior-lost', type=list_of(_boolean), default=(),
                   help='prior_lost values to try, e.g. false,true (default: the one set)')
    bag = p.add_argument_group('a recorded drive instead of synthetic sequences')
    bag.add_argument('--bag', action='append', default=None, metavar='BAG',
                     help='evaluate (and sweep) on this bag\'s ground truth instead of --seeds: '
                          'every frame offline, as centertrack_bag run (repeat for several '
                          'cameras)')
    bag.add_argument('--live', action='store_true', default=None,
                     help='with --bag: score what the live node publishes when the bag is '
                          'replayed at --rate (the node in another process; its tracker '
                          'parameters are changed between replays, its ~/reset service called '
                          'before each)')
    bag.add_argument('--rate', type=float, default=1.0,
                     help='with --live: playback speed factor (1 = the recorded pace)')
    bag.add_argument('--params-file', default='',
                     help='with --bag: the node\'s parameters file (model, input, tracker); the '
                          'options here override it')
    bag.add_argument('--image-topic', default=None,
                     help='with --bag: image topic (default: each bag\'s only one)')
    bag.add_argument('--gt-topic', default=None,
                     help='with --bag: ground-truth topic (default /ground_truth)')
    p.add_argument('--export', default='',
                   help='write the model with the chosen thresholds here (no optimiser state)')
    p.add_argument('--half', action=argparse.BooleanOptionalAction, default=True,
                   help='store the exported weights as float16')
    p.add_argument('--json', default='', help='write the results as JSON here')
    return p


_TRACKER_OPTIONS = ('track_thresh', 'pre_thresh', 'new_thresh', 'max_age', 'association',
                    'hungarian', 'low_thresh', 'motion', 'prior_lost')


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in ('true', 'false'):
        raise ValueError(f'expected true or false, got {text!r}')
    return value == 'true'


def _tracker_config(args: argparse.Namespace, base: TrackerConfig) -> TrackerConfig:
    changes = {name: getattr(args, name) for name in _TRACKER_OPTIONS
               if getattr(args, name) is not None}
    return replace(base, **changes)


def _summary(result: Evaluation) -> dict:
    tracker = asdict(result.tracker)
    tracker.pop('K')
    return {'tracker': tracker,
            'frames': result.frames, 'seconds_per_frame': result.seconds_per_frame,
            'metrics': {name: m.as_dict() for name, m in result.metrics.items()}}


def _sweep_header() -> str:
    return (f'{"assoc":>9} {"hung":>4} {"track":>5} {"pre":>4} {"new":>4} {"low":>4} '
            f'{"age":>4} {"motion":>8} {"lost":>4} {"HOTA":>5} {"DetA":>5} {"AssA":>5} '
            f'{"MOTA":>5} {"IDF1":>5} {"IDsw":>4} {"prec":>5} {"rec":>5}')


def _sweep_line(result: Evaluation) -> str:
    m, t = result.overall, result.tracker
    low = f'{t.low_thresh:4.2f}' if t.byte else '-'
    return (f'{t.association:>9} {"yes" if t.hungarian else "no":>4} {t.track_thresh:5.2f} '
            f'{t.effective_pre_thresh:4.2f} {t.effective_new_thresh:4.2f} {low:>4} '
            f'{t.max_age:4d} {t.motion:>8} {"yes" if t.prior_lost else "no":>4} '
            f'{100 * m.hota:5.1f} {100 * m.deta:5.1f} {100 * m.assa:5.1f} {100 * m.mota:5.1f} '
            f'{100 * m.idf1:5.1f} {m.id_switches:4d} {100 * m.precision:5.1f} '
            f'{100 * m.recall:5.1f}')


def _live_header() -> str:
    return f' {"answd":>5} {"p99ms":>6}'


def _live_columns(run: Any) -> str:
    p99 = run.latency[OVERALL]['p99_ms']
    return (f' {100 * run.answered_fraction():5.1f} '
            + (f'{p99:6.0f}' if p99 is not None else f'{"-":>6}'))


def _bag_values(args: argparse.Namespace) -> dict[str, Any]:
    """Return the node settings given for --bag: the parameters file's, the options on top."""
    from .bag import read_params_file
    values = read_params_file(args.params_file) if args.params_file else {}
    values.update({'device': args.device, 'engine': args.engine, 'threads': args.threads})
    if args.model:
        values['model.path'] = args.model
    return values


def _main_bags(args: argparse.Namespace) -> int:
    """Evaluate (and sweep) on bags: offline on every frame, or replayed through the node."""
    from ..bags.cameras import evaluate_offline, read_cameras
    from .bag import session_settings

    if args.live and not args.rate > 0:
        return fail(PROG, f'--rate must be > 0, got {args.rate}')
    sources = read_cameras(args.bag, (), args.image_topic, args.gt_topic)
    values = _bag_values(args)
    session = TrackingSession.open(session_settings(values))  # as the node resolves them
    base = _tracker_config(args, session.config.tracker)
    grid = [base]
    if args.sweep:
        grid = threshold_grid(args.grid_track, args.grid_pre, args.grid_new, base,
                              args.grid_max_age, args.grid_association, args.grid_low,
                              args.grid_motion, args.grid_prior_lost)
    where = f'{device_name(session.tracker.device)}, {session.tracker.engine.describe()}'
    live_runs: dict[TrackerConfig, Any] = {}
    with sigterm_as_interrupt():  # the node is stopped on the way out
        if args.live:
            from .live_benchmark import LiveNode, evaluate_live, node_parameters
            session.release()  # the node loads its own; this process only plays and scores

            def evaluate(config: TrackerConfig) -> Evaluation:
                result, live_runs[config] = evaluate_live(node, config, args.rate)
                return result
            with LiveNode(sources, node_parameters(values),
                          log=lambda text: print(text, file=sys.stderr)) as node:
                results = _sweep_bags(args, evaluate, grid, live_runs)
        else:
            def evaluate(config: TrackerConfig) -> Evaluation:
                session.set_tracker_config(config)
                return evaluate_offline(sources, session)
            results = _sweep_bags(args, evaluate, grid, live_runs)
    best = results[0]
    print(format_table(best.metrics))
    if args.live:
        run = live_runs[best.tracker]
        latency = run.latency[OVERALL]
        p50, p99 = (('-' if latency[k] is None else f'{latency[k]:.0f}')
                    for k in ('p50_ms', 'p99_ms'))
        print(f'{best.frames} frames replayed at {args.rate:g}x, '
              f'{100 * run.answered_fraction():.1f} % answered, latency p50 {p50} / p99 {p99} '
              f'ms (published to received; the node on {where})')
    else:
        print(f'{best.frames} frames, {1000 * best.seconds_per_frame:.1f} ms per frame '
              f'({where})')

    def summary(result: Evaluation) -> dict:
        out = _summary(result)
        run = live_runs.get(result.tracker)
        if run is not None:
            out['answered_fraction'] = run.answered_fraction()
            out['latency'] = run.latency[OVERALL]
        return out
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'bags': [str(s.bag) for s in sources],
                       'mode': 'live' if args.live else 'offline',
                       'rate': args.rate if args.live else None,
                       'best': summary(best), 'all': [summary(r) for r in results]}, f,
                      indent=2)
    return _export(args, best)


def _sweep_bags(args: argparse.Namespace, evaluate: Any, grid: Sequence[TrackerConfig],
                live_runs: dict[TrackerConfig, Any]) -> list[Evaluation]:
    """Evaluate every grid point (printing each as it comes); results best first."""
    if not args.sweep:
        return [evaluate(grid[0])]
    extra = _live_header() if args.live else ''
    print(f'{len(grid)} tracker settings, as they are evaluated:')
    print(_sweep_header() + extra)

    def line(result: Evaluation) -> str:
        run = live_runs.get(result.tracker)
        return _sweep_line(result) + (_live_columns(run) if run is not None else '')
    results = sweep(evaluate, grid, rank=RANKINGS[args.rank],
                    progress=lambda r: print(line(r), flush=True))
    print(f'\nbest first ({args.rank}):')
    print(_sweep_header() + extra)
    for r in results:
        print(line(r))
    print('\nbest settings:', _summary(results[0])['tracker'])
    return results


def _export(args: argparse.Namespace, best: Evaluation) -> int:
    if args.export:
        if not args.model:
            return fail(PROG, '--export needs --model')
        export_model(args.model, args.export, best.tracker, half=args.half)
        print(f'wrote {args.export}')
    return 0


def export_model(source: str, destination: str, tracker: TrackerConfig, half: bool = True
                 ) -> None:
    """Copy a checkpoint without optimiser state, storing ``tracker`` in its metadata."""
    loaded = load_model(ModelSpec(path=source), RuntimeConfig(device='cpu'))
    if loaded.network is None:
        raise CheckpointError(f'--export copies a PyTorch checkpoint; {source} is an exported '
                              'ONNX file (export the checkpoint it came from instead)')
    checkpoint = read_checkpoint(source)
    save_model(destination, loaded.network.float(), loaded.config.replace(tracker=tracker),
               checkpoint.epoch, half=half,
               metadata=(checkpoint.extra or {}).get(METADATA_KEY, {}))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``centertrack_evaluate``."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = build_parser().parse_args(argv)
    return run_tool(PROG, lambda: _main_bags(args) if args.bag else _main_synthetic(args))


def _main_synthetic(args: argparse.Namespace) -> int:
    """Evaluate (and sweep) on held-out synthetic sequences."""
    if args.live or args.params_file:
        return fail(PROG, '--live and --params-file apply to --bag')
    session = TrackingSession.open(SessionSettings(
        model=ModelSpec(path=args.model),
        runtime=RuntimeConfig(device=args.device, engine=args.engine, threads=args.threads)))
    session.set_tracker_config(_tracker_config(args, session.config.tracker))
    first, count = args.seeds
    sequences = heldout_sequences(range(first, first + count),
                                  SceneConfig(num_frames=args.frames))
    if args.sweep:
        grid = threshold_grid(args.grid_track, args.grid_pre, args.grid_new,
                              session.config.tracker, args.grid_max_age,
                              args.grid_association, args.grid_low, args.grid_motion,
                              args.grid_prior_lost)
        print(f'{len(grid)} tracker settings, as they are evaluated:')
        print(_sweep_header())
        results = sweep_thresholds(session, sequences, grid, rank=RANKINGS[args.rank],
                                   progress=lambda r: print(_sweep_line(r), flush=True))
        print(f'\nbest first ({args.rank}):')
        print(_sweep_header())
        for r in results:
            print(_sweep_line(r))
        best = results[0]
        print('\nbest settings:', _summary(best)['tracker'])
    else:
        best = evaluate_tracker(session, sequences)
        results = [best]
    print(format_table(best.metrics))
    print(f'{best.frames} frames, {1000 * best.seconds_per_frame:.1f} ms per frame '
          f'({device_name(session.tracker.device)}, {session.tracker.engine.describe()})')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({'best': _summary(best), 'all': [_summary(r) for r in results]}, f,
                      indent=2)
    return _export(args, best)


if __name__ == '__main__':
    sys.exit(main())
