"""Message conversions of the node, without DDS: images in, detections and label maps out.

Expected pixels are computed independently of the code under test (numpy indexing and
arithmetic rather than the same OpenCV calls) wherever that is possible.
"""

from __future__ import annotations

import array
import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from centertrack_ros.core.labels import class_labels
from centertrack_ros.core.tracks import Track
from centertrack_ros.ros.messages import bgr_to_image_msg, detection_array, label_info
from centertrack_ros.runtime import drawing
from centertrack_ros.runtime.boxes import detection_boxes
from centertrack_ros.runtime.drawing import draw_tracks
from centertrack_ros.runtime.frames import ConversionError, compressed_to_bgr, image_to_bgr

RNG = np.random.default_rng(7)
BGR = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def raw_msg(pixels: np.ndarray, encoding: str, padding: int = 0,
            big_endian: bool = False) -> Image:
    """Build an Image of ``pixels`` (HxW or HxWxC, uint8 or uint16) with row padding."""
    height = pixels.shape[0]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype('>u2' if big_endian else '<u2')
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    if padding:
        rows = np.concatenate([rows, np.full((height, padding), 0xAB, np.uint8)], axis=1)
    msg = Image()
    msg.height, msg.width = height, pixels.shape[1]
    msg.encoding = encoding
    msg.is_bigendian = big_endian
    msg.step = rows.shape[1]
    msg.data = array.array('B', rows.tobytes())
    return msg


def to8(values: np.ndarray) -> np.ndarray:
    """cv_bridge's 16 -> 8 bit scaling, computed in floating point."""
    return np.floor(values.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)


B, G, R = BGR[..., 0], BGR[..., 1], BGR[..., 2]
ALPHA = np.full_like(B, 99)
WIDE = RNG.integers(0, 65536, (6, 8, 3), dtype=np.uint16)
WB, WG, WR = WIDE[..., 0], WIDE[..., 1], WIDE[..., 2]

# (encoding, source pixels, expected BGR)
CASES = [
    ('bgr8', BGR, BGR),
    ('rgb8', np.stack([R, G, B], -1), BGR),
    ('bgra8', np.stack([B, G, R, ALPHA], -1), BGR),
    ('rgba8', np.stack([R, G, B, ALPHA], -1), BGR),
    ('mono8', G, np.stack([G, G, G], -1)),
    ('bgr16', WIDE, to8(WIDE)),
    ('rgb16', np.stack([WR, WG, WB], -1), to8(WIDE)),
    ('bgra16', np.stack([WB, WG, WR, WB], -1), to8(WIDE)),
    ('rgba16', np.stack([WR, WG, WB, WR], -1), to8(WIDE)),
    ('mono16', WG, to8(np.stack([WG, WG, WG], -1))),
]


@pytest.mark.parametrize('padding', [0, 5])
@pytest.mark.parametrize(('encoding', 'pixels', 'expected'), CASES, ids=[c[0] for c in CASES])
def test_raw_encodings_become_bgr(encoding, pixels, expected, padding):
    if pixels.dtype == np.uint16 and padding % 2:
        padding += 1  # a 16-bit row must stay 2-byte aligned
    out = image_to_bgr(raw_msg(pixels, encoding, padding))
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize('encoding', ['bgr16', 'mono16'])
def test_big_endian_16bit_is_byte_swapped(encoding):
    pixels = WIDE if encoding == 'bgr16' else WG
    little = image_to_bgr(raw_msg(pixels, encoding, big_endian=False))
    big = image_to_bgr(raw_msg(pixels, encoding, big_endian=True))
    np.testing.assert_array_equal(little, big)
    assert big[0, 0, 0] == to8(pixels[..., 0] if pixels.ndim == 3 else pixels)[0, 0]


def test_16bit_scaling_edges():
    pixels = np.array([[0, 128, 129, 385, 386, 65406, 65407, 65535]] * 2, dtype=np.uint16)
    out = image_to_bgr(raw_msg(pixels, 'mono16'))[..., 0]
    # v * 255 / 65535 = v / 257, rounded to nearest: 128/257 < .5 < 129/257, and so on.
    np.testing.assert_array_equal(out[0], [0, 0, 1, 1, 2, 254, 255, 255])


