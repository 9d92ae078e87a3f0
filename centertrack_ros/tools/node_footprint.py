"""What a running node costs: start-up and memory (``centertrack_bench --ros --footprint``).

For each setup (a model file, an engine, torch importable or blocked) it starts the real
``centertrack_node`` in a process of its own, with this process already publishing on the
node's image topic and subscribed to its detections, and measures:

- ``start_to_first_detection_s``: from just before the node process is created to the arrival
  here of the detections of the first frame, which is sent as soon as the node's image
  subscription is matched (so the figure holds the interpreter's start, imports, the model
  load with any export, the engine's warm-up, DDS discovery and one step);
- ``start_to_active_s``: from the same instant to the node's log line that it is active
  (subscribed, model loaded and warmed up): the node's own part, without the discovery, which
  takes from a few milliseconds to a few seconds depending on when the other participants
  next announce themselves;
- ``rss_mib`` / ``peak_mib``: the node's resident memory (``VmRSS``) after ``frames`` frames,
  each sent when the previous one is answered, and its peak (``VmHWM``); ``shmem_mib`` is the
  part that is shared memory (``RssShmem``: Fast DDS's shared-memory transport, 64 MiB with
  the package's large-image profile);
- whether the node's process has PyTorch's library mapped (``torch_loaded``), and the engine
  its diagnostics name.

Setups run in turn, ``repeat`` rounds of all of them in the same run; the first round also warms
the page cache and the ONNX cache (a ``.pth`` with ``engine: auto`` exports on its first load).
The torch-blocked node runs with ``benchmarks/no_torch`` first on ``PYTHONPATH`` (a source
checkout); it stands for a vehicle where torch is not installed.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..runtime.stamps import stamp_ns

NO_TORCH = Path(__file__).resolve().parents[2] / 'benchmarks' / 'no_torch'


@dataclass(frozen=True)
class NodeSetup:
    """One way of running the node: which model, which engine, torch importable or not."""

    label: str
    model: str
    engine: str = 'auto'
    block_torch: bool = False

    def parameters(self, device: str) -> dict[str, Any]:
        """Return the node's parameters for this setup."""
        return {'model.path': self.model, 'engine': self.engine, 'device': device,
                'qos.reliability': 'reliable'}

    def environment(self) -> dict[str, str]:
        """Additions to the node's environment (the torch blocker first on PYTHONPATH)."""
        if not self.block_torch:
            return {}
        if not (NO_TORCH / 'sitecustomize.py').is_file():
            raise FileNotFoundError(f'{NO_TORCH}/sitecustomize.py (the torch blocker of a '
                                    'source checkout) is needed to block torch')
        paths = [str(NO_TORCH), os.environ.get('PYTHONPATH', '')]
        return {'PYTHONPATH': os.pathsep.join(p for p in paths if p)}


def _proc_status(pid: int, key: str) -> float:
    """Return a ``/proc/<pid>/status`` memory figure in MiB (``VmRSS``, ``VmHWM``)."""
    with open(f'/proc/{pid}/status', encoding='ascii') as handle:
        for line in handle:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def _active_at(log: str) -> Optional[float]:
    """Return the wall-clock stamp of the node's log line that it is active, if any."""
    match = re.search(r'\[(\d+\.\d+)\] \[[^\]]*\]: active: ', log)
    return float(match.group(1)) if match else None


def _torch_loaded(pid: int) -> bool:
    """Whether the process has one of PyTorch's libraries mapped."""
    with open(f'/proc/{pid}/maps', encoding='ascii', errors='replace') as handle:
        return any('libtorch' in line for line in handle)


