"""Run ``centertrack_node`` in a process of its own and talk to it over DDS.

The demo, the soak test (and through the demo the benchmark's ``--ros`` mode) and the tests
drive the real node the same way, with these pieces:

- :class:`CapturedProcess`: a subprocess whose merged stdout/stderr is read on a background
  thread; :meth:`~CapturedProcess.wait_for` a regex, :meth:`~CapturedProcess.output`,
  :meth:`~CapturedProcess.stop` (SIGINT, then SIGTERM, then SIGKILL).
- :class:`NodeProcess`: the node in its own namespace, with parameters (``-p name:=value``,
  see :func:`param_arg`), an optional parameters file and additions to the environment.
- :class:`RosClient`: this process's rclpy node, spinning on a background thread, with
  :class:`Collector` subscriptions, service calls and waits for the graph.
- :func:`image_msg`, :func:`compressed_msg`: ``sensor_msgs`` messages from BGR frames and
  encoded bytes; :func:`wait_active`: wait for the node's lifecycle state ``active``.

Every wait has a deadline (:class:`TimeoutError` after it) and can watch the node's process
(:class:`ProcessExited` as soon as it ends); nothing sleeps for a fixed time to let DDS settle.
rclpy and the message packages are imported only when a client or a message is made, so
importing this module needs neither (the test session sets its DDS isolation up first).
"""

from __future__ import annotations

import array
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..runtime.dds_profile import profile_environment, use_package_profile
from ..runtime.stamps import set_stamp

if TYPE_CHECKING:
    from rclpy.client import Client

TIMEOUT = 60.0  # seconds per wait; small CI machines start torch in several seconds
NODE_MODULE = 'centertrack_ros.ros.node'
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


class ProcessExited(RuntimeError):
    """A process that a wait was watching ended; the message has the end of its output."""


