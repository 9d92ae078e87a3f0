"""The per-camera cache of ``CameraInfo`` messages that calibrates each frame.

A frame takes the ``CameraInfo`` with its own stamp when there is one, else the newest; only
the last ``keep`` stamps are remembered; nothing received, or an unusable message, is a
:class:`CalibrationError`. The matrix arithmetic itself (resize, ROI, binning, k) is
``test_3d.py``'s; here the messages are rclpy's own ``sensor_msgs/CameraInfo``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from centertrack_ros.core.calibration import CalibrationError
from centertrack_ros.runtime.camera_info import CameraInfoCache

WIDTH, HEIGHT = 1280, 720


def info(focal: float, width: int = WIDTH, height: int = HEIGHT) -> CameraInfo:
    """Return a calibrated camera's message whose P has focal length ``focal``."""
    p = [focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
    return CameraInfo(width=width, height=height, p=p, k=k)


def focal_of(cache: CameraInfoCache, stamp: int, matrix: str = 'p') -> float:
    return float(cache.projection(stamp, WIDTH, HEIGHT, matrix)[0, 0])


def test_nothing_received_is_a_calibration_error():
    with pytest.raises(CalibrationError, match='no camera_info received yet'):
        CameraInfoCache().projection(1, WIDTH, HEIGHT)


def test_a_frame_takes_the_message_with_its_stamp_else_the_newest():
    cache = CameraInfoCache()
    cache.add(info(500.0), 1_000)
    cache.add(info(600.0), 2_000)
    cache.add(info(700.0), 3_000)
    assert [focal_of(cache, stamp) for stamp in (1_000, 2_000, 3_000)] == [500.0, 600.0, 700.0]
    assert focal_of(cache, 2_500) == 700.0, 'no message of its own: the newest'
    assert focal_of(cache, 500) == 700.0, 'older than every message: still the newest'
    cache.add(info(800.0), 2_000)  # a stamp again: the later message replaces the earlier
    assert focal_of(cache, 2_000) == 800.0
    assert focal_of(cache, 9_000) == 800.0, 'the newest is the last added, whatever its stamp'


def test_only_the_last_stamps_are_kept():
    cache = CameraInfoCache(keep=2)
    for index, stamp in enumerate((1_000, 2_000, 3_000)):
        cache.add(info(500.0 + 100 * index), stamp)
    assert focal_of(cache, 1_000) == 700.0, 'the oldest stamp was forgotten: the newest applies'
    assert (focal_of(cache, 2_000), focal_of(cache, 3_000)) == (600.0, 700.0)


def test_the_message_that_applies_is_validated_for_the_frame():
    cache = CameraInfoCache()
    cache.add(info(500.0), 1_000)
    uncalibrated = info(0.0)
    uncalibrated.p = [0.0] * 12
    cache.add(uncalibrated, 2_000)
    assert focal_of(cache, 1_000) == 500.0, 'an earlier usable message still serves its frame'
    with pytest.raises(CalibrationError, match='all zeros'):
        cache.projection(2_000, WIDTH, HEIGHT)
    with pytest.raises(CalibrationError, match='all zeros'):
        cache.projection(5_000, WIDTH, HEIGHT)  # the newest applies, and it is unusable
    with pytest.raises(CalibrationError, match='not a uniform resize'):
        cache.projection(1_000, 640, 480)


def test_the_frame_size_and_matrix_choice_reach_the_projection():
    cache = CameraInfoCache()
    cache.add(info(500.0), 1_000)
    half = cache.projection(1_000, WIDTH // 2, HEIGHT // 2)
    np.testing.assert_allclose(half[:2, :3], [[250.0, 0.0, 320.0], [0.0, 250.0, 180.0]])
    raw = cache.projection(1_000, WIDTH, HEIGHT, 'k')
    np.testing.assert_allclose(raw, [[500.0, 0, 640.0, 0], [0, 500.0, 360.0, 0], [0, 0, 1, 0]])
    with pytest.raises(CalibrationError, match="matrix must be 'p' or 'k'"):
        cache.projection(1_000, WIDTH, HEIGHT, 'q')
