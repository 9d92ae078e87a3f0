"""The development environment is a real ROS 2 one.

Covers: messages crossing a process boundary over DDS, the package's share directory through the
ament index, the console scripts, the setup being complete and idempotent, and the lint gate.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import REPO

VENV = Path(sys.prefix)
IN_VENV = sys.prefix != sys.base_prefix
MADE_BY_SETUP = (VENV / '.setup').is_dir()
LINT_PATHS = ('centertrack_ros', 'test', 'launch', 'scripts', 'benchmarks')


def _fresh_env() -> dict[str, str]:
    """Return an environment as a user's shell would have it: no ROS variables set by the venv.

    The interpreter must find its ROS libraries (LD_LIBRARY_PATH) and the ament prefix on its
    own, through the .pth hooks in site-packages.
    """
    env = dict(os.environ)
    for name in ('AMENT_PREFIX_PATH', 'LD_LIBRARY_PATH', '_ROS_WHEELS_BOOTSTRAP_COMPLETE',
                 'PYTHONPATH', 'VIRTUAL_ENV'):
        env.pop(name, None)
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if not p.startswith(str(VENV)))
    return env


def _entry_points_in_setup_py() -> dict[str, str]:
    """Return ``{script name: 'module:function'}`` as declared in setup.py."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    specs = [ast.literal_eval(elt) for elt in value.elts]
                    return {n.strip(): t.strip() for n, t in (s.split('=') for s in specs)}
    raise AssertionError('no console_scripts in setup.py')


ENTRY_POINTS = _entry_points_in_setup_py()


# ---------------------------------------------------------------------------------------------
# (a) DDS between processes

def _detection_array(frame_id: str):
    from geometry_msgs.msg import PoseWithCovariance
    from vision_msgs.msg import (
        BoundingBox2D,
        Detection2D,
        Detection2DArray,
        ObjectHypothesisWithPose,
    )

    msg = Detection2DArray()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec = 1_700_000_123
    msg.header.stamp.nanosec = 456_789
    for track_id, (cx, cy, w, h), label, score in (
            ('7', (320.5, 240.25, 64.0, 128.0), 'pedestrian', 0.875),
            ('42', (10.0, 20.0, 30.5, 40.5), 'car', 0.5)):
        det = Detection2D()
        det.header = msg.header
        det.id = track_id
        det.bbox = BoundingBox2D()
        det.bbox.center.position.x = cx
        det.bbox.center.position.y = cy
        det.bbox.size_x = w
        det.bbox.size_y = h
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = label
        hyp.hypothesis.score = score
        hyp.pose = PoseWithCovariance()
        hyp.pose.covariance = [0.25 * i for i in range(36)]
        det.results.append(hyp)
        msg.detections.append(det)
    return msg


def _summary(msg) -> dict:
    """Return the fields of a Detection2DArray as plain data (also used by the receiver)."""
    return {
        'frame_id': msg.header.frame_id,
        'stamp': [msg.header.stamp.sec, msg.header.stamp.nanosec],
        'detections': [{
            'id': d.id,
            'frame_id': d.header.frame_id,
            'bbox': [d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.center.theta,
                     d.bbox.size_x, d.bbox.size_y],
            'results': [[r.hypothesis.class_id, r.hypothesis.score, list(r.pose.covariance)]
                        for r in d.results],
        } for d in msg.detections],
    }


_RECEIVER = '''
import json, sys, time
import rclpy
from vision_msgs.msg import Detection2DArray
{summary}
topic = sys.argv[1]
rclpy.init()
node = rclpy.create_node('centertrack_env_receiver')
received = []
node.create_subscription(Detection2DArray, topic, received.append, 10)
print('READY', flush=True)
deadline = time.monotonic() + 60
while not received and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
if not received:
    sys.exit('nothing received')
publishers = [{{'node': p.node_name, 'type': p.topic_type, 'hash': str(p.topic_type_hash)}}
              for p in node.get_publishers_info_by_topic(topic)]
print('RESULT ' + json.dumps({{'msg': _summary(received[0]), 'publishers': publishers}}),
      flush=True)
node.destroy_node()
rclpy.shutdown()
'''


