"""What the planner actually gets: bags played through the live node, beside the offline run.

The ROS side of ``centertrack_bag benchmark`` (and of the live tuning of
``centertrack_evaluate --bag --live``):

1. :class:`LiveNode` starts ``centertrack_node`` in a process of its own (its own namespace; it
   dies with this process however that ends), with the user's parameters file and options,
   subscribes here to its detections and diagnostics, and waits until the node is active and
   matched both ways before anything is played.
2. :meth:`LiveNode.replay` plays every camera's bag at its recorded pace times a rate, from this
   process, noting when each image was published and when its detections came back (one clock:
   this process's monotonic clock), then waits until the node's diagnostics account for every
   frame played (processed, skipped for a newer one, rejected or lost) and the detections of
   every processed frame have arrived.
3. :func:`run_benchmark` runs the model offline on every frame first (the ``run`` path, in
   this process), then replays live at each rate and scores everything
   (:mod:`centertrack_ros.bags.benchmark`).
"""

from __future__ import annotations

import datetime
import heapq
import json
import math
import os
import re
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from tqdm import tqdm

from ..bags.benchmark import LIVE, NODE_COUNTERS, BenchmarkReport, CameraRun, RunReport, score_run
from ..bags.cameras import (
    CameraSource,
    class_names_of,
    common_frame_rate,
    output_bag_name,
    run_offline,
)
from ..bags.errors import BagError
from ..bags.io import BagReader, BagWriter
from ..bags.messages import detection_array
from ..bags.offline import DEFAULT_DETECTIONS_TOPIC
from ..bags.typestore import COMPRESSED_IMAGE, DETECTION_ARRAY
from ..core.config import TrackerConfig
from ..evaluation.metrics import OVERALL
from ..evaluation.tracker import Evaluation
from ..runtime.session import SessionSettings, TrackingSession

NODE_START_TIMEOUT = 180.0  # seconds: importing torch, exporting and loading a model on a slow CPU
SETTLE_TIMEOUT = 60.0  # seconds after the last frame for the node to account for every frame
SERVICE_TIMEOUT = 30.0
CONFIGURE_FAILED = re.compile(r'configure failed: (.*)$', re.MULTILINE)


@dataclass
class _Answer:
    """Detections as they arrived here: when (both clocks), for which image, which boxes."""

    monotonic_ns: int
    wall_ns: int
    stamp: int
    frame_id: str
    boxes: list


@dataclass
class LiveReplay:
    """What one replay gave, before scoring."""

    rate: float
    runs: list[CameraRun]
    counters: dict[str, dict[str, int]]
    wall_s: float
    settled: bool
    answers: list[list[_Answer]] = field(default_factory=list)


class _Watch:
    """The node must run and must not have refused its settings; waits check this."""

    def __init__(self, node: Any) -> None:
        self._node = node

    def expect_alive(self, seconds: float = 0.0) -> None:
        """Return after ``seconds`` while the node runs; raise BagError when it cannot work."""
        from .harness import ProcessExited
        match = CONFIGURE_FAILED.search(self._node.output())
        if match:
            raise BagError(f'the node cannot start: {match.group(1).strip()}')
        try:
            self._node.expect_alive(seconds)
        except ProcessExited:
            raise BagError(f'the node exited (code {self._node.poll()}); its log ends with:\n'
                           + self._node.tail()) from None


def node_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return settings (a parameters file's, the options') as ``-p`` values for the node.

    Numbers are given the parameter's type (``0`` for a double parameter is ``0.0``) and
    strings are quoted, so that an empty or numeric-looking string stays a string. The
    ``cameras`` and ``autostart`` settings are the benchmark's own (they are dropped here).
    """
    from ..runtime import settings
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = settings.SPECS.get(name)
        if value is None or name in ('cameras', 'autostart'):
            continue
        if spec is not None and spec.type == settings.DOUBLE and not isinstance(value, bool):
            value = float(value)
        elif spec is not None and spec.type == settings.INTEGER and not isinstance(value, bool):
            value = int(value)
        if isinstance(value, str):
            value = json.dumps(value)
        out[name] = value
    return out


def tracker_parameters(config: TrackerConfig) -> dict[str, Any]:
    """Return the node's runtime parameters that set the tracker to ``config``."""
    return {
        'tracker.track_thresh': float(config.track_thresh),
        'tracker.pre_thresh': float(config.pre_thresh),
        'tracker.new_thresh': float(config.new_thresh),
        'tracker.max_age': int(config.max_age),
        'tracker.hungarian': bool(config.hungarian),
        'tracker.pre_hm': bool(config.pre_hm),
        'tracker.association': str(config.association),
        'tracker.low_thresh': float(config.low_thresh),
        'tracker.motion': str(config.motion),
        'tracker.prior_lost': bool(config.prior_lost),
    }


