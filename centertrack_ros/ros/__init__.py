"""Thin ROS 2 adapter: the node, its parameters, messages, image subscription, diagnostics."""
