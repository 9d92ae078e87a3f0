"""A camera driver in a process of its own, for tests over DDS without any DDS profile.

It publishes ``bgr8`` frames of a synthetic drive with the QoS it is given, optionally a few
malformed messages before each frame, and waits for the node's detections of each frame before
sending the next (a frame not answered within ``--timeout`` counts as lost). It prints one line
per frame, ``frame <i> answered ids <ids>`` or ``frame <i> lost``, and at the end
``answered <n> of <m>``. With ``--record FILE`` it also writes every answer as a JSON line
(frame index, stamp, and per detection id, class, score and box corners).

    python test/support/camera_process.py --namespace /ns --reliability reliable --size 768x576 \
        --frames 6 --hostile 3 --wait-for-subscription reliable
"""

from __future__ import annotations

import argparse
import array
import json
import sys
import time

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from centertrack_ros.runtime.stamps import set_stamp, stamp_ns
from centertrack_ros.synthetic import SceneConfig, generate_sequence
from centertrack_ros.tools.harness import RosClient, image_msg, reliable_qos

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE,
               'best_effort': ReliabilityPolicy.BEST_EFFORT}


def hostile(index: int, width: int, height: int, stamp: int) -> Image:
    """Build a malformed message of one of four kinds, in turn."""
    kind = index % 4
    msg = Image(width=width, height=height, encoding='bgr8', step=width * 3)
    set_stamp(msg.header.stamp, stamp)
    if kind == 0:
        msg.encoding = 'hsv42'
    elif kind == 1:
        msg.step = width * 3 - 1
    elif kind == 2:
        msg.height = 0
    msg.data = array.array('B', bytes(100 if kind == 3 else msg.step * msg.height))
    return msg


def main() -> int:
    """Publish the frames and report which were answered."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--namespace', required=True)
    parser.add_argument('--name', default='camera_process')
    parser.add_argument('--reliability', choices=list(RELIABILITY), required=True)
    parser.add_argument('--depth', type=int, default=5)
    parser.add_argument('--size', default='768x576')
    parser.add_argument('--seed', type=int, default=5, help='synthetic drive seed')
    parser.add_argument('--record', help='write each answer as a JSON line to this file')
    parser.add_argument('--frames', type=int, default=6)
    parser.add_argument('--hostile', type=int, default=0, help='malformed messages per frame')
    parser.add_argument('--pause', type=float, default=0.0, help='seconds between frames')
    parser.add_argument('--timeout', type=float, default=60.0)
    parser.add_argument('--wait-for-subscription', choices=list(RELIABILITY),
                        help="first wait until the node's image subscription has this QoS")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    sequence = generate_sequence(SceneConfig(width=width, height=height,
                                             num_frames=max(args.frames, 1),
                                             seed=args.seed))

    client = RosClient(args.name)
    topic = f'{args.namespace}/image'
    publisher = client.node.create_publisher(Image, topic, QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=args.depth,
        reliability=RELIABILITY[args.reliability]))
    answers = client.subscribe(  # (stamp, ids) of each result
        Detection2DArray, f'{args.namespace}/detections', reliable_qos(50),
        transform=lambda msg: (stamp_ns(msg.header.stamp), [
            (int(d.id), d.results[0].hypothesis.class_id, d.results[0].hypothesis.score,
             d.bbox.center.position.x - d.bbox.size_x / 2,
             d.bbox.center.position.y - d.bbox.size_y / 2,
             d.bbox.center.position.x + d.bbox.size_x / 2,
             d.bbox.center.position.y + d.bbox.size_y / 2) for d in msg.detections]))
    wanted = RELIABILITY.get(args.wait_for_subscription)

    def ready() -> bool:
        infos = client.node.get_subscriptions_info_by_topic(topic)
        return bool(infos) and (wanted is None or all(
            i.qos_profile.reliability == wanted for i in infos))

    try:
        client.wait_until(ready, f'a subscription on {topic}', args.timeout)
    except TimeoutError:
        print(f'no subscription {args.wait_for_subscription or ""} on {topic}', flush=True)
        client.close()
        return 1
    print('subscription ready', flush=True)

    record = open(args.record, 'w', encoding='utf-8') if args.record else None
    stamp = time.time_ns()
    count = 0
    for index in range(args.frames):
        stamp += 100_000_000
        for k in range(args.hostile):
            publisher.publish(hostile(index * args.hostile + k, width, height, stamp - k - 1))
        publisher.publish(image_msg(sequence.image(index), stamp, 'camera_process'))
        try:
            _, detections = answers.wait_for(lambda answer, s=stamp: answer[0] == s,
                                             args.timeout)
        except TimeoutError:
            print(f'frame {index} lost', flush=True)
        else:
            count += 1
            print(f'frame {index} answered ids {sorted(d[0] for d in detections)}', flush=True)
            if record is not None:
                record.write(json.dumps({'frame': index, 'stamp': stamp,
                                         'detections': detections}) + '\n')
                record.flush()
        time.sleep(args.pause)
    print(f'answered {count} of {args.frames}', flush=True)
    if record is not None:
        record.close()
    client.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
