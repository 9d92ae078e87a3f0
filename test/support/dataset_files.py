"""Dataset files that a reader must refuse: write one, read it, return the one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from centertrack_ros.core.errors import DatasetError


def read_error(reader: Callable[[Path], object], path: Path, text: str, match: str) -> str:
    """Write ``text`` to ``path``, read it with ``reader`` and return the DatasetError's message.

    The reader must raise :class:`DatasetError` and its message must match ``match`` (a regular
    expression, as for ``pytest.raises``); the caller checks what else the message names.
    """
    path.write_text(text)
    with pytest.raises(DatasetError, match=match) as info:
        reader(path)
    return str(info.value)
