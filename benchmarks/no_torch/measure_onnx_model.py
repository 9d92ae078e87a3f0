"""Memory and start-up of a process that tracks with an exported ``.onnx`` model (issue 26).

Usage (from the repository root)::

    python benchmarks/no_torch/measure_onnx_model.py MODEL [--frames 100] [--block-torch]

Starts one child process per call that imports the core, loads ``MODEL`` (an ``.onnx``
export, or a ``.pth`` checkpoint for comparison) with the onnxruntime engine on the CPU and
tracks a synthetic drive (640x384 frames, rendered on demand as a camera would deliver
them). It prints one JSON line: seconds from the child's
start (before the interpreter) to its first tracked frame, the resident memory (VmRSS)
after the last frame and its peak (VmHWM), whether torch/onnx were imported, the engine.
``--block-torch`` puts this folder first on the child's ``PYTHONPATH`` (``import torch``
fails there). The model file should be in the page cache (run twice, report the second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CHILD = """
import json, sys, time
from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_model
from centertrack_ros.synthetic import SceneConfig, generate_sequence

model = load_model(ModelSpec(path=sys.argv[1]),
                   RuntimeConfig(device='cpu', engine='onnxruntime'))
tracker = model.tracker()
sequence = generate_sequence(SceneConfig(seed=1, num_frames=int(sys.argv[2])))
first = None
detections = 0
for index in range(len(sequence)):
    tracks = tracker.step(sequence.image(index))
    if first is None:
        first = time.time()
    detections += len(tracks)


def status(key):
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))


print(json.dumps({'first_frame_at': first, 'rss_mib': round(status('VmRSS:'), 1),
                  'peak_mib': round(status('VmHWM:'), 1), 'frames': len(sequence),
                  'tracks_seen': detections, 'engine': tracker.engine.describe(),
                  'torch': 'torch' in sys.modules, 'onnx': 'onnx' in sys.modules}))
"""


def main() -> int:
    """Run the child once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model')
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--block-torch', action='store_true')
    args = parser.parse_args()
    env = dict(os.environ)
    if args.block_torch:
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(HERE), env.get('PYTHONPATH')]))
    start = time.time()
    proc = subprocess.run([sys.executable, '-c', CHILD, args.model, str(args.frames)],
                          cwd=str(REPO), env=env, capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        return proc.returncode
    result = json.loads(proc.stdout.strip().split('\n')[-1])
    result['start_to_first_frame_s'] = round(result.pop('first_frame_at') - start, 2)
    result.update(model=args.model, torch_blocked=args.block_torch)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
