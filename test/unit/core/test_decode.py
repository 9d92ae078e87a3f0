"""Decoding head outputs (NMS, top-K, head gathering) and mapping them back to the image.

The numpy decoding of the host paths; that the torch engine's device decoding computes the
same is ``test/fidelity/test_decode_equality.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from centertrack_ros.core.config import InputConfig
from centertrack_ros.core.decode import (
    RawDetections,
    decode_heads,
    gather_at,
    heatmap_nms,
    local_maxima,
    sigmoid,
    top_indices,
    topk,
)
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.postprocess import detections_to_image


def _local_maxima(heat: np.ndarray) -> np.ndarray:
    """Cells not smaller than any of their (up to) 8 neighbours, by explicit comparison."""
    batch, classes, height, width = heat.shape
    keep = np.zeros(heat.shape, dtype=bool)
    for b in range(batch):
        for c in range(classes):
            for y in range(height):
                for x in range(width):
                    window = heat[b, c, max(0, y - 1):y + 2, max(0, x - 1):x + 2]
                    keep[b, c, y, x] = heat[b, c, y, x] >= window.max()
    return keep


def _heads(hm: np.ndarray, **others: np.ndarray) -> dict[str, np.ndarray]:
    heads = {'hm': np.ascontiguousarray(hm, dtype=np.float32)}
    for name, value in others.items():
        heads[name] = np.ascontiguousarray(value, dtype=np.float32)
    return heads


# ---------------------------------------------------------------------------------- NMS

def test_nms_keeps_exactly_the_local_maxima():
    rng = np.random.default_rng(0)
    heat = rng.random((2, 3, 9, 11)).astype(np.float32)
    got = heatmap_nms(heat)
    keep = _local_maxima(heat)
    np.testing.assert_array_equal(got, np.where(keep, heat, 0))
    assert keep.sum() > 10  # the map is busy enough to mean something


def test_nms_plateau_keeps_equal_neighbours():
    heat = np.zeros((1, 1, 5, 6), dtype=np.float32)
    heat[0, 0, 2, 2] = heat[0, 0, 2, 3] = 0.8  # a two-cell plateau: both survive
    heat[0, 0, 0, 0] = 0.3
    heat[0, 0, 1, 1] = 0.5                      # diagonal neighbour 0.8 at (2, 2) is larger
    heat[0, 0, 4, 5] = 0.2                      # corner peak
    got = heatmap_nms(heat)[0, 0]
    assert got[2, 2] == got[2, 3] == pytest.approx(0.8)
    assert got[1, 1] == 0 and got[0, 0] == 0
    assert got[4, 5] == pytest.approx(0.2)
    assert np.count_nonzero(got) == 3


def test_nms_is_per_class():
    heat = np.zeros((1, 2, 4, 4), dtype=np.float32)
    heat[0, 0, 1, 1] = 0.9
    heat[0, 1, 1, 2] = 0.5  # adjacent cell in another class: not suppressed
    got = heatmap_nms(heat)
    assert got[0, 0, 1, 1] == pytest.approx(0.9) and got[0, 1, 1, 2] == pytest.approx(0.5)


# ------------------------------------------------------------------------------- top-K

def test_topk_ranks_over_all_classes():
    heat = np.zeros((1, 3, 6, 7), dtype=np.float32)
    peaks = [  # (score, class, y, x)
        (0.95, 2, 5, 6), (0.9, 0, 0, 0), (0.8, 1, 3, 4), (0.7, 0, 2, 5), (0.6, 2, 1, 1),
        (0.5, 1, 0, 6), (0.4, 0, 5, 0)]
    for score, cls, y, x in peaks:
        heat[0, cls, y, x] = score
    scores, inds, classes, ys, xs = topk(heat, 5)
    assert scores.shape == inds.shape == classes.shape == ys.shape == xs.shape == (1, 5)
    np.testing.assert_allclose(scores[0], [p[0] for p in peaks[:5]], rtol=1e-6)
    assert classes[0].tolist() == [p[1] for p in peaks[:5]]
    assert ys[0].tolist() == [p[2] for p in peaks[:5]]
    assert xs[0].tolist() == [p[3] for p in peaks[:5]]
    assert inds[0].tolist() == [p[2] * 7 + p[3] for p in peaks[:5]]
    assert ys.dtype == xs.dtype == np.float32


def _two_stage(heat: np.ndarray, k: int) -> np.ndarray:
    """Select as the original, written out: K per class, then K overall (flat indices)."""
    classes, cells = heat.shape[0], heat[0].size
    per_class = [c * cells + top_indices(heat[c].reshape(-1), k) for c in range(classes)]
    candidates = np.concatenate(per_class)
    return candidates[top_indices(heat.reshape(-1)[candidates], k)]


def test_topk_equals_the_two_stage_selection_and_a_global_sort():
    # Two-stage top-K (per class, then overall) is the global top-K of (class, cell) pairs.
    rng = np.random.default_rng(1)
    heat = rng.permutation(4 * 8 * 10).reshape(1, 4, 8, 10).astype(np.float32) / 400
    scores, inds, classes, ys, xs = topk(heat, 25)
    flat = heat.reshape(-1)
    order = np.argsort(-flat)[:25]
    np.testing.assert_array_equal(order, _two_stage(heat[0], 25))
    np.testing.assert_array_equal(scores[0], flat[order])
    np.testing.assert_array_equal(classes[0], order // 80)
    np.testing.assert_array_equal(inds[0], order % 80)
    np.testing.assert_array_equal(ys[0], (order % 80) // 10)
    np.testing.assert_array_equal(xs[0], order % 10)


def test_topk_per_image_in_a_batch():
    heat = np.zeros((2, 1, 4, 4), dtype=np.float32)
    heat[0, 0, 1, 2] = 0.9
    heat[1, 0, 3, 0] = 0.7
    scores, inds, classes, ys, xs = topk(heat, 1)
    assert scores[:, 0].tolist() == pytest.approx([0.9, 0.7])
    assert inds[:, 0].tolist() == [6, 12]
    assert ys[:, 0].tolist() == [1, 3] and xs[:, 0].tolist() == [2, 0]


# ---------------------------------------------------------------------------------- ties

def test_ties_go_to_the_lower_class_then_the_lower_cell():
    heat = np.zeros((1, 3, 5, 6), dtype=np.float32)
    for cls, y, x in [(2, 0, 0), (1, 4, 5), (1, 0, 3), (0, 2, 2)]:
        heat[0, cls, y, x] = 0.5
    heat[0, 2, 3, 3] = 0.7
    scores, _, classes, ys, xs = topk(heat, 5)
    assert scores[0].tolist() == pytest.approx([0.7, 0.5, 0.5, 0.5, 0.5])
    got = list(zip(classes[0].tolist(), ys[0].tolist(), xs[0].tolist()))
    assert got == [(2, 3, 3), (0, 2, 2), (1, 0, 3), (1, 4, 5), (2, 0, 0)]
    # At the K-th row the lower index wins; the filler of zero scores is the lowest cells.
    _, _, classes, ys, xs = topk(heat, 3)
    assert list(zip(classes[0].tolist(), ys[0].tolist(), xs[0].tolist()))[1:] == \
        [(0, 2, 2), (1, 0, 3)]
    scores, inds, classes, _, _ = topk(heat, 8)
    assert scores[0, 5:].tolist() == [0, 0, 0] and inds[0, 5:].tolist() == [0, 1, 2]
    assert classes[0, 5:].tolist() == [0, 0, 0]


@pytest.mark.parametrize('size', [1, 7, 100, 5000])
def test_top_indices_is_a_stable_descending_sort(size):
    rng = np.random.default_rng(size)
    values = rng.integers(0, 6, size).astype(np.float32)  # many ties
    for k in {1, size // 2 + 1, size, size + 3}:
        np.testing.assert_array_equal(top_indices(values, k),
                                      np.argsort(-values, kind='stable')[:k])


def test_ties_do_not_change_the_detections_above_a_threshold():
    """A plateau above the threshold comes out whole, whatever fills the rows below it."""
    hm = np.zeros((1, 2, 6, 8), dtype=np.float32)
    hm[0, 1, 2, 2] = hm[0, 1, 2, 3] = 0.8  # a two-cell plateau: both are peaks
    hm[0, 0, 4, 6] = 0.8                   # the same score in another class
    hm[0, 0, 0, 0] = 0.3
    heads = _heads(hm, wh=np.ones((1, 2, 6, 8)))
    for k in (3, 4, 20, 200):
        raw = decode_heads(heads, k)[0]
        above = [(int(c), *map(int, ct)) for c, ct, s in zip(raw.classes, raw.cts, raw.scores)
                 if s > 0.5]
        assert above == [(0, 6, 4), (1, 2, 2), (1, 3, 2)]
        assert raw.scores[3 if k > 3 else 2] <= 0.8
    once, again = decode_heads(heads, 20)[0], decode_heads(heads, 20)[0]
    np.testing.assert_array_equal(once.cts, again.cts)


def test_sparse_and_dense_selection_agree():
    """Ranking only the positive peaks equals ranking the whole filtered map."""
    rng = np.random.default_rng(4)
    hm = sigmoid(rng.normal(-3, 2, (1, 3, 12, 20)))
    keep = local_maxima(hm)
    peaks = int(np.count_nonzero(keep))
    for k in (1, 10, peaks, peaks + 1, 240):  # more rows than peaks: the dense path
        raw = decode_heads(_heads(hm, wh=np.ones((1, 2, 12, 20))), k)[0]
        expected = top_indices((hm * keep).reshape(-1), min(k, 240))
        got = raw.classes * 240 + raw.cts[:, 1].astype(np.int64) * 20 + raw.cts[:, 0]
        np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------- gathering heads

def test_gather_at_reads_cells():
    feature = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    inds = np.array([[0, 7, 19], [4, 4, 10]])
    got = gather_at(feature, inds)
    assert got.shape == (2, 3, 3)
    for b in range(2):
        for k in range(3):
            y, x = divmod(int(inds[b, k]), 5)
            assert got[b, k].tolist() == feature[b, :, y, x].tolist()


def _single_peak_maps(height=6, width=8, classes=2, cls=1, y=2, x=5, score=0.9):
    hm = np.zeros((1, classes, height, width), dtype=np.float32)
    hm[0, cls, y, x] = score
    return hm


def _at_peak(*values: float) -> np.ndarray:
    """Return a head map the size of ``_single_peak_maps()``: ``values`` at its peak, else 0."""
    head = np.zeros((1, len(values), 6, 8))
    head[0, :, 2, 5] = values
    return head


def test_decode_reg_wh_and_tracking():
    heads = _heads(_single_peak_maps(), reg=_at_peak(0.25, 0.75), wh=_at_peak(3.0, 1.5),
                   tracking=_at_peak(-1.5, 2.0))
    (out,) = decode_heads(heads, k=3)
    assert out.scores[0] == pytest.approx(0.9)
    assert out.classes[0] == 1
    assert out.cts[0].tolist() == [5.0, 2.0]  # the integer peak cell, x then y
    cx, cy = 5.25, 2.75
    np.testing.assert_allclose(out.bboxes[0], [cx - 1.5, cy - 0.75, cx + 1.5, cy + 0.75],
                               rtol=1e-6)
    np.testing.assert_allclose(out.tracking[0], [-1.5, 2.0])
    assert out.bboxes.shape == (3, 4)
    for name in ('scores', 'cts', 'bboxes', 'tracking'):
        assert getattr(out, name).dtype == np.float32, name


def test_decode_clamps_negative_sizes():
    heads = _heads(_single_peak_maps(), reg=_at_peak(0.0, 0.0), wh=_at_peak(-4.0, 2.0))
    (out,) = decode_heads(heads, k=1)
    np.testing.assert_allclose(out.bboxes[0], [5.0, 1.0, 5.0, 3.0])
    assert out.tracking is None and out.extras == {}


def test_decode_without_reg_uses_cell_centre():
    (out,) = decode_heads(_heads(_single_peak_maps(), wh=_at_peak(2.0, 2.0)), k=1)
    np.testing.assert_allclose(out.bboxes[0], [4.5, 1.5, 6.5, 3.5])


def test_decode_ltrb_amodal_replaces_size_box():
    ltrb = _at_peak(-3.0, -1.0, 7.0, 0.5)  # may reach beyond the map (amodal)
    heads = _heads(_single_peak_maps(), reg=_at_peak(0.4, 0.4), wh=_at_peak(2.0, 2.0),
                   ltrb_amodal=ltrb)
    (out,) = decode_heads(heads, k=1)
    # Relative to the integer cell (not the reg-refined centre), as the original does.
    np.testing.assert_allclose(out.bboxes[0], [2.0, 1.0, 12.0, 2.5])


def test_decode_k_larger_than_the_map_is_clamped():
    hm = np.random.default_rng(2).random((1, 1, 3, 4)).astype(np.float32)
    (out,) = decode_heads(_heads(hm, wh=np.ones((1, 2, 3, 4))), k=100)
    assert out.scores.shape == (12,)
    assert np.all(np.diff(out.scores) <= 0)
    # Suppressed cells come out as zero scores at the end.
    kept = heatmap_nms(hm)
    np.testing.assert_allclose(np.sort(out.scores)[::-1], np.sort(kept.ravel())[::-1])


def test_decode_batch_and_raw_detections():
    hm = np.zeros((2, 2, 6, 8), dtype=np.float32)
    hm[0, 1, 2, 5] = 0.9
    hm[0, 0, 4, 1] = 0.6
    hm[1, 0, 1, 1] = 0.7
    heads = _heads(hm, reg=np.zeros((2, 2, 6, 8)), wh=np.ones((2, 2, 6, 8)),
                   tracking=np.full((2, 2, 6, 8), 0.5))
    raws = decode_heads(heads, k=4)
    assert len(raws) == 2
    first, second = raws
    assert isinstance(first, RawDetections)
    assert first.classes.dtype == np.int64
    assert first.classes[:2].tolist() == [1, 0]
    assert first.scores[:2].tolist() == pytest.approx([0.9, 0.6])
    assert first.cts[:2].tolist() == [[5, 2], [1, 4]]
    assert second.scores[0] == pytest.approx(0.7) and second.scores[1] == 0
    assert second.cts[0].tolist() == [1, 1]
    assert first.tracking.shape == (4, 2)
    no_tracking = decode_heads(_heads(hm, wh=np.ones((2, 2, 6, 8))), 2)
    assert no_tracking[0].tracking is None and no_tracking[1].tracking is None


def test_sigmoid_is_float32_and_saturates_quietly():
    logits = np.array([-200.0, -20.0, 0.0, 3.0, 200.0], dtype=np.float32)
    with np.errstate(all='raise'):
        got = sigmoid(logits)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-6,
                               atol=1e-30)
    assert logits[2] == 0  # the input is left alone


def test_decoding_imports_no_torch():
    """Decoding, the 3D formulas and mapping back run where torch cannot be imported."""
    repo = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(repo / 'benchmarks' / 'no_torch'), str(repo)]))
    code = ('import numpy as np\n'
            'from centertrack_ros.core import decode, mono3d, postprocess\n'
            'hm = np.zeros((1, 2, 4, 6), np.float32); hm[0, 1, 2, 3] = 0.9\n'
            'raw = decode.decode_heads({"hm": hm, "wh": np.ones((1, 2, 4, 6), np.float32),\n'
            '                           "dep": np.zeros((1, 1, 4, 6), np.float32)}, 5)[0]\n'
            'import sys; assert "torch" not in sys.modules\n'
            'print(int(raw.classes[0]), float(raw.extras["dep"][0, 0]))\n')
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cls, depth = done.stdout.split()
    assert cls == '1' and float(depth) == pytest.approx(1.0, rel=1e-5)


# ------------------------------------------------------------------------- back to image

def _raw(scores, classes, cts, bboxes, tracking=None):
    return RawDetections(
        scores=np.asarray(scores, dtype=np.float32), classes=np.asarray(classes, np.int64),
        cts=np.asarray(cts, dtype=np.float32).reshape(-1, 2),
        bboxes=np.asarray(bboxes, dtype=np.float32).reshape(-1, 4),
        tracking=None if tracking is None else np.asarray(tracking, np.float32).reshape(-1, 2))


def test_detections_to_image_maps_with_the_output_transform():
    # A 384x256 image in a 96x64 input: output cells are 16 image pixels, no offset.
    g = frame_geometry(384, 256, InputConfig(width=96, height=64))
    raw = _raw([0.9, 0.7], [0, 2], [[5, 2], [10, 8]],
               [[4.5, 1.0, 6.5, 3.0], [9.0, 7.0, 11.0, 9.5]],
               tracking=[[1.0, -0.5], [0.0, 0.0]])
    tracks = detections_to_image(raw, g, out_thresh=0.3)
    assert [t.class_id for t in tracks] == [1, 3]
    assert [t.score for t in tracks] == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(tracks[0].ct, [80, 32], atol=1e-3)
    np.testing.assert_allclose(tracks[0].bbox, [72, 16, 104, 48], atol=1e-3)
    np.testing.assert_allclose(tracks[0].tracking, [16, -8], atol=1e-3)
    np.testing.assert_allclose(tracks[1].bbox, [144, 112, 176, 152], atol=1e-3)
    assert not any(hasattr(t, 'track_id') for t in tracks), 'decoding assigns no identity'


def test_detections_to_image_letterboxed_offset():
    # 1920x1080 into 960x544: 240x136 cells, 8 px per cell, 4 px band offset vertically.
    g = frame_geometry(1920, 1080, InputConfig(width=960, height=544))
    tracks = detections_to_image(_raw([0.9], [0], [[120, 68]], [[100, 50, 140, 80]]), g, 0.1)
    np.testing.assert_allclose(tracks[0].ct, [960, 540], atol=1e-2)
    np.testing.assert_allclose(tracks[0].bbox, [800, 396, 1120, 636], atol=1e-2)
    np.testing.assert_array_equal(tracks[0].tracking, [0, 0])  # no tracking head


def test_detections_to_image_threshold_is_strict():
    g = frame_geometry(384, 256, InputConfig(width=96, height=64))
    threshold = float(np.float32(0.5))
    raw = _raw([0.9, threshold, 0.2], [0, 0, 0], np.zeros((3, 2)), np.zeros((3, 4)))
    assert len(detections_to_image(raw, g, threshold)) == 1
    assert len(detections_to_image(raw, g, 0.49)) == 2
    assert detections_to_image(raw, g, 0.95) == []
    assert len(detections_to_image(raw, g, -1.0)) == 3
