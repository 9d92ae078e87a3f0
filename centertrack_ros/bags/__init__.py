"""Rosbag2 tooling without a ROS installation: convert, run offline, play, record, evaluate.

Reading and writing use the pure-Python ``rosbags`` library (MCAP and sqlite3 storage, CDR
serialisation), with the ``vision_msgs``, ``autoware_perception_msgs`` and ``foxglove_msgs``
types registered from the package's ``msg/`` folders (:mod:`.typestore`), so everything except
live ``play``/``record`` works where rclpy is absent. Live play and
record import rclpy only when called.
"""

from .errors import BagError

__all__ = ['BagError']
