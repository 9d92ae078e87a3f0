"""ROS-free CenterTrack core: importable without rclpy."""
