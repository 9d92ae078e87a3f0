"""What an exported ``.onnx`` file says about itself, read without torch and without ``onnx``.

An exported network (:mod:`~centertrack_ros.core.onnx_model` writes them) carries our
description of it in the ONNX ``metadata_props`` under the key ``centertrack_ros``: one JSON
object with the configuration (``model``: architecture, heads, ``ltrb_amodal``, 3D heads,
classes; ``input``: size, mean, std; ``tracker``: thresholds, ``max_age``, association, ...),
the versions that wrote it (``versions``: centertrack_ros, torch, onnx, onnxscript and the
opset), the metadata ``format`` and the ``batch`` sizes the graph takes. That makes the file
a complete model: the node runs it with ONNX Runtime alone.

Reading it must stay cheap where the node starts: :func:`inspect_onnx` walks the protobuf
wire format of the file's header fields (the model's metadata, opsets and the graph's
inputs/outputs), seeking over the weights by their length, so a 80 MB file costs what its
few kilobytes of header cost -- the ``onnx`` package would parse (and copy) every
weight, and an ONNX Runtime session would build the whole network.

Metadata formats: 1 (no ``format`` key, before issue 26: the configuration only) and 2 (the
configuration plus ``versions`` and ``batch``). A file of a later format, or one whose
configuration has fields this version does not know, is refused with the writer's version.

TensorRT engines are cached per file content (:func:`tensorrt_cache_dir`), like the exports:
two models never share an engine and a re-export invalidates the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Union

from .. import __version__
from .errors import CheckpointError

ONNX_OPSET = 19  # the first opset with DeformConv
INPUT_NAMES = ('image', 'pre_image', 'pre_hm')
METADATA_PROPERTY = 'centertrack_ros'
METADATA_FORMAT = 2  # what this version writes and the newest it reads
CACHE_VARIABLE = 'CENTERTRACK_CACHE_DIR'
MAX_BATCH = 64
CONFIG_SECTIONS = ('model', 'input', 'tracker')

Dim = Union[int, str]  # a fixed size, or the name of a dynamic one ('' when unnamed)


@dataclass(frozen=True)
class GraphValue:
    """A graph input or output: its name and shape (a size or a dimension name per axis)."""

    name: str
    shape: tuple[Dim, ...]

    @property
    def fixed(self) -> tuple[Optional[int], ...]:
        """The shape with None for every dynamic axis."""
        return tuple(d if isinstance(d, int) else None for d in self.shape)


@dataclass(frozen=True)
class OnnxInfo:
    """The header of an ONNX file: versions, opsets, metadata, graph inputs and outputs."""

    path: Path
    ir_version: int = 0
    producer: str = ''
    opsets: Mapping[str, int] = field(default_factory=dict)
    metadata_props: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[GraphValue, ...] = ()
    outputs: tuple[GraphValue, ...] = ()

    def input(self, name: str) -> Optional[GraphValue]:
        """Return the graph input called ``name`` (None when there is none)."""
        return next((value for value in self.inputs if value.name == name), None)

    @property
    def opset(self) -> int:
        """The default-domain opset the graph is written in (0 when not declared)."""
        return self.opsets.get('', self.opsets.get('ai.onnx', 0))

    def input_size(self) -> tuple[int, int]:
        """Return ``(width, height)`` of the ``image`` input.

        Raises:
            CheckpointError: no ``image`` input of a fixed NCHW size (not a network export).

        """
        image = self.input('image')
        if image is None or len(image.shape) != 4 or None in image.fixed[2:]:
            names = ', '.join(v.name for v in self.inputs) or 'none'
            raise CheckpointError(f'{self.path} has no input named image with a fixed NCHW '
                                  f'size (inputs: {names}): not a CenterTrack network export')
        return int(image.shape[3]), int(image.shape[2])

    def metadata(self) -> Optional[dict[str, Any]]:
        """Our metadata (see the module doc), checked; None for a foreign file.

        Raises:
            CheckpointError: the metadata is not JSON, or was written in a newer format.

        """
        text = self.metadata_props.get(METADATA_PROPERTY)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CheckpointError(f'{self.path}: the {METADATA_PROPERTY} metadata is not '
                                  f'JSON ({exc}); export the model again') from exc
        if not isinstance(data, dict):
            raise CheckpointError(f'{self.path}: the {METADATA_PROPERTY} metadata is a '
                                  f'{type(data).__name__}, not an object; export it again')
        check_format(data, str(self.path))
        return data


def check_format(data: Mapping[str, Any], source: str) -> None:
    """Refuse metadata of a format newer than this version reads, naming its writer.

    Raises:
        CheckpointError: the format is newer or not a number.

    """
    version = data.get('format', 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f'{source}: metadata format {version!r} is not a format number; '
                              'export the model again')
    if version > METADATA_FORMAT:
        raise CheckpointError(f'{source} was written by {writer_of(data)} in metadata format '
                              f'{version}; centertrack_ros {__version__} reads formats up to '
                              f'{METADATA_FORMAT}: upgrade centertrack_ros, or export the '
                              'model with this version')


def writer_of(data: Mapping[str, Any]) -> str:
    """Name the program that wrote ``data`` (``centertrack_ros 0.1.0``, or an older one)."""
    versions = data.get('versions')
    if isinstance(versions, Mapping) and versions.get('centertrack_ros'):
        return f"centertrack_ros {versions['centertrack_ros']}"
    return 'an older centertrack_ros (no version recorded)'


def inspect_onnx(path: Union[str, os.PathLike]) -> OnnxInfo:
    """Read the header of the ONNX file ``path`` (module doc), never its weights.

    Raises:
        CheckpointError: the file is missing, empty, or not an ONNX model.

    """
    path = Path(path)
    try:
        with open(path, 'rb') as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise CheckpointError(f'cannot read ONNX file {path}: the file is empty')
            return _model(path, _Reader(handle, size))
    except OSError as exc:
        raise CheckpointError(f'cannot read ONNX file {path}: {exc.strerror or exc}') from exc
    except _Malformed as exc:
        raise CheckpointError(f'cannot read ONNX file {path}: {exc} (a damaged or '
                              'truncated file, or not ONNX)') from exc


def read_metadata(path: Union[str, os.PathLike]) -> Optional[dict[str, Any]]:
    """Return the metadata an exported file carries (module doc), or None for a foreign file."""
    return inspect_onnx(path).metadata()


def graph_input_size(path: Union[str, os.PathLike]) -> tuple[int, int]:
    """Return the ``(width, height)`` of an exported network's ``image`` input."""
    return inspect_onnx(path).input_size()


