"""Property-based tests of the node's input conversions (hypothesis, no DDS).

Every generated ``sensor_msgs/Image`` or ``CompressedImage`` must either convert to exactly
the BGR pixels an independent expectation computes, or be rejected with
:class:`ConversionError` and the precise reason key the rules below predict; no other
exception may escape. The rules and the expected pixels are written here from the message
definitions (byte arithmetic in numpy), not by calling the code under test. Forged headers that
declare huge images in tiny messages are also run in a subprocess whose address space is
capped, so that an attempt to allocate what such a header declares fails the test.
"""

from __future__ import annotations

import array
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image

from centertrack_ros.runtime.frames import (
    MAX_COMPRESSED_PIXELS,
    MAX_PIXELS,
    ConversionError,
    compressed_to_bgr,
    image_to_bgr,
)

EXAMPLES = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow],
                    deadline=None)

# encoding: (channels, bytes per sample, channel order of the stored values)
LAYOUTS = {
    'bgr8': (3, 1, 'bgr'), 'rgb8': (3, 1, 'rgb'), 'mono8': (1, 1, 'mono'),
    'bgra8': (4, 1, 'bgra'), 'rgba8': (4, 1, 'rgba'), 'bgr16': (3, 2, 'bgr'),
    'rgb16': (3, 2, 'rgb'), 'mono16': (1, 2, 'mono'), 'bgra16': (4, 2, 'bgra'),
    'rgba16': (4, 2, 'rgba'), 'yuv422': (2, 1, 'uyvy'), 'yuv422_yuy2': (2, 1, 'yuyv'),
    'bayer_rggb8': (1, 1, 'bayer'), 'bayer_bggr8': (1, 1, 'bayer'),
    'bayer_gbrg8': (1, 1, 'bayer'), 'bayer_grbg8': (1, 1, 'bayer'),
}
NOT_ENCODINGS = ['', '32FC1', '8UC3', 'BGR8', 'rgb8 ', ' mono8', 'bayer_rggb16', 'nv12',
                 'jpeg', 'bgr8\x00', 'yuv420', '16UC1', 'mono12', 'é']
UINT32 = 2 ** 32 - 1
REJECTED = ('unknown_encoding', 'bad_size', 'bad_step', 'bad_data_length')


# ----------------------------------------------------------------------------- raw images
def expected_reason(encoding: str, width: int, height: int, step: int, size: int):
    """Return the rejection reason the rules predict for these fields, or None (valid).

    The rules are checked in this documented order: encoding, size, step, data length.
    """
    if encoding not in LAYOUTS:
        return 'unknown_encoding'
    channels, sample, _ = LAYOUTS[encoding]
    if width < 2 or height < 2 or width * height > MAX_PIXELS:
        return 'bad_size'
    if channels == 2 and width % 2:
        return 'bad_size'
    if step < width * channels * sample or step % sample:
        return 'bad_step'
    if size != step * height:
        return 'bad_data_length'
    return None


def expected_bgr(data: bytes, encoding: str, width: int, height: int, step: int,
                 big_endian: bool) -> np.ndarray:
    """Compute the BGR pixels of a valid raw image from its bytes."""
    channels, sample, order = LAYOUTS[encoding]
    rows = np.frombuffer(data, np.uint8).reshape(height, step)[:, :width * channels * sample]
    if sample == 2:
        pairs = rows.reshape(height, width * channels, 2).astype(np.float64)
        high, low = (pairs[..., 0], pairs[..., 1]) if big_endian else (pairs[..., 1],
                                                                        pairs[..., 0])
        wide = high * 256 + low
        values = np.floor(wide * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    else:
        values = rows.copy()
    pixels = values.reshape(height, width, channels)
    if order == 'bgr':
        return pixels
    if order == 'rgb':
        return pixels[:, :, ::-1]
    if order == 'mono':
        return np.repeat(pixels, 3, axis=2)
    if order == 'bgra':
        return pixels[:, :, :3]
    if order == 'rgba':
        return pixels[:, :, 2::-1]
    # Colour-space conversions (YUV 4:2:2, Bayer demosaicing) are OpenCV's; what is checked
    # independently is which bytes reach them (row padding removed, pairs kept together).
    code = {'uyvy': cv2.COLOR_YUV2BGR_UYVY, 'yuyv': cv2.COLOR_YUV2BGR_YUY2}.get(order)
    if code is not None:
        return cv2.cvtColor(np.ascontiguousarray(pixels), code)
    bayer = {'bayer_rggb8': cv2.COLOR_BayerBG2BGR, 'bayer_bggr8': cv2.COLOR_BayerRG2BGR,
             'bayer_gbrg8': cv2.COLOR_BayerGR2BGR, 'bayer_grbg8': cv2.COLOR_BayerGB2BGR}
    return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), bayer[encoding])


