"""Session-wide test setup for centertrack_ros.

DDS isolation
    At import time (before any test module can import rclpy) this file gives the session its own
    ``ROS_DOMAIN_ID`` and sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, in ``os.environ`` so
    that every subprocess inherits them. The id is reserved with an exclusive file lock under the
    temporary directory, so concurrent test sessions on one machine never share a domain.
    ``CENTERTRACK_TEST_ROS_DOMAIN_ID=<n>`` forces a particular id.

Markers
    ``reference``  compares against outputs of the official CenterTrack implementation
    ``ros``        needs rclpy and DDS (real processes talking over loopback)
    ``gpu``        needs CUDA; skipped automatically when ``torch.cuda.is_available()`` is False
    ``slow``       takes more than a few seconds; deselect with ``-m "not slow"``
    ``equality``   compares two floating-point paths (ours against the original, the fast path
                   against the reference path, batched against one by one, ...); ``make test``
                   runs these a second time under another CPU kernel set and thread count

Fixtures
    ``run_python``  start Python subprocesses with this interpreter and environment::

        def test_node(run_python):
            proc = run_python(module='centertrack_ros.ros.node', args=['--ros-args', ...])
            proc.wait_for(r'ready', timeout=30)          # regex on merged stdout/stderr
            ...
            assert proc.stop() == 0                       # SIGINT, then SIGTERM/SIGKILL

        proc = run_python('import rclpy; print("hi")')   # code string instead of a module
        proc = run_python(script=REPO / 'test' / 'support' / 'camera_process.py', args=[...])

    Every process the fixture started is stopped at the end of the test. The returned object
    is a ``CapturedProcess`` (:mod:`centertrack_ros.tools.harness`, a ``subprocess.Popen``)
    that reads the merged output on a background thread: use ``wait_for``, ``output`` and
    ``stop`` rather than ``stdout``/``communicate``.

    ``ros_client``  the test module's own rclpy node (``centertrack_ros.tools.harness.
    RosClient``, spinning on a background thread), closed after the module's last test.

    ``sensitive_checkpoint``  the path of the "sensitive" random-weight checkpoint of the
    node tests (``support.node_harness.make_sensitive_checkpoint``), written once per
    session; ``sensitive_tracker`` a fresh core tracker running it on the CPU, which the node's
    output is compared with; ``camera_frames`` the node tests' frames
    (``support.node_harness.camera_frames``).

Exported networks
    ``CENTERTRACK_CACHE_DIR`` points at a temporary directory of the session (unless already
    set), where the onnxruntime engine caches its exports for this process and its nodes.

OpenMP
    ``OMP_WAIT_POLICY=PASSIVE`` is set at import (before any test module imports torch), for
    this process and every node it starts, for the reason given in ``centertrack_ros/__init__``:
    busy-waiting OpenMP threads make CPU inference crawl while other processes use the cores.

Hypothesis
    A ``centertrack`` profile without per-example deadlines is loaded (first calls into torch or
    DDS are slow on small CI machines); ``--hypothesis-profile`` still overrides it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from centertrack_ros.tools.harness import CapturedProcess, RosClient, process_env

# The shared helpers assert too: show their failures in full, like a test's own asserts
# (before any test module imports them).
pytest.register_assert_rewrite('support')

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
# Exported networks (the onnxruntime engine's cache) go to a directory of this session, which
# every node the tests start shares; a stale export from other code can never be picked up.
if 'CENTERTRACK_CACHE_DIR' not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix='centertrack_test_cache_')
    os.environ['CENTERTRACK_CACHE_DIR'] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

# Fast DDS derives its UDP ports from the domain id; ids 0..101 are safe on Linux. 0 (the
# default every ROS user shares) is avoided.
_DOMAIN_IDS = range(1, 102)
_domain_lock_file = None  # kept open (and locked) for the whole session


def _reserve_domain_id() -> int:
    """Pick a ROS domain id that no other running test session holds, and hold it."""
    global _domain_lock_file
    forced = os.environ.get('CENTERTRACK_TEST_ROS_DOMAIN_ID')
    if forced:
        return int(forced)
    lock_dir = Path(tempfile.gettempdir()) / 'centertrack_ros_test_domains'
    lock_dir.mkdir(exist_ok=True)
    start = os.getpid() % len(_DOMAIN_IDS)
    for i in range(len(_DOMAIN_IDS)):
        domain = _DOMAIN_IDS[(start + i) % len(_DOMAIN_IDS)]
        handle = open(lock_dir / f'{domain}.lock', 'a')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _domain_lock_file = handle
        return domain
    raise RuntimeError(f'all ROS domain ids {_DOMAIN_IDS} are held by other test sessions')


ROS_DOMAIN_ID = _reserve_domain_id()
os.environ['ROS_DOMAIN_ID'] = str(ROS_DOMAIN_ID)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.pop('ROS_STATIC_PEERS', None)
os.environ.pop('ROS_LOCALHOST_ONLY', None)  # deprecated spelling; would conflict with the above


MARKERS = {
    'reference': 'fidelity against outputs of the official CenterTrack implementation',
    'ros': 'needs rclpy and DDS (real processes over loopback)',
    'gpu': 'needs CUDA; skipped automatically without a CUDA device',
    'slow': 'takes more than a few seconds',
    'equality': 'compares two floating-point paths; run again under another CPU kernel set',
}


def pytest_configure(config):
    """Register the project's markers and the hypothesis profile."""
    for name, text in MARKERS.items():
        config.addinivalue_line('markers', f'{name}: {text}')
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile('centertrack', deadline=None)
    if not config.getoption('hypothesis_profile', None):
        settings.load_profile('centertrack')


