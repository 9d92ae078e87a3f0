"""Camera frames from image messages: validation and conversion to BGR, free of ROS.

``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` messages -- rclpy's, or those
rosbags reads from a bag -- become contiguous BGR ``uint8`` arrays. Every malformed frame
raises :class:`ConversionError` whose ``reason`` is a short, stable key (counted per reason in
the diagnostics) and whose message says exactly what is wrong with the frame.

Raw images are validated here before any conversion, whichever converter then runs: cv_bridge
where the ROS distribution ships it, our own numpy/OpenCV conversion otherwise. Both produce
the same BGR pixels for every supported encoding (cv_bridge's ``imgmsg_to_cv2(msg, 'bgr8')``
semantics: 16-bit values scaled by 255/65535 and rounded, big-endian data byte-swapped,
``step`` padding dropped, cv_bridge's OpenCV codes for YUV 4:2:2 and Bayer patterns).
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Any, Hashable, Optional

import cv2
import numpy as np

# Reasons a frame is rejected; these keys appear in the diagnostics as ``rejected.<reason>``.
UNKNOWN_ENCODING = 'unknown_encoding'
BAD_SIZE = 'bad_size'
BAD_STEP = 'bad_step'
BAD_DATA_LENGTH = 'bad_data_length'
UNSUPPORTED_FORMAT = 'unsupported_format'
CORRUPT_COMPRESSED = 'corrupt_compressed'
CONVERSION_FAILED = 'conversion_failed'

# 16384 x 16384: far beyond any camera; a larger declared size is an error, not an image.
MAX_PIXELS = 1 << 28


class ConversionError(ValueError):
    """A frame that cannot become a BGR image; ``reason`` is a short key for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Encoding:
    """Memory layout of a ``sensor_msgs/Image`` encoding and how it becomes BGR.

    Attributes:
        channels: values per pixel.
        itemsize: bytes per value (1 or 2).
        to_bgr: OpenCV colour-conversion code, or None when the data is BGR already.

    """

    channels: int
    itemsize: int
    to_bgr: Optional[int]


ENCODINGS: dict[str, Encoding] = {
    'bgr8': Encoding(3, 1, None),
    'rgb8': Encoding(3, 1, cv2.COLOR_RGB2BGR),
    'mono8': Encoding(1, 1, cv2.COLOR_GRAY2BGR),
    'bgra8': Encoding(4, 1, cv2.COLOR_BGRA2BGR),
    'rgba8': Encoding(4, 1, cv2.COLOR_RGBA2BGR),
    'bgr16': Encoding(3, 2, None),
    'rgb16': Encoding(3, 2, cv2.COLOR_RGB2BGR),
    'mono16': Encoding(1, 2, cv2.COLOR_GRAY2BGR),
    'bgra16': Encoding(4, 2, cv2.COLOR_BGRA2BGR),
    'rgba16': Encoding(4, 2, cv2.COLOR_RGBA2BGR),
    # ROS names the byte order (UYVY / YUYV); OpenCV's codes are named after the same orders.
    'yuv422': Encoding(2, 1, cv2.COLOR_YUV2BGR_UYVY),
    'yuv422_yuy2': Encoding(2, 1, cv2.COLOR_YUV2BGR_YUY2),
    # OpenCV names Bayer patterns by the second row's first two pixels, hence the swap.
    'bayer_rggb8': Encoding(1, 1, cv2.COLOR_BayerBG2BGR),
    'bayer_bggr8': Encoding(1, 1, cv2.COLOR_BayerRG2BGR),
    'bayer_gbrg8': Encoding(1, 1, cv2.COLOR_BayerGR2BGR),
    'bayer_grbg8': Encoding(1, 1, cv2.COLOR_BayerGB2BGR),
}
SUPPORTED_ENCODINGS = tuple(ENCODINGS)


