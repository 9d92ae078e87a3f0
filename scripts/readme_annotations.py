"""Draw the README's overlay picture: one frame's Foxglove annotations, drawn as Foxglove does.

The demo's synthetic drive (seed 7, 200 frames) runs through the bundled model in the ROS-free core
tracker; every frame's published tracks feed the per-camera trail state, and the chosen frame's
overlay is built into the very ``foxglove_msgs/ImageAnnotations`` message the bag tool writes
(:mod:`centertrack_ros.bags.foxglove_messages`). That message -- not the tracks -- is then
rendered onto the frame with OpenCV the way Foxglove's Image panel draws it: LINE_LOOP as a
closed polygon, LINE_STRIP as an open polyline, LINE_LIST as separate segments, colours with
their alpha, each text with its bottom-left corner at its position on its background colour.

    .venv/bin/python scripts/readme_annotations.py         # writes docs/annotations.png
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from readme_png import write_png

from centertrack_ros.bags.foxglove_messages import image_annotations
from centertrack_ros.core.config import RuntimeConfig
from centertrack_ros.core.model_spec import ModelSpec, load_tracker
from centertrack_ros.runtime.annotations import (
    LINE_LIST,
    LINE_LOOP,
    LINE_STRIP,
    TrailState,
    frame_overlay,
)
from centertrack_ros.runtime.boxes import detection_boxes
from centertrack_ros.synthetic import SceneConfig, generate_sequence

HERSHEY_HEIGHT = 22.0  # pixels of FONT_HERSHEY_SIMPLEX at scale 1 (cap height plus baseline)


def _bgr(color) -> tuple[float, float, float]:
    return (color.b * 255.0, color.g * 255.0, color.r * 255.0)


def _blend(canvas: np.ndarray, layer: np.ndarray, mask: np.ndarray, alpha: float) -> None:
    """Blend ``layer`` into ``canvas`` with ``alpha`` where ``mask`` is set."""
    hit = mask > 0
    canvas[hit] = (canvas[hit] * (1.0 - alpha) + layer[hit] * alpha).astype(np.uint8)


def render(image: np.ndarray, msg, scale: float) -> np.ndarray:
    """Draw an ``ImageAnnotations`` message onto a BGR frame enlarged by ``scale``."""
    canvas = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    for points in msg.points:
        xy = np.array([[p.x * scale, p.y * scale] for p in points.points])
        layer, mask = np.zeros_like(canvas), np.zeros(canvas.shape[:2], np.uint8)
        thickness = max(1, int(round(points.thickness * scale)))
        pixels = np.round(xy).astype(np.int32)
        if points.type in (LINE_LOOP, LINE_STRIP):
            closed = points.type == LINE_LOOP
            cv2.polylines(layer, [pixels], closed, _bgr(points.outline_color), thickness,
                          cv2.LINE_AA)
            cv2.polylines(mask, [pixels], closed, 255, thickness, cv2.LINE_AA)
        elif points.type == LINE_LIST:
            for a, b in zip(pixels[0::2], pixels[1::2]):
                cv2.line(layer, tuple(a), tuple(b), _bgr(points.outline_color), thickness,
                         cv2.LINE_AA)
                cv2.line(mask, tuple(a), tuple(b), 255, thickness, cv2.LINE_AA)
        _blend(canvas, layer, mask, points.outline_color.a)
    for text in msg.texts:
        font_scale = text.font_size * scale / HERSHEY_HEIGHT
        (width, height), baseline = cv2.getTextSize(text.text, cv2.FONT_HERSHEY_SIMPLEX,
                                                    font_scale, 1)
        x, y = int(round(text.position.x * scale)), int(round(text.position.y * scale))
        cv2.rectangle(canvas, (x, y - height - baseline), (x + width, y),
                      _bgr(text.background_color), -1)
        cv2.putText(canvas, text.text, (x, y - baseline), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    _bgr(text.text_color), max(1, int(round(scale))), cv2.LINE_AA)
    return canvas


def main() -> None:
    """Track the drive and write the picture."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seed', type=int, default=7, help="scene seed (the demo's: 7)")
    parser.add_argument('--frame', type=int, default=133, help='0-based frame to show')
    parser.add_argument('--trail', type=int, default=30, help='trail length N')
    parser.add_argument('--scale', type=float, default=1.25, help='picture size / frame size')
    parser.add_argument('--output', default='docs/annotations.png')
    args = parser.parse_args()
    sequence = generate_sequence(SceneConfig(seed=args.seed))  # the whole drive: its schedule
    tracker = load_tracker(ModelSpec(), runtime=RuntimeConfig(device='cpu'))
    names = tracker.config.model.class_name
    trails = TrailState(args.trail)
    for index in range(args.frame + 1):
        image = sequence.image(index)
        tracks = tracker.step(image)
        boxes = detection_boxes(tracks, names)
        trails.observe(boxes, [t.track_id for t in tracks])
    stamp_ns = int(round(args.frame / sequence.config.fps * 1e9))
    overlay = frame_overlay(stamp_ns, boxes, trails, (image.shape[1], image.shape[0]), tracks)
    picture = render(image, image_annotations(overlay), args.scale)
    print(f'wrote {args.output}: {write_png(picture, args.output)}, {len(overlay.tracks)} tracks')


if __name__ == '__main__':
    main()
