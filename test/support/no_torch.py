"""Run Python code in a fresh interpreter in which torch cannot be imported.

``benchmarks/no_torch`` first on ``PYTHONPATH`` installs a ``sitecustomize`` that makes
``import torch`` (and torchvision) fail with ``ModuleNotFoundError``, as where torch is not
installed: what a vehicle that runs exported ``.onnx`` models with ONNX Runtime has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Mapping, Optional

from support import REPO

NO_TORCH = REPO / 'benchmarks' / 'no_torch'


def run_python(code: str, block_torch: bool = True, timeout: float = 240,
               env: Optional[Mapping[str, str]] = None) -> str:
    """Run ``code`` (dedented) from the repository root; return its stdout.

    ``env``: additions to the child's environment (e.g. ``CENTERTRACK_BLOCKED_MODULES``).

    Fails the test, with the child's output, when the child exits with an error.
    """
    env = dict(os.environ, **(env or {}))
    if block_torch:
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(NO_TORCH),
                                                          env.get('PYTHONPATH')]))
    proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f'exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout
