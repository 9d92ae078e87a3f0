"""What the lent-GPU scripts share: timestamped progress, time-boxed child processes, wheels.

``gpu_check.py`` and ``gpu_train.py`` run on the lent GPU machine's own Python, which has
PyTorch and most of our dependencies but no package registry and no ROS. Only the standard
library is imported here, so this module works before anything is installed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import IO, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
NO_ROS = REPO / 'benchmarks' / 'no_ros'
MIB = 2 ** 20


class Progress:
    """Print lines with the UTC time and the seconds since the start; copy them to a file."""

    def __init__(self, log_file: Optional[Path] = None) -> None:
        self.start = time.monotonic()
        self._file: Optional[IO[str]] = open(log_file, 'a', encoding='utf-8') \
            if log_file else None
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        """Seconds since this object was made."""
        return time.monotonic() - self.start

    def __call__(self, text: str, tag: str = '') -> None:
        """Print ``text``, each line stamped (``tag`` names the part it comes from)."""
        now = dt.datetime.now(dt.timezone.utc).strftime('%H:%M:%S')
        prefix = f'[{now} +{self.elapsed():6.1f}s{" " + tag if tag else ""}] '
        with self._lock:
            for line in str(text).splitlines() or ['']:
                print(prefix + line, flush=True)
                if self._file:
                    self._file.write(prefix + line + '\n')
                    self._file.flush()

    def close(self) -> None:
        """Close the copy."""
        if self._file:
            self._file.close()
            self._file = None


def child_env(extra_paths: Sequence[Path] = (), block_ros: bool = True,
              **variables: str) -> dict[str, str]:
    """Return the environment of a child: unbuffered, ``PYTHONPATH`` = blocker, wheels, repo.

    ``block_ros``: put :mod:`benchmarks/no_ros <sitecustomize>` first, so the child fails to
    import ROS (and rosbags, motmetrics) as the GPU machine does.
    """
    env = dict(os.environ)
    paths = ([str(NO_ROS)] if block_ros else []) + [str(p) for p in extra_paths] + [str(REPO)]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['PYTHONUNBUFFERED'] = '1'
    env.update(variables)
    return env


def run_part(argv: Sequence[str], say: Progress, tag: str, timeout: float,
             env: Optional[dict[str, str]] = None, cwd: Path = REPO) -> dict:
    """Run ``argv`` for at most ``timeout`` seconds, its output stamped and tagged.

    The child gets a process group of its own, so on time-out it is ended with everything it
    started (DataLoader workers, ...): SIGTERM, then SIGKILL 10 s later. Returns ``status``
    (``ok``, ``failed`` or ``timeout``), ``rc`` and ``seconds``.
    """
    say(f'$ {" ".join(str(a) for a in argv)}  (time box {timeout:.0f} s)', tag)
    started = time.monotonic()
    proc = subprocess.Popen([str(a) for a in argv], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors='replace', start_new_session=True)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            say(line.rstrip('\n'), tag)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        timed_out = True
        say(f'time box of {timeout:.0f} s reached: stopping the part', tag)
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    reader.join(timeout=5.0)
    seconds = time.monotonic() - started
    status = 'timeout' if timed_out else ('ok' if proc.returncode == 0 else 'failed')
    say(f'{status} (exit status {proc.returncode}) after {seconds:.1f} s', tag)
    return {'status': status, 'rc': proc.returncode, 'seconds': round(seconds, 1)}


def wheel_modules(wheel: Path) -> list[str]:
    """Top-level import names a wheel provides (``top_level.txt``, else its file list)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for name in names:
            if name.endswith('.dist-info/top_level.txt'):
                listed = archive.read(name).decode().split()
                if listed:
                    return sorted(set(listed))
    tops = set()
    for name in names:
        top = name.split('/', 1)[0]
        if top.endswith(('.dist-info', '.data')):
            continue
        tops.add(top[:-3] if top.endswith('.py') else top.split('.', 1)[0])
    return sorted(tops)


def wheel_fits(wheel: Path) -> bool:
    """Whether this interpreter can install ``wheel`` (its tags against this platform's).

    Uses ``packaging`` (or pip's copy of it); True when neither is there to ask.
    """
    try:
        from packaging.tags import sys_tags
        from packaging.utils import parse_wheel_filename
    except ImportError:
        try:
            from pip._vendor.packaging.tags import sys_tags
            from pip._vendor.packaging.utils import parse_wheel_filename
        except ImportError:
            return True
    try:
        tags = parse_wheel_filename(wheel.name)[3]
    except Exception:  # an odd file name: let pip judge
        return True
    return not tags.isdisjoint(set(sys_tags()))


def install_wheels(wheel_dir: Path, target: Path, say: Progress, always: bool = False,
                   ) -> dict[str, list[str]]:
    """Install the carried wheels whose modules this Python lacks, into ``target``.

    With ``always`` every wheel that fits this Python is installed (to rehearse the
    installation where nothing is missing). Nothing is fetched: ``pip install --no-index
    --no-deps``. A failure is reported, not raised (the missing modules are listed later).
    Returns the wheels ``installed``, ``present`` already, ``unfit`` for this Python and
    ``failed``; ``target`` is added to ``sys.path``.
    """
    wheels = sorted(wheel_dir.glob('*.whl')) if wheel_dir.is_dir() else []
    result: dict[str, list[str]] = {'installed': [], 'present': [], 'unfit': [], 'failed': []}
    chosen = []
    for wheel in wheels:
        modules = wheel_modules(wheel)
        if not (always or any(importlib.util.find_spec(m) is None for m in modules)):
            result['present'].append(wheel.name)
        elif not wheel_fits(wheel):
            result['unfit'].append(wheel.name)
        else:
            chosen.append(wheel)
    if not wheels:
        say(f'no wheels in {wheel_dir}: nothing to install')
    if result['present']:
        say(f'already importable here, not installed: {", ".join(result["present"])}')
    if result['unfit']:
        say(f'not for this Python ({sys.version.split()[0]}), not installed: '
            f'{", ".join(result["unfit"])}')
    if chosen:
        target.mkdir(parents=True, exist_ok=True)
        say(f'installing into {target}: {", ".join(w.name for w in chosen)}')
        proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index',
                               '--no-deps', '--no-compile', '--no-cache-dir', '--upgrade',
                               '--disable-pip-version-check', '--target', str(target),
                               *map(str, chosen)], capture_output=True, text=True)
        names = [w.name for w in chosen]
        if proc.returncode:
            say(f'pip failed (exit status {proc.returncode}): '
                f'{(proc.stderr or proc.stdout).strip()[-1500:]}')
            result['failed'] = names
        else:
            result['installed'] = names
        if str(target) not in sys.path:
            sys.path.insert(0, str(target))
        importlib.invalidate_caches()
    return result


def missing_modules(names: Sequence[str]) -> list[str]:
    """Which of ``names`` this interpreter cannot import (looked up, not imported)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def utc_now() -> str:
    """Return the current UTC time, ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')