@pytest.fixture
def ros_context():
    """Yield a private, initialised rclpy context; shut it down afterwards."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


@pytest.mark.ros
def test_detection2d_array_reaches_another_process_over_dds(ros_context, run_python):
    import inspect

    import rclpy
    from vision_msgs.msg import Detection2DArray

    from centertrack_ros.msg_defs import VISION_MSGS_TYPE_HASHES

    topic = f'/centertrack_env_test_{uuid.uuid4().hex[:12]}/detections'
    receiver = run_python(_RECEIVER.format(summary=inspect.getsource(_summary)), args=[topic])
    receiver.wait_for('^READY$', timeout=60)

    node = rclpy.create_node('centertrack_env_sender', context=ros_context)
    try:
        pub = node.create_publisher(Detection2DArray, topic, 10)
        sent = _detection_array('camera_front')
        deadline = time.monotonic() + 60
        result = None
        while result is None:
            assert time.monotonic() < deadline, 'no delivery within 60 s:\n' + receiver.output()
            pub.publish(sent)
            try:
                result = receiver.wait_for('^RESULT (.*)$', timeout=0.25)
            except TimeoutError:
                assert receiver.poll() is None, 'receiver died:\n' + receiver.output()
        # (No subscription-count check here: the receiver may already have left the graph.)
    finally:
        node.destroy_node()
    assert receiver.wait(timeout=30) == 0, receiver.output()

    got = json.loads(result.group(1))
    assert got['msg'] == _summary(sent)
    # The receiver discovered this process's publisher, with the vision_msgs 4.x type hash.
    assert got['publishers'] == [{
        'node': 'centertrack_env_sender',
        'type': 'vision_msgs/msg/Detection2DArray',
        'hash': VISION_MSGS_TYPE_HASHES['Detection2DArray'],
    }]


_LATCHED_PUBLISHER = '''
import sys
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from vision_msgs.msg import LabelInfo, VisionClass
rclpy.init()
node = rclpy.create_node('centertrack_env_label_publisher')
qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
pub = node.create_publisher(LabelInfo, sys.argv[1], qos)
msg = LabelInfo(threshold=0.4)
msg.class_map = [VisionClass(class_id=i, class_name=n)
                 for i, n in enumerate(['pedestrian', 'car', 'cyclist'])]
pub.publish(msg)
print('PUBLISHED', flush=True)
rclpy.spin(node)
'''


@pytest.mark.ros
def test_transient_local_label_info_reaches_a_late_subscriber(ros_context, run_python):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from vision_msgs.msg import LabelInfo

    topic = f'/centertrack_env_test_{uuid.uuid4().hex[:12]}/label_info'
    publisher = run_python(_LATCHED_PUBLISHER, args=[topic])
    publisher.wait_for('^PUBLISHED$', timeout=60)  # published before anyone subscribed

    node = rclpy.create_node('centertrack_env_label_subscriber', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        received = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(LabelInfo, topic, received.append, qos)
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()
        node.destroy_node()
    assert received, 'late subscriber got nothing:\n' + publisher.output()
    assert [(c.class_id, c.class_name) for c in received[0].class_map] == [
        (0, 'pedestrian'), (1, 'car'), (2, 'cyclist')]
    assert received[0].threshold == pytest.approx(0.4)
    assert publisher.poll() is None, publisher.output()  # still spinning until we stop it


# ---------------------------------------------------------------------------------------------
# (b) share directory through the ament index

def test_share_directory_resolves_through_ament_index():
    from ament_index_python.packages import get_package_share_directory, get_resource

    share = Path(get_package_share_directory('centertrack_ros'))
    root = ET.parse(share / 'package.xml').getroot()
    assert root.findtext('name') == 'centertrack_ros'
    for sub in ('launch', 'config'):
        assert (share / sub).is_dir(), f'{share / sub} missing (is there a {sub}/ in the repo?)'
        # Everything setup.py installs from the source tree is visible in the share directory.
        patterns = {'launch': '*.launch.py', 'config': '*.yaml'}
        for src in (REPO / sub).glob(patterns[sub]):
            assert (share / sub / src.name).read_bytes() == src.read_bytes()
    content, prefix = get_resource('packages', 'centertrack_ros')
    assert Path(prefix) / 'share' / 'centertrack_ros' == share


@pytest.mark.skipif(not IN_VENV, reason='checks the venv made by scripts/setup_env.sh')
def test_fresh_interpreter_finds_ros_and_the_package_without_any_environment():
    code = ('import os, rclpy, vision_msgs.msg\n'
            'from ament_index_python.packages import get_package_share_directory as share\n'
            'print(share("centertrack_ros")); print(share("vision_msgs"))\n'
            'rclpy.init(); rclpy.shutdown(); print("rclpy ok")\n')
    proc = subprocess.run([str(VENV / 'bin' / 'python'), '-c', code], env=_fresh_env(),
                          cwd='/', capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split()
    assert Path(lines[0]).resolve() == (VENV / 'share' / 'centertrack_ros').resolve()
    assert lines[-2:] == ['rclpy', 'ok']


# ---------------------------------------------------------------------------------------------
# (c) console scripts

@pytest.mark.skipif(not IN_VENV, reason='checks the venv made by scripts/setup_env.sh')
def test_installed_console_scripts_match_setup_py():
    dist = importlib.metadata.distribution('centertrack_ros')
    installed = {ep.name: ep.value for ep in dist.entry_points if ep.group == 'console_scripts'}
    assert installed == ENTRY_POINTS, 'stale install: run `make setup`'


@pytest.mark.skipif(not IN_VENV, reason='checks the venv made by scripts/setup_env.sh')
@pytest.mark.parametrize('name', sorted(ENTRY_POINTS))
def test_console_script_help(name):
    script = shutil.which(name, path=str(VENV / 'bin'))
    assert script, f'{name} is not on the venv PATH ({VENV / "bin"}): run `make setup`'
    module, _, function = ENTRY_POINTS[name].partition(':')
    assert importlib.util.find_spec(module) is not None, \
        f'{module}, the module of entry point {name} in setup.py, does not exist'
    try:
        proc = subprocess.run([script, '--help'], env=_fresh_env(), cwd='/',
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f'`{name} --help` did not exit within 120 s; it must print usage and exit 0 '
                    f'(output: {exc.stdout!r} {exc.stderr!r})')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'usage' in proc.stdout.lower(), proc.stdout


# ---------------------------------------------------------------------------------------------
# setup: complete, and a second run is a fast no-op

@pytest.mark.skipif(not MADE_BY_SETUP, reason='not running in a venv made by setup_env.sh')
def test_setup_is_current_and_a_second_run_changes_nothing():
    env = dict(os.environ, CENTERTRACK_VENV=str(VENV))
    env.pop('CENTERTRACK_FORCE', None)
    script = REPO / 'scripts' / 'setup_env.sh'
    check = subprocess.run([str(script), '--check'], env=env, capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, 'environment is stale, run `make setup`:\n' + check.stderr

    def snapshot():
        watched = [VENV / '.setup', VENV / 'share' / 'centertrack_ros',
                   VENV / 'share' / 'ament_index' / 'resource_index' / 'packages']
        return {str(p): p.lstat().st_mtime_ns for d in watched for p in [d, *d.iterdir()]}

    before = snapshot()
    start = time.monotonic()
    rerun = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert rerun.returncode == 0, rerun.stderr
    assert elapsed < 20, f'second setup run took {elapsed:.1f} s'
    assert snapshot() == before
    assert 'installing' not in rerun.stderr and 'building' not in rerun.stderr, rerun.stderr


def test_shell_scripts_parse():
    scripts = [REPO / '.ci' / 'run', *sorted((REPO / 'scripts').glob('*.sh'))]
    for script in scripts:
        assert os.access(script, os.X_OK), f'{script} is not executable'
        proc = subprocess.run(['bash', '-n', str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f'{script}: {proc.stderr}'


# ---------------------------------------------------------------------------------------------
# (d) lint, in the spirit of ament_flake8 + ament_pep257

def test_ruff_lint_is_clean():
    ruff = shutil.which('ruff', path=str(Path(sys.executable).parent)) or shutil.which('ruff')
    if not ruff and not MADE_BY_SETUP:
        pytest.skip('ruff is not installed (outside the venv of scripts/setup_env.sh)')
    assert ruff, 'ruff is missing from the venv: run `make setup`'
    paths = [p for p in LINT_PATHS if (REPO / p).exists()]
    proc = subprocess.run([ruff, 'check', '--no-cache', *paths], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
