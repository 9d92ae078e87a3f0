"""Named configurations for the official CenterTrack model-zoo checkpoints.

Each preset reproduces the settings of the corresponding official experiment script (training
options that shape the network, and the test-time thresholds the authors used), so that a
downloaded checkpoint plus its preset name is all a user has to supply.
"""

from __future__ import annotations

from dataclasses import replace

from .config import CenterTrackConfig, InputConfig, ModelConfig, TrackerConfig

COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
    'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book',
    'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
)
KITTI_CLASSES = ('Pedestrian', 'Car', 'Cyclist')
NUSCENES_CLASSES = ('car', 'truck', 'bus', 'trailer', 'construction_vehicle', 'pedestrian',
                    'motorcycle', 'bicycle', 'traffic_cone', 'barrier')

_MOT_MODEL = ModelConfig(arch='dla_34', num_classes=1, class_names=('person',), ltrb_amodal=True)
_MOT_INPUT = InputConfig(width=960, height=544)
_MOT_TRACKER = TrackerConfig(track_thresh=0.4, pre_thresh=0.5, new_thresh=0.4)

_KITTI_MODEL = ModelConfig(arch='dla_34', num_classes=3, class_names=KITTI_CLASSES)
_KITTI_INPUT = InputConfig(width=1280, height=384)
_KITTI_TRACKER = TrackerConfig(track_thresh=0.4, pre_thresh=0.4, new_thresh=0.4)

# experiments/nuScenes_3Dtracking.sh tests with ``--track_thresh 0.1``; the option parser raises
# pre_thresh and out_thresh to it and new_thresh keeps its default 0.3.
_NUSCENES_3D = CenterTrackConfig(
    model=ModelConfig(arch='dla_34', num_classes=10, class_names=NUSCENES_CLASSES, ddd=True),
    input=InputConfig(width=800, height=448),
    tracker=TrackerConfig(track_thresh=0.1, pre_thresh=0.1, new_thresh=0.3, out_thresh=0.1),
)

PRESETS: dict[str, CenterTrackConfig] = {
    'coco_tracking': CenterTrackConfig(
        model=ModelConfig(arch='dla_34', num_classes=80, class_names=COCO_CLASSES),
        input=InputConfig(width=512, height=512),
        tracker=TrackerConfig(track_thresh=0.3, pre_thresh=0.3, new_thresh=0.3),
    ),
    'crowdhuman': CenterTrackConfig(model=_MOT_MODEL, input=_MOT_INPUT, tracker=_MOT_TRACKER),
    'mot17_half': CenterTrackConfig(model=_MOT_MODEL, input=_MOT_INPUT, tracker=_MOT_TRACKER),
    'mot17_half_sc': CenterTrackConfig(model=_MOT_MODEL, input=_MOT_INPUT, tracker=_MOT_TRACKER),
    'mot17_fulltrain': CenterTrackConfig(
        model=_MOT_MODEL, input=_MOT_INPUT, tracker=_MOT_TRACKER),
    'mot17_fulltrain_sc': CenterTrackConfig(
        model=_MOT_MODEL, input=_MOT_INPUT, tracker=_MOT_TRACKER),
    'kitti_half': CenterTrackConfig(
        model=_KITTI_MODEL, input=_KITTI_INPUT, tracker=_KITTI_TRACKER),
    'kitti_half_sc': CenterTrackConfig(
        model=_KITTI_MODEL, input=_KITTI_INPUT, tracker=replace(_KITTI_TRACKER, pre_thresh=0.5)),
    'kitti_fulltrain': CenterTrackConfig(
        model=_KITTI_MODEL, input=_KITTI_INPUT, tracker=_KITTI_TRACKER),
    'nuscenes_3d': _NUSCENES_3D,
}


def preset(name: str) -> CenterTrackConfig:
    """Return the configuration of an official model-zoo checkpoint by name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f'unknown preset {name!r}; known presets: {", ".join(PRESETS)}') from None
