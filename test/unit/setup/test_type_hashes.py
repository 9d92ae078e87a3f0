"""Every message built from msg/ has the type hash of its upstream definition.

msg/type_hashes.json records the RIHS01 hashes of the upstream .msg files (vision_msgs 4.1.1,
autoware_msgs main at 1.12.0, foxglove_msgs 3.1.0; repository and commit beside them). The
packages in the environment (built from msg/ by the setup, or a distribution's) must carry
the same hashes in their generated type descriptions, and the bag tools' rosbags types
(registered from msg/'s text) must hash the same. test/ros/test_interface_hashes.py checks the
hashes rclpy publishers advertise.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import REPO

from centertrack_ros import msg_defs

MSG_ROOT = REPO / 'msg'
RECORD = json.loads((MSG_ROOT / 'type_hashes.json').read_text())['packages']
PACKAGES = tuple(RECORD)
EVERY_TYPE = [(package, name) for package in PACKAGES for name in sorted(RECORD[package]['hashes'])]


def test_the_record_covers_every_message_built_here_with_its_provenance():
    assert set(PACKAGES) == set(msg_defs.INTERFACE_PACKAGES)
    assert {p.name for p in MSG_ROOT.iterdir() if p.is_dir()} == set(PACKAGES)
    for package, entry in RECORD.items():
        assert re.fullmatch(r'[\w.-]+/[\w.-]+', entry['repository'])
        assert re.fullmatch(r'[0-9a-f]{40}', entry['commit'])
        assert entry.get('tag') or entry.get('branch')
        built = {p.stem for p in (MSG_ROOT / package / 'msg').glob('*.msg')}
        assert built == set(entry['hashes']), package
        for value in entry['hashes'].values():
            assert re.fullmatch(r'RIHS01_[0-9a-f]{64}', value)


def test_vision_msgs_hashes_in_the_package_equal_the_record():
    assert msg_defs.VISION_MSGS_TYPE_HASHES == RECORD['vision_msgs']['hashes']


@pytest.mark.parametrize('package', PACKAGES)
def test_each_folder_is_an_interface_package_whose_dependencies_agree(package):
    folder = MSG_ROOT / package
    root = ET.parse(folder / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == package
    assert root.findtext('export/build_type') == 'ament_cmake'
    assert root.findtext('member_of_group') == 'rosidl_interface_packages'
    depends = {e.text for e in root.findall('depend')}
    cmake = (folder / 'CMakeLists.txt').read_text()
    assert f'project({package})' in cmake
    found = set(re.findall(r'find_package\((\w+) REQUIRED\)', cmake)) - {
        'ament_cmake', 'rosidl_default_generators'}
    assert found == depends
    listed = re.search(r'DEPENDENCIES ([\w ]+)', cmake).group(1).split()
    assert set(listed) == depends
    # Every message type a definition names comes from the package itself or a dependency.
    for path in (folder / 'msg').glob('*.msg'):
        for line in path.read_text().splitlines():
            field = line.split('#')[0].split()
            if field and '/' in field[0]:
                assert field[0].split('/')[0] in depends | {package}, (path.name, line)


def test_colcon_and_rosdep_do_not_see_the_fallback_packages():
    """A workspace build uses the distribution's packages, however msg/ is pointed at.

    A workspace crawl does not enter the centertrack_ros package (the repository root), and a
    crawl of msg/ or of one of its folders (``colcon --base-paths``/``--paths``,
    ``rosdep --from-paths``) stops at the COLCON_IGNORE markers. catkin_pkg's crawler (rosdep's)
    honours them as colcon does.
    """
    from catkin_pkg.packages import find_packages

    assert (MSG_ROOT / 'COLCON_IGNORE').is_file()
    assert [p.name for p in find_packages(str(REPO)).values()] == ['centertrack_ros']
    assert find_packages(str(MSG_ROOT)) == {}
    for package in PACKAGES:
        assert (MSG_ROOT / package / 'COLCON_IGNORE').is_file()
        assert find_packages(str(MSG_ROOT / package)) == {}


def _share(package: str) -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(package))


@pytest.mark.parametrize(('package', 'name'), EVERY_TYPE)
def test_generated_type_descriptions_carry_the_upstream_hashes(package, name):
    description = json.loads((_share(package) / 'msg' / f'{name}.json').read_text())
    own = description['type_hashes'][0]
    assert own['type_name'] == f'{package}/msg/{name}'
    assert own['hash_string'] == RECORD[package]['hashes'][name]


def test_rosbags_types_from_our_text_hash_as_upstream():
    from centertrack_ros.bags.typestore import missing_interfaces, typestore

    assert missing_interfaces() == ()
    store = typestore()
    for package, name in EVERY_TYPE:
        assert store.hash_rihs01(f'{package}/msg/{name}') == RECORD[package]['hashes'][name], \
            (package, name)
