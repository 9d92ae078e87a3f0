"""The shipped Fast DDS profile carries camera-sized images between processes.

Without it, best-effort 1080p frames between two processes on one machine are fragmented
over UDP and mostly lost; with it they travel through shared memory.
"""

from __future__ import annotations

import pytest
from support import REPO

pytestmark = pytest.mark.ros

PROFILE = REPO / 'config' / 'fastdds_large_images.xml'
FRAMES = 20

SUBSCRIBER = '''
import sys, time, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node('profile_probe_sub')
sizes = []
node.create_subscription(Image, 'profile_probe', lambda m: sizes.append(len(m.data)),
                         qos_profile_sensor_data)
print('subscribed', flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline and len(sizes) < {frames}:
    rclpy.spin_once(node, timeout_sec=0.1)
print('received', len(sizes), 'sizes', sorted(set(sizes)), flush=True)
'''

PUBLISHER = '''
import array, time, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node('profile_probe_pub')
pub = node.create_publisher(Image, 'profile_probe', qos_profile_sensor_data)
deadline = time.monotonic() + 30
while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
payload = array.array('B', bytes(1920 * 1080 * 3))
for _ in range(200):
    msg = Image(height=1080, width=1920, encoding='rgb8', step=1920 * 3)
    msg.data = payload
    pub.publish(msg)
    time.sleep(0.1)
'''


def test_best_effort_1080p_frames_arrive_with_the_profile(run_python) -> None:
    """Best-effort 1080p rgb8 images (6.2 MB) reach another process through the profile."""
    assert PROFILE.is_file()
    env = {'FASTDDS_DEFAULT_PROFILES_FILE': str(PROFILE)}
    subscriber = run_python(SUBSCRIBER.format(frames=FRAMES), env=env)
    subscriber.wait_for(r'subscribed', timeout=60)
    run_python(PUBLISHER, env=env)
    line = subscriber.wait_for(r'received \d+ sizes .*', timeout=90).group(0)
    assert f'received {FRAMES} sizes [{1920 * 1080 * 3}]' in line, subscriber.output()
