"""Typed configuration of a CenterTrack tracker.

Four small frozen dataclasses replace the original's global options object:
:class:`ModelConfig` (what network to build), :class:`InputConfig` (how a frame becomes a
network input), :class:`TrackerConfig` (decoding and association) and :class:`RuntimeConfig`
(where and how fast to run). :class:`CenterTrackConfig` bundles them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Optional

from .errors import ConfigError
from .labels import class_label, class_labels

ARCHITECTURES = ('dla_34', 'generic')
BACKBONES = ('mobilenet', 'dla34')
NECKS = ('dlaup',)
DEVICES_HINT = "'auto', 'cpu', 'cuda' or 'cuda:N'"
ENGINES = ('auto', 'onnxruntime', 'torch', 'reference')
GREEDY, HUNGARIAN, BYTE = 'greedy', 'hungarian', 'byte'
ASSOCIATIONS = (GREEDY, HUNGARIAN, BYTE)
NO_MOTION, VELOCITY = 'none', 'velocity'
MOTIONS = (NO_MOTION, VELOCITY)

# CenterNet's ImageNet statistics in BGR order; every official CenterTrack dataset uses them.
DEFAULT_MEAN = (0.40789654, 0.44719302, 0.47026115)
DEFAULT_STD = (0.28863828, 0.27408164, 0.27809835)

# The monocular 3D heads of the official ``tracking,ddd`` task, in its order: depth (raw,
# before the transform 1 / sigmoid - 1), two rotation bins of (2 scores, sin, cos), the box
# dimensions h, w, l (metres) and the offset from the 2D box centre to the projected 3D centre.
DDD_HEADS = {'dep': 1, 'rot': 8, 'dim': 3, 'amodel_offset': 2}

# Every CenterTrack network's output maps are a quarter of its input, in each direction.
OUTPUT_STRIDE = 4


@dataclass(frozen=True)
class ModelConfig:
    """The network: architecture, heads and class map.

    ``head_conv`` of -1 means the official default (256 channels for DLA, 64 otherwise).
    ``ddd`` adds the monocular 3D heads of the official ``tracking,ddd`` task (``dep``,
    ``rot``, ``dim``, ``amodel_offset``); ``depth_scale`` multiplies the decoded depth, as the
    original's ``--depth_scale`` does (1 for every official model).
    """

    arch: str = 'dla_34'
    backbone: str = 'mobilenet'
    neck: str = 'dlaup'
    num_classes: int = 1
    class_names: tuple[str, ...] = ()
    ltrb_amodal: bool = False
    ddd: bool = False
    depth_scale: float = 1.0
    head_conv: int = -1
    pre_img: bool = True
    pre_hm: bool = True
    down_ratio: int = OUTPUT_STRIDE
    prior_bias: float = -4.6

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f'model.arch must be one of {ARCHITECTURES}, got {self.arch!r}')
        if self.arch == 'generic' and self.backbone not in BACKBONES:
            raise ConfigError(f'model.backbone must be one of {BACKBONES}, got {self.backbone!r}')
        if self.arch == 'generic' and self.neck not in NECKS:
            raise ConfigError(f'model.neck must be one of {NECKS}, got {self.neck!r}')
        if self.num_classes < 1:
            raise ConfigError(f'model.num_classes must be >= 1, got {self.num_classes}')
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ConfigError(
                f'model.class_names has {len(self.class_names)} names but model.num_classes is '
                f'{self.num_classes}')
        if self.down_ratio != OUTPUT_STRIDE:
            raise ConfigError(f'CenterTrack networks have a fixed output stride of {OUTPUT_STRIDE}')
        if not self.depth_scale > 0:
            raise ConfigError(f'model.depth_scale must be > 0, got {self.depth_scale}')

    @property
    def head_channels(self) -> int:
        """Hidden channels of each head (the official default when ``head_conv`` is -1)."""
        if self.head_conv > 0:
            return self.head_conv
        return 256 if self.arch.startswith('dla') else 64

    @property
    def heads(self) -> dict[str, int]:
        """Output heads and their channel counts, in the official order."""
        heads = {'hm': self.num_classes, 'reg': 2, 'wh': 2, 'tracking': 2}
        if self.ddd:
            heads.update(DDD_HEADS)
        if self.ltrb_amodal:
            heads['ltrb_amodal'] = 4
        return heads

    def class_name(self, class_id: int) -> str:
        """Return the published label of a 1-based class id (:func:`~.labels.class_label`)."""
        return class_label(self.class_names, class_id)

    @property
    def labels(self) -> tuple[str, ...]:
        """Published label of every class id, in id order."""
        return class_labels(self.class_names, self.num_classes)


@dataclass(frozen=True)
class InputConfig:
    """Network input size and normalisation (mean/std are in BGR channel order)."""

    width: int = 960
    height: int = 544
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD

    def __post_init__(self) -> None:
        for name in ('width', 'height'):
            value = getattr(self, name)
            if value < 32 or value % 32:
                raise ConfigError(f'input {name} must be a positive multiple of 32, got {value}')
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError('model.mean and model.std need exactly 3 values (B, G, R)')
        if any(s <= 0 for s in self.std):
            raise ConfigError(f'model.std values must be > 0, got {self.std}')

    @property
    def output_width(self) -> int:
        """Width of the network's output maps."""
        return self.width // OUTPUT_STRIDE

    @property
    def output_height(self) -> int:
        """Height of the network's output maps."""
        return self.height // OUTPUT_STRIDE


