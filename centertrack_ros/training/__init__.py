"""Training: datasets, losses, training loop (ROS-free)."""
