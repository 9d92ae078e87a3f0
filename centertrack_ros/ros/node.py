"""The ``centertrack`` lifecycle node: camera images in, tracked ``Detection2DArray`` out.

Threads: the executor thread runs the subscription callback (which only stores the newest
message in a one-slot buffer), services, parameter callbacks, lifecycle transitions and the
diagnostics timer; one worker thread converts, runs the tracker and publishes. Requests that
touch the tracker from the executor thread (reset, new thresholds) are handed to the worker,
which applies them between two frames, so the tracker itself is only ever used by one thread.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading
import time
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
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray, LabelInfo

from ..core.checkpoint import CheckpointError
from ..core.config import ConfigError, TrackerConfig
from ..core.device import DeviceError, device_name
from ..core.model_spec import default_model_path, load_tracker
from ..core.pipeline import CenterTracker
from . import parameters
from .conversions import (
    ConversionError,
    bgr_to_image_msg,
    compressed_to_bgr,
    draw_tracks,
    image_to_bgr,
    label_info,
    load_cv_bridge,
    tracks_to_detections,
)
from .diagnostics import NodeStats, ReasonThrottle, status_level
from .image_subscription import ImageSubscription, large_frame_warning, lost_frames_warning
from .stream import LatestSlot, StreamWatch

NODE_NAME = 'centertrack'
INFERENCE_ERROR = 'inference_error'
INTERNAL_ERROR = 'internal_error'
LOST_IN_TRANSPORT = 'lost_in_transport'
SERVICE_RESET = 'service'
DIAGNOSTICS_PERIOD = 1.0
WORKER_JOIN_TIMEOUT = 30.0
LOGGED_FRAME_ID = 64  # characters of a rejected frame's frame_id quoted in the log


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


def stamp_ns(stamp: Any) -> int:
    """Convert a ``builtin_interfaces/Time`` to integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class CenterTrackNode(LifecycleNode):
    """CenterTrack as a managed node (see the package README for topics and parameters)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # All state first: declaring the parameters may raise, and rclpy then destroys this
        # half-built node on shutdown, which must still find what destroy_node() touches.
        self._stats = NodeStats()
        self._throttle = ReasonThrottle(period=5.0)
        self._slot = LatestSlot()
        self._watch = StreamWatch()
        self._bridge = load_cv_bridge()
        # Guards everything the executor thread hands to the worker.
        self._lock = threading.Lock()
        self._tracker: Optional[CenterTracker] = None
        self._model_tracker = TrackerConfig()
        self._model_path = ''
        self._pending_reset = False
        self._pending_tracker: Optional[TrackerConfig] = None
        # Highest track id of a released tracker: a reloaded model continues above it, so that
        # ids stay unique for the life of the process.
        self._released_last_id = 0
        self._max_frame_gap = 0.0
        self._configure_error = ''
        self._finalized = False
        self._worker: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._subscription: Optional[ImageSubscription] = None
        self._large_frames_checked = False
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        self._detections_pub = None
        self._label_pub = None
        self._debug_pub = None
        self._previous_report: Optional[dict[str, str]] = None
        self._log_handler = RosLogHandler(self.get_logger())
        core_logger = logging.getLogger('centertrack_ros')
        core_logger.addHandler(self._log_handler)
        core_logger.setLevel(logging.INFO)
        core_logger.propagate = False  # no second copy through Python's last-resort handler
        parameters.declare(self)
        self._warn_unknown_overrides()
        self._max_frame_gap = float(self.get_parameter('max_frame_gap').value)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        # Diagnostics and the reset service exist in every lifecycle state, so that an
        # unconfigured or failed node still reports why. The report period is steady time:
        # with use_sim_time a paused or finished bag stops /clock, not the health reports.
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(
            DIAGNOSTICS_PERIOD, self._publish_diagnostics, clock=self._steady_clock)
        self._reset_service = self.create_service(Trigger, '~/reset', self._on_reset)

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
        if self._subscription is not None:
            self._subscription.destroy()
            self._subscription = None
        self._stop.set()
        self._slot.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(WORKER_JOIN_TIMEOUT)
            if worker.is_alive():
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
        problem = parameters.check_all(values)
        if problem:
            return self._configure_failed(f'invalid parameter: {problem}')
        spec = parameters.model_spec(values)
        try:
            model_path = os.path.expanduser(spec.path) if spec.path else default_model_path()
            tracker = load_tracker(spec, runtime=parameters.runtime_config(values))
            model_tracker = tracker.config.tracker
            tracker.set_tracker_config(parameters.tracker_config(model_tracker, values))
            self._warm_up(tracker)
            tracker.continue_ids_after(self._released_last_id)
        except (CheckpointError, ConfigError, DeviceError) as exc:
            return self._configure_failed(str(exc))
        except Exception as exc:  # an unexpected failure must still leave a usable node
            self.get_logger().debug(traceback.format_exc())
            return self._configure_failed(f'{type(exc).__name__}: {exc}')
        config = tracker.config
        with self._lock:
            self._tracker = tracker
            self._model_tracker = model_tracker
            self._pending_tracker = None
            self._pending_reset = False
            self._max_frame_gap = float(values['max_frame_gap'])
        self._model_path = model_path
        self._configure_error = ''
        self._create_publishers()
        self.get_logger().info(
            f'loaded {self._model_path}: {config.model.arch} '
            f'({config.model.backbone if config.model.arch == "generic" else "dla"}), '
            f'{config.model.num_classes} classes {list(self._class_names())}, input '
            f'{config.input.width}x{config.input.height}, on {device_name(tracker.device)}; '
            f'tracker {config.tracker}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker, subscribe to the images and announce the class map."""
        result = super().on_activate(state)  # enables the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        values = parameters.read(self)
        with self._lock:
            self._pending_reset = True  # a new activation starts a new sequence
        self._watch.forget()
        self._stop.clear()
        self._slot.open()
        self._worker = threading.Thread(target=self._work, name='centertrack-inference',
                                        daemon=True)
        self._worker.start()
        msg_type, topic = ((CompressedImage, 'image/compressed') if values['use_compressed']
                           else (Image, 'image'))
        self._large_frames_checked = False
        try:
            self._subscription = ImageSubscription(
                self, msg_type, topic, self._on_image, values['qos.reliability'],
                int(values['qos.depth']), self._steady_clock, self._on_lost)
        except Exception as exc:  # rclpy would turn it into a silent ERROR transition
            self.get_logger().error(f'activate failed: cannot subscribe to {topic}: {exc}')
            self.stop_processing()
            super().on_deactivate(state)
            return TransitionCallbackReturn.FAILURE
        self._publish_label_info()
        self.get_logger().info(f'active: subscribed to {self._subscription.topic} '
                               f'({self._subscription.description}, depth '
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

    def _warm_up(self, tracker: CenterTracker) -> None:
        # The first forward pass allocates buffers and selects kernels; pay for it here rather
        # than on the first camera frame. The blank frame must not leave a previous image.
        size = tracker.config.input
        tracker.step(np.zeros((size.height, size.width, 3), dtype=np.uint8))
        tracker.reset()

    def _create_publishers(self) -> None:
        if self._detections_pub is not None:
            return
        self._detections_pub = self.create_lifecycle_publisher(
            Detection2DArray, 'detections', QoSProfile(depth=10))
        self._label_pub = self.create_lifecycle_publisher(
            LabelInfo, 'label_info', QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._debug_pub = self.create_lifecycle_publisher(
            Image, '~/debug_image', QoSProfile(depth=1))

    def _release(self) -> None:
        for name in ('_detections_pub', '_label_pub', '_debug_pub'):
            publisher = getattr(self, name)
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
                setattr(self, name, None)
        with self._lock:
            tracker, self._tracker = self._tracker, None
        if tracker is not None:
            self._released_last_id = max(self._released_last_id, tracker.last_id)
            on_cuda = tracker.device.type == 'cuda'
            del tracker
            gc.collect()
            if on_cuda:
                import torch
                torch.cuda.empty_cache()

    # ------------------------------------------------------------------ input and worker
    def _on_image(self, msg: Any) -> None:
        self._stats.count_received()
        if not self._large_frames_checked:
            self._warn_large_frames(len(msg.data))
        self._slot.put(msg)

    def _on_lost(self, count: int) -> None:
        total = self._stats.count_lost(count)
        subscription = self._subscription
        reliability = subscription.effective if subscription is not None else ''
        text = self._throttle(LOST_IN_TRANSPORT, lost_frames_warning(total, reliability))
        if text is not None:
            self.get_logger().warn(text)

    def _warn_large_frames(self, size: int) -> None:
        # Once per activation: the first frame tells the size of the stream's frames.
        self._large_frames_checked = True
        subscription = self._subscription
        if subscription is None:
            return
        warning = large_frame_warning(size, subscription.effective,
                                      get_rmw_implementation_identifier())
        if warning is not None:
            self.get_logger().warn(f'{subscription.topic}: {warning}')

    def _work(self) -> None:
        while not self._stop.is_set():
            msg = self._slot.take(timeout=0.5)
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as exc:  # the worker must survive anything a frame can cause
                if not self.context.ok():
                    return  # shutting down: publishing fails, nothing to report
                self._reject(INTERNAL_ERROR, f'unexpected error on a frame: '
                                             f'{type(exc).__name__}: {exc}')
                self.get_logger().debug(traceback.format_exc())

    def _process(self, msg: Any) -> None:
        started = time.monotonic()
        header = msg.header
        try:
            if isinstance(msg, CompressedImage):
                image = compressed_to_bgr(msg)
                source = (f'{image.shape[1]}x{image.shape[0]}', msg.format or 'compressed')
            else:
                image = image_to_bgr(msg, self._bridge)
                source = (f'{msg.width}x{msg.height}', msg.encoding)
        except ConversionError as exc:
            frame_id = header.frame_id
            if len(frame_id) > LOGGED_FRAME_ID:
                frame_id = frame_id[:LOGGED_FRAME_ID] + '...'
            self._reject(exc.reason, f'rejected frame (stamp {header.stamp.sec}.'
                                     f'{header.stamp.nanosec:09d}, frame_id '
                                     f'{frame_id!r}): {exc}')
            return
        with self._lock:
            tracker = self._tracker
            pending_tracker, self._pending_tracker = self._pending_tracker, None
            pending_reset, self._pending_reset = self._pending_reset, False
            max_gap = self._max_frame_gap
        if tracker is None:
            return
        if pending_tracker is not None:
            tracker.set_tracker_config(pending_tracker)
        # Resets never restart the ids: a planner must not see a new object under an id it
        # already knows (a deliberate deviation from the original, which restarts at 1).
        if pending_reset:
            tracker.reset(restart_ids=False)
            self._watch.forget()
        stamp = stamp_ns(header.stamp)
        stream_reset = self._watch.check(stamp, source, max_gap)
        if stream_reset is not None:
            kind, reason = stream_reset
            tracker.reset(restart_ids=False)
            self._stats.count_reset(kind, reason)
            self.get_logger().info(f'tracks reset: {reason}')
        try:
            tracks = tracker.step(image)
        except Exception as exc:  # e.g. CUDA out of memory: drop this frame, keep going
            self._reject(INFERENCE_ERROR, f'inference failed, frame dropped: '
                                          f'{type(exc).__name__}: {exc}')
            if tracker.device.type == 'cuda':
                import torch
                torch.cuda.empty_cache()
            return
        detections = tracks_to_detections(tracks, header, tracker.config.model.class_name)
        self._detections_pub.publish(detections)
        # With use_sim_time the clock reads 0 until the first /clock message: no latency then.
        now = self.get_clock().now().nanoseconds
        self._stats.record_output((now - stamp) / 1e9 if now else None,
                                  time.monotonic() - started, len(detections.detections))
        if self._debug_pub.get_subscription_count() > 0:
            canvas = draw_tracks(image, tracks, tracker.config.model.class_name)
            self._debug_pub.publish(bgr_to_image_msg(canvas, header))
            self._stats.count_debug_image()

    def _reject(self, reason: str, message: str) -> None:
        self._stats.count_rejected(reason)
        text = self._throttle(reason, message)
        if text is not None:
            self.get_logger().warn(text)

    # ------------------------------------------------------------------ services, parameters
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        with self._lock:
            configured = self._tracker is not None
            if configured:
                self._pending_reset = True
        if not configured:
            response.success = False
            response.message = 'not configured: no model loaded, nothing to reset'
            return response
        self._stats.count_reset(SERVICE_RESET, 'reset service called')
        self.get_logger().info('tracks reset: reset service called')
        response.success = True
        response.message = ('previous frame and tracks forgotten; new tracks get ids above '
                            'every id used so far')
        return response

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.type_ == Parameter.Type.NOT_SET:
                return SetParametersResult(
                    successful=False, reason=f'{param.name} cannot be unset')
            problem = parameters.check_value(param.name, param.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        state = self.lifecycle_state
        tracker_changed = False
        for param in params:
            when = parameters.applies(param.name)
            if param.name.startswith('tracker.'):
                tracker_changed = True
            elif param.name == 'max_frame_gap':
                with self._lock:
                    self._max_frame_gap = float(param.value)
            elif when == parameters.CONFIGURE and state != 'unconfigured':
                self.get_logger().info(f'{param.name} changed; takes effect on the next '
                                       'configure (cleanup, then configure)')
            elif when == parameters.ACTIVATE and state == 'active':
                self.get_logger().info(f'{param.name} changed; takes effect on the next '
                                       'activate (deactivate, then activate)')
        if tracker_changed:
            values = parameters.read(self)
            with self._lock:
                if self._tracker is not None:
                    self._pending_tracker = parameters.tracker_config(self._model_tracker,
                                                                      values)
                    self.get_logger().info(f'tracker settings for the next frame: '
                                           f'{self._pending_tracker}')

    # ------------------------------------------------------------------ outputs
    def _class_names(self) -> tuple[str, ...]:
        tracker = self._tracker
        if tracker is None:
            return ()
        model = tracker.config.model
        return tuple(model.class_name(i) for i in range(1, model.num_classes + 1))

    def _publish_label_info(self) -> None:
        tracker = self._tracker
        if tracker is None or self._label_pub is None:
            return
        header = Image().header
        header.stamp = self.get_clock().now().to_msg()
        model = tracker.config.model
        self._label_pub.publish(label_info(model.class_names, model.num_classes,
                                           tracker.config.tracker.effective_out_thresh,
                                           header))

    def _publish_diagnostics(self) -> None:
        state = self.lifecycle_state
        values = self._stats.snapshot(dropped=self._slot.dropped)
        tracker = self._tracker
        values['lifecycle_state'] = state
        values['model_path'] = self._model_path
        values['cv_bridge'] = 'yes' if self._bridge is not None else 'no (own conversion)'
        subscription = self._subscription
        if subscription is not None:
            values['image_topic'] = subscription.topic
            values['image_qos'] = subscription.description
            values['image_qos_changes'] = str(subscription.changes)
        if tracker is not None:
            config = tracker.config
            values['device'] = device_name(tracker.device)
            values['model_arch'] = config.model.arch
            values['classes'] = ', '.join(self._class_names())
            values['input_size'] = f'{config.input.width}x{config.input.height}'
            values['track_thresh'] = f'{config.tracker.track_thresh:g}'
            if tracker.device.type == 'cuda':
                import torch
                values['gpu_memory_allocated_mb'] = \
                    f'{torch.cuda.memory_allocated(tracker.device) / 2 ** 20:.1f}'
                values['gpu_memory_reserved_mb'] = \
                    f'{torch.cuda.memory_reserved(tracker.device) / 2 ** 20:.1f}'
        if self._configure_error:
            values['configure_error'] = self._configure_error
        level, message = status_level(state, self._configure_error, values,
                                      self._previous_report)
        self._previous_report = values
        status = DiagnosticStatus(level=bytes([level]), name=f'{self.get_fully_qualified_name()}:'
                                  ' tracking', message=message,
                                  hardware_id=values.get('device', ''))
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diagnostics_pub.publish(array)


def usage() -> argparse.ArgumentParser:
    """Return the command-line parser: no options of its own besides ``--help``."""
    rows = [f'  {spec.name} (default '
            f'{"unset" if spec.default is None else repr(spec.default)}, {spec.applies}): '
            f'{spec.description}' for spec in parameters.PARAMETERS]
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
    finally:
        node.stop_processing()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
