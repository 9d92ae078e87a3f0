"""Tracking-quality evaluation, ROS-free: CLEAR-MOT, identity and HOTA metrics, scoring runs.

- :mod:`.metrics`: CLEAR-MOT, identity and HOTA metrics of ground truth against hypotheses;
- :mod:`.hota`: HOTA with DetA and AssA, counted by TrackEval;
- :mod:`.sequences`: scoring several aligned sequences into one report (``centertrack_bag eval``);
- :mod:`.synthetic`: the held-out synthetic sequences;
- :mod:`.tracker`: running a model's tracker over held-out sequences and scoring it;
- :mod:`.thresholds`: choosing tracker settings on them (``centertrack_evaluate --sweep``).

The files it scores (MOTChallenge rows, KITTI-tracking labels) are read by
:mod:`centertrack_ros.datasets`. Nothing is imported here: scoring rows must not load torch,
which :mod:`.tracker` needs.
"""
