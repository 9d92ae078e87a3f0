"""Turning what a user asks for (path, preset, overrides) into a loaded tracker.

Resolution order: explicit override > preset > what the weights themselves reveal
(architecture, class count, heads, previous-frame inputs -- the weights cannot be wrong about
their own shape) > the metadata our own checkpoints carry (class names when their count fits,
input size, normalisation, tracker thresholds) > library defaults. The ROS node and every tool
go through :func:`load_tracker` so a model behaves the same everywhere.

An exported ``.onnx`` model is described by the metadata it carries
(:mod:`~centertrack_ros.core.onnx_file`) and loads without importing torch; the file's
graph (inputs, heads, class count, input size) is checked against that description.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .checkpoint import (
    Checkpoint,
    CheckpointError,
    infer_model_config,
    load_state_dict_strict,
    read_checkpoint,
    recognise_model_file,
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
from .onnx_file import INPUT_NAMES, OnnxInfo, check_format, inspect_onnx, writer_of
from .pipeline import CenterTracker, MultiCameraTracker
from .presets import preset as named_preset

if TYPE_CHECKING:  # torch is imported where a network is built or a checkpoint read
    import torch
    from torch import nn

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


def config_from_metadata(data: Any, source: str = 'checkpoint') -> Optional[CenterTrackConfig]:
    """Rebuild the configuration :func:`config_metadata` stored (None for no metadata).

    Reads every metadata format up to :data:`~.onnx_file.METADATA_FORMAT` (format 1 -- no
    ``format`` key, no versions -- included). ``source`` names the file in messages.

    Raises:
        CheckpointError: the metadata is of a newer format, has settings this version does
            not know (a newer writer), or does not describe a valid configuration.

    """
    if not isinstance(data, Mapping):
        return None
    check_format(data, source)
    sections = {'model': ModelConfig, 'input': InputConfig, 'tracker': TrackerConfig}
    unknown = [f'{name}.{key}' for name, kind in sections.items()
               for key in _section(data, name, source)
               if key not in {f.name for f in fields(kind)}]
    if unknown:
        raise CheckpointError(f'{source} metadata is invalid: settings this version does not '
                              f'know ({", ".join(sorted(unknown))}); it was written by '
                              f'{writer_of(data)}: upgrade centertrack_ros, or save/export the '
                              'model with this version')
    try:
        model = dict(_section(data, 'model', source))
        model['class_names'] = tuple(model.get('class_names', ()))
        inp = dict(_section(data, 'input', source))
        for key in ('mean', 'std'):
            if key in inp:
                inp[key] = tuple(inp[key])
        return CenterTrackConfig(model=ModelConfig(**model), input=InputConfig(**inp),
                                 tracker=TrackerConfig(**_section(data, 'tracker', source)))
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f'{source} metadata is invalid: {exc}') from exc


def _section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, Mapping):
        raise CheckpointError(f'{source} metadata is invalid: its {name} section is a '
                              f'{type(section).__name__}, not a mapping')
    return section


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
    engine runs; ``metadata`` is then what the file stored about itself (None for a foreign
    file), e.g. ``metadata['versions']``, the versions that wrote it.
    """

    network: Optional[nn.Module]
    config: CenterTrackConfig
    path: str
    onnx_path: Optional[Path] = None
    metadata: Optional[Mapping[str, Any]] = None

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
    """Describe an exported network from its metadata (or the preset and parameters).

    Reads the file's header once (:func:`~.onnx_file.inspect_onnx`: no torch, no ``onnx``,
    no weights). The graph fixes the input size, which a foreign file's description need
    not repeat; everything else the graph shows (inputs, heads, class count) must fit.
    """
    info = inspect_onnx(path)
    stored = info.metadata()
    width, height = info.input_size()
    metadata = config_from_metadata(stored, path)
    if metadata is None and not spec.preset and not spec.arch:
        hm = next((o for o in info.outputs if o.name == 'hm'), None)
        classes = f', {hm.fixed[1]} classes' if hm is not None and len(hm.shape) == 4 and \
            hm.fixed[1] else ''
        raise CheckpointError(f'{path} carries no centertrack_ros metadata (it was not written '
                              'by centertrack_export); describe it with model.preset, or with '
                              'model.arch and model.num_classes (and model.class_names, '
                              f'model.mean/std where not the defaults; its graph: {width}x'
                              f'{height} input{classes})')
    if metadata is None and not (spec.input_width or spec.input_height):
        spec = replace(spec, input_width=width, input_height=height)
    config = model_config(spec, None, runtime, metadata)
    if (config.input.width, config.input.height) != (width, height):
        raise CheckpointError(f'{path} takes {width}x{height} inputs, but the configuration '
                              f'says {config.input.width}x{config.input.height} (the input '
                              'size of an exported file is fixed: export again to change it)')
    _check_graph(info, config.model)
    return LoadedModel(None, config, path, Path(path), stored)


