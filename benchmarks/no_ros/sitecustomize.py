"""Make this interpreter look like the GPU machine's: no ROS, no rosbags, no motmetrics.

Put this folder first on ``PYTHONPATH`` and every Python process started with it (pytest, the
bench, the training script, their DataLoader workers) fails to import the ROS client library,
the message packages and the two PyPI packages the lent GPU machine lacks, exactly as there: a
``ModuleNotFoundError`` at the import. ``benchmarks/gpu_check.py --no-ros`` and
``benchmarks/gpu_train.py --no-ros`` use it to rehearse on a machine that has them all, and
``test/unit/tools/test_gpu_scripts.py`` checks with it that the CUDA tests, the bench and the
training path import without ROS. ``CENTERTRACK_BLOCKED_MODULES`` (comma-separated top-level names)
replaces the list.
"""

import os
import sys
from importlib.abc import MetaPathFinder

BLOCKED = ('rclpy', 'rcl_interfaces', 'rosidl_runtime_py', 'rosidl_parser', 'rosidl_pycommon',
           'rmw_implementation', 'ament_index_python', 'ament_package', 'launch', 'launch_ros',
           'cv_bridge', 'builtin_interfaces', 'rosgraph_msgs', 'rosbags', 'motmetrics')
SUFFIXES = ('_msgs', '_srvs')


class _NoRos(MetaPathFinder):
    """Refuse the blocked top-level packages and their sub-modules."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        """Raise for a blocked name; return None (look elsewhere) for any other."""
        top = fullname.partition('.')[0]
        if top in self.names or top.endswith(SUFFIXES):
            raise ModuleNotFoundError(f"No module named '{fullname}' (blocked: no ROS here)",
                                      name=fullname)
        return None


_names = os.environ.get('CENTERTRACK_BLOCKED_MODULES')
sys.meta_path.insert(0, _NoRos(tuple(n.strip() for n in _names.split(',') if n.strip())
                               if _names else BLOCKED))
for _name in [m for m in sys.modules if m.partition('.')[0] in BLOCKED]:
    del sys.modules[_name]
