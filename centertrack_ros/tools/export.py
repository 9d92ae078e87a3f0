"""``centertrack_export``: the network as ONNX or TorchScript for deployment runtimes.

The exported graph is the network only -- inputs ``image``, ``pre_image``, ``pre_hm``
(normalised NCHW float32, the prior at input resolution), outputs the raw heads (``hm`` as
logits). Pre-processing, decoding and tracking stay in this package. Deformable convolutions
become the standard ONNX ``DeformConv`` operator (opset 19), so no custom plugin is needed by
runtimes that implement it; the batch is dynamic (1 to 64 frames per call); the file carries
our model description and the versions that wrote it, so it runs as the node's ``model.path``,
without torch (see :mod:`centertrack_ros.core.onnx_file`). The export is checked against
PyTorch with onnxruntime. Errors a user can fix are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

import numpy as np
import torch

from ..core.config import RuntimeConfig
from ..core.errors import CenterTrackError, one_line
from ..core.model_spec import ModelSpec, load_model
from ..core.onnx_file import INPUT_NAMES, inspect_onnx
from ..core.onnx_model import HeadsAsTuple, example_inputs, export_onnx


def export_torchscript(module: HeadsAsTuple, inputs: tuple[torch.Tensor, ...],
                       path: str) -> None:
    """Trace to TorchScript (shapes are static: export one file per input size)."""
    traced = torch.jit.trace(module, inputs, check_trace=False)
    traced.save(path)


def max_deviation(module: HeadsAsTuple, inputs: tuple[torch.Tensor, ...], path: str,
                  kind: str) -> float:
    """Largest difference between PyTorch and the exported file, on a head's scale.

    Each head's difference is divided by its output range when that exceeds 1: a network
    amplifies float rounding differently on other CPUs, so a deviation means something only
    against the scale of the head it is in (a near-constant head is compared absolutely).
    """
    with torch.no_grad():
        expected = [t.numpy() for t in module(*inputs)]
    if kind == 'onnx':
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
        feed = dict(zip(INPUT_NAMES, (t.numpy() for t in inputs)))
        got = session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})
    else:
        with torch.no_grad():
            got = [t.numpy() for t in torch.jit.load(path)(*inputs)]
    return max(float(np.abs(a - b).max()) / max(float(b.max() - b.min()), 1.0)
               for a, b in zip(got, expected))


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    parser = argparse.ArgumentParser(prog='centertrack_export',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='', help='checkpoint (default: the bundled model)')
    parser.add_argument('--preset', default='', help='model-zoo preset name')
    parser.add_argument('--input-size', default='',
                        help='WIDTHxHEIGHT of the network input (default: from the model)')
    parser.add_argument('--format', choices=['onnx', 'torchscript'], default='onnx')
    parser.add_argument('--batch', type=int, default=1,
                        help='batch of the example traced: the ONNX graph takes any batch '
                             'from 1 to 64 whatever it is; TorchScript keeps it fixed')
    parser.add_argument('--output', required=True, help='file to write')
    parser.add_argument('--no-check', action='store_true',
                        help='skip comparing the export with PyTorch')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='largest accepted deviation from PyTorch, as a fraction of each '
                             'head\'s output range where that exceeds 1 (default 1e-3)')
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``centertrack_export``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(message)s')
    width = height = 0
    if args.input_size:
        try:
            width, height = (int(v) for v in args.input_size.lower().split('x'))
        except ValueError:
            print(f'error: --input-size must be WIDTHxHEIGHT, got {args.input_size!r}',
                  file=sys.stderr)
            return 2
    if args.batch < 1:
        print(f'error: --batch must be >= 1, got {args.batch}', file=sys.stderr)
        return 2
    spec = ModelSpec(path=args.model, preset=args.preset, input_width=width,
                     input_height=height)
    try:
        return _export(args, spec)
    except CenterTrackError as exc:
        print(f'error: {one_line(exc)}', file=sys.stderr)
        return 2


def _export(args: argparse.Namespace, spec: ModelSpec) -> int:
    model = load_model(spec, runtime=RuntimeConfig(device='cpu'))
    if model.network is None:
        print(f'error: {model.path} is already an exported network; give the checkpoint it '
              'was exported from', file=sys.stderr)
        return 2
    config = model.config
    module = HeadsAsTuple(model.network.float().eval(), tuple(config.model.heads)).eval()
    inputs = example_inputs(config.input.width, config.input.height, args.batch)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    if args.format == 'onnx':
        export_onnx(model.network, config, args.output, args.batch)
        print(f'wrote {args.output} ({describe_onnx(args.output)})')
    else:
        export_torchscript(module, inputs, args.output)
        print(f'wrote {args.output} (torchscript, input {config.input.width}x'
              f'{config.input.height}, static batch {args.batch}, heads '
              f'{", ".join(module.heads)}, {_size(args.output)})')
    if not args.no_check:
        deviation = max_deviation(module, inputs, args.output, args.format)
        print(f'largest deviation from PyTorch: {deviation:.3g} (of a head\'s range, where '
              'that exceeds 1)')
        if deviation > args.tolerance:
            print(f'error: deviation above {args.tolerance}', file=sys.stderr)
            return 1
    return 0


def describe_onnx(path: str) -> str:
    """Say what a written file holds: opset, input, batch, heads, size, metadata keys."""
    info = inspect_onnx(path)
    width, height = info.input_size()
    metadata = info.metadata() or {}
    batch = metadata.get('batch', {})
    image = info.input('image')  # there, or input_size() raised
    first = image.shape[0] if image is not None else None
    if isinstance(first, int):
        batches = f'static batch {first}'
    elif batch.get('dynamic'):
        batches = f'dynamic batch {batch.get("min", 1)}..{batch.get("max", "?")}'
    else:
        batches = 'dynamic batch'
    return (f'onnx opset {info.opset}, input {width}x{height}, {batches}, heads '
            f'{", ".join(o.name for o in info.outputs)}, {_size(path)}, metadata '
            f'{", ".join(sorted(metadata)) or "none"}')


def _size(path: str) -> str:
    return f'{os.path.getsize(path) / 2 ** 20:.1f} MiB'


if __name__ == '__main__':
    sys.exit(main())
