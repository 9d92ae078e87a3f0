#!/usr/bin/env python3
"""One prepared run on a lent GPU machine: the CUDA tests, then the CUDA benchmarks.

Run it from the repository root with the machine's own Python (no package registry, no ROS
there); ``benchmarks/gpu_prepare.py`` makes what travels with it and prints the exact device
command. It

1. installs the carried wheels (``.gpu/wheels``) whose modules this Python lacks, offline;
2. unpacks the carried reference outputs (``.gpu/reference.tar.xz``) and points
   ``CENTERTRACK_REFERENCE_DIR`` at them;
3. records the machine: ``nvidia-smi``, torch, CUDA, cuDNN, onnxruntime and its providers;
4. runs ``pytest -m gpu`` over the test files that have CUDA tests (float32 CUDA against the
   official outputs, fp16 within fp16 error, graph replay equal to eager, graph re-capture on
   a size change, batching equal to one by one, the bench's CUDA report);
5. runs ``centertrack_bench`` on CUDA: DLA-34 and generic, 1920x1080 frames into 960x544,
   fp16 and fp32, CUDA graph on and off, batch 1 and 6, each part with the original-style
   baseline in the same process; then the onnxruntime engine's rows when this onnxruntime
   has the CUDA (or TensorRT) execution provider;
6. writes into ``--out``: ``gpu_check.log`` (everything printed), ``summary.json``,
   ``pytest_gpu.xml`` (JUnit, with each test's output), ``bench_cuda.json`` and
   ``bench_cuda.md`` (every part's JSON and Markdown from ``centertrack_bench``).

Every part is time-boxed and the whole run ends within ``--minutes`` (default 7): a part
that would start with too little time left is skipped and says so. Child processes cannot
import ROS (``benchmarks/no_ros``), as on the GPU machine. Without CUDA (a rehearsal on a
developer's machine) the CUDA tests are collected and skipped, and the bench parts run their
exact command lines on the CPU at a tiny size, written to ``bench_rehearsal.*`` -- no
measurement, only proof that every command works.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_common import (  # noqa: E402  (the scripts' folder first, as a script's would be)
    REPO,
    Progress,
    child_env,
    install_wheels,
    missing_modules,
    run_part,
    utc_now,
)

GPU_TEST_FILES = ('test/fidelity/test_engines.py', 'test/fidelity/test_reference.py',
                  'test/perf/test_bench.py')
NEEDED = ('torch', 'torchvision', 'numpy', 'cv2', 'scipy', 'yaml', 'tqdm', 'psutil', 'pytest',
          'pytest_timeout', 'onnx', 'onnxscript', 'onnx_ir', 'onnxruntime')
RESERVE_S = 20.0  # kept back at the end for writing the outputs

PROBE = r'''
import json, platform
info = {'python': platform.python_version()}
try:
    import torch
    info.update(torch=torch.__version__, cuda_build=torch.version.cuda,
                cuda=torch.cuda.is_available())
    if info['cuda']:
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0),
                    capability='.'.join(map(str, torch.cuda.get_device_capability(0))),
                    memory_gib=round(props.total_memory / 2 ** 30, 1),
                    multiprocessors=props.multi_processor_count,
                    cudnn=torch.backends.cudnn.version())
    import torchvision
    info['torchvision'] = torchvision.__version__
except Exception as exc:
    info['torch_error'] = repr(exc)
try:
    import onnxruntime
    info['onnxruntime'] = onnxruntime.__version__
    info['onnxruntime_providers'] = onnxruntime.get_available_providers()
except Exception as exc:
    info['onnxruntime_error'] = repr(exc)
for name in ('numpy', 'cv2', 'onnx', 'onnxscript', 'scipy', 'pytest'):
    try:
        info[name] = __import__(name).__version__
    except Exception as exc:
        info[name] = 'missing: ' + repr(exc)
print('PROBE ' + json.dumps(info))
'''


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='output folder ($OUT on the GPU machine)')
    p.add_argument('--minutes', type=float, default=7.0,
                   help='the whole run ends within this (default 7)')
    p.add_argument('--work', default='/tmp/centertrack_gpu_check',
                   help='scratch folder (emptied first)')
    p.add_argument('--wheels', default=str(REPO / '.gpu' / 'wheels'),
                   help='carried wheels, installed offline where a module is missing')
    p.add_argument('--install-wheels', choices=('missing', 'always'), default='missing',
                   help="'always' installs every carried wheel (to rehearse the install)")
    p.add_argument('--reference', default='',
                   help='reference outputs: a .tar.xz or a folder (default: '
                        '.gpu/reference.tar.xz, else ../shared/reference)')
    p.add_argument('--iterations', type=int, default=200, help='bench iterations per row')
    p.add_argument('--warmup', type=int, default=20, help='bench warm-up iterations per row')
    p.add_argument('--tests-minutes', type=float, default=2.5,
                   help='time box of the CUDA tests')
    p.add_argument('--skip-tests', action='store_true')
    p.add_argument('--skip-bench', action='store_true')
    p.add_argument('--allow-ros', action='store_true',
                   help='let the children import ROS (by default they cannot, as on the GPU '
                        'machine)')
    return p


def _reference_dir(args: argparse.Namespace, work: Path, say: Progress) -> Path | None:
    """Unpack (or find) the reference outputs; None when there are none."""
    candidates = [Path(args.reference)] if args.reference else [
        REPO / '.gpu' / 'reference.tar.xz', REPO.parent / 'shared' / 'reference']
    for source in candidates:
        if source.is_dir():
            say(f'reference outputs: {source}')
            return source
        if source.is_file():
            started = time.monotonic()
            with tarfile.open(source, 'r:*') as archive:
                try:
                    archive.extractall(work, filter='data')
                except TypeError:  # Python without extraction filters
                    archive.extractall(work)
            target = work / 'reference'
            folders = sorted(p.name for p in target.iterdir() if p.is_dir())
            say(f'reference outputs: {source} unpacked into {target} in '
                f'{time.monotonic() - started:.1f} s: {", ".join(folders)}')
            return target
    say('no reference outputs found: the tests that need them skip '
        f'(looked for {", ".join(map(str, candidates))})')
    return None


def _probe(env: dict, say: Progress) -> dict:
    """Describe torch, CUDA and onnxruntime as a child process sees them."""
    proc = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True,
                          text=True, timeout=180)
    for line in proc.stdout.splitlines():
        if line.startswith('PROBE '):
            return json.loads(line[6:])
    say(f'probe failed (exit status {proc.returncode}): {proc.stderr[-2000:]}')
    return {'probe_error': proc.stderr[-2000:]}


def _nvidia_smi(say: Progress) -> str:
    if not shutil.which('nvidia-smi'):
        return 'nvidia-smi not found'
    query = ['nvidia-smi', '--query-gpu=name,driver_version,memory.total,memory.used,'
             'temperature.gpu,clocks.sm,clocks.mem,power.draw', '--format=csv']
    try:
        text = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        text = f'nvidia-smi failed: {exc}'
    say(text.strip())
    return text.strip()


def _junit_counts(path: Path) -> dict:
    """Count the tests, failures, errors and skips of a JUnit XML report ({} if unreadable)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return {}
    suites = [root] if root.tag == 'testsuite' else list(root.iter('testsuite'))
    counts = {key: sum(int(s.get(key, 0)) for s in suites)
              for key in ('tests', 'failures', 'errors', 'skipped')}
    counts['passed'] = counts['tests'] - counts['failures'] - counts['errors'] - counts['skipped']
    counts['not_passed'] = [
        f'{case.get("classname")}::{case.get("name")}: {child.tag}'
        for case in root.iter('testcase') for child in case
        if child.tag in ('failure', 'error')]
    return counts


