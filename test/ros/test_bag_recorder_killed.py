"""A recorder killed with SIGKILL keeps what it flushed, readable by us and by rosbags.

``centertrack_bag record`` flushes its bag (storage and ``metadata.yaml``) every second; the
test publishes, waits until ``metadata.yaml`` counts every message (the flush is visible on
disk), kills the recorder without warning, and reads what it left (issue 30, item 3).
"""

from __future__ import annotations

import signal

import pytest
import yaml
from rosbags.rosbag2 import Reader
from std_msgs.msg import String

from centertrack_ros.bags.io import BagReader
from centertrack_ros.tools.harness import reliable_qos

pytestmark = pytest.mark.ros

MESSAGES = 20


def flushed_count(bag) -> int:
    try:
        info = yaml.safe_load((bag / 'metadata.yaml').read_text())
    except (OSError, yaml.YAMLError):
        return -1  # not there yet, or being replaced
    return int(info['rosbag2_bagfile_information']['message_count'])


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_a_killed_recorder_keeps_what_it_flushed(tmp_path, run_python, ros_client, storage):
    topic = f'/killed_recorder_{storage}'
    bag = tmp_path / 'recorded'
    publisher = ros_client.node.create_publisher(String, topic, reliable_qos(MESSAGES))
    recorder = run_python(module='centertrack_ros.tools.bag', args=[
        '-v', 'record', topic, '-o', bag, '--storage', storage, '-q'])
    recorder.wait_for(rf'recording {topic}', timeout=60)
    ros_client.wait_until(lambda: publisher.get_subscription_count() > 0,
                          'the recorder to subscribe')
    for i in range(MESSAGES):
        publisher.publish(String(data=f'message {i}'))
    ros_client.wait_until(lambda: flushed_count(bag) == MESSAGES, 'the flush of every message',
                          timeout=60)
    recorder.send_signal(signal.SIGKILL)
    assert recorder.wait(30) == -signal.SIGKILL
    ros_client.node.destroy_publisher(publisher)

    with BagReader(bag) as reader:
        assert reader.storage == storage
        texts = [m.data for _, _, m in reader.messages([topic])]
    assert texts == [f'message {i}' for i in range(MESSAGES)]
    reader = Reader(bag)  # rosbags, through the metadata.yaml written while recording
    reader.open()
    try:
        assert reader.message_count == MESSAGES
        assert len(list(reader.messages())) == MESSAGES
    finally:
        reader.close()
