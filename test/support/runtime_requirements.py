"""What ``scripts/requirements-runtime.txt`` installs, and whether a process needed more.

The file pins the vehicle runtime (the lean node with an exported ``.onnx``). pip installs its
lines and everything they require, so "enough" means: every third-party module a lean process
imported belongs to a distribution in the requirement closure of those lines, computed from the
installed distributions' metadata (this venv's, where the versions are the same: the pins equal
``constraints.txt``'s). The interface packages built from ``msg/`` (vision_msgs, ...) have no
wheel: the file's header says where they come from, and they are reported apart.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import re
import sys
from pathlib import Path
from typing import Iterable

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support import REPO

RUNTIME_FILE = REPO / 'scripts' / 'requirements-runtime.txt'
CONSTRAINTS_FILE = REPO / 'scripts' / 'constraints.txt'
# What the vehicle runtime must never need (the whole point of the file).
EXCLUDED = ('torch', 'torchvision', 'onnx', 'onnxscript')
# Names in sys.modules that belong to no distribution: the interpreter's own, Cython's runtime
# module, setuptools' editable-install finder, and the test's own sitecustomize (the blocker).
NOT_DISTRIBUTED = re.compile(r'^(_.*|cython_runtime|sitecustomize|__main__)$')


def pins(path: Path) -> dict[str, str]:
    """Return ``{canonical name: version}`` of the ``name==version`` lines of a pip file."""
    found = {}
    for line in path.read_text().splitlines():
        text = line.split('#', 1)[0].strip()
        if not text or text.startswith('-'):
            continue
        requirement = Requirement(text)
        (spec,) = requirement.specifier  # every line is one exact pin
        assert spec.operator == '==', f'{path.name}: {text} is not an exact pin'
        found[canonicalize_name(requirement.name)] = spec.version
    return found


def closure(names: Iterable[str]) -> set[str]:
    """Return ``names`` and every distribution they require, transitively (canonical names).

    Requirements behind an extra are left out (pip installs them only when asked for), and
    environment markers are evaluated for this interpreter.
    """
    environment = default_environment()
    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or ():
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(dict(environment,
                                                                           extra='')):
                continue
            todo.append(canonicalize_name(requirement.name))
    return seen


def interface_packages() -> set[str]:
    """Return the interface packages of ``msg/`` (built where the system lacks them)."""
    return {p.name for p in (REPO / 'msg').iterdir() if (p / 'package.xml').is_file()}


@functools.lru_cache(maxsize=1)
def _distributions_of_modules() -> dict[str, tuple[str, ...]]:
    return {module: tuple(canonicalize_name(d) for d in dists)
            for module, dists in metadata.packages_distributions().items()}


def classify(modules: Iterable[str], installed: set[str]) -> dict[str, list[str]]:
    """Sort top-level module names by where they come from.

    Returns lists under ``stdlib``, ``own`` (this package), ``msg`` (an interface package of
    ``msg/``), ``installed`` (a distribution in ``installed``), ``missing`` (a distribution
    outside it: ``module (distribution, ...)``) and ``unknown`` (no distribution at all).
    """
    result: dict[str, list[str]] = {key: [] for key in ('stdlib', 'own', 'msg', 'installed',
                                                         'missing', 'unknown')}
    owners = _distributions_of_modules()
    msg = interface_packages()
    for module in sorted(set(modules)):
        if module in sys.stdlib_module_names or module in sys.builtin_module_names:
            result['stdlib'].append(module)
        elif module == 'centertrack_ros' or module.startswith('__editable__'):
            result['own'].append(module)
        elif module in msg:
            result['msg'].append(module)
        elif NOT_DISTRIBUTED.match(module):
            continue
        elif any(d in installed for d in owners.get(module, ())):
            result['installed'].append(module)
        elif module in owners:
            result['missing'].append(f'{module} ({", ".join(owners[module])})')
        else:
            result['unknown'].append(module)
    return result


# Writes the sorted top-level names of sys.modules to $CENTERTRACK_MODULES_OUT when the process
# exits, then runs the module given as the first argument as __main__ (like python -m).
RECORDER = '''
import atexit, json, os, runpy, sys

def _record():
    with open(os.environ["CENTERTRACK_MODULES_OUT"], "w") as handle:
        json.dump(sorted({name.partition(".")[0] for name in sys.modules}), handle)

atexit.register(_record)
_module = sys.argv.pop(1)
runpy.run_module(_module, run_name="__main__", alter_sys=True)
'''


def recorder_command(module: str) -> list[str]:
    """Return a command that runs ``module`` as ``__main__`` and records what it imported."""
    return [sys.executable, '-c', RECORDER, module]
