r"""Split the onnxruntime engine's step into the network and the host work around it.

Usage (from the repository root; ``PYTHONPATH`` may point at another checkout to time its code
the same way)::

    OMP_NUM_THREADS=1 python benchmarks/onnxruntime_host_time.py --arch dla_34 --frames 6 \
        --input-size 960x544 --image-size 1920x1080

Builds the benchmark's random-weight network (``centertrack_bench``'s: He-initialised, seed 0,
one class, amodal boxes), tracks a synthetic drive with ``engine='onnxruntime'`` and times each
step and, inside it, each ONNX Runtime ``session.run``. Prints one JSON line: the step, network
and host (step minus network: pre-processing, prior, decoding, tracking) p50 in milliseconds
over the frames after the first two. On a shared machine the network time follows the load;
the host part is what the engine's code decides, and two versions that export the same graph
(the same ONNX cache key) differ only there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from centertrack_ros.core.config import (
    CenterTrackConfig,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
)
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.tools.bench import synthetic_frames
from centertrack_ros.tools.random_models import random_network


def _size(text: str) -> tuple[int, int]:
    width, height = text.lower().split('x')
    return int(width), int(height)


def main() -> int:
    """Time the steps and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='generic', choices=['dla_34', 'generic'])
    parser.add_argument('--input-size', type=_size, default=(320, 192))
    parser.add_argument('--image-size', type=_size, default=(640, 384))
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--threshold', type=float, default=0.05)
    args = parser.parse_args()
    width, height = args.input_size
    model = ModelConfig(arch=args.arch, backbone='mobilenet', num_classes=1, ltrb_amodal=True)
    config = CenterTrackConfig(model=model, input=InputConfig(width=width, height=height),
                               tracker=TrackerConfig(track_thresh=args.threshold),
                               runtime=RuntimeConfig(device='cpu'))
    tracker = CenterTracker(random_network(model, he_init=True), config, engine='onnxruntime')
    session = tracker.engine.session
    run, network = session.run, []

    def timed_run(*run_args, **run_kwargs):
        start = time.perf_counter()
        result = run(*run_args, **run_kwargs)
        network.append(time.perf_counter() - start)
        return result

    session.run = timed_run
    steps = []
    for frame in synthetic_frames(*args.image_size, count=args.frames):
        start = time.perf_counter()
        tracker.step(frame)
        steps.append(time.perf_counter() - start)
    steps, network = steps[2:], network[2:]
    print(json.dumps({
        'arch': args.arch, 'input_size': f'{width}x{height}',
        'image_size': f'{args.image_size[0]}x{args.image_size[1]}', 'frames': len(steps),
        'threads': session.get_session_options().intra_op_num_threads,
        'step_p50_ms': round(statistics.median(steps) * 1e3, 2),
        'network_p50_ms': round(statistics.median(network) * 1e3, 2),
        'host_p50_ms': round(statistics.median(s - n for s, n in zip(steps, network)) * 1e3, 2),
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main())
