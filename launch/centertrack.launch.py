"""Launch one centertrack node on one camera.

    ros2 launch centertrack_ros centertrack.launch.py image_topic:=/camera/image_raw
    ros2 launch centertrack_ros centertrack.launch.py namespace:=front device:=cuda \
        model_path:=/models/mot17_half.pth params_file:=/my/centertrack.yaml

``model_path`` and ``device`` override the parameters file only when given; left empty, the
file's values (and so its defaults: the bundled model, ``auto`` device) apply.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = 'centertrack_ros'
ARGUMENTS = (
    ('namespace', '', 'Namespace of the node and of its topics (e.g. front)'),
    ('image_topic', 'image', 'Camera topic (sensor_msgs/Image); with use_compressed the node '
                             'subscribes to <image_topic>/compressed'),
    ('params_file', os.path.join(get_package_share_directory(PACKAGE), 'config',
                                 'centertrack.yaml'), 'Parameters YAML file'),
    ('model_path', '', 'Checkpoint file; empty = the parameters file\'s model.path'),
    ('device', '', 'auto, cpu, cuda or cuda:N; empty = the parameters file\'s device'),
)


def node_actions(context):
    """Return the node, with the launch arguments resolved."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    overrides = {}
    if value['model_path']:
        overrides['model.path'] = value['model_path']
    if value['device']:
        overrides['device'] = value['device']
    image = value['image_topic']
    return [Node(
        package=PACKAGE,
        executable='centertrack_node',
        name='centertrack',
        namespace=value['namespace'],
        parameters=[value['params_file']] + ([overrides] if overrides else []),
        remappings=[('image', image), ('image/compressed', image + '/compressed')],
        output='screen',
        emulate_tty=True,
    )]


def generate_launch_description():
    """Declare the arguments and the node."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=node_actions)])
