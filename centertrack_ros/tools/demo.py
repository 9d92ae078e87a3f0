"""``centertrack_demo``: the whole system on a synthetic drive, with metrics and a video.

What it does:

1. generates a seeded synthetic driving sequence with exact ground truth
   (:mod:`centertrack_ros.synthetic`);
2. starts the real ``centertrack`` node as a separate process (its own namespace, so it does
   not meet other graphs' topics) and waits until it is active;
3. publishes the frames to it over DDS. By default it waits for each frame's detections
   before sending the next (``--pace wait``): the live node drops frames it cannot keep up
   with, and a dropped frame would turn into misses in the metrics that are not the tracker's.
   ``--pace fps`` sends at the sequence's frame rate instead and reports the drops;
4. prints a summary (frames, tracks, stamp-to-receive latency, MOTA/IDF1/ID switches against
   the ground truth) and writes an annotated video (MP4, or GIF with ``--format gif``).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core.config import ASSOCIATIONS

PROG = 'centertrack_demo'
NAMESPACE = '/centertrack_demo'
NODE_START_TIMEOUT = 180.0  # seconds: importing torch and loading a model on a slow CPU
FIRST_FRAME_TIMEOUT = 60.0
FRAME_TIMEOUT = 20.0


class DemoError(RuntimeError):
    """The demo cannot run or the node failed; the message says why."""


@dataclass
class Reception:
    """Detections received for one frame."""

    frame: int
    boxes: list
    latency: float


@dataclass
class DemoResult:
    """Everything the summary and the video are made from."""

    frames_sent: int = 0
    receptions: dict[int, Reception] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def dropped(self) -> int:
        """Frames sent for which no detections came back."""
        return self.frames_sent - len(self.receptions)


class NodeProcess:
    """The ``centertrack`` node in a child process, with its output kept for diagnostics."""

    def __init__(self, model: str, device: str, extra_params: Sequence[str] = ()) -> None:
        executable = Path(sys.executable).with_name('centertrack_node')
        command = [str(executable)] if executable.is_file() else \
            [sys.executable, '-m', 'centertrack_ros.ros.node']
        command += ['--ros-args', '-r', f'__ns:={NAMESPACE}',
                    '-p', f'model.path:={model}', '-p', f'device:={device}',
                    '-p', 'qos.reliability:=reliable']
        for param in extra_params:
            command += ['-p', param]
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        # The demo is a self-contained local graph: keep discovery on this machine.
        env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
        self.command = command
        self.lines: deque[str] = deque(maxlen=200)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, errors='replace', env=env,
                                        start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def alive(self) -> bool:
        """Whether the node process is still running."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        """Return the last lines the node printed."""
        return '\n'.join(list(self.lines)[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the node to shut down (SIGINT), then insist."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        self._reader.join(2.0)


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


def run_demo(sequence: Any, model: str, device: str = 'auto', pace: str = 'wait',
             progress: bool = True, log=print, encoding: str = 'bgr8',
             params: Sequence[str] = ()) -> DemoResult:
    """Send every frame of ``sequence`` to a freshly started node; collect its detections.

    Frames go out as ``sensor_msgs/Image`` in ``encoding`` (``bgr8`` or ``rgb8``); ``params``
    are extra ``name:=value`` parameters of the node.

    Raises:
        DemoError: the node does not come up, dies, or never answers.

    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from tqdm import tqdm
    from vision_msgs.msg import Detection2DArray

    from ..bags.messages import boxes_from_detections
    from ..ros.messages import bgr_to_image_msg

    node_process = NodeProcess(model, device, params)
    context = rclpy.context.Context()
    rclpy.init(context=context)
    driver = rclpy.create_node('centertrack_demo_driver', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(driver)
    result = DemoResult()
    pending: dict[int, tuple[int, float]] = {}  # stamp -> (frame, send time)

    def on_detections(msg: Any) -> None:
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        entry = pending.pop(stamp, None)
        if entry is not None:
            frame, _ = entry
            latency = time.time() - stamp / 1e9
            result.receptions[frame] = Reception(frame, boxes_from_detections(msg), latency)

    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    publisher = driver.create_publisher(Image, f'{NAMESPACE}/image', reliable)
    driver.create_subscription(Detection2DArray, f'{NAMESPACE}/detections', on_detections,
                               QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    try:
        log(f'starting the node: {" ".join(node_process.command)}')
        _wait_for_node(executor, driver, publisher, node_process)
        log('node is active; sending frames'
            + (' (waiting for each result)' if pace == 'wait' else
               f' at {sequence.fps:g} frames/s'))
        period = 1.0 / sequence.fps
        start = time.monotonic()
        with tqdm(total=len(sequence), unit='frame', disable=not progress, leave=False) as bar:
            for index in range(len(sequence)):
                image = sequence.image(index)
                send_time = time.time()
                stamp = time.time_ns()
                header = Image().header
                header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                header.frame_id = 'camera'
                pending[stamp] = (index + 1, send_time)
                publisher.publish(bgr_to_image_msg(image, header, encoding))
                result.frames_sent += 1
                if pace == 'wait':
                    timeout = FIRST_FRAME_TIMEOUT if index == 0 else FRAME_TIMEOUT
                    _spin_until(executor, lambda: stamp not in pending, timeout, node_process)
                else:
                    _spin_until(executor, lambda: False,
                                start + (index + 1) * period - time.monotonic(), node_process)
                bar.update()
        # In fps mode the last frames may still be in the node.
        _spin_until(executor, lambda: not pending, 3.0 if pace == 'fps' else 0.0, node_process)
        result.wall_seconds = time.monotonic() - start
        if not result.receptions:
            raise DemoError('the node answered no frame; its log ends with:\n'
                            + node_process.log_tail())
    finally:
        executor.shutdown(timeout_sec=0)
        driver.destroy_node()
        context.try_shutdown()
        node_process.stop()
    return result


def _spin_until(executor: Any, done: Any, timeout: float, node_process: NodeProcess) -> bool:
    deadline = time.monotonic() + max(0.0, timeout)
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not node_process.alive():
            raise DemoError('the node exited; its log ends with:\n' + node_process.log_tail())
        executor.spin_once(timeout_sec=min(0.05, remaining))
    return True


def _wait_for_node(executor: Any, driver: Any, publisher: Any,
                   node_process: NodeProcess) -> None:
    topic = f'{NAMESPACE}/detections'

    def ready() -> bool:
        return publisher.get_subscription_count() > 0 and driver.count_publishers(topic) > 0

    if not _spin_until(executor, ready, NODE_START_TIMEOUT, node_process):
        raise DemoError(f'the node did not become active within {NODE_START_TIMEOUT:.0f} s; '
                        'its log ends with:\n' + node_process.log_tail())
    # Discovery is symmetric only after both sides matched; a short grace avoids losing frame 1.
    _spin_until(executor, lambda: False, 0.5, node_process)


@dataclass
class _Drawable:
    """The attributes :func:`~centertrack_ros.runtime.drawing.draw_tracks` reads."""

    track_id: int
    class_id: int
    score: float
    bbox: tuple
    active: int = 1


def write_video(sequence: Any, result: DemoResult, path: Path, class_names: Sequence[str],
                fmt: str = 'mp4') -> Path:
    """Write the frames with the received tracks drawn on them; returns the file written."""
    import cv2

    from ..runtime.drawing import draw_tracks

    names = list(class_names)

    def class_id(label: str) -> int:
        if label not in names:
            names.append(label)
        return names.index(label) + 1

    def class_name(cid: int) -> str:
        return names[cid - 1] if 1 <= cid <= len(names) else str(cid)

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    writer = None
    if fmt == 'mp4':
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), sequence.fps,
                                 (sequence.width, sequence.height))
        if not writer.isOpened():
            writer, fmt = None, 'gif'
            path = path.with_suffix('.gif')
    for index in range(len(sequence)):
        reception = result.receptions.get(index + 1)
        image = sequence.image(index)
        if reception is not None:
            tracks = [_Drawable(b.track_id, class_id(b.class_name), b.score,
                                (b.x1, b.y1, b.x2, b.y2)) for b in reception.boxes]
            image = draw_tracks(image, tracks, class_name)
            caption = f'frame {index + 1}/{len(sequence)}  {len(tracks)} tracks  ' \
                      f'latency {reception.latency * 1000:.0f} ms'
        else:
            caption = f'frame {index + 1}/{len(sequence)}  dropped by the node'
        # A darkened band keeps the caption readable over boxes and labels.
        image[:28] = (image[:28] * 0.35).astype(np.uint8)
        cv2.putText(image, caption, (8, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        if writer is not None:
            writer.write(image)
        else:  # GIF: half size keeps the 256-colour file shareable (a few MB, not tens)
            frames.append(cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                                     interpolation=cv2.INTER_AREA)[:, :, ::-1])
    if writer is not None:
        writer.release()
        return path
    from PIL import Image as PILImage
    pictures = [PILImage.fromarray(np.ascontiguousarray(f)) for f in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], loop=0,
                     duration=int(1000 / sequence.fps))
    return path


