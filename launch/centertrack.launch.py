"""Launch one centertrack node on one camera.

    ros2 launch centertrack_ros centertrack.launch.py image_topic:=/camera/image_raw
    ros2 launch centertrack_ros centertrack.launch.py namespace:=front device:=cuda \
        model_path:=/models/mot17_half.pth params_file:=/my/centertrack.yaml

The image topic's remap carries the others along (image_transport's convention):
``<image_topic>/compressed`` with ``use_compressed``, and ``camera_info`` beside the image topic.
``model_path`` and ``device`` override the parameters file only when given; left empty, the
file's values (and so its defaults: the bundled model, ``auto`` device) apply.
"""

from launch_ros.actions import Node

from centertrack_ros.ros import launch_support

ARGUMENTS = (
    ('namespace', '', 'Namespace of the node and of its topics (e.g. front)'),
    ('image_topic', 'image', 'Camera topic (sensor_msgs/Image); compressed and camera_info '
                             'topics follow it'),
) + launch_support.common_arguments()


def node_actions(value):
    """Return the node, with the launch arguments resolved."""
    return [Node(package=launch_support.PACKAGE, executable='centertrack_node',
                 name='centertrack', namespace=value['namespace'],
                 parameters=launch_support.node_parameters(value),
                 remappings=[('image', value['image_topic'])], output='screen',
                 emulate_tty=True)]


def generate_launch_description():
    """Declare the arguments and the node."""
    return launch_support.launch_description(ARGUMENTS, node_actions)