def test_bayer_patterns_map_to_the_right_channels():
    # A flat colour photographed through each mosaic must come out as that colour.
    blue, green, red = 40, 120, 220
    for encoding, layout in [('bayer_rggb8', [[red, green], [green, blue]]),
                             ('bayer_bggr8', [[blue, green], [green, red]]),
                             ('bayer_gbrg8', [[green, blue], [red, green]]),
                             ('bayer_grbg8', [[green, red], [blue, green]])]:
        mosaic = np.tile(np.array(layout, dtype=np.uint8), (4, 5))
        out = image_to_bgr(raw_msg(mosaic, encoding))
        interior = out[2:-2, 2:-2].reshape(-1, 3)
        assert np.all(np.abs(interior.astype(int) - [blue, green, red]) <= 1), encoding


def test_yuv422_byte_orders():
    # Grey (U = V = 128) makes the expected BGR independent of the YUV matrix: Y maps to grey.
    y = RNG.integers(16, 236, (4, 6), dtype=np.uint8)
    chroma = np.full_like(y, 128)
    uyvy = np.stack([chroma, y], -1)  # byte order U Y V Y ...
    yuyv = np.stack([y, chroma], -1)  # byte order Y U Y V ...
    for encoding, packed in (('yuv422', uyvy), ('yuv422_yuy2', yuyv)):
        out = image_to_bgr(raw_msg(packed, encoding)).astype(int)
        expected = np.clip(np.round((y.astype(float) - 16) * 255 / 219), 0, 255)
        assert np.all(np.abs(out - expected[..., None]) <= 2), encoding


def make_bad(**changes) -> Image:
    """Build a valid 6x8 bgr8 image, then change some header fields."""
    msg = raw_msg(BGR, 'bgr8')
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize(('msg', 'reason', 'words'), [
    (make_bad(encoding='32FC1'), 'unknown_encoding', "'32FC1' is not supported"),
    (make_bad(encoding='8UC3'), 'unknown_encoding', 'supported: bgr8'),
    (make_bad(encoding=''), 'unknown_encoding', 'encoding field is empty'),
    (make_bad(width=0, height=0, step=0, data=array.array('B')), 'bad_size', '0x0'),
    (make_bad(width=1, height=1, step=3, data=array.array('B', b'abc')), 'bad_size', '1x1'),
    (make_bad(step=10), 'bad_step', 'step 10 is shorter than a row'),
    (make_bad(data=array.array('B', bytes(10))), 'bad_data_length', 'data has 10 bytes'),
    (make_bad(data=array.array('B', bytes(6 * 24 + 1))), 'bad_data_length', '24 x 6 = 144'),
    (make_bad(width=10_000, height=10_000, step=30_000), 'bad_data_length',
     '30000 x 10000 = 300000000'),
    (make_bad(width=100_000, height=100_000, step=300_000), 'bad_size', 'more than'),
    (raw_msg(WIDE, 'bgr16', padding=1), 'bad_step', 'not a multiple of the 2-byte'),
    (raw_msg(np.zeros((4, 5, 2), np.uint8), 'yuv422'), 'bad_size', 'width 5 is odd'),
])
def test_malformed_images_are_rejected_with_a_reason(msg, reason, words):
    with pytest.raises(ConversionError) as info:
        image_to_bgr(msg)
    assert info.value.reason == reason
    assert words in str(info.value)


def compressed(data: bytes, fmt: str = 'jpeg') -> CompressedImage:
    """Build a CompressedImage of ``data``."""
    msg = CompressedImage()
    msg.format = fmt
    msg.data = array.array('B', data)
    return msg


def test_png_round_trip_is_exact():
    ok, png = cv2.imencode('.png', BGR)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr(compressed(png.tobytes(), 'png')), BGR)


def test_jpeg_decodes_like_opencv():
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    frame = np.stack([np.tile(ramp, (48, 1)), np.tile(ramp[::-1], (48, 1)),
                      np.full((48, 64), 90, np.uint8)], -1)
    ok, jpeg = cv2.imencode('.jpg', frame)
    assert ok
    out = compressed_to_bgr(compressed(jpeg.tobytes(), 'rgb8; jpeg compressed bgr8'))
    np.testing.assert_array_equal(out, cv2.imdecode(jpeg, cv2.IMREAD_COLOR))
    assert np.abs(out.astype(int) - frame).mean() < 4  # a JPEG of the frame, not garbage


