"""The errors a user can cause and fix, as one family.

Every front end (the node, the bag tool, the demo, export, evaluate, the benchmarks) catches
:class:`CenterTrackError` and shows its message as it is: one line that names what is wrong
and, where there is one, what to do instead. Anything else that escapes is a bug and keeps its
traceback. The subclasses say which part of the setup is at fault; the built-in base each also
has (``ValueError``, ``RuntimeError``) keeps older ``except`` clauses working.
"""

from __future__ import annotations


class CenterTrackError(Exception):
    """Something the user can fix: a setting, a file, a device, an input."""


class ConfigError(CenterTrackError, ValueError):
    """A configuration value is invalid, or two values contradict each other."""


class CheckpointError(CenterTrackError, RuntimeError):
    """A model file is missing, unreadable, of the wrong kind, or does not fit the settings."""


class DeviceError(CenterTrackError, RuntimeError):
    """The requested device cannot be used."""


class EngineError(CenterTrackError, RuntimeError):
    """An engine cannot run the model (missing package, export failure, provider error)."""


class CalibrationError(CenterTrackError, ValueError):
    """A camera matrix is missing, malformed, or does not fit the image."""


class DatasetError(CenterTrackError, ValueError):
    """A dataset folder or annotation file cannot be read as what it claims to be."""


def one_line(error: BaseException) -> str:
    """Return ``error``'s message on one line (whitespace runs, newlines included, collapsed)."""
    return ' '.join(str(error).split()) or type(error).__name__
