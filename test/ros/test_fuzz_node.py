"""Fuzzing a live node over DDS: a thousand hostile messages between valid frames.

Bounded and loopback only (the session's own ROS domain, ``ROS_AUTOMATIC_DISCOVERY_RANGE``
LOCALHOST): 1000 malformed ``Image`` and ``CompressedImage`` messages from a seeded generator,
ten before each valid frame. Each hostile message is built to break exactly one documented
rule, so its rejection reason is known. The node must stay up, publish for every valid frame
exactly what the core computes for the valid frames alone, in order, and count the rejections
per reason in its diagnostics (up to the few messages the latest-frame slot replaced before
the node looked at them, which it counts as dropped).
"""

from __future__ import annotations

import array
import re
import struct
import time
import zlib
from collections import Counter

import cv2
import numpy as np
import psutil
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from support.node_harness import NodeUnderTest, assert_published, diagnostics_values, node_running
from vision_msgs.msg import Detection2DArray

from centertrack_ros.runtime.stamps import set_stamp, stamp_ns
from centertrack_ros.tools.harness import RosClient, compressed_msg, image_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RAW_ROUNDS, COMPRESSED_ROUNDS, PER_ROUND = 70, 30, 10  # 1000 hostile messages in all
STEP = 100_000_000
# The publisher keeps every sample until acknowledged; the node's subscription queue is deep
# enough for a burst, so DDS itself loses nothing and every message reaches the node.
DEEP = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
SUPPORTED = ('bgr8', 'rgb8', 'mono8', 'bgra8', 'rgba8', 'bgr16', 'rgb16', 'mono16', 'bgra16',
             'rgba16', 'yuv422', 'yuv422_yuy2', 'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8',
             'bayer_grbg8')
BYTES_PER_PIXEL = {'bgr8': 3, 'rgb8': 3, 'mono8': 1, 'bgra8': 4, 'rgba8': 4, 'bgr16': 6,
                   'rgb16': 6, 'mono16': 2, 'bgra16': 8, 'rgba16': 8, 'yuv422': 2,
                   'yuv422_yuy2': 2, 'bayer_rggb8': 1, 'bayer_bggr8': 1, 'bayer_gbrg8': 1,
                   'bayer_grbg8': 1}
MAX_PIXELS = 1 << 28
UINT32 = 2 ** 32 - 1


def hostile_header(msg, rng: np.random.Generator) -> None:
    """Give a hostile message a random stamp (far back or ahead too) and frame_id."""
    stamp = int(rng.integers(0, 2 ** 62))
    frame_id = rng.choice(['camera', '', 'x' * int(rng.integers(100, 20_000)),
                           'ünïcødé/frame', '\t\n'])
    set_stamp(msg.header.stamp, stamp % (2 ** 31 * 1_000_000_000))
    msg.header.frame_id = str(frame_id)


