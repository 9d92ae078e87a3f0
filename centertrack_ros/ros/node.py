"""The ``centertrack`` lifecycle node: camera images in, tracked ``Detection2DArray`` out.

One node serves one camera (``image`` in, ``detections`` out) or, with the ``cameras``
parameter, several (``<name>/image`` in, ``<name>/detections`` out), with one model whose
network calls take every camera's newest frame at once. It is a thin shell around the ROS-free
runtime: it declares the parameters, walks the lifecycle, subscribes and publishes, and
reports diagnostics. Tracking, the stream rules and the worker
thread live in :mod:`centertrack_ros.runtime`. Threads: the executor thread runs the
subscription callbacks (which only hand the newest message to the worker), services,
parameter callbacks, lifecycle transitions and the diagnostics timer; the worker thread
decodes, tracks and publishes. Requests that touch the tracker from the executor thread
(reset, new tracker settings) go to the runner, which applies them between two frames.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import traceback
from typing import Any, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import get_rmw_implementation_identifier, remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo

from ..core.calibration import CalibrationError
from ..core.checkpoint import CheckpointError
from ..core.config import ConfigError
from ..core.device import DeviceError, device_name
from ..core.engines import EngineError
from ..core.model_spec import load_model
from ..runtime import settings
from ..runtime.camera_info import CameraInfoCache
from ..runtime.drawing import draw_tracks
from ..runtime.frames import decode_image
from ..runtime.runner import FrameResult, FrameRunner
from ..runtime.stamps import stamp_ns
from ..runtime.stats import ReasonThrottle, StreamStats
from ..runtime.worker import FrameWorker
from . import parameters
from .diagnostics import status_level
from .image_subscription import ImageSubscription, large_frame_warning, lost_frames_warning
from .messages import (
    bgr_to_image_msg,
    detection3d_array,
    detection_array,
    label_info,
    load_cv_bridge,
)

NODE_NAME = 'centertrack'
LOST_IN_TRANSPORT = 'lost_in_transport'
NO_CALIBRATION = 'no_calibration'
DIAGNOSTICS_PERIOD = 1.0
WORKER_JOIN_TIMEOUT = 30.0


class RosLogHandler(logging.Handler):
    """Forwards the core's Python ``logging`` records (e.g. the CPU fallback) to a ROS logger."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` through the ROS logger at the matching severity."""
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warn(message)
        elif record.levelno >= logging.INFO:
            self._ros_logger.info(message)
        else:
            self._ros_logger.debug(message)


