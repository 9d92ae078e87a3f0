"""The latest-frame inbox between the subscriptions and the worker: newest kept, waits, close."""

from __future__ import annotations

import threading

from centertrack_ros.runtime.inbox import LatestFrames


def test_latest_frames_keep_only_the_newest_item_of_each_camera():
    inbox = LatestFrames(2)
    assert inbox.put(0, 1) is False
    assert inbox.put(0, 2) is True and inbox.put(0, 3) is True
    assert inbox.put(1, 'b') is False
    assert inbox.take(timeout=0) == {0: 3, 1: 'b'}
    assert inbox.take(timeout=0) == {}


def test_latest_frames_wake_a_waiting_taker_and_close():
    inbox = LatestFrames()
    got = []
    taker = threading.Thread(target=lambda: got.append(inbox.take(timeout=30)))
    taker.start()
    inbox.put(0, 'frame')
    taker.join(30)
    assert got == [{0: 'frame'}]
    closer = threading.Thread(target=lambda: got.append(inbox.take(timeout=30)))
    closer.start()
    inbox.close()
    closer.join(30)
    assert not closer.is_alive() and got[-1] == {}
    inbox.put(0, 'late')
    assert inbox.take(timeout=0) == {}  # closed
    inbox.open()
    inbox.put(0, 'again')
    assert inbox.take(timeout=0) == {0: 'again'}


def test_an_item_put_while_closed_is_dropped_not_taken_after_reopening():
    inbox = LatestFrames(2)
    inbox.put(0, 'before')
    inbox.close()
    inbox.put(1, 'while inactive')  # would be tracked after the next activation, stale
    inbox.open()
    assert inbox.take(timeout=0) == {}
    inbox.put(1, 'after')
    assert inbox.take(timeout=0) == {1: 'after'}


def test_latest_frames_wait_for_the_other_cameras_only_as_long_as_asked():
    inbox = LatestFrames(2)
    inbox.put(0, 'a')
    threading.Timer(0.05, lambda: inbox.put(1, 'b')).start()
    assert inbox.take(timeout=0, wait=10.0) == {0: 'a', 1: 'b'}  # returns once both are in
    inbox.done([0, 1])
    inbox.put(1, 'c')
    assert inbox.take(timeout=0, wait=0.05) == {1: 'c'}  # camera 0 stays silent


def test_a_camera_taken_is_busy_until_done_and_its_next_item_keeps_its_place():
    """Several takers (the worker's lanes) never hold two items of one camera at once."""
    inbox = LatestFrames(2)
    inbox.put(0, 'a1')
    assert inbox.take(timeout=0, limit=1) == {0: 'a1'} and inbox.busy(0)
    inbox.put(0, 'a2')  # arrives while a1 is processed
    inbox.put(1, 'b1')
    assert inbox.take(timeout=0, limit=1) == {1: 'b1'}  # a2 waits for a1 to be done
    assert inbox.take(timeout=0) == {}
    inbox.done([0])
    assert not inbox.busy(0) and inbox.take(timeout=0) == {0: 'a2'}
    got = []
    taker = threading.Thread(target=lambda: got.append(inbox.take(timeout=30)))
    inbox.put(1, 'b2')  # camera 1 is still busy with b1: a waiting taker gets it once done
    taker.start()
    inbox.done([1])
    taker.join(30)
    assert got == [{1: 'b2'}]
