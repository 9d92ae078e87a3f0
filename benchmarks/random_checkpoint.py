"""Write the random-weight checkpoint ``centertrack_bench`` times, as a file a node can load.

Usage (from the repository root)::

    python benchmarks/random_checkpoint.py OUTPUT.pth [--arch dla_34] [--input-size 960x544]

The network is the bench's (:func:`centertrack_ros.tools.random_models.random_network` with
He-initialised convolutions, seed 0, one class, amodal boxes), so a node running it does the
work of a trained model of that architecture and size (the cost of a forward pass does not
depend on the weights). The score thresholds are chosen as the bench chooses them (about 20
tracks per frame once tracking runs, on a synthetic drive at ``--image-size``), so the node
publishes detections. ``centertrack_export --model OUTPUT.pth`` makes its ``.onnx``.
"""

from __future__ import annotations

import argparse
import sys

from centertrack_ros.core.config import CenterTrackConfig, InputConfig, ModelConfig, TrackerConfig
from centertrack_ros.core.model_spec import save_model
from centertrack_ros.core.pipeline import CenterTracker
from centertrack_ros.tools.bench import calibrate_threshold, synthetic_frames
from centertrack_ros.tools.random_models import random_network


def _size(text: str) -> tuple[int, int]:
    width, height = text.lower().split('x')
    return int(width), int(height)


def main() -> int:
    """Build, calibrate and save the checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('output')
    parser.add_argument('--arch', default='dla_34', choices=['dla_34', 'generic'])
    parser.add_argument('--input-size', type=_size, default=(960, 544))
    parser.add_argument('--image-size', type=_size, default=(1920, 1080))
    parser.add_argument('--detections', type=int, default=20)
    args = parser.parse_args()
    width, height = args.input_size
    model = ModelConfig(arch=args.arch, backbone='mobilenet', num_classes=1, ltrb_amodal=True,
                        class_names=('object',))
    config = CenterTrackConfig(model=model, input=InputConfig(width=width, height=height),
                               tracker=TrackerConfig(track_thresh=0.3))
    network = random_network(model, he_init=True)
    frames = synthetic_frames(*args.image_size, count=6)
    threshold = calibrate_threshold(CenterTracker(network, config, engine='reference'), frames,
                                    args.detections)
    config = config.replace(tracker=TrackerConfig(track_thresh=threshold, pre_thresh=threshold,
                                                  new_thresh=threshold))
    save_model(args.output, network, config)
    print(f'wrote {args.output}: {args.arch} {width}x{height}, thresholds {threshold:.4f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
