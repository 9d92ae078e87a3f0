"""The ``centertrack`` lifecycle node: camera images in, tracked ``Detection2DArray`` out.

One node serves one camera (``image`` in, ``detections`` out) or, with the ``cameras``
parameter, several (``<name>/image`` in, ``<name>/detections`` out), with one model whose
network calls take every camera's newest frame at once. The node only adapts ROS: it declares
the parameters, walks the lifecycle, subscribes and publishes, and reports diagnostics. The
tracking itself is a :class:`~centertrack_ros.runtime.session.TrackingSession`, fed by a
:class:`~centertrack_ros.runtime.worker.FrameWorker` thread that decodes, calibrates and tracks
on its own and calls back into the node once per frame, to publish. Threads: the executor
thread runs the subscription callbacks (which only hand the newest message to the worker),
services, parameter callbacks, lifecycle transitions and the diagnostics timer; requests that
touch the tracker from there (reset, new tracker settings) are applied by the runner between
two frames.
"""

from __future__ import annotations

import gc
import sys
import traceback
from functools import partial
from typing import Any, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import get_rmw_implementation_identifier, remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import LabelInfo

from ..core.errors import CenterTrackError, one_line
from ..runtime import settings
from ..runtime.camera_info import Calibrator
from ..runtime.frames import decode_image
from ..runtime.planner_outputs import PlannerOutputSettings
from ..runtime.runner import FrameResult
from ..runtime.session import SessionSettings, TrackingSession
from ..runtime.stamps import stamp_ns
from ..runtime.stats import ReasonThrottle, StreamStats
from ..runtime.worker import FrameWorker
from . import parameters
from .diagnostics import status_level
from .image_subscription import ImageSubscription, large_frame_warning, lost_frames_warning
from .log_forwarding import forward_package_logs, stop_forwarding
from .messages import label_info, load_cv_bridge
from .outputs import CameraOutputs
from .topics import CameraTopics, camera_topics

NODE_NAME = 'centertrack'
LOST_IN_TRANSPORT = 'lost_in_transport'
DIAGNOSTICS_PERIOD = 1.0
WORKER_JOIN_TIMEOUT = 30.0