def _byte_view(data: Any) -> np.ndarray:
    """Zero-copy uint8 view of a message's ``data`` (array.array, bytes or a list)."""
    if isinstance(data, (array.array, bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8)


def check_image(msg: Any) -> Encoding:
    """Validate a ``sensor_msgs/Image``'s header fields against its data.

    Returns:
        The message's :class:`Encoding`.

    Raises:
        ConversionError: with the first problem found.

    """
    encoding = ENCODINGS.get(msg.encoding)
    if encoding is None:
        if not msg.encoding:
            detail = 'the encoding field is empty'
        else:
            detail = f'encoding {msg.encoding!r} is not supported'
        raise ConversionError(UNKNOWN_ENCODING,
                              f'{detail}; supported: {", ".join(SUPPORTED_ENCODINGS)}')
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width < 2 or height < 2:
        raise ConversionError(BAD_SIZE, f'image is {width}x{height}; at least 2x2 is needed')
    if width * height > MAX_PIXELS:
        raise ConversionError(BAD_SIZE, f'image declares {width}x{height} pixels, more than '
                                        f'the {MAX_PIXELS} this node accepts')
    if encoding.channels == 2 and width % 2:
        raise ConversionError(BAD_SIZE, f'{msg.encoding} packs two pixels per 4 bytes; width '
                                        f'{width} is odd')
    row_bytes = width * encoding.channels * encoding.itemsize
    if step < row_bytes:
        raise ConversionError(BAD_STEP, f'step {step} is shorter than a row of {width} '
                                        f'{msg.encoding} pixels ({row_bytes} bytes)')
    if step % encoding.itemsize:
        raise ConversionError(BAD_STEP, f'step {step} is not a multiple of the '
                                        f'{encoding.itemsize}-byte sample size of {msg.encoding}')
    expected = step * height
    size = len(msg.data)
    if size != expected:
        raise ConversionError(BAD_DATA_LENGTH, f'data has {size} bytes but step x height = '
                                               f'{step} x {height} = {expected}')
    return encoding


def _native_bgr(msg: Any, encoding: Encoding) -> np.ndarray:
    """Our conversion of a validated raw image (cv_bridge's ``bgr8`` semantics)."""
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    dtype = np.dtype(np.uint8 if encoding.itemsize == 1 else np.uint16)
    if encoding.itemsize > 1:
        dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    rows = _byte_view(msg.data).reshape(height, step)[:, :width * encoding.channels *
                                                      encoding.itemsize]
    pixels = rows.view(dtype).reshape(height, width, encoding.channels)
    if encoding.itemsize > 1:
        # Exact round(v * 255 / 65535): v / 257 is never halfway between integers.
        pixels = ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if encoding.to_bgr is None:
        return np.ascontiguousarray(pixels)
    # Single-channel sources (mono, Bayer) must reach cvtColor as 2-D arrays.
    source = pixels[:, :, 0] if encoding.channels == 1 else pixels
    return cv2.cvtColor(np.ascontiguousarray(source), encoding.to_bgr)


def image_to_bgr(msg: Any, bridge: Optional[Any] = None) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` to a contiguous BGR ``uint8`` ``HxWx3`` array.

    Args:
        msg: the image message.
        bridge: a ``cv_bridge.CvBridge`` to convert with (after our validation), or None
            for our own equivalent conversion.

    Raises:
        ConversionError: the message is malformed or its encoding unsupported.

    """
    encoding = check_image(msg)
    if bridge is None:
        return _native_bgr(msg, encoding)
    try:
        image = bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
    except Exception as exc:  # CvBridgeError and whatever OpenCV raises underneath it
        raise ConversionError(CONVERSION_FAILED,
                              f'cv_bridge could not convert {msg.encoding}: {exc}') from exc
    return np.ascontiguousarray(image)


# Decoded size limit for compressed frames: 8192 x 8192 (about 200 MB as BGR). The decoder
# allocates (and for JPEG fills) whatever the header declares, so a forged header in a message
# of a few hundred bytes could otherwise cost gigabytes and seconds.
MAX_COMPRESSED_PIXELS = 1 << 26
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_SIGNATURE = b'\xff\xd8\xff'
# Start-of-frame markers; of these, SOF9..SOF15 use arithmetic instead of Huffman coding.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7: no length field
# Other codecs OpenCV could decode, refused by name (their headers are not checked here).
_OTHER_FORMATS = (
    (b'BM', 'BMP'), (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'II+\x00', 'BigTIFF'),
    (b'MM\x00+', 'BigTIFF'), (b'GIF8', 'GIF'), (b'\x00\x00\x00\x0cjP  ', 'JPEG 2000'),
    (b'\xff\x4f\xff\x51', 'JPEG 2000'), (b'v/1\x01', 'OpenEXR'), (b'#?RADIANCE', 'Radiance HDR'),
    (b'#?RGBE', 'Radiance HDR'), (b'\x59\xa6\x6a\x95', 'Sun raster'),
)


def _other_format(head: bytes) -> Optional[str]:
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'WebP'
    if len(head) > 2 and head[0:1] == b'P' and head[1:2] in b'1234567Ff' and \
            head[2:3] in b' \t\r\n':
        return 'PNM/PFM'
    return None


def _png_size(data: np.ndarray) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which the format requires to come first)."""
    if data.size < 24:
        raise ConversionError(CORRUPT_COMPRESSED, f'PNG data ends within its header '
                                                  f'({data.size} bytes)')
    if data[12:16].tobytes() != b'IHDR':
        raise ConversionError(CORRUPT_COMPRESSED, 'PNG data does not start with an IHDR chunk')
    width, height = (int.from_bytes(data[i:i + 4].tobytes(), 'big') for i in (16, 20))
    return width, height


def _jpeg_frame(data: np.ndarray) -> tuple[int, int, int, int]:
    """Walk a JPEG's marker segments to its frame header.

    Returns:
        ``(width, height, SOF marker, offset of the SOF segment)``.

    Raises:
        ConversionError: the data ends, or a scan starts, before a frame header.

    """
    size = int(data.size)
    pos = 2  # after SOI
    while True:
        if pos >= size or data[pos] != 0xFF:
            what = 'ends' if pos >= size else f'has no marker at byte {pos}'
            raise ConversionError(CORRUPT_COMPRESSED, f'JPEG data {what} before its frame '
                                                      'header (SOF)')
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= size:
            continue  # reported above on the next turn
        marker = int(data[pos])
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA, 0x00):
            raise ConversionError(CORRUPT_COMPRESSED, f'JPEG data has marker 0x{marker:02X} '
                                                      'before its frame header (SOF)')
        if pos + 2 > size:
            pos = size
            continue
        length = (int(data[pos]) << 8) | int(data[pos + 1])
        if marker in _JPEG_SOF:
            if length < 8 or pos + 7 > size:
                raise ConversionError(CORRUPT_COMPRESSED, 'JPEG frame header (SOF) is '
                                                          'truncated')
            height = (int(data[pos + 3]) << 8) | int(data[pos + 4])
            width = (int(data[pos + 5]) << 8) | int(data[pos + 6])
            return width, height, marker, pos
        if length < 2:
            raise ConversionError(CORRUPT_COMPRESSED, f'JPEG segment 0x{marker:02X} has an '
                                                      f'impossible length {length}')
        pos += length


def check_compressed(msg: Any) -> tuple[str, int, int]:
    """Validate a ``sensor_msgs/CompressedImage`` before any decoding.

    Only JPEG and PNG (what ``image_transport``'s compressed transport sends) are accepted,
    recognised by their signatures whatever ``format`` says. The size their header declares
    must be at least 2x2 and at most :data:`MAX_COMPRESSED_PIXELS`; a JPEG must end with an
    end-of-image marker (a truncated one would be decoded with its missing part grey) and be
    long enough to hold its declared size (Huffman coding spends at least one bit on every
    8x8 block), so that a forged header cannot make the decoder allocate more than a small
    multiple of the message's own size.

    Returns:
        ``(codec, width, height)`` with ``codec`` ``jpeg`` or ``png``.

    Raises:
        ConversionError: with the first problem found.

    """
    if 'compresseddepth' in msg.format.lower():
        raise ConversionError(UNSUPPORTED_FORMAT, f'format {msg.format!r} is a compressed depth '
                                                  'image, not a camera image')
    data = _byte_view(msg.data)
    if data.size == 0:
        raise ConversionError(CORRUPT_COMPRESSED, 'compressed image has no data')
    head = data[:16].tobytes()
    if head.startswith(PNG_SIGNATURE):
        codec, (width, height) = 'png', _png_size(data)
        sof = None
    elif head.startswith(JPEG_SIGNATURE):
        codec = 'jpeg'
        width, height, sof, offset = _jpeg_frame(data)
    else:
        other = _other_format(head)
        if other is not None:
            raise ConversionError(UNSUPPORTED_FORMAT, f'{other} data: only JPEG and PNG are '
                                                      'decoded')
        raise ConversionError(CORRUPT_COMPRESSED, f'{data.size} bytes of neither JPEG nor PNG '
                                                  f'data (they start with {head[:8].hex()})')
    if width < 2 or height < 2:
        raise ConversionError(BAD_SIZE, f'{codec.upper()} header declares {width}x{height} '
                                        'pixels; at least 2x2 is needed')
    if width * height > MAX_COMPRESSED_PIXELS:
        raise ConversionError(BAD_SIZE, f'{codec.upper()} header declares {width}x{height} '
                                        f'pixels, more than the {MAX_COMPRESSED_PIXELS} this '
                                        'node decodes')
    if sof is not None:
        tail = data[offset:]
        if not ((tail[:-1] == 0xFF) & (tail[1:] == 0xD9)).any():
            raise ConversionError(CORRUPT_COMPRESSED, f'JPEG data ({data.size} bytes) has no '
                                                      'end-of-image marker: truncated')
        blocks = ((width + 7) // 8) * ((height + 7) // 8)
        if sof not in _JPEG_ARITHMETIC and blocks > 8 * data.size:
            raise ConversionError(CORRUPT_COMPRESSED, f'JPEG header declares {width}x{height} '
                                                      f'pixels ({blocks} blocks), more than '
                                                      f'{data.size} bytes can encode')
    return codec, width, height


def compressed_to_bgr(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to BGR ``uint8``.

    :func:`check_compressed` runs first. ``cv2.imdecode`` reads the codec from the data
    itself, so the ``format`` field is only used to refuse depth streams (``compressedDepth``),
    whose payload is not a camera image. cv_bridge is not used here: it decodes with
    ``IMREAD_UNCHANGED`` and would hand back a single-channel array for a grayscale JPEG;
    ``IMREAD_COLOR`` always yields BGR.

    Raises:
        ConversionError: the data is empty, corrupt, too large, or not JPEG/PNG.

    """
    check_compressed(msg)
    data = _byte_view(msg.data)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ConversionError(CORRUPT_COMPRESSED, f'cannot decode {data.size} bytes of '
                                                  f'{msg.format or "compressed"} data: {exc}')
    if image is None:
        raise ConversionError(CORRUPT_COMPRESSED, f'cannot decode {data.size} bytes of '
                                                  f'{msg.format or "unspecified format"} data '
                                                  '(corrupt or unknown codec)')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ConversionError(BAD_SIZE, f'image is {image.shape[1]}x{image.shape[0]}; at least '
                                        '2x2 is needed')
    return image


@dataclass(frozen=True)
class DecodedImage:
    """A frame as BGR pixels, and what identifies its stream's format.

    ``source`` is ``(WIDTHxHEIGHT, encoding)`` for raw images and ``(WIDTHxHEIGHT, format)`` for
    compressed ones: a change means another camera or a reconfigured driver.
    """

    image: np.ndarray
    source: Hashable


def decode_image(msg: Any, compressed: bool, bridge: Optional[Any] = None) -> DecodedImage:
    """Convert an ``Image`` (or, with ``compressed``, a ``CompressedImage``) to BGR.

    Raises:
        ConversionError: the message is malformed or its encoding/format unsupported.

    """
    if compressed:
        image = compressed_to_bgr(msg)
        return DecodedImage(image, (f'{image.shape[1]}x{image.shape[0]}',
                                    msg.format or 'compressed'))
    image = image_to_bgr(msg, bridge)
    return DecodedImage(image, (f'{msg.width}x{msg.height}', msg.encoding))
