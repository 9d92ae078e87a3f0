"""The ``centertrack`` lifecycle node: camera images in, tracked ``Detection2DArray`` out.

A thin shell around the ROS-free runtime: it declares the parameters, walks the lifecycle,
subscribes and publishes, and reports diagnostics. Tracking, the stream rules and the worker
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
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray, LabelInfo

from ..core.checkpoint import CheckpointError
from ..core.config import ConfigError
from ..core.device import DeviceError, device_name
from ..core.engines import EngineError
from ..core.model_spec import load_model
from ..runtime import settings
from ..runtime.drawing import draw_tracks
from ..runtime.frames import decode_image
from ..runtime.runner import FrameResult, FrameRunner
from ..runtime.stats import ReasonThrottle, StreamStats
from ..runtime.worker import FrameWorker
from . import parameters
from .diagnostics import status_level
from .image_subscription import ImageSubscription, large_frame_warning, lost_frames_warning
from .messages import bgr_to_image_msg, detection_array, label_info, load_cv_bridge

NODE_NAME = 'centertrack'
LOST_IN_TRANSPORT = 'lost_in_transport'
DIAGNOSTICS_PERIOD = 1.0
WORKER_JOIN_TIMEOUT = 30.0
CAMERAS = ('',)  # one camera, on the node's own topics


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
        self._stats = [StreamStats() for _ in CAMERAS]
        self._throttle = ReasonThrottle(period=5.0)
        self._bridge = load_cv_bridge()
        self._runner: Optional[FrameRunner] = None
        self._worker: Optional[FrameWorker] = None
        self._subscription: Optional[ImageSubscription] = None
        self._large_frames_checked = False
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        # Highest track id of a released model: a reloaded model continues above it, so that
        # ids stay unique for the life of the process.
        self._released_last_id = 0
        self._model_path = ''
        self._configure_error = ''
        self._finalized = False
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
            tracker = model.tracker(settings.tracker_overrides(values), len(CAMERAS))
            self._warm_up(tracker)
            tracker.continue_ids_after(self._released_last_id)
        except (CheckpointError, ConfigError, DeviceError, EngineError) as exc:
            return self._configure_failed(str(exc))
        except Exception as exc:  # an unexpected failure must still leave a usable node
            self.get_logger().debug(traceback.format_exc())
            return self._configure_failed(f'{type(exc).__name__}: {exc}')
        runner = FrameRunner(tracker, CAMERAS, self._stats)
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
            f'with the {tracker.engine.describe()} engine; tracker {config.tracker}')
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
        self._worker = FrameWorker(
            runner, lambda camera, msg: decode_image(msg, compressed, self._bridge),
            self._publish_result, lambda: self.get_clock().now().nanoseconds,
            info=logger.info, warn=logger.warn)
        self._worker.start()
        msg_type, topic = ((CompressedImage, 'image/compressed') if compressed
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

    @staticmethod
    def _warm_up(tracker: Any) -> None:
        # The first forward pass allocates buffers and selects kernels; pay for it here rather
        # than on the first camera frame. The blank frame must not leave a previous image.
        size = tracker.config.input
        blank = np.zeros((size.height, size.width, 3), dtype=np.uint8)
        tracker.step({camera: blank for camera in range(tracker.num_cameras)})
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
    def _on_image(self, msg: Any) -> None:
        if not self._large_frames_checked:
            self._warn_large_frames(len(msg.data))
        worker = self._worker
        if worker is not None:
            worker.submit(0, msg)

    def _on_lost(self, count: int) -> None:
        total = self._stats[0].count_lost(count)
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

    def _publish_result(self, result: FrameResult) -> None:
        if not self.context.ok():
            return  # shutting down: nothing can be published any more
        header = result.frame.context
        self._detections_pub.publish(detection_array(result.boxes, header))
        if self._debug_pub.get_subscription_count() > 0:
            canvas = draw_tracks(result.frame.image, result.tracks, self._runner.class_name)
            self._debug_pub.publish(bgr_to_image_msg(canvas, header))
            self._stats[result.camera].count_debug_image()

    # ------------------------------------------------------------------ services, parameters
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        runner = self._runner
        if runner is None:
            response.success = False
            response.message = 'not configured: no model loaded, nothing to reset'
            return response
        runner.request_reset(reason='reset service called')
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
        config = runner.tracker.config
        # The lowest score a published detection can have (BYTE publishes below track_thresh).
        self._label_pub.publish(label_info(config.model.class_names, config.model.num_classes,
                                           config.tracker.effective_low_thresh, header))

    def _publish_diagnostics(self) -> None:
        state = self.lifecycle_state
        values = self._stats[0].snapshot()
        runner = self._runner
        values['lifecycle_state'] = state
        values['model_path'] = self._model_path
        values['cv_bridge'] = 'yes' if self._bridge is not None else 'no (own conversion)'
        subscription = self._subscription
        if subscription is not None:
            values['image_topic'] = subscription.topic
            values['image_qos'] = subscription.description
            values['image_qos_changes'] = str(subscription.changes)
        if runner is not None:
            tracker = runner.tracker
            config = tracker.config
            values['device'] = device_name(tracker.device)
            values['engine'] = tracker.engine.describe()
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