def pytest_report_header(config):
    """Show the DDS isolation settings in the session header."""
    return (f'ROS_DOMAIN_ID={ROS_DOMAIN_ID} '
            f'ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"]}')


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests when there is no CUDA device."""
    gpu_items = [item for item in items if item.get_closest_marker('gpu')]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason='needs CUDA (torch.cuda.is_available() is False)')
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture
def run_python():
    """Start Python subprocesses with the venv interpreter; stop them after the test.

    ``run_python(code=None, *, module=None, script=None, args=(), env=None, cwd=None,
    **popen_kwargs)`` runs ``python -c code``, ``python -m module`` or ``python script``, with
    ``args`` appended, in ``cwd`` (default: the repository root) and the session environment
    (unbuffered output) updated with ``env``. Returns a CapturedProcess.
    """
    started: list[CapturedProcess] = []

    def start(code: str | None = None, *, module: str | None = None, script=None, args=(),
              env: dict[str, str] | None = None, cwd=None, **popen_kwargs) -> CapturedProcess:
        if sum(x is not None for x in (code, module, script)) != 1:
            raise ValueError('give exactly one of code, module or script')
        if code is not None:
            argv = [sys.executable, '-c', code]
        elif module is not None:
            argv = [sys.executable, '-m', module]
        else:
            argv = [sys.executable, str(script)]
        proc = CapturedProcess(argv + [str(a) for a in args], env=process_env(env),
                               cwd=str(cwd or REPO), **popen_kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope='module')
def ros_client(request):
    """Give the test module its own rclpy node (``RosClient``), closed after the module."""
    name = request.module.__name__.rpartition('.')[2].removeprefix('test_')
    client = RosClient(f'centertrack_{name}_client')
    yield client
    client.close()


@pytest.fixture(scope='session')
def sensitive_checkpoint(tmp_path_factory) -> Path:
    """Write the node tests' "sensitive" checkpoint once; return its path."""
    from support.node_harness import make_sensitive_checkpoint
    path = tmp_path_factory.mktemp('models') / 'sensitive.pth'
    make_sensitive_checkpoint(path)
    return path


@pytest.fixture
def sensitive_tracker(sensitive_checkpoint):
    """Give a fresh core tracker running the sensitive checkpoint on the CPU."""
    from support.node_harness import core_tracker
    return core_tracker(sensitive_checkpoint)


@pytest.fixture(scope='module')
def camera_frames():
    """Give the node tests' eight camera frames (BGR), loaded once per module."""
    from support import node_harness
    return node_harness.camera_frames()
