"""Soak test of the live node: many frames through ``centertrack_node``, memory and latency.

Starts the node in its own process (a small random-weight model unless ``--model`` is given),
then publishes small frames over DDS one at a time, each after the previous frame's
detections arrived, so the node processes every frame as fast as it can. Every
``--sample-every`` frames it records the node's resident memory (psutil), the round-trip
latency of the frames since the previous sample, and the node's own diagnostics (processing
time, counters, GPU memory on CUDA). At the end it reports RSS at the start of the measured
part (after ``--warm-up`` frames), at the end and at its maximum, the growth and its slope,
latency percentiles, and fails (exit status 1) when the growth exceeds ``--max-growth`` MiB,
a frame went unanswered, or the node did not exit cleanly::

    python -m centertrack_ros.tools.soak --frames 10000 --markdown benchmarks/SOAK.md

ROS isolation: the node and this process use ``ROS_DOMAIN_ID`` from the environment and
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` unless set otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..runtime.stamps import NS_PER_SECOND, stamp_ns
from .harness import NodeProcess, ProcessExited, RosClient, image_msg, node_status, reliable_qos
from .machine import machine_info
from .random_models import write_random_model

NAMESPACE = '/soak'
MIB = 2 ** 20


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
    """Everything a soak run measured (written as JSON, summarised as Markdown)."""

    command: str
    started: str
    machine: dict[str, str]
    frames: int
    warm_up: int
    frame_size: str
    model: str
    duration_s: float = 0.0
    answered: int = 0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0
    rss_growth_mib: float = 0.0
    rss_slope_mib_per_1000: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    node: dict[str, str] = field(default_factory=dict)
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


def _node_values(msg: Any) -> Optional[dict[str, str]]:
    """Return the key/values of the soak node's status in a DiagnosticArray, or None."""
    status = node_status(msg, f'{NAMESPACE}/centertrack')
    return None if status is None else {kv.key: kv.value for kv in status.values}


def _round_trip(publisher: Any, answers: Any, msg: Any, stamp: int,
                timeout: float) -> Optional[float]:
    """Publish ``msg`` and wait for its detections; seconds taken, None on timeout."""
    start = time.monotonic()
    seen = answers.count()
    publisher.publish(msg)
    try:
        answers.wait_for(lambda answered: answered == stamp, timeout, start=seen)
    except TimeoutError:
        return None
    return time.monotonic() - start


def run(args: argparse.Namespace, out=print) -> SoakReport:
    """Run the soak test described by ``args``; returns the report."""
    import psutil
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    width, height = args.frame_size
    report = SoakReport(command=' '.join(['python -m centertrack_ros.tools.soak',
                                          *(args.argv or [])]).strip(),
                        started=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
                        machine=machine_info(), frames=args.frames, warm_up=args.warm_up,
                        frame_size=f'{width}x{height}', model='', max_growth_mib=args.max_growth)
    for name, value in (('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST'),
                        ('OMP_WAIT_POLICY', 'PASSIVE')):
        os.environ.setdefault(name, value)  # for this process and the node
    with tempfile.TemporaryDirectory(prefix='centertrack_soak_') as tmp:
        if args.model:
            model = Path(args.model)
            report.model = str(model)
        else:
            model = Path(tmp) / 'soak_model.pth'
            write_random_model(model, input_size=args.input_size)
            report.model = (f'random-weight generic/MobileNetV2, input '
                            f'{args.input_size[0]}x{args.input_size[1]}, 100 detections a frame')
        frames = make_frames(width, height)
        node = NodeProcess(NAMESPACE, {'model.path': model, 'device': args.device,
                                       'qos.reliability': 'reliable'})
        client = RosClient('centertrack_soak')
        publisher = client.node.create_publisher(Image, f'{NAMESPACE}/image', reliable_qos())
        answers = client.subscribe(Detection2DArray, f'{NAMESPACE}/detections',
                                   transform=lambda msg: stamp_ns(msg.header.stamp))
        reports = client.subscribe(DiagnosticArray, '/diagnostics', transform=_node_values)

        def diagnostics() -> dict[str, str]:
            return reports.messages[-1] if reports.messages else {}

        try:
            try:
                client.wait_matched(publisher, answers, args.timeout, watch=node)
            except (TimeoutError, ProcessExited):
                raise RuntimeError(f'the node did not start (exit code {node.poll()})') from None
            process = psutil.Process(node.process.pid)
            latencies: list[float] = []
            window: list[float] = []
            started = time.monotonic()
            stamp = 1_000_000 * NS_PER_SECOND
            rss_peak = 0
            for index in range(args.frames):
                stamp += 50_000_000
                msg = image_msg(frames[index % len(frames)], stamp, 'soak_camera')
                taken = _round_trip(publisher, answers, msg, stamp, args.timeout)
                if taken is None:
                    report.problems.append(f'frame {index}: no detections within '
                                           f'{args.timeout:g} s')
                    break
                report.answered += 1
                window.append(taken)
                if index >= args.warm_up:
                    latencies.append(taken)
                rss_peak = max(rss_peak, process.memory_info().rss) \
                    if index % 10 == 0 else rss_peak
                if (index + 1) % args.sample_every == 0 or index + 1 == args.frames:
                    rss = process.memory_info().rss
                    rss_peak = max(rss_peak, rss)
                    summary = percentile_summary(window)
                    diag = diagnostics()
                    sample = Sample(index + 1, time.monotonic() - started, rss / MIB,
                                    summary['p50'], summary['p99'],
                                    _float(diag, 'gpu_memory_allocated_mb'),
                                    _float(diag, 'gpu_memory_reserved_mb'))
                    report.samples.append(sample)
                    window = []
                    if args.progress:
                        out(f'{sample.frame:6d} frames {sample.elapsed_s:7.1f} s  node RSS '
                            f'{sample.node_rss_mib:7.1f} MiB  round trip p50 '
                            f'{sample.latency_p50_ms:6.1f} ms p99 {sample.latency_p99_ms:6.1f} ms')
            report.duration_s = time.monotonic() - started
            time.sleep(1.5)  # one more diagnostics report after the last frame
            report.node = dict(diagnostics())
            report.latency_ms = percentile_summary(latencies)
            report.rss_max_mib = rss_peak / MIB
        finally:
            client.close()
            report.node_exit_code = node.stop(30.0, signals=(signal.SIGINT, signal.SIGKILL))
            if signal.SIGKILL in node.process.signals_sent:
                report.problems.append('the node did not exit within 30 s of SIGINT')
    summarise(report)
    return report


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
    if report.rss_growth_mib > report.max_growth_mib:
        report.problems.append(f'node RSS grew by {report.rss_growth_mib:.1f} MiB after the '
                               f'warm-up (limit {report.max_growth_mib:g} MiB)')
    if report.node_exit_code != 0:
        report.problems.append(f'node exit code {report.node_exit_code}')
    report.passed = not report.problems