class CenterTrackNode(LifecycleNode):
    """CenterTrack as a managed node (see the package README for topics and parameters)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # All state first: declaring the parameters may raise, and rclpy then destroys this
        # half-built node on shutdown, which must still find what destroy_node() touches.
        self._cameras: tuple[str, ...] = ('',)
        self._stats = [StreamStats()]
        self._throttle = ReasonThrottle(period=5.0)
        self._bridge = load_cv_bridge()
        self._runner: Optional[FrameRunner] = None
        self._worker: Optional[FrameWorker] = None
        self._image_subscriptions: list[ImageSubscription] = []
        self._large_frames_checked: set[int] = set()
        self._reset_services: list[Any] = []
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        # Highest track id of a released model: a reloaded model continues above it, so that
        # ids stay unique for the life of the process.
        self._released_last_id = 0
        self._model_path = ''
        self._configure_error = ''
        self._finalized = False
        self._detections_pubs: list[Any] = []
        self._detections_3d_pubs: list[Any] = []
        self._debug_pubs: list[Any] = []
        self._label_pub = None
        # Models with 3D heads: each camera's CameraInfo and why its frames have no 3D output.
        self._camera_infos: list[CameraInfoCache] = []
        self._camera_info_subscriptions: list[Any] = []
        self._calibration: dict[int, str] = {}
        self._camera_info_matrix = 'p'
        self._previous_reports: dict[int, dict[str, str]] = {}
        self._log_handler = RosLogHandler(self.get_logger())
        core_logger = logging.getLogger('centertrack_ros')
        core_logger.addHandler(self._log_handler)
        core_logger.setLevel(logging.INFO)
        core_logger.propagate = False  # no second copy through Python's last-resort handler
        parameters.declare(self)
        self._warn_unknown_overrides()
        self._cameras = settings.camera_names(parameters.read(self))
        self._stats = [StreamStats() for _ in self._cameras]
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        # Diagnostics and the reset service exist in every lifecycle state, so that an
        # unconfigured or failed node still reports why. The report period is steady time:
        # with use_sim_time a paused or finished bag stops /clock, not the health reports.
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(
            DIAGNOSTICS_PERIOD, self._publish_diagnostics, clock=self._steady_clock)
        self._reset_services = [self.create_service(Trigger, '~/reset', self._on_reset)]
        if len(self._cameras) > 1:
            self._reset_services += [
                self.create_service(Trigger, f'{camera}/reset',
                                    lambda request, response, c=index:
                                    self._on_reset(request, response, c))
                for index, camera in enumerate(self._cameras)]

    # ------------------------------------------------------------------ start and stop
    @property
    def finalized(self) -> bool:
        """Whether the node went through the shutdown transition."""
        return self._finalized

    @property
    def lifecycle_state(self) -> str:
        """Label of the current lifecycle state (``unconfigured``, ``active``, ...)."""
        return self._state_machine.current_state[1]

    def autostart(self) -> bool:
        """Configure and activate when the ``autostart`` parameter is true; True if active."""
        if not self.get_parameter('autostart').value:
            self.get_logger().info('autostart is false: waiting for lifecycle transitions')
            return False
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def stop_processing(self) -> None:
        """Stop the subscription and the worker thread (idempotent)."""
        for subscription in self._image_subscriptions:
            subscription.destroy()
        self._image_subscriptions = []
        for subscription in self._camera_info_subscriptions:
            self.destroy_subscription(subscription)
        self._camera_info_subscriptions = []
        worker, self._worker = self._worker, None
        if worker is not None and not worker.stop(WORKER_JOIN_TIMEOUT):
            self.get_logger().error(
                f'inference thread still busy after {WORKER_JOIN_TIMEOUT:g} s; abandoning it')

    def destroy_node(self) -> None:
        """Stop processing and detach the log forwarding, then destroy the node."""
        self.stop_processing()
        logging.getLogger('centertrack_ros').removeHandler(self._log_handler)
        super().destroy_node()

    def _warn_unknown_overrides(self) -> None:
        # A misspelt parameter in a YAML file would otherwise be ignored without a word.
        overrides = getattr(self, '_parameter_overrides', {})
        for name in sorted(overrides):
            if self.has_parameter(name) or name.startswith('qos_overrides.'):
                continue
            self.get_logger().warn(f'parameter override {name!r} is not a parameter of this '
                                   'node; ignored')

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters, load the model and warm it up."""
        values = parameters.read(self)
        problem = settings.check_all(values)
        if problem:
            return self._configure_failed(f'invalid parameter: {problem}')
        try:
            model = load_model(settings.model_spec(values), settings.runtime_config(values))
            tracker = model.tracker(settings.tracker_overrides(values), len(self._cameras),
                                    shared_ids=True)
            self._warm_up(tracker)
            tracker.continue_ids_after(self._released_last_id)
        except (CheckpointError, ConfigError, DeviceError, EngineError) as exc:
            return self._configure_failed(str(exc))
        except Exception as exc:  # an unexpected failure must still leave a usable node
            self.get_logger().debug(traceback.format_exc())
            return self._configure_failed(f'{type(exc).__name__}: {exc}')
        runner = FrameRunner(tracker, self._cameras, self._stats)
        runner.max_frame_gap = float(values['max_frame_gap'])
        self._runner = runner
        self._model_path = model.path
        self._configure_error = ''
        self._create_publishers()
        config = tracker.config
        self.get_logger().info(
            f'loaded {model.path}: {config.model.arch} '
            f'({config.model.backbone if config.model.arch == "generic" else "dla"}), '
            f'{config.model.num_classes} classes {list(self._class_names())}, input '
            f'{config.input.width}x{config.input.height}, on {device_name(tracker.device)} '
            f'with the {tracker.engine.describe()} engine' + (
                f', cameras {", ".join(self._cameras)}' if len(self._cameras) > 1 else '')
            + f'; tracker {config.tracker}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker, subscribe to the images and announce the class map."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        values = parameters.read(self)
        compressed = bool(values['use_compressed'])
        runner = self._runner
        runner.start_new_sequences()  # a new activation starts a new sequence
        logger = self.get_logger()
        ddd = runner.tracker.config.model.ddd
        if ddd:
            self._subscribe_camera_infos(values['camera_info.matrix'])
        self._worker = FrameWorker(
            runner, lambda camera, msg: decode_image(msg, compressed, self._bridge),
            self._publish_result, lambda: self.get_clock().now().nanoseconds,
            info=logger.info, warn=logger.warn,
            batch_wait=float(values['batch_wait_ms']) / 1e3,
            calibrate=self._calibrate if ddd else None)
        self._worker.start()
        msg_type, name = ((CompressedImage, 'image/compressed') if compressed
                          else (Image, 'image'))
        self._large_frames_checked = set()
        for index in range(len(self._cameras)):
            topic = self._topic(index, name)
            try:
                self._image_subscriptions.append(ImageSubscription(
                    self, msg_type, topic, lambda msg, c=index: self._on_image(c, msg),
                    values['qos.reliability'], int(values['qos.depth']), self._steady_clock,
                    lambda count, c=index: self._on_lost(c, count)))
            except Exception as exc:  # rclpy would turn it into a silent ERROR transition
                self.get_logger().error(f'activate failed: cannot subscribe to {topic}: {exc}')
                self.stop_processing()
                super().on_deactivate(state)
                return TransitionCallbackReturn.FAILURE
        self._publish_label_info()
        for subscription in self._image_subscriptions:
            self.get_logger().info(f'active: subscribed to {subscription.topic} '
                                   f'({subscription.description}, depth '
                                   f'{values["qos.depth"]})')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop processing; the model stays loaded."""
        self.stop_processing()
        self.get_logger().info('inactive: not processing frames')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model (and cached GPU memory) and the publishers."""
        self.stop_processing()
        self._release()
        self.get_logger().info('unconfigured: model released')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop everything; the process exits after this transition."""
        self.stop_processing()
        self._release()
        self._finalized = True
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Recover from a failed transition by releasing everything (back to unconfigured)."""
        self.stop_processing()
        self._release()
        return super().on_error(state)

    def _configure_failed(self, reason: str) -> TransitionCallbackReturn:
        self._configure_error = reason
        self.get_logger().error(f'configure failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    @staticmethod
    def _warm_up(tracker: Any) -> None:
        # The first forward pass allocates buffers and selects kernels; pay for it here rather
        # than on the first camera frame. The blank frame must not leave a previous image.
        size = tracker.config.input
        blank = np.zeros((size.height, size.width, 3), dtype=np.uint8)
        tracker.step({camera: blank for camera in range(tracker.num_cameras)})
        tracker.reset()

    def _topic(self, camera: int, name: str) -> str:
        """Resolve a camera's topic: the node's own for one camera, else ``<camera>/<name>``."""
        if len(self._cameras) == 1:
            return '~/debug_image' if name == 'debug_image' else name
        return f'{self._cameras[camera]}/{name}'

    def _subscribe_camera_infos(self, matrix: str) -> None:
        """Keep each camera's recent CameraInfo messages (models with 3D heads)."""
        self._camera_info_matrix = matrix
        self._camera_infos = [CameraInfoCache() for _ in self._cameras]
        self._calibration = {c: 'no camera_info received yet' for c in range(len(self._cameras))}
        # Best effort matches every publisher; a camera_info message is small, so nothing of
        # the large-frame loss applies, and the next one follows with the next frame anyway.
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._camera_info_subscriptions = [
            self.create_subscription(
                CameraInfo, self._topic(c, 'camera_info'),
                lambda msg, c=c: self._camera_infos[c].add(msg, stamp_ns(msg.header.stamp)), qos)
            for c in range(len(self._cameras))]

    def _calibrate(self, camera: int, header: Any, image: np.ndarray) -> Optional[np.ndarray]:
        """Return a frame's camera matrix, or None (logged, throttled) when it has none."""
        try:
            calib = self._camera_infos[camera].projection(
                stamp_ns(header.stamp), image.shape[1], image.shape[0], self._camera_info_matrix)
        except CalibrationError as exc:
            self._calibration[camera] = str(exc)
            image, info = (self.resolve_topic_name(self._topic(camera, name))
                           for name in ('image', 'camera_info'))
            text = self._throttle(f'{NO_CALIBRATION}.{camera}.{exc}',
                                  f'no 3D output for {image}: {exc} (on {info}); 2D '
                                  'detections continue')
            if text is not None:
                self.get_logger().warn(text)
            return None
        self._calibration[camera] = (f'ok (fx {calib[0, 0]:.1f}, fy {calib[1, 1]:.1f}, '
                                     f'cx {calib[0, 2]:.1f}, cy {calib[1, 2]:.1f})')
        return calib

    def _create_publishers(self) -> None:
        if self._label_pub is not None:
            return
        if self._runner.tracker.config.model.ddd:
            self._detections_3d_pubs = [
                self.create_lifecycle_publisher(
                    Detection3DArray, self._topic(c, 'detections_3d'), QoSProfile(depth=10))
                for c in range(len(self._cameras))]
        self._detections_pubs = [
            self.create_lifecycle_publisher(Detection2DArray, self._topic(c, 'detections'),
                                            QoSProfile(depth=10))
            for c in range(len(self._cameras))]
        self._debug_pubs = [
            self.create_lifecycle_publisher(Image, self._topic(c, 'debug_image'),
                                            QoSProfile(depth=1))
            for c in range(len(self._cameras))]
        self._label_pub = self.create_lifecycle_publisher(
            LabelInfo, 'label_info', QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL))

    def _release(self) -> None:
        for publisher in (self._detections_pubs + self._detections_3d_pubs + self._debug_pubs
                          + [self._label_pub]):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._detections_pubs, self._detections_3d_pubs, self._debug_pubs = [], [], []
        self._label_pub = None
        runner, self._runner = self._runner, None
        if runner is not None:
            self._released_last_id = max(self._released_last_id, runner.tracker.last_id)
            on_cuda = runner.tracker.device.type == 'cuda'
            del runner
            gc.collect()
            if on_cuda:
                import torch
                torch.cuda.empty_cache()

    # ------------------------------------------------------------------ input and output
    def _on_image(self, camera: int, msg: Any) -> None:
        if camera not in self._large_frames_checked:
            self._warn_large_frames(camera, len(msg.data))
        worker = self._worker
        if worker is not None:
            worker.submit(camera, msg)

    def _subscription_of(self, camera: int) -> Optional[ImageSubscription]:
        subscriptions = self._image_subscriptions
        return subscriptions[camera] if camera < len(subscriptions) else None

    def _on_lost(self, camera: int, count: int) -> None:
        total = self._stats[camera].count_lost(count)
        subscription = self._subscription_of(camera)
        if subscription is None:
            return
        text = self._throttle(f'{LOST_IN_TRANSPORT}.{camera}', f'{subscription.topic}: '
                              + lost_frames_warning(total, subscription.effective))
        if text is not None:
            self.get_logger().warn(text)

    def _warn_large_frames(self, camera: int, size: int) -> None:
        # Once per activation: the first frame tells the size of the stream's frames.
        self._large_frames_checked.add(camera)
        subscription = self._subscription_of(camera)
        if subscription is None:
            return
        warning = large_frame_warning(size, subscription.effective,
                                      get_rmw_implementation_identifier())
        if warning is not None:
            self.get_logger().warn(f'{subscription.topic}: {warning}')

    def _publish_result(self, result: FrameResult) -> None:
        if not self.context.ok():
            return  # shutting down: nothing can be published any more
        header = result.frame.context
        self._detections_pubs[result.camera].publish(detection_array(result.boxes, header))
        if self._detections_3d_pubs and result.frame.calib is not None:
            self._detections_3d_pubs[result.camera].publish(
                detection3d_array(result.boxes_3d, header))
        debug = self._debug_pubs[result.camera]
        if debug.get_subscription_count() > 0:
            canvas = draw_tracks(result.frame.image, result.tracks, self._runner.class_name,
                                 result.frame.calib)
            debug.publish(bgr_to_image_msg(canvas, header))
            self._stats[result.camera].count_debug_image()

    # ------------------------------------------------------------------ services, parameters
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response,
                  camera: Optional[int] = None) -> Any:
        runner = self._runner
        if runner is None:
            response.success = False
            response.message = 'not configured: no model loaded, nothing to reset'
            return response
        runner.request_reset(camera, reason='reset service called')
        which = 'every camera' if camera is None else self._cameras[camera]
        self.get_logger().info('tracks reset: reset service called' + (
            f' ({which})' if len(self._cameras) > 1 else ''))
        response.success = True
        response.message = ('previous frame and tracks forgotten; new tracks get ids above '
                            'every id used so far')
        return response

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.type_ == Parameter.Type.NOT_SET:
                return SetParametersResult(
                    successful=False, reason=f'{param.name} cannot be unset')
            problem = settings.check_value(param.name, param.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        state = self.lifecycle_state
        runner = self._runner
        tracker_changed = False
        for param in params:
            when = settings.applies(param.name)
            if param.name.startswith('tracker.'):
                tracker_changed = True
            elif param.name == 'max_frame_gap':
                if runner is not None:
                    runner.max_frame_gap = float(param.value)
            elif param.name == 'batch_wait_ms':
                worker = self._worker
                if worker is not None:
                    worker.batch_wait = float(param.value) / 1e3
            elif when == settings.CONFIGURE and state != 'unconfigured':
                self.get_logger().info(f'{param.name} changed; takes effect on the next '
                                       'configure (cleanup, then configure)')
            elif when == settings.ACTIVATE and state == 'active':
                self.get_logger().info(f'{param.name} changed; takes effect on the next '
                                       'activate (deactivate, then activate)')
        if tracker_changed and runner is not None:
            overrides = settings.tracker_overrides(parameters.read(self))
            runner.request_overrides(overrides)
            self.get_logger().info(f'tracker settings for the next frame: '
                                   f'{overrides.apply(runner.tracker.model_tracker)}')
            if state == 'active':
                # Subscribers filter on label_info's threshold: it follows the new settings.
                self._publish_label_info()

    # ------------------------------------------------------------------ outputs
    def _class_names(self) -> tuple[str, ...]:
        runner = self._runner
        if runner is None:
            return ()
        model = runner.tracker.config.model
        return tuple(model.class_name(i) for i in range(1, model.num_classes + 1))

    def _publish_label_info(self) -> None:
        runner = self._runner
        if runner is None or self._label_pub is None:
            return
        header = Image().header
        header.stamp = self.get_clock().now().to_msg()
        model = runner.tracker.config.model
        # The lowest score a published detection can have (BYTE publishes below track_thresh),
        # from the parameters: tracker changes made since the last frame are not applied yet.
        tracker = settings.tracker_overrides(parameters.read(self)).apply(
            runner.tracker.model_tracker)
        self._label_pub.publish(label_info(model.class_names, model.num_classes,
                                           tracker.effective_low_thresh, header))

    def _publish_diagnostics(self) -> None:
        state = self.lifecycle_state
        common = {'lifecycle_state': state, 'model_path': self._model_path,
                  'cv_bridge': 'yes' if self._bridge is not None else 'no (own conversion)'}
        runner = self._runner
        if runner is not None:
            tracker = runner.tracker
            config = tracker.config
            common['device'] = device_name(tracker.device)
            common['engine'] = tracker.engine.describe()
            common['model_arch'] = config.model.arch
            common['classes'] = ', '.join(self._class_names())
            common['input_size'] = f'{config.input.width}x{config.input.height}'
            common['track_thresh'] = f'{config.tracker.track_thresh:g}'
            if len(self._cameras) > 1:
                common['cameras'] = ', '.join(self._cameras)
            if tracker.device.type == 'cuda':
                import torch
                common['gpu_memory_allocated_mb'] = \
                    f'{torch.cuda.memory_allocated(tracker.device) / 2 ** 20:.1f}'
                common['gpu_memory_reserved_mb'] = \
                    f'{torch.cuda.memory_reserved(tracker.device) / 2 ** 20:.1f}'
        if self._configure_error:
            common['configure_error'] = self._configure_error
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for camera, name in enumerate(self._cameras):
            values = self._stats[camera].snapshot()
            if camera in self._calibration:
                values['camera_info'] = self._calibration[camera]
            subscription = self._subscription_of(camera)
            if subscription is not None:
                values['image_topic'] = subscription.topic
                values['image_qos'] = subscription.description
                values['image_qos_changes'] = str(subscription.changes)
            values.update(common)
            level, message = status_level(state, self._configure_error, values,
                                          self._previous_reports.get(camera))
            self._previous_reports[camera] = values
            label = f'{name} tracking' if name else 'tracking'
            status = DiagnosticStatus(level=bytes([level]),
                                      name=f'{self.get_fully_qualified_name()}: {label}',
                                      message=message, hardware_id=values.get('device', ''))
            status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
            array.status.append(status)
        self._diagnostics_pub.publish(array)


def usage() -> argparse.ArgumentParser:
    """Return the command-line parser: no options of its own besides ``--help``."""
    rows = [f'  {spec.name} (default '
            f'{"unset" if spec.default is None else repr(spec.default)}, {spec.applies}): '
            f'{spec.description}' for spec in settings.PARAMETERS]
    return argparse.ArgumentParser(
        prog='centertrack_node',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='CenterTrack multi-object tracking as a ROS 2 lifecycle node: subscribes to '
                    'image (or image/compressed), publishes detections '
                    '(vision_msgs/Detection2DArray, Detection2D.id = track id), label_info, '
                    '~/debug_image and /diagnostics; service ~/reset.',
        epilog='ROS arguments follow --ros-args, e.g.\n'
               '  centertrack_node --ros-args -r image:=/camera/image_raw '
               '-p model.path:=model.pth -p device:=cuda\n\nparameters:\n' + '\n'.join(rows))


def main(args: Optional[list[str]] = None) -> int:
    """Run the node until shutdown (Ctrl-C, SIGTERM or the lifecycle shutdown transition)."""
    argv = sys.argv if args is None else args
    usage().parse_args(remove_ros_args(args=argv)[1:])  # --help, or refuse stray arguments
    rclpy.init(args=args)
    try:
        node = CenterTrackNode()
    except Exception as exc:  # e.g. an override of the wrong type or out of range
        print(f'[centertrack] cannot start: {exc}', file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        node.autostart()
        while rclpy.ok() and not node.finalized:
            executor.spin_once(timeout_sec=0.25)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGINT/SIGTERM shut the context down from rclpy's signal handler; a wait set made
        # in that instant fails with RCLError. Only an error while still running is one.
        if rclpy.ok():
            raise
    finally:
        node.stop_processing()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
