"""ROS-free frame runtime: what the node does with frames, reusable without ROS.

- ``frames``: image messages (rclpy's or rosbags') validated and converted to BGR;
- ``stream_rules``: when a camera's tracks no longer fit its stream (time jumps, gaps, format);
- ``runner``: decoded frames of one or several cameras in, tracks and boxes to publish out;
- ``worker``: the inference thread between the subscriptions and the publishers;
- ``inbox``, ``stats``, ``stamps``: the newest message per camera, counters, header stamps;
- ``boxes``, ``boxes3d``, ``drawing``: what is published for a frame (2D boxes, and 3D boxes
  for a model with 3D heads), and the debug image;
- ``camera_info``: a ``CameraInfo``-like object to the camera matrix of the tracked image;
- ``settings``: the node's settings (names, defaults, validation), used by the node and the
  bag tool alike.
"""
