"""The reference outputs of the official implementation: where they are and what matching means.

Every test that reads ``../shared/reference`` (or the directories named by
``CENTERTRACK_REFERENCE_DIR``, separated by ``:``) finds its folders here, by the files a
folder holds, never by its name, so that held-out folders in the same format run through the
same checks. The tolerances are those of the reference README:

- network outputs, element by element: ``atol + rtol * (max - min)`` of the reference output
  of that head on that frame (``hm`` after the sigmoid);
- results of a pipeline with a network: positions within 0.2 px, scores within 0.02;
- results of decoding and tracking given head outputs (``post_*``): 0.05 px and 1e-4;
- the 3D fields (the 3D README), in both kinds of folder: ``dep`` within 2e-3 x max(|d|, 1 m),
  each of ``dim`` within 2e-3 x max(|value|, 1 m), each of ``loc`` within
  2e-3 x max(|loc|, 1 m), ``alpha`` and ``rot_y`` within 2e-3 rad (no modulo 2 pi).

The same result tolerances judge two paths of ours against each other (fast path, batching,
another engine): the README measured how far correct runs of the original move under other CPU
kernels (at most 0.019 px and 1.6e-3 in score), and the tolerances are ten times that.
Identities (count, ids, classes, ``active``, ``age``) are compared exactly: the folders were
made so that every decision has a margin far above float noise.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import cv2
import numpy as np
import pytest

from centertrack_ros.core.calibration import default_projection, projection_matrix
from centertrack_ros.core.config import CenterTrackConfig
from support import REPO

DEFAULT_DIRS = (REPO.parent / 'shared' / 'reference', REPO.parent / 'shared' / 'reference_3d')

NETWORK_ATOL = 1e-3
NETWORK_RTOL = 2e-2


@dataclass(frozen=True)
class ResultTolerance:
    """How far a result may be from the reference.

    Pixels for boxes and centres, score units; for the 3D fields a fraction of the value's
    scale in metres (``relative``, see :func:`metric_deviation`) and radians (``angle``).
    """

    position: float
    score: float
    relative: float = 2e-3
    angle: float = 2e-3


PIPELINE = ResultTolerance(position=0.2, score=0.02)
POST = ResultTolerance(position=0.05, score=1e-4)
POSITION_FIELDS = ('bbox', 'ct', 'tracking')
IDENTITY_FIELDS = ('class', 'active', 'age')
METRIC_FIELDS = ('dep', 'dim', 'loc')  # metres, compared relative to their scale
ANGLE_FIELDS = ('alpha', 'rot_y')
THREE_D_FIELDS = METRIC_FIELDS + ANGLE_FIELDS


def reference_dirs() -> list[Path]:
    """Directories holding reference folders (``CENTERTRACK_REFERENCE_DIR``, ``:``-separated)."""
    setting = os.environ.get('CENTERTRACK_REFERENCE_DIR')
    if setting:
        return [Path(part) for part in setting.split(os.pathsep) if part]
    return list(DEFAULT_DIRS)


def reference_folders() -> list[Path]:
    """Every folder with an ``expected.json`` in every reference directory, sorted by name."""
    folders = []
    for directory in reference_dirs():
        if directory.is_dir():
            folders += [p for p in directory.iterdir() if (p / 'expected.json').is_file()]
    return sorted(folders, key=lambda p: (p.name, str(p)))


def expected(folder: Path) -> dict:
    """Read the folder's ``expected.json``."""
    return json.loads((folder / 'expected.json').read_text())


def is_pipeline(folder: Path) -> bool:
    """Whether the folder holds a checkpoint and the frames of a whole pipeline run."""
    return (folder / 'model.pth').is_file() and bool(expected(folder).get('frames'))


def has_network_io(folder: Path) -> bool:
    """Whether the folder stores network inputs and outputs (``network_io.npz``)."""
    return (folder / 'model.pth').is_file() and (folder / 'network_io.npz').is_file()


def is_post(folder: Path) -> bool:
    """Whether the folder holds head outputs for decoding and tracking (``head_outputs.npz``)."""
    return (folder / 'head_outputs.npz').is_file()


def folder_params(select: Callable[[Path], bool] = lambda folder: True,
                  what: str = 'reference folders') -> list:
    """``pytest.param`` per selected folder (id = its name), or one skipped param if none."""
    folders = [p for p in reference_folders() if select(p)]
    if not folders:
        where = ', '.join(str(d) for d in reference_dirs())
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f'no {what} in {where} (set CENTERTRACK_REFERENCE_DIR)'))]
    return [pytest.param(p, id=p.name) for p in folders]


def official_config(folder: Path) -> CenterTrackConfig:
    """Return the configuration the original resolved for this folder's run."""
    return CenterTrackConfig.from_official_options(expected(folder)['config'])


def calibration(folder: Path, width: int, height: int) -> Optional[np.ndarray]:
    """Return the camera matrix P to give the tracker for a ``width x height`` folder image.

    ``calib_source`` ``given``: the stored ``calib``; ``default``: the matrix the original
    built itself from the image size and its focal length (``test_focal_length`` if set, else
    ``rest_focal_length``), checked against the ``calib`` the folder records; no
    ``calib_source`` (a 2D folder): None.
    """
    options = expected(folder)['config']
    source = options.get('calib_source')
    if source is None:
        return None
    if source == 'given':
        return projection_matrix(options['calib'])
    assert source == 'default', f'{folder.name}: unknown calib_source {source!r}'
    focal = options.get('test_focal_length', -1)
    focal = focal if focal > 0 else options['rest_focal_length']
    matrix = default_projection(width, height, focal)
    if 'calib' in options:
        np.testing.assert_allclose(matrix, options['calib'], rtol=1e-6,
                                   err_msg=f'{folder.name}: default calibration')
    return matrix