def file_key(path: Union[str, os.PathLike]) -> str:
    """Return a digest of the file's content (32 hex digits): equal files, equal keys."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()[:32]


def cache_dir() -> Path:
    """Where exports are kept: ``$CENTERTRACK_CACHE_DIR``, else the user's cache directory."""
    setting = os.environ.get(CACHE_VARIABLE)
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache'
    return Path(base) / 'centertrack_ros'


def tensorrt_cache_dir(onnx_path: Union[str, os.PathLike],
                       root: Optional[Path] = None) -> Path:
    """TensorRT's engine cache for ``onnx_path``: ``<cache>/tensorrt/<content key>/``.

    ONNX Runtime's TensorRT provider names its cached engines after the graph and the
    provider's settings (precision, GPU, TensorRT version), not after the weights, so a
    directory per file content keeps two models -- or a model and its re-export -- from
    sharing an engine. What runs where on a GPU: TensorRT takes the whole graph, DeformConv
    (ONNX opset 19) included, when its ONNX parser has it (TensorRT 10.1 and newer);
    otherwise ONNX Runtime splits the graph and runs the DeformConv nodes in its CUDA
    provider (which has the operator) and falls back to its CPU kernel only where neither
    provider takes a node. The directory is created on first use.
    """
    return (root or cache_dir()) / 'tensorrt' / file_key(onnx_path)


class _Malformed(ValueError):
    """The bytes do not follow the protobuf wire format of an ONNX model."""


# Field numbers of onnx.proto (ModelProto, GraphProto, ValueInfoProto, TypeProto, ...); these
# are the wire format's contract and never change.
_MODEL_IR_VERSION, _MODEL_PRODUCER, _MODEL_GRAPH, _MODEL_OPSET, _MODEL_METADATA = 1, 2, 7, 8, 14
_GRAPH_INPUT, _GRAPH_OUTPUT = 11, 12
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_SMALL = 1 << 24  # the most a header message (metadata, an input's type) may take


