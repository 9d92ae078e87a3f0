"""The stream-time rules: which stamp and format changes reset a camera's tracks, and why."""

from __future__ import annotations

from centertrack_ros.runtime.stream_rules import StreamRules


def test_stream_rules_reset_reasons():
    watch = StreamRules()
    size = ('640x480', 'bgr8')
    assert watch.check(10_000_000_000, size, 0.0) is None
    assert watch.check(10_000_000_000, size, 0.0) is None  # a repeated stamp continues
    assert watch.check(500_000_000_000, size, 0.0) is None  # gaps continue when 0
    kind, reason = watch.check(499_000_000_000, size, 0.0)
    assert kind == 'time_jump' and reason == 'stamp jumped back by 1.000 s'
    assert watch.check(501_000_000_000, size, 2.0) is None
    kind, reason = watch.check(503_500_000_000, size, 2.0)
    assert kind == 'frame_gap' and '2.500 s' in reason and 'max_frame_gap 2 s' in reason
    kind, reason = watch.check(503_600_000_000, ('320x240', 'bgr8'), 2.0)
    assert kind == 'format_change' and reason == ('image format changed from 640x480 bgr8 to '
                                                  '320x240 bgr8')
    watch.forget()
    assert watch.check(1, ('320x240', 'rgb8'), 2.0) is None
