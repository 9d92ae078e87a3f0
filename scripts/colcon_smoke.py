"""Run the centertrack_node that colcon installed, once, over DDS (``scripts/colcon_check.sh``).

Runs in a shell that has sourced the workspace's ``install/setup.bash``. Checks that Python and
the ament index find the workspace's copies (not the source tree's editable install or the
environment's packages), that the installed share directory has the launch, config and model
files, then starts the installed executable (where ``ros2 run centertrack_ros centertrack_node``
finds it) with an exported ``.onnx``, ``engine: onnxruntime`` and torch blocked, sends it one
frame of a synthetic drive and waits for tracked detections and for diagnostics naming the
engine. Prints what it checked; exits 1 with the reason when something is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NO_TORCH = Path(__file__).resolve().parents[1] / 'benchmarks' / 'no_torch'
NAMESPACE = '/colcon_check'


def fail(message: str) -> None:
    """Print the reason and exit with status 1."""
    print(f'[colcon-check] FAILED: {message}', file=sys.stderr)
    sys.exit(1)


def check_installed(workspace: Path, msgs: list[str]) -> Path:
    """Check where Python and the ament index find things; return the installed executable."""
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    import centertrack_ros
    install = workspace / 'install'
    # (None for a namespace package: then it is not the installed one either)
    found = {'centertrack_ros': Path(str(centertrack_ros.__file__))}
    for pkg in msgs:
        found[pkg] = Path(str(__import__(f'{pkg}.msg').__file__))
    for name, path in found.items():
        if install not in path.parents:
            fail(f'Python imports {name} from {path}, not from {install}')
        print(f'[colcon-check] {name}: {path}')
    prefix = Path(get_package_prefix('centertrack_ros'))
    if prefix != install / 'centertrack_ros':
        fail(f'the ament index finds centertrack_ros in {prefix}')
    share = Path(get_package_share_directory('centertrack_ros'))
    for pattern in ('package.xml', 'launch/*.launch.py', 'config/*.yaml', 'models/*.pth'):
        if not list(share.glob(pattern)):
            fail(f'nothing installed for {pattern} in {share}')
    executable = prefix / 'lib' / 'centertrack_ros' / 'centertrack_node'
    if not os.access(executable, os.X_OK):
        fail(f'no executable {executable}')
    print(f'[colcon-check] share {share}; executable {executable}')
    return executable


def run_node(executable: Path, model: Path, timeout: float = 120.0) -> None:
    """Start the installed node with torch blocked, send a frame, check what comes back."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from centertrack_ros.runtime.stamps import stamp_ns
    from centertrack_ros.synthetic import SceneConfig, generate_sequence
    from centertrack_ros.tools.harness import (
        NodeProcess,
        RosClient,
        image_msg,
        node_status,
        reliable_qos,
        wait_active,
    )
    env = {'PYTHONPATH': os.pathsep.join([str(NO_TORCH), os.environ.get('PYTHONPATH', '')])}
    started = time.monotonic()
    node = NodeProcess(NAMESPACE, {'model.path': str(model), 'engine': 'onnxruntime',
                                   'device': 'cpu'}, env=env, command=[str(executable)])
    client = RosClient('centertrack_colcon_check')
    try:
        diagnostics = client.subscribe(DiagnosticArray, '/diagnostics')
        wait_active(client, node, timeout=timeout)
        publisher = client.node.create_publisher(Image, f'{NAMESPACE}/image', reliable_qos())
        detections = client.subscribe(Detection2DArray, f'{NAMESPACE}/detections')
        client.wait_matched(publisher, detections, timeout=timeout, watch=node)
        stamp = client.now_ns()
        publisher.publish(image_msg(generate_sequence(SceneConfig(seed=1, num_frames=2)).image(0),
                                    stamp))
        msg = detections.wait_for(lambda m: stamp_ns(m.header.stamp) == stamp, timeout=timeout,
                                  what='detections for the frame', watch=node)
        rows = [(d.id, d.results[0].hypothesis.class_id, round(d.results[0].hypothesis.score, 2))
                for d in msg.detections]
        print(f'[colcon-check] detections after {time.monotonic() - started:.1f} s: {rows}')
        if not rows or not all(track_id.isdigit() for track_id, _, _ in rows):
            fail(f'no tracked detections for the frame: {rows}')
        report = diagnostics.wait_for(lambda m: node_status(m, f'{NAMESPACE}/centertrack'),
                                      timeout=timeout, what='diagnostics', watch=node)
        values = {kv.key: kv.value
                  for kv in node_status(report, f'{NAMESPACE}/centertrack').values}
        print(f'[colcon-check] diagnostics: engine {values.get("engine")!r}, device '
              f'{values.get("device")!r}')
        if not values.get('engine', '').startswith('onnxruntime ('):
            fail(f'the node reports the engine {values.get("engine")!r}')
    except (TimeoutError, RuntimeError) as exc:
        fail(f'{exc}\nthe node logged:\n{node.tail(40)}')
    finally:
        client.close()
        code = node.stop()
    if code != 0:
        fail(f'the node exited with {code}:\n{node.tail(40)}')


def main() -> int:
    """Check the installed package, then run its node once."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--workspace', type=Path, required=True)
    parser.add_argument('--onnx', type=Path, required=True, help='the exported model to run')
    parser.add_argument('--msgs', default='vision_msgs',
                        help='interface packages built in the workspace')
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    executable = check_installed(workspace, args.msgs.split())
    run_node(executable, args.onnx.resolve())
    print('[colcon-check] OK: built with colcon, the installed node tracked over DDS without '
          'torch')
    return 0


if __name__ == '__main__':
    sys.exit(main())
