"""Tracking-quality evaluation, ROS-free: MOTChallenge files, CLEAR-MOT metrics, scoring runs.

- :mod:`.mot`: MOTChallenge and KITTI-tracking files and their row types;
- :mod:`.metrics`: CLEAR-MOT, identity and HOTA metrics of ground truth against hypotheses;
- :mod:`.hota`: HOTA with DetA and AssA, counted by TrackEval;
- :mod:`.sequences`: scoring several aligned sequences into one report (``centertrack_bag eval``);
- :mod:`.synthetic`: held-out synthetic sequences and their ground truth as MOT rows;
- :mod:`.tracker`: running a model's tracker over held-out sequences and scoring it;
- :mod:`.thresholds`: choosing tracker settings on them (``centertrack_evaluate --sweep``).

Nothing is imported here: reading a MOT file must not load torch, which :mod:`.tracker` needs.
"""
