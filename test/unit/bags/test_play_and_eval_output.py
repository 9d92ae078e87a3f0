"""What ``play`` publishes beside image topics, and ``eval --json -`` on stdout (no DDS)."""

from __future__ import annotations

import json

from support.bags import cli

from centertrack_ros.bags.io import TopicSummary
from centertrack_ros.bags.live import camera_info_companions

IMAGE, COMPRESSED = 'sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'
INFO = 'sensor_msgs/msg/CameraInfo'


def topics(*entries):
    return {name: TopicSummary(name, msgtype, 10) for name, msgtype in entries}


def test_camera_info_goes_with_its_image_topic_and_follows_a_remap():
    bag = topics(('/camera/image_raw', IMAGE), ('/camera/camera_info', INFO),
                 ('/rear/image_raw/compressed', COMPRESSED), ('/rear/camera_info', INFO),
                 ('/side/image_raw', IMAGE), ('/side/camera_info', 'std_msgs/msg/String'),
                 ('/ground_truth', 'vision_msgs/msg/Detection2DArray'))
    images = [bag['/camera/image_raw'], bag['/rear/image_raw/compressed'],
              bag['/side/image_raw']]
    assert camera_info_companions(bag, images, {}) == {
        '/camera/camera_info': '/camera/camera_info', '/rear/camera_info': '/rear/camera_info'}
    remapped = camera_info_companions(bag, images[:2], {
        '/camera/image_raw': '/front/image_raw', '/rear/image_raw/compressed': '/image/compressed'})
    assert remapped == {'/camera/camera_info': '/front/camera_info',
                        '/rear/camera_info': '/camera_info'}
    # Already chosen, or no image topic chosen: nothing added.
    assert camera_info_companions(bag, [bag['/camera/image_raw'], bag['/camera/camera_info']],
                                  {}) == {}
    assert camera_info_companions(bag, [bag['/ground_truth']], {}) == {}


def test_eval_json_to_stdout_alone(tmp_path, capsys):
    gt_root, results = tmp_path / 'gt', tmp_path / 'results'
    (gt_root / 'SEQ' / 'gt').mkdir(parents=True)
    (gt_root / 'SEQ' / 'gt' / 'gt.txt').write_text('1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n')
    results.mkdir()
    (results / 'SEQ.txt').write_text('1,3,0,0,10,10,0.9,-1,-1,-1\n2,3,1,0,10,10,0.9,-1,-1,-1\n')
    capsys.readouterr()
    assert cli('eval', '--gt', gt_root, '--tracks', results, '--json', '-') == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # the whole of stdout
    assert report['sequences']['SEQ']['num_gt'] == 2
    assert 'SEQ' in err and 'MOTA' in err  # the table went to stderr
    # Without --json -, the table is the standard output.
    assert cli('eval', '--gt', gt_root, '--tracks', results) == 0
    out, err = capsys.readouterr()
    assert 'MOTA' in out and not out.lstrip().startswith('{')
