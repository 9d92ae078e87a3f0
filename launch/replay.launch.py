"""Replay a bag into a centertrack node and record its detections (needs ``ros2 bag``).

    ros2 launch centertrack_ros replay.launch.py bag:=/data/drive_01 \
        image_topic:=/camera/image_raw output:=/data/drive_01_tracks

Starts ``ros2 bag record`` of the node's ``detections``, the node (its ``image`` remapped to
``image_topic``), and ``ros2 bag play`` of ``image_topic`` once the node is active (it loads
its model first, so frames sent earlier would be lost). When the playback ends, everything
shuts down and the recording is closed. Then score it offline, e.g.
``centertrack_bag eval --gt <bag> --tracks <output>``.

Without ``ros2 bag`` (no ROS distribution), ``centertrack_bag play``/``record`` do the same
from the command line, and ``centertrack_bag run`` tracks a bag offline without dropping frames.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    OpaqueFunction,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition

from launch import LaunchDescription

PACKAGE = 'centertrack_ros'
ARGUMENTS = (
    ('bag', '', 'The bag to replay (folder or storage file)'),
    ('image_topic', '/camera/image_raw', 'Image topic in the bag (sensor_msgs/Image); the node '
                                         'subscribes to it'),
    ('params_file', os.path.join(get_package_share_directory(PACKAGE), 'config',
                                 'centertrack.yaml'), 'Parameters YAML file of the node'),
    ('output', '', 'Bag to record the detections into; empty = ros2 bag record\'s default name'),
    ('model_path', '', 'Checkpoint file; empty = the parameters file\'s model.path'),
    ('device', '', 'auto, cpu, cuda or cuda:N; empty = the parameters file\'s device'),
    ('rate', '1.0', 'Playback speed factor; lower it when the node cannot keep up'),
    ('storage', 'mcap', 'Storage of the recording: mcap or sqlite3'),
)
DETECTIONS = '/detections'
SHUTDOWN_GRACE = 2.0  # seconds for the last detections to reach the recorder


def replay_actions(context):
    """Return the recorder, the node, and the player started once the node is active."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    if not value['bag']:
        raise ValueError('bag:= is required (the bag to replay)')
    overrides = {}
    if value['model_path']:
        overrides['model.path'] = value['model_path']
    if value['device']:
        overrides['device'] = value['device']
    image = value['image_topic']
    record_cmd = ['ros2', 'bag', 'record', '--storage', value['storage'], DETECTIONS]
    if value['output']:
        record_cmd += ['--output', value['output']]
    recorder = ExecuteProcess(cmd=record_cmd, name='record', output='screen')
    node = LifecycleNode(
        package=PACKAGE,
        executable='centertrack_node',
        name='centertrack',
        namespace='',
        parameters=[value['params_file']] + ([overrides] if overrides else []),
        remappings=[('image', image), ('image/compressed', image + '/compressed'),
                    ('detections', DETECTIONS)],
        output='screen',
        emulate_tty=True,
    )
    player = ExecuteProcess(
        cmd=['ros2', 'bag', 'play', value['bag'], '--topics', image, '--rate', value['rate']],
        name='play', output='screen')
    return [
        recorder,
        node,
        # The node configures and activates itself (autostart); play once it is active.
        RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, goal_state='active',
                                               entities=[player])),
        RegisterEventHandler(OnProcessExit(target_action=player, on_exit=[
            TimerAction(period=SHUTDOWN_GRACE, actions=[
                EmitEvent(event=Shutdown(reason='bag playback finished'))])])),
    ]


def generate_launch_description():
    """Declare the arguments and the replay."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=replay_actions)])
