"""A camera driver in a process of its own, for tests over DDS without any DDS profile.

It publishes ``bgr8`` frames of a synthetic drive with the QoS it is given, optionally a few
malformed messages before each frame, and waits for the node's detections of each frame before
sending the next (a frame not answered within ``--timeout`` counts as lost). It prints one line
per frame, ``frame <i> answered ids <ids>`` or ``frame <i> lost``, and at the end
``answered <n> of <m>``.

    python camera_process.py --namespace /ns --reliability reliable --size 768x576 \
        --frames 6 --hostile 3 --wait-for-subscription reliable
"""

from __future__ import annotations

import argparse
import array
import sys
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from centertrack_ros.synthetic import SceneConfig, generate_sequence

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE,
               'best_effort': ReliabilityPolicy.BEST_EFFORT}


def hostile(index: int, width: int, height: int, stamp_ns: int) -> Image:
    """Build a malformed message of one of four kinds, in turn."""
    kind = index % 4
    msg = Image(width=width, height=height, encoding='bgr8', step=width * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    if kind == 0:
        msg.encoding = 'hsv42'
    elif kind == 1:
        msg.step = width * 3 - 1
    elif kind == 2:
        msg.height = 0
    msg.data = array.array('B', bytes(100 if kind == 3 else msg.step * msg.height))
    return msg


def frame_message(image, stamp_ns: int) -> Image:
    """Build a ``bgr8`` Image message holding ``image``."""
    height, width = image.shape[:2]
    msg = Image(width=width, height=height, encoding='bgr8', step=width * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = 'camera_process'
    msg.data = array.array('B', image.tobytes())
    return msg


def main() -> int:
    """Publish the frames and report which were answered."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--namespace', required=True)
    parser.add_argument('--name', default='camera_process')
    parser.add_argument('--reliability', choices=list(RELIABILITY), required=True)
    parser.add_argument('--depth', type=int, default=5)
    parser.add_argument('--size', default='768x576')
    parser.add_argument('--frames', type=int, default=6)
    parser.add_argument('--hostile', type=int, default=0, help='malformed messages per frame')
    parser.add_argument('--pause', type=float, default=0.0, help='seconds between frames')
    parser.add_argument('--timeout', type=float, default=60.0)
    parser.add_argument('--wait-for-subscription', choices=list(RELIABILITY),
                        help="first wait until the node's image subscription has this QoS")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    sequence = generate_sequence(SceneConfig(width=width, height=height,
                                             num_frames=max(args.frames, 1), seed=5))

    rclpy.init()
    node = rclpy.create_node(args.name)
    topic = f'{args.namespace}/image'
    publisher = node.create_publisher(Image, topic, QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=args.depth,
        reliability=RELIABILITY[args.reliability]))
    answers: dict[int, list[int]] = {}
    answered = threading.Condition()

    def on_detections(msg: Detection2DArray) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with answered:
            answers[stamp] = sorted(int(d.id) for d in msg.detections)
            answered.notify_all()

    node.create_subscription(Detection2DArray, f'{args.namespace}/detections', on_detections,
                             QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def spin() -> None:
        try:
            while rclpy.ok():
                executor.spin_once(timeout_sec=0.1)
        except (ExternalShutdownException, ShutdownException):
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()

    deadline = time.monotonic() + args.timeout
    wanted = RELIABILITY.get(args.wait_for_subscription)

    def ready() -> bool:
        infos = node.get_subscriptions_info_by_topic(topic)
        return bool(infos) and (wanted is None or all(
            i.qos_profile.reliability == wanted for i in infos))

    while not ready():
        if time.monotonic() > deadline:
            print(f'no subscription {args.wait_for_subscription or ""} on {topic}', flush=True)
            rclpy.try_shutdown()
            spinner.join(10)
            return 1
        time.sleep(0.05)
    print('subscription ready', flush=True)

    stamp = time.time_ns()
    count = 0
    for index in range(args.frames):
        stamp += 100_000_000
        for k in range(args.hostile):
            publisher.publish(hostile(index * args.hostile + k, width, height, stamp - k - 1))
        publisher.publish(frame_message(sequence.image(index), stamp))
        with answered:
            ok = answered.wait_for(lambda s=stamp: s in answers, args.timeout)
        if ok:
            count += 1
            print(f'frame {index} answered ids {answers[stamp]}', flush=True)
        else:
            print(f'frame {index} lost', flush=True)
        time.sleep(args.pause)
    print(f'answered {count} of {args.frames}', flush=True)
    rclpy.try_shutdown()
    spinner.join(10)
    return 0


if __name__ == '__main__':
    sys.exit(main())
