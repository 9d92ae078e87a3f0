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
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..core.config import ASSOCIATIONS, ENGINES
from ..core.errors import CenterTrackError, one_line
from .cli import fail, interrupted, sigterm_as_interrupt

PROG = 'centertrack_demo'
NAMESPACE = '/centertrack_demo'
NODE_START_TIMEOUT = 180.0  # seconds: importing torch and loading a model on a slow CPU
FIRST_FRAME_TIMEOUT = 60.0
FRAME_TIMEOUT = 20.0
CONFIGURE_FAILED = re.compile(r'configure failed: (.*)$', re.MULTILINE)
LOADED = re.compile(r'\] (loaded .*)$', re.MULTILINE)


class DemoError(RuntimeError):
    """The demo cannot run or the node failed; the message says why."""


class NodeConfigureError(DemoError, CenterTrackError):
    """The node refused its model or settings (a user error: the message says which)."""


class _FailFast:
    """Watches the node for the waits: it must run, and it must not have failed to configure."""

    def __init__(self, node: Any) -> None:
        self._node = node

    def expect_alive(self, seconds: float = 0.0) -> None:
        """Return after ``seconds`` while the node runs and has not refused its settings."""
        self._node.expect_alive(seconds)
        match = CONFIGURE_FAILED.search(self._node.output())
        if match:
            raise NodeConfigureError(f'the node cannot start: {match.group(1).strip()}')


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
    class_names: tuple[str, ...] = ()  # the node's labels, from its label_info
    model: str = ''  # the node's own description of what it loaded

    @property
    def dropped(self) -> int:
        """Frames sent for which no detections came back."""
        return self.frames_sent - len(self.receptions)


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else math.nan


@dataclass
class _Arrival:
    """Detections as they arrived: the image stamp, the receive time and the boxes."""

    stamp: int
    received: float
    boxes: list