def process_env(extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return the environment for a child process: this process's, plus ``extra``.

    Output is unbuffered, so that what the child prints can be waited for as it happens. The
    child gets the package's large-image Fast DDS profile unless this environment or ``extra``
    sets a profile variable (an empty value switches it off; see
    :mod:`centertrack_ros.runtime.dds_profile`).
    """
    env = dict(os.environ)
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra or {})
    env.update(profile_environment(env))
    return env


def _child_setup(die_with_parent: bool) -> Optional[Callable[[], None]]:
    """Return a ``preexec_fn`` for a child, or None when it needs none.

    - SIGINT back to its default: :meth:`CapturedProcess.stop` stops a child with SIGINT, but
      an ignored SIGINT is inherited through exec, and a process started by ``nohup`` or as
      ``cmd &`` from a script ignores it (a Python child then never raises KeyboardInterrupt).
    - ``die_with_parent``: the child gets SIGTERM when this process dies, so even a SIGKILL of
      the tool takes its node along (Linux only). The C call is looked up here, before the
      fork: the child only makes it.
    """
    default_sigint = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    prctl = None
    if die_with_parent and sys.platform.startswith('linux'):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    if not default_sigint and prctl is None:
        return None

    def setup() -> None:
        if default_sigint:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        if prctl is not None:
            prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    return setup


class CapturedProcess(subprocess.Popen):
    """A subprocess whose merged stdout/stderr is collected on a background thread.

    Use :meth:`wait_for`, :meth:`output` and :meth:`stop` rather than ``stdout`` or
    ``communicate``.
    """

    def __init__(self, argv: Sequence[str], die_with_parent: bool = False,
                 **popen_kwargs: Any) -> None:
        preexec = _child_setup(die_with_parent)
        if preexec is not None:
            popen_kwargs['preexec_fn'] = preexec
        self.argv = list(argv)  # as given (Popen's ``args`` is typed for any command form)
        super().__init__(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, bufsize=1, errors='replace', **popen_kwargs)
        self.signals_sent: list[signal.Signals] = []  # by stop(), in order
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.stdout or ():  # always a pipe (stdout=PIPE)
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._lines.append('')  # end-of-output sentinel
            self._cond.notify_all()

    def output(self) -> str:
        """Return everything the process has written so far (stdout and stderr merged)."""
        with self._cond:
            return ''.join(self._lines)

    def tail(self, lines: int = 25) -> str:
        """Return the last ``lines`` lines of the output."""
        return '\n'.join(self.output().splitlines()[-lines:])

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """Wait until the output matches the regex ``pattern``; return the match.

        Raises:
            TimeoutError: on timeout, or when the process ends without a match (with the
                output so far).

        """
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(''.join(self._lines))
                if match:
                    return match
                finished = bool(self._lines) and self._lines[-1] == ''
                remaining = deadline - time.monotonic()
                if finished or remaining <= 0:
                    why = 'process ended' if finished else f'timed out after {timeout:.0f} s'
                    raise TimeoutError(
                        f'{why} waiting for {pattern!r} (exit code {self.poll()}); output:\n'
                        + ''.join(self._lines))
                self._cond.wait(remaining)

    def expect_alive(self, seconds: float = 0.0) -> None:
        """Return after ``seconds`` if the process is still running then.

        Raises:
            ProcessExited: the process has ended, or ended within ``seconds``.

        """
        try:
            self.wait(max(0.0, seconds))
        except subprocess.TimeoutExpired:
            return
        raise ProcessExited(f'{self.argv[0]} exited with code {self.returncode}; its output '
                            f'ends with:\n{self.tail()}')

    def stop(self, timeout: float = 10.0,
             signals: Sequence[signal.Signals] = STOP_SIGNALS) -> int:
        """Stop the process and return its exit code.

        Sends each of ``signals`` in turn (by default SIGINT, then SIGTERM, then SIGKILL),
        waiting up to ``timeout`` seconds after each for the process to end; those sent are
        recorded in ``signals_sent``.
        """
        for sig in signals:
            if self.poll() is not None:
                break
            self.send_signal(sig)
            self.signals_sent.append(sig)
            try:
                self.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        code = self.wait()
        self._reader.join(timeout)
        return code


def param_arg(name: str, value: Any) -> str:
    """Format a ``-p`` argument in the syntax rcl parses (YAML)."""
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    elif isinstance(value, (list, tuple)):
        text = '[' + ', '.join(json.dumps(v) for v in value) + ']'
    else:
        text = str(value)
    return f'{name}:={text}'


def node_command() -> list[str]:
    """Return the command that starts the node.

    The ``centertrack_node`` console script beside this interpreter (where ``make setup`` and
    pip put it), else ``python -m centertrack_ros.ros.node`` with this interpreter.
    """
    script = Path(sys.executable).with_name('centertrack_node')
    return [str(script)] if script.is_file() else [sys.executable, '-m', NODE_MODULE]


class NodeProcess:
    """A ``centertrack_node`` process in its own namespace.

    Args:
        namespace: the node's namespace (``__ns``), e.g. ``/centertrack_demo``.
        params: parameters as ``-p name:=value`` (:func:`param_arg`), after ``params_file``.
        params_file: a parameters YAML file.
        env: additions to this process's environment (:func:`process_env`).
        command: the program to run instead of :func:`node_command` (e.g. a wrapper script).
        popen_kwargs: passed on to :class:`subprocess.Popen` (``cwd``, ``start_new_session``).

    """

    def __init__(self, namespace: str, params: Optional[Mapping[str, Any]] = None,
                 params_file: Optional[str | os.PathLike] = None,
                 env: Optional[Mapping[str, str]] = None,
                 command: Optional[Sequence[str]] = None, **popen_kwargs: Any) -> None:
        self.namespace = namespace
        argv = [*(command or node_command()), '--ros-args', '-r', f'__ns:={namespace}']
        if params_file is not None:
            argv += ['--params-file', str(params_file)]
        for name, value in (params or {}).items():
            argv += ['-p', param_arg(name, value)]
        self.process = CapturedProcess(argv, env=process_env(env), **popen_kwargs)

    @property
    def command(self) -> list[str]:
        """The command line the node was started with."""
        return list(self.process.argv)

    def name(self, relative: str) -> str:
        """Resolve a name relative to the node (``~/reset``) or its namespace (``image``)."""
        if relative.startswith('~/'):
            return f'{self.namespace}/centertrack/{relative[2:]}'
        return f'{self.namespace}/{relative}'

    def poll(self) -> Optional[int]:
        """Return the exit code, or None while the node runs."""
        return self.process.poll()

    def expect_alive(self, seconds: float = 0.0) -> None:
        """Return after ``seconds`` if the node still runs; else raise :class:`ProcessExited`."""
        self.process.expect_alive(seconds)

    def output(self) -> str:
        """Return everything the node logged so far."""
        return self.process.output()

    def tail(self, lines: int = 25) -> str:
        """Return the last lines the node logged."""
        return self.process.tail(lines)

    def stop(self, timeout: float = 20.0,
             signals: Sequence[signal.Signals] = STOP_SIGNALS) -> int:
        """Stop the node (SIGINT first, see :meth:`CapturedProcess.stop`); return its exit code."""
        return self.process.stop(timeout, signals)


def _check(watch: Any) -> None:
    if watch is not None:
        watch.expect_alive()


class Collector:
    """Stores every message of a subscription and lets a caller wait for one.

    ``transform``, when given, is applied to each message on arrival (in the spinning thread,
    so it may note the arrival time); its result is stored instead, and a result of None is not
    stored at all.
    """

    def __init__(self, transform: Optional[Callable[[Any], Any]] = None) -> None:
        self.messages: list[Any] = []
        self.subscription: Any = None
        self._transform = transform
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        """Store ``msg`` (transformed) and wake the waiters; the subscription's callback."""
        item = msg if self._transform is None else self._transform(msg)
        if item is None:
            return
        with self._cond:
            self.messages.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = TIMEOUT,
                 what: str = 'a matching message', start: int = 0, watch: Any = None) -> Any:
        """Return the first message from index ``start`` on that satisfies ``predicate``.

        Raises:
            TimeoutError: none within ``timeout`` seconds.
            ProcessExited: ``watch`` (a :class:`NodeProcess` or :class:`CapturedProcess`)
                ended first.

        """
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = start
            while True:
                for msg in self.messages[seen:]:
                    if predicate(msg):
                        return msg
                seen = max(seen, len(self.messages))
                _check(watch)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f'no {what} within {timeout:.0f} s '
                                       f'({len(self.messages)} messages received)')
                self._cond.wait(remaining if watch is None else min(remaining, 0.1))

    def count(self) -> int:
        """Return the number of messages received so far."""
        with self._cond:
            return len(self.messages)


