"""Launch CenterTrack for several cameras: one node serving all of them, or one node each.

    ros2 launch centertrack_ros multi_camera.launch.py cameras:=front,left,right

starts one node, ``/centertrack``, with ``cameras: [front, left, right]``: it subscribes
``/front/image_raw`` (``image_topic`` inside each camera's namespace) and publishes
``/front/detections``, and so on, with one model in memory and every camera's newest frame in
one network call. ``one_node_per_camera:=true`` starts ``/front/centertrack``,
``/left/centertrack``, ... instead, each with its own copy of the model (more memory, no shared
batch; each node can be restarted on its own). The topics are the same either way.
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
    ('one_node_per_camera', 'false', 'true: a node (and a model) per camera instead of one'),
)


def node_actions(context):
    """Return the node(s) for the cameras, with the launch arguments resolved."""
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
    common = dict(package=PACKAGE, executable='centertrack_node', name='centertrack',
                  output='screen', emulate_tty=True)
    if value['one_node_per_camera'].lower() in ('true', '1', 'yes'):
        return [Node(namespace=camera,
                     parameters=[value['params_file']] + ([overrides] if overrides else []),
                     remappings=[('image', image), ('image/compressed', image + '/compressed')],
                     **common) for camera in cameras]
    overrides['cameras'] = cameras
    remappings = []
    for camera in cameras:
        remappings += [(f'{camera}/image', f'{camera}/{image}'),
                       (f'{camera}/image/compressed', f'{camera}/{image}/compressed')]
    return [Node(parameters=[value['params_file'], overrides], remappings=remappings, **common)]


def generate_launch_description():
    """Declare the arguments and the nodes."""
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=text)
         for name, default, text in ARGUMENTS] + [OpaqueFunction(function=node_actions)])