@dataclass(frozen=True)
class TrackerConfig:
    """Decoding and association settings; the defaults have the original's semantics.

    As in the original option parser, ``pre_thresh``, ``new_thresh`` and ``out_thresh`` are
    never below ``track_thresh``: read the ``effective_*`` properties. ``max_age`` of -1 drops
    an unmatched track at once; a positive value keeps it, inactive, for that many frames.

    ``association`` chooses the scheme: ``greedy`` and ``hungarian`` are the original's single
    association; ``byte`` adds ByteTrack's second association of the tracks left unmatched with
    the detections scoring between ``low_thresh`` and the output threshold. ``hungarian`` is
    the original's switch and stays an alias: when set, every association step uses optimal
    instead of greedy matching (``greedy`` then behaves as ``hungarian``, and ``byte`` matches
    optimally in both of its steps) -- see :attr:`optimal_matching`.

    ``motion``: how an unmatched (coasting) track moves while it is kept: ``none`` leaves it
    where it was last seen (the original), ``velocity`` carries it on with its smoothed
    velocity, which the network's tracking offsets measure. ``prior_lost`` also draws coasting
    tracks, at their predicted place, into the next frame's prior heatmap.
    """

    track_thresh: float = 0.4
    pre_thresh: float = 0.5
    new_thresh: float = 0.4
    out_thresh: float = -1.0
    max_age: int = -1
    hungarian: bool = False
    K: int = 100
    pre_hm: bool = True
    association: str = GREEDY
    low_thresh: float = 0.1
    motion: str = NO_MOTION
    prior_lost: bool = False

    def __post_init__(self) -> None:
        for name in ('track_thresh', 'pre_thresh', 'new_thresh', 'low_thresh'):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f'tracker.{name} must be in [0, 1], got {value}')
        if self.out_thresh > 1.0:
            raise ConfigError(f'tracker.out_thresh must be <= 1, got {self.out_thresh}')
        if self.max_age < -1:
            raise ConfigError(f'tracker.max_age must be -1 or >= 0, got {self.max_age}')
        if not 1 <= self.K <= 1000:
            raise ConfigError(f'tracker.K must be in [1, 1000], got {self.K}')
        if self.association not in ASSOCIATIONS:
            raise ConfigError(f"tracker.association must be one of {', '.join(ASSOCIATIONS)}, "
                              f'got {self.association!r}')
        if self.motion not in MOTIONS:
            raise ConfigError(f"tracker.motion must be one of {', '.join(MOTIONS)}, "
                              f'got {self.motion!r}')

    @property
    def byte(self) -> bool:
        """Whether BYTE's second association with low-scoring detections runs."""
        return self.association == BYTE

    @property
    def optimal_matching(self) -> bool:
        """Whether association steps match optimally (Hungarian) rather than greedily."""
        return self.hungarian or self.association == HUNGARIAN

    @property
    def effective_pre_thresh(self) -> float:
        """Score a track needs to be drawn into the prior heatmap."""
        return max(self.track_thresh, self.pre_thresh)

    @property
    def effective_new_thresh(self) -> float:
        """Score an unmatched detection needs to start a new track."""
        return max(self.track_thresh, self.new_thresh)

    @property
    def effective_out_thresh(self) -> float:
        """Score a detection needs to be tracked on its own (BYTE: its first association)."""
        return max(self.track_thresh, self.out_thresh)

    @property
    def effective_low_thresh(self) -> float:
        """Score a detection needs to reach the tracker at all.

        The output threshold, except with BYTE, which also takes the detections down to
        ``low_thresh`` (never above the output threshold) for its second association.
        """
        if self.byte:
            return min(self.low_thresh, self.effective_out_thresh)
        return self.effective_out_thresh


