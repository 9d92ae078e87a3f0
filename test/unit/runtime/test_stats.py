"""Per-stream statistics for the diagnostics, and the throttle of repeated log reasons."""

from __future__ import annotations

from centertrack_ros.runtime.stats import ReasonThrottle, StreamStats, percentiles


def test_stream_stats_snapshot():
    stats = StreamStats()
    for _ in range(4):
        stats.count_received()
    stats.count_rejected('bad_step')
    stats.count_reset('time_jump', 'stamp jumped back by 1.000 s')
    for latency in (0.010, 0.020, 0.030):
        stats.record_output(latency, latency / 2, 7)
    for _ in range(3):
        stats.count_dropped()
    values = stats.snapshot()
    assert values['frames_received'] == '4' and values['frames_processed'] == '3'
    assert values['frames_dropped'] == '3' and values['rejected.bad_step'] == '1'
    assert values['resets.time_jump'] == '1' and values['active_tracks'] == '7'
    assert values['latency_p50_ms'] == '20.0' and values['processing_p50_ms'] == '10.0'
    assert float(values['input_rate_hz']) > 0
    assert float(stats.snapshot()['input_rate_hz']) == 0.0  # rates are per report
    assert percentiles([]) == {}


def test_reason_throttle_logs_each_reason_once_per_period():
    now = [100.0]
    throttle = ReasonThrottle(period=5.0, clock=lambda: now[0])
    assert throttle('a', 'first a') == 'first a'
    assert throttle('b', 'first b') == 'first b'
    assert throttle('a', 'second a') is None
    now[0] += 5.0
    assert throttle('a', 'third a') == 'third a (1 more like this in the last 5 s)'


def test_stamps_far_from_the_clock_are_told_once_and_shown_while_they_last():
    """A bag replayed without simulated time: latency measures how old the recording is."""
    stats = StreamStats()
    stats.record_output(0.05, 0.01, 1)
    assert stats.take_stamp_offset_notice() is None
    assert 'latency_note' not in stats.snapshot()
    stats.record_output(54.8, 0.01, 1)
    notice = stats.take_stamp_offset_notice()
    assert '54.8 s behind' in notice and '--clock' in notice and 'use_sim_time' in notice
    assert stats.take_stamp_offset_notice() is None  # once
    stats.record_output(60.0, 0.01, 1)
    assert stats.take_stamp_offset_notice() is None
    assert '60.0 s behind' in stats.snapshot()['latency_note']
    stats.record_output(0.05, 0.01, 1)  # on simulated time now
    assert 'latency_note' not in stats.snapshot()
    ahead = StreamStats()
    ahead.record_output(-12.0, 0.01, 1)
    assert '12.0 s ahead' in ahead.take_stamp_offset_notice()


def test_late_delivery_is_judged_against_the_streams_usual_delay():
    """A constant clock offset is no stall; a frame 1 s+ later than usual while waited for is."""
    from centertrack_ros.runtime.stats import DELAY_BASELINE, LATE_S
    stats = StreamStats()
    offset = 5.0  # a camera clock 5 s behind: every frame "5 s old"
    for _ in range(DELAY_BASELINE - 1):
        assert stats.record_arrival(offset + 0.02, waiting=True) is False
    assert stats.record_arrival(offset + 3.0, waiting=True) is False  # no baseline yet
    stats = StreamStats()
    for _ in range(DELAY_BASELINE):
        stats.record_arrival(offset + 0.02, waiting=True)
    assert stats.record_arrival(offset + 0.02 + LATE_S * 0.9, waiting=True) is False
    assert stats.record_arrival(offset + 2.5, waiting=False) is False  # the node was busy
    assert stats.record_arrival(None, waiting=True) is False  # no clock yet
    assert stats.record_arrival(40.0, waiting=True) is False  # clocks apart: latency_note's
    assert stats.snapshot()['frames_delivered_late'] == '0' and stats.take_notices() == []
    for _ in range(3):  # a burst of stalls does not become the usual delay
        assert stats.record_arrival(offset + 2.5, waiting=True) is True
    values = stats.snapshot()
    assert values['frames_delivered_late'] == '3'
    assert values['transport_note'].startswith('3 frame(s) delivered late (the latest 2.5 s')
    stats.count_lost(2)
    assert '; 2 frame(s) lost in transport. On this host' in stats.snapshot()['transport_note']
    notices = stats.take_notices()
    assert len(notices) == 1 and notices[0].startswith('3 image message(s) reached this node')
