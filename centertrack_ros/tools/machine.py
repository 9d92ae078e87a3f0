"""What a measurement ran on: CPU, cores, memory, GPU, OS and library versions.

Benchmark and soak reports carry this so that every figure names its machine.
"""

from __future__ import annotations

import os
import platform

from ..core.device import cpu_model


def machine_info() -> dict[str, str]:
    """Describe the machine: CPU, cores, memory, OS, Python and library versions."""
    import psutil
    import torch
    info = {
        'cpu': cpu_model(), 'cores': str(os.cpu_count()),
        'memory_gib': f'{psutil.virtual_memory().total / 2 ** 30:.1f}',
        'os': platform.platform(), 'python': platform.python_version(),
        'torch': torch.__version__,
        'load_average': ' '.join(f'{v:.2f}' for v in os.getloadavg()),
        'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none',
    }
    try:
        from importlib.metadata import version
        info['rclpy'] = version('ros-rclpy')
    except Exception:  # not installed from the wheels (a ROS distribution)
        info['rclpy'] = 'from the ROS distribution'
    return info