def hostile_image(rng: np.random.Generator) -> tuple[Image, str]:
    """Build an Image that breaks exactly one rule; return it with the expected reason."""
    reason = str(rng.choice(['unknown_encoding', 'bad_size', 'bad_step', 'bad_data_length']))
    encoding = str(rng.choice(SUPPORTED))
    width, height = int(rng.integers(2, 64)) * 2, int(rng.integers(2, 64))
    step = width * BYTES_PER_PIXEL[encoding] + int(rng.integers(0, 3)) * 2
    size = step * height
    if reason == 'unknown_encoding':
        encoding = str(rng.choice(['', '32FC1', '8UC3', 'BGR8', 'nv12', 'jpeg', 'rgb8 ',
                                   'mono12', 'bayer_rggb16', 'x' * 300]))
    elif reason == 'bad_size':
        kind = rng.integers(3)
        if kind == 0:
            width, height = (int(rng.integers(0, 2)), height) if rng.random() < 0.5 else \
                (width, int(rng.integers(0, 2)))
            step = width * BYTES_PER_PIXEL[encoding]
        elif kind == 1:  # more pixels than any camera: refused before looking at the data
            width, height = int(rng.integers(1 << 15, UINT32)), int(rng.integers(1 << 14, UINT32))
            step = min(width * BYTES_PER_PIXEL[encoding], UINT32)
        else:
            encoding, width = 'yuv422', width + 1
            step = width * 2
        size = int(rng.integers(0, 4096))
    elif reason == 'bad_step':
        if rng.random() < 0.5:
            step = width * BYTES_PER_PIXEL[encoding] - int(rng.integers(1, 4))
        else:
            encoding = str(rng.choice(['bgr16', 'mono16', 'rgba16']))
            step = width * BYTES_PER_PIXEL[encoding] + 1
        size = step * height
    else:
        if rng.random() < 0.3:  # huge declared size, tiny buffer
            # Even widths (yuv422 needs them), at most 16384 x 16384 (MAX_PIXELS).
            width, height = int(rng.integers(1, 8193)) * 2, int(rng.integers(2, 16385))
            step = width * BYTES_PER_PIXEL[encoding]
            size = int(rng.integers(0, 4096))
            size += size == step * height  # never the right length by chance
        else:
            size = max(size + int(rng.choice([-1, 1])) * int(rng.integers(1, 50)), 0)
    msg = Image(encoding=encoding, width=width, height=height, step=step,
                is_bigendian=bool(rng.integers(2)))
    hostile_header(msg, rng)
    msg.data = array.array('B', rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    return msg, reason


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """Return a PNG chunk with its CRC."""
    return (struct.pack('>I', len(payload)) + kind + payload
            + struct.pack('>I', zlib.crc32(kind + payload)))


def hostile_compressed(rng: np.random.Generator, jpeg: bytes,
                       png: bytes) -> tuple[CompressedImage, str]:
    """Build a CompressedImage with a known rejection reason (real JPEG/PNG bytes damaged)."""
    kind = int(rng.integers(8))
    fmt = str(rng.choice(['jpeg', 'png', 'rgb8; jpeg compressed bgr8', '']))
    if kind == 0:
        data, reason = jpeg[:int(rng.integers(0, len(jpeg) - 2))], 'corrupt_compressed'
    elif kind == 1:
        data, reason = png[:int(rng.integers(40, len(png) // 2))], 'corrupt_compressed'
    elif kind == 2:
        data, reason = rng.integers(0, 256, int(rng.integers(0, 2000)),
                                    dtype=np.uint8).tobytes(), 'corrupt_compressed'
        if data[:3] == b'\xff\xd8\xff' or data[:2] in (b'BM', b'II', b'MM', b'GI', b'RI') \
                or data[:1] in (b'P', b'#', b'v', b'\x00', b'\xff', b'\x59', b'\x89'):
            data = b'garbage' + data
    elif kind == 3:  # forged huge frame header in a complete JPEG
        forged = bytearray(jpeg)
        sof = forged.index(b'\xff\xc0')
        forged[sof + 5:sof + 9] = struct.pack('>HH', int(rng.integers(8193, 65536)),
                                              int(rng.integers(8193, 65536)))
        data, reason = bytes(forged), 'bad_size'
    elif kind == 4:  # forged huge IHDR
        header = struct.pack('>IIBBBBB', int(rng.integers(1 << 14, 2 ** 31)),
                             int(rng.integers(1 << 14, 2 ** 31)), 8, 2, 0, 0, 0)
        data = (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', header)
                + png_chunk(b'IDAT', zlib.compress(bytes(64))) + png_chunk(b'IEND', b''))
        reason = 'bad_size'
    elif kind == 5:
        ok, tiny = cv2.imencode('.png', np.zeros((1, int(rng.integers(1, 9)), 3), np.uint8))
        data, reason = tiny.tobytes(), 'bad_size'
    elif kind == 6:
        data, fmt, reason = png, '16UC1; compressedDepth png', 'unsupported_format'
    else:
        data, reason = b'II*\x00' + bytes(int(rng.integers(4, 200))), 'unsupported_format'
    msg = CompressedImage(format=fmt)
    hostile_header(msg, rng)
    msg.data = array.array('B', data)
    return msg, reason


def compressed_frame(image: np.ndarray, stamp: int) -> CompressedImage:
    """Encode a frame as PNG (lossless, so the core sees the very same pixels)."""
    ok, data = cv2.imencode('.png', image)
    assert ok
    return compressed_msg(data.tobytes(), stamp, 'png')


def change_state(client: RosClient, node: NodeUnderTest, transition_id: int) -> None:
    """Request a lifecycle transition and check that it succeeded."""
    request = ChangeState.Request()
    request.transition.id = transition_id
    assert client.call(ChangeState, node.name('~/change_state'), request).success


def test_a_thousand_hostile_messages_between_valid_frames(sensitive_checkpoint, ros_client,
                                                          sensitive_tracker, camera_frames):
    core = sensitive_tracker
    names = core.config.model.class_name
    frames = [cv2.resize(frame, (256, 192)) for frame in camera_frames]
    ok, jpeg = cv2.imencode('.jpg', frames[0])
    ok, png = cv2.imencode('.png', frames[1])
    jpeg, png = jpeg.tobytes(), png.tobytes()
    rng = np.random.default_rng(20240611)
    diagnostics = ros_client.subscribe(DiagnosticArray, '/diagnostics')
    sent: Counter[str] = Counter()
    valid = 0
    with node_running(NodeUnderTest('/test_fuzz', {
            'model.path': str(sensitive_checkpoint), 'device': 'cpu', 'qos.reliability': 'reliable',
            'qos.depth': 100}), ros_client) as node:
        detections = ros_client.subscribe(Detection2DArray, node.name('detections'))
        process = psutil.Process(node.process.pid)
        stamp = 1_000 * 1_000_000_000
        rss_after_warm_up = None
        for phase, rounds in (('raw', RAW_ROUNDS), ('compressed', COMPRESSED_ROUNDS)):
            topic, msg_type = (('image', Image) if phase == 'raw'
                               else ('image/compressed', CompressedImage))
            publisher = ros_client.node.create_publisher(msg_type, node.name(topic), DEEP)
            ros_client.wait_matched(publisher, detections)
            for round_index in range(rounds):
                for _ in range(PER_ROUND):
                    msg, reason = (hostile_image(rng) if phase == 'raw'
                                   else hostile_compressed(rng, jpeg, png))
                    publisher.publish(msg)
                    sent[reason] += 1
                    time.sleep(0.002)
                stamp += STEP
                frame = frames[(round_index + valid) % len(frames)]
                publisher.publish(image_msg(frame, stamp) if phase == 'raw'
                                  else compressed_frame(frame, stamp))
                valid += 1
                got = detections.wait_for(lambda m, s=stamp: stamp_ns(m.header.stamp) == s,
                                          what=f'{phase} frame {round_index}')
                assert_published(got, core.step(frame), names, f'{phase} frame {round_index}')
                if rss_after_warm_up is None and round_index == 9:
                    rss_after_warm_up = process.memory_info().rss
            ros_client.node.destroy_publisher(publisher)
            if phase == 'raw':  # switch the node to compressed input; a new sequence starts
                change_state(ros_client, node, Transition.TRANSITION_DEACTIVATE)
                request = SetParameters.Request(parameters=[Parameter(
                    name='use_compressed', value=ParameterValue(
                        type=ParameterType.PARAMETER_BOOL, bool_value=True))])
                assert ros_client.call(SetParameters, node.name('~/set_parameters'),
                                       request).results[0].successful
                change_state(ros_client, node, Transition.TRANSITION_ACTIVATE)
                core.reset(restart_ids=False)
        rss_growth = process.memory_info().rss - rss_after_warm_up

        hostile = sum(sent.values())
        assert hostile == (RAW_ROUNDS + COMPRESSED_ROUNDS) * PER_ROUND

        # Once idle, every message is accounted for, and DDS lost none of them.
        name = f'{node.namespace}/centertrack'

        def settled(msg) -> bool:
            values = diagnostics_values(msg, name)
            return values is not None and int(values['frames_received']) == hostile + valid

        values = diagnostics_values(diagnostics.wait_for(settled, start=diagnostics.count(),
                                                         what='all messages received'), name)
        dropped = int(values['frames_dropped'])
        rejected = {key[len('rejected.'):]: int(value) for key, value in values.items()
                    if key.startswith('rejected.')}
        assert int(values['frames_processed']) == valid
        assert sum(rejected.values()) + dropped == hostile
        assert set(rejected) <= set(sent), f'unexpected reasons: {rejected}'
        for reason, count in sent.items():
            assert count - dropped <= rejected.get(reason, 0) <= count, (reason, rejected, sent)
        assert dropped <= hostile // 10, f'{dropped} of {hostile} never examined'
        print(f'fuzz: {hostile} hostile messages ({dict(sent)}), {valid} valid frames; '
              f'rejected {rejected}, dropped {dropped}; node RSS growth after warm-up '
              f'{rss_growth / 2 ** 20:.1f} MiB')
        assert rss_growth < 64 * 2 ** 20, f'node RSS grew by {rss_growth / 2 ** 20:.0f} MiB'
        for reason in sent:
            assert f'rejected.{reason}' in values, reason
        output = node.output()
        assert re.search(r'\[WARN\].*rejected frame \(stamp \d+\.\d{9}', output)
        assert 'Traceback' not in output
        assert node.process.poll() is None, 'the node is still up'
