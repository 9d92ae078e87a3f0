"""The shared test helpers in conftest.py behave as documented."""

import os
import signal

import pytest


def test_session_has_an_isolated_ros_domain():
    domain = int(os.environ['ROS_DOMAIN_ID'])
    assert 1 <= domain <= 101
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'


def test_run_python_inherits_the_session_environment(run_python):
    proc = run_python('import os; print("domain", os.environ["ROS_DOMAIN_ID"], '
                      'os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"], os.environ["EXTRA"])',
                      env={'EXTRA': 'yes'})
    match = proc.wait_for(r'^domain (\d+) (\w+) (\w+)$', timeout=60)
    assert match.groups() == (os.environ['ROS_DOMAIN_ID'], 'LOCALHOST', 'yes')
    assert proc.wait(timeout=60) == 0


def test_run_python_module_and_args(run_python):
    proc = run_python(module='json.tool', args=['--help'])
    proc.wait_for('usage', timeout=60)
    assert proc.wait(timeout=60) == 0


def test_wait_for_reports_output_when_the_process_ends_without_a_match(run_python):
    proc = run_python('import sys; print("something else"); sys.exit(3)')
    with pytest.raises(TimeoutError, match='(?s)process ended.*something else'):
        proc.wait_for('never printed', timeout=60)
    assert proc.wait(timeout=60) == 3


def test_wait_for_times_out(run_python):
    proc = run_python('import time; print("started", flush=True); time.sleep(60)')
    proc.wait_for('started', timeout=60)
    with pytest.raises(TimeoutError, match='timed out'):
        proc.wait_for('never printed', timeout=0.5)
    assert proc.stop() == -signal.SIGINT


def test_a_child_stops_on_sigint_even_when_this_process_ignores_it(run_python):
    # As under nohup or `cmd &` in a script: the ignored SIGINT must not reach the child.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = run_python('import time; print("started", flush=True); time.sleep(60)')
    finally:
        signal.signal(signal.SIGINT, previous)
    proc.wait_for('started', timeout=60)
    assert proc.stop() == -signal.SIGINT
    assert proc.signals_sent == [signal.SIGINT]


def test_stop_escalates_when_sigint_is_ignored(run_python):
    proc = run_python('import signal, time\n'
                      'signal.signal(signal.SIGINT, signal.SIG_IGN)\n'
                      'print("ignoring", flush=True)\n'
                      'time.sleep(60)\n')
    proc.wait_for('ignoring', timeout=60)
    assert proc.stop(timeout=1) == -signal.SIGTERM


def test_run_python_needs_exactly_one_of_code_and_module(run_python):
    with pytest.raises(ValueError):
        run_python()
    with pytest.raises(ValueError):
        run_python('pass', module='json')
