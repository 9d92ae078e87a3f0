"""Dataset text files: their lines read, and numbers parsed (naming file and line) and written."""

from __future__ import annotations

import math
import os
from typing import Iterator

from ..core.errors import DatasetError


def numbered_lines(path: str | os.PathLike[str], not_a: str, contents: str
                   ) -> Iterator[tuple[str, str]]:
    """Yield ``(where, line)`` for every line of a UTF-8 text file; ``where`` is ``path:number``.

    ``not_a`` names the kind of file (``a MOTChallenge text file``) and ``contents`` what it
    holds (``MOTChallenge file``), for the errors.

    Raises:
        DatasetError: the file cannot be read, or is not text.

    """
    try:
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                yield f'{path}:{number}', line
    except UnicodeDecodeError as exc:
        raise DatasetError(f'{path} is not {not_a}: {exc}') from exc
    except OSError as exc:
        raise DatasetError(f'cannot read {contents} {path}: {exc.strerror or exc}') from exc


def parse_number(text: str, what: str, where: str) -> float:
    """Parse a finite float; ``what`` names the field and ``where`` the file and line."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f'{where}: {what} is not a number: {text!r}') from None
    if not math.isfinite(value):
        raise DatasetError(f'{where}: {what} is not finite: {text!r}')
    return value


def parse_integer(text: str, what: str, where: str) -> int:
    """Parse an integer, also written as a float with no fraction (``3.0``)."""
    value = parse_number(text, what, where)
    if value != int(value):
        raise DatasetError(f'{where}: {what} must be an integer, got {text!r}')
    return int(value)


def format_number(value: float) -> str:
    """Write integers without a fraction and others with at most 3 decimals."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f'{value:.3f}'.rstrip('0').rstrip('.')
