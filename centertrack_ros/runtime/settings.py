"""The node's settings, free of ROS: names, types, defaults, validation, and what they mean.

The node declares them as ROS parameters (:mod:`centertrack_ros.ros.parameters`); the bag tool
reads the same names from a parameters file, so both run a model the same way. The names are a
public contract (launch files, YAML files and users' scripts depend on them). Each setting
states *when* a change takes effect:

- ``runtime``: applied between two frames while the node runs (tracker settings,
  ``max_frame_gap``);
- ``configure``: read on the next *configure* transition (model and device);
- ``activate``: read on the next *activate* transition (input topic type and QoS);
- ``startup``: read once when the process starts (read-only afterwards).

Model parameters default to "not specified" so that the checkpoint's own metadata, the preset
or what the weights reveal decides (see :mod:`centertrack_ros.core.model_spec`): empty strings,
``0``, ``auto`` for ``model.ltrb_amodal`` and, for the array parameters, no value at all (ROS
parameter files cannot express an empty list, so those are declared without a default).
The tracker thresholds use ``-1.0`` for "the model's value", ``tracker.association`` and
``tracker.motion`` an empty string.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..core.config import (
    ARCHITECTURES,
    ASSOCIATIONS,
    BACKBONES,
    ENGINES,
    MOTIONS,
    NECKS,
    ConfigError,
    RuntimeConfig,
    TrackerConfig,
    TrackerOverrides,
)
from ..core.device import cuda_device_count
from ..core.model_spec import ModelSpec
from ..core.presets import PRESETS
from .object_classes import parse_class_overrides

RUNTIME = 'runtime'
CONFIGURE = 'configure'
ACTIVATE = 'activate'
STARTUP = 'startup'
APPLIES_TEXT = {
    RUNTIME: 'changeable at runtime (applied before the next frame)',
    CONFIGURE: 'takes effect on the next configure transition',
    ACTIVATE: 'takes effect on the next activate transition',
    STARTUP: 'read at start-up only (read-only)',
}
# Value types (the node maps them onto rcl_interfaces/ParameterType).
STRING, INTEGER, DOUBLE, BOOL = 'string', 'integer', 'double', 'bool'
STRING_ARRAY, DOUBLE_ARRAY = 'string[]', 'double[]'
AUTO, BEST_EFFORT, RELIABLE = 'auto', 'best_effort', 'reliable'
RELIABILITIES = (AUTO, BEST_EFFORT, RELIABLE)
BATCH, INTERLEAVE = 'batch', 'interleave'
SCHEDULES = (AUTO, BATCH, INTERLEAVE)  # camera_schedule: how several cameras share the network
LTRB_AMODAL_VALUES = ('auto', 'true', 'false')
FROM_MODEL = -1.0  # tracker threshold value meaning "the model's own threshold"
# -1 already means "drop unmatched tracks at once" (the original's max_age), so "the model's own
# max_age" needs a value of its own.
MAX_AGE_FROM_MODEL = -2

Check = Callable[[Any], Optional[str]]


def _no_check(_value: Any) -> Optional[str]:
    return None


def _one_of(choices: tuple[str, ...], allow_empty: bool = True,
            empty: str = 'from the checkpoint') -> Check:
    def check(value: Any) -> Optional[str]:
        if (allow_empty and value == '') or value in choices:
            return None
        allowed = (f"'' ({empty}), " if allow_empty else '') + ', '.join(choices)
        return f'must be one of {allowed}; got {value!r}'
    return check


def _check_threshold(value: float) -> Optional[str]:
    if value == FROM_MODEL or 0.0 <= value <= 1.0:
        return None
    return f'must be in [0, 1] or -1 (the model\'s value); got {value}'


def _check_input_size(value: int) -> Optional[str]:
    if value == 0 or (value >= 32 and value % 32 == 0):
        return None
    return f'must be 0 (from the model) or a positive multiple of 32; got {value}'


def _check_stats(value: Any) -> Optional[str]:
    values = list(value)
    if len(values) != 3:
        return f'needs exactly 3 values (B, G, R); got {len(values)}'
    return None


def _check_std(value: Any) -> Optional[str]:
    problem = _check_stats(value)
    if problem is None and any(v <= 0 for v in value):
        return f'values must be > 0; got {list(value)}'
    return problem


def _check_class_names(value: Any) -> Optional[str]:
    if any(not name.strip() for name in value):
        return 'class names must not be empty'
    return None


def _check_ltrb_amodal(value: Any) -> Optional[str]:
    # An empty string means "from the checkpoint" like the other model strings.
    if isinstance(value, bool) or (isinstance(value, str) and
                                   value.strip().lower() in LTRB_AMODAL_VALUES + ('',)):
        return None
    return f'must be true, false or auto; got {value!r}'


def _check_device(value: str) -> Optional[str]:
    try:
        RuntimeConfig(device=value)
    except ConfigError as exc:
        return str(exc).removeprefix('device ')  # check_value names the parameter already
    return None


def _check_threads(value: int) -> Optional[str]:
    return None if value >= 0 else f'must be >= 0 (0 = the default); got {value}'


_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*$')


def _check_camera_names(value: Any) -> Optional[str]:
    names = list(value)
    bad = [name for name in names if not _NAME.match(name)]
    if bad:
        return (f'names must start with a letter and hold only letters, digits and '
                f'underscores (they become topic names); got {bad}')
    if len(set(names)) != len(names):
        return f'names must be unique; got {names}'
    return None


def camera_names(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the cameras the node serves: the ``cameras`` names, else one named ''."""
    return tuple(values['cameras'] or ('',))


