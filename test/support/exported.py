"""The bundled model exported with ``centertrack_export``, once per test session.

Exporting takes tens of seconds on two cores; the tests of the vehicle runtime (the lean node,
the bag tool and the demo without torch, the colcon workspace) share one file.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from centertrack_ros.tools import export

_EXPORTED: dict[str, Path] = {}


def bundled_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the bundled model as ``.onnx`` (exported at the first call of the session)."""
    if 'bundled' not in _EXPORTED:
        path = tmp_path_factory.mktemp('exported') / 'bundled.onnx'
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = export.main(['--output', str(path), '--no-check'])
        assert code == 0 and path.is_file(), printed.getvalue()
        _EXPORTED['bundled'] = path
    return _EXPORTED['bundled']
