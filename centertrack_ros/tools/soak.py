"""Soak test of the live node: many frames through ``centertrack_node``, memory and latency.

Starts the node in its own process with the package's defaults (engine ``auto``: ONNX Runtime
on the CPU; ``qos.reliability`` auto; the large-image Fast DDS profile) and a small
random-weight model unless ``--model`` is given, then publishes small frames over DDS. Each
camera sends its next frame after the previous frame's detections arrived, so the node
processes every frame as fast as it can; with ``--cameras N`` one node serves N cameras (the
``cameras`` parameter) and the N cameras stream at once. With ``--ddd`` the model has the
monocular 3D heads and every frame goes with its ``camera_info``; the node's
``detections_3d`` are counted too.

Every ``--sample-every`` frames (over all cameras) it records the node's resident memory
(psutil), the round-trip latency of the frames since the previous sample, and the node's own
diagnostics (processing time, counters, GPU memory on CUDA). At the end it reports RSS at the
start of the measured part (after ``--warm-up`` frames), at the end and at its maximum, the
growth and its slope, latency percentiles, and fails (exit status 1) when the growth exceeds
``--max-growth`` MiB, a frame (or, with ``--ddd``, its 3D boxes) went unanswered, or the node
did not exit cleanly::

    python -m centertrack_ros.tools.soak --frames 10000 --cameras 3 --markdown SOAK.md

ROS isolation: the node and this process use ``ROS_DOMAIN_ID`` from the environment and
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless set otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..runtime.stamps import NS_PER_SECOND, set_stamp, stamp_ns
from .cli import parse_size
from .harness import NodeProcess, ProcessExited, RosClient, image_msg, reliable_qos
from .machine import machine_info
from .random_models import write_random_model

NAMESPACE = '/soak'
MIB = 2 ** 20
NODE_START_TIMEOUT = 300.0  # seconds: importing torch and exporting the model on a loaded CPU
FRAME_PERIOD_NS = 50_000_000  # stamps 50 ms apart: a 20 Hz camera as far as the node can tell
COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped', 'frames_rejected',
            'frames_lost_in_transport', 'frames_delivered_late')


@dataclass
class Sample:
    """One point of the memory/latency time series."""

    frame: int
    elapsed_s: float
    node_rss_mib: float
    latency_p50_ms: float
    latency_p99_ms: float
    gpu_allocated_mib: Optional[float] = None
    gpu_reserved_mib: Optional[float] = None


@dataclass
class SoakReport:
    """Everything a soak run measured (written as JSON, summarised as Markdown).

    ``frames`` counts every camera's frames (``cameras`` x the frames per camera); so do
    ``answered``, ``warm_up`` and the samples' ``frame``.
    """

    command: str
    started: str
    machine: dict[str, str]
    frames: int
    warm_up: int
    frame_size: str
    model: str
    cameras: int = 1
    engine: str = 'auto'
    ddd: bool = False
    duration_s: float = 0.0
    answered: int = 0
    answered_per_camera: list[int] = field(default_factory=list)
    answered_3d: int = 0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0
    rss_growth_mib: float = 0.0
    rss_slope_mib_per_1000: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    node: dict[str, str] = field(default_factory=dict)
    node_description: str = ''
    load_average_end: str = ''
    node_exit_code: Optional[int] = None
    max_growth_mib: float = 0.0
    passed: bool = False
    problems: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def make_frames(width: int, height: int, count: int = 64) -> list[np.ndarray]:
    """Return ``count`` frames of a few boxes moving over a textured background."""
    import cv2
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
                                  (0, 0), 3)
    frames = []
    for index in range(count):
        frame = background.copy()
        for box in range(5):
            x = int((box * width / 5 + index * 2) % width)
            y = int(height * (0.2 + 0.12 * box))
            cv2.rectangle(frame, (x, y), (x + width // 10, y + height // 5),
                          (60 * box % 256, 120, 200 - 30 * box), -1)
        frames.append(frame)
    return frames


def camera_info_msg(width: int, height: int, stamp: int, frame_id: str) -> Any:
    """Return a ``sensor_msgs/CameraInfo`` of a pinhole camera with a 90 degree field of view."""
    from sensor_msgs.msg import CameraInfo
    focal = width / 2.0
    k = [focal, 0.0, width / 2.0, 0.0, focal, height / 2.0, 0.0, 0.0, 1.0]
    msg = CameraInfo(width=width, height=height, k=k,
                     p=k[:3] + [0.0] + k[3:6] + [0.0] + k[6:] + [0.0])
    msg.header.frame_id = frame_id
    set_stamp(msg.header.stamp, stamp)
    return msg


def percentile_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max of ``seconds`` in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if ms.size == 0:
        return {}
    p50, p90, p99 = np.percentile(ms, (50, 90, 99))
    return {'p50': float(p50), 'p90': float(p90), 'p99': float(p99), 'max': float(ms.max()),
            'mean': float(ms.mean())}


def _float(values: dict[str, str], key: str) -> Optional[float]:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def _node_values(msg: Any) -> Optional[dict[str, dict[str, str]]]:
    """Return ``{status name: key/values}`` of the soak node's statuses, or None."""
    prefix = f'{NAMESPACE}/centertrack:'
    statuses = {s.name: {kv.key: kv.value for kv in s.values}
                for s in msg.status if s.name.startswith(prefix)}
    return statuses or None


