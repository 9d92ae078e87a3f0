"""What a live node published, scored beside the offline run of the same model: the counting.

``centertrack_bag benchmark`` plays bags through a node in another process and runs the same
model offline on every frame (:mod:`centertrack_ros.tools.live_benchmark` does the ROS side);
this module, free of ROS, turns what each run gave into the report:

- tracking quality of what was published (HOTA, DetA, AssA, MOTA, IDF1, ID switches), scored
  against the bag's ground truth by header stamp (:func:`~.evaluation.align`); a frame the node
  did not answer is a frame with no output, so its objects count as misses;
- the fraction of the frames played that were answered;
- latency percentiles (p50/p90/p99/max) of the answered frames: see :data:`LATENCY_MEANING`;
- the gaps the tracker saw: a frame skipped by the node means that the next frame it tracks
  is further from the last one (objects moved further, the prior heatmap is older).

Every figure is given per camera and over all cameras (:data:`OVERALL`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..evaluation.metrics import OVERALL, TrackingMetrics
from ..evaluation.sequences import evaluate_sequences
from ..runtime.boxes import DetectionBox as Box
from .evaluation import Rows, align

LATENCY_MEANING = (
    'from the moment the benchmark published an image (as a camera driver would, right after '
    'stamping it) to the moment the node\'s detections for that image arrived back in the '
    'benchmark process, both read from that one process\'s monotonic clock: DDS transport of the '
    'image, the node\'s queue, decoding, the network, the tracker, publishing and DDS transport '
    'of the detections back; not the bag\'s own stamps, which are the time of the recording')
"""What the latency figures measure (in the report, the README and the JSON)."""

OFFLINE = 'offline'
LIVE = 'live'
NODE_COUNTERS = ('frames_received', 'frames_processed', 'frames_dropped',
                 'frames_lost_in_transport', 'frames_rejected')
"""The node's diagnostics counters a live run reports (differences over the run)."""