def reliable_qos(depth: int = 10) -> Any:
    """Return a reliable, volatile QoS profile keeping ``depth`` messages."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def latched_qos() -> Any:
    """Return the QoS of a latched topic (reliable, transient local, depth 1)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RosClient:
    """This process's rclpy node in a context of its own, spinning on a background thread.

    The process gets the package's large-image Fast DDS profile first, unless a profile
    variable is set (it takes effect when this is the process's first participant).
    """

    def __init__(self, name: str = 'centertrack_client') -> None:
        use_package_profile()
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self._rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException, ShutdownException
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except (ExternalShutdownException, ShutdownException):
            pass

    def close(self) -> None:
        """Shut the node and its context down."""
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)
        self._thread.join(10)

    def subscribe(self, msg_type: Any, topic: str, qos: Any = None,
                  transform: Optional[Callable[[Any], Any]] = None) -> Collector:
        """Collect every message on ``topic`` (QoS: reliable, depth 10, unless given)."""
        collector = Collector(transform)
        collector.subscription = self.node.create_subscription(
            msg_type, topic, collector, reliable_qos() if qos is None else qos)
        return collector

    def unsubscribe(self, collector: Collector) -> None:
        """Destroy a collector's subscription."""
        self.node.destroy_subscription(collector.subscription)

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = TIMEOUT) -> Any:
        """Call a service and return its response (TimeoutError when it does not answer)."""
        client: Client[Any, Any] = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f'service {name} not available within {timeout:.0f} s')
            done = threading.Event()
            future = client.call_async(request)
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f'service {name} did not answer within {timeout:.0f} s')
            return future.result()
        finally:
            self.node.destroy_client(client)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT,
                   watch: Any = None) -> None:
        """Poll ``condition`` (graph state such as matched endpoints) until it holds.

        Raises:
            TimeoutError: ``what`` did not happen within ``timeout`` seconds.
            ProcessExited: ``watch`` ended first.

        """
        deadline = time.monotonic() + timeout
        while not condition():
            _check(watch)
            if time.monotonic() > deadline:
                raise TimeoutError(f'{what} did not happen within {timeout:.0f} s')
            time.sleep(0.05)

    def wait_matched(self, publisher: Any, collector: Collector, timeout: float = TIMEOUT,
                     watch: Any = None, what: str = 'matching with the node') -> None:
        """Wait until ``publisher`` reaches a subscriber and ``collector`` hears a publisher."""
        self.wait_until(lambda: publisher.get_subscription_count() > 0 and
                        collector.subscription.get_publisher_count() > 0, what, timeout, watch)

    def now_ns(self) -> int:
        """Return the client node's clock in nanoseconds."""
        return self.node.get_clock().now().nanoseconds


def wait_active(client: RosClient, node: NodeProcess, timeout: float = TIMEOUT) -> None:
    """Wait for the node to report the lifecycle state ``active``.

    Raises:
        ProcessExited: the node ended first.
        TimeoutError: it was not active within ``timeout`` seconds.

    """
    from lifecycle_msgs.srv import GetState
    deadline = time.monotonic() + timeout
    while True:
        node.expect_alive()
        state = client.call(GetState, node.name('~/get_state'), GetState.Request(), timeout)
        if state.current_state.label == 'active':
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f'node not active within {timeout:.0f} s:\n{node.output()}')
        time.sleep(0.2)


def node_status(msg: Any, node_name: str) -> Any:
    """Return the status of ``node_name`` (e.g. ``/ns/centertrack``) in a DiagnosticArray."""
    return next((s for s in msg.status if s.name.startswith(node_name + ':')), None)


def image_msg(image: np.ndarray, stamp_ns: int, frame_id: str = 'camera',
              encoding: str = 'bgr8') -> Any:
    """Build a ``sensor_msgs/Image`` of a BGR frame in ``encoding`` (bgr8, rgb8 or mono8)."""
    from std_msgs.msg import Header

    from ..ros.messages import bgr_to_image_msg
    header = Header(frame_id=frame_id)
    set_stamp(header.stamp, stamp_ns)
    return bgr_to_image_msg(image, header, encoding)


def compressed_msg(data: bytes, stamp_ns: int, fmt: str, frame_id: str = 'camera') -> Any:
    """Build a ``sensor_msgs/CompressedImage`` holding ``data``."""
    from sensor_msgs.msg import CompressedImage
    msg = CompressedImage(format=fmt)
    msg.header.frame_id = frame_id
    set_stamp(msg.header.stamp, stamp_ns)
    msg.data = array.array('B', data)
    return msg