def test_grayscale_png_becomes_three_channels():
    ok, png = cv2.imencode('.png', G)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr(compressed(png.tobytes(), 'png')),
                                  np.stack([G, G, G], -1))


@pytest.mark.parametrize(('data', 'fmt', 'reason'), [
    (b'', 'jpeg', 'corrupt_compressed'),
    (b'\xff\xd8\xff\xe0 this is not a jpeg', 'jpeg', 'corrupt_compressed'),
    (b'plain garbage', 'png', 'corrupt_compressed'),
    (b'\x00' * 12 + b'\x89PNG', '16UC1; compressedDepth png', 'unsupported_format'),
])
def test_corrupt_compressed_images_are_rejected(data, fmt, reason):
    with pytest.raises(ConversionError) as info:
        compressed_to_bgr(compressed(data, fmt))
    assert info.value.reason == reason


def test_truncated_jpeg_is_rejected():
    ok, jpeg = cv2.imencode('.jpg', RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(ConversionError) as info:
        compressed_to_bgr(compressed(jpeg.tobytes()[:40]))
    assert info.value.reason == 'corrupt_compressed'


@pytest.mark.parametrize(('encoding', 'pixels', 'expected'), CASES, ids=[c[0] for c in CASES])
def test_cv_bridge_converts_like_our_own_code(encoding, pixels, expected):
    cv_bridge = pytest.importorskip('cv_bridge')
    msg = raw_msg(pixels, encoding, padding=4)
    ours = image_to_bgr(msg)
    np.testing.assert_array_equal(image_to_bgr(msg, cv_bridge.CvBridge()), ours)


def test_bgr_image_message_round_trip():
    header = Header(frame_id='cam')
    msg = bgr_to_image_msg(BGR, header)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ('bgr8', 8, 6, 24)
    assert msg.is_bigendian == (sys.byteorder == 'big')
    assert msg.header.frame_id == 'cam'
    np.testing.assert_array_equal(image_to_bgr(msg), BGR)


def make_track(track_id, class_id, bbox, score=0.8, active=1):
    """Build a core Track with a box."""
    return Track(score=score, class_id=class_id, bbox=np.array(bbox, np.float32),
                 track_id=track_id, active=active)


def test_tracks_become_detections_with_ids_classes_and_pixel_boxes():
    header = Header(frame_id='front_camera')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    tracks = [make_track(7, 2, [-5.5, 10.0, 30.5, 50.0], score=0.625),
              make_track(8, 1, [1, 2, 3, 4], active=0),  # coasting: not published
              make_track(12, 3, [100, 200, 140, 260], score=0.5, active=4)]
    names = {1: 'car', 2: 'pedestrian'}
    out = detection_array(detection_boxes(tracks, lambda c: names.get(c, str(c))), header)
    assert out.header.frame_id == 'front_camera' and out.header.stamp.nanosec == 345
    assert [d.id for d in out.detections] == ['7', '12']
    first, second = out.detections
    assert first.header.frame_id == 'front_camera' and first.header.stamp.sec == 12
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (12.5, 30.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (36.0, 40.0)
    assert first.results[0].hypothesis.class_id == 'pedestrian'
    assert first.results[0].hypothesis.score == pytest.approx(0.625)
    assert second.results[0].hypothesis.class_id == '3'
    assert len(detection_array(detection_boxes([], str), header).detections) == 0


def test_label_info_lists_every_class():
    # A class without a name is listed under its id as text, as its detections carry it.
    msg = label_info(class_labels(('car', 'pedestrian'), 3), 0.4, Header())
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [
        (1, 'car'), (2, 'pedestrian'), (3, '3')]
    assert msg.threshold == pytest.approx(0.4)


def test_debug_drawing_marks_active_tracks_only():
    image = np.zeros((120, 160, 3), np.uint8)
    drawn = draw_tracks(image, [make_track(3, 1, [20, 30, 80, 100]),
                                make_track(4, 1, [100, 10, 150, 50], active=0)], str)
    assert not image.any()  # the input is not modified
    assert drawn[100, 50].any() and drawn[30 + 35, 20].any()  # the box edges
    assert not drawn[30, 125].any()  # nothing where the coasting track is
    assert drawing.track_color(3) != drawing.track_color(4)
