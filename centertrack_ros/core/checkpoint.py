"""Reading and writing checkpoints in the official CenterTrack format.

The official format is ``{'epoch': int, 'state_dict': {...}, 'optimizer': {...}?}``, often with
a ``module.`` prefix from ``DataParallel`` and sometimes fp16 tensors. Loading never succeeds
partially: any missing, unexpected or mis-shaped parameter raises :class:`CheckpointError`
that names them and the model configuration the file appears to hold.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .config import DDD_HEADS, ModelConfig
from .errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # torch is imported where a checkpoint is read or written, not before
    import torch
    from torch import nn

_LISTED = 8  # names shown per category in an error message
_PICKLE = b'\x80'  # the first byte of a pickle (protocol 2+): PyTorch's legacy format
_UNSUPPORTED_GLOBAL = re.compile(r'GLOBAL ([\w.]+)')


@dataclass
class Checkpoint:
    """A loaded checkpoint: float32 state dict without wrapper prefixes, plus metadata."""

    state_dict: dict[str, torch.Tensor]
    epoch: int = 0
    optimizer: Optional[dict] = None
    extra: Optional[dict] = None


def _strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for name, tensor in state_dict.items():
        # Keep names such as ``module_list.*``: only the DataParallel wrapper is removed.
        if name.startswith('module.'):
            name = name[len('module.'):]
        out[name] = tensor
    return out


def recognise_model_file(path: str) -> None:
    """Refuse, in one line, a ``model.path`` that cannot be a PyTorch checkpoint.

    Says what the file is instead: missing, a directory, empty, a TorchScript archive, an
    ONNX model under another name, a zip archive or a file that is not a torch save. A file
    that passes may still fail to load (a damaged one); :func:`read_checkpoint` says so.

    Raises:
        CheckpointError: the file is not a PyTorch checkpoint (what it is, what to pass).

    """
    if os.path.isdir(path):
        raise CheckpointError(f'{path} is a directory; model.path must name a checkpoint file '
                              '(.pth) or an exported .onnx')
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: {path}')
    names = None
    try:
        with open(path, 'rb') as handle:
            head = handle.read(4096)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f'cannot read checkpoint {path}: {exc}') from exc
    if not head:
        raise CheckpointError(f'{path} is empty, not a PyTorch checkpoint')
    if names is not None:
        _recognise_zip(path, names)
    elif head.startswith(b'PK\x03\x04'):
        raise CheckpointError(f'cannot read checkpoint {path}: a damaged or truncated zip '
                              'archive (a torch save is a zip archive)')
    elif not head.startswith(_PICKLE):
        raise CheckpointError(f'{path} is not a PyTorch checkpoint ({_content(path, head)})')


def _recognise_zip(path: str, names: list[str]) -> None:
    """Refuse a zip that is not a torch save (``<name>/data.pkl``, ``data/*``) or is TorchScript."""
    if any(n.endswith('/constants.pkl') or '/code/' in n for n in names):
        raise CheckpointError(f'{path} is a TorchScript archive; use the checkpoint it was '
                              'exported from or the .onnx export')
    if not any(n.endswith('/data.pkl') and n.count('/') == 1 for n in names):
        shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '') or 'nothing'
        raise CheckpointError(f'{path} is not a PyTorch checkpoint (a zip archive without '
                              f'data.pkl; it holds {shown})')


def _content(path: str, head: bytes) -> str:
    """Describe a file that is neither a torch zip nor a pickle, for an error message."""
    from .onnx_file import inspect_onnx
    try:
        inspect_onnx(path)
    except CheckpointError:
        pass
    else:
        return 'it is an ONNX model: name it with the extension .onnx'
    text = _as_text(head)
    if text is not None:
        return f"a text file starting {' '.join(text.split())[:40]!r}"
    return f'unrecognised content starting {head[:8].hex(" ")}'


def _as_text(head: bytes) -> Optional[str]:
    if b'\0' in head:
        return None
    try:
        return head.decode('utf-8')
    except UnicodeDecodeError as exc:  # the block may end inside a character of a text file
        return head[:exc.start].decode('utf-8') if exc.start >= len(head) - 3 else None


def read_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint file (official dict or bare state dict) onto the CPU in float32.

    Raises:
        CheckpointError: the file is not a checkpoint (:func:`recognise_model_file` says
            what it is), cannot be read, or holds no state dict.

    """
    recognise_model_file(path)
    import pickle

    import torch
    try:
        raw = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        # PyTorch's message is a paragraph about unsafe loading; say what the file holds.
        found = _UNSUPPORTED_GLOBAL.search(str(exc))
        if found is None:
            raise CheckpointError(f'{path} is not a readable PyTorch checkpoint (a damaged '
                                  'pickle, or one that torch.save did not write)') from exc
        raise CheckpointError(f'{path} is not a PyTorch checkpoint of weights: it holds '
                              f'objects beyond tensors and plain values ({found.group(1)}); '
                              "save the model's state_dict() instead") from exc
    except Exception as exc:  # a damaged file can raise almost anything
        # (IndexError, KeyError ... from the weights-only unpickler on garbage bytes).
        reason = ' '.join(str(exc).split()).split('. ')[0][:160]  # not PyTorch's advice
        raise CheckpointError(f'cannot read checkpoint {path} (damaged, or not a torch save): '
                              f'{type(exc).__name__}: {reason}') from exc
    if not isinstance(raw, Mapping):
        raise CheckpointError(f'{path} holds a {type(raw).__name__}, not a state dict')
    if 'state_dict' in raw:
        state_dict = raw['state_dict']
        epoch = int(raw.get('epoch', 0) or 0)
        optimizer = raw.get('optimizer')
        extra = {k: v for k, v in raw.items() if k not in ('state_dict', 'epoch', 'optimizer')}
    else:
        state_dict, epoch, optimizer, extra = raw, 0, None, {}
    if not isinstance(state_dict, Mapping) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f'{path}: state_dict is not a mapping of names to tensors')
    tensors = {
        name: (t.float() if t.is_floating_point() else t)
        for name, t in _strip_prefix(state_dict).items()
    }
    return Checkpoint(tensors, epoch=epoch, optimizer=optimizer, extra=extra or None)


def infer_model_config(state_dict: Mapping[str, torch.Tensor],
                       base: Optional[ModelConfig] = None) -> ModelConfig:
    """Guess the :class:`ModelConfig` a state dict was saved from.

    Architecture, backbone, class count, head width and optional heads/inputs are read from
    parameter names and shapes; class names are kept from ``base`` when their count fits.
    """
    base = base or ModelConfig()
    names = set(state_dict)
    if any(n.startswith('base.') for n in names):
        arch, backbone = 'dla_34', base.backbone
        stem = 'base.'
    elif any(n.startswith('backbone.features.') for n in names):
        arch, backbone, stem = 'generic', 'mobilenet', 'backbone.'
    elif any(n.startswith('backbone.') for n in names):
        arch, backbone, stem = 'generic', 'dla34', 'backbone.'
    else:
        raise CheckpointError('state dict has neither base.* (dla_34) nor backbone.* (generic) '
                              'parameters; it is not a CenterTrack checkpoint')
    hm_out = state_dict.get('hm.2.weight')
    hm_hidden = state_dict.get('hm.0.weight')
    if hm_out is None or hm_hidden is None:
        raise CheckpointError('state dict has no hm head (hm.0.weight / hm.2.weight)')
    num_classes = int(hm_out.shape[0])
    class_names = base.class_names if len(base.class_names) == num_classes else ()
    try:
        return replace(
            base, arch=arch, backbone=backbone, num_classes=num_classes,
            class_names=class_names,
            ltrb_amodal='ltrb_amodal.2.weight' in names,
            # The original adds the four 3D heads together (task ``ddd``); a file with only
            # some of them does not fit and is reported by the strict load.
            ddd=all(f'{head}.2.weight' in names for head in DDD_HEADS),
            head_conv=int(hm_hidden.shape[0]),
            pre_img=f'{stem}pre_img_layer.0.weight' in names,
            pre_hm=f'{stem}pre_hm_layer.0.weight' in names,
        )
    except ConfigError as exc:
        raise CheckpointError(f'checkpoint implies an invalid configuration: {exc}') from exc


def _describe(config: ModelConfig) -> str:
    parts = [f'arch={config.arch}']
    if config.arch == 'generic':
        parts.append(f'backbone={config.backbone}')
    parts += [f'num_classes={config.num_classes}', f'ltrb_amodal={config.ltrb_amodal}',
              f'ddd={config.ddd}',
              f'head_conv={config.head_channels}', f'pre_img={config.pre_img}',
              f'pre_hm={config.pre_hm}']
    return ', '.join(parts)


def _listing(label: str, names: list[str]) -> str:
    shown = ', '.join(names[:_LISTED])
    more = f' (+{len(names) - _LISTED} more)' if len(names) > _LISTED else ''
    return f'{len(names)} {label}: {shown}{more}'


def load_state_dict_strict(network: nn.Module, state_dict: Mapping[str, torch.Tensor],
                           config: ModelConfig, source: str = 'checkpoint') -> None:
    """Load ``state_dict`` into ``network`` or raise a precise :class:`CheckpointError`."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(
        f'{name} {tuple(state_dict[name].shape)} vs {tuple(expected[name].shape)}'
        for name in set(expected) & set(state_dict)
        if state_dict[name].shape != expected[name].shape)
    if missing or unexpected or mismatched:
        problems = [
            _listing(label, names)
            for label, names in (('missing', missing), ('unexpected', unexpected),
                                 ('mis-shaped (file vs model)', mismatched)) if names]
        try:
            hint = f'; the file looks like: {_describe(infer_model_config(state_dict, config))}'
        except CheckpointError as exc:
            hint = f'; {exc}'
        raise CheckpointError(
            f'{source} does not fit the configured network ({_describe(config)}): '
            + '; '.join(problems) + hint)
    import torch
    # NaN/Inf weights (a diverged run, an fp16 overflow) would not just give garbage: NaN
    # offsets make torchvision's CPU deform_conv2d read out of bounds and crash the process.
    non_finite = sorted(name for name, tensor in state_dict.items()
                        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()))
    if non_finite:
        raise CheckpointError(f'{source} holds NaN or infinite values: '
                              + _listing('tensors', non_finite))
    network.load_state_dict(state_dict, strict=True)


def save_checkpoint(path: str, network: nn.Module, epoch: int,
                    optimizer: Optional[torch.optim.Optimizer] = None,
                    half: bool = False, extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``{'epoch', 'state_dict'[, 'optimizer']}`` as the original code does.

    With ``half`` floating-point tensors are stored as float16 (half the size; loaders
    upcast them). ``extra`` entries are added at the top level (e.g. a model card).
    """
    import torch
    # A DataParallel/DistributedDataParallel wrapper holds the network as ``module``.
    inner = getattr(network, 'module', network)
    module = inner if isinstance(inner, torch.nn.Module) else network
    state = {
        name: (t.detach().half() if half and t.is_floating_point() else t.detach()).cpu()
        for name, t in module.state_dict().items()
    }
    data: dict[str, Any] = {'epoch': int(epoch), 'state_dict': state}
    if optimizer is not None:
        data['optimizer'] = optimizer.state_dict()
    if extra:
        data.update(extra)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f'{path}.tmp'
    torch.save(data, tmp)
    os.replace(tmp, path)
