"""Dataset readers, ROS-free: the files and folders of public tracking datasets, read once.

- :mod:`.mot`: MOTChallenge text rows (ground truth, detections, results), reading and writing,
  and the MOT16/17/20 class ids;
- :mod:`.seqinfo`: a MOTChallenge ``seqinfo.ini``, reading and writing;
- :mod:`.mot_sequence`: a MOTChallenge sequence folder (images, ``seqinfo.ini``, ``gt/gt.txt``);
- :mod:`.kitti`: KITTI-tracking label files, their conversion to MOT rows, and a sequence of a
  KITTI-tracking root (``image_02/<seq>``, ``label_02/<seq>.txt``);
- :mod:`.coco`: COCO-json annotations with CenterTrack's video fields;
- :mod:`.synthetic`: the ground truth of a generated sequence as MOT rows;
- :mod:`.folders`: image files of a folder in natural order, and reading them.

Every "this file or folder is not what it claims to be" is a
:class:`~centertrack_ros.core.errors.DatasetError` whose message names the file. This package
sits beside the core: it imports only :mod:`centertrack_ros.core` and
:mod:`centertrack_ros.synthetic`, and evaluation, training and the bag tools read their data
through it. Nothing is imported here, so reading a MOT file loads neither OpenCV nor torch.
"""
