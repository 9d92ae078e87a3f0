"""``centertrack_bag``: rosbag tooling for CenterTrack without ``ros2 bag``.

Subcommands::

    convert  video / image folder / MOTChallenge / KITTI sequence / synthetic drive -> bag
    run      track every image of a bag offline (deterministic) -> bag and/or MOT file
    play     publish a bag's image topic(s) live over DDS at the recorded pace
    record   write topics (default: detections) from DDS into a bag
    eval     MOTA, IDF1, ID switches ... of tracks against ground truth (bags or MOT files)
    benchmark  the live node beside the offline run: quality, frames answered, latency
    info     topics, types, counts and duration of a bag

Problems a user can fix (missing files or topics, corrupt bags, bad options) are reported on
one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from ..bags import BagError
from ..bags.io import STORAGES
from ..core.config import ASSOCIATIONS, ENGINES, MOTIONS
from .cli import parse_size, run_tool, sigterm_as_interrupt

PROG = 'centertrack_bag'
_LOG = logging.getLogger(PROG)


# ----------------------------------------------------------------------------- helpers
def parse_time(text: str) -> int:
    """Seconds since the epoch (``1700000000.5``) or ISO 8601 (``2024-05-01T12:00:00Z``) as ns."""
    try:
        return round(float(text) * 1e9)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected seconds since the epoch or an ISO 8601 time, got {text!r}') from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return round(when.timestamp() * 1e9)


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text!r}')
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f'must be >= 0, got {text!r}')
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {text!r}')
    return value


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat(timespec='milliseconds')


# ----------------------------------------------------------------------------- convert
def _cmd_convert(args: argparse.Namespace) -> int:
    from ..bags.calibration_file import read_camera_calibration
    from ..bags.convert import convert
    from ..bags.sources import open_source, synthetic_source

    if args.synthetic is not None:
        if args.source is not None:
            raise BagError('give either a SOURCE or --synthetic SEED, not both')
        width, height = args.size or (0, 0)
        # A drive's length is part of its recipe (traffic and camera motion are drawn for the
        # whole drive): the first N frames of an L-frame drive need --drive-frames L.
        frames = args.frames or args.drive_frames or 200
        drive = args.drive_frames or frames
        if frames > drive:
            raise BagError(f'--frames {frames} is more than the {drive} frames of the drive '
                           '(--drive-frames)')
        source = synthetic_source(args.synthetic, drive, args.fps, width, height)
        max_frames = frames if frames < drive else None
    else:
        if args.source is None:
            raise BagError('missing SOURCE (a video, image folder, MOT or KITTI sequence) or '
                           '--synthetic SEED')
        if args.size:
            raise BagError('--size applies to --synthetic only')
        if args.drive_frames:
            raise BagError('--drive-frames applies to --synthetic only')
        class_names = tuple(n for n in (args.class_names or '').split(',') if n)
        source = open_source(args.source, args.kind, args.fps, args.sequence, args.gt,
                             class_names)
        max_frames = args.frames
    if args.no_gt:
        source.gt = None
    if args.camera_info_topic and not args.camera_info:
        raise BagError('--camera-info-topic needs --camera-info FILE')
    calibration = None
    if args.camera_info:
        calibration = read_camera_calibration(args.camera_info, args.camera_info_key)
    topic = args.topic
    if topic is None:
        topic = '/camera/image_raw' + ('/compressed' if args.compressed else '')
    result = convert(source, args.output, topic=topic, frame_id=args.frame_id,
                     gt_topic=args.gt_topic, compressed=args.compressed, quality=args.quality,
                     storage=args.storage, start_ns=args.start_time, max_frames=max_frames,
                     overwrite=args.overwrite, progress=not args.quiet,
                     calibration=calibration, camera_info_topic=args.camera_info_topic)
    seconds = (result.end_ns - result.start_ns) / 1e9
    print(f'wrote {result.path} ({args.storage}): {result.frames} frames on {result.image_topic}'
          + (f', ground truth on {result.gt_topic}' if result.gt_topic else ', no ground truth')
          + (f', camera info on {result.camera_info_topic}' if result.camera_info_topic else '')
          + f', {seconds:.2f} s at {source.fps:g} fps from {_iso(result.start_ns)}')
    return 0


# ----------------------------------------------------------------------------- run
def read_params_file(path: str) -> dict[str, Any]:
    """Read the node's parameters from a ROS parameters YAML file, as flat dotted names.

    Sections for ``centertrack`` (with or without namespace) and for ``/**`` are merged;
    nested mappings (``model: {path: ...}``) become ``model.path``.

    Raises:
        BagError: unreadable file, or no ``ros__parameters`` section for the node.

    """
    try:
        with open(Path(path).expanduser(), encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise BagError(f'cannot read parameters file {path}: {" ".join(str(exc).split())}') \
            from exc
    values: dict[str, Any] = {}
    sections = 0
    for key, section in (data or {}).items() if isinstance(data, dict) else ():
        name = str(key).rstrip('/').split('/')[-1]
        if name in ('centertrack', '**') and isinstance(section, dict) and \
                isinstance(section.get('ros__parameters'), dict):
            _flatten(section['ros__parameters'], '', values)
            sections += 1
    if not sections:
        raise BagError(f'{path} has no "centertrack: ros__parameters:" (or "/**:") section')
    return values


def _flatten(tree: dict, prefix: str, out: dict[str, Any]) -> None:
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            _flatten(value, name + '.', out)
        else:
            out[name] = value


def session_settings_from_args(args: argparse.Namespace) -> Any:
    """Resolve the node's settings from the parameters file and command-line overrides.

    The same settings, resolved the same way, as the node
    (:class:`~centertrack_ros.runtime.session.SessionSettings`).

    Raises:
        CenterTrackError: a parameters file or value is invalid.

    """
    return session_settings(given_values(args))


def session_settings(given: dict[str, Any]) -> Any:
    """Resolve node settings given (as :func:`given_values` returns them) over the defaults.

    Each bag is a camera of its own: the ``cameras`` parameter does not apply.

    Raises:
        CenterTrackError: a value is invalid.

    """
    from ..runtime import settings
    from ..runtime.session import SessionSettings

    return SessionSettings.from_values({**settings.defaults(), **given, 'cameras': None})


def given_values(args: argparse.Namespace) -> dict[str, Any]:
    """Return the node parameters given: the parameters file's, the options on top."""
    values = read_params_file(args.params_file) if args.params_file else {}
    values.update(model_overrides(args))
    return values


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Return the node parameters that the model and tracker options given set."""
    overrides = {
        'model.path': args.model, 'model.preset': args.preset, 'device': args.device,
        'engine': args.engine, 'threads': args.threads,
        'tracker.track_thresh': args.track_thresh, 'tracker.pre_thresh': args.pre_thresh,
        'tracker.new_thresh': args.new_thresh, 'tracker.max_age': args.max_age,
        'tracker.hungarian': args.hungarian, 'tracker.association': args.association,
        'tracker.low_thresh': args.low_thresh, 'tracker.motion': args.motion,
        'tracker.prior_lost': args.prior_lost,
    }
    if args.input_size:
        overrides['model.input_width'], overrides['model.input_height'] = args.input_size
    return {k: v for k, v in overrides.items() if v is not None}


def planner_settings_from_args(args: argparse.Namespace) -> Any:
    """Resolve the ``autoware.*``/``annotations.*`` settings of ``run`` as the node does.

    From the node's defaults, the parameters file and ``--trail-length``; ``autoware.enabled``
    follows the output topics asked for (the file's value is not needed).

    Raises:
        CenterTrackError: a value is invalid.

    """
    from ..runtime import settings
    from ..runtime.planner_outputs import PlannerOutputSettings

    values = settings.defaults()
    if args.params_file:
        values.update(read_params_file(args.params_file))
    if args.trail_length is not None:
        values['annotations.trail_length'] = args.trail_length
    values['autoware.enabled'] = bool(args.objects_topic or args.detected_objects_topic)
    return PlannerOutputSettings.from_values(values)


def _cmd_run(args: argparse.Namespace) -> int:
    from ..bags.io import BagReader
    from ..bags.offline import check_outputs, pick_image_topic, run_bag
    from ..runtime.session import TrackingSession

    output = args.output
    if output is None and args.mot is None:
        output = str(Path(args.bag).expanduser().resolve().with_suffix('')) + '_tracks'
    # Everything that can be wrong with the bag or the outputs is found before the model loads.
    with BagReader(args.bag) as bag:
        pick_image_topic(bag, args.image_topic)
    check_outputs(output, args.mot, args.overwrite)
    settings = session_settings_from_args(args)
    planner = planner_settings_from_args(args)
    session = TrackingSession.open(settings)
    print(session.describe(), file=sys.stderr)
    config = session.config
    result = run_bag(args.bag, session, output, image_topic=args.image_topic,
                     detections_topic=args.detections_topic, mot_path=args.mot,
                     storage=args.storage, copy_topics=args.copy_topic or (),
                     max_frames=args.frames, overwrite=args.overwrite, progress=not args.quiet,
                     camera_info_topic=args.camera_info_topic,
                     camera_info_matrix=args.camera_info_matrix,
                     detections_3d_topic=args.detections_3d_topic,
                     objects_topic=args.objects_topic,
                     detected_objects_topic=args.detected_objects_topic,
                     annotations_topic=args.annotations_topic, planner=planner,
                     node_name=args.node_name)
    if config.model.ddd and result.camera_info_topic is None:
        print('warning: the model has 3D heads but the bag has no sensor_msgs/CameraInfo '
              'topic: no 3D detections' + (' or objects' if planner.autoware else '')
              + ' written (convert --camera-info adds one)', file=sys.stderr)
    outputs = [str(p) for p in (result.output, result.mot_path) if p is not None]
    three_d = (f', {result.detections_3d} 3D boxes on {result.detections_3d_topic}'
               if result.detections_3d_topic else '')
    objects = ' and '.join(t for t in (result.objects_topic, result.detected_objects_topic) if t)
    extras = (f', {result.objects} objects on {objects}' if objects else '') + (
        f', {result.annotations} overlays on {result.annotations_topic}'
        if result.annotations_topic else '')
    print(f'tracked {result.frames} frames of {result.image_topic}: {result.detections} '
          f'detections{three_d}{extras}, {result.track_ids} track ids; tracker '
          f'{result.fps:.1f} frames/s; wrote {" and ".join(outputs)}')
    return 0


# ----------------------------------------------------------------------------- play / record
def _cmd_play(args: argparse.Namespace) -> int:
    from ..bags.live import ACK_TIMEOUT, parse_remaps, play

    result = play(args.bag, args.topics or (), parse_remaps(args.remap or ()), rate=args.rate,
                  loop=args.loop, start_offset=args.start_offset, reliability=args.qos,
                  wait_for_subscribers=args.wait_for_subscribers, progress=not args.quiet,
                  clock=args.clock, camera_info=args.camera_info)
    counts = ', '.join(f'{n} {t}' for t, n in result.published.items())
    print(f'published {counts}' + (' (interrupted)' if result.interrupted else ''))
    print('delivery: ' + '; '.join(f'{t} {_delivery(result, t)}' for t in result.published))
    for topic, count in result.unheard.items():
        if count:
            print(f'warning: {topic}: {count} message(s) published while it had no subscriber '
                  '(use --wait-for-subscribers SEC)', file=sys.stderr)
    for topic, acknowledged in result.acknowledged.items():
        if acknowledged is False:
            print(f'warning: {topic}: not every subscriber acknowledged every message within '
                  f'{ACK_TIMEOUT:g} s; some may not have arrived', file=sys.stderr)
    if not args.clock and result.stamp_age_s > 60:
        print(f'note: the bag\'s stamps are {result.stamp_age_s:,.0f} s old: a node on wall-clock '
              'time measures its latency from them; play with --clock and run the node with '
              'use_sim_time:=true for latency in bag time', file=sys.stderr)
    return 0


def _delivery(result: Any, topic: str) -> str:
    """Say in a few words what is known of a topic's delivery."""
    subscribers, best_effort = result.subscribers.get(topic, 0), result.best_effort.get(topic, 0)
    if not subscribers:
        return 'no subscriber'
    if result.acknowledged.get(topic) is None:
        return f'{subscribers} subscriber(s), published best effort: not confirmed'
    reliable = subscribers - best_effort
    text = (f'acknowledged by {reliable} subscriber(s)' if result.acknowledged[topic]
            else f'NOT acknowledged by all of {reliable} subscriber(s)') if reliable else ''
    if best_effort:
        text += (', ' if text else '') + f'{best_effort} best-effort subscriber(s) not confirmed'
    return text


def _cmd_record(args: argparse.Namespace) -> int:
    from ..bags.live import record

    output = args.output or dt.datetime.now().strftime('rosbag2_%Y_%m_%d-%H_%M_%S')
    result = record(output, args.topics or ['/detections'], storage=args.storage,
                    duration=args.duration, count=args.count, overwrite=args.overwrite,
                    progress=not args.quiet, flush_interval=args.flush_interval)
    counts = ', '.join(f'{n} on {t}' for t, n in result.counts.items())
    print(f'wrote {result.path}: {counts}')
    for topic in result.missing:
        print(f'warning: {topic} never had a publisher', file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- eval
def _cmd_eval(args: argparse.Namespace) -> int:
    from ..bags.evaluation import align, load
    from ..evaluation.metrics import format_table
    from ..evaluation.sequences import evaluate_sequences, sequence_name

    pairs = _eval_pairs(args.gt, args.tracks)
    if args.name and len(args.name) != len(pairs):
        raise BagError(f'{len(args.name)} --name for {len(pairs)} sequences')
    class_names = tuple(n for n in (args.class_names or '').split(',') if n)
    sequences: dict[str, Any] = {}
    for k, (gt_path, tracks_path) in enumerate(pairs):
        name = args.name[k] if args.name else sequence_name(gt_path, tracks_path, sequences)
        gt = load(gt_path, args.gt_topic, 'ground truth')
        tracks = load(tracks_path, args.tracks_topic, 'tracks')
        sequences[name] = align(name, gt, tracks, class_names)
    try:
        report = evaluate_sequences(list(sequences.values()), iou_threshold=args.iou,
                                    class_aware=not args.class_agnostic,
                                    min_visibility=args.min_visibility, min_score=args.min_score)
    except ValueError as exc:
        raise BagError(f'evaluation failed: {exc}') from exc
    # With --json - stdout holds the JSON alone: the table goes to stderr.
    print(format_table(report.metrics), file=sys.stderr if args.json == '-' else sys.stdout)
    for seq in report.sequences:
        if seq.unmatched_stamps:
            print(f'note: {seq.name}: {seq.unmatched_stamps} track messages had stamps that are '
                  'not ground-truth frames', file=sys.stderr)
    if args.json:
        text = json.dumps(report.to_dict(), indent=2, allow_nan=False)
        if args.json == '-':
            print(text)
        else:
            Path(args.json).expanduser().parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).expanduser().write_text(text + '\n', encoding='utf-8')
            print(f'wrote {args.json}', file=sys.stderr)
    return 0


def _eval_pairs(gts: Sequence[str], tracks: Sequence[str]) -> list[tuple[Path, Path]]:
    """Pair ``--gt``/``--tracks``; two MOTChallenge folders pair up by sequence name."""
    from ..bags.evaluation import is_bag_path

    gt_paths = [Path(p).expanduser() for p in gts]
    track_paths = [Path(p).expanduser() for p in tracks]
    if len(gt_paths) == 1 and len(track_paths) == 1:
        gt_dir, tr_dir = gt_paths[0], track_paths[0]
        if gt_dir.is_dir() and tr_dir.is_dir() and not is_bag_path(gt_dir) and \
                not is_bag_path(tr_dir) and not (gt_dir / 'gt' / 'gt.txt').is_file():
            # MOTChallenge layout: <gt_dir>/<seq>/gt/gt.txt and <tr_dir>/<seq>.txt
            seqs = sorted(p.name for p in gt_dir.iterdir() if (p / 'gt' / 'gt.txt').is_file())
            if not seqs:
                raise BagError(f'{gt_dir} holds no MOT sequences (<seq>/gt/gt.txt)')
            missing = [s for s in seqs if not (tr_dir / f'{s}.txt').is_file()]
            if missing:
                raise BagError(f'no tracks for {", ".join(missing)} in {tr_dir} '
                               '(expected <seq>.txt)')
            return [(gt_dir / s, tr_dir / f'{s}.txt') for s in seqs]
    if len(gt_paths) != len(track_paths):
        raise BagError(f'{len(gt_paths)} --gt but {len(track_paths)} --tracks; give them in pairs')
    return list(zip(gt_paths, track_paths))


# ----------------------------------------------------------------------------- benchmark
def benchmark_rates(rates: Sequence[float]) -> list[float]:
    """Return a benchmark's playback speeds in order, each once (default: the recorded pace)."""
    out: list[float] = []
    for rate in rates or (1.0,):
        if rate not in out:
            out.append(rate)
    return out


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from ..bags.cameras import read_cameras
    from .live_benchmark import run_benchmark

    names = tuple(n for n in (args.camera_names or '').split(',') if n)
    # Everything that can be wrong with the bags or the settings is found before anything runs.
    sources = read_cameras(args.bags, names, args.image_topic, args.gt_topic)
    values = given_values(args)
    settings = session_settings(values)
    report = run_benchmark(
        sources, settings, values, args.params_file, benchmark_rates(args.rate or ()),
        record=Path(args.record).expanduser() if args.record else None,
        iou_threshold=args.iou, settle_timeout=args.settle_timeout, progress=not args.quiet,
        log=lambda text: print(f'{PROG} benchmark: {text}', file=sys.stderr))
    report.settings['options'] = {k: v for k, v in vars(args).items() if k != 'func'}
    table = report.markdown()
    if args.markdown:
        Path(args.markdown).expanduser().write_text(table, encoding='utf-8')
    data = json.dumps(report.to_dict(), indent=2, default=str)
    if args.json == '-':
        print(data)  # stdout holds the JSON alone
        print(table, file=sys.stderr)
        return 0
    if args.json:
        Path(args.json).expanduser().write_text(data + '\n', encoding='utf-8')
    print(table)
    return 0


# ----------------------------------------------------------------------------- info
def _cmd_info(args: argparse.Namespace) -> int:
    from ..bags.io import BagReader

    with BagReader(args.bag) as bag:
        topics = bag.topics
        info: dict[str, Any] = {  # the JSON document
            'path': str(bag.path), 'storage': bag.storage, 'messages': bag.message_count,
            'start_ns': bag.start_ns, 'end_ns': bag.end_ns,
            'duration_s': bag.duration_ns / 1e9,
            'topics': [{'name': t.name, 'type': t.msgtype, 'count': t.count} for t in
                       topics.values()],
            'custom_data': bag.custom_data,
        }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f'bag:       {info["path"]} ({info["storage"]})')
    print(f'messages:  {info["messages"]}')
    print(f'duration:  {info["duration_s"]:.3f} s')
    if info['messages']:
        print(f'start:     {_iso(info["start_ns"])}')
        print(f'end:       {_iso(info["end_ns"])}')
    width = max([len(t['name']) for t in info['topics']] + [5])
    type_width = max([len(t['type']) for t in info['topics']] + [4])
    print('topics:')
    for t in info['topics']:
        rate = ''
        if t['count'] > 1 and info['duration_s'] > 0:
            rate = f'  ~{(t["count"] - 1) / info["duration_s"]:.2f} Hz'
        print(f'  {t["name"]:<{width}}  {t["type"]:<{type_width}}  {t["count"]:>7} msgs{rate}')
    for key, value in info['custom_data'].items():
        print(f'custom:    {key} = {value}')
    return 0


# ----------------------------------------------------------------------------- parser
def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the model and tracker options of ``run`` (the node's parameters) to a parser."""
    model = parser.add_argument_group('model and tracker (as the node\'s parameters)')
    model.add_argument('--params-file', metavar='YAML',
                       help='the node\'s parameters file; the options below override it')
    model.add_argument('--model', metavar='PATH', help='checkpoint (default: the bundled model)')
    model.add_argument('--preset', help='official model-zoo preset name')
    model.add_argument('--input-size', type=parse_size, metavar='WxH',
                       help='network input size (multiples of 32)')
    model.add_argument('--device', help='auto (default), cpu, cuda or cuda:N')
    model.add_argument('--engine', choices=ENGINES,
                       help='inference engine: auto (default), onnxruntime, torch, reference')
    model.add_argument('--threads', type=int, help='CPU threads of the network (0: default)')
    model.add_argument('--track-thresh', type=float)
    model.add_argument('--pre-thresh', type=float)
    model.add_argument('--new-thresh', type=float)
    model.add_argument('--max-age', type=int)
    model.add_argument('--hungarian', action='store_true', default=None)
    model.add_argument('--association', choices=ASSOCIATIONS,
                       help='greedy (the original), hungarian or byte')
    model.add_argument('--low-thresh', type=float,
                       help='byte: lowest score that may continue a track')
    model.add_argument('--motion', choices=MOTIONS,
                       help='how coasting tracks move: none (the original) or velocity')
    model.add_argument('--prior-lost', action=argparse.BooleanOptionalAction, default=None,
                       help='draw coasting tracks into the prior heatmap')


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``centertrack_bag``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description='Rosbag tooling for CenterTrack: convert, run offline, play, '
                               'record, evaluate.')
    parser.add_argument('-v', '--verbose', action='store_true', help='log more')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument('-q', '--quiet', action='store_true', help='no progress bar')

    p = sub.add_parser('convert', help='video / images / MOT / KITTI / synthetic -> bag',
                       description='Write frames (and ground truth) into a rosbag2 bag.')
    p.add_argument('source', nargs='?', help='video file, image folder, MOTChallenge sequence '
                   'folder, or KITTI-tracking folder')
    p.add_argument('-o', '--output', required=True, help='bag directory to create')
    p.add_argument('--kind', default='auto',
                   choices=('auto', 'video', 'images', 'mot', 'kitti'),
                   help='source kind (default: guessed from the path)')
    p.add_argument('--synthetic', type=int, metavar='SEED',
                   help='generate a synthetic drive with this seed instead of reading SOURCE')
    p.add_argument('--frames', type=_positive_int,
                   help='number of frames (synthetic: default 200, or --drive-frames; others: '
                        'at most this many)')
    p.add_argument('--drive-frames', type=_positive_int, metavar='L',
                   help='synthetic: take the frames from the drive of L frames (default: '
                        '--frames). A drive\'s length is part of its recipe, so --frames 100 '
                        'alone is another drive than the first 100 frames of a 150-frame one '
                        '(the demo\'s): that is --frames 100 --drive-frames 150')
    p.add_argument('--size', type=parse_size, metavar='WxH',
                   help='synthetic image size (default 640x384)')
    p.add_argument('--sequence', help='KITTI sequence (e.g. 0003) when SOURCE is the root')
    p.add_argument('--gt', metavar='FILE', help='MOTChallenge ground-truth file for SOURCE')
    p.add_argument('--class-names', metavar='A,B,...',
                   help='names of the class ids in --gt (default: the MOT17 classes)')
    p.add_argument('--no-gt', action='store_true', help='do not write ground truth')
    p.add_argument('--topic', help='image topic (default /camera/image_raw, or '
                   '/camera/image_raw/compressed with --compressed)')
    p.add_argument('--frame-id', default='camera', help='header.frame_id (default camera)')
    p.add_argument('--gt-topic', default='/ground_truth',
                   help='ground-truth Detection2DArray topic (default /ground_truth)')
    p.add_argument('--compressed', nargs='?', const='jpeg', choices=('jpeg', 'png'),
                   help='write sensor_msgs/CompressedImage (jpeg unless png is given)')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality (default 95)')
    p.add_argument('--camera-info', metavar='FILE',
                   help='also write sensor_msgs/CameraInfo from a calibration file: a ROS camera '
                        'YAML, a KITTI calib file, or a 3x4 (3x3) matrix as text or JSON')
    p.add_argument('--camera-info-topic', metavar='TOPIC',
                   help='CameraInfo topic (default: camera_info beside the image topic)')
    p.add_argument('--camera-info-key', default='P2', metavar='KEY',
                   help='matrix of a KITTI calib file (default P2, the left colour camera)')
    p.add_argument('--storage', choices=STORAGES, default='mcap', help='default mcap')
    p.add_argument('--fps', type=_positive_float, help='frame rate (overrides the source\'s)')
    p.add_argument('--start-time', type=parse_time, metavar='T',
                   help='stamp of the first frame: epoch seconds or ISO 8601 (default: now)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output bag')
    common(p)
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser('run', help='track every image of a bag offline',
                       description='Run CenterTrack over every image message of a bag, in '
                                   'order, without DDS and without dropping frames.')
    p.add_argument('bag', help='input bag')
    p.add_argument('-o', '--output', help='output bag (default: <bag>_tracks unless only --mot)')
    p.add_argument('--mot', metavar='FILE', help='also write a MOTChallenge result file')
    p.add_argument('--image-topic', help='image topic (default: the bag\'s only one)')
    p.add_argument('--detections-topic', default='/detections',
                   help='output topic (default /detections)')
    p.add_argument('--copy-topic', action='append', metavar='TOPIC',
                   help='copy this input topic into the output bag (repeatable)')
    p.add_argument('--detections-3d-topic', default='/detections_3d',
                   help='Detection3DArray output of a model with 3D heads (default '
                        '/detections_3d)')
    p.add_argument('--camera-info-topic', metavar='TOPIC',
                   help='CameraInfo topic for a 3D model (default: the bag\'s only one)')
    p.add_argument('--camera-info-matrix', choices=('p', 'k'), default='p',
                   help='p for rectified images (default), k for raw ones')
    planner = p.add_argument_group(
        'planner and viewer outputs (the node\'s objects, detected_objects, annotations; '
        'each written only when its topic is given; autoware.* and annotations.* of '
        '--params-file apply)')
    planner.add_argument('--objects-topic', metavar='TOPIC',
                         help='write autoware_perception_msgs/TrackedObjects (a model with 3D '
                              'heads, frames with a CameraInfo), e.g. /objects')
    planner.add_argument('--detected-objects-topic', metavar='TOPIC',
                         help='write autoware_perception_msgs/DetectedObjects (the same '
                              'objects without ids), e.g. /detected_objects')
    planner.add_argument('--annotations-topic', metavar='TOPIC',
                         help='write foxglove_msgs/ImageAnnotations (boxes, ids, trails; any '
                              'model) for Foxglove\'s Image panel, e.g. /annotations')
    planner.add_argument('--trail-length', type=int, metavar='N',
                         help='box centres per trail (annotations.trail_length, default 30)')
    planner.add_argument('--node-name', default='/centertrack', metavar='NAME',
                         help='fully qualified name of the node whose object UUIDs to '
                              'reproduce (default /centertrack)')
    p.add_argument('--storage', choices=STORAGES, help='output storage (default: the input\'s)')
    p.add_argument('--frames', type=_positive_int, help='track only the first N images')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output bag')
    add_model_options(p)
    common(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser('play', help='publish a bag live over DDS',
                       description='Publish a bag\'s topics (default: its image topics) at the '
                                   'recorded pace; headers are kept as recorded.')
    p.add_argument('bag')
    p.add_argument('--topics', nargs='+', metavar='TOPIC', help='topics to publish')
    p.add_argument('--remap', nargs='+', metavar='FROM:=TO', help='publish FROM as TO')
    p.add_argument('--rate', type=_positive_float, default=1.0, help='speed factor (default 1)')
    p.add_argument('--loop', action='store_true', help='repeat until interrupted')
    p.add_argument('--start-offset', type=_non_negative_float, default=0.0, metavar='SEC',
                   help='start this many seconds into the bag')
    p.add_argument('--qos', choices=('reliable', 'best_effort'), default='reliable',
                   help='publisher reliability (default reliable)')
    p.add_argument('--wait-for-subscribers', type=_non_negative_float, default=0.0,
                   metavar='SEC', help='wait up to SEC for a subscriber on every topic')
    p.add_argument('--clock', type=_positive_float, nargs='?', const=40.0, default=0.0,
                   metavar='HZ', help='publish the bag time on /clock (for use_sim_time), HZ '
                                      'times a second (default 40) and before every message')
    p.add_argument('--no-camera-info', dest='camera_info', action='store_false',
                   help='do not publish the sensor_msgs/CameraInfo topic beside each image '
                        'topic (<ns>/camera_info for <ns>/image_raw[/compressed]), which is '
                        'published with it by default')
    common(p)
    p.set_defaults(func=_cmd_play)

    p = sub.add_parser('record', help='record topics from DDS into a bag',
                       description='Record topics (default /detections) until Ctrl-C, '
                                   '--duration or --count. The bag is flushed to disk every '
                                   '--flush-interval seconds (default 1), metadata.yaml '
                                   'included: a recorder killed without closing (SIGKILL, '
                                   'power loss) leaves a readable bag that lacks at most the '
                                   'messages of its last second.')
    p.add_argument('topics', nargs='*', metavar='TOPIC', help='default: /detections')
    p.add_argument('-o', '--output', help='bag directory (default rosbag2_<date>-<time>)')
    p.add_argument('--storage', choices=STORAGES, default='mcap', help='default mcap')
    p.add_argument('--duration', type=_positive_float, metavar='SEC', help='stop after SEC')
    p.add_argument('--count', type=_positive_int, metavar='N',
                   help='stop after N messages (all topics together)')
    p.add_argument('--flush-interval', type=_positive_float, default=1.0, metavar='SEC',
                   help='write what was received to disk every SEC seconds (default 1): a '
                        'recorder that is killed (SIGKILL, power loss) keeps a readable bag '
                        'and loses at most the last SEC seconds of messages')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output bag')
    common(p)
    p.set_defaults(func=_cmd_record)

    p = sub.add_parser('eval', help='tracking metrics against ground truth',
                       description='Compare tracks with ground truth; each can be a bag (topic '
                                   'of Detection2DArray) or MOTChallenge text. Repeat '
                                   '--gt/--tracks for several sequences, or give two '
                                   'MOTChallenge folders (<gt>/<seq>/gt/gt.txt and '
                                   '<tracks>/<seq>.txt).')
    p.add_argument('--gt', action='append', required=True, metavar='PATH',
                   help='ground truth: bag, MOT file or MOT sequence folder')
    p.add_argument('--tracks', action='append', required=True, metavar='PATH',
                   help='tracks: bag or MOT result file')
    p.add_argument('--name', action='append', help='sequence names (default: from the paths)')
    p.add_argument('--gt-topic', help='ground-truth topic in bags (default /ground_truth)')
    p.add_argument('--tracks-topic', help='tracks topic in bags (default /detections)')
    p.add_argument('--iou', type=float, default=0.5, help='match IoU threshold (default 0.5)')
    p.add_argument('--class-agnostic', action='store_true', help='match across classes')
    p.add_argument('--class-names', metavar='A,B,...',
                   help='names of integer class ids in MOT files (default: from the bags)')
    p.add_argument('--min-visibility', type=float, default=0.0,
                   help='ignore ground truth less visible than this (MOT files only)')
    p.add_argument('--min-score', type=float, help='drop tracks scoring below this')
    p.add_argument('--json', metavar='FILE', help='write a JSON report (- for stdout)')
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        'benchmark', help='live node vs offline: quality, frames answered, latency',
        description='Play bags with ground truth through the live node (started in another '
                    'process) at the recorded pace times each --rate; run the same model '
                    'offline on every frame; report side by side what was published: HOTA, '
                    'DetA, AssA, MOTA, IDF1, ID switches (a frame the node did not answer '
                    'counts as no output), the fraction of frames answered and the latency '
                    'from publishing an image to receiving its detections (p50/p90/p99/max). '
                    'One bag per camera; several bags are served by one node (its cameras '
                    'parameter).')
    p.add_argument('bags', nargs='+', metavar='BAG',
                   help='one bag per camera, each with its ground truth (e.g. from convert)')
    p.add_argument('--rate', type=_positive_float, nargs='+', metavar='R',
                   help='playback speed factors, one live run each, in order (default 1: the '
                        'recorded pace); e.g. --rate 1 3')
    p.add_argument('--camera-names', metavar='A,B,...',
                   help='camera names, one per bag (default: from the bag names)')
    p.add_argument('--image-topic', help='image topic in every bag (default: each bag\'s only '
                                         'one)')
    p.add_argument('--gt-topic', help='ground-truth topic (default /ground_truth, or the '
                                      'bag\'s only Detection2DArray topic)')
    p.add_argument('--iou', type=float, default=0.5,
                   help='match IoU of MOTA/IDF1 (default 0.5; HOTA scores every IoU)')
    p.add_argument('--json', metavar='FILE',
                   help='write the report as JSON (- for stdout, which then holds the JSON '
                        'alone; the table goes to stderr)')
    p.add_argument('--markdown', metavar='FILE', help='also write the tables to FILE')
    p.add_argument('--record', metavar='DIR',
                   help='write the tracks into bags under DIR: offline, live_x1, live_x3, ... '
                        '(<run>_<camera> with several cameras), for eval or a viewer')
    p.add_argument('--settle-timeout', type=_positive_float, default=60.0, metavar='SEC',
                   help='after the last frame, wait up to SEC for the node to account for '
                        'every frame (default 60)')
    add_model_options(p)
    common(p)
    p.set_defaults(func=_cmd_benchmark)

    p = sub.add_parser('info', help='summarise a bag')
    p.add_argument('bag')
    p.add_argument('--json', action='store_true', help='machine-readable output')
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``centertrack_bag`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format=f'{PROG}: %(levelname)s: %(message)s')
    # SIGTERM ends a command like Ctrl-C, so that a terminated conversion still closes its
    # bag; play and record stop between two messages on their own.
    terminated = nullcontext() if args.command in ('play', 'record') else sigterm_as_interrupt()
    with terminated:
        return run_tool(f'{PROG} {args.command}', lambda: args.func(args))


if __name__ == '__main__':
    sys.exit(main())
