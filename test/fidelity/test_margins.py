"""The decision-margin measurement behind exact id comparisons tells good data from bad."""

from __future__ import annotations

import pytest
from support import margins
from support.node_harness import core_tracker


def test_a_flat_heatmap_has_no_margin(sensitive_checkpoint, camera_frames):
    """Random weights with a zero heatmap bias: every cell near 0.5, the top-K a coin toss."""
    tracker = core_tracker(sensitive_checkpoint, engine='reference')
    frames = [frame[::4, ::4].copy() for frame in camera_frames[:2]]
    measured = margins.measure(tracker, frames)
    assert measured.nms < 1e-3 and measured.birth_order < 1e-3
    with pytest.raises(AssertionError, match='not conditioned'):
        margins.assert_conditioned(measured)
    assert tracker.manager.update.__func__ is type(tracker.manager).update  # hooks removed
