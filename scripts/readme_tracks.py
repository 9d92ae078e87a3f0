"""Draw the README's picture: the demo drive's tracks under two associations, frame by frame.

The same synthetic drive as ``centertrack_demo`` (seed 7) runs through the bundled model in the
ROS-free core tracker, once with the original greedy association and once with BYTE and the
velocity motion model as the README's table runs it; evenly spaced frames of each run are drawn
with the node's debug-image code (:mod:`centertrack_ros.runtime.drawing`: box colour and label =
track id, class, score) and laid out as two rows. Only published (active) tracks are drawn, as
the node publishes them.

    .venv/bin/python scripts/readme_tracks.py            # writes docs/tracks.png
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import cv2
import numpy as np
from readme_png import write_png

from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.runtime.drawing import draw_tracks
from centertrack_ros.synthetic import SceneConfig, generate_sequence

# Each row: a title and the tracker settings it changes (TrackerConfig fields).
ROWS: tuple[tuple[str, dict[str, object]], ...] = (
    ('greedy (the original)', {}),
    ('byte + velocity', {'association': 'byte', 'track_thresh': 0.4, 'low_thresh': 0.3,
                         'motion': 'velocity', 'max_age': 30}),
)
LABEL_HEIGHT = 22


def run(sequence, settings: dict, shown: list[int], scale: float) -> dict[int, np.ndarray]:
    """Track ``sequence`` with the bundled model and ``settings``; draw the ``shown`` frames.

    Each frame is shrunk first and its boxes scaled with it, so that the labels are drawn at
    the size they are seen.
    """
    tracker = load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu'))
    tracker.set_tracker_config(replace(tracker.config.tracker, **settings))
    names = tracker.config.model.class_name
    out = {}
    for index in range(max(shown) + 1):
        tracks = tracker.step(sequence.image(index))
        if index in shown:
            small = cv2.resize(sequence.image(index), None, fx=scale, fy=scale,
                               interpolation=cv2.INTER_AREA)
            scaled = [replace(t, bbox=t.bbox * scale) for t in tracks]
            out[index] = draw_tracks(small, scaled, names)
    return out


def caption(image: np.ndarray, text: str) -> np.ndarray:
    """Put ``text`` in a dark band above ``image``."""
    band = np.full((LABEL_HEIGHT, image.shape[1], 3), 32, dtype=np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return np.vstack([band, image])


def main() -> None:
    """Render the strip."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seed', type=int, default=7, help='scene seed (the demo\'s: 7)')
    parser.add_argument('--frames', type=int, nargs='+', default=[30, 60, 90, 120],
                        help='0-based frames to show')
    parser.add_argument('--scale', type=float, default=0.5, help='size of each frame')
    parser.add_argument('--output', default='docs/tracks.png')
    args = parser.parse_args()
    sequence = generate_sequence(SceneConfig(seed=args.seed, num_frames=max(args.frames) + 1))
    rows = []
    for title, settings in ROWS:
        drawn = run(sequence, settings, args.frames, args.scale)
        cells = [caption(drawn[index], f'{title}, frame {index + 1}') for index in args.frames]
        rows.append(np.hstack([np.pad(c, ((0, 2), (0, 2), (0, 0)), constant_values=255)
                               for c in cells]))
    print(f'wrote {args.output}: {write_png(np.vstack(rows), args.output)}')


if __name__ == '__main__':
    main()
