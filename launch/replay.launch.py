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

from launch.actions import EmitEvent, ExecuteProcess, RegisterEventHandler, TimerAction
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition

from centertrack_ros.ros import launch_support
from centertrack_ros.runtime.camera_info import camera_info_topic

ARGUMENTS = (
    ('bag', '', 'The bag to replay (folder or storage file)'),
    ('image_topic', '/camera/image_raw', 'Image topic in the bag (sensor_msgs/Image); the node '
                                         'subscribes to it, and to camera_info beside it'),
    ('output', '', 'Bag to record the detections into; empty = ros2 bag record\'s default name'),
    ('rate', '1.0', 'Playback speed factor; lower it when the node cannot keep up'),
    ('storage', 'mcap', 'Storage of the recording: mcap or sqlite3'),
) + launch_support.common_arguments()
DETECTIONS = '/detections'
SHUTDOWN_GRACE = 2.0  # seconds for the last detections to reach the recorder


def replay_actions(value):
    """Return the recorder, the node, and the player started once the node is active."""
    if not value['bag']:
        raise ValueError('bag:= is required (the bag to replay)')
    image = value['image_topic']
    record_cmd = ['ros2', 'bag', 'record', '--storage', value['storage'], DETECTIONS]
    if value['output']:
        record_cmd += ['--output', value['output']]
    recorder = ExecuteProcess(cmd=record_cmd, name='record', output='screen')
    node = LifecycleNode(
        package=launch_support.PACKAGE, executable='centertrack_node', name='centertrack',
        namespace='', parameters=launch_support.node_parameters(value),
        remappings=[('image', image), ('detections', DETECTIONS)],
        output='screen', emulate_tty=True)
    camera_info = camera_info_topic(image)
    player = ExecuteProcess(
        cmd=['ros2', 'bag', 'play', value['bag'], '--topics', image, camera_info,
             '--rate', value['rate']],
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
    return launch_support.launch_description(ARGUMENTS, replay_actions)