def measure_node(setup: NodeSetup, frames: Sequence[np.ndarray], client: Any,
                 namespace: str, device: str = 'cpu', timeout: float = 600.0) -> dict[str, Any]:
    """Start the node of ``setup``, send ``frames`` one at a time, return its figures."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from .harness import NodeProcess, image_msg, node_status, reliable_qos
    publisher = client.node.create_publisher(Image, f'{namespace}/image', reliable_qos())
    answers = client.subscribe(Detection2DArray, f'{namespace}/detections', reliable_qos(),
                               transform=lambda msg: (stamp_ns(msg.header.stamp),
                                                      time.monotonic(), len(msg.detections)))
    diagnostics = client.subscribe(DiagnosticArray, '/diagnostics')
    started, started_wall = time.monotonic(), time.time()
    node = NodeProcess(namespace, setup.parameters(device), env=setup.environment())
    try:
        client.wait_until(lambda: publisher.get_subscription_count() > 0 and
                          answers.subscription.get_publisher_count() > 0,
                          'the node subscribing', timeout, watch=node)
        first: Optional[tuple[float, int]] = None
        stamp = client.now_ns()
        for frame in frames:
            stamp += 100_000_000
            publisher.publish(image_msg(frame, stamp))
            _, arrived, count = answers.wait_for(lambda a, s=stamp: a[0] == s, timeout,
                                                 'detections of the frame', watch=node)
            if first is None:
                first = (arrived - started, count)
        pid = node.process.pid
        rss, peak, shmem = (_proc_status(pid, key) for key in ('VmRSS', 'VmHWM', 'RssShmem'))
        torch_loaded = _torch_loaded(pid)
        name = f'{namespace}/centertrack'
        report = diagnostics.wait_for(lambda msg: node_status(msg, name) is not None, timeout,
                                      'diagnostics', watch=node)
        engine = next((kv.value for kv in node_status(report, name).values
                       if kv.key == 'engine'), '')
    except TimeoutError as exc:
        raise TimeoutError(f'{exc}; the node ({setup.label}) logged:\n{node.tail(30)}') from exc
    finally:
        client.unsubscribe(answers)
        client.unsubscribe(diagnostics)
        client.node.destroy_publisher(publisher)
        node.stop()
    if first is None:
        raise ValueError('measure_node needs at least one frame')
    active = _active_at(node.output())
    return {'label': setup.label, 'start_to_first_detection_s': round(first[0], 3),
            'start_to_active_s': None if active is None else round(active - started_wall, 3),
            'first_frame_detections': first[1], 'rss_mib': round(rss, 1),
            'peak_mib': round(peak, 1), 'shmem_mib': round(shmem, 1), 'frames': len(frames),
            'engine': engine, 'torch_loaded': torch_loaded}


def footprint(setups: Sequence[NodeSetup], frames: Sequence[np.ndarray], repeat: int = 3,
              device: str = 'cpu',
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every setup ``repeat`` times (rounds of all setups); return runs and summaries.

    A setup's summary is the median of its runs after the first (the first warms the caches),
    or its only run.
    """
    from .harness import RosClient
    client = RosClient('centertrack_bench_footprint')
    runs = []
    try:
        for round_index in range(repeat):
            for index, setup in enumerate(setups):
                result = measure_node(setup, frames, client,
                                      f'/bench_footprint/r{round_index}_s{index}', device)
                result['round'] = round_index
                log(f'  round {round_index + 1}/{repeat}, {setup.label}: active after '
                    f'{result["start_to_active_s"]} s, first detection after '
                    f'{result["start_to_first_detection_s"]:.2f} s, RSS '
                    f'{result["rss_mib"]:.0f} MiB (peak {result["peak_mib"]:.0f}, shared '
                    f'{result["shmem_mib"]:.0f}), engine '
                    f'{result["engine"]}, torch loaded: {result["torch_loaded"]}')
                runs.append(result)
    finally:
        client.close()
    summaries = []
    for setup in setups:
        mine = [r for r in runs if r['label'] == setup.label]
        warm = mine[1:] or mine
        summaries.append(dict(
            asdict(setup),
            start_to_first_detection_s=statistics.median(
                r['start_to_first_detection_s'] for r in warm),
            cold_start_to_first_detection_s=mine[0]['start_to_first_detection_s'],
            start_to_active_s=statistics.median(r['start_to_active_s'] or float('nan')
                                                for r in warm),
            rss_mib=statistics.median(r['rss_mib'] for r in warm),
            peak_mib=statistics.median(r['peak_mib'] for r in warm),
            shmem_mib=statistics.median(r['shmem_mib'] for r in warm),
            engine=mine[-1]['engine'], torch_loaded=any(r['torch_loaded'] for r in mine),
            runs=len(mine)))
    return {'runs': runs, 'setups': summaries}


def markdown_footprint(payload: dict[str, Any], machine_line: str) -> str:
    """Format a footprint run as a Markdown section."""
    lines = [f'### Node start-up and memory, {payload["device"]}', '', machine_line, '',
             f'{payload["frames"]} `bgr8` {payload["image_size"]} frames through each node, '
             f'one at a time over reliable DDS; {payload["repeat"]} rounds of all setups, '
             'figures the median of the rounds after the first (the first warms the page and '
             'ONNX caches; its start-up is the "cold" column).', '',
             '| setup | model | engine (diagnostics) | torch in the process | start to active (s) '
             '| start to first detection (s) | cold (s) | RSS after the frames (MiB) '
             '| of which DDS shared memory (MiB) | peak RSS (MiB) |',
             '|---|---|---|---|---:|---:|---:|---:|---:|---:|']
    for s in payload['setups']:
        lines.append(f'| {s["label"]} | `{os.path.basename(s["model"])}` | {s["engine"]} '
                     f'| {"yes" if s["torch_loaded"] else "no"} '
                     f'| {s["start_to_active_s"]:.2f} '
                     f'| {s["start_to_first_detection_s"]:.2f} '
                     f'| {s["cold_start_to_first_detection_s"]:.2f} | {s["rss_mib"]:.0f} '
                     f'| {s["shmem_mib"]:.0f} | {s["peak_mib"]:.0f} |')
    return '\n'.join(lines) + '\n'
