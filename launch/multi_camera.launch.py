"""Launch one centertrack node per camera, each in the camera's namespace.

    ros2 launch centertrack_ros multi_camera.launch.py cameras:=front,left,right

starts ``/front/centertrack`` on ``/front/image_raw`` publishing ``/front/detections``, and so
on. Every node loads its own copy of the model (GPU memory grows with the camera count); they
share the parameters file, ``model_path`` and ``device``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = 'centertrack_ros'
ARGUMENTS = (
    ('cameras', 'front,rear', 'Comma-separated camera names; each becomes a namespace'),
    ('image_topic', 'image_raw', 'Image topic inside each camera namespace (relative name)'),
    ('params_file', os.path.join(get_package_share_directory(PACKAGE), 'config',
                                 'centertrack.yaml'), 'Parameters YAML file shared by all nodes'),
    ('model_path', '', 'Checkpoint file; empty = the parameters file\'s model.path'),
    ('device', '', 'auto, cpu, cuda or cuda:N; empty = the parameters file\'s device'),
)


def node_actions(context):
    """Return one node per camera, with the launch arguments resolved."""
    value = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    cameras = [name.strip() for name in value['cameras'].split(',') if name.strip()]
    if not cameras:
        raise ValueError('cameras:= needs at least one camera name')
    if len(set(cameras)) != len(cameras):
        raise ValueError(f'cameras:= lists a camera twice: {value["cameras"]}')
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
        namespace=camera,
        parameters=[value['params_file']] + ([overrides] if overrides else []),
        remappings=[('image', image), ('image/compressed', image + '/compressed')],
        output='screen',
        emulate_tty=True,
    ) for camera in cameras]


def generate_launch_description():
    """Declare the arguments and the nodes."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=node_actions)])
