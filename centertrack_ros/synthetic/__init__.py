"""Procedural driving-like camera sequences with exact ground truth.

The generator exists because no real tracking data can be downloaded where this package is
built: it trains the bundled model, drives the demo and lets the tests measure tracking quality.

A sequence is a pinhole camera at a fixed height looking down a straight road, with cars and
pedestrians planned in world coordinates and projected into the image. Modules, in the order a
sequence is made:

- :mod:`.config`: :class:`SceneConfig`, the object classes;
- :mod:`.layout`: camera and road geometry, the projection;
- :mod:`.style`, :mod:`.background`: the look of the scene and its static background;
- :mod:`.camera`: shake, exposure drift and sensor noise;
- :mod:`.traffic` (with :mod:`.sprites`): which objects appear, how they move and look;
- :mod:`.roadside`: poles and trees that scroll past;
- :mod:`.render`, :mod:`.ground_truth`: one frame's image and its ground truth;
- :mod:`.sequence`: :func:`generate_sequence` and :class:`SyntheticSequence`, the entry points.

:mod:`.drawing` holds the polygon and colour primitives the rendering modules share.
"""

from .config import CAR, CLASS_NAMES, MIN_OBJECT_PIXELS, PEDESTRIAN, SceneConfig
from .ground_truth import GroundTruthObject
from .sequence import SyntheticSequence, generate_sequence

__all__ = [
    'CAR', 'CLASS_NAMES', 'MIN_OBJECT_PIXELS', 'PEDESTRIAN', 'GroundTruthObject', 'SceneConfig',
    'SyntheticSequence', 'generate_sequence',
]
