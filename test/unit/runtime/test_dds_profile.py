"""The shipped Fast DDS profile is found and given to every process unless the user set one.

The rules only (which environment gets what); that a process really runs with the profile is
checked over DDS in ``test/ros/test_dds_profile_defaults.py``.
"""

from __future__ import annotations

import subprocess
import sys

from support import REPO

from centertrack_ros.runtime import dds_profile
from centertrack_ros.runtime.dds_profile import (
    PROFILE_VARIABLE,
    describe,
    own_segments,
    profile_environment,
    profile_path,
    shared_memory_segment_mib,
    transport_advice,
    use_package_profile,
)
from centertrack_ros.tools.harness import process_env

SHIPPED = REPO / 'config' / 'fastdds_large_images.xml'


def test_the_profile_is_found_installed_or_in_the_source_tree(monkeypatch):
    path = profile_path()
    assert path is not None and path.resolve() == SHIPPED.resolve()
    # Without an ament index entry (a plain source checkout) the source tree's file is used.
    monkeypatch.setattr(dds_profile, 'PACKAGE', 'no_such_package_anywhere')
    assert profile_path() == SHIPPED.resolve()


def test_the_module_prints_the_path_the_readme_exports():
    # README: export FASTDDS_DEFAULT_PROFILES_FILE=$(python3 -m centertrack_ros.runtime.dds_profile)
    done = subprocess.run([sys.executable, '-m', 'centertrack_ros.runtime.dds_profile'],
                          capture_output=True, text=True, timeout=60, check=True)
    printed = done.stdout.strip()
    assert printed.endswith('fastdds_large_images.xml')
    assert open(printed, encoding='utf-8').read() == SHIPPED.read_text(encoding='utf-8')


def test_an_environment_without_a_profile_gets_the_package_profile():
    added = profile_environment({'HOME': '/root'})
    assert list(added) == [PROFILE_VARIABLE]
    assert added[PROFILE_VARIABLE].endswith('fastdds_large_images.xml')
    environ = {'HOME': '/root'}
    assert describe(environ).startswith('none')
    assert use_package_profile(environ).startswith("the package's large-image profile")
    assert environ[PROFILE_VARIABLE] == added[PROFILE_VARIABLE]


def test_a_profile_the_user_set_is_kept_and_an_empty_one_switches_it_off():
    for name in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'):
        assert profile_environment({name: '/mine.xml'}) == {}
        assert profile_environment({name: ''}) == {}
    environ = {PROFILE_VARIABLE: ''}
    assert use_package_profile(environ).startswith('off (FASTDDS_DEFAULT_PROFILES_FILE set empty')
    assert environ == {PROFILE_VARIABLE: ''}
    assert describe({PROFILE_VARIABLE: '/mine.xml'}) == \
        '/mine.xml (set in FASTDDS_DEFAULT_PROFILES_FILE)'


def test_child_processes_of_the_tools_get_the_profile_unless_told_otherwise(monkeypatch):
    for name in dds_profile.PROFILE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert process_env()[PROFILE_VARIABLE].endswith('fastdds_large_images.xml')
    assert process_env({PROFILE_VARIABLE: ''})[PROFILE_VARIABLE] == ''
    assert process_env({'FASTRTPS_DEFAULT_PROFILES_FILE': '/x.xml'}).get(PROFILE_VARIABLE) is None
    monkeypatch.setenv(PROFILE_VARIABLE, '/users/own.xml')
    assert process_env()[PROFILE_VARIABLE] == '/users/own.xml'


def test_the_advice_names_the_profile_and_the_socket_buffers():
    text = transport_advice()
    assert str(profile_path()) in text and PROFILE_VARIABLE in text
    assert 'net.core.rmem_max' in text and 'use_compressed' in text


def test_a_process_own_segment_is_the_one_whose_lock_file_it_holds(tmp_path):
    open_files = ['/dev/shm/fastdds_ecce61d1766c90bd_el',  # its own segment's lock
                  '/dev/shm/fastdds_port26913_el',  # a port, not a segment
                  '/dev/shm/fastdds_72d0383b78cfb050',  # a peer's segment it reads from
                  'socket:[12345]', '/work/model.onnx']
    assert own_segments(open_files) == ['/dev/shm/fastdds_ecce61d1766c90bd']
    assert own_segments(open_files[1:]) == []
    assert shared_memory_segment_mib(2 ** 31) is None  # no such process
