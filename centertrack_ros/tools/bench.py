"""``centertrack_bench``: per-stage and end-to-end timings of the tracker, side by side.

For every configuration (architecture x input size x precision x CUDA graph x batch) it
times, in the same process on the same device and frames:

* ``original`` (once per architecture and input size; every row of those is compared with
  it, per frame): the original implementation's structure -- OpenCV warp and float64
  normalisation on the host, prior heatmap drawn with numpy, both uploaded, eager float32
  network, decoding on the device, every decoded field copied back separately, Python
  post-processing and association (our reference engine's arithmetic, timed stage by stage);
* ``fast``: the tracker as shipped, with each engine of ``--engine`` (``auto`` is what the
  node picks on that device: on CUDA the torch engine -- one upload, everything on the device,
  fp16/channels-last/CUDA graph when asked, one copy back; on the CPU the onnxruntime engine,
  the network exported once). ``--engine onnxruntime torch reference`` gives one row each.

Timings are wall-clock with device synchronisation, reported as p50/p99 in milliseconds with
the device name; ``--json`` writes them for ``benchmarks/RESULTS.md``.

``--ros`` measures the ROS overhead instead: ``rgb8`` frames published by this process, the
real ``centertrack_node`` in another, detections received back over DDS (reliable QoS), against
the same model's in-process ``CenterTracker.step`` on the same frames. ``--ros --cameras N``
streams N cameras at once through one node serving them all and through one node per camera:
node memory, aggregate frames per second, latency. ``--ros --footprint`` measures what a node
costs to start and to keep (:mod:`.node_footprint`): the lean node (an exported ``.onnx``,
onnxruntime, torch blocked) beside the torch-importing one (``--model``, engine auto).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..core.config import CenterTrackConfig, InputConfig, ModelConfig, RuntimeConfig, TrackerConfig
from ..core.device import device_name, resolve_device
from ..core.engines import ENGINES, FrameRequest, resolve_engine
from ..core.geometry import frame_geometry
from ..core.models.networks import build_network
from ..core.pipeline import CenterTracker
from ..core.postprocess import detections_to_image
from ..core.preprocess import preprocess
from ..core.prior import prior_peaks, render_prior_heatmap
from ..core.torch_ops import decode_tensors, to_raw_detections
from ..core.tracker import TrackManager
from ..runtime.dds_profile import describe as describe_profile
from ..runtime.dds_profile import use_package_profile
from .cli import parse_size
from .machine import machine_info
from .random_models import random_network

STAGES = ('pre', 'prior', 'network', 'decode', 'post_track')


@dataclass
class Timing:
    """Percentiles of one measured quantity in milliseconds."""

    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> 'Timing':
        """Summarise samples given in seconds."""
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        return cls(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.mean()))


@dataclass
class Result:
    """One benchmarked configuration."""

    arch: str
    input_size: str
    image_size: str
    precision: str
    cuda_graph: bool
    batch: int
    device: str
    engine: str
    original: dict[str, Timing] = field(default_factory=dict)
    fast: Optional[Timing] = None
    detections: float = 0.0
    peak_gpu_mib: Optional[float] = None

    @property
    def speedup(self) -> Optional[float]:
        """Original end-to-end p50 over fast end-to-end p50 (per frame)."""
        if self.fast is None or 'total' not in self.original:
            return None
        return self.original['total'].p50 / self.fast.p50


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def synthetic_frames(width: int, height: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """Frames with real structure (a synthetic drive resized to the benchmark size)."""
    import cv2

    from ..synthetic import SceneConfig, generate_sequence
    sequence = generate_sequence(SceneConfig(num_frames=count, seed=seed))
    return [cv2.resize(sequence.image(i), (width, height), interpolation=cv2.INTER_LINEAR)
            for i in range(count)]


def calibrate_threshold(tracker: CenterTracker, frames: list, detections: int,
                        rounds: int = 3) -> float:
    """Score threshold letting about ``detections`` tracks through once tracking has started.

    An untrained network's scores follow the prior heatmap, so a threshold read off a first
    frame (empty prior) lets through many more once the prior holds tracks. Timing the tracker
    with none or all K detections would misrepresent post-processing, so the bench iterates:
    track two frames at the current threshold, then take the score of the
    ``detections``-th peak of the next frame with that prior.
    """
    config = tracker.config
    threshold = 0.0
    for round_index in range(rounds + 1):
        if round_index:
            tracker.set_tracker_config(replace(config.tracker, track_thresh=threshold,
                                               pre_thresh=threshold, new_thresh=threshold))
            for frame in frames[:2]:
                tracker.step(frame)
        frame = frames[2 % len(frames)]
        geometry = frame_geometry(frame.shape[1], frame.shape[0], config.input)
        peaks = prior_peaks(tracker.tracks, geometry, threshold) if round_index else []
        (raw,) = tracker.engine.run([FrameRequest(frame, geometry, peaks)])
        if raw is None:  # never for a camera with a frame
            raise RuntimeError('the engine returned no detections for a frame')
        scores = raw.scores
        threshold = float(np.clip(scores[min(detections, len(scores)) - 1] - 1e-6, 0.0, 1.0))
        tracker.reset()
    return threshold


def time_original(network: torch.nn.Module, config: CenterTrackConfig, frames: list,
                  device: torch.device, iterations: int, warmup: int) -> dict[str, Timing]:
    """Time the original-style step stage by stage (see module docstring)."""
    manager = TrackManager(config.tracker)
    samples: dict[str, list[float]] = {name: [] for name in STAGES + ('total',)}
    previous = None
    network = network.float()
    for index in range(warmup + iterations):
        frame = frames[index % len(frames)]
        stamps = [time.perf_counter()]
        geometry = frame_geometry(frame.shape[1], frame.shape[0], config.input)
        image = torch.from_numpy(preprocess(frame, geometry, config.input)).to(device)
        _sync(device)
        stamps.append(time.perf_counter())
        prior = torch.from_numpy(render_prior_heatmap(
            manager.tracks, geometry, config.tracker.effective_pre_thresh)).to(device)
        previous = image if previous is None else previous
        _sync(device)
        stamps.append(time.perf_counter())
        with torch.no_grad():
            outputs = network(image, previous, prior if config.model.pre_hm else None)
            outputs['hm'] = outputs['hm'].sigmoid()
        _sync(device)
        stamps.append(time.perf_counter())
        # Like the original, every decoded field is copied back on its own.
        raw = to_raw_detections(decode_tensors(outputs, config.tracker.K))[0]
        stamps.append(time.perf_counter())
        manager.update(detections_to_image(raw, geometry, config.tracker.effective_low_thresh))
        previous = image
        stamps.append(time.perf_counter())
        if index >= warmup:
            for name, start, end in zip(STAGES, stamps, stamps[1:]):
                samples[name].append(end - start)
            samples['total'].append(stamps[-1] - stamps[0])
    return {name: Timing.of(values) for name, values in samples.items()}


def time_fast(network: torch.nn.Module, config: CenterTrackConfig, frames: list, batch: int,
              iterations: int, warmup: int, engine: str) -> tuple[Timing, float]:
    """Time the shipped path for ``batch`` cameras, per camera-frame.

    A tracking session as the node runs one (stream rules, one network call for every camera's
    frame, the boxes to publish), minus the messages. Also returns the mean number of active
    tracks per camera-frame.
    """
    from ..core.pipeline import MultiCameraTracker
    from ..runtime.runner import Frame
    from ..runtime.session import TrackingSession
    cameras = tuple(f'camera{cam}' for cam in range(batch)) if batch > 1 else ('',)
    session = TrackingSession(
        MultiCameraTracker(network, config, num_cameras=batch, engine=engine), cameras)
    samples, counts = [], []
    for index in range(warmup + iterations):
        stamp = (index + 1) * 100_000_000  # 10 frames/s
        views = [Frame(cam, frames[(index + cam) % len(frames)], stamp, 'bench')
                 for cam in range(batch)]
        start = time.perf_counter()
        results = session.track(views)
        elapsed = time.perf_counter() - start
        if index >= warmup:
            samples.append(elapsed / batch)
            counts.append(sum(len(result.boxes) for result in results) / batch)
    return Timing.of(samples), float(statistics.mean(counts)) if counts else 0.0


def run_config(arch: str, input_size: tuple[int, int], image_size: tuple[int, int],
               device: torch.device, half: bool, graph: bool, batch: int, iterations: int,
               warmup: int, detections: int, frames: list, baseline: bool = True,
               engine: str = 'auto', original: Optional[dict[str, Timing]] = None) -> Result:
    """Benchmark one configuration; see :func:`main` for the meaning of the arguments.

    The original-style baseline is one camera, float32, eager, whatever the configuration:
    pass ``original`` (timings from an earlier row of the same architecture and sizes) to
    reuse it, otherwise it is measured here when ``baseline`` is true.
    """
    width, height = input_size
    model = ModelConfig(arch=arch, backbone='mobilenet', num_classes=1, ltrb_amodal=True)
    config = CenterTrackConfig(
        model=model, input=InputConfig(width=width, height=height),
        tracker=TrackerConfig(track_thresh=0.3),
        runtime=RuntimeConfig(device=str(device), half=half, cuda_graph=graph,
                              channels_last=device.type == 'cuda'))
    # Scores that vary as a trained network's, so that a threshold selects a realistic number
    # of tracks; the cost of a forward pass does not depend on the weights.
    network = random_network(model, he_init=True)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    probe = CenterTracker(network, config, engine=engine)
    threshold = calibrate_threshold(probe, frames, detections)
    tracker_config = TrackerConfig(track_thresh=threshold, pre_thresh=threshold,
                                   new_thresh=threshold)
    config = config.replace(tracker=tracker_config)
    result = Result(arch=arch, input_size=f'{width}x{height}',
                    image_size=f'{image_size[0]}x{image_size[1]}',
                    precision='fp16' if half and device.type == 'cuda' else 'fp32',
                    cuda_graph=graph and device.type == 'cuda', batch=batch,
                    device=device_name(device), engine=resolve_engine(engine, device))
    result.fast, result.detections = time_fast(network, config, frames, batch, iterations,
                                               warmup, engine)
    if original is not None:
        result.original = original
    elif baseline:
        baseline_net = build_network(model).to(device).eval()
        baseline_net.load_state_dict(network.state_dict())
        result.original = time_original(baseline_net, config, frames, device, iterations, warmup)
    if device.type == 'cuda':
        result.peak_gpu_mib = torch.cuda.max_memory_allocated(device) / 2 ** 20
    del probe
    gc.collect()
    return result


class _FrameList:
    """The sequence interface the demo's driver publishes from (``len``, ``image``, ``fps``)."""

    def __init__(self, frames: list[np.ndarray], fps: float = 10.0) -> None:
        self.frames = frames
        self.fps = fps

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` (BGR)."""
        return self.frames[index]


def ros_overhead(model: str, device: str, frames: list[np.ndarray],
                 warmup: int = 5) -> dict[str, float]:
    """Latency through DDS and the node versus the in-process step, same model and frames.

    Returns percentiles in milliseconds: ``e2e_*`` (image stamp to detections received in this
    process), ``step_*`` (in-process ``CenterTracker.step``) and ``overhead_p50``.
    """
    import cv2

    from ..core.model_spec import ModelSpec
    from ..runtime.session import SessionSettings, TrackingSession
    from .demo import run_demo
    result = run_demo(_FrameList(frames), model, device, pace='wait', progress=False,
                      log=lambda text: None, encoding='rgb8')
    e2e = [r.latency for frame, r in sorted(result.receptions.items()) if frame > warmup]
    session = TrackingSession.open(SessionSettings(model=ModelSpec(path=model),
                                                   runtime=RuntimeConfig(device=device)))
    steps = []
    for index, frame in enumerate(frames):
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        start = time.perf_counter()  # the node converts rgb8 to BGR too
        session.step(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if index >= warmup:
            steps.append(time.perf_counter() - start)
    e2e_t, step_t = Timing.of(e2e), Timing.of(steps)
    return {
        'frames_sent': result.frames_sent, 'frames_received': len(result.receptions),
        'e2e_p50': e2e_t.p50, 'e2e_p90': float(np.percentile(np.asarray(e2e) * 1e3, 90)),
        'e2e_p99': e2e_t.p99, 'step_p50': step_t.p50, 'step_p99': step_t.p99,
        'overhead_p50': e2e_t.p50 - step_t.p50,
    }


def camera_streams(model: str, device: str, frames: list[np.ndarray], cameras: int,
                   one_node: bool, warmup: int = 3, schedule: str = 'auto',
                   params: Optional[dict] = None) -> dict[str, Any]:
    """Stream ``frames`` from ``cameras`` publishers at once, through the real node(s).

    One node serving every camera (``one_node``, the ``cameras`` parameter, with
    ``camera_schedule`` ``schedule``; ``params``: more node parameters, for every node) or
    one node per camera; the same model and frames. Each
    camera publishes its next frame as soon as the previous one is answered, so the node(s)
    always have work. Returns the aggregate frames per second, stamp-to-detections latency
    percentiles over all cameras (ms), the node processes' summed RSS at the end (MiB) and the
    largest Fast DDS shared-memory segment of each node (MiB; about 64 with the package's
    profile, 0.5 without), and what the nodes' diagnostics counted as delivered late or lost
    in transport (with how often they logged the late delivery).
    """
    import threading

    import psutil
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from ..runtime.dds_profile import shared_memory_segment_mib
    from ..runtime.stamps import stamp_ns
    from .harness import NodeProcess, RosClient, image_msg, reliable_qos, wait_active
    load = os.getloadavg()[0]
    names = [f'cam{index}' for index in range(cameras)]
    base = {'model.path': model, 'device': device, 'qos.reliability': 'reliable',
            **(params or {})}
    if one_node:
        nodes = [NodeProcess('/bench_cameras', dict(base, cameras=names,
                                                    camera_schedule=schedule))]
    else:
        nodes = [NodeProcess(f'/bench_cameras/{name}', base) for name in names]
    client = RosClient('centertrack_bench_cameras')
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        for node in nodes:
            wait_active(client, node, timeout=600)
        topics = {name: f'/bench_cameras/{name}' for name in names}
        publishers = {name: client.node.create_publisher(Image, f'{topics[name]}/image',
                                                         reliable_qos()) for name in names}
        answers = {name: client.subscribe(
            Detection2DArray, f'{topics[name]}/detections', reliable_qos(100),
            transform=lambda msg: (stamp_ns(msg.header.stamp), time.time_ns()))
            for name in names}
        for name in names:
            client.wait_matched(publishers[name], answers[name], timeout=120)
        # What the nodes say about delivery: frames held up in transport, or lost.
        reports = client.subscribe(DiagnosticArray, '/diagnostics', transform=lambda msg: {
            status.name: {kv.key: kv.value for kv in status.values}
            for status in msg.status if status.name.startswith('/bench_cameras')})

        def stream(name: str) -> None:
            for index, frame in enumerate(frames):
                stamp = time.time_ns()
                publishers[name].publish(image_msg(frame, stamp, name))
                # Called within this iteration only: ``stamp`` is this frame's.
                _, arrived = answers[name].wait_for(lambda a: a[0] == stamp, timeout=120)
                if index >= warmup:
                    with lock:
                        latencies.append((arrived - stamp) / 1e6)

        threads = [threading.Thread(target=stream, args=(name,)) for name in names]
        processes = [psutil.Process(node.process.pid) for node in nodes]

        def cpu_seconds() -> float:  # what the nodes used, whatever else ran on the machine
            return sum(sum(process.cpu_times()[:2]) for process in processes)

        cpu_start = cpu_seconds()
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - start
        cpu = cpu_seconds() - cpu_start
        rss = sum(psutil.Process(node.process.pid).memory_info().rss for node in nodes)
        segments = [shared_memory_segment_mib(node.process.pid) for node in nodes]
        time.sleep(2.5)  # the nodes' next diagnostics reports, after the last frame
        latest: dict[str, dict[str, str]] = {}
        for report in list(reports.messages):
            latest.update(report)
        delivery = {key: sum(int(values.get(key, 0)) for values in latest.values())
                    for key in ('frames_delivered_late', 'frames_lost_in_transport')}
        told = sum(node.output().count('reached this node') for node in nodes)
        resolved = re.search(r'\d+ cameras: (.*schedule.*)$', nodes[0].output(), re.MULTILINE)
    finally:
        client.close()
        for node in nodes:
            node.stop()
    values = np.asarray(latencies)
    return {'cameras': cameras, 'nodes': len(nodes), 'frames_per_camera': len(frames),
            'aggregate_fps': cameras * len(frames) / seconds,
            'latency_p50': float(np.percentile(values, 50)),
            'latency_p99': float(np.percentile(values, 99)), 'rss_mib': rss / 2 ** 20,
            'latency_max': float(values.max()), 'schedule': schedule if one_node else '',
            'dds_segment_mib': segments, **delivery, 'late_delivery_warnings': told,
            'schedule_resolved': resolved.group(1).strip() if resolved else '',
            'load_average_start': load, 'load_average_end': os.getloadavg()[0],
            'node_cpu_ms_per_frame': cpu / (cameras * len(frames)) * 1e3}


def format_results(results: list[Result]) -> str:
    """Readable table of results."""
    lines = [f'{"arch":7} {"input":9} {"image":9} {"engine":9} {"prec":4} {"graph":5} {"B":>2} '
             f'{"fast p50":>9} {"p99":>8} {"orig p50":>9} {"p99":>8} {"x":>6}  '
             + ' '.join(f'{s:>9}' for s in STAGES)]
    for r in results:
        orig = r.original.get('total')
        fast = f'{r.fast.p50:9.2f} {r.fast.p99:8.2f}' if r.fast else f'{"-":>9} {"-":>8}'
        stages = ' '.join(f'{r.original[s].p50:9.2f}' if s in r.original else f'{"-":>9}'
                          for s in STAGES)
        lines.append(
            f'{r.arch:7} {r.input_size:9} {r.image_size:9} {r.engine:9} {r.precision:4} '
            f'{str(r.cuda_graph):5} {r.batch:2d} {fast} '
            + (f'{orig.p50:9.2f} {orig.p99:8.2f} {r.speedup:6.1f}  ' if orig else
               f'{"-":>9} {"-":>8} {"-":>6}  ') + stages)
    return '\n'.join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    parser = argparse.ArgumentParser(prog='centertrack_bench', description=__doc__.split('\n')[0])
    parser.add_argument('--arch', nargs='+', default=['dla_34', 'generic'],
                        choices=['dla_34', 'generic'])
    parser.add_argument('--input-size', nargs='+', type=parse_size, default=[(960, 544)],
                        help='network input sizes WIDTHxHEIGHT (default 960x544)')
    parser.add_argument('--image-size', type=parse_size, default=(1920, 1080),
                        help='camera frame size (default 1920x1080)')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--precision', nargs='+', default=['fp32', 'fp16'],
                        choices=['fp32', 'fp16'], help='fp16 runs only on CUDA')
    parser.add_argument('--graph', nargs='+', default=['on', 'off'], choices=['on', 'off'],
                        help='CUDA graph replay (CUDA only)')
    parser.add_argument('--batch', nargs='+', type=int, default=[1])
    parser.add_argument('--iterations', type=int, default=100)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--detections', type=int, default=20,
                        help='tracks per frame to calibrate thresholds for (default 20)')
    parser.add_argument('--engine', nargs='+', choices=ENGINES, default=['auto'],
                        help="engines timed as 'fast', a row each: auto (what the node uses: "
                             "torch on CUDA, onnxruntime on the CPU), onnxruntime, torch, "
                             "reference")
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the original-style baseline')
    parser.add_argument('--json', help='write results to this JSON file')
    parser.add_argument('--markdown', help='write results as a Markdown section to this file')
    parser.add_argument('--threads', type=int, default=0,
                        help='CPU threads of every engine (0 = default)')
    parser.add_argument('--ros', action='store_true',
                        help='measure the ROS overhead (publisher -> node -> subscriber) instead')
    parser.add_argument('--model', default='',
                        help='checkpoint for --ros (default: the bundled model)')
    parser.add_argument('--frames', type=int, default=60, help='frames for --ros (default 60)')
    parser.add_argument('--cameras', type=int, default=1,
                        help='with --ros: this many cameras through one node (the cameras '
                             'parameter) and through one node each, same frames (default 1)')
    parser.add_argument('--camera-schedule', nargs='+', default=['auto'],
                        choices=['auto', 'batch', 'interleave'],
                        help='with --ros --cameras N: the one node\'s camera_schedule, a run '
                             'each (default auto)')
    parser.add_argument('--footprint', action='store_true',
                        help='with --ros: start-up (process start to first detections) and RSS '
                             'after --frames frames of the node running an exported .onnx with '
                             'torch blocked, beside the node running --model with engine auto')
    parser.add_argument('--onnx', default='',
                        help='with --footprint: the exported model (default: export --model)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='with --footprint: rounds of both nodes (default 3; the first '
                             'warms the caches)')
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Callable[[str], None] = print) -> int:
    """Entry point of ``centertrack_bench``."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(resolve_device(args.device))
    on_cuda = device.type == 'cuda'
    precisions = [p for p in args.precision if on_cuda or p == 'fp32']
    graphs = [g == 'on' for g in args.graph if on_cuda or g == 'off']
    header = _run_header(device, argv)  # before the runs: the load they started under
    if args.ros:
        return _main_ros(args, device, out, header)
    width, height = args.image_size
    frames = synthetic_frames(width, height, count=16)
    out(f'device: {device_name(device)}; torch {torch.__version__}; '
        f'python {platform.python_version()}; frames {args.image_size[0]}x{args.image_size[1]}')
    results = []
    for arch in args.arch:
        for input_size in args.input_size:
            original = None  # measured with the first row, shared by the others
            for engine in args.engine:
                for precision in precisions:
                    for graph in graphs:
                        for batch in args.batch:
                            result = run_config(arch, input_size, args.image_size, device,
                                                precision == 'fp16', graph, batch,
                                                args.iterations, args.warmup, args.detections,
                                                frames, baseline=not args.no_baseline,
                                                engine=engine, original=original)
                            original = result.original or None
                            results.append(result)
                            out(format_results([result]).splitlines()[-1])
                            sys.stdout.flush()
    out('')
    out(format_results(results))
    payload = dict(header,
                   results=[dict(asdict(r), speedup=r.speedup) for r in results])
    _write_reports(args, payload, markdown_results(payload), out)
    return 0


def _run_header(device: torch.device, argv: Optional[Sequence[str]]) -> dict:
    """Return what every report starts with: the command, when, and the machine it ran on."""
    command = ' '.join(['centertrack_bench', *(sys.argv[1:] if argv is None else argv)])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')
    return {'command': command, 'date': date, 'device': device_name(device),
            'machine': machine_info()}


def _write_reports(args: argparse.Namespace, payload: dict, text: str,
                   out: Callable[[str], None]) -> None:
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump(payload, handle, indent=2)
        out(f'wrote {args.json}')
    if args.markdown:
        with open(args.markdown, 'w', encoding='utf-8') as handle:
            handle.write(text)
        out(f'wrote {args.markdown}')


def _machine_line(payload: dict) -> str:
    m = payload['machine']
    return (f'Device **{payload["device"]}**; machine: {m["cpu"]}, {m["cores"]} cores, '
            f'{m["memory_gib"]} GiB, GPU {m["gpu"]}; Python {m["python"]}, torch {m["torch"]}; '
            f'load average at start {m["load_average"]}. Started {payload["date"]} with '
            f'`{payload["command"]}`.')


def _ms(timing: Optional[dict]) -> str:
    return f'{timing["p50"]:.2f} / {timing["p99"]:.2f}' if timing else '-'


def markdown_results(payload: dict) -> str:
    """Format a run's JSON payload as a Markdown section (for ``benchmarks/RESULTS.md``)."""
    lines = [f'### {payload["device"]}', '', _machine_line(payload), '',
             '| arch | input | frame | engine | precision | CUDA graph | batch '
             '| fast step p50 / p99 (ms) '
             '| original p50 / p99 (ms) | speed-up (p50) | original stages p50 (ms): '
             + ', '.join(STAGES) + ' | tracks | peak GPU (MiB) |',
             '|---|---|---|---|---|---|---:|---:|---:|---:|---|---:|---:|']
    for r in payload['results']:
        original = r['original']
        stages = ', '.join(f'{original[s]["p50"]:.1f}' for s in STAGES) if original else '-'
        speedup = f'{r["speedup"]:.1f}x' if r['speedup'] else '-'
        peak = f'{r["peak_gpu_mib"]:.0f}' if r['peak_gpu_mib'] is not None else '-'
        lines.append(
            f'| {r["arch"]} | {r["input_size"]} | {r["image_size"]} | {r["engine"]} '
            f'| {r["precision"]} '
            f'| {"on" if r["cuda_graph"] else "off"} | {r["batch"]} | {_ms(r["fast"])} '
            f'| {_ms(original.get("total"))} | {speedup} | {stages} | {r["detections"]:.1f} '
            f'| {peak} |')
    return '\n'.join(lines) + '\n'


def markdown_ros(payload: dict) -> str:
    """Format the ROS-overhead run as a Markdown section."""
    return '\n'.join([
        f'### ROS overhead, {payload["device"]}', '', _machine_line(payload), '',
        f'{payload["frames_received"]} of {payload["frames_sent"]} `rgb8` {payload["image_size"]} '
        f'frames, model `{payload["model_name"]}`, Fast DDS profile: {payload["fastdds_profile"]}.',
        '',
        '| stamp -> detections received p50 / p90 / p99 (ms) | in-process step p50 / p99 (ms) '
        '| ROS overhead p50 (ms) |', '|---:|---:|---:|',
        f'| {payload["e2e_p50"]:.1f} / {payload["e2e_p90"]:.1f} / {payload["e2e_p99"]:.1f} '
        f'| {payload["step_p50"]:.1f} / {payload["step_p99"]:.1f} '
        f'| {payload["overhead_p50"]:.1f} |', ''])


def markdown_cameras(payload: dict) -> str:
    """Format the several-cameras run as a Markdown section."""
    lines = [f'### {payload["cameras"]} cameras, {payload["device"]}', '', _machine_line(payload),
             '', f'{payload["frames_per_camera"]} `bgr8` {payload["image_size"]} frames per '
             f'camera, model `{payload["model_name"]}`, each camera sending its next frame when '
             'the previous one is answered. Fast DDS profile: '
             f'{payload.get("fastdds_profile", "not recorded")}.', '',
             '| setup | nodes | node RSS (MiB) | aggregate frames/s | latency p50 / p99 / max (ms) '
             '| node CPU per frame (ms) | nodes\' DDS segment (MiB) '
             '| frames the nodes saw delivered late / lost | load average (1 min) at start / end |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---|']
    for row in payload['runs']:
        setup = (f'one node, `cameras`, `camera_schedule: {row.get("schedule") or "auto"}`'
                 + (f' ({row["schedule_resolved"]})' if row.get('schedule_resolved') else '')
                 if row['nodes'] == 1 else 'one node per camera')
        segments = ', '.join('-' if m is None else f'{m:.1f}'
                             for m in row.get('dds_segment_mib', []))
        lines.append(f'| {setup} | {row["nodes"]} | {row["rss_mib"]:.0f} '
                     f'| {row["aggregate_fps"]:.1f} '
                     f'| {row["latency_p50"]:.0f} / {row["latency_p99"]:.0f} / '
                     f'{row.get("latency_max", float("nan")):.0f} '
                     f'| {row.get("node_cpu_ms_per_frame", float("nan")):.0f} | {segments} '
                     f'| {row.get("frames_delivered_late", "-")} / '
                     f'{row.get("frames_lost_in_transport", "-")} '
                     f'| {row.get("load_average_start", float("nan")):.2f} / '
                     f'{row.get("load_average_end", float("nan")):.2f} |')
    return '\n'.join(lines) + '\n'


def _main_cameras(args: argparse.Namespace, model: str, device: torch.device,
                  out: Callable[[str], None], header: dict) -> int:
    width, height = args.image_size
    frames = synthetic_frames(width, height, count=args.frames)
    runs = []
    setups = [(True, schedule) for schedule in args.camera_schedule] + [(False, '')]
    for one_node, schedule in setups:
        what = f'one node ({schedule})' if one_node else 'one node per camera'
        out(f'{args.cameras} cameras, {what}: {args.frames} {width}x{height} frames each, '
            f'model {model}')
        figures = camera_streams(model, str(device), frames, args.cameras, one_node,
                                 schedule=schedule or 'auto')
        out(f'  RSS {figures["rss_mib"]:.0f} MiB, {figures["aggregate_fps"]:.1f} frames/s in '
            f'all, latency p50 {figures["latency_p50"]:.0f} ms, p99 '
            f'{figures["latency_p99"]:.0f} ms, max {figures["latency_max"]:.0f} ms')
        runs.append(figures)
    payload = dict(header, cameras=args.cameras, frames_per_camera=args.frames,
                   image_size=f'{width}x{height}', model=model,
                   model_name=os.path.basename(model), runs=runs,
                   fastdds_profile=describe_profile())
    _write_reports(args, payload, markdown_cameras(payload), out)
    return 0


def _main_footprint(args: argparse.Namespace, model: str, device: torch.device,
                    out: Callable[[str], None], header: dict) -> int:
    import contextlib
    import io
    import tempfile

    from . import export
    from .node_footprint import NodeSetup, footprint, markdown_footprint
    onnx = args.onnx
    if not onnx:  # the model exported as centertrack_export writes it
        onnx = os.path.join(tempfile.mkdtemp(prefix='centertrack_footprint_'),
                            os.path.splitext(os.path.basename(model))[0] + '.onnx')
        with contextlib.redirect_stdout(io.StringIO()):
            if export.main(['--model', model, '--output', onnx, '--no-check']) != 0:
                out(f'error: cannot export {model}')
                return 2
    setups = [NodeSetup('lean: .onnx, onnxruntime, torch blocked', onnx, 'onnxruntime', True),
              NodeSetup('torch importing: .pth, engine auto', model, 'auto', False)]
    width, height = args.image_size
    frames = synthetic_frames(width, height, count=args.frames)
    out(f'node footprint: {args.frames} {width}x{height} frames per node, {args.repeat} '
        f'rounds; {onnx} beside {model}')
    figures = footprint(setups, frames, args.repeat, str(device), log=out)
    payload = dict(header, **figures, frames=args.frames, repeat=args.repeat,
                   image_size=f'{width}x{height}')
    _write_reports(args, payload, markdown_footprint(payload, _machine_line(payload)), out)
    return 0


def _main_ros(args: argparse.Namespace, device: torch.device, out: Callable[[str], None],
              header: dict) -> int:
    from ..core.checkpoint import CheckpointError
    from ..core.model_spec import default_model_path
    # This process publishes the frames: it needs the profile as much as the nodes (which get
    # it from the harness) unless the user set one.
    out(f'Fast DDS profile: {use_package_profile()}')
    try:
        model = args.model or default_model_path()
    except CheckpointError as exc:
        out(f'error: {exc}')
        return 2
    if args.footprint:
        return _main_footprint(args, model, device, out, header)
    if args.cameras > 1:
        return _main_cameras(args, model, device, out, header)
    width, height = args.image_size
    frames = synthetic_frames(width, height, count=args.frames)
    out(f'ROS overhead: {args.frames} rgb8 {width}x{height} frames, model {model}, '
        f'device {device_name(device)}')
    figures = ros_overhead(model, str(device), frames)
    out(f'received {figures["frames_received"]}/{figures["frames_sent"]}; stamp -> detections '
        f'received p50 {figures["e2e_p50"]:.1f} ms, p90 {figures["e2e_p90"]:.1f}, p99 '
        f'{figures["e2e_p99"]:.1f}; in-process step p50 {figures["step_p50"]:.1f} ms, p99 '
        f'{figures["step_p99"]:.1f}; ROS overhead p50 {figures["overhead_p50"]:.1f} ms')
    payload = dict(header, **figures, image_size=f'{width}x{height}',
                   model=model, model_name=os.path.basename(model),
                   fastdds_profile=describe_profile())
    _write_reports(args, payload, markdown_ros(payload), out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