def bench_parts(cuda: bool, providers: list[str]) -> list[dict]:
    """List the bench runs, each its own process (and baseline), most important first.

    Without CUDA the same command lines run on the CPU at a tiny size (a rehearsal).
    """
    size = ['--input-size', '960x544', '--image-size', '1920x1080'] if cuda else \
        ['--input-size', '128x64', '--image-size', '320x192']
    device = ['--device', 'cuda' if cuda else 'cpu']
    common = size + device + ['--graph', 'on', 'off', '--batch', '1', '6', '--engine', 'torch']
    parts = [
        {'name': 'bench-dla34-fp16', 'cap': 100, 'min': 30,
         'args': ['--arch', 'dla_34', '--precision', 'fp16'] + common},
        {'name': 'bench-generic-fp16', 'cap': 75, 'min': 25,
         'args': ['--arch', 'generic', '--precision', 'fp16'] + common},
        {'name': 'bench-dla34-fp32', 'cap': 100, 'min': 30,
         'args': ['--arch', 'dla_34', '--precision', 'fp32'] + common},
        {'name': 'bench-generic-fp32', 'cap': 75, 'min': 25,
         'args': ['--arch', 'generic', '--precision', 'fp32'] + common},
    ]
    gpu_providers = [p for p in providers if p in ('CUDAExecutionProvider',
                                                   'TensorrtExecutionProvider')]
    if cuda and gpu_providers:
        # fp16 only means something to TensorRT; the CUDA provider runs float32 either way.
        precisions = ['fp32', 'fp16'] if 'TensorrtExecutionProvider' in gpu_providers \
            else ['fp32']
        parts.append({'name': 'bench-onnxruntime', 'cap': 120, 'min': 45,
                      'args': ['--arch', 'dla_34', 'generic', '--precision', *precisions,
                               '--graph', 'off', '--batch', '1', '6',
                               '--engine', 'onnxruntime'] + size + device})
    elif not cuda:  # rehearse the onnxruntime engine's command on the CPU (generic only)
        parts.append({'name': 'bench-onnxruntime', 'cap': 120, 'min': 45,
                      'args': ['--arch', 'generic', '--precision', 'fp32', '--graph', 'off',
                               '--batch', '1', '6', '--engine', 'onnxruntime'] + size + device})
    return parts


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    say = Progress(out / 'gpu_check.log')
    deadline = say.start + args.minutes * 60.0
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    (work / 'parts').mkdir(parents=True)
    summary: dict = {'started': utc_now(), 'minutes': args.minutes, 'command': sys.argv,
                     'repo': str(REPO), 'parts': []}
    say(f'gpu_check: repository {REPO}, output {out}, whole run within {args.minutes} min')
    try:
        _git = subprocess.run(['git', '-C', str(REPO), 'log', '-1', '--format=%H %cI %s'],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        _git = ''
    summary['commit'] = _git or 'unknown (no git here)'
    say(f'commit: {summary["commit"]}')

    site = work / 'site'
    summary['wheels'] = install_wheels(Path(args.wheels), site, say,
                                       always=args.install_wheels == 'always')
    missing = missing_modules(NEEDED)
    summary['missing_modules'] = missing
    say(f'modules missing here: {", ".join(missing) if missing else "none"}')
    reference = _reference_dir(args, work, say)
    summary['reference_dir'] = str(reference) if reference else None
    variables = {'CENTERTRACK_CACHE_DIR': str(work / 'cache'),
                 'PYTEST_DISABLE_PLUGIN_AUTOLOAD': '1'}
    if reference:
        variables['CENTERTRACK_REFERENCE_DIR'] = str(reference)
    env = child_env([site] if site.is_dir() else [], block_ros=not args.allow_ros,
                    **variables)

    summary['nvidia_smi'] = _nvidia_smi(say)
    probe = _probe(env, say)
    summary['machine'] = probe
    say('machine: ' + json.dumps(probe))
    cuda = bool(probe.get('cuda'))
    if not cuda:
        say('NO CUDA HERE: the CUDA tests will be skipped and the bench parts run as a CPU '
            'rehearsal at a tiny size (no measurement)')

    def left() -> float:
        return deadline - time.monotonic() - RESERVE_S

    def part(name: str, cmd: list[str], cap: float, minimum: float) -> dict:
        budget = min(cap, left())
        if budget < minimum:
            say(f'skipped: {budget:.0f} s left in the time box, the part needs {minimum:.0f}',
                name)
            record = {'name': name, 'status': 'skipped', 'reason': 'no time left'}
        else:
            record = {'name': name, **run_part(cmd, say, name, budget, env=env)}
        summary['parts'].append(record)
        return record

    if args.skip_tests:
        summary['parts'].append({'name': 'tests', 'status': 'skipped', 'reason': '--skip-tests'})
    else:
        junit = out / 'pytest_gpu.xml'
        plugins = [] if missing_modules(['pytest_timeout']) else \
            ['-p', 'pytest_timeout', '--timeout', '150']
        record = part('tests', [sys.executable, '-m', 'pytest', '-m', 'gpu',
                                '-p', 'no:cacheprovider', *plugins, '-v', '-rA',
                                f'--junitxml={junit}', '-o', 'junit_logging=system-out',
                                *GPU_TEST_FILES], args.tests_minutes * 60.0, 30.0)
        record['counts'] = _junit_counts(junit)
        if not cuda:
            record['note'] = 'no CUDA: every gpu test skipped (collected and skipped only)'
        say(f'tests: {json.dumps(record["counts"])}', 'tests')

    payloads, markdown = [], []
    if args.skip_bench:
        summary['parts'].append({'name': 'bench', 'status': 'skipped', 'reason': '--skip-bench'})
    else:
        providers = probe.get('onnxruntime_providers') or []
        if cuda and not any(p in providers for p in ('CUDAExecutionProvider',
                                                     'TensorrtExecutionProvider')):
            say(f'onnxruntime {probe.get("onnxruntime", "(missing)")} has no CUDA or TensorRT '
                f'provider (it has {", ".join(providers) or "none"}): its rows are skipped')
            summary['parts'].append({'name': 'bench-onnxruntime', 'status': 'skipped',
                                     'reason': f'no CUDA provider in {providers}'})
        iterations = ['--iterations', str(args.iterations), '--warmup', str(args.warmup)] \
            if cuda else ['--iterations', '2', '--warmup', '1']
        for spec in bench_parts(cuda, providers):
            name = spec['name']
            json_path = work / 'parts' / f'{name}.json'
            md_path = work / 'parts' / f'{name}.md'
            cmd = [sys.executable, '-m', 'centertrack_ros.tools.bench', *spec['args'],
                   *iterations, '--json', str(json_path), '--markdown', str(md_path)]
            record = part(name, cmd, spec['cap'], spec['min'])
            if json_path.is_file():
                payloads.append({'part': name, **json.loads(json_path.read_text())})
                markdown.append(f'#### {name}\n\n' + md_path.read_text())
                record['rows'] = len(payloads[-1].get('results', []))
        stem = 'bench_cuda' if cuda else 'bench_rehearsal'
        title = '# centertrack_bench on CUDA' if cuda else \
            '# REHEARSAL on the CPU at a tiny size: not a measurement'
        (out / f'{stem}.json').write_text(json.dumps({'runs': payloads}, indent=2))
        (out / f'{stem}.md').write_text(
            f'{title}\n\nWritten by `benchmarks/gpu_check.py` at {utc_now()}; machine: '
            f'{probe.get("device", "no CUDA device")}, torch {probe.get("torch")}, CUDA '
            f'{probe.get("cuda_build")}, cuDNN {probe.get("cudnn")}.\n\n'
            + '\n'.join(markdown))

    summary['finished'] = utc_now()
    summary['seconds'] = round(say.elapsed(), 1)
    summary['cuda'] = cuda
    (out / 'summary.json').write_text(json.dumps(summary, indent=2))
    bad = [p for p in summary['parts'] if p['status'] in ('failed', 'timeout')]
    tests = next((p for p in summary['parts'] if p['name'] == 'tests'), {})
    say('')
    say(f'SUMMARY ({"CUDA: " + str(probe.get("device")) if cuda else "NO CUDA: rehearsal"}, '
        f'{summary["seconds"]:.0f} s)')
    for record in summary['parts']:
        extra = record.get('reason') or (f'{record["seconds"]} s' if 'seconds' in record
                                         else '')
        if 'rows' in record:
            extra += f', {record["rows"]} rows' + (
                '' if record['rows'] or cuda else ' (fp16 and CUDA graphs run only on CUDA)')
        say(f'  {record["name"]:22} {record["status"]:8} {extra}')
    if tests.get('counts'):
        c = tests['counts']
        say(f'  tests: {c["passed"]} passed, {c["failures"]} failed, {c["errors"]} errors, '
            f'{c["skipped"]} skipped')
        for line in c['not_passed']:
            say(f'    {line}')
    say(f'  outputs: {", ".join(sorted(p.name for p in out.iterdir()))}')
    say.close()
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