class LiveNode:
    """``centertrack_node`` in another process, fed with the cameras' bags from here.

    Use as a context manager: entering starts the node and waits until it is active and
    matched; leaving (also on errors, Ctrl-C and SIGTERM, which the bag tool turns into
    KeyboardInterrupt) stops it. With several cameras the node serves them all (its
    ``cameras`` parameter): camera ``a`` is played on ``<ns>/a/image`` and answered on
    ``<ns>/a/detections``; one camera uses ``<ns>/image`` and ``<ns>/detections``.

    Args:
        sources: the cameras.
        params: node parameters (``-p``, see :func:`node_parameters`), after ``params_file``.
        params_file: a parameters file for the node itself (a namespaced node reads only
            its ``/**`` section; the tools pass the file's values in ``params`` instead).
        log: where progress messages go.
        start_timeout: seconds for the node to become active.
        settle_timeout: seconds after a replay's last frame for the node to account for every
            frame (a replay that runs out of it is scored as it is, marked not settled).

    """

    def __init__(self, sources: Sequence[CameraSource], params: Mapping[str, Any],
                 params_file: Optional[str] = None, log: Callable[[str], None] = print,
                 start_timeout: float = NODE_START_TIMEOUT,
                 settle_timeout: float = SETTLE_TIMEOUT) -> None:
        types = {s.msgtype for s in sources}
        if len(types) > 1:
            raise BagError('the cameras mix sensor_msgs/Image and CompressedImage topics; one '
                           'node takes one kind')
        self.sources = list(sources)
        self.compressed = types == {COMPRESSED_IMAGE}
        self.namespace = f'/centertrack_benchmark_{os.getpid()}'
        self.params = dict(params)
        if len(self.sources) > 1:
            self.params['cameras'] = [s.name for s in self.sources]
        if self.compressed:
            self.params['use_compressed'] = True
        self.params_file = params_file
        self._log = log
        self._start_timeout = start_timeout
        self._settle_timeout = settle_timeout
        self._stack = ExitStack()
        self.node: Any = None
        self.client: Any = None
        self._watch: Optional[_Watch] = None
        self._publishers: list[Any] = []
        self._detections: list[Any] = []
        self._diagnostics: Any = None

    # ------------------------------------------------------------------ start and stop
    def _topic(self, camera: int, name: str) -> str:
        prefix = f'{self.sources[camera].name}/' if len(self.sources) > 1 else ''
        return f'{self.namespace}/{prefix}{name}'

    @property
    def command(self) -> list[str]:
        """The node's command line."""
        return self.node.command if self.node is not None else []

    def __enter__(self) -> 'LiveNode':
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from vision_msgs.msg import Detection2DArray

        from ..bags.live import message_type
        from ..bags.messages import boxes_from_detections
        from ..runtime.stamps import stamp_ns
        from .harness import NodeProcess, RosClient, reliable_qos, wait_active

        # The client first, with its publishers: the node's image subscriptions (qos auto)
        # find reliable publishers when they are created.
        self.client = RosClient(f'centertrack_benchmark_{os.getpid()}')
        self._stack.callback(self.client.close)
        image_topic = 'image/compressed' if self.compressed else 'image'
        for camera, source in enumerate(self.sources):
            self._publishers.append(self.client.node.create_publisher(
                message_type(source.msgtype), self._topic(camera, image_topic), reliable_qos()))

            def arrival(msg: Any) -> _Answer:
                # Times first: what follows is this process's work, not the node's.
                now, wall = time.monotonic_ns(), time.time_ns()
                return _Answer(now, wall, stamp_ns(msg.header.stamp), msg.header.frame_id,
                               boxes_from_detections(msg))
            # Deep enough that this process never drops an answer it has not handled yet.
            self._detections.append(self.client.subscribe(
                Detection2DArray, self._topic(camera, 'detections'), reliable_qos(1000),
                transform=arrival))
        fqn = f'{self.namespace}/centertrack'
        self._diagnostics = self.client.subscribe(
            DiagnosticArray, '/diagnostics', reliable_qos(100),
            transform=lambda msg: _node_counters(msg, fqn, [s.name for s in self.sources]))
        # Its own session, so that a Ctrl-C in the terminal reaches this process, which then
        # stops the node; and it dies with this process, however that ends.
        self.node = NodeProcess(self.namespace, self.params, self.params_file,
                                env={'ROS_AUTOMATIC_DISCOVERY_RANGE': os.environ.get(
                                    'ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')},
                                start_new_session=True, die_with_parent=True)
        self._stack.callback(self.node.stop, 20.0)
        self._watch = _Watch(self.node)
        self._log(f'starting the node: {" ".join(self.node.command)}')
        try:
            for publisher, collector in zip(self._publishers, self._detections):
                self.client.wait_until(
                    lambda p=publisher, c=collector: (
                        p.get_subscription_count() > 0
                        and c.subscription.get_publisher_count() > 0
                        and p.get_subscription_count() >= _reliable_subscriptions(
                            self.client.node, p.topic_name)),
                    'matching with the node', self._start_timeout, watch=self._watch)
            wait_active(self.client, self.node, self._start_timeout)
        except TimeoutError:
            raise BagError(f'the node did not become active within {self._start_timeout:.0f} s;'
                           ' its log ends with:\n' + self.node.tail()) from None
        loaded = re.search(r'\] (loaded .*)$', self.node.output(), re.MULTILINE)
        if loaded:
            self._log(f'node: {loaded.group(1)}')

    # ------------------------------------------------------------------ services
    def reset(self) -> None:
        """Forget every camera's tracks (``~/reset``): the next replay starts afresh."""
        from std_srvs.srv import Trigger
        response = self._call(Trigger, '~/reset', Trigger.Request())
        if not response.success:
            raise BagError(f'the node refused to reset: {response.message}')

    def set_tracker(self, config: TrackerConfig) -> None:
        """Set the node's tracker parameters to ``config`` (applied before its next frame)."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        request = SetParameters.Request()
        request.parameters = [Parameter(name, value=value).to_parameter_msg()
                              for name, value in tracker_parameters(config).items()]
        response = self._call(SetParameters, '~/set_parameters', request)
        refused = [r.reason for r in response.results if not r.successful]
        if refused:
            raise BagError(f'the node refused the tracker settings: {"; ".join(refused)}')

    def _expect_alive(self) -> None:
        if self._watch is None:
            raise RuntimeError('the node is not started (use LiveNode in a with statement)')
        self._watch.expect_alive()

    def _call(self, srv_type: Any, name: str, request: Any) -> Any:
        self._expect_alive()
        try:
            return self.client.call(srv_type, self.node.name(name), request, SERVICE_TIMEOUT)
        except TimeoutError as exc:
            self._expect_alive()
            raise BagError(f'the node did not answer {name}: {exc}') from None

    # ------------------------------------------------------------------ replay
    def replay(self, rate: float, progress: bool = False) -> LiveReplay:
        """Play every camera at ``rate`` times the recorded pace; collect the answers.

        The node's tracks are reset first. Returns each camera's frames and answers, the
        node's counters over the replay and whether every frame was accounted for.
        """
        if not rate > 0:
            raise BagError(f'--rate must be > 0, got {rate}')
        self.reset()
        before = self._fresh_counters()
        starts = [c.count() for c in self._detections]
        runs = [source.run() for source in self.sources]
        begin = time.monotonic()
        total = sum(len(s.stamps) for s in self.sources)
        with ExitStack() as stack, tqdm(total=total, unit='frame', desc=f'live x{rate:g}',
                                        disable=not progress, leave=False) as bar:
            readers = [stack.enter_context(BagReader(s.bag)) for s in self.sources]
            wall_start = time.monotonic()
            for offset, camera, index, data in self._frames(readers):
                delay = wall_start + offset / 1e9 / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if self.node.poll() is not None:
                    self._expect_alive()
                runs[camera].sent_ns[self.sources[camera].stamps[index]] = time.monotonic_ns()
                self._publishers[camera].publish(bytes(data))
                bar.update()
        settled, after = self._settle(before, starts)
        if not settled:
            self._log(f'the node did not account for every frame within {self._settle_timeout:g} s'
                      ' of the last one; scoring what came back. Its log ends with:\n'
                      + self.node.tail())
        answers = [list(c.messages[start:]) for c, start in zip(self._detections, starts)]
        for run, arrived in zip(runs, answers):
            for answer in arrived:
                run.answer(answer.stamp, answer.boxes, answer.monotonic_ns)
        counters = {name: {key: after[name][key] - before[name][key] for key in NODE_COUNTERS}
                    for name in after}
        return LiveReplay(rate, runs, counters, time.monotonic() - begin, settled, answers)

    def _frames(self, readers: Sequence[BagReader]) -> Iterator[tuple[int, int, int, bytes]]:
        """Every camera's images merged by their offset from the camera's first image."""
        def stream(camera: int) -> Iterator[tuple[int, int, int, bytes]]:
            source = self.sources[camera]
            origin = source.times[0]
            for index, (_, _, timestamp, data) in enumerate(
                    readers[camera].raw_messages([source.image_topic])):
                yield timestamp - origin, camera, index, data
        # (offset, camera, index) is unique, so the bytes are never compared.
        return heapq.merge(*(stream(c) for c in range(len(self.sources))))

    def _fresh_counters(self) -> dict[str, dict[str, int]]:
        """Return the node's counters from a diagnostics report sent after this call."""
        start = self._diagnostics.count()
        try:
            return self._diagnostics.wait_for(lambda m: True, self._settle_timeout,
                                              what='a diagnostics report of the node',
                                              start=start, watch=self._watch)
        except TimeoutError as exc:
            raise BagError(f'the node published no diagnostics: {exc}') from None

    def _settle(self, before: Mapping[str, Mapping[str, int]], starts: Sequence[int]
                ) -> tuple[bool, dict[str, dict[str, int]]]:
        """Wait until the node accounts for every frame played and its answers are here.

        Returns whether that happened within the settle timeout, and the node's counters then.
        """
        deadline = time.monotonic() + self._settle_timeout
        played = {s.name: len(s.stamps) for s in self.sources}

        def accounted(counters: Mapping[str, Mapping[str, int]]) -> bool:
            return all(sum(counters[n][k] - before[n][k] for k in (
                'frames_processed', 'frames_dropped', 'frames_rejected',
                'frames_lost_in_transport')) >= count for n, count in played.items())

        try:
            after = self._diagnostics.wait_for(accounted, self._settle_timeout,
                                               what='every frame accounted for',
                                               start=self._diagnostics.count() - 1,
                                               watch=self._watch)
        except TimeoutError:
            return False, self._diagnostics.messages[-1]
        processed = [after[s.name]['frames_processed'] - before[s.name]['frames_processed']
                     for s in self.sources]
        try:
            self.client.wait_until(
                lambda: all(c.count() - start >= n for c, start, n in
                            zip(self._detections, starts, processed)),
                'the detections of every processed frame', max(deadline - time.monotonic(), 1.0),
                watch=self._watch)
        except TimeoutError:
            return False, after
        return True, after


