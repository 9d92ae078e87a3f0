"""centertrack_ros: CenterTrack multi-object tracking for ROS 2.

Sub-packages:
  core       -- ROS-free CenterTrack: configuration, networks, pre/post-processing, tracker.
  runtime    -- ROS-free frame runtime: frame decoding, stream rules, the frame runner.
  synthetic  -- procedural driving sequences with exact ground truth (ROS-free).
  datasets   -- MOTChallenge, KITTI-tracking and COCO-video files and folders (ROS-free).
  evaluation -- tracking metrics (CLEAR-MOT, identity, HOTA), scoring tracker runs (ROS-free).
  training   -- datasets, losses and the training loop (ROS-free).
  ros        -- the thin ROS 2 adapter (node, parameters, messages, diagnostics).
  bags       -- rosbag2 files without a ROS installation (conversion, offline runs).
  tools      -- command-line programs that reuse the core.

Importing the package makes idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY``
defaults to ``PASSIVE`` unless already set): with libgomp's default busy-waiting, CPU
inference on a 2-core machine ran 25-45x slower (4 s instead of 0.09 s a frame) whenever
another process used a core -- the normal situation on a robot. It only takes effect if torch
has not been imported yet, so every entry point imports this package first.
"""

import os as _os

_os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

__version__ = '0.1.0'