def _check_graph(info: OnnxInfo, model: ModelConfig) -> None:
    """Refuse a graph whose inputs or heads do not fit ``model`` (a wrong description).

    Raises:
        CheckpointError: naming the first difference and the setting that would fit.

    """
    inputs = [value.name for value in info.inputs]
    foreign = [name for name in inputs if name not in INPUT_NAMES]
    if foreign:
        raise CheckpointError(f'{info.path} has inputs a CenterTrack network export does not '
                              f'have ({", ".join(foreign)}); expected {", ".join(INPUT_NAMES)}')
    for name, setting, wanted in (('pre_image', 'pre_img', model.pre_img),
                                  ('pre_hm', 'pre_hm', model.pre_hm)):
        if (name in inputs) != wanted:
            raise CheckpointError(f'{info.path} {"has" if name in inputs else "lacks"} the '
                                  f'{name} input, but model.{setting} is {wanted}')
    outputs = {value.name: value for value in info.outputs}
    heads = model.heads
    missing = [name for name in heads if name not in outputs]
    extra = [name for name in outputs if name not in heads]
    if missing or extra:
        raise CheckpointError(f'{info.path} has the heads {", ".join(outputs)}, but the '
                              f'configured model has {", ".join(heads)} (ltrb_amodal='
                              f'{model.ltrb_amodal}, ddd={model.ddd})')
    channels = outputs['hm'].fixed[1] if len(outputs['hm'].shape) == 4 else None
    if channels is not None and channels != model.num_classes:
        raise CheckpointError(f'{info.path} scores {channels} classes (its hm head), but '
                              f'model.num_classes is {model.num_classes}')


def check_model_file(path: str) -> None:
    """Refuse at once a model file that cannot load, reading no weights (cheap, no torch).

    Raises:
        CheckpointError: missing, a directory, or not what its name says (in one line).

    """
    if not path.lower().endswith('.onnx'):
        recognise_model_file(path)
        return
    if os.path.isdir(path):
        raise CheckpointError(f'{path} is a directory; model.path must name a checkpoint '
                              'file (.pth) or an exported .onnx')
    if not os.path.isfile(path):
        raise CheckpointError(f'ONNX file not found: {path}')
    inspect_onnx(path)


def load_model(spec: ModelSpec, runtime: Optional[RuntimeConfig] = None) -> LoadedModel:
    """Read the checkpoint ``spec`` names (or the bundled default), build and load the network.

    A path ending in ``.onnx`` names a network exported by ``centertrack_export``: it is
    described from its metadata and loaded without importing torch. Anything else must be a
    PyTorch checkpoint (:func:`~.checkpoint.read_checkpoint` says what it is otherwise).

    Raises:
        CheckpointError: the file is missing, unreadable or does not fit the configuration.
        ConfigError: the resulting configuration is invalid.

    """
    path = model_path(spec)
    if path.lower().endswith('.onnx'):
        check_model_file(path)
        return _load_onnx(spec, path, runtime)
    checkpoint = read_checkpoint(path)
    config = model_config(spec, checkpoint, runtime)
    from .models.networks import build_network
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
