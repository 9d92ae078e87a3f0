"""The two decodings compute the same: numpy on the host, torch on the torch engine's device.

The host paths (the ONNX Runtime and reference engines) decode with
:func:`~centertrack_ros.core.decode.decode_heads`; the torch engine decodes on its device with
:func:`~centertrack_ros.core.torch_ops.decode_tensors` and copies back K packed rows. Given
the same head outputs both must select the same peaks and read the same values:

- the sorted scores are identical (the K largest values of the filtered map do not depend on
  how ties are ordered);
- every row whose score is unique has the same class and peak cell in both; a group of equal
  scores has the same cells as a set (the order inside it is ``torch.topk``'s choice); only a
  group cut by the last row (more cells of the map share its score than rows do, as the
  zeros filling a map with fewer peaks than rows) is not compared: which of them come out is
  arbitrary in torch;
- the values read at a common cell (box, tracking offset, the 3D heads, depth) agree within
  float32 rounding.

Heads: random ones (2D, amodal boxes, the 3D heads, several classes, a batch, K larger than
the map), the real ones stored in the reference folders (network outputs and post-processing
inputs, 2D and 3D) and those of the bundled trained model on camera-like frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import reference_data as ref

from centertrack_ros.core.config import ModelConfig, RuntimeConfig
from centertrack_ros.core.decode import (
    RawDetections,
    decode_heads,
    extra_heads,
    heatmap_nms,
    sigmoid,
)
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.model_spec import ModelSpec, load_model
from centertrack_ros.core.preprocess import preprocess
from centertrack_ros.core.torch_ops import (
    decode_tensors,
    pack_detections,
    packed_width,
    to_raw_detections,
    unpack_detections,
)
from centertrack_ros.synthetic import SceneConfig, generate_sequence

pytestmark = pytest.mark.equality
DEVICES = [pytest.param('cpu', id='cpu'),
           pytest.param('cuda', id='cuda', marks=[
               pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason='needs CUDA')])]

# Float32 rounding of the values read at a peak (the arithmetic is the same, op for op).
VALUE_RTOL, VALUE_ATOL = 1e-6, 1e-5

HEADS_2D = {'hm': 1, 'reg': 2, 'wh': 2, 'tracking': 2}
HEADS_AMODAL = {'hm': 1, 'reg': 2, 'wh': 2, 'tracking': 2, 'ltrb_amodal': 4}
HEADS_3D = dict(ModelConfig(num_classes=10, ddd=True).heads)


def _random_heads(heads: dict, classes: int, height: int, width: int, batch: int = 1,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Head outputs with a sigmoid heatmap of many peaks and raw regressions of any sign."""
    rng = np.random.default_rng(seed)
    out = {name: rng.normal(0.0, 4.0, (batch, channels, height, width)).astype(np.float32)
           for name, channels in heads.items() if name != 'hm'}
    out['hm'] = sigmoid(rng.normal(-3.0, 2.0, (batch, classes, height, width)))
    return out


def decode_both(heads: dict[str, np.ndarray], k: int, device: str = 'cpu') -> tuple[list, list]:
    """Decode with numpy and with torch on ``device`` from the same arrays."""
    host = decode_heads(heads, k)
    on_device = to_raw_detections(decode_tensors(
        {name: torch.from_numpy(value).to(device) for name, value in heads.items()}, k))
    return host, on_device


def _keys(raw: RawDetections, rows) -> list[tuple[int, int, int]]:
    return [(int(raw.classes[i]), int(raw.cts[i, 0]), int(raw.cts[i, 1])) for i in rows]