def _node_counters(msg: Any, fqn: str, cameras: Sequence[str]
                   ) -> Optional[dict[str, dict[str, int]]]:
    """Return the node's counters per camera in a DiagnosticArray (None: not its)."""
    labels = {('tracking' if len(cameras) == 1 else f'{name} tracking'): name
              for name in cameras}
    out = {}
    for status in msg.status:
        node, _, label = status.name.partition(': ')
        if node != fqn or label not in labels:
            continue
        values = {kv.key: kv.value for kv in status.values}
        try:
            out[labels[label]] = {key: int(values.get(key, '0')) for key in NODE_COUNTERS}
        except ValueError:
            return None
    return out if len(out) == len(cameras) else None


def _reliable_subscriptions(node: Any, topic: str) -> int:
    """Subscriptions in the graph on ``topic`` that a reliable, volatile publisher matches."""
    from rclpy.qos import DurabilityPolicy
    return sum(1 for i in node.get_subscriptions_info_by_topic(topic)
               if i.qos_profile.durability != DurabilityPolicy.TRANSIENT_LOCAL)


def score_replay(replay: LiveReplay, sources: Sequence[CameraSource],
                 iou_threshold: float = 0.5) -> RunReport:
    """Score what the node published in one replay."""
    return score_run(LIVE, replay.runs, rate=replay.rate, class_names=class_names_of(sources),
                     iou_threshold=iou_threshold, node=replay.counters, wall_s=replay.wall_s,
                     settled=replay.settled)


