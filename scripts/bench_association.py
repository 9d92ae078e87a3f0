"""Time one association step (``TrackManager.update``) for each association, ROS-free.

A steady scene of N objects moving a little each frame, each detected every frame with some
jitter; for BYTE, a share of them score between ``low_thresh`` and ``track_thresh``. After a
warm-up (so the manager holds N tracks), every call is timed; the median and the 90th
percentile are printed in milliseconds. Nothing of the network, decoding or the prior is
included: this is the cost the association choice adds to a frame.

    .venv/bin/python scripts/bench_association.py               # 100 detections
    .venv/bin/python scripts/bench_association.py --objects 300 --frames 500
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from centertrack_ros.core.config import TrackerConfig
from centertrack_ros.core.tracker import TrackManager
from centertrack_ros.core.tracks import Detection

SETTINGS = {
    'greedy': TrackerConfig(track_thresh=0.3, max_age=10),
    'hungarian': TrackerConfig(track_thresh=0.3, max_age=10, association='hungarian'),
    'byte': TrackerConfig(track_thresh=0.3, max_age=10, association='byte'),
    'byte + velocity': TrackerConfig(track_thresh=0.3, max_age=30, association='byte',
                                     motion='velocity'),
}


def scene(objects: int, frames: int, low_share: float, seed: int = 0) -> list[list[Detection]]:
    """Return each frame's detections of ``objects`` moving boxes, best first."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 0], [1920, 1080], size=(objects, 2))
    sizes = rng.uniform(20, 120, size=(objects, 2))
    velocity = rng.normal(0, 3, size=(objects, 2))
    out = []
    for _ in range(frames):
        centres = centres + velocity
        jitter = rng.normal(0, 1, size=(objects, 2))
        scores = np.where(rng.random(objects) < low_share, rng.uniform(0.1, 0.3, objects),
                          rng.uniform(0.3, 1.0, objects))
        frame = []
        for k in np.argsort(-scores):
            ct = (centres[k] + jitter[k]).astype(np.float32)
            half = sizes[k] / 2
            frame.append(Detection(
                score=float(scores[k]), class_id=1 + k % 2, ct=ct,
                tracking=(-velocity[k] + rng.normal(0, 1, 2)).astype(np.float32),
                bbox=np.concatenate([ct - half, ct + half]).astype(np.float32)))
        out.append(frame)
    return out


def main() -> None:
    """Print the timing table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--objects', type=int, default=100, help='detections per frame')
    parser.add_argument('--frames', type=int, default=300, help='timed frames')
    parser.add_argument('--warmup', type=int, default=20)
    parser.add_argument('--low-share', type=float, default=0.3,
                        help='share of detections scoring below track_thresh')
    args = parser.parse_args()
    frames = scene(args.objects, args.warmup + args.frames, args.low_share)
    print(f'{args.objects} detections per frame ({100 * args.low_share:.0f}% below '
          f'track_thresh), {args.frames} frames; {platform.processor() or platform.machine()}, '
          f'Python {platform.python_version()}')
    print(f'{"association":<16} {"median ms":>9} {"p90 ms":>7} {"tracks":>6}')
    for name, config in SETTINGS.items():
        manager = TrackManager(config)
        times = []
        for index, detections in enumerate(frames):
            start = time.perf_counter()
            manager.update(detections)
            if index >= args.warmup:
                times.append(time.perf_counter() - start)
        active = sum(1 for t in manager.tracks if t.active)
        print(f'{name:<16} {1e3 * np.median(times):9.3f} {1e3 * np.percentile(times, 90):7.3f} '
              f'{active:6d}')


if __name__ == '__main__':
    main()
