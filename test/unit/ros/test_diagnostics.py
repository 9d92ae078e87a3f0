"""The diagnostics status level: lifecycle state, errors and counters since the last report."""

from __future__ import annotations

from centertrack_ros.ros.diagnostics import status_level


def test_status_levels():
    assert status_level('unconfigured', 'checkpoint not found', {}, None)[0] == 2
    assert status_level('inactive', '', {}, None)[0] == 1
    values = {'frames_rejected': '0', 'frames_dropped': '5'}
    assert status_level('active', '', values, None) == (0, 'active')
    assert status_level('active', '', values, {'frames_rejected': '0',
                                               'frames_dropped': '1'})[0] == 0
    assert status_level('active', '', {'frames_rejected': '2'}, {'frames_rejected': '1'})[0] == 1
    lost = status_level('active', '', {'frames_lost_in_transport': '3'},
                        {'frames_lost_in_transport': '0'})
    assert lost == (1, 'active; frames lost in transport since the last report')
