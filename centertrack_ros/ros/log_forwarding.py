"""The core's Python ``logging`` records (e.g. the CPU fallback) in the node's ROS log."""

from __future__ import annotations

import logging
from typing import Any

PACKAGE_LOGGER = 'centertrack_ros'


class RosLogHandler(logging.Handler):
    """Forwards Python ``logging`` records to a ROS logger at the matching severity."""

    def __init__(self, ros_logger: Any) -> None:
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` through the ROS logger at the matching severity."""
        message = self.format(record)
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warn(message)
        elif record.levelno >= logging.INFO:
            self._ros_logger.info(message)
        else:
            self._ros_logger.debug(message)


def forward_package_logs(ros_logger: Any) -> RosLogHandler:
    """Send the package's log records to ``ros_logger`` only (not also to stderr)."""
    handler = RosLogHandler(ros_logger)
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # no second copy through Python's last-resort handler
    return handler


def stop_forwarding(handler: RosLogHandler) -> None:
    """Undo :func:`forward_package_logs`."""
    logging.getLogger(PACKAGE_LOGGER).removeHandler(handler)