def node_totals(statuses: dict[str, dict[str, str]]) -> dict[str, str]:
    """Merge the node's per-camera statuses: counters summed, the rest from the first camera."""
    if not statuses:
        return {}
    merged = dict(next(iter(statuses.values())))
    for key in COUNTERS:
        values = [v.get(key, '') for v in statuses.values()]
        if all(value.isdigit() for value in values):
            merged[key] = str(sum(int(value) for value in values))
    return merged


class _Camera:
    """One camera's publisher(s) and the node's answers to it."""

    def __init__(self, client: RosClient, topic: str, name: str, ddd: bool) -> None:
        from sensor_msgs.msg import CameraInfo, Image
        from vision_msgs.msg import Detection2DArray, Detection3DArray
        self.name = name
        self.image = client.node.create_publisher(Image, f'{topic}/image', reliable_qos())
        self.info = (client.node.create_publisher(CameraInfo, f'{topic}/camera_info',
                                                  reliable_qos()) if ddd else None)
        self.answers = client.subscribe(Detection2DArray, f'{topic}/detections',
                                        transform=lambda msg: stamp_ns(msg.header.stamp))
        self.answers_3d = (client.subscribe(Detection3DArray, f'{topic}/detections_3d',
                                            transform=lambda msg: stamp_ns(msg.header.stamp))
                           if ddd else None)
        self.answered = 0

    def round_trip(self, msg: Any, info: Any, stamp: int, timeout: float) -> Optional[float]:
        """Publish a frame (after its camera_info) and wait for its detections (seconds)."""
        start = time.monotonic()
        seen = self.answers.count()
        if info is not None:
            if self.info is None:
                raise ValueError(f'camera {self.name} has no camera_info publisher (not 3D)')
            self.info.publish(info)
        self.image.publish(msg)
        try:
            self.answers.wait_for(lambda answered: answered == stamp, timeout, start=seen)
        except TimeoutError:
            return None
        return time.monotonic() - start