def markdown(report: SoakReport) -> str:
    """Return the report as Markdown (``benchmarks/SOAK.md``)."""
    m = {key: report.machine.get(key, '?') for key in (
        'cpu', 'cores', 'memory_gib', 'os', 'python', 'torch', 'rclpy', 'load_average', 'gpu')}
    lat, node = report.latency_ms, report.node
    lines = [
        '# Soak test of the live node',
        '',
        f'Generated by `{report.command}` on {report.started}. '
        f'Verdict: **{"pass" if report.passed else "FAIL"}**'
        + (f' ({"; ".join(report.problems)})' if report.problems else '') + '.',
        '',
        'The node ran as its own process (`centertrack_node`, CPU unless noted) and received '
        f'{report.frame_size} `bgr8` frames over reliable DDS on loopback, one at a time: each '
        'frame was published after the previous frame\'s detections arrived, so it processed '
        'every frame as fast as it could. RSS is the node process\'s resident memory '
        f'(psutil); "start" is after the {report.warm_up}-frame warm-up.',
        '',
        '| | |', '|---|---|',
        f'| machine | {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB; {m["os"]} |',
        f'| software | Python {m["python"]}, torch {m["torch"]}, rclpy {m["rclpy"]} |',
        f'| load average at start | {m["load_average"]} |',
        f'| GPU | {m["gpu"]} |',
        f'| model | {report.model} |',
        f'| frames | {report.answered} of {report.frames} answered |',
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
        f'| node processing (its diagnostics, last {min(report.answered, 1000)} frames) | '
        f'p50 {node.get("processing_p50_ms", "?")} ms, p99 {node.get("processing_p99_ms", "?")} '
        'ms |',
        f'| node counters | {node.get("frames_received", "?")} received, '
        f'{node.get("frames_processed", "?")} processed, {node.get("frames_dropped", "?")} '
        f'dropped, {node.get("frames_rejected", "?")} rejected |',
        f'| node exit code (SIGINT) | {report.node_exit_code} |',
    ]
    if any(s.gpu_allocated_mib is not None for s in report.samples):
        gpu = [s.gpu_allocated_mib for s in report.samples if s.gpu_allocated_mib is not None]
        lines.append(f'| GPU memory allocated start / end / max | {gpu[0]:.1f} / {gpu[-1]:.1f} '
                     f'/ {max(gpu):.1f} MiB |')
    lines += ['', '## Over time', '',
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
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    if width < 2 or height < 2:
        raise argparse.ArgumentTypeError(f'size must be at least 2x2, got {text!r}')
    return width, height


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(prog='python -m centertrack_ros.tools.soak',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--frames', type=int, default=10_000, help='frames to send (default 10000)')
    p.add_argument('--warm-up', type=int, default=None,
                   help='frames before memory is measured (default: 10%% of --frames, '
                        'at least 100)')
    p.add_argument('--sample-every', type=int, default=None,
                   help='frames between samples (default: --frames / 100, at least 10)')
    p.add_argument('--frame-size', type=_size, default=(160, 120), metavar='WxH',
                   help='size of the published frames (default 160x120)')
    p.add_argument('--input-size', type=_size, default=(128, 64), metavar='WxH',
                   help='network input of the generated model (default 128x64)')
    p.add_argument('--model', help='use this checkpoint instead of a generated one')
    p.add_argument('--device', default='cpu', help='node device parameter (default cpu)')
    p.add_argument('--max-growth', type=float, default=8.0, metavar='MIB',
                   help='largest acceptable RSS growth after the warm-up (default 8 MiB)')
    p.add_argument('--timeout', type=float, default=60.0,
                   help='seconds to wait for the node to start and for each frame (default 60)')
    p.add_argument('--json', metavar='FILE', help='write the full report as JSON')
    p.add_argument('--markdown', metavar='FILE', help='write the report as Markdown')
    p.add_argument('-q', '--quiet', action='store_true', help='no progress lines')
    return p


def main(argv: Optional[Sequence[str]] = None, out=print) -> int:
    """Run the soak test; exit status 0 when it passed, 1 when it failed."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.frames < 2:
        build_parser().error('--frames must be at least 2')
    if args.warm_up is None:
        args.warm_up = max(100, args.frames // 10)
    if args.sample_every is None:
        args.sample_every = max(10, args.frames // 100)
    if args.warm_up >= args.frames:
        build_parser().error('--warm-up must be smaller than --frames')
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
