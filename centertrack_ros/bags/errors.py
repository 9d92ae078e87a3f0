"""The one exception type the bag tools raise for problems a user can fix."""

from __future__ import annotations

from ..core.errors import CenterTrackError


class BagError(CenterTrackError, RuntimeError):
    """A bag, topic, source or option is unusable; the message says which and why.

    Command-line front ends print the message on one line and exit with status 2, so messages
    name the file/topic concerned and, where there is one, the fix.
    """