class _Progress:
    """Round-trip times as the camera threads record them, and the first failure."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []  # in order of answering, all cameras
        self.problems: list[str] = []
        self.stop = threading.Event()

    def record(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def fail(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)
        self.stop.set()

    def count(self) -> int:
        with self.lock:
            return len(self.latencies)


def _stream(camera: _Camera, index: int, frames: list[np.ndarray], count: int,
            progress: _Progress, args: argparse.Namespace) -> None:
    """Send ``count`` frames of one camera, each after the previous one's detections."""
    height, width = frames[0].shape[:2]
    stamp = 1_000_000 * NS_PER_SECOND + index * 1_000_000  # cameras never share a stamp
    for frame in range(count):
        if progress.stop.is_set():
            return
        stamp += FRAME_PERIOD_NS
        frame_id = f'soak_{camera.name or "camera"}'
        info = camera_info_msg(width, height, stamp, frame_id) if camera.info else None
        taken = camera.round_trip(image_msg(frames[(frame + index) % len(frames)], stamp,
                                            frame_id), info, stamp, args.timeout)
        if taken is None:
            progress.fail(f'{camera.name or "camera"} frame {frame}: no detections within '
                          f'{args.timeout:g} s')
            return
        camera.answered += 1
        progress.record(taken)


def run(args: argparse.Namespace, out=print) -> SoakReport:
    """Run the soak test described by ``args``; returns the report."""
    import psutil
    from diagnostic_msgs.msg import DiagnosticArray
    width, height = args.frame_size
    names = [f'cam{index}' for index in range(args.cameras)] if args.cameras > 1 else ['']
    report = SoakReport(command=' '.join(['python -m centertrack_ros.tools.soak',
                                          *(args.argv or [])]).strip(),
                        started=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
                        machine=machine_info(), frames=args.frames * len(names),
                        warm_up=args.warm_up, frame_size=f'{width}x{height}', model='',
                        cameras=len(names), engine=args.engine, ddd=args.ddd,
                        max_growth_mib=args.max_growth)
    for name, value in (('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'),
                        ('OMP_WAIT_POLICY', 'PASSIVE')):
        os.environ.setdefault(name, value)  # for this process and the node
    with tempfile.TemporaryDirectory(prefix='centertrack_soak_') as tmp:
        if args.model:
            model = Path(args.model)
            report.model = str(model)
        else:
            model = Path(tmp) / 'soak_model.pth'
            write_random_model(model, input_size=args.input_size, ddd=args.ddd)
            report.model = (f'random-weight generic/MobileNetV2{" with 3D heads" * args.ddd}, '
                            f'input {args.input_size[0]}x{args.input_size[1]}, 100 detections '
                            'a frame')
        frames = make_frames(width, height)
        params: dict[str, Any] = {'model.path': model, 'device': args.device,
                                  'engine': args.engine}
        if len(names) > 1:
            params['cameras'] = names
        node = NodeProcess(NAMESPACE, params)
        client = RosClient('centertrack_soak')
        cameras = [_Camera(client, f'{NAMESPACE}/{name}'.rstrip('/'), name, args.ddd)
                   for name in names]
        reports = client.subscribe(DiagnosticArray, '/diagnostics', transform=_node_values)

        def diagnostics() -> dict[str, str]:
            return node_totals(reports.messages[-1]) if reports.messages else {}

        try:
            try:
                for camera in cameras:
                    client.wait_matched(camera.image, camera.answers,
                                        max(args.timeout, NODE_START_TIMEOUT), watch=node)
            except (TimeoutError, ProcessExited):
                raise RuntimeError(f'the node did not start (exit code {node.poll()})') from None
            report.node_description = _loaded_line(node.output())
            process = psutil.Process(node.process.pid)
            progress = _Progress()
            threads = [threading.Thread(target=_stream, args=(camera, index, frames,
                                                              args.frames, progress, args),
                                        daemon=True)
                       for index, camera in enumerate(cameras)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            rss_peak, marked, next_mark = 0, 0, args.sample_every
            while True:
                alive = any(thread.is_alive() for thread in threads)
                done = progress.count()
                rss_peak = max(rss_peak, process.memory_info().rss)
                if done >= next_mark or (not alive and done > marked):
                    rss = process.memory_info().rss
                    rss_peak = max(rss_peak, rss)
                    with progress.lock:
                        window = progress.latencies[marked:done]
                    summary = percentile_summary(window)
                    diag = diagnostics()
                    sample = Sample(done, time.monotonic() - started, rss / MIB,
                                    summary['p50'], summary['p99'],
                                    _float(diag, 'gpu_memory_allocated_mb'),
                                    _float(diag, 'gpu_memory_reserved_mb'))
                    report.samples.append(sample)
                    marked = done
                    next_mark = (done // args.sample_every + 1) * args.sample_every
                    if args.progress:
                        out(f'{sample.frame:6d} frames {sample.elapsed_s:7.1f} s  node RSS '
                            f'{sample.node_rss_mib:7.1f} MiB  round trip p50 '
                            f'{sample.latency_p50_ms:6.1f} ms p99 {sample.latency_p99_ms:6.1f} ms')
                if not alive:
                    break
                if node.poll() is not None:
                    progress.fail(f'the node exited (code {node.poll()}) after {done} frames')
                time.sleep(0.1)
            report.duration_s = time.monotonic() - started
            report.problems += progress.problems
            report.answered_per_camera = [camera.answered for camera in cameras]
            report.answered = sum(report.answered_per_camera)
            time.sleep(1.5)  # one more diagnostics report, and the last 3D boxes
            if args.ddd:
                report.answered_3d = sum(camera.answers_3d.count() for camera in cameras
                                         if camera.answers_3d is not None)
            report.node = dict(diagnostics())
            report.latency_ms = percentile_summary(progress.latencies[args.warm_up:])
            report.rss_max_mib = rss_peak / MIB
            report.load_average_end = ' '.join(f'{v:.2f}' for v in os.getloadavg())
        finally:
            client.close()
            report.node_exit_code = node.stop(30.0, signals=(signal.SIGINT, signal.SIGKILL))
            if signal.SIGKILL in node.process.signals_sent:
                report.problems.append('the node did not exit within 30 s of SIGINT')
    summarise(report)
    return report


def _loaded_line(output: str) -> str:
    """Return what the node logged about the model it loaded ('' when it said nothing)."""
    match = re.search(r'\]:? (loaded .*)$', output, re.MULTILINE)
    return match.group(1).strip() if match else ''


def summarise(report: SoakReport) -> None:
    """Compute RSS start/end/growth/slope over the measured samples and the verdict."""
    measured = [s for s in report.samples if s.frame > report.warm_up]
    if len(measured) >= 2:
        frames = np.array([s.frame for s in measured], dtype=np.float64)
        rss = np.array([s.node_rss_mib for s in measured], dtype=np.float64)
        report.rss_start_mib, report.rss_end_mib = float(rss[0]), float(rss[-1])
        report.rss_growth_mib = float(rss[-1] - rss[0])
        report.rss_slope_mib_per_1000 = float(np.polyfit(frames, rss, 1)[0] * 1000)
        report.rss_max_mib = max(report.rss_max_mib, float(rss.max()))
    else:
        report.problems.append('too few samples after the warm-up to judge memory')
    if report.answered != report.frames:
        report.problems.append(f'only {report.answered} of {report.frames} frames answered')
    if report.ddd and report.answered_3d != report.frames:
        report.problems.append(f'3D boxes for only {report.answered_3d} of {report.frames} '
                               'frames')
    if report.rss_growth_mib > report.max_growth_mib:
        report.problems.append(f'node RSS grew by {report.rss_growth_mib:.1f} MiB after the '
                               f'warm-up (limit {report.max_growth_mib:g} MiB)')
    if report.node_exit_code != 0:
        report.problems.append(f'node exit code {report.node_exit_code}')
    report.passed = not report.problems


def _setup(report: SoakReport) -> str:
    cameras = (f'{report.cameras} cameras through one node (`cameras` parameter), streaming at '
               'once' if report.cameras > 1 else 'one camera')
    return cameras + (', 3D model with `camera_info` for every frame' if report.ddd else '')


def markdown(report: SoakReport, heading: str = '#') -> str:
    """Return the report as Markdown (a section of ``benchmarks/SOAK.md``)."""
    m = {key: report.machine.get(key, '?') for key in (
        'cpu', 'cores', 'memory_gib', 'os', 'python', 'torch', 'rclpy', 'load_average', 'gpu')}
    lat, node = report.latency_ms, report.node
    per_camera = (f' ({", ".join(str(n) for n in report.answered_per_camera)} per camera)'
                  if report.cameras > 1 else '')
    lines = [
        f'{heading} Soak: {_setup(report)}',
        '',
        f'Generated by `{report.command}` on {report.started}. '
        f'Verdict: **{"pass" if report.passed else "FAIL"}**'
        + (f' ({"; ".join(report.problems)})' if report.problems else '') + '.',
        '',
        '| | |', '|---|---|',
        f'| machine | {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB; {m["os"]} |',
        f'| software | Python {m["python"]}, torch {m["torch"]}, rclpy {m["rclpy"]} |',
        f'| load average at start / end | {m["load_average"]} / '
        f'{report.load_average_end or "?"} |',
        f'| GPU | {m["gpu"]} |',
        f'| model | {report.model} |',
        f'| node (its log) | {report.node_description or "?"} |',
        f'| set-up | {_setup(report)}; engine `{report.engine}`, `qos.reliability` auto |',
        f'| frames | {report.answered} of {report.frames} answered{per_camera} |',
    ]
    if report.ddd:
        lines.append(f'| 3D boxes (`detections_3d`) | for {report.answered_3d} of '
                     f'{report.frames} frames |')
    lines += [
        f'| duration | {report.duration_s:.0f} s '
        f'({report.answered / max(report.duration_s, 1e-9):.1f} frames/s) |',
        f'| node RSS start / end / max | {report.rss_start_mib:.1f} / {report.rss_end_mib:.1f} '
        f'/ {report.rss_max_mib:.1f} MiB |',
        f'| RSS growth after warm-up | {report.rss_growth_mib:+.1f} MiB (limit '
        f'{report.max_growth_mib:g} MiB); slope {report.rss_slope_mib_per_1000:+.3f} MiB per '
        '1000 frames |',
        f'| round trip (publish to detections received) | p50 {lat.get("p50", 0):.1f} ms, '
        f'p90 {lat.get("p90", 0):.1f} ms, p99 {lat.get("p99", 0):.1f} ms, '
        f'max {lat.get("max", 0):.1f} ms |',
        f'| node processing (its diagnostics, first camera, last {min(report.answered, 1000)} '
        f'frames) | p50 {node.get("processing_p50_ms", "?")} ms, p99 '
        f'{node.get("processing_p99_ms", "?")} ms |',
        f'| node counters (all cameras) | {node.get("frames_received", "?")} received, '
        f'{node.get("frames_processed", "?")} processed, {node.get("frames_dropped", "?")} '
        f'dropped, {node.get("frames_rejected", "?")} rejected, '
        f'{node.get("frames_lost_in_transport", "?")} lost in transport, '
        f'{node.get("frames_delivered_late", "?")} delivered late |',
        f'| node exit code (SIGINT) | {report.node_exit_code} |',
    ]
    if any(s.gpu_allocated_mib is not None for s in report.samples):
        gpu = [s.gpu_allocated_mib for s in report.samples if s.gpu_allocated_mib is not None]
        lines.append(f'| GPU memory allocated start / end / max | {gpu[0]:.1f} / {gpu[-1]:.1f} '
                     f'/ {max(gpu):.1f} MiB |')
    lines += ['', f'{heading}# Over time', '',
              '| frames | elapsed (s) | node RSS (MiB) | round trip p50 (ms) | p99 (ms) |',
              '|---:|---:|---:|---:|---:|']
    step = max(1, len(report.samples) // 20)
    shown = report.samples[::step]
    if report.samples and shown[-1] is not report.samples[-1]:
        shown.append(report.samples[-1])
    for s in shown:
        lines.append(f'| {s.frame} | {s.elapsed_s:.0f} | {s.node_rss_mib:.1f} | '
                     f'{s.latency_p50_ms:.1f} | {s.latency_p99_ms:.1f} |')
    return '\n'.join(lines) + '\n'


def _size(text: str) -> tuple[int, int]:
    return parse_size(text, minimum=2)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='python -m centertrack_ros.tools.soak',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--frames', type=int, default=10_000,
                   help='frames per camera (default 10000)')
    p.add_argument('--cameras', type=int, default=1,
                   help='cameras through one node (the cameras parameter), streaming at once '
                        '(default 1)')
    p.add_argument('--ddd', action='store_true',
                   help='a model with the 3D heads, and a camera_info with every frame')
    p.add_argument('--warm-up', type=int, default=None,
                   help='frames (all cameras) before memory is measured (default: 10%% of all '
                        'frames, at least 100)')
    p.add_argument('--sample-every', type=int, default=None,
                   help='frames (all cameras) between samples (default: all frames / 100, '
                        'at least 10)')
    p.add_argument('--frame-size', type=_size, default=(160, 120), metavar='WxH',
                   help='size of the published frames (default 160x120)')
    p.add_argument('--input-size', type=_size, default=(128, 64), metavar='WxH',
                   help='network input of the generated model (default 128x64)')
    p.add_argument('--model', help='use this checkpoint instead of a generated one')
    p.add_argument('--device', default='cpu', help='node device parameter (default cpu)')
    p.add_argument('--engine', default='auto',
                   help='node engine parameter (default auto: onnxruntime on the CPU)')
    p.add_argument('--max-growth', type=float, default=8.0, metavar='MIB',
                   help='largest acceptable RSS growth after the warm-up (default 8 MiB)')
    p.add_argument('--timeout', type=float, default=60.0,
                   help='seconds to wait for each frame, and at least for the node to start '
                        '(default 60; the start gets at least 300)')
    p.add_argument('--json', metavar='FILE', help='write the full report as JSON')
    p.add_argument('--markdown', metavar='FILE', help='write the report as Markdown')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress lines')
    return p


def main(argv: Optional[Sequence[str]] = None, out=print) -> int:
    """Run the soak test; exit status 0 when it passed, 1 when it failed."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.frames < 2:
        parser.error('--frames must be at least 2')
    if args.cameras < 1:
        parser.error('--cameras must be at least 1')
    total = args.frames * args.cameras
    if args.warm_up is None:
        args.warm_up = max(100, total // 10)
    if args.sample_every is None:
        args.sample_every = max(10, total // 100)
    if args.warm_up >= total:
        parser.error('--warm-up must be smaller than all frames (--frames x --cameras)')
    args.progress = not args.quiet
    report = run(args, out)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1) + '\n')
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    lat = report.latency_ms
    verdict = 'PASS' if report.passed else 'FAIL: ' + '; '.join(report.problems)
    out(f'{report.answered}/{report.frames} frames in {report.duration_s:.0f} s; node RSS '
        f'{report.rss_start_mib:.1f} -> {report.rss_end_mib:.1f} MiB (max '
        f'{report.rss_max_mib:.1f}, growth {report.rss_growth_mib:+.1f}, slope '
        f'{report.rss_slope_mib_per_1000:+.3f} MiB/1000 frames); round trip p50 '
        f'{lat.get("p50", 0):.1f} ms p99 {lat.get("p99", 0):.1f} ms; node exit code '
        f'{report.node_exit_code}; {verdict}')
    return 0 if report.passed else 1


if __name__ == '__main__':
    sys.exit(main())
