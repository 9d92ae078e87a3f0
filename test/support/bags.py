"""Shared helpers of the bag and demo tests: a small detecting model, the bag CLI in-process.

The bundled model may not exist where the tests run, and its quality is not what these tests
check, so they use a small random-weight ``generic`` (MobileNetV2) checkpoint at a 224x128
input that finds a handful of boxes of plausible sizes per frame, which makes the tracks (and
the metrics computed from them) non-trivial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from centertrack_ros.tools.bag import main as bag_main
from centertrack_ros.tools.random_models import write_random_model

START_TIME = 1_700_000_000  # seconds; fixed so that stamps are known to the tests


def make_random_model(path: Path, seed: int = 0, threshold: float = 0.3,
                      hm_bias: float = -2.5, ddd: bool = False) -> Path:
    """Write a random-weight checkpoint (with our config metadata) that detects something.

    With ``ddd`` the network has the 3D heads (depths of about 10 m, car-like dimensions).
    """
    write_random_model(path, seed=seed, threshold=threshold, hm_bias=hm_bias, calibrate=True,
                       ddd=ddd)
    return path


def cli(*args) -> int:
    """Run ``centertrack_bag`` in this process (progress bars off for commands that have one)."""
    return bag_main([str(a) for a in args])


def convert_synthetic(path: Path, seed: int, frames: int, *extra) -> Path:
    """Convert a synthetic drive into a bag at ``path``, stamped from ``START_TIME``; return it.

    ``extra`` are further ``convert`` options (``--size``, ``--camera-info``, ...).
    """
    assert cli('convert', '--synthetic', seed, '--frames', frames, '-o', path, '--start-time',
               START_TIME, '-q', *extra) == 0
    return path


def convert_calibrated(folder: Path, seed: int, frames: int,
                   projection: Sequence[Sequence[float]]) -> Path:
    """Write a synthetic bag with a CameraInfo per frame whose projection is ``projection``.

    The 3x4 matrix goes to ``folder/P.txt`` (KITTI's layout, the ``--camera-info`` file), the
    bag to ``folder/bag``.
    """
    matrix = folder / 'P.txt'
    matrix.write_text('\n'.join(' '.join(str(v) for v in row) for row in projection))
    return convert_synthetic(folder / 'bag', seed, frames, '--camera-info', matrix)


def error_of(capsys, *args) -> str:
    """Run a command that must fail with status 2; return its one-line error."""
    capsys.readouterr()
    assert cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err, 'no error message'
    return err[-1]