def evaluate_live(node: LiveNode, config: TrackerConfig, rate: float = 1.0,
                  iou_threshold: float = 0.5, progress: bool = False
                  ) -> tuple[Evaluation, RunReport]:
    """Replay with the node's tracker set to ``config``; score what it published (for sweeps).

    Returns the :class:`~centertrack_ros.evaluation.tracker.Evaluation` a sweep ranks (no
    time per frame: the node's own speed shows in the frames answered) and the full run.
    """
    node.set_tracker(config)
    run = score_replay(node.replay(rate, progress), node.sources, iou_threshold)
    return Evaluation(run.metrics, run.frames[OVERALL], math.nan, config), run


def record_replay(replay: LiveReplay, sources: Sequence[CameraSource], folder: Path,
                  label: str) -> list[Path]:
    """Write what the node published in a replay into bags (``/detections``, arrival times)."""
    paths = []
    for source, answers in zip(sources, replay.answers):
        path = folder / output_bag_name(label, source.name, len(sources))
        with BagWriter(path, 'mcap', overwrite=True,
                       custom_data={'centertrack_ros.source': str(source.bag)}) as writer:
            writer.add_topic(DEFAULT_DETECTIONS_TOPIC, DETECTION_ARRAY)
            for answer in answers:
                writer.write(DEFAULT_DETECTIONS_TOPIC, answer.wall_ns,
                             detection_array(answer.boxes, answer.stamp, answer.frame_id))
        paths.append(path)
    return paths