def assert_same_decoding(ours: RawDetections, theirs: RawDetections, hm: np.ndarray,
                         label: str = '') -> int:
    """Compare two decodings of one image's heads (module docstring); return the rows matched.

    ``hm``: the image's ``C x H x W`` heatmap (after the sigmoid), to tell a complete group of
    equal scores from one the last row cuts.
    """
    np.testing.assert_array_equal(ours.scores, theirs.scores, err_msg=f'{label}: scores')
    assert ours.classes.dtype == theirs.classes.dtype == np.int64
    scores = ours.scores
    groups: dict[float, list[int]] = {}
    for row, score in enumerate(scores):
        groups.setdefault(float(score), []).append(row)
    last = float(scores[-1])
    if np.count_nonzero(heatmap_nms(hm[None])[0] == last) > len(groups[last]):
        del groups[last]
    matched = 0
    for rows in groups.values():
        mine, other = _keys(ours, rows), _keys(theirs, rows)
        if len(rows) == 1:
            assert mine == other, f'{label}: row {rows[0]} is {mine}, the other path {other}'
        else:
            assert sorted(mine) == sorted(other), f'{label}: tied rows {rows}'
        where = {key: row for key, row in zip(other, rows)}
        for key, row in zip(mine, rows):
            _assert_same_values(ours, row, theirs, where[key], f'{label} row {row} {key}')
            matched += 1
    return matched


def _assert_same_values(a: RawDetections, i: int, b: RawDetections, j: int, label: str) -> None:
    def close(x, y, what):
        np.testing.assert_allclose(x, y, rtol=VALUE_RTOL, atol=VALUE_ATOL,
                                   err_msg=f'{label}: {what}')
    close(a.cts[i], b.cts[j], 'cts')
    close(a.bboxes[i], b.bboxes[j], 'bboxes')
    assert (a.tracking is None) == (b.tracking is None)
    if a.tracking is not None:
        close(a.tracking[i], b.tracking[j], 'tracking')
    assert list(a.extras) == list(b.extras)
    for name in a.extras:
        close(a.extras[name][i], b.extras[name][j], name)


CASES = {  # heads, classes, height, width, batch, K
    '2d-one-class-96x160': (HEADS_2D, 1, 96, 160, 1, 100),
    '2d-three-classes-batch': (HEADS_2D, 3, 34, 60, 2, 100),
    '2d-amodal': (HEADS_AMODAL, 1, 48, 80, 1, 100),
    '3d-ten-classes': (HEADS_3D, 10, 34, 60, 1, 100),
    '3d-k-above-the-cells': (HEADS_3D, 10, 5, 7, 2, 100),
    '2d-k-above-the-cells': (HEADS_2D, 2, 3, 4, 1, 100),
    '2d-k-one': (HEADS_2D, 4, 20, 30, 1, 1),
}


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('case', list(CASES))
def test_random_heads_decode_the_same(case: str, device: str) -> None:
    heads_spec, classes, height, width, batch, k = CASES[case]
    for seed in range(3):
        heads = _random_heads(heads_spec, classes, height, width, batch, seed)
        host, on_device = decode_both(heads, k, device)
        assert len(host) == len(on_device) == batch
        for b, (ours, theirs) in enumerate(zip(host, on_device)):
            assert len(ours.scores) == min(k, height * width)
            label = f'{case} seed {seed} image {b}'
            matched = assert_same_decoding(ours, theirs, heads['hm'][b], label)
            peaks = np.count_nonzero(ours.scores > 0)
            assert matched == (len(ours.scores) if peaks == len(ours.scores) else peaks)


def test_a_plateau_above_the_threshold_comes_out_of_both() -> None:
    """Equal scores (a two-cell plateau, the same score in two classes) decode alike."""
    heads = _random_heads(HEADS_2D, 2, 12, 16, seed=5)
    heads['hm'][...] = 0.01
    heads['hm'][0, 0, 4, 4] = heads['hm'][0, 0, 4, 5] = heads['hm'][0, 1, 9, 2] = 0.8
    heads['hm'][0, 1, 1, 1] = 0.6
    host, device = decode_both(heads, 10)
    assert assert_same_decoding(host[0], device[0], heads['hm'][0], 'plateau') == 4