def _check_max_age(value: int) -> Optional[str]:
    if value >= MAX_AGE_FROM_MODEL:
        return None
    return f"must be -2 (the model's value), -1 (drop at once) or >= 0; got {value}"


def _check_positive(value: float) -> Optional[str]:
    return None if value > 0 else f'must be > 0; got {value}'


def _check_class_map(value: Any) -> Optional[str]:
    try:
        parse_class_overrides(value)
    except ConfigError as exc:
        return str(exc)
    return None


def _check_non_negative(value: float) -> Optional[str]:
    return None if value >= 0 else f'must be >= 0 (0 = off); got {value}'


@dataclass(frozen=True)
class ParameterSpec:
    """One setting.

    Attributes:
        name: the parameter name (part of the public contract).
        type: the value type (``string``, ``integer``, ``double``, ``bool``, ``string[]``,
            ``double[]``).
        default: the default value; None declares the parameter without a value.
        description: what it does, shown by ``ros2 param describe``.
        applies: when a change takes effect (``runtime``, ``configure``, ``activate`` or
            ``startup``).
        check: returns why a value is invalid, or None when it is valid.
        float_range: ``(from, to)`` for a double.
        int_range: ``(from, to, step)`` for an integer.
        dynamic_typing: accept values of several types (validated by ``check``).

    """

    name: str
    type: str
    default: Any
    description: str
    applies: str
    check: Check = _no_check
    float_range: Optional[tuple[float, float]] = None
    int_range: Optional[tuple[int, int, int]] = None
    dynamic_typing: bool = False


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec('model.preset', STRING, '',
                  'Official model-zoo preset whose architecture, classes, input size and '
                  'thresholds apply to the checkpoint; empty = none. One of: '
                  + ', '.join(PRESETS), CONFIGURE, _one_of(tuple(PRESETS))),
    ParameterSpec('model.path', STRING, '',
                  'Checkpoint file (official CenterTrack format or ours); empty = the bundled '
                  'default model. "~" is expanded.', CONFIGURE),
    ParameterSpec('model.arch', STRING, '',
                  'Network architecture; empty = from the checkpoint. One of: '
                  + ', '.join(ARCHITECTURES), CONFIGURE, _one_of(ARCHITECTURES)),
    ParameterSpec('model.backbone', STRING, '',
                  'Backbone of the generic architecture; empty = from the checkpoint. One of: '
                  + ', '.join(BACKBONES), CONFIGURE, _one_of(BACKBONES)),
    ParameterSpec('model.neck', STRING, '',
                  'Neck of the generic architecture; empty = from the checkpoint. One of: '
                  + ', '.join(NECKS), CONFIGURE, _one_of(NECKS)),
    ParameterSpec('model.num_classes', INTEGER, 0,
                  'Number of classes of the heatmap head; 0 = from the checkpoint.', CONFIGURE,
                  int_range=(0, 1000, 1)),
    ParameterSpec('model.class_names', STRING_ARRAY, None,
                  'Class labels published as results[0].hypothesis.class_id, in class-id order; '
                  'unset = from the checkpoint or preset (else the class id as text).', CONFIGURE,
                  _check_class_names),
    ParameterSpec('model.ltrb_amodal', STRING, 'auto',
                  'Whether the network has the ltrb_amodal head (amodal boxes): true, false, or '
                  'auto (from the checkpoint). Booleans and the strings are both accepted.',
                  CONFIGURE, _check_ltrb_amodal, dynamic_typing=True),
    ParameterSpec('model.input_width', INTEGER, 0,
                  'Network input width in pixels (multiple of 32); 0 = from the checkpoint or '
                  'preset.', CONFIGURE, _check_input_size, int_range=(0, 8192, 32)),
    ParameterSpec('model.input_height', INTEGER, 0,
                  'Network input height in pixels (multiple of 32); 0 = from the checkpoint or '
                  'preset.', CONFIGURE, _check_input_size, int_range=(0, 8192, 32)),
    ParameterSpec('model.mean', DOUBLE_ARRAY, None,
                  'Normalisation mean, 3 values in B, G, R order on the 0..1 scale; unset = from '
                  'the checkpoint (else CenterNet\'s ImageNet values).', CONFIGURE, _check_stats),
    ParameterSpec('model.std', DOUBLE_ARRAY, None,
                  'Normalisation standard deviation, 3 values > 0 in B, G, R order; unset = from '
                  'the checkpoint (else CenterNet\'s ImageNet values).', CONFIGURE, _check_std),
    ParameterSpec('tracker.track_thresh', DOUBLE, FROM_MODEL,
                  'Score a detection needs to be output and tracked; -1 = the model\'s value '
                  '(checkpoint metadata or preset, else 0.4).', RUNTIME, _check_threshold,
                  float_range=(-1.0, 1.0)),
    ParameterSpec('tracker.pre_thresh', DOUBLE, FROM_MODEL,
                  'Score a track needs to be drawn into the prior heatmap of the next frame (never '
                  'below track_thresh); -1 = the model\'s value (else 0.5).', RUNTIME,
                  _check_threshold, float_range=(-1.0, 1.0)),
    ParameterSpec('tracker.new_thresh', DOUBLE, FROM_MODEL,
                  'Score an unmatched detection needs to start a new track (never below '
                  'track_thresh); -1 = the model\'s value (else 0.4).', RUNTIME, _check_threshold,
                  float_range=(-1.0, 1.0)),
    ParameterSpec('tracker.max_age', INTEGER, MAX_AGE_FROM_MODEL,
                  'Frames an unmatched track is kept (coasting, not published); -1 drops it at '
                  'once, as the original; -2 = the model\'s value (checkpoint metadata, else -1).',
                  RUNTIME, _check_max_age, int_range=(MAX_AGE_FROM_MODEL, 10000, 1)),
    ParameterSpec('tracker.hungarian', BOOL, False,
                  'Associate with the Hungarian algorithm instead of greedy matching (the '
                  'original\'s option): with association greedy the same as association '
                  'hungarian; with byte, both of its matching steps are optimal.', RUNTIME),
    ParameterSpec('tracker.pre_hm', BOOL, True,
                  'Feed the heatmap of the previous tracks to the network (when the model has '
                  'that input).', RUNTIME),
    ParameterSpec('tracker.association', STRING, '',
                  'How detections continue tracks: greedy (the original\'s default), hungarian '
                  '(optimal matching), or byte (ByteTrack\'s second association of the tracks '
                  'left unmatched with the detections between low_thresh and track_thresh, '
                  'which continue tracks but never start one); empty = the model\'s value '
                  '(else greedy). One of: ' + ', '.join(ASSOCIATIONS), RUNTIME,
                  _one_of(ASSOCIATIONS, empty="the model's value")),
    ParameterSpec('tracker.low_thresh', DOUBLE, FROM_MODEL,
                  'association byte: score a detection needs to continue a track in the second '
                  'association (never above track_thresh); -1 = the model\'s value (else 0.1).',
                  RUNTIME, _check_threshold, float_range=(-1.0, 1.0)),
    ParameterSpec('tracker.motion', STRING, '',
                  'Where a coasting track (see max_age) is looked for: none (where it was last '
                  'seen, as the original) or velocity (moved on with the smoothed velocity of '
                  'its box centre); empty = the model\'s value (else none). One of: '
                  + ', '.join(MOTIONS), RUNTIME, _one_of(MOTIONS, empty="the model's value")),
    ParameterSpec('tracker.prior_lost', BOOL, False,
                  'Also draw coasting tracks, where they are expected, into the prior heatmap of '
                  'the next frame (the original draws matched tracks only).', RUNTIME),
    ParameterSpec('device', STRING, 'auto',
                  'Where to run the network: auto (CUDA when available, else CPU with a '
                  'warning), cpu, cuda or cuda:N (fails when CUDA is unavailable).', CONFIGURE,
                  _check_device),
    ParameterSpec('engine', STRING, 'auto',
                  'Inference engine: auto (onnxruntime on the CPU, exporting the network once to '
                  'a cache; the torch fast path on CUDA), onnxruntime (CPU, CUDA or TensorRT '
                  'provider), torch, or reference (the original\'s arithmetic). An engine named '
                  'here that cannot run the model fails configure; auto falls back with a '
                  'warning.', CONFIGURE, _one_of(ENGINES, allow_empty=False)),
    ParameterSpec('threads', INTEGER, 0,
                  'CPU threads of the network; 0 = the default (OMP_NUM_THREADS, else the '
                  'cores; with several cameras in camera_lanes on the CPU, the cores shared '
                  'among the lanes).', CONFIGURE, _check_threads, int_range=(0, 256, 1)),
    ParameterSpec('half', BOOL, False,
                  'Run the network in fp16 on CUDA: the fast path, detections within fp16 '
                  'error of float32. Ignored on the CPU. false = IEEE float32 (TF32 off), as '
                  'the official outputs.', CONFIGURE),
    ParameterSpec('use_compressed', BOOL, False,
                  'Subscribe to image/compressed (sensor_msgs/CompressedImage, JPEG/PNG) instead '
                  'of image (sensor_msgs/Image).', ACTIVATE),
    ParameterSpec('qos.reliability', STRING, 'auto',
                  'Reliability of the image subscription: auto (reliable when every publisher '
                  'of the topic offers reliable, else best effort; follows publishers that come '
                  'later), best_effort (matches every publisher, loses large frames between '
                  'processes without a DDS profile) or reliable (only matches reliable '
                  'publishers).', ACTIVATE, _one_of(RELIABILITIES, allow_empty=False)),
    ParameterSpec('camera_info.matrix', STRING, 'p',
                  'For models with 3D heads: the CameraInfo matrix that describes the images: '
                  'p (rectified images, image_rect) or k (raw images; lens distortion is then '
                  'ignored).', ACTIVATE, _one_of(('p', 'k'), allow_empty=False)),
    ParameterSpec('qos.depth', INTEGER, 5,
                  'History depth of the image subscription; the node always processes only the '
                  'newest frame.', ACTIVATE, int_range=(1, 1000, 1)),
    ParameterSpec('max_frame_gap', DOUBLE, 0.0,
                  'Reset the tracks when consecutive frame stamps are more than this many '
                  'seconds apart; 0 = off. (Stamps going backwards always reset.)', RUNTIME,
                  _check_non_negative, float_range=(0.0, 3600.0)),
    ParameterSpec('cameras', STRING_ARRAY, None,
                  'Camera names for one node serving several cameras: each subscribes '
                  '<name>/image and publishes <name>/detections, with its own tracks and '
                  'statistics; one model, batched network calls, ids unique across cameras. '
                  'Unset = one camera on image/detections.', STARTUP, _check_camera_names),
    ParameterSpec('camera_schedule', STRING, AUTO,
                  'With several cameras, how they share the network: batch (every waiting '
                  'camera\'s newest frame in one network call; a frame waits at most for the '
                  'call in progress; pays where a batch costs little more than one frame, on a '
                  'GPU), interleave (one camera per call, the camera that has waited longest '
                  'first, each with its newest frame; pays where a batch of N costs N frames, '
                  'on a CPU) or auto (batch on CUDA, interleave on the CPU).', ACTIVATE,
                  _one_of(SCHEDULES, allow_empty=False)),
    ParameterSpec('camera_lanes', INTEGER, 0,
                  'With several cameras and camera_schedule interleave, on an engine that can '
                  'run networks side by side (onnxruntime on the CPU): how many frames of '
                  'different cameras are processed at once; 0 = one per CPU core, at most the '
                  'cameras; 1 = one frame at a time.', ACTIVATE, int_range=(0, 64, 1)),
    ParameterSpec('batch_wait_ms', DOUBLE, 0.0,
                  'With several cameras and camera_schedule batch: how long the worker waits, '
                  'once one camera has a new frame, for the others before running a partial '
                  'batch (ms); 0 = never waits.',
                  RUNTIME, _check_non_negative, float_range=(0.0, 1000.0)),
    ParameterSpec('autoware.enabled', BOOL, False,
                  'Publish autoware_perception_msgs objects (objects: TrackedObjects, '
                  'detected_objects: DetectedObjects) with UUIDs, velocities and covariances, '
                  'for Autoware planners and its multi_object_tracker; needs a model with 3D '
                  'heads and camera_info (configure fails for a 2D model).', CONFIGURE),
    ParameterSpec('autoware.class_map', STRING_ARRAY, None,
                  'Overrides of the class-name to Autoware-label map as "name:LABEL" entries '
                  '(e.g. "van:CAR"); unset = car, truck, bus, trailer, motorcycle, bicycle, '
                  'pedestrian by name, every other class UNKNOWN.', CONFIGURE, _check_class_map),
    ParameterSpec('autoware.velocity_window', DOUBLE, 1.0,
                  'Seconds of a track\'s 3D centres its velocity (twist) is fitted over.',
                  CONFIGURE, _check_positive, float_range=(0.0, 60.0)),
    ParameterSpec('autoware.pixel_sigma', DOUBLE, 4.0,
                  'Standard deviation (pixels) of a box centre in the image: the lateral part '
                  'of the position covariance (grows with depth).', CONFIGURE, _check_positive,
                  float_range=(0.0, 1000.0)),
    ParameterSpec('autoware.depth_sigma_base', DOUBLE, 0.5,
                  'Standard deviation of monocular depth (m) at zero distance; the depth '
                  'sigma is base + ratio x depth.', CONFIGURE, _check_non_negative,
                  float_range=(0.0, 100.0)),
    ParameterSpec('autoware.depth_sigma_ratio', DOUBLE, 0.1,
                  'Growth of the depth standard deviation with the distance (fraction of the '
                  'depth).', CONFIGURE, _check_non_negative, float_range=(0.0, 10.0)),
    ParameterSpec('autoware.yaw_sigma', DOUBLE, 0.3,
                  'Standard deviation (rad) of the heading.', CONFIGURE, _check_non_negative,
                  float_range=(0.0, 10.0)),
    ParameterSpec('autoware.uuid_instance', STRING, '',
                  'Mixed into every object UUID besides the node name, camera and track id; set '
                  'it (e.g. to a start time) when a restarted node must not repeat the UUIDs of '
                  'its previous run. Empty = UUIDs reproducible across runs and bag replays.',
                  CONFIGURE),
    ParameterSpec('annotations.trail_length', INTEGER, 30,
                  'Box centres in the trail of each track in annotations '
                  '(foxglove_msgs/ImageAnnotations; built only while subscribed).', CONFIGURE,
                  int_range=(0, 10000, 1)),
    ParameterSpec('autostart', BOOL, True,
                  'Configure and activate by itself at start-up, so that a plain run just works; '
                  'false waits for lifecycle transitions.', STARTUP),
)
SPECS: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETERS}


def check_value(name: str, value: Any) -> Optional[str]:
    """Return why ``value`` is invalid for parameter ``name``, or None when it is valid."""
    spec = SPECS.get(name)
    if spec is None:
        return f'{name} is not a parameter of this node'
    if value is None:
        return None
    problem = spec.check(value)
    return None if problem is None else f'{name} {problem}'


def check_all(values: Mapping[str, Any]) -> Optional[str]:
    """Return the first problem in a full set of values (also across settings), or None."""
    for name, value in values.items():
        problem = check_value(name, value)
        if problem:
            return problem
    try:
        tracker_overrides(values).apply(TrackerConfig())
        runtime_config(values)
    except ConfigError as exc:
        return str(exc)
    return None


def defaults() -> dict[str, Any]:
    """Every setting at its default (None for array settings without one)."""
    return {spec.name: spec.default for spec in PARAMETERS}


def ltrb_amodal(value: Any) -> Optional[bool]:
    """Map the tri-state ``model.ltrb_amodal`` to None (from the checkpoint), True or False."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return None if text in ('', 'auto') else text == 'true'


def model_spec(values: Mapping[str, Any]) -> ModelSpec:
    """Return the :class:`ModelSpec` the ``model.*`` parameters describe."""
    return ModelSpec(
        path=values['model.path'],
        preset=values['model.preset'],
        arch=values['model.arch'],
        backbone=values['model.backbone'],
        neck=values['model.neck'],
        num_classes=int(values['model.num_classes']),
        class_names=tuple(values['model.class_names'] or ()),
        ltrb_amodal=ltrb_amodal(values['model.ltrb_amodal']),
        input_width=int(values['model.input_width']),
        input_height=int(values['model.input_height']),
        mean=tuple(values['model.mean'] or ()),
        std=tuple(values['model.std'] or ()),
    )


def tracker_overrides(values: Mapping[str, Any]) -> TrackerOverrides:
    """Return the tracker settings the ``tracker.*`` values set on top of the model's own.

    ``-1`` thresholds, ``max_age`` ``-2`` and an empty ``association`` or ``motion`` leave the
    model's value.
    """
    max_age = int(values['tracker.max_age'])

    def threshold(name: str) -> Optional[float]:
        value = float(values[f'tracker.{name}'])
        return None if value == FROM_MODEL else value

    def choice(name: str) -> Optional[str]:
        return str(values[f'tracker.{name}']) or None

    return TrackerOverrides(
        hungarian=bool(values['tracker.hungarian']),
        pre_hm=bool(values['tracker.pre_hm']),
        prior_lost=bool(values['tracker.prior_lost']),
        max_age=None if max_age == MAX_AGE_FROM_MODEL else max_age,
        track_thresh=threshold('track_thresh'), pre_thresh=threshold('pre_thresh'),
        new_thresh=threshold('new_thresh'), low_thresh=threshold('low_thresh'),
        association=choice('association'), motion=choice('motion'))


def runtime_config(values: Mapping[str, Any]) -> RuntimeConfig:
    """Return the :class:`RuntimeConfig` of ``device``, ``engine``, ``threads`` and ``half``.

    ``threads`` 0 stays the default, except for cameras interleaved in lanes on the CPU
    (:func:`network_threads`).
    """
    return RuntimeConfig(device=values['device'], half=bool(values['half']),
                         engine=values['engine'], threads=network_threads(values))


def usable_cores() -> int:
    """Return the CPU cores this process may run on (a container or ``taskset`` may limit them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity
        return os.cpu_count() or 1


def camera_lanes(setting: int, cameras: int, cores: int) -> int:
    """Return how many frames of distinct cameras are processed at once (``camera_lanes``).

    ``setting`` 0 means one per core; never more than the cameras, at least one.
    """
    if cameras < 2:
        return 1
    return max(1, min(setting if setting > 0 else cores, cameras))


def network_threads(values: Mapping[str, Any]) -> int:
    """Return the CPU threads of the network: ``threads``, or the cores shared among lanes.

    With ``threads`` 0, several cameras interleaved (``camera_schedule`` auto or interleave)
    on ONNX Runtime (engine auto or onnxruntime) on the CPU, the lanes split the cores: two
    networks side by side on one core each get more out of a small CPU than one network at a
    time on both (measured on 2 cores; see the README's *Several cameras*). Everything else
    keeps 0 (the default: ``OMP_NUM_THREADS``, else the cores).
    """
    threads = int(values['threads'])
    cameras = len(camera_names(values))
    if (threads or cameras < 2 or values['camera_schedule'] == BATCH
            or values['engine'] not in (AUTO, 'onnxruntime') or not _on_the_cpu(values)):
        return threads
    cores = usable_cores()
    lanes = camera_lanes(int(values['camera_lanes']), cameras, cores)
    return max(1, cores // lanes) if lanes > 1 else threads


def _on_the_cpu(values: Mapping[str, Any]) -> bool:
    # What device 'auto' will be, without loading anything: CUDA when a driver sees a device.
    device = str(values['device'])
    return device == 'cpu' or (device == AUTO and cuda_device_count() == 0)


def applies(name: str) -> str:
    """Return when a change of ``name`` takes effect (``runtime``, ``configure``, ...)."""
    return SPECS[name].applies