class _Reader:
    """Walks the fields of a protobuf message in a file by seeking: payloads are not read."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(field number, wire type, value, offset)`` of the message in start..end.

        ``value`` is a varint's value or a length-delimited payload's size (which starts at
        ``offset``); fixed-size fields are skipped over (none is needed here).
        """
        position = start
        while position < end:
            self.handle.seek(position)
            head = memoryview(self.handle.read(20))
            key, used = _varint(head, 0)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise _Malformed(f'field number 0 at byte {position}')
            if wire == _VARINT:
                value, used = _varint(head, used)
                offset, position = position + used, position + used
            elif wire == _BYTES:
                value, used = _varint(head, used)
                offset = position + used
                position = offset + value
            elif wire in (_FIXED64, _FIXED32):
                value, offset = 0, position + used
                position = offset + (8 if wire == _FIXED64 else 4)
            else:
                raise _Malformed(f'wire type {wire} at byte {position}')
            if position > end:
                raise _Malformed(f'a field at byte {offset} runs past the end of its message')
            yield number, wire, value, offset

    def read(self, offset: int, size: int) -> memoryview:
        """Return the payload at ``offset`` (only the small messages of the header)."""
        if size > _SMALL:
            raise _Malformed(f'a header message of {size} bytes')
        self.handle.seek(offset)
        return memoryview(self.handle.read(size))


def _fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)`` of a message in memory (bytes as slices)."""
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed('field number 0')
        value: Any
        if wire == _VARINT:
            value, position = _varint(data, position)
        elif wire == _BYTES:
            size, position = _varint(data, position)
            value, position = data[position:position + size], position + size
        elif wire in (_FIXED64, _FIXED32):
            value, position = None, position + (8 if wire == _FIXED64 else 4)
        else:
            raise _Malformed(f'wire type {wire}')
        if position > end:
            raise _Malformed('a field runs past the end of its message')
        yield number, wire, value


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Malformed('a varint runs past the end')
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _text(value: Any) -> str:
    if not isinstance(value, memoryview):
        raise _Malformed('a string field is not length-delimited')
    try:
        return bytes(value).decode('utf-8')
    except UnicodeDecodeError as exc:
        raise _Malformed(f'a string field is not UTF-8 ({exc.reason})') from exc


def _message(value: Any) -> memoryview:
    if not isinstance(value, memoryview):
        raise _Malformed('a message field is not length-delimited')
    return value


def _model(path: Path, reader: _Reader) -> OnnxInfo:
    ir_version, producer, opsets, metadata = 0, '', {}, {}
    values: dict[int, list[GraphValue]] = {_GRAPH_INPUT: [], _GRAPH_OUTPUT: []}
    graphs = 0
    for number, wire, value, offset in reader.fields(0, reader.size):
        if number == _MODEL_IR_VERSION and wire == _VARINT:
            ir_version = value
        elif wire != _BYTES:
            continue
        elif number == _MODEL_PRODUCER:
            producer = _text(reader.read(offset, value))
        elif number == _MODEL_OPSET:
            pairs = dict(_pairs(reader.read(offset, value), str_value=False))
            opsets[pairs.get(1, '')] = pairs.get(2, 0)
        elif number == _MODEL_METADATA:
            pairs = dict(_pairs(reader.read(offset, value)))
            metadata[pairs.get(1, '')] = pairs.get(2, '')
        elif number == _MODEL_GRAPH:
            graphs += 1
            for field_number, field_wire, size, start in reader.fields(offset, offset + value):
                if field_number in values and field_wire == _BYTES:
                    values[field_number].append(_value_info(reader.read(start, size)))
    if not ir_version or graphs != 1:
        raise _Malformed('no ONNX model header (an IR version and one graph)')
    return OnnxInfo(path, ir_version, producer, opsets, metadata,
                    tuple(values[_GRAPH_INPUT]), tuple(values[_GRAPH_OUTPUT]))


def _pairs(data: memoryview, str_value: bool = True) -> Iterator[tuple[int, Any]]:
    """Fields 1 (a string) and 2 of a small message (a string entry or an opset id)."""
    for number, _, value in _fields(data):
        if number == 1:
            yield 1, _text(value)
        elif number == 2:
            yield 2, _text(value) if str_value else value


def _value_info(data: memoryview) -> GraphValue:
    name = ''
    shape: tuple[Dim, ...] = ()
    for number, _, value in _fields(data):
        if number == 1:
            name = _text(value)
        elif number == 2:  # TypeProto -> tensor_type (1) -> shape (2) -> dim (1)*
            for type_field, _, tensor in _fields(_message(value)):
                if type_field == 1:
                    for tensor_field, _, dims in _fields(_message(tensor)):
                        if tensor_field == 2:
                            shape = tuple(_dim(_message(d)) for n, _, d in _fields(_message(dims))
                                          if n == 1)
    return GraphValue(name, shape)


def _dim(data: memoryview) -> Dim:
    for number, wire, value in _fields(data):
        if number == 1 and wire == _VARINT:
            return value
        if number == 2:
            return _text(value)
    return ''