def frames(folder: Path) -> list[np.ndarray]:
    """Read the folder's frames in order, BGR as ``cv2.imread`` returns them."""
    images = [cv2.imread(str(folder / name)) for name in expected(folder)['frames']]
    assert all(image is not None for image in images), f'unreadable frames in {folder}'
    return images


def stored_frames(io: np.lib.npyio.NpzFile) -> list[str]:
    """List the frame prefixes (``f0``, ``f1``, ...) a ``network_io.npz`` holds."""
    return sorted({name.split('_')[0] for name in io.files})


def network_bound(reference: np.ndarray) -> float:
    """Largest allowed element-wise deviation from one head's reference output on one frame."""
    return NETWORK_ATOL + NETWORK_RTOL * float(reference.max() - reference.min())


def metric_deviation(key: str, ours, theirs) -> float:
    """Deviation of a 3D field in metres, as a fraction of its scale (the 3D README's rule).

    The scale is max(|value|, 1 m) per value for ``dep`` and ``dim``, and max(|loc|, 1 m)
    for every component of ``loc`` (a position's error grows with its distance).
    """
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        return float('inf')
    if key == 'loc':
        scale = np.full(b.shape, max(float(np.linalg.norm(b)), 1.0))
    else:
        scale = np.maximum(np.abs(b), 1.0)
    return float(np.max(np.abs(a - b) / scale))


def compare_results(got: Iterable[dict], want: Iterable[dict], tolerance: ResultTolerance,
                    required: Iterable[str] = ()) -> tuple[list[str], dict[str, float]]:
    """Differences between two frames' results, as sets keyed by ``tracking_id``.

    Both sides are dicts in the original's key names (``Track.to_dict``); the fields ``got``
    carries are compared (a published detection has no ``ct`` or ``age``), and the fields
    named in ``required`` must be in ``got`` wherever ``want`` has them. Returns readable
    problems and the largest deviation seen per field (for the 3D metric fields the relative
    deviation of :func:`metric_deviation`).
    """
    ours = {r['tracking_id']: r for r in got}
    theirs = {r['tracking_id']: r for r in want}
    problems = []
    worst: dict[str, float] = {}
    if len(ours) != len(theirs):
        problems.append(f'{len(ours)} objects, expected {len(theirs)}')
    if set(ours) != set(theirs):
        problems.append(f'track ids {sorted(ours)}, expected {sorted(theirs)}')
    limits = {name: tolerance.position for name in POSITION_FIELDS}
    limits['score'] = tolerance.score
    limits.update({name: tolerance.relative for name in METRIC_FIELDS})
    limits.update({name: tolerance.angle for name in ANGLE_FIELDS})
    required = set(required)
    for track_id in sorted(set(ours) & set(theirs)):
        a, b = ours[track_id], theirs[track_id]
        for key in IDENTITY_FIELDS:
            if key in a and key in b and a[key] != b[key]:
                problems.append(f'id {track_id}: {key} {a[key]}, expected {b[key]}')
        for key, limit in limits.items():
            if key not in b:
                continue
            if key not in a:
                if key in required:
                    problems.append(f'id {track_id}: no {key}, expected {b[key]}')
                continue
            if key in METRIC_FIELDS:
                deviation = metric_deviation(key, a[key], b[key])
            else:
                deviation = float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key]))))
            worst[key] = max(worst.get(key, 0.0), deviation)
            if not deviation <= limit:  # NaN fails too
                problems.append(f'id {track_id}: {key} {a[key]} vs {b[key]} '
                                f'(off by {deviation:.4g} > {limit})')
    return problems, worst


def sequence_problems(per_frame: Iterable[tuple[Iterable[dict], Iterable[dict]]],
                      tolerance: ResultTolerance, required: Iterable[str] = (),
                      ) -> tuple[list[str], dict[str, float]]:
    """:func:`compare_results` over a sequence; problems are prefixed with the frame index."""
    problems, worst = [], {}
    required = tuple(required)
    for index, (got, want) in enumerate(per_frame):
        frame_problems, frame_worst = compare_results(got, want, tolerance, required)
        problems += [f'frame {index}: {p}' for p in frame_problems]
        for key, value in frame_worst.items():
            worst[key] = max(worst.get(key, 0.0), value)
    return problems, worst


def assert_same_results(per_frame: Iterable[tuple[Iterable[dict], Iterable[dict]]],
                        tolerance: ResultTolerance, label: str = '',
                        required: Iterable[str] = ()) -> dict[str, float]:
    """Fail with every difference of a sequence; return the largest deviations per field."""
    problems, worst = sequence_problems(per_frame, tolerance, required)
    print(f'{label}: largest deviations {worst}')
    assert not problems, f'{label}:\n' + '\n'.join(problems[:40])
    return worst


def as_dicts(tracks: Optional[Iterable]) -> list[dict]:
    """Tracks in the original's key names."""
    return [t.to_dict() for t in tracks or ()]