@st.composite
def raw_images(draw):
    """Draw Image messages: mostly small and plausible, often subtly or grossly wrong."""
    encoding = draw(st.one_of(st.sampled_from(sorted(LAYOUTS)), st.sampled_from(NOT_ENCODINGS),
                              st.text(max_size=12)))
    channels, sample, _ = LAYOUTS.get(encoding, (3, 1, 'bgr'))
    small = st.integers(0, 24)
    huge = st.integers(0, UINT32)
    width = draw(st.one_of(small, small, small, huge))
    height = draw(st.one_of(small, small, small, huge))
    row = width * channels * sample
    step = draw(st.one_of(st.just(row), st.builds(lambda pad: row + pad, st.integers(0, 9)),
                          st.integers(0, UINT32), st.builds(lambda cut: max(row - cut, 0),
                                                            st.integers(1, 3))))
    step = min(step, UINT32)
    exact = step * height
    if exact <= 1 << 16:
        size = draw(st.one_of(st.just(exact), st.just(exact), st.integers(0, 2 * exact + 8),
                              st.builds(lambda d: max(exact + d, 0), st.integers(-3, 3))))
    else:  # a huge declared image arrives with a tiny buffer
        size = draw(st.integers(0, 4096))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    msg = Image()
    msg.encoding, msg.width, msg.height, msg.step = encoding, width, height, step
    msg.is_bigendian = draw(st.booleans())
    msg.data = array.array('B', data)
    return msg, data


def huge_and_empty(encoding: str, width: int, height: int, step: int) -> tuple[Image, bytes]:
    """Return an Image declaring ``width x height`` with no data at all."""
    return Image(encoding=encoding, width=width, height=height, step=step), b''


@EXAMPLES
@given(raw_images())
@example(huge_and_empty('bgr8', UINT32, UINT32, UINT32))
@example(huge_and_empty('mono16', 16384, 16384, 32768))
@example(huge_and_empty('yuv422', 3, 2, 6))
def test_raw_images_convert_exactly_or_are_rejected_with_the_predicted_reason(case):
    msg, data = case
    reason = expected_reason(msg.encoding, msg.width, msg.height, msg.step, len(data))
    try:
        out = image_to_bgr(msg)
    except ConversionError as exc:
        assert exc.reason == reason, f'{exc.reason} ({exc}) but the rules say {reason}'
        assert str(exc), 'a rejection says what is wrong'
        return
    assert reason is None, f'accepted, but the rules say {reason}'
    expected = expected_bgr(data, msg.encoding, msg.width, msg.height, msg.step,
                            msg.is_bigendian)
    assert out.dtype == np.uint8 and out.shape == (msg.height, msg.width, 3)
    assert out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out, expected)


@EXAMPLES
@given(encoding=st.sampled_from([e for e, (_, s, _) in LAYOUTS.items() if s == 2]),
       width=st.integers(2, 9), height=st.integers(2, 6), pad=st.integers(0, 3),
       big_endian=st.booleans(), seed=st.integers(0, 2 ** 32 - 1))
