"""Launch CenterTrack for several cameras: one node serving all of them, or one node each.

    ros2 launch centertrack_ros multi_camera.launch.py cameras:=front,left,right

starts one node, ``/centertrack``, with ``cameras: [front, left, right]``: it subscribes
``/front/image_raw`` (``image_topic`` inside each camera's namespace) and publishes
``/front/detections``, and so on, with one model in memory and every camera's newest frame in
one network call. ``one_node_per_camera:=true`` starts ``/front/centertrack``,
``/left/centertrack``, ... instead, each with its own copy of the model (more memory, no shared
batch; each node can be restarted on its own). The topics are the same either way.
"""

from launch_ros.actions import Node

from centertrack_ros.ros import launch_support

ARGUMENTS = (
    ('cameras', 'front,rear', 'Comma-separated camera names; each becomes a namespace'),
    ('image_topic', 'image_raw', 'Image topic inside each camera namespace (relative name); '
                                 'compressed and camera_info topics follow it'),
    ('one_node_per_camera', 'false', 'true: a node (and a model) per camera instead of one'),
) + launch_support.common_arguments()


def node_actions(value):
    """Return the node(s) for the cameras, with the launch arguments resolved."""
    cameras = [name.strip() for name in value['cameras'].split(',') if name.strip()]
    if not cameras:
        raise ValueError('cameras:= needs at least one camera name')
    if len(set(cameras)) != len(cameras):
        raise ValueError(f'cameras:= lists a camera twice: {value["cameras"]}')
    image = value['image_topic']
    common = dict(package=launch_support.PACKAGE, executable='centertrack_node',
                  name='centertrack', output='screen', emulate_tty=True)
    if value['one_node_per_camera'].lower() in ('true', '1', 'yes'):
        return [Node(namespace=camera, parameters=launch_support.node_parameters(value),
                     remappings=[('image', image)], **common) for camera in cameras]
    return [Node(parameters=launch_support.node_parameters(value, cameras=cameras),
                 remappings=[(f'{camera}/image', f'{camera}/{image}') for camera in cameras],
                 **common)]


def generate_launch_description():
    """Declare the arguments and the nodes."""
    return launch_support.launch_description(ARGUMENTS, node_actions)
