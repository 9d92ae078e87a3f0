"""Turning what a user asks for (path, preset, overrides) into a loaded tracker.

Resolution order: explicit override > preset > what the weights themselves reveal
(architecture, class count, heads, previous-frame inputs -- the weights cannot be wrong about
their own shape) > the metadata our own checkpoints carry (class names when their count fits,
input size, normalisation, tracker thresholds) > library defaults. The ROS node and every tool
go through :func:`load_tracker` so a model behaves the same everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    infer_model_config,
    load_state_dict_strict,
    read_checkpoint,
    save_checkpoint,
)
from .config import (
    CenterTrackConfig,
    ConfigError,
    InputConfig,
    ModelConfig,
    RuntimeConfig,
    TrackerConfig,
    TrackerOverrides,
)
from .models.networks import build_network
from .onnx_model import graph_input_size, read_metadata
from .pipeline import CenterTracker, MultiCameraTracker
from .presets import preset as named_preset

METADATA_KEY = 'centertrack_ros'
DEFAULT_MODEL_FILE = 'centertrack_synthetic.pth'


@dataclass(frozen=True)
class ModelSpec:
    """A user's description of the model; empty/zero fields mean "not specified"."""

    path: str = ''
    preset: str = ''
    arch: str = ''
    backbone: str = ''
    neck: str = ''
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    ltrb_amodal: Optional[bool] = None
    input_width: int = 0
    input_height: int = 0
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


def default_model_path() -> str:
    """Path of the bundled default model (installed share dir, else the source tree)."""
    candidates = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            candidates.append(Path(get_package_share_directory('centertrack_ros')) / 'models')
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH at all
            pass
    except ImportError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / 'models')
    for directory in candidates:
        if (directory / DEFAULT_MODEL_FILE).is_file():
            return str(directory / DEFAULT_MODEL_FILE)
    searched = ', '.join(str(d) for d in candidates)
    raise CheckpointError(f'bundled default model {DEFAULT_MODEL_FILE} not found (looked in '
                          f'{searched}); set model.path to a checkpoint')


def config_metadata(config: CenterTrackConfig) -> dict[str, Any]:
    """Return the self-description stored in our checkpoints (model, input, tracker)."""
    return config.describe()


def save_model(path: str | os.PathLike, network: nn.Module, config: CenterTrackConfig,
               epoch: int = 0, *, optimizer: Optional[torch.optim.Optimizer] = None,
               half: bool = False, metadata: Optional[Mapping[str, Any]] = None) -> None:
    """Save ``network`` as an official checkpoint that carries our metadata for ``config``.

    The file is the official layout (``epoch``, ``state_dict``, ``optimizer`` when given; see
    :func:`~centertrack_ros.core.checkpoint.save_checkpoint`, also for ``half``) plus
    ``{METADATA_KEY: ...}``: :func:`config_metadata` of ``config``, after the entries of
    ``metadata`` (e.g. the trainer's ``training`` record, or the metadata of the checkpoint a
    copy is made of), whose ``model``/``input``/``tracker`` sections ``config`` replaces.
    """
    meta = dict(metadata or {})
    meta.update(config_metadata(config))
    save_checkpoint(os.fspath(path), network, epoch, optimizer, half=half,
                    extra={METADATA_KEY: meta})


def _metadata_config(checkpoint: Checkpoint) -> Optional[CenterTrackConfig]:
    return config_from_metadata((checkpoint.extra or {}).get(METADATA_KEY))


def config_from_metadata(data: Any) -> Optional[CenterTrackConfig]:
    """Rebuild the configuration :func:`config_metadata` stored (None for no metadata).

    Raises:
        CheckpointError: the metadata does not describe a valid configuration.

    """
    if not isinstance(data, Mapping):
        return None
    try:
        model = dict(data.get('model', {}))
        model['class_names'] = tuple(model.get('class_names', ()))
        inp = dict(data.get('input', {}))
        for key in ('mean', 'std'):
            if key in inp:
                inp[key] = tuple(inp[key])
        return CenterTrackConfig(model=ModelConfig(**model), input=InputConfig(**inp),
                                 tracker=TrackerConfig(**data.get('tracker', {})))
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f'checkpoint metadata is invalid: {exc}') from exc