def _stored_heads(folder: Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Every frame's head outputs a reference folder stores (``hm`` after the sigmoid)."""
    frames = []
    if ref.has_network_io(folder):
        io = np.load(folder / 'network_io.npz')
        for frame in ref.stored_frames(io):
            prefix = f'{frame}_out_'
            frames.append((frame, {name[len(prefix):]: io[name] for name in io.files
                                   if name.startswith(prefix)}))
    if ref.is_post(folder):
        stored = np.load(folder / 'head_outputs.npz')
        for frame in sorted({name.split('_')[0] for name in stored.files}):
            prefix = f'{frame}_'
            heads = {name[len(prefix):]: stored[name] for name in stored.files
                     if name.startswith(prefix)}
            heads['hm'] = sigmoid(heads.pop('hm_logits'))
            frames.append((frame, heads))
    return frames


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('folder', ref.folder_params(
    lambda f: ref.has_network_io(f) or ref.is_post(f), 'folders with head outputs'))
def test_stored_heads_decode_the_same(folder: Path, device: str) -> None:
    """The real heads of every reference folder (2D and 3D) decode alike on both paths."""
    k = ref.official_config(folder).tracker.K
    frames = _stored_heads(folder)
    assert frames
    for frame, heads in frames:
        host, on_device = decode_both(heads, k, device)
        assert_same_decoding(host[0], on_device[0], heads['hm'][0], f'{folder.name} {frame}')


def test_the_bundled_models_heads_decode_the_same() -> None:
    """A trained network's heads (smooth heatmaps, many low peaks) decode alike."""
    model = load_model(ModelSpec(), RuntimeConfig(device='cpu'))
    config = model.config
    sequence = generate_sequence(SceneConfig(seed=3, num_frames=3))
    previous = None
    for index in range(len(sequence)):
        frame = sequence.image(index)
        geometry = frame_geometry(frame.shape[1], frame.shape[0], config.input)
        image = preprocess(frame, geometry, config.input)
        prior = np.zeros((1, 1, config.input.height, config.input.width), np.float32)
        with torch.no_grad():
            outputs = model.network(torch.from_numpy(image), torch.from_numpy(
                image if previous is None else previous), torch.from_numpy(prior))
        heads = {name: value.numpy() for name, value in outputs.items()}
        heads['hm'] = sigmoid(heads['hm'])
        host, device = decode_both(heads, config.tracker.K)
        assert_same_decoding(host[0], device[0], heads['hm'][0], f'bundled frame {index}')
        previous = image


def test_numpy_and_torch_sigmoid_agree() -> None:
    """The host paths' sigmoid (numpy) and the device path's (torch) differ by rounding only."""
    logits = np.random.default_rng(7).normal(0.0, 8.0, 100_000).astype(np.float32)
    logits[:4] = [-100.0, -88.0, 0.0, 100.0]
    ours, theirs = sigmoid(logits), torch.sigmoid(torch.from_numpy(logits)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-37)


def test_packed_rows_carry_what_the_field_copy_does() -> None:
    """The torch engine's one packed copy equals copying field by field (3D heads, depth)."""
    heads = _random_heads(HEADS_3D, 10, 17, 30, batch=2, seed=9)
    decoded = decode_tensors({name: torch.from_numpy(v) for name, v in heads.items()}, 50)
    extras = extra_heads(HEADS_3D)
    packed = pack_detections(decoded, tuple(extras))
    assert packed.shape == (2, 50, packed_width(extras)) == (2, 50, 24)
    for unpacked, direct in zip(unpack_detections(packed.numpy(), True, extras),
                                to_raw_detections(decoded)):
        for name in ('scores', 'classes', 'cts', 'bboxes', 'tracking'):
            np.testing.assert_array_equal(getattr(unpacked, name), getattr(direct, name))
        assert list(unpacked.extras) == list(direct.extras) == list(extras)
        for name in extras:
            np.testing.assert_array_equal(unpacked.extras[name], direct.extras[name])