class CenterTrackNode(parameters.ReadableParameterErrors, LifecycleNode):
    """CenterTrack as a managed node (see the package README for topics and parameters)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # All state first: declaring the parameters may raise, and rclpy then destroys this
        # half-built node on shutdown, which must still find what destroy_node() touches.
        self._cameras: tuple[str, ...] = ('',)
        self._stats = [StreamStats()]
        self._throttle = ReasonThrottle(period=5.0)
        self._bridge = load_cv_bridge()
        self._session: Optional[TrackingSession] = None
        self._worker: Optional[FrameWorker] = None
        self._image_subscriptions: list[ImageSubscription] = []
        self._camera_info_subscriptions: list[Any] = []
        self._large_frames_checked: set[int] = set()
        self._steady_clock = Clock(clock_type=ClockType.STEADY_TIME)
        self._ids_after = 0  # highest id of released sessions: a reload continues above it
        self._configure_error = ''
        self._finalized = False
        self._outputs: list[CameraOutputs] = []
        self._label_pub: Any = None
        self._previous_reports: dict[int, dict[str, str]] = {}
        self._log_handler = forward_package_logs(self.get_logger())
        parameters.declare(self)
        parameters.warn_unknown_overrides(self)
        self._cameras = settings.camera_names(parameters.read(self))
        self._stats = [StreamStats() for _ in self._cameras]
        self.add_pre_set_parameters_callback(parameters.integers_as_numbers)
        self.add_on_set_parameters_callback(parameters.validator)
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
                                    partial(self._on_reset, camera=index))
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
        """Stop the subscriptions and the worker thread (idempotent)."""
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
        stop_forwarding(self._log_handler)
        super().destroy_node()

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters and open a tracking session (model loaded, warmed up)."""
        values = parameters.read(self)
        try:
            planner = PlannerOutputSettings.from_values(values)
            session = self._session = TrackingSession.open(
                SessionSettings.from_values(values), stats=self._stats, ids_after=self._ids_after)
            planner.check_model(session.ddd)
            self._create_publishers(session, planner)
        except CenterTrackError as exc:
            self._release()
            return self._configure_failed(one_line(exc))
        except Exception as exc:  # a bug must still leave a node that reports it
            self.get_logger().debug(traceback.format_exc())
            self._release()
            return self._configure_failed(f'{type(exc).__name__}: {one_line(exc)}')
        self._configure_error = ''
        self.get_logger().info(session.describe())
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker, subscribe to the images and announce the class map."""
        session = self._session
        if session is None:  # the lifecycle activates configured nodes only
            self.get_logger().error('activate failed: the node is not configured')
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)  # enables the lifecycle publishers
        if result != TransitionCallbackReturn.SUCCESS:
            return result
        values = parameters.read(self)
        compressed = bool(values['use_compressed'])
        session.runner.start_new_sequences()  # a new activation starts a new sequence
        topics = [camera_topics(self, camera) for camera in self._cameras]
        calibrator = None
        if session.ddd:
            calibrator = Calibrator(len(topics), values['camera_info.matrix'],
                                    [(t.image, t.camera_info) for t in topics])
            self._subscribe_camera_infos(topics, calibrator)
        logger = self.get_logger()
        self._worker = FrameWorker(
            session.runner, partial(decode_image, compressed=compressed, bridge=self._bridge),
            self._publish_result, lambda: self.get_clock().now().nanoseconds,
            info=logger.info, warn=logger.warn,
            batch_wait=float(values['batch_wait_ms']) / 1e3, calibrator=calibrator,
            schedule=values['camera_schedule'], lanes=int(values['camera_lanes']))
        self._worker.start()
        msg_type = CompressedImage if compressed else Image
        self._large_frames_checked = set()
        for index, camera in enumerate(topics):
            topic = camera.compressed if compressed else camera.image
            try:
                self._image_subscriptions.append(ImageSubscription(
                    self, msg_type, topic, partial(self._on_image, index),
                    values['qos.reliability'], int(values['qos.depth']), self._steady_clock,
                    partial(self._on_lost, index)))
            except Exception as exc:  # rclpy would turn it into a silent ERROR transition
                logger.error(f'activate failed: cannot subscribe to {topic}: {exc}')
                self.stop_processing()
                super().on_deactivate(state)
                return TransitionCallbackReturn.FAILURE
        self._publish_label_info()
        for subscription in self._image_subscriptions:
            logger.info(f'active: subscribed to {subscription.topic} ({subscription.description}'
                        f', depth {values["qos.depth"]})')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe and stop processing; the model stays loaded."""
        self.stop_processing()
        self.get_logger().info('inactive: not processing frames')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Close the session (model and device memory) and the publishers."""
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

    def _topic(self, camera: int, name: str) -> str:
        # The node's own topics for one camera, else ``<camera>/<name>``.
        if len(self._cameras) == 1:
            return '~/debug_image' if name == 'debug_image' else name
        return f'{self._cameras[camera]}/{name}'

    def _subscribe_camera_infos(self, topics: list[CameraTopics], calibrator: Calibrator) -> None:
        # Best effort matches every publisher; a camera_info message is small, so nothing of
        # the large-frame loss applies, and the next one follows with the next frame anyway.
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._camera_info_subscriptions = [
            self.create_subscription(
                CameraInfo, t.camera_info,
                lambda msg, c=c: calibrator.add(c, msg, stamp_ns(msg.header.stamp)), qos)
            for c, t in enumerate(topics)]

    def _create_publishers(self, session: TrackingSession,
                           planner: PlannerOutputSettings) -> None:
        self._outputs = [CameraOutputs(self, partial(self._topic, c), session.ddd,
                                       session.config.model.class_name, self._stats[c],
                                       planner, camera)
                         for c, camera in enumerate(self._cameras)]
        self._label_pub = self.create_lifecycle_publisher(
            LabelInfo, 'label_info', QoSProfile(
                depth=1, reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL))

    def _release(self) -> None:
        for outputs in self._outputs:
            outputs.destroy()
        if self._label_pub is not None:
            self.destroy_lifecycle_publisher(self._label_pub)
        self._outputs, self._label_pub = [], None
        session, self._session = self._session, None
        if session is not None:
            self._ids_after = max(self._ids_after, session.release())
            del session
            gc.collect()

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
        """Publish one frame's results (the worker's one call into the node per frame)."""
        if not self.context.ok():
            return  # shutting down: nothing can be published any more
        self._outputs[result.camera].publish(result)

    # ------------------------------------------------------------------ services, parameters
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response,
                  camera: Optional[int] = None) -> Any:
        session = self._session
        if session is None:
            response.success = False
            response.message = 'not configured: no model loaded, nothing to reset'
            return response
        session.runner.request_reset(camera, reason='reset service called')
        which = 'every camera' if camera is None else self._cameras[camera]
        self.get_logger().info('tracks reset: reset service called' + (
            f' ({which})' if len(self._cameras) > 1 else ''))
        response.success = True
        response.message = ('previous frame and tracks forgotten; new tracks get ids above '
                            'every id used so far')
        return response

    def _apply_parameters(self, params: list[Any]) -> None:
        state, session = self.lifecycle_state, self._session
        tracker_changed = False
        for param in params:
            when = settings.applies(param.name)
            if param.name.startswith('tracker.'):
                tracker_changed = True
            elif param.name == 'max_frame_gap':
                if session is not None:
                    session.runner.max_frame_gap = float(param.value)
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
        if tracker_changed and session is not None:
            overrides = settings.tracker_overrides(parameters.read(self))
            session.runner.request_overrides(overrides)
            self.get_logger().info('tracker settings for the next frame: '
                                   f'{session.tracker_settings(overrides)}')
            if state == 'active':
                # Subscribers filter on label_info's threshold: it follows the new settings.
                self._publish_label_info()

    # ------------------------------------------------------------------ outputs
    def _publish_label_info(self) -> None:
        session = self._session
        if session is None or self._label_pub is None:
            return
        header = Image().header
        header.stamp = self.get_clock().now().to_msg()
        # From the parameters: tracker changes made since the last frame are not applied yet.
        threshold = session.lowest_published_score(
            settings.tracker_overrides(parameters.read(self)))
        self._label_pub.publish(label_info(session.class_names, threshold, header))

    def _publish_diagnostics(self) -> None:
        state = self.lifecycle_state
        common = {'lifecycle_state': state, 'model_path': '',
                  'cv_bridge': 'yes' if self._bridge is not None else 'no (own conversion)'}
        session = self._session
        if session is not None:
            common.update(session.status())
        if self._configure_error:
            common['configure_error'] = self._configure_error
        worker = self._worker
        calibrator = worker.calibrator if worker is not None else None
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for camera, name in enumerate(self._cameras):
            values = self._stats[camera].snapshot()
            for notice in self._stats[camera].take_notices():
                self.get_logger().warn(notice)
            if calibrator is not None:
                values['camera_info'] = calibrator.status(camera)
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


def main(args: Optional[list[str]] = None) -> int:
    """Run the node until shutdown (Ctrl-C, SIGTERM or the lifecycle shutdown transition)."""
    argv = sys.argv if args is None else args
    parameters.usage().parse_args(remove_ros_args(args=argv)[1:])  # --help, or stray arguments
    rclpy.init(args=args)
    try:
        node = CenterTrackNode()
    except Exception as exc:  # e.g. an override of the wrong type or out of range
        print(f'[centertrack] cannot start: {one_line(exc)}', file=sys.stderr)
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