def test_16bit_images_of_either_byte_order_keep_their_values(encoding, width, height, pad,
                                                             big_endian, seed):
    """The same 16-bit values stored in either byte order give the same pixels."""
    channels = LAYOUTS[encoding][0]
    values = np.random.default_rng(seed).integers(0, 65536, (height, width * channels))
    pixels = values.astype('>u2' if big_endian else '<u2')
    rows = np.concatenate([pixels.view(np.uint8).reshape(height, -1),
                           np.zeros((height, 2 * pad), np.uint8)], axis=1)
    msg = Image(encoding=encoding, width=width, height=height, step=rows.shape[1],
                is_bigendian=big_endian)
    msg.data = array.array('B', rows.tobytes())
    out = image_to_bgr(msg)
    scaled = np.floor(values * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    scaled = scaled.reshape(height, width, channels)
    first = {'bgr': scaled, 'rgb': scaled[:, :, ::-1], 'mono': np.repeat(scaled, 3, axis=2),
             'bgra': scaled[:, :, :3], 'rgba': scaled[:, :, 2::-1]}[LAYOUTS[encoding][2]]
    np.testing.assert_array_equal(out, first)


# ----------------------------------------------------------------------------- compressed
def compressed(data: bytes, fmt: str = '') -> CompressedImage:
    """Build a CompressedImage holding ``data``."""
    msg = CompressedImage(format=fmt)
    msg.data = array.array('B', data)
    return msg


def smooth_image(seed: int, width: int, height: int, channels: int,
                 dtype=np.uint8) -> np.ndarray:
    """Return a smooth random image (JPEG keeps it close), ``HxW`` or ``HxWxC``."""
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    coarse = rng.integers(0, top + 1, (3, 3, max(channels, 1))).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    image = np.clip(np.round(image), 0, top).astype(dtype)
    return image.reshape(height, width) if channels == 1 else image.reshape(height, width,
                                                                           channels)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """Return a PNG chunk with its CRC."""
    return (struct.pack('>I', len(payload)) + kind + payload
            + struct.pack('>I', zlib.crc32(kind + payload)))


def forged_png(width: int, height: int, payload: int = 64) -> bytes:
    """Return a PNG whose IHDR declares ``width x height`` but whose data is tiny."""
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', header)
            + png_chunk(b'IDAT', zlib.compress(bytes(payload))) + png_chunk(b'IEND', b''))


def forged_jpeg(width: int, height: int) -> bytes:
    """Return a complete 16x16 JPEG whose frame header is rewritten to ``width x height``."""
    ok, data = cv2.imencode('.jpg', smooth_image(1, 16, 16, 3))
    assert ok
    data = bytearray(data.tobytes())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    return bytes(data)


def jpeg_declared_size(data: bytes):
    """Return the (width, height) of the first SOF0/1/2 header found by scanning, or None."""
    for marker in (b'\xff\xc0', b'\xff\xc1', b'\xff\xc2'):
        at = data.find(marker)
        if at >= 0 and at + 9 <= len(data):
            height, width = struct.unpack('>HH', data[at + 5:at + 9])
            return width, height
    return None


COMPRESSED_REASONS = ('corrupt_compressed', 'bad_size', 'unsupported_format')


def decoded_or_rejected(data: bytes, fmt: str = ''):
    """Run the conversion; return ('image', array) or ('rejected', reason)."""
    try:
        return 'image', compressed_to_bgr(compressed(data, fmt))
    except ConversionError as exc:
        assert exc.reason in COMPRESSED_REASONS, exc.reason
        assert str(exc)
        return 'rejected', exc.reason


@EXAMPLES
@given(seed=st.integers(0, 2 ** 32 - 1), width=st.integers(2, 48), height=st.integers(2, 40),
       layout=st.sampled_from(['gray8', 'bgr8', 'bgra8', 'gray16', 'bgr16']),
       level=st.integers(0, 9))
