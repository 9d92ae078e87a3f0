"""The CPU kernel set the equality tests run under, as oneDNN and ATen report it.

``make test`` runs the fidelity and path-equality tests twice: with the machine's default
kernels and threads, and again with ``CENTERTRACK_KERNEL_SET=sse41`` beside
``ONEDNN_MAX_CPU_ISA=SSE41 ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1``. This checks that
the second run really computes with other kernels (oneDNN's convolution implementation, ATen's
vectorisation, one thread), so that passing twice means passing under two kernel sets.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.equality,
              pytest.mark.skipif(platform.machine() not in ('x86_64', 'AMD64'),
                                 reason='the restricted kernel set is an x86 one')]

CONV = ('import torch; torch.nn.functional.conv2d(torch.randn(1, 64, 32, 32), '
        'torch.randn(64, 64, 3, 3), padding=1)')


def onednn_convolution() -> tuple[str, int]:
    """Return the implementation and thread count oneDNN uses for a float32 convolution."""
    env = dict(os.environ, ONEDNN_VERBOSE='1')
    out = subprocess.run([sys.executable, '-c', CONV], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    threads = int(re.search(r'onednn_verbose,.*,nthr:(\d+)', out).group(1))
    implementation = re.search(r'onednn_verbose,.*primitive,exec,cpu,convolution,([^,]+),', out)
    return implementation.group(1), threads


def test_the_kernel_set_is_the_one_asked_for():
    implementation, threads = onednn_convolution()
    kernel_set = os.environ.get('CENTERTRACK_KERNEL_SET', '')
    print(f'kernel set {kernel_set or "default"}: oneDNN {implementation}, {threads} thread(s), '
          f'ATen {torch.backends.cpu.get_cpu_capability()}, torch threads '
          f'{torch.get_num_threads()}')
    if kernel_set == 'sse41':
        assert implementation == 'jit:sse41'
        assert threads == 1 and torch.get_num_threads() == 1
        assert torch.backends.cpu.get_cpu_capability() == 'DEFAULT'
    else:
        assert implementation != 'jit:sse41', 'the default run must use other kernels'
        assert torch.backends.cpu.get_cpu_capability() != 'DEFAULT'