def _overrides(spec: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    model: dict[str, Any] = {}
    for name in ('arch', 'backbone', 'neck'):
        if getattr(spec, name):
            model[name] = getattr(spec, name)
    if spec.num_classes:
        model['num_classes'] = spec.num_classes
    if spec.class_names:
        model['class_names'] = tuple(spec.class_names)
    if spec.ltrb_amodal is not None:
        model['ltrb_amodal'] = spec.ltrb_amodal
    inp: dict[str, Any] = {}
    if spec.input_width:
        inp['width'] = spec.input_width
    if spec.input_height:
        inp['height'] = spec.input_height
    if spec.mean:
        inp['mean'] = tuple(spec.mean)
    if spec.std:
        inp['std'] = tuple(spec.std)
    return model, inp


def model_config(spec: ModelSpec, checkpoint: Optional[Checkpoint],
                 runtime: Optional[RuntimeConfig] = None,
                 metadata: Optional[CenterTrackConfig] = None) -> CenterTrackConfig:
    """Return the configuration ``checkpoint`` under ``spec`` describes (module doc).

    Its tracker section is the model's own: the preset's, our metadata's, else the defaults.
    Without a checkpoint (an exported ONNX file) nothing is read from weights and
    ``metadata`` stands for what the file carries.
    """
    base = _metadata_config(checkpoint) if checkpoint is not None else metadata
    if spec.preset:
        base = named_preset(spec.preset)
    if base is None:
        base = CenterTrackConfig()
    model_overrides, input_overrides = _overrides(spec)
    try:  # ConfigError (a ValueError) propagates with its own precise message
        explicit_arch = {k: v for k, v in model_overrides.items()
                         if k in ('arch', 'backbone', 'neck')}
        model = replace(base.model, **explicit_arch) if explicit_arch else base.model
        if not spec.preset and checkpoint is not None:
            model = infer_model_config(checkpoint.state_dict, model)
        overrides = dict(model_overrides)
        if 'num_classes' in overrides and 'class_names' not in overrides and \
                len(model.class_names) != overrides['num_classes']:
            overrides['class_names'] = ()
        if 'class_names' in overrides and 'num_classes' not in overrides:
            overrides['num_classes'] = len(overrides['class_names'])
        model = replace(model, **overrides)
        inp = replace(base.input, **input_overrides)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    return CenterTrackConfig(model=model, input=inp, tracker=base.tracker,
                             runtime=runtime or RuntimeConfig())


def resolve_config(spec: ModelSpec, checkpoint: Checkpoint,
                   overrides: TrackerOverrides = TrackerOverrides(),
                   runtime: Optional[RuntimeConfig] = None) -> CenterTrackConfig:
    """Return the configuration to run: the model's (:func:`model_config`) with ``overrides``."""
    config = model_config(spec, checkpoint, runtime)
    return config.replace(tracker=overrides.apply(config.tracker))


def model_path(spec: ModelSpec) -> str:
    """Return the checkpoint file ``spec`` names, ``~`` expanded, or the bundled model's."""
    return os.path.expanduser(spec.path) if spec.path else default_model_path()


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready to run: its network (or exported file) and its configuration.

    ``config.tracker`` is the model's own tracker settings (before any overrides).
    ``network`` is None for an exported ONNX file (``onnx_path``), which only the onnxruntime
    engine runs.
    """

    network: Optional[nn.Module]
    config: CenterTrackConfig
    path: str
    onnx_path: Optional[Path] = None

    def tracker(self, overrides: TrackerOverrides = TrackerOverrides(),
                num_cameras: Optional[int] = None, engine: Optional[str] = None,
                shared_ids: bool = False) -> Any:
        """Return a :class:`CenterTracker`, or with ``num_cameras`` a MultiCameraTracker.

        ``engine`` defaults to the configuration's (``config.runtime.engine``);
        ``shared_ids`` numbers all cameras' tracks from one counter.
        """
        config = self.config.replace(tracker=overrides.apply(self.config.tracker))
        if num_cameras is None:
            return CenterTracker(self.network, config, engine, self.config.tracker,
                                 self.onnx_path)
        return MultiCameraTracker(self.network, config, num_cameras, engine, self.config.tracker,
                                  self.onnx_path, shared_ids)


def _load_onnx(spec: ModelSpec, path: str, runtime: Optional[RuntimeConfig]) -> LoadedModel:
    """Describe an exported network from its metadata (or the preset and parameters)."""
    try:
        stored = read_metadata(path)
        width, height = graph_input_size(path)
    except Exception as exc:  # onnx raises DecodeError and friends on a damaged file
        raise CheckpointError(f'cannot read ONNX file {path}: {type(exc).__name__}: '
                              f'{exc}') from exc
    metadata = config_from_metadata(stored)
    if metadata is None and not spec.preset and not spec.arch:
        raise CheckpointError(f'{path} carries no centertrack_ros metadata (it was not written '
                              'by centertrack_export); give model.preset or model.arch, '
                              'model.num_classes and the input size')
    config = model_config(spec, None, runtime, metadata)
    if (config.input.width, config.input.height) != (width, height):
        raise CheckpointError(f'{path} takes {width}x{height} inputs, but the configuration '
                              f'says {config.input.width}x{config.input.height} (the input '
                              'size of an exported file is fixed: export again to change it)')
    return LoadedModel(None, config, path, Path(path))


def load_model(spec: ModelSpec, runtime: Optional[RuntimeConfig] = None) -> LoadedModel:
    """Read the checkpoint ``spec`` names (or the bundled default), build and load the network.

    A path ending in ``.onnx`` names a network exported by ``centertrack_export``.

    Raises:
        CheckpointError: the file is missing, unreadable or does not fit the configuration.
        ConfigError: the resulting configuration is invalid.

    """
    path = model_path(spec)
    if path.lower().endswith('.onnx'):
        if not os.path.isfile(path):
            raise CheckpointError(f'ONNX file not found: {path}')
        return _load_onnx(spec, path, runtime)
    checkpoint = read_checkpoint(path)
    config = model_config(spec, checkpoint, runtime)
    network = build_network(config.model)
    load_state_dict_strict(network, checkpoint.state_dict, config.model, source=path)
    return LoadedModel(network.eval(), config, path)


def load_tracker(spec: ModelSpec, overrides: TrackerOverrides = TrackerOverrides(),
                 runtime: Optional[RuntimeConfig] = None) -> CenterTracker:
    """Load the model ``spec`` names and return a one-camera tracker running it.

    The tracker runs the model's tracker settings with ``overrides`` applied, and remembers
    the model's own (:meth:`CenterTracker.apply_overrides` starts from them again).

    Raises:
        CheckpointError: the file is missing, unreadable or does not fit the configuration.
        ConfigError: the resulting configuration is invalid.
        DeviceError: the requested device cannot be used.

    """
    return load_model(spec, runtime).tracker(overrides)