def summarise(sequence: Any, result: DemoResult, class_names: Sequence[str]) -> dict[str, Any]:
    """Frames, tracks, latency and tracking quality against the ground truth."""
    from ..bags.messages import ClassIds, rows_from_boxes
    from ..evaluation.metrics import evaluate
    from ..evaluation.synthetic import synthetic_gt_rows

    ids = ClassIds(class_names)
    rows = [r for frame, rec in sorted(result.receptions.items())
            for r in rows_from_boxes(rec.boxes, frame, ids)]
    metrics = evaluate(synthetic_gt_rows(sequence), rows, num_frames=len(sequence))
    latencies = [r.latency for r in result.receptions.values()]
    return {
        'frames': len(sequence), 'frames_sent': result.frames_sent,
        'frames_tracked': len(result.receptions), 'frames_dropped': result.dropped,
        'detections': len(rows), 'track_ids': len({r.track_id for r in rows}),
        'latency_p50_ms': _percentile(latencies, 50) * 1000,
        'latency_p90_ms': _percentile(latencies, 90) * 1000,
        'frames_per_second': len(result.receptions) / result.wall_seconds
        if result.wall_seconds > 0 else math.nan,
        'metrics': metrics,
    }


def _percent(value: float) -> str:
    return '-' if math.isnan(value) else f'{100 * value:.1f}%'


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``centertrack_demo``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description='Track a synthetic drive with the real centertrack node over '
                               'DDS; print metrics and write an annotated video.')
    parser.add_argument('--model', default='', help='checkpoint (default: the bundled model)')
    parser.add_argument('--frames', type=int, default=150, help='frames to generate (150)')
    parser.add_argument('--seed', type=int, default=7, help='scene seed (7)')
    parser.add_argument('--output', default='out/demo', help='output folder (out/demo)')
    parser.add_argument('--device', default='auto', help='auto (default), cpu, cuda, cuda:N')
    parser.add_argument('--pace', choices=('wait', 'fps'), default='wait',
                        help='wait for each result (default) or send at the frame rate')
    parser.add_argument('--format', choices=('mp4', 'gif'), default='mp4',
                        help='video format (mp4)')
    parser.add_argument('--association', choices=ASSOCIATIONS,
                        help="the node's tracker.association (default: the model's)")
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``centertrack_demo`` console script."""
    args = build_parser().parse_args(argv)
    if args.frames < 2:
        print(f'{PROG}: error: --frames must be >= 2', file=sys.stderr)
        return 2
    from ..core.checkpoint import CheckpointError, read_checkpoint
    from ..core.model_spec import ModelSpec, default_model_path, resolve_config
    from ..synthetic import CLASS_NAMES, SceneConfig, generate_sequence

    try:
        model = str(Path(args.model).expanduser().resolve()) if args.model \
            else default_model_path()
        config = resolve_config(ModelSpec(path=model), read_checkpoint(model))
    except (CheckpointError, ValueError) as exc:
        hint = '' if args.model else ' (or pass --model PATH)'
        print(f'{PROG}: error: {exc}{hint}', file=sys.stderr)
        return 2
    sequence = generate_sequence(SceneConfig(seed=args.seed, num_frames=args.frames))
    output = Path(args.output)
    print(f'{PROG}: {len(sequence)} synthetic frames ({sequence.width}x{sequence.height}, '
          f'{sequence.fps:g} fps, seed {args.seed}, {sequence.num_tracks} objects); model '
          f'{model} ({config.model.arch}, input {config.input.width}x{config.input.height}, '
          f'classes {", ".join(config.model.class_names) or config.model.num_classes})')
    try:
        params = [f'tracker.association:={args.association}'] if args.association else []
        result = run_demo(sequence, model, args.device, args.pace, progress=not args.quiet,
                          log=lambda text: print(f'{PROG}: {text}'), params=params)
    except DemoError as exc:
        print(f'{PROG}: error: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'{PROG}: interrupted', file=sys.stderr)
        return 130
    class_names = tuple(config.model.class_names) or tuple(CLASS_NAMES)
    summary = summarise(sequence, result, class_names)
    video = write_video(sequence, result, output / f'demo.{args.format}', class_names,
                        args.format)
    m = summary['metrics']
    print()
    print('CenterTrack demo summary')
    print(f'  frames     {summary["frames_sent"]} sent, {summary["frames_tracked"]} tracked, '
          f'{summary["frames_dropped"]} dropped by the node')
    print(f'  tracks     {summary["track_ids"]} track ids, {summary["detections"]} boxes '
          f'({summary["detections"] / max(1, summary["frames_tracked"]):.1f} per frame)')
    print(f'  latency    p50 {summary["latency_p50_ms"]:.0f} ms, p90 '
          f'{summary["latency_p90_ms"]:.0f} ms (image stamp -> detections received); '
          f'{summary["frames_per_second"]:.1f} frames/s')
    print(f'  quality    HOTA {_percent(m.hota)} (DetA {_percent(m.deta)}, AssA '
          f'{_percent(m.assa)}), MOTA {_percent(m.mota)}, IDF1 {_percent(m.idf1)}, ID switches '
          f'{m.id_switches}, precision {_percent(m.precision)}, recall {_percent(m.recall)} '
          f'({m.num_gt} ground-truth boxes of {m.num_gt_ids} objects)')
    print(f'  video      {video}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
