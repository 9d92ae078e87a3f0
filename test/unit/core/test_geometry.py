"""Affine geometry, the OpenCV-4 fixed-point warp and normalisation of the network input.

The warp is checked against an integer re-implementation of OpenCV 4's ``warpAffine``
(``INTER_LINEAR``, ``BORDER_CONSTANT`` 0) written here from its documented arithmetic:
inverse map in double precision, source coordinates in 1/1024 fixed point rounded to 1/32
pixel, bilinear weights of 2**15 in total, round-half-up shift back to 8 bits.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import reference_data as ref

from centertrack_ros.core.config import (
    DEFAULT_MEAN,
    DEFAULT_STD,
    CenterTrackConfig,
    InputConfig,
)
from centertrack_ros.core.geometry import (
    affine_transform_matrix,
    frame_geometry,
    transform_box,
    transform_points,
)
from centertrack_ros.core.preprocess import normalise, preprocess
from centertrack_ros.core.warp import warp_bilinear, warp_maps

SIZES = [  # (image w, image h, input w, input h)
    (1920, 1080, 960, 544),
    (1242, 375, 1280, 384),
    (640, 480, 512, 512),
    (480, 640, 512, 512),     # portrait: the height is the longer side
    (53, 37, 96, 64),         # odd sizes, upscaling
    (17, 29, 128, 160),       # odd portrait, much smaller than the input
    (301, 199, 96, 64),       # downscaling
    (96, 64, 96, 64),         # same size
]


def _expected_matrix(image_w, image_h, out_w, out_h):
    """Uniform scale s = out_w / longer side, image centre onto output centre."""
    s = out_w / max(image_w, image_h)
    return np.array([[s, 0.0, out_w / 2 - s * image_w / 2],
                     [0.0, s, out_h / 2 - s * image_h / 2]])


# ------------------------------------------------------------------------------ geometry

@pytest.mark.parametrize(('iw', 'ih', 'w', 'h'), SIZES)
def test_matrices_are_centre_preserving_uniform_scalings(iw, ih, w, h):
    g = frame_geometry(iw, ih, InputConfig(width=w, height=h))
    assert g.scale == max(iw, ih)
    assert np.allclose(g.center, [iw / 2, ih / 2])
    np.testing.assert_allclose(g.to_input, _expected_matrix(iw, ih, w, h), atol=1e-4)
    np.testing.assert_allclose(g.to_output, _expected_matrix(iw, ih, w // 4, h // 4),
                               atol=1e-4)
    assert (g.output_width, g.output_height) == (w // 4, h // 4)


@pytest.mark.parametrize(('iw', 'ih', 'w', 'h'), SIZES)
def test_centre_maps_to_centre_and_longer_side_spans_input_width(iw, ih, w, h):
    g = frame_geometry(iw, ih, InputConfig(width=w, height=h))
    centre = transform_points(np.array([[iw / 2, ih / 2]]), g.to_input)[0]
    np.testing.assert_allclose(centre, [w / 2, h / 2], atol=1e-3)
    centre = transform_points(np.array([[iw / 2, ih / 2]]), g.to_output)[0]
    np.testing.assert_allclose(centre, [w / 8, h / 8], atol=1e-3)
    # The longer side, wherever it lies, maps onto a length equal to the input width.
    if iw >= ih:
        ends = transform_points(np.array([[0.0, ih / 2], [iw, ih / 2]]), g.to_input)
        np.testing.assert_allclose(ends[:, 0], [0, w], atol=1e-3)
    else:
        ends = transform_points(np.array([[iw / 2, 0.0], [iw / 2, ih]]), g.to_input)
        np.testing.assert_allclose(ends[:, 1], [h / 2 - w / 2, h / 2 + w / 2], atol=1e-3)


@pytest.mark.parametrize(('iw', 'ih', 'w', 'h'), SIZES)
def test_output_to_image_round_trip(iw, ih, w, h):
    g = frame_geometry(iw, ih, InputConfig(width=w, height=h))
    rng = np.random.default_rng(iw * 7 + ih)
    points = rng.uniform([-10, -10], [iw + 10, ih + 10], size=(200, 2)).astype(np.float32)
    cells = transform_points(points, g.to_output)
    back = transform_points(cells, g.output_to_image)
    np.testing.assert_allclose(back, points, atol=1e-3)
    # And the other way round, from output cells.
    cells = rng.uniform(0, [w // 4, h // 4], size=(200, 2)).astype(np.float32)
    again = transform_points(transform_points(cells, g.output_to_image), g.to_output)
    np.testing.assert_allclose(again, cells, atol=1e-3)


def test_inverse_flag_gives_the_inverse_matrix():
    centre = np.array([320.0, 240.0], dtype=np.float32)
    forward = affine_transform_matrix(centre, 640.0, (128, 96))
    inverse = affine_transform_matrix(centre, 640.0, (128, 96), inverse=True)
    as3 = np.vstack([forward, [0, 0, 1]]) @ np.vstack([inverse, [0, 0, 1]])
    np.testing.assert_allclose(as3, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(inverse, [[5, 0, 0], [0, 5, 0]], atol=1e-6)


def test_transform_points_works_in_float32():
    matrix = np.array([[0.5, 0.0, 1.0], [0.0, 0.5, 2.0]])
    out = transform_points(np.array([[10.0, 20.0], [0.0, 0.0]]), matrix)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[6.0, 12.0], [1.0, 2.0]])
    assert transform_points(np.zeros((0, 2)), matrix).shape == (0, 2)


def test_transform_box_maps_and_clips():
    matrix = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, -5.0]])
    box = transform_box(np.array([20.0, 30.0, 60.0, 80.0]), matrix, 100, 100)
    np.testing.assert_allclose(box, [20.0, 10.0, 40.0, 35.0])
    assert box.dtype == np.float32
    # Partly outside: clipped to [0, width - 1] x [0, height - 1], as _trans_bbox does.
    box = transform_box(np.array([-100.0, -100.0, 500.0, 60.0]), matrix, 100, 50)
    np.testing.assert_allclose(box, [0.0, 0.0, 99.0, 25.0])
    # Entirely outside: degenerates to an empty box on the border.
    box = transform_box(np.array([300.0, 10.0, 400.0, 40.0]), matrix, 100, 100)
    assert box[0] == box[2] == 99.0
    # The input is not modified.
    original = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    transform_box(original, matrix, 100, 100)
    np.testing.assert_array_equal(original, [1.0, 2.0, 3.0, 4.0])


def test_geometry_is_cached_and_read_only():
    config = InputConfig(width=96, height=64)
    a = frame_geometry(640, 480, config)
    assert frame_geometry(640.0, 480.0, config) is a
    assert frame_geometry(480, 640, config) is not a
    assert frame_geometry(640, 480, InputConfig(width=128, height=64)) is not a
    for array in (a.center, a.to_input, a.to_output, a.output_to_image):
        with pytest.raises(ValueError):
            array[0] = 1


# ---------------------------------------------------------------------------------- warp

def _opencv4_warp_affine(image: np.ndarray, matrix: np.ndarray, out_w: int,
                         out_h: int) -> np.ndarray:
    """OpenCV 4.x ``warpAffine(INTER_LINEAR, BORDER_CONSTANT=0)`` in plain integer arithmetic."""
    m = [float(v) for v in np.asarray(matrix, dtype=np.float64).ravel()]
    det = m[0] * m[4] - m[1] * m[3]
    det = 1.0 / det if det != 0 else 0.0
    a, b, d, e = m[4] * det, -m[1] * det, -m[3] * det, m[0] * det
    c = -a * m[2] - b * m[5]
    f = -d * m[2] - e * m[5]
    # Python's round() on floats rounds half to even, like cvRound.
    col_x = [round(a * x * 1024) for x in range(out_w)]
    col_y = [round(d * x * 1024) for x in range(out_w)]
    row_x = [round((b * y + c) * 1024) + 16 for y in range(out_h)]
    row_y = [round((e * y + f) * 1024) + 16 for y in range(out_h)]
    fixed_x = (np.array(row_x, dtype=np.int64)[:, None] + np.array(col_x)[None, :]) // 32
    fixed_y = (np.array(row_y, dtype=np.int64)[:, None] + np.array(col_y)[None, :]) // 32
    sx, fx = fixed_x // 32, fixed_x % 32  # floor division == arithmetic shift
    sy, fy = fixed_y // 32, fixed_y % 32
    height, width = image.shape[:2]
    channels = image.shape[2]

    def tap(yy, xx):
        inside = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
        values = image[np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)].astype(np.int64)
        return values * inside[..., None]

    acc = np.zeros((out_h, out_w, channels), dtype=np.int64)
    for dy, wy in ((0, 32 - fy), (1, fy)):
        for dx, wx in ((0, 32 - fx), (1, fx)):
            acc += tap(sy + dy, sx + dx) * (wy * wx * 32)[..., None]
    return np.clip((acc + (1 << 14)) >> 15, 0, 255).astype(np.uint8)


def _image(width, height, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(('iw', 'ih', 'w', 'h'), SIZES)
def test_warp_equals_opencv4_fixed_point_bilinear(iw, ih, w, h):
    g = frame_geometry(iw, ih, InputConfig(width=w, height=h))
    image = _image(iw, ih, iw + ih)
    got = warp_bilinear(image, g)
    assert got.shape == (h, w, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, _opencv4_warp_affine(image, g.to_input, w, h))


def test_warp_of_smooth_image_is_within_one_level_of_float_bilinear():
    # A ramp is reproduced by bilinear interpolation up to fixed-point rounding.
    iw, ih = 200, 120
    xs = np.arange(iw, dtype=np.float64)
    image = np.repeat(np.round(xs / (iw - 1) * 255)[None, :, None], ih, axis=0)
    image = np.repeat(image, 3, axis=2).astype(np.uint8)
    g = frame_geometry(iw, ih, InputConfig(width=128, height=96))
    got = warp_bilinear(image, g).astype(np.float64)
    inv = cv2.invertAffineTransform(g.to_input)
    # Rows well inside the image, columns away from the left/right edges.
    rows = [r for r in range(96) if 2 <= inv[1, 1] * r + inv[1, 2] <= ih - 3]
    for r in rows[::7]:
        for col in range(4, 124, 9):
            src_x = inv[0, 0] * col + inv[0, 2]
            expected = np.interp(src_x, xs, image[0, :, 0].astype(np.float64))
            assert abs(got[r, col, 0] - expected) <= 1.5


def test_warp_border_is_zero():
    # A wide white image in a square input leaves black bands above and below.
    image = np.full((100, 400, 3), 255, dtype=np.uint8)
    g = frame_geometry(400, 100, InputConfig(width=128, height=128))
    got = warp_bilinear(image, g)
    # 400 px -> 128 px: scale 0.32; the image spans rows 48 to 80 exactly.
    assert np.all(got[:48] == 0) and np.all(got[80:] == 0)
    assert np.all(got[48:80] == 255)
    # A tall image leaves bands left and right; the edge column blends with the border.
    image = np.full((400, 100, 3), 200, dtype=np.uint8)
    got = warp_bilinear(image, frame_geometry(100, 400, InputConfig(width=96, height=96)))
    # 400 px -> 96 px: scale 0.24; the image spans columns 36 to 60.
    assert np.all(got[:, :36] == 0) and np.all(got[:, 60:] == 0)
    assert np.all(got[:, 36:59] == 200)
    assert np.all(got[:, 59] == 200)


def test_warp_maps_are_cached_and_immutable():
    g = frame_geometry(301, 199, InputConfig(width=96, height=64))
    maps = warp_maps(g)
    assert warp_maps(g) is maps
    assert maps.frac_x.min() >= 0 and maps.frac_x.max() <= 31
    with pytest.raises(ValueError):
        maps.src_x[0, 0] = 0


@pytest.mark.skipif(not cv2.__version__.startswith('4.'),
                    reason='OpenCV 5 changed warpAffine; the independent model above stands in')
@pytest.mark.parametrize(('iw', 'ih', 'w', 'h'), SIZES)
def test_warp_equals_opencv4_warp_affine(iw, ih, w, h):
    g = frame_geometry(iw, ih, InputConfig(width=w, height=h))
    image = _image(iw, ih, 3 * iw + ih)
    expected = cv2.warpAffine(image, g.to_input, (w, h), flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(warp_bilinear(image, g), expected)


# ----------------------------------------------------------------------------- normalise

def test_normalise_is_bgr_mean_std_in_nchw_float32():
    warped = _image(96, 64, 5)
    config = InputConfig(width=96, height=64)
    out = normalise(warped, config)
    assert out.shape == (1, 3, 64, 96) and out.dtype == np.float32
    assert out.flags['C_CONTIGUOUS']
    for channel in range(3):
        expected = (warped[:, :, channel].astype(np.float64) / 255.0
                    - np.float32(DEFAULT_MEAN[channel])) / np.float32(DEFAULT_STD[channel])
        np.testing.assert_allclose(out[0, channel], expected.astype(np.float32), rtol=0,
                                   atol=1e-6)


def test_normalise_uses_configured_statistics():
    warped = np.full((64, 96, 3), 51, dtype=np.uint8)  # 0.2 in every channel
    config = InputConfig(width=96, height=64, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.1))
    out = normalise(warped, config)
    np.testing.assert_allclose(out[0, :, 10, 10], [0.2, 0.0, -1.0], atol=1e-6)


def test_preprocess_is_warp_then_normalise():
    image = _image(150, 90, 9)
    config = InputConfig(width=96, height=64)
    g = frame_geometry(150, 90, config)
    expected = normalise(_opencv4_warp_affine(image, g.to_input, 96, 64), config)
    np.testing.assert_array_equal(preprocess(image, g, config), expected)


# ------------------------------------------------------- against the original's inputs

@pytest.mark.parametrize('folder', ref.folder_params(ref.has_network_io, 'network input folders'))
def test_preprocess_equals_the_original_network_inputs(folder):
    expected = ref.expected(folder)
    config = CenterTrackConfig.from_official_options(expected['config'])
    stored = np.load(folder / 'network_io.npz')
    frames = sorted({name.split('_')[0] for name in stored.files})
    for name in frames:
        index = int(name[1:])
        image = cv2.imread(str(folder / expected['frames'][index]))
        g = frame_geometry(image.shape[1], image.shape[0], config.input)
        np.testing.assert_array_equal(preprocess(image, g, config.input),
                                      stored[f'{name}_images'])