@dataclass
class CameraRun:
    """One camera in one run: the frames sent, their ground truth and what came back.

    Attributes:
        name: the camera's name in the report.
        gt: the ground truth by header stamp (a bag's ground-truth topic).
        frames: header stamps of the images played, in the order played.
        answers: header stamp -> boxes of the first answer for that image.
        sent_ns: header stamp -> when the image was published (monotonic ns; live runs).
        received_ns: header stamp -> when its answer arrived (same clock; live runs).
        unexpected: answers whose stamp was not played (left out, counted).
        repeated: further answers for an image already answered (left out, counted).

    """

    name: str
    gt: Rows
    frames: list[int]
    answers: dict[int, list[Box]] = field(default_factory=dict)
    sent_ns: dict[int, int] = field(default_factory=dict)
    received_ns: dict[int, int] = field(default_factory=dict)
    unexpected: int = 0
    repeated: int = 0

    _played: set[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._played = set(self.frames)

    def answer(self, stamp: int, boxes: list[Box], received_ns: Optional[int] = None) -> None:
        """Record an answer (the first one for a stamp counts; stamps not played are noted)."""
        if stamp not in self._played:
            self.unexpected += 1
        elif stamp in self.answers:
            self.repeated += 1
        else:
            self.answers[stamp] = boxes
            if received_ns is not None:
                self.received_ns[stamp] = received_ns

    @property
    def answered(self) -> int:
        """Frames played that were answered."""
        return len(self.answers)  # :meth:`answer` keeps only frames played

    def latencies_ms(self) -> list[float]:
        """Latency of every answered frame that has both times, in ms, in frame order."""
        return [(self.received_ns[s] - self.sent_ns[s]) / 1e6 for s in self.frames
                if s in self.received_ns and s in self.sent_ns]

    def answer_intervals_ms(self) -> list[float]:
        """Time between consecutive answers in ms: a busy node's time per frame."""
        times = sorted(self.received_ns.values())
        return [(b - a) / 1e6 for a, b in zip(times, times[1:])]

    def unanswered(self) -> list[int]:
        """Frame numbers (1-based, in play order) of the frames that were not answered."""
        return [k + 1 for k, stamp in enumerate(self.frames) if stamp not in self.answers]

    def gaps(self) -> list[int]:
        """Distance in frames from each answered frame to the previous answered one."""
        positions = [k for k, stamp in enumerate(self.frames) if stamp in self.answers]
        return [b - a for a, b in zip(positions, positions[1:])]


def latency_summary(values_ms: Sequence[float]) -> dict[str, Optional[float]]:
    """p50, p90, p99 and max of latencies in ms (None each when there is none)."""
    if not len(values_ms):
        return {'p50_ms': None, 'p90_ms': None, 'p99_ms': None, 'max_ms': None,
                'samples': 0}
    values = np.asarray(values_ms, dtype=np.float64)
    return {'p50_ms': float(np.percentile(values, 50)),
            'p90_ms': float(np.percentile(values, 90)),
            'p99_ms': float(np.percentile(values, 99)),
            'max_ms': float(values.max()), 'samples': int(values.size)}


def gap_summary(gaps: Sequence[int]) -> dict[str, Any]:
    """How far apart the frames the tracker saw were: max gap, and how many exceeded 1 frame."""
    return {'max_frames': max(gaps, default=0),
            'gaps_over_one_frame': sum(1 for g in gaps if g > 1),
            'frames_skipped_inside': sum(g - 1 for g in gaps)}


@dataclass
class RunReport:
    """One run (offline, or live at one rate) scored per camera and over all of them.

    Every mapping is keyed by camera name, plus :data:`OVERALL`.
    """

    mode: str
    rate: Optional[float]
    metrics: dict[str, TrackingMetrics]
    frames: dict[str, int]
    answered: dict[str, int]
    latency: dict[str, dict[str, Optional[float]]]
    gaps: dict[str, dict[str, Any]]
    unexpected_answers: dict[str, int]
    unanswered: dict[str, list[int]] = field(default_factory=dict)
    answer_interval_ms: dict[str, Optional[float]] = field(default_factory=dict)
    node: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = math.nan
    settled: bool = True

    @property
    def label(self) -> str:
        """``offline`` or ``live x<rate>``."""
        return OFFLINE if self.mode == OFFLINE else f'{LIVE} x{self.rate:g}'

    def answered_fraction(self, camera: str = OVERALL) -> float:
        """Fraction of the frames played that the node answered (1 offline)."""
        frames = self.frames[camera]
        return self.answered[camera] / frames if frames else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as None)."""
        cameras: dict[str, dict[str, Any]] = {}
        for name in self.metrics:
            cameras[name] = {
                'frames': self.frames[name], 'answered': self.answered[name],
                'answered_fraction': _none_if_nan(self.answered_fraction(name)),
                'latency': self.latency[name], 'tracker_gaps': self.gaps[name],
                'unexpected_answers': self.unexpected_answers[name],
                'metrics': self.metrics[name].as_dict(),
            }
            if name in self.answer_interval_ms:
                cameras[name]['answer_interval_p50_ms'] = self.answer_interval_ms[name]
            if name in self.unanswered:
                cameras[name]['unanswered_frames'] = self.unanswered[name]
            if name in self.node:
                cameras[name]['node_counters'] = self.node[name]
        return {'mode': self.mode, 'rate': self.rate, 'label': self.label,
                'wall_s': _none_if_nan(self.wall_s), 'settled': self.settled,
                'cameras': {k: v for k, v in cameras.items() if k != OVERALL},
                'overall': cameras[OVERALL]}


def _none_if_nan(value: float) -> Optional[float]:
    return None if isinstance(value, float) and math.isnan(value) else value


def score_run(mode: str, cameras: Sequence[CameraRun], rate: Optional[float] = None,
              class_names: Sequence[str] = (), iou_threshold: float = 0.5,
              node: Optional[Mapping[str, Mapping[str, int]]] = None,
              wall_s: float = math.nan, settled: bool = True) -> RunReport:
    """Score one run of every camera against its ground truth.

    A frame played and not answered has no boxes: its ground truth counts as misses. Answers
    for stamps that were not played are left out (and counted in ``unexpected_answers``).

    Args:
        mode: :data:`OFFLINE` or :data:`LIVE`.
        cameras: each camera's frames and answers (names unique, not :data:`OVERALL`).
        rate: the playback speed factor of a live run.
        class_names: names of class ids (default: the ground truth's).
        iou_threshold: IoU for CLEAR-MOT and identity matching (HOTA scores every IoU).
        node: the node's counters per camera over the run (live runs); an :data:`OVERALL`
            entry is added.
        wall_s: how long the run took.
        settled: whether every frame was accounted for before the run was scored.

    Raises:
        ValueError: duplicate or reserved camera names.

    """
    aligned = []
    for camera in cameras:
        tracks = Rows(f'{camera.name} ({mode})',
                      by_stamp=dict(camera.answers),
                      class_names=camera.gt.class_names)
        aligned.append(align(camera.name, camera.gt, tracks, class_names))
    report = evaluate_sequences(aligned, iou_threshold=iou_threshold)
    frames = {c.name: len(c.frames) for c in cameras}
    answered = {c.name: c.answered for c in cameras}
    latency = {c.name: latency_summary(c.latencies_ms()) for c in cameras}
    gaps = {c.name: gap_summary(c.gaps()) for c in cameras}
    unexpected = {c.name: c.unexpected for c in cameras}
    frames[OVERALL] = sum(frames.values())
    answered[OVERALL] = sum(answered.values())
    latency[OVERALL] = latency_summary([v for c in cameras for v in c.latencies_ms()])
    gaps[OVERALL] = gap_summary([g for c in cameras for g in c.gaps()])
    unexpected[OVERALL] = sum(unexpected.values())
    counters = {name: dict(values) for name, values in (node or {}).items()}
    if counters:
        counters[OVERALL] = {key: sum(values.get(key, 0) for values in counters.values())
                             for key in NODE_COUNTERS}
    intervals = {c.name: c.answer_intervals_ms() for c in cameras}
    intervals[OVERALL] = [v for c in cameras for v in intervals[c.name]]
    median = {name: float(np.median(values)) if values else None
              for name, values in intervals.items()}
    return RunReport(mode, rate, dict(report.metrics), frames, answered, latency, gaps,
                     unexpected, {c.name: c.unanswered() for c in cameras}, median, counters,
                     wall_s, settled)


# ----------------------------------------------------------------------------- the report
@dataclass
class BenchmarkReport:
    """Every run of a benchmark, with what ran where.

    Attributes:
        runs: the offline run first, then the live runs in the order played.
        cameras: camera name -> bag (and image topic) it came from.
        frame_rate: the bags' own frame rate (frames/s, from their stamps).
        model: the model's one-line description (the offline session's).
        machine: :func:`~centertrack_ros.tools.machine.machine_info` (device named there).
        settings: how the benchmark ran (node command, parameters, DDS profile, ...).

    """

    runs: list[RunReport]
    cameras: dict[str, str]
    frame_rate: float
    model: str
    machine: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {'tool': 'centertrack_bag benchmark', 'cameras': self.cameras,
                'frame_rate': self.frame_rate, 'model': self.model, 'machine': self.machine,
                'latency_measures': LATENCY_MEANING, 'settings': self.settings,
                'runs': [run.to_dict() for run in self.runs]}

    def markdown(self) -> str:
        """Return the tables: all cameras, each camera (when several), why live runs lost frames."""
        names = list(self.cameras)
        sections = []
        scopes = [OVERALL] + (names if len(names) > 1 else [])
        for scope in scopes:
            title = ('all cameras' if len(names) > 1 else names[0]) if scope == OVERALL \
                else f'camera {scope}'
            sections.append(f'#### {title}\n\n' + run_table(self.runs, scope, self.frame_rate))
        notes = [note for run in self.runs if run.mode == LIVE
                 for note in [explain_losses(run, self.frame_rate)] if note]
        device = self.machine.get('gpu', 'none')
        where = (f'{self.machine.get("cpu", "?")}, {self.machine.get("cores", "?")} cores'
                 + (f', GPU {device}' if device not in ('', 'none') else '')
                 + f', load average {self.machine.get("load_average", "?")} at the start'
                 + (f', {self.settings["load_average_end"]} at the end'
                    if 'load_average_end' in self.settings else ''))
        profile = self.settings.get('dds_profile')
        started = self.settings.get('started')
        head = (f'Model: {self.model}\n\nMachine: {where}'
                + (f'; started {started}' if started else '') + '.\n\n'
                + (f'Fast DDS profile: {profile}.\n\n' if profile else '')
                + f'Latency: {LATENCY_MEANING}.\n')
        return '\n'.join([head] + sections + (['\n'.join(f'- {n}' for n in notes) + '\n']
                                              if notes else []))


def _pct(value: Optional[float]) -> str:
    return '-' if value is None or math.isnan(value) else f'{100 * value:.1f}'


def _ms(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.0f}'


def run_table(runs: Sequence[RunReport], scope: str = OVERALL,
              frame_rate: float = math.nan) -> str:
    """One Markdown table: a row per run, for one camera or :data:`OVERALL`."""
    lines = ['| run | frames answered | HOTA | DetA | AssA | MOTA | IDF1 | ID sw. '
             '| latency p50 / p90 / p99 / max (ms) | tracker gaps (max, >1 frame) |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for run in runs:
        m = run.metrics[scope]
        label = run.label
        if run.mode == LIVE and run.rate is not None and math.isfinite(frame_rate):
            label += f' ({run.rate * frame_rate:g} fps)'
        lat = run.latency[scope]
        latency = '-' if lat['p50_ms'] is None else \
            ' / '.join(_ms(lat[k]) for k in ('p50_ms', 'p90_ms', 'p99_ms', 'max_ms'))
        gaps = run.gaps[scope]
        lines.append(
            f'| {label} | {run.answered[scope]}/{run.frames[scope]} '
            f'({_pct(run.answered_fraction(scope))} %) | {_pct(m.hota)} | {_pct(m.deta)} | '
            f'{_pct(m.assa)} | {_pct(m.mota)} | {_pct(m.idf1)} | {m.id_switches} | {latency} '
            f'| {gaps["max_frames"]}, {gaps["gaps_over_one_frame"]} |')
    return '\n'.join(lines) + '\n'


def explain_losses(run: RunReport, frame_rate: float = math.nan) -> str:
    """Say in one sentence why a live run answered fewer frames, from the node's counters."""
    missing = run.frames[OVERALL] - run.answered[OVERALL]
    if not missing and run.gaps[OVERALL]['max_frames'] <= 1:
        return f'{run.label}: every frame answered; the tracker saw every frame.'
    text = f'{run.label}: {missing} of {run.frames[OVERALL]} frames not answered'
    counters = run.node.get(OVERALL)
    if counters:
        text += (f' (the node received {counters["frames_received"]}, skipped '
                 f'{counters["frames_dropped"]} to stay on the newest frame, processed '
                 f'{counters["frames_processed"]}; lost in transport '
                 f'{counters["frames_lost_in_transport"]}, rejected '
                 f'{counters["frames_rejected"]})')
    interval = run.answer_interval_ms.get(OVERALL)
    if interval is not None and math.isfinite(frame_rate) and run.rate:
        text += (f'; the node answered a frame every {interval:.0f} ms (median) while a new one '
                 f'came every {1000 / (frame_rate * run.rate):.0f} ms')
    gaps = run.gaps[OVERALL]
    if gaps['max_frames'] > 1:
        span = (f' ({1000 * gaps["max_frames"] / frame_rate:.0f} ms of the drive)'
                if math.isfinite(frame_rate) else '')
        text += (f'; the tracker jumped over skipped frames {gaps["gaps_over_one_frame"]} '
                 f'times, at most {gaps["max_frames"]} frames ahead{span}')
    if not run.settled:
        text += '; not every frame was accounted for when the run was scored'
    return text + '.'
