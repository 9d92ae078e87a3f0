"""What the command-line tools share: how they end, and the argument types they all read.

A problem the user can fix ends a tool with one line ``<prog>: error: <what to do>`` on stderr
and status 2; Ctrl-C with ``<prog>: interrupted`` and status 130. Inside
:func:`sigterm_as_interrupt` SIGTERM (what ``timeout`` and process managers send) counts as
Ctrl-C, so a terminated tool unwinds the same way: bags are closed, child nodes stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from ..core.errors import CenterTrackError, one_line

USER_ERROR = 2
INTERRUPTED = 130  # as a shell reports a process ended by SIGINT

T = TypeVar('T')


def fail(prog: str, message: str, status: int = USER_ERROR) -> int:
    """Print ``<prog>: error: <message>`` on stderr and return ``status`` (2: a user error)."""
    print(f'{prog}: error: {message}', file=sys.stderr)
    return status


def interrupted(prog: str) -> int:
    """Print ``<prog>: interrupted`` on stderr and return 130."""
    print(f'{prog}: interrupted', file=sys.stderr)
    return INTERRUPTED


def run_tool(prog: str, body: Callable[[], int]) -> int:
    """Return ``body()``'s exit status; a :class:`CenterTrackError` ends it with 2, Ctrl-C 130."""
    try:
        return body()
    except CenterTrackError as exc:
        return fail(prog, one_line(exc))
    except KeyboardInterrupt:
        return interrupted(prog)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise :class:`KeyboardInterrupt` on SIGTERM inside the block; restore the handler after.

    Only the main thread can set a signal handler: in another one (a test calling ``main``
    from a thread) the block runs with the handler as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def pair_of(kind: Callable[[Any], T], separator: str, form: str
            ) -> Callable[[Any], tuple[T, T]]:
    """Return an argparse type reading ``A<separator>B`` as ``(kind(A), kind(B))``.

    A two-item list (as a YAML options file gives it) is read item by item; ``form`` names
    what was expected in the error (``WIDTHxHEIGHT``).
    """
    def parse(text: Any) -> tuple[T, T]:
        items = text if isinstance(text, (list, tuple)) else str(text).lower().split(separator)
        try:
            first, second = items
            return kind(first), kind(second)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f'expected {form}, got {text!r}') from None
    return parse


_width_height = pair_of(int, 'x', 'WIDTHxHEIGHT')
seed_range = pair_of(int, ':', 'FIRST:COUNT')
"""``FIRST:COUNT`` as ``(first, count)``: a range of scene seeds."""


def parse_size(text: Any, minimum: int = 1) -> tuple[int, int]:
    """Read ``WIDTHxHEIGHT`` (or a two-item list) as ``(width, height)``, each >= ``minimum``."""
    width, height = _width_height(text)
    if width < minimum or height < minimum:
        raise argparse.ArgumentTypeError(
            f'size must be at least {minimum}x{minimum}, got {text!r}')
    return width, height


def list_of(kind: Callable[[str], Any]) -> Callable[[Any], tuple]:
    """Return an argparse type reading ``a,b,c`` (or a list) as a tuple of ``kind`` values."""
    def parse(text: Any) -> tuple:
        items = text if isinstance(text, (list, tuple)) else \
            [t for t in str(text).split(',') if t.strip()]
        try:
            return tuple(kind(str(t).strip()) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f'cannot parse {text!r}') from None
    return parse