def run_demo(sequence: Any, model: str, device: str = 'auto', pace: str = 'wait',
             progress: bool = True, log=print, encoding: str = 'bgr8',
             engine: str = 'auto', params: Optional[dict[str, Any]] = None) -> DemoResult:
    """Send every frame of ``sequence`` to a freshly started node; collect its detections.

    Frames go out as ``sensor_msgs/Image`` in ``encoding`` (``bgr8`` or ``rgb8``); ``params``
    are extra node parameters (name to value).

    Raises:
        DemoError: the node does not come up, dies, or never answers.

    """
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from tqdm import tqdm
    from vision_msgs.msg import Detection2DArray, LabelInfo

    from ..bags.messages import boxes_from_detections
    from ..runtime.stamps import stamp_ns
    from .harness import NodeProcess, ProcessExited, RosClient, image_msg, reliable_qos

    # The demo is a self-contained local graph: keep the node's discovery on this machine. Its
    # own session, so that a Ctrl-C in the terminal reaches the demo, which then stops it; and
    # it dies with the demo, however the demo ends.
    node = NodeProcess(NAMESPACE, {'model.path': model, 'device': device, 'engine': engine,
                                   'qos.reliability': 'reliable', **(params or {})},
                       env={'ROS_AUTOMATIC_DISCOVERY_RANGE': os.environ.get(
                           'ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')},
                       start_new_session=True, die_with_parent=True)
    watch = _FailFast(node)
    client = RosClient('centertrack_demo_driver')
    labels = client.subscribe(LabelInfo, f'{NAMESPACE}/label_info', QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL))
    publisher = client.node.create_publisher(Image, f'{NAMESPACE}/image', reliable_qos())
    detections = client.subscribe(
        Detection2DArray, f'{NAMESPACE}/detections', reliable_qos(100),
        transform=lambda msg: _Arrival(stamp_ns(msg.header.stamp), time.time(),
                                       boxes_from_detections(msg)))
    result = DemoResult()
    sent: dict[int, int] = {}  # stamp -> frame
    try:
        log(f'starting the node: {" ".join(node.command)}')
        try:
            client.wait_matched(publisher, detections, NODE_START_TIMEOUT, watch=watch)
            label_info = labels.wait_for(lambda msg: True, NODE_START_TIMEOUT, watch=watch)
        except TimeoutError:
            raise DemoError(f'the node did not become active within {NODE_START_TIMEOUT:.0f} s; '
                            'its log ends with:\n' + node.tail()) from None
        result.class_names = tuple(entry.class_name for entry in label_info.class_map)
        loaded = LOADED.search(node.output())
        result.model = loaded.group(1) if loaded else ''
        if result.model:
            log(f'node: {result.model}')
        # Discovery is symmetric only after both sides matched; a short grace avoids losing
        # frame 1.
        watch.expect_alive(0.5)
        log('node is active; sending frames'
            + (' (waiting for each result)' if pace == 'wait' else
               f' at {sequence.fps:g} frames/s'))
        period = 1.0 / sequence.fps
        start = time.monotonic()
        with tqdm(total=len(sequence), unit='frame', disable=not progress, leave=False) as bar:
            for index in range(len(sequence)):
                image = sequence.image(index)
                stamp = time.time_ns()
                sent[stamp] = index + 1
                seen = detections.count()
                publisher.publish(image_msg(image, stamp, 'camera', encoding))
                result.frames_sent += 1
                if pace == 'wait':
                    timeout = FIRST_FRAME_TIMEOUT if index == 0 else FRAME_TIMEOUT
                    try:
                        # Called within this iteration only: ``stamp`` is this frame's.
                        detections.wait_for(lambda answer: answer.stamp == stamp, timeout,
                                            start=seen, watch=watch)
                    except TimeoutError:
                        pass  # counted as dropped, unless it still comes
                else:
                    watch.expect_alive(start + (index + 1) * period - time.monotonic())
                bar.update()
        if pace == 'fps':  # the last frames may still be in the node
            try:
                client.wait_until(lambda: set(sent) <= {a.stamp for a in detections.messages},
                                  'the last detections', 3.0, watch=watch)
            except TimeoutError:
                pass
        result.wall_seconds = time.monotonic() - start
        for arrival in list(detections.messages):
            frame = sent.get(arrival.stamp)
            if frame is not None and frame not in result.receptions:
                result.receptions[frame] = Reception(frame, arrival.boxes,
                                                     arrival.received - arrival.stamp / 1e9)
        if not result.receptions:
            raise DemoError('the node answered no frame; its log ends with:\n' + node.tail())
    except ProcessExited:
        raise DemoError('the node exited; its log ends with:\n' + node.tail()) from None
    finally:
        client.close()
        node.stop(15.0)
    return result


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
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*'mp4v'), sequence.fps,
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
    from ..bags.messages import rows_from_boxes
    from ..core.labels import ClassIds
    from ..datasets.synthetic import synthetic_gt_rows
    from ..evaluation.metrics import evaluate

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
    parser.add_argument('--engine', choices=ENGINES, default='auto',
                        help='inference engine: auto (default), onnxruntime, torch, reference')
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
        return fail(PROG, '--frames must be >= 2')
    from ..core.model_spec import check_model_file, default_model_path
    from ..synthetic import CLASS_NAMES, SceneConfig, generate_sequence

    try:
        model = str(Path(args.model).expanduser().resolve()) if args.model \
            else default_model_path()
        check_model_file(model)  # reads no weights: the node loads the model
    except CenterTrackError as exc:
        return fail(PROG, f'{one_line(exc)} (or pass --model PATH)')
    sequence = generate_sequence(SceneConfig(seed=args.seed, num_frames=args.frames))
    output = Path(args.output)
    print(f'{PROG}: {len(sequence)} synthetic frames ({sequence.width}x{sequence.height}, '
          f'{sequence.fps:g} fps, seed {args.seed}, {sequence.num_tracks} objects); model '
          f'{model}')
    params = {'tracker.association': args.association} if args.association else {}
    # SIGTERM (e.g. from `timeout`) ends the demo like Ctrl-C: the node is stopped on the way.
    with sigterm_as_interrupt():
        try:
            result = run_demo(sequence, model, args.device, args.pace, progress=not args.quiet,
                              log=lambda text: print(f'{PROG}: {text}'), engine=args.engine,
                              params=params)
        except NodeConfigureError as exc:  # the user's model or settings
            return fail(PROG, one_line(exc))
        except DemoError as exc:  # the node failed
            return fail(PROG, str(exc), status=1)
        except KeyboardInterrupt:
            return interrupted(PROG)
    class_names = result.class_names or tuple(CLASS_NAMES)
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
