#!/usr/bin/env python3
"""Make what must travel to a lent GPU machine, measure it, and print the device commands.

Run it (any Python 3.10+ with pip) from the root of the checkout that the device calls send
-- the session's own checkout, not a helper's worktree. It writes into ``.gpu/``, which git
ignores, so it travels only where a device call names it in ``carry``:

- ``.gpu/wheels/``: cp312 manylinux wheels, at the versions of ``scripts/constraints.txt``,
  of the small packages our scripts import that a GPU machine's Python might lack
  (``WHEELS``). The scripts there install only those whose modules are missing, offline.
  The big ones (torch, onnx, onnxruntime, opencv, numpy, scipy) are the machine's own.
- ``.gpu/reference.tar.xz``: the reference folders with a CUDA check (a ``model.pth``: the
  float32 CUDA network and pipeline against the official outputs, the CUDA fast path and
  batching against the CPU reference) from ``../shared/reference``, which does not travel
  by itself, xz-compressed (60 MB of them become about 52).

Then it adds up what each call sends (tracked and untracked-not-ignored files of the
checkout plus the carried paths) against the 64 MiB limit, and prints each call's ``carry``
list, command and ``timeout_s``. It exits 1 when a call would be over the limit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPU_DIR = REPO / '.gpu'
LIMIT_MIB = 64.0
MIB = 2 ** 20
# Imported by the scripts or the tests they run, small, and possibly missing on the GPU
# machine (its image listed all four on 2026-11-17; they are carried in case it changes).
WHEELS = ('pytest-timeout', 'tqdm', 'psutil', 'pyyaml')
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_17_x86_64',
             'manylinux2014_x86_64', 'manylinux_2_12_x86_64', 'manylinux2010_x86_64',
             'manylinux1_x86_64')

CHECK_CALL = {
    'what': 'issue 19: CUDA tests and benchmarks (benchmarks/gpu_check.py)',
    'carry': ['.gpu/wheels', '.gpu/reference.tar.xz'],
    'command': 'python3 benchmarks/gpu_check.py --out "$OUT" --minutes 7',
    'timeout_s': 540,
}
TRAIN_CALL = {
    'what': 'issue 21: time-boxed training of the bundled model (benchmarks/gpu_train.py)',
    'carry': ['.gpu/wheels'],
    'command': 'python3 benchmarks/gpu_train.py --out "$OUT" --minutes 8',
    'timeout_s': 600,
}


def pinned_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Versions of ``names`` in ``scripts/constraints.txt`` (the locked environment)."""
    pins = {}
    text = (REPO / 'scripts' / 'constraints.txt').read_text()
    for name in names:
        spelled = '[-_.]'.join(re.escape(part) for part in re.split(r'[-_.]', name))
        pattern = re.compile(rf'^{spelled}==([^\s;#]+)', re.IGNORECASE | re.MULTILINE)
        match = pattern.search(text)
        if not match:
            raise SystemExit(f'{name} is not pinned in scripts/constraints.txt')
        pins[name] = match.group(1)
    return pins