def test_png_decodes_to_the_exact_pixels(seed, width, height, layout, level):
    channels = {'gray': 1, 'bgr': 3, 'bgra': 4}[layout.rstrip('0123456789')]
    wide = layout.endswith('16')
    image = smooth_image(seed, width, height, channels, np.uint16 if wide else np.uint8)
    if seed % 2:  # smooth images compress well; noise exercises the other deflate paths
        image = np.random.default_rng(seed).integers(0, 65536 if wide else 256, image.shape
                                                     ).astype(image.dtype)
    ok, png = cv2.imencode('.png', image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    assert ok
    out = compressed_to_bgr(compressed(png.tobytes(), 'png'))
    eight = (image >> 8).astype(np.uint8) if wide else image  # OpenCV keeps the high byte
    if channels == 1:
        eight = np.repeat(eight[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(out, eight[:, :, :3])


@EXAMPLES
@given(seed=st.integers(0, 2 ** 32 - 1), width=st.integers(8, 64), height=st.integers(8, 64),
       quality=st.integers(60, 100), gray=st.booleans(), progressive=st.booleans())
def test_jpeg_decodes_to_the_encoded_image(seed, width, height, quality, gray, progressive):
    image = smooth_image(seed, width, height, 1 if gray else 3)
    ok, jpeg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality,
                                            cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    out = compressed_to_bgr(compressed(jpeg.tobytes(), 'jpeg'))
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    original = np.repeat(image[:, :, None], 3, axis=2) if gray else image
    # Luma only: chroma is subsampled, which on these tiny, steep gradients costs tens of levels.
    luma = [cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(int) for x in (out, original)]
    assert np.abs(luma[0] - luma[1]).mean() < 8, 'a JPEG of this image, not garbage'


@st.composite
def encoded(draw):
    """Draw a valid small PNG or JPEG, with the image it holds."""
    image = smooth_image(draw(st.integers(0, 2 ** 32 - 1)), draw(st.integers(2, 40)),
                         draw(st.integers(2, 40)), 3)
    codec = draw(st.sampled_from(['.png', '.jpg']))
    ok, data = cv2.imencode(codec, image)
    assert ok
    return codec, data.tobytes(), image


@EXAMPLES
@given(encoded(), st.data())
def test_truncated_data_is_rejected_or_decodes_to_the_complete_image(case, data):
    codec, full, image = case
    cut = data.draw(st.integers(0, len(full) - 1), label='kept bytes')
    kind, result = decoded_or_rejected(full[:cut])
    if codec == '.jpg':
        assert kind == 'rejected', 'a truncated JPEG lacks its end-of-image marker'
        assert result == 'corrupt_compressed'
    elif kind == 'image':  # a PNG cut inside its final IEND chunk still holds every pixel
        np.testing.assert_array_equal(result, image)
        assert cut >= len(full) - 12


@EXAMPLES
@given(encoded(), st.lists(st.tuples(st.integers(0, 2 ** 20), st.integers(0, 255)),
                           min_size=1, max_size=8))
def test_corrupted_bytes_are_rejected_or_decoded_as_opencv_decodes_them(case, changes):
    _, full, _ = case
    damaged = bytearray(full)
    for position, value in changes:
        damaged[position % len(damaged)] = value
    damaged = bytes(damaged)
    kind, result = decoded_or_rejected(damaged, 'jpeg')
    if kind == 'image':
        reference = cv2.imdecode(np.frombuffer(damaged, np.uint8), cv2.IMREAD_COLOR)
        assert reference is not None
        np.testing.assert_array_equal(result, reference)
        assert result.shape[0] * result.shape[1] <= MAX_COMPRESSED_PIXELS


@EXAMPLES
@given(st.binary(max_size=256), st.sampled_from(['', 'jpeg', 'png', 'rgb8; jpeg compressed bgr8',
                                                 'tiff', '16UC1; compressedDepth png']))
@example(b'', 'jpeg')
@example(b'\xff\xd8\xff', 'jpeg')
@example(b'\xff\xd8\xff\xff\xff\xff', 'jpeg')
@example(b'\x89PNG\r\n\x1a\n', 'png')
@example(b'II*\x00' + bytes(12), 'tiff')
@example(b'P6 30000 30000 255\n', '')
def test_arbitrary_bytes_never_raise_anything_else(data, fmt):
    kind, result = decoded_or_rejected(data, fmt)
    if 'compresseddepth' in fmt.lower():
        assert (kind, result) == ('rejected', 'unsupported_format')
    elif kind == 'image':
        np.testing.assert_array_equal(
            result, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


@EXAMPLES
@given(codec=st.sampled_from(['png', 'jpeg']), width=st.integers(0, 2 ** 16 - 1),
       height=st.integers(0, 2 ** 16 - 1))
@example('png', 2 ** 31 - 1, 2 ** 31 - 1)
@example('png', 8192, 8193)
@example('jpeg', 30000, 30000)
@example('jpeg', 65535, 65535)
@example('jpeg', 100, 0)
def test_forged_sizes_are_refused_before_decoding(codec, width, height):
    """A header may declare anything; what is decoded stays within what the data can hold."""
    data = forged_png(width, height) if codec == 'png' else forged_jpeg(width, height)
    kind, result = decoded_or_rejected(data, codec)
    if width < 2 or height < 2 or width * height > MAX_COMPRESSED_PIXELS:
        assert (kind, result) == ('rejected', 'bad_size')
    elif codec == 'jpeg' and ((width + 7) // 8) * ((height + 7) // 8) > 8 * len(data):
        assert (kind, result) == ('rejected', 'corrupt_compressed')
    elif kind == 'image':  # small enough for its bytes: decoded as OpenCV decodes it
        assert result.shape[:2] == (height, width)


# A child process: hostile messages whose headers declare gigabytes, with the address space
# capped at what it uses already plus 1 GiB. Decoding what those headers declare would need
# 2.7 GB or more and fail there instead of being refused from the header.
MEMORY_CHILD = r'''
import array, json, resource, struct, sys
sys.path.insert(0, 'test/unit/ros')
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from centertrack_ros.runtime.frames import ConversionError, compressed_to_bgr, image_to_bgr
from test_fuzz_conversions import forged_jpeg, forged_png

cases = [('jpeg', w, h) for w, h in ((30000, 30000), (65535, 65535), (20000, 65535),
                                      (8192, 8192), (4000, 4000))]
cases += [('png', w, h) for w, h in ((30000, 30000), (2 ** 31 - 1, 2 ** 31 - 1),
                                     (65535, 40000), (8192, 8192))]
cases += [('raw', w, h) for w, h in ((2 ** 32 - 1, 2 ** 32 - 1), (16384, 16384),
                                     (100000, 100000), (8192, 8192))]
messages = []
for kind, w, h in cases:
    if kind == 'raw':
        msg = Image(encoding='bgr8', width=w, height=h, step=min(3 * w, 2 ** 32 - 1))
        msg.data = array.array('B', bytes(12))
    else:
        msg = CompressedImage(format=kind)
        msg.data = array.array('B', forged_png(w, h) if kind == 'png' else forged_jpeg(w, h))
    messages.append((kind, w, h, msg))
with open('/proc/self/status') as status:
    used_kb = next(int(line.split()[1]) for line in status if line.startswith('VmSize:'))
limit = used_kb * 1024 + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for kind, w, h, msg in messages:
    try:
        (compressed_to_bgr if kind != 'raw' else image_to_bgr)(msg)
        outcome = 'converted'
    except ConversionError as exc:
        outcome = exc.reason + ': ' + str(exc)
    print(json.dumps([kind, w, h, outcome]), flush=True)
print('done', flush=True)
'''


def test_forged_huge_headers_do_not_allocate_what_they_declare(run_python):
    child = run_python(MEMORY_CHILD, env={'OMP_NUM_THREADS': '1'})
    child.wait_for(r'^done$', timeout=120)
    assert child.wait(30) == 0, child.output()
    results = [json.loads(line) for line in child.output().splitlines()
               if line.startswith('[')]
    assert len(results) == 13, child.output()
    for kind, width, height, outcome in results:
        where = f'{kind} {width}x{height}: {outcome}'
        if kind == 'raw':
            limit = MAX_PIXELS
            expected = 'bad_size' if width * height > limit else 'bad_data_length'
        elif width * height > MAX_COMPRESSED_PIXELS:
            expected = 'bad_size'
        else:
            expected = 'corrupt_compressed'  # within the size limit; the data cannot hold it
        assert outcome.startswith(expected + ':'), where
        assert 'memory' not in outcome.lower(), where


@pytest.mark.parametrize('fmt', ['jpeg', 'png'])
def test_the_size_limit_admits_real_camera_resolutions(fmt):
    """A real 4K frame (3840x2160) is far below the limit and decodes."""
    image = np.zeros((2160, 3840, 3), np.uint8)
    image[::7, ::5] = 200
    ok, data = cv2.imencode('.' + ('jpg' if fmt == 'jpeg' else fmt), image)
    assert ok
    assert compressed_to_bgr(compressed(data.tobytes(), fmt)).shape == (2160, 3840, 3)
