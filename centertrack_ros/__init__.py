"""centertrack_ros: CenterTrack multi-object tracking for ROS 2.

Sub-packages:
  core      -- ROS-free CenterTrack: configuration, networks, pre/post-processing, tracker.
  training  -- datasets, losses and the training loop (ROS-free).
  ros       -- the thin ROS 2 adapter (node, message conversions, parameters).
  tools     -- command-line programs that reuse the core.
"""

__version__ = '0.1.0'
