"""Numbers in dataset text files: parsed with the file and line in every error, and written."""

from __future__ import annotations

import math

from ..core.errors import DatasetError


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