@dataclass(frozen=True)
class TrackerOverrides:
    """Tracker settings given on top of a model's own; ``None`` keeps the model's value.

    A model brings its tracker settings (a preset's, or those stored in our checkpoints); what
    a user sets (node parameters, command-line options) is applied on top, in one place:
    :meth:`apply`. Keeping the two apart lets a setting return to the model's value.
    """

    track_thresh: Optional[float] = None
    pre_thresh: Optional[float] = None
    new_thresh: Optional[float] = None
    out_thresh: Optional[float] = None
    max_age: Optional[int] = None
    hungarian: Optional[bool] = None
    K: Optional[int] = None
    pre_hm: Optional[bool] = None
    association: Optional[str] = None
    low_thresh: Optional[float] = None
    motion: Optional[str] = None
    prior_lost: Optional[bool] = None

    def apply(self, base: TrackerConfig) -> TrackerConfig:
        """Return ``base`` with every given setting replaced (validated by TrackerConfig)."""
        given = {f.name: getattr(self, f.name) for f in fields(self)
                 if getattr(self, f.name) is not None}
        return replace(base, **given)

    @classmethod
    def of(cls, config: TrackerConfig) -> 'TrackerOverrides':
        """Override every setting with ``config``'s (e.g. an official run's resolved options)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how to run the network.

    ``engine``: ``auto`` (ONNX Runtime on the CPU when it is installed, the torch fast path on
    CUDA), ``onnxruntime``, ``torch`` or ``reference`` (see :mod:`.engines`). ``threads``: CPU
    threads of the network; 0 = ``OMP_NUM_THREADS``, else the cores this process may use
    (:func:`~.device.cpu_threads`).
    """

    device: str = 'auto'
    half: bool = False
    cuda_graph: bool = True
    channels_last: bool = True
    engine: str = 'auto'
    threads: int = 0

    def __post_init__(self) -> None:
        device = self.device
        ok = device in ('auto', 'cpu', 'cuda') or (
            device.startswith('cuda:') and device[5:].isdigit())
        if not ok:
            raise ConfigError(f'device must be {DEVICES_HINT}, got {device!r}')
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.threads < 0:
            raise ConfigError(f'threads must be >= 0 (0 = default), got {self.threads}')


@dataclass(frozen=True)
class CenterTrackConfig:
    """Everything needed to build and run a tracker."""

    model: ModelConfig = field(default_factory=ModelConfig)
    input: InputConfig = field(default_factory=InputConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def replace(self, **sections: Any) -> 'CenterTrackConfig':
        """Return a copy with some sections replaced (``model=...``, ``tracker=...``)."""
        return replace(self, **sections)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, e.g. for logging or a model card."""
        return asdict(self)

    def describe(self) -> dict[str, Any]:
        """Return what a model file stores about itself: model, input and tracker."""
        data = self.to_dict()
        data.pop('runtime')
        return data

    @classmethod
    def from_official_options(cls, options: Mapping[str, Any]) -> 'CenterTrackConfig':
        """Build from the resolved options of an original CenterTrack run.

        Accepts the ``config`` mapping of a reference ``expected.json`` (keys such as ``arch``,
        ``num_classes``, ``input_h``, ``track_thresh``, ``hungarian``).
        """
        heads = options.get('heads', {})
        head_conv = options.get('head_conv', -1)
        if isinstance(head_conv, Mapping):
            widths = {tuple(v) for v in head_conv.values()}
            if len(widths) != 1 or len(next(iter(widths))) != 1:
                raise ConfigError(f'only one hidden layer of equal width per head is supported, '
                                  f'got head_conv={dict(head_conv)}')
            head_conv = next(iter(widths))[0]
        ltrb_amodal = bool(options.get('ltrb_amodal', 'ltrb_amodal' in heads))
        # The original adds the 3D heads for a task containing ``ddd``; older option dumps
        # carry only the heads.
        task = str(options.get('task', ''))
        ddd = 'ddd' in task.split(',') or all(name in heads for name in DDD_HEADS)
        if 'dla_node' in options and options['dla_node'] != 'dcn':
            raise ConfigError(f"only dla_node 'dcn' is supported, got {options['dla_node']!r}")
        model = ModelConfig(
            arch=options.get('arch', 'dla_34'),
            backbone=options.get('backbone', 'mobilenet'),
            neck=options.get('neck', 'dlaup'),
            num_classes=int(options['num_classes']),
            class_names=tuple(options.get('class_names', ())),
            ltrb_amodal=ltrb_amodal,
            ddd=ddd,
            depth_scale=float(options.get('depth_scale', 1.0)),
            head_conv=int(head_conv),
            pre_img=not options.get('no_pre_img', False),
            pre_hm=bool(options.get('pre_hm', True)),
            down_ratio=int(options.get('down_ratio', OUTPUT_STRIDE)),
            prior_bias=float(options.get('prior_bias', -4.6)),
        )
        inp = InputConfig(
            width=int(options['input_w']),
            height=int(options['input_h']),
            mean=tuple(options.get('mean', DEFAULT_MEAN)),
            std=tuple(options.get('std', DEFAULT_STD)),
        )
        tracker = TrackerConfig(
            track_thresh=float(options.get('track_thresh', 0.3)),
            pre_thresh=max(0.0, float(options.get('pre_thresh', 0.0))),
            new_thresh=float(options.get('new_thresh', 0.3)),
            out_thresh=float(options.get('out_thresh', -1.0)),
            max_age=int(options.get('max_age', -1)),
            hungarian=bool(options.get('hungarian', False)),
            K=int(options.get('K', 100)),
            pre_hm=bool(options.get('pre_hm', True)) and not options.get('zero_pre_hm', False),
        )
        return cls(model=model, input=inp, tracker=tracker)
