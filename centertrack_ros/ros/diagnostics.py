"""The ``/diagnostics`` level and summary of the node."""

from __future__ import annotations

from typing import Mapping, Optional


def status_level(state: str, configure_error: str, values: Mapping[str, str],
                 previous: Optional[Mapping[str, str]]) -> tuple[int, str]:
    """Return the diagnostic level (0 OK, 1 WARN, 2 ERROR) and a summary of the node's state.

    ERROR: the last configure failed. WARN: not active, or frames were rejected (malformed
    input, inference errors) or lost in transport since the previous report. Dropped frames
    are not a warning: skipping to the newest frame is how the node keeps up with a faster
    camera.
    """
    if configure_error:
        return 2, f'configure failed: {configure_error}'
    if state != 'active':
        return 1, f'{state}: not processing frames'
    if previous is not None:
        for key, what in (('frames_rejected', 'rejected'),
                          ('frames_lost_in_transport', 'lost in transport')):
            if values.get(key) != previous.get(key):
                return 1, f'active; frames {what} since the last report'
    return 0, 'active'
