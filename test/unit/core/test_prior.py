"""The prior heatmap: CenterNet's Gaussian radius, kernels, clipping and track selection."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from support import reference_data as ref

from centertrack_ros.core.config import CenterTrackConfig, InputConfig
from centertrack_ros.core.geometry import frame_geometry
from centertrack_ros.core.prior import (
    draw_gaussian,
    draw_peaks,
    gaussian_kernel,
    gaussian_radius,
    prior_peaks,
    render_prior_heatmap,
)
from centertrack_ros.core.tracks import Track


def _radius_by_roots(height, width, overlap=0.7):
    """Evaluate the original's three cases as polynomials: ``a * (largest root)`` each.

    CenterNet's code divides every discriminant formula by 2 instead of ``2a``; written as
    roots of ``a r^2 - b r + c`` that is the largest root scaled by ``a``.
    """
    cases = [
        (1.0, height + width, width * height * (1 - overlap) / (1 + overlap)),
        (4.0, 2 * (height + width), (1 - overlap) * width * height),
        (4 * overlap, -2 * overlap * (height + width), (overlap - 1) * width * height),
    ]
    values = []
    for a, b, c in cases:
        roots = np.roots([a, -b, c])
        values.append(a * float(np.max(roots.real)))
    return min(values)


# ------------------------------------------------------------------------------- radius

def test_gaussian_radius_known_value():
    # 10 x 10: the third case wins, (-28 + sqrt(28^2 + 4 * 2.8 * 30)) / 2.
    expected = (-28 + math.sqrt(28 ** 2 + 4 * 2.8 * 30)) / 2
    assert expected == pytest.approx(2.7332, abs=1e-4)
    assert gaussian_radius(10, 10) == pytest.approx(expected, rel=1e-12)
    assert int(gaussian_radius(10, 10)) == 2


@pytest.mark.parametrize(('h', 'w'), [(1, 1), (3, 7), (10, 10), (24, 80), (80, 24),
                                      (150, 60), (544, 960), (2, 300)])
def test_gaussian_radius_matches_the_three_quadratics(h, w):
    assert gaussian_radius(h, w) == pytest.approx(_radius_by_roots(h, w), rel=1e-9)


@pytest.mark.parametrize('overlap', [0.5, 0.7, 0.9])
def test_gaussian_radius_other_overlaps(overlap):
    assert gaussian_radius(40, 30, overlap) == pytest.approx(
        _radius_by_roots(40, 30, overlap), rel=1e-9)


def test_gaussian_radius_is_symmetric_and_grows_with_size():
    assert gaussian_radius(30, 70) == gaussian_radius(70, 30)
    sizes = [gaussian_radius(s, s) for s in (4, 8, 16, 32, 64)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    # Linear in the size for a fixed aspect ratio (all three cases are homogeneous).
    assert gaussian_radius(64, 32) == pytest.approx(2 * gaussian_radius(32, 16), rel=1e-12)


# ------------------------------------------------------------------------------- kernel

@pytest.mark.parametrize('radius', [0, 1, 2, 5, 13])
def test_kernel_shape_peak_symmetry_and_values(radius):
    kernel = gaussian_kernel(radius)
    size = 2 * radius + 1
    assert kernel.shape == (size, size)
    assert kernel[radius, radius] == 1.0
    assert kernel.max() == 1.0
    np.testing.assert_array_equal(kernel, kernel.T)
    np.testing.assert_array_equal(kernel, kernel[::-1, :])
    np.testing.assert_array_equal(kernel, kernel[:, ::-1])
    sigma = size / 6
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            value = math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
            if value < np.finfo(np.float64).eps:
                value = 0.0
            assert kernel[radius + dy, radius + dx] == pytest.approx(value, rel=1e-12,
                                                                     abs=0)


def test_kernel_corner_value_is_fixed_by_sigma():
    # sigma = (2r+1)/6 puts the window edge a little inside 3 sigma (exp(-4.5) = 0.011).
    for radius in (3, 10, 40):
        kernel = gaussian_kernel(radius)
        sigma = (2 * radius + 1) / 6
        assert kernel[radius, 0] == pytest.approx(math.exp(-radius ** 2 / (2 * sigma ** 2)))
        assert 0.011 < kernel[radius, 0] < 0.04


# ------------------------------------------------------------------------------ drawing

def _dense_gaussian(height, width, cx, cy, radius):
    """Evaluate a Gaussian on the whole grid, zero outside its (2r+1)^2 window."""
    sigma = (2 * radius + 1) / 6
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    values = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma * sigma))
    window = (np.abs(xs - cx) <= radius) & (np.abs(ys - cy) <= radius)
    values[values < np.finfo(np.float64).eps] = 0
    return np.where(window, values, 0.0)


@pytest.mark.parametrize(('cx', 'cy', 'radius'), [
    (20, 15, 4), (0, 0, 5), (39, 29, 5), (0, 29, 3), (39, 0, 3), (2, 28, 6), (20, 0, 0),
    (1, 1, 12), (20, 15, 30)])
def test_draw_gaussian_clips_at_borders(cx, cy, radius):
    heatmap = np.zeros((30, 40), dtype=np.float32)
    draw_gaussian(heatmap, (cx, cy), radius)
    expected = _dense_gaussian(30, 40, cx, cy, radius).astype(np.float32)
    np.testing.assert_allclose(heatmap, expected, rtol=1e-6, atol=0)
    assert heatmap[cy, cx] == 1.0


@pytest.mark.parametrize(('cx', 'cy', 'radius'), [
    (40, 10, 3), (10, 30, 3), (45, 12, 10), (45, 35, 2), (50, 10, 3), (10, 60, 5)])
def test_draw_gaussian_centred_outside_draws_only_what_reaches_in(cx, cy, radius):
    # As in the original, a centre beyond the map leaves the visible part of its window.
    heatmap = np.zeros((30, 40), dtype=np.float32)
    draw_gaussian(heatmap, (cx, cy), radius)
    expected = _dense_gaussian(30, 40, cx, cy, radius).astype(np.float32)
    np.testing.assert_allclose(heatmap, expected, rtol=1e-6, atol=0)
    reaches_in = cx - radius < 40 and cy - radius < 30
    assert heatmap.any() == reaches_in


def test_draw_gaussian_max_blends():
    heatmap = np.zeros((30, 40), dtype=np.float32)
    heatmap[15, 22] = 0.99  # larger than the Gaussian's value there: kept
    heatmap[15, 18] = 0.01  # smaller: overwritten
    draw_gaussian(heatmap, (20, 15), 4)
    draw_gaussian(heatmap, (24, 15), 4)
    a = _dense_gaussian(30, 40, 20, 15, 4)
    b = _dense_gaussian(30, 40, 24, 15, 4)
    expected = np.maximum(a, b).astype(np.float32)
    expected[15, 22] = max(0.99, expected[15, 22])
    np.testing.assert_allclose(heatmap, expected, rtol=1e-6)
    assert heatmap[15, 22] == pytest.approx(0.99)
    # Max-blending (not summing): overlapping Gaussians never exceed 1.
    assert heatmap.max() == 1.0


def test_draw_peaks_renders_all_peaks():
    heat = draw_peaks([(5, 5, 2), (30, 20, 0), (39, 29, 3)], 30, 40)
    assert heat.dtype == np.float32 and heat.shape == (30, 40)
    expected = np.maximum.reduce([_dense_gaussian(30, 40, 5, 5, 2),
                                  _dense_gaussian(30, 40, 30, 20, 0),
                                  _dense_gaussian(30, 40, 39, 29, 3)])
    np.testing.assert_allclose(heat, expected.astype(np.float32), rtol=1e-6)
    assert not draw_peaks([], 8, 8).any()


# ----------------------------------------------------------------------- track selection

CONFIG = InputConfig(width=128, height=96)


def _track(bbox, score=0.9, active=1):
    return Track(score=score, class_id=1, bbox=np.array(bbox, dtype=np.float32),
                 active=active)


def _expected_peak(bbox, image_w, image_h):
    """Box -> input pixels (scale input_w / longer side), clip, radius rule, truncated centre."""
    s = CONFIG.width / max(image_w, image_h)
    tx, ty = CONFIG.width / 2 - s * image_w / 2, CONFIG.height / 2 - s * image_h / 2
    x1, y1, x2, y2 = bbox
    x1, x2 = (min(max(v * s + tx, 0), CONFIG.width - 1) for v in (x1, x2))
    y1, y2 = (min(max(v * s + ty, 0), CONFIG.height - 1) for v in (y1, y2))
    h, w = y2 - y1, x2 - x1
    radius = max(0, int(_radius_by_roots(math.ceil(h), math.ceil(w))))
    return int((x1 + x2) / 2), int((y1 + y2) / 2), radius


def test_prior_peaks_geometry_and_radius():
    g = frame_geometry(640, 480, CONFIG)
    boxes = [[100, 100, 200, 300], [0, 0, 40, 40], [600, 400, 639, 479], [313, 1, 330, 90]]
    peaks = prior_peaks([_track(b) for b in boxes], g, 0.5)
    assert peaks == [_expected_peak(b, 640, 480) for b in boxes]
    assert all(isinstance(v, int) for peak in peaks for v in peak)


def test_prior_peaks_selection_rules():
    g = frame_geometry(640, 480, CONFIG)
    box = [100, 100, 200, 300]
    tracks = [
        _track(box, score=0.5),             # equal to pre_thresh: drawn (skip only if below)
        _track(box, score=0.4999),          # below: skipped
        _track(box, score=0.9, active=0),   # coasting (unmatched) track: skipped
        _track(box, score=0.9, active=3),   # active for several frames: drawn
    ]
    peaks = prior_peaks(tracks, g, 0.5)
    assert len(peaks) == 2
    assert prior_peaks([], g, 0.5) == []


def test_prior_peaks_boxes_partly_or_fully_outside():
    g = frame_geometry(640, 480, CONFIG)
    partly = [-200, 300, 100, 600]   # sticks out left and below: clipped, still drawn
    outside = [700, 100, 800, 200]   # beyond the right edge: zero width after clipping
    degenerate = [50, 50, 50, 90]    # zero width to begin with
    peaks = prior_peaks([_track(partly), _track(outside), _track(degenerate)], g, 0.1)
    assert peaks == [_expected_peak(partly, 640, 480)]
    x, y, _ = peaks[0]
    assert 0 <= x < CONFIG.width and 0 <= y < CONFIG.height


def test_prior_peaks_landscape_image_band():
    # 1920x1080 into 128x96: the image occupies rows 12..84 of the input.
    g = frame_geometry(1920, 1080, CONFIG)
    peaks = prior_peaks([_track([0, 0, 1919, 1079])], g, 0.1)
    assert peaks == [_expected_peak([0, 0, 1919, 1079], 1920, 1080)]
    assert peaks[0][:2] == (63, 47)


def test_render_prior_heatmap():
    g = frame_geometry(640, 480, CONFIG)
    tracks = [_track([100, 100, 200, 300]), _track([400, 50, 440, 90], score=0.2)]
    heat = render_prior_heatmap(tracks, g, 0.3)
    assert heat.shape == (1, 1, 96, 128) and heat.dtype == np.float32
    cx, cy, radius = _expected_peak([100, 100, 200, 300], 640, 480)
    expected = _dense_gaussian(96, 128, cx, cy, radius).astype(np.float32)
    np.testing.assert_allclose(heat[0, 0], expected, rtol=1e-6)
    assert not render_prior_heatmap(tracks, g, 0.95).any()


# ------------------------------------------------------- against the original's inputs

@pytest.mark.parametrize('folder', ref.folder_params(ref.has_network_io, 'network input folders'))
def test_prior_equals_the_original_from_its_own_tracks(folder):
    """Render frame i's prior from the original's results of frame i-1; compare exactly."""
    expected = ref.expected(folder)
    config = CenterTrackConfig.from_official_options(expected['config'])
    stored = np.load(folder / 'network_io.npz')
    height, width = cv2.imread(str(folder / expected['frames'][0])).shape[:2]
    g = frame_geometry(width, height, config.input)
    frames = sorted(int(n.split('_')[0][1:]) for n in stored.files if n.endswith('_pre_hms'))
    assert frames
    for index in frames:
        previous = expected['results'][index - 1] if index > 0 else []
        tracks = [Track(score=r['score'], class_id=r['class'], active=r['active'],
                        bbox=np.array(r['bbox'], dtype=np.float32)) for r in previous]
        heat = render_prior_heatmap(tracks, g, config.tracker.effective_pre_thresh)
        np.testing.assert_array_equal(heat, stored[f'f{index}_pre_hms'])
        assert (index == 0) != bool(heat.any())
