"""The package builds with colcon in a ROS 2 workspace, and the node colcon installed tracks.

``scripts/colcon_check.sh --fresh-venv`` makes a new venv from ``scripts/requirements-runtime.txt``
and the build tools alone (no torch, no onnx: not blocked, absent), copies the package and its
``vision_msgs`` into a temporary workspace, runs ``colcon build`` on top of that venv, sources
``install/setup.bash`` and runs the installed ``centertrack_node`` once over DDS with the
exported bundled model and ``engine: onnxruntime``. Here it runs as a test, so that CI fails
when the package stops building or installing the ROS way, or the runtime requirements stop
being enough. (pip fetches the packages as ``make setup`` does: about a minute of the
three this takes on two cores.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import REPO
from support.exported import bundled_onnx

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_colcon_builds_the_package_on_the_runtime_alone_and_its_node_tracks(tmp_path_factory):
    model = bundled_onnx(tmp_path_factory)
    env = dict(os.environ, CENTERTRACK_VENV=sys.prefix, PYTHONUNBUFFERED='1')
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'colcon_check.sh'), '--fresh-venv',
                           '--onnx', str(model)], cwd=str(REPO), env=env, capture_output=True,
                          text=True, timeout=1500)
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, output
    assert 'fresh venv from requirements-runtime.txt' in output
    assert 'Finished <<< vision_msgs' in output and 'Finished <<< centertrack_ros' in output
    assert 'OK: built with colcon, the installed node tracked over DDS without torch' in output
    assert "engine 'onnxruntime (CPU)'" in output