def download_wheels(directory: Path) -> None:
    """Download the cp312 manylinux wheels of ``WHEELS`` (skipping those already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = []
    for name, version in pinned_versions(WHEELS).items():
        stem = re.sub(r'[-_.]+', '_', name).lower()
        have = [w for w in directory.glob('*.whl')
                if w.name.lower().startswith(f'{stem}-{version}-')]
        if have:
            print(f'wheel present: {have[0].name}')
        else:
            wanted.append(f'{name}=={version}')
    stale = [w for w in directory.glob('*.whl')
             if not any(w.name.lower().startswith(re.sub(r'[-_.]+', '_', n).lower() + '-')
                        for n in WHEELS)]
    for wheel in stale:
        print(f'removing a wheel not in the list: {wheel.name}')
        wheel.unlink()
    if not wanted:
        return
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
               '--python-version', '3.12', '--implementation', 'cp', '-d', str(directory)]
    for platform in PLATFORMS:
        command += ['--platform', platform]
    print('$ ' + ' '.join(command + wanted))
    subprocess.run(command + wanted, check=True)


def reference_folders(source: Path, names: list[str]) -> list[Path]:
    """Choose the folders to carry: those named, else every folder with a ``model.pth``."""
    if names:
        folders = [source / name for name in names]
        missing = [str(f) for f in folders if not (f / 'expected.json').is_file()]
        if missing:
            raise SystemExit(f'not reference folders: {", ".join(missing)}')
        return folders
    return sorted(p for p in source.iterdir()
                  if (p / 'expected.json').is_file() and (p / 'model.pth').is_file())


def pack_reference(source: Path, folders: list[Path], archive: Path) -> None:
    """Write ``archive`` (``reference/<folder>/...``) unless it already holds these files."""
    files = [source / 'README.md'] if (source / 'README.md').is_file() else []
    for folder in folders:
        files += sorted(p for p in folder.iterdir() if p.is_file())
    manifest = [[str(f.relative_to(source)), f.stat().st_size, int(f.stat().st_mtime)]
                for f in files]
    stamp = archive.with_suffix('.manifest.json')
    if archive.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == manifest:
        print(f'{archive.relative_to(REPO)} is up to date')
        return
    started = time.monotonic()
    print(f'packing {len(files)} files ({sum(m[1] for m in manifest) / MIB:.1f} MiB) of '
          f'{", ".join(f.name for f in folders)} into {archive.relative_to(REPO)} '
          '(xz, a minute or two)')
    partial = archive.with_name(archive.name + '.partial')
    with tarfile.open(partial, 'w:xz', preset=6) as tar:
        for path in files:
            tar.add(path, arcname=f'reference/{path.relative_to(source)}', recursive=False)
    os.replace(partial, archive)
    stamp.write_text(json.dumps(manifest))
    print(f'packed in {time.monotonic() - started:.0f} s: {archive.stat().st_size / MIB:.1f} MiB')


def tree_bytes() -> int:
    """Bytes of the checkout's tracked and untracked-not-ignored files (what always travels)."""
    listing = subprocess.run(['git', '-C', str(REPO), 'ls-files', '-z', '--cached', '--others',
                              '--exclude-standard'], capture_output=True, check=True).stdout
    total = 0
    for name in {n for n in listing.decode().split('\0') if n}:
        path = REPO / name
        if path.is_symlink() or path.is_file():
            total += path.lstat().st_size
    return total


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob('*') if p.is_file())


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--reference-src', default=str(REPO.parent / 'shared' / 'reference'),
                        help='the reference folders (default ../shared/reference)')
    parser.add_argument('--folders', nargs='*', default=[],
                        help='reference folders to carry (default: those with a model.pth)')
    parser.add_argument('--no-wheels', action='store_true', help='do not download wheels')
    parser.add_argument('--no-reference', action='store_true', help='do not pack the reference')
    args = parser.parse_args(argv)

    ignored = subprocess.run(['git', '-C', str(REPO), 'check-ignore', '-q', '.gpu/x'])
    if ignored.returncode != 0:
        print('.gpu/ is not ignored by git here; add "/.gpu/" to .gitignore first')
        return 1
    if not args.no_wheels:
        download_wheels(GPU_DIR / 'wheels')
    if not args.no_reference:
        source = Path(args.reference_src)
        if not source.is_dir():
            print(f'{source} not found: nothing to pack (the CUDA reference tests will skip)')
        else:
            pack_reference(source, reference_folders(source, args.folders),
                           GPU_DIR / 'reference.tar.xz')

    tree = tree_bytes()
    print(f'\ncheckout (tracked + untracked-not-ignored files): {tree / MIB:.2f} MiB')
    status = 0
    for call in (CHECK_CALL, TRAIN_CALL):
        carried = {c: path_bytes(REPO / c) for c in call['carry'] if (REPO / c).exists()}
        total = (tree + sum(carried.values())) / MIB
        verdict = 'fits' if total <= LIMIT_MIB else 'TOO LARGE'
        status |= total > LIMIT_MIB
        print(f'\n{call["what"]}')
        for path in call['carry']:
            size = f'{carried[path] / MIB:.2f} MiB' if path in carried else 'MISSING'
            print(f'  carry {path}: {size}')
        print(f'  travels: {total:.2f} MiB of {LIMIT_MIB:.0f} ({verdict}, '
              f'{LIMIT_MIB - total:.2f} MiB to spare)')
        print('  device run:')
        print(f'    carry:     {json.dumps(call["carry"])}')
        print(f'    command:   {call["command"]}')
        print(f'    timeout_s: {call["timeout_s"]}')
    return int(status)


if __name__ == '__main__':
    sys.exit(main())