def dds_profile() -> str:
    """Say which Fast DDS profile this process and the node it starts run with."""
    from ..runtime.dds_profile import describe
    return describe()


def run_benchmark(sources: Sequence[CameraSource], settings: SessionSettings,
                  node_values: Mapping[str, Any], params_file: Optional[str] = None,
                  rates: Sequence[float] = (1.0,), record: Optional[Path] = None,
                  iou_threshold: float = 0.5, settle_timeout: float = SETTLE_TIMEOUT,
                  progress: bool = False, log: Callable[[str], None] = print,
                  machine: Optional[Callable[[], dict[str, str]]] = None) -> BenchmarkReport:
    """Offline on every frame, then live at each rate; score all runs side by side.

    The offline session is released before the node starts, so the two never share the CPU.

    Args:
        sources: the cameras (one bag each, with ground truth).
        settings: the model and tracker, resolved as the node resolves them.
        node_values: the settings given (a parameters file's values with the options on
            top), passed to the node as parameters (:func:`node_parameters`).
        params_file: the parameters file they came from (for the report).
        rates: playback speed factors, in order.
        record: folder for bags of the offline tracks and of what the node published.
        iou_threshold: IoU of the CLEAR-MOT and identity matching.
        settle_timeout: see :class:`LiveNode`.
        progress: progress bars.
        log: where progress messages go.
        machine: describes the machine (default :func:`~.machine.machine_info`).

    Raises:
        BagError: the node cannot start, dies, or refuses a request.
        CenterTrackError: the model or settings are invalid.

    """
    from .machine import machine_info
    if record is not None:
        record.mkdir(parents=True, exist_ok=True)
    describe = (machine or machine_info)()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    session = TrackingSession.open(settings)
    try:
        model = session.describe()
        log(model)
        status = session.status()
        offline, seconds_per_frame = run_offline(sources, session, record, progress,
                                                 iou_threshold)
    finally:
        session.release()
    runs: list[RunReport] = [offline]
    log(f'offline: {offline.frames[OVERALL]} frames, {1000 * seconds_per_frame:.1f} ms per '
        'frame in the tracker')
    node_params = node_parameters(node_values)
    with LiveNode(sources, node_params, None, log, settle_timeout=settle_timeout) as node:
        for rate in rates:
            log(f'live: playing at {rate:g}x the recorded pace')
            replay = node.replay(rate, progress)
            runs.append(score_replay(replay, sources, iou_threshold))
            if record is not None:
                record_replay(replay, sources, record, runs[-1].label)
        command = node.command
    frame_rate = common_frame_rate(sources)
    return BenchmarkReport(
        runs, {s.name: f'{s.bag}:{s.image_topic}' for s in sources},
        frame_rate if math.isfinite(frame_rate) else float('nan'), model, describe,
        settings={'started': started, 'node_command': command, 'node_parameters': node_params,
                  'params_file': params_file, 'rates': list(rates),
                  'dds_profile': dds_profile(), 'device': status.get('device', ''),
                  'engine': status.get('engine', ''), 'iou_threshold': iou_threshold,
                  'offline_ms_per_frame': 1000 * seconds_per_frame,
                  'image_publisher_qos': 'reliable, depth 10',
                  'load_average_end': ' '.join(f'{v:.2f}' for v in os.getloadavg())})
