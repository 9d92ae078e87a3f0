"""The package's Fast DDS profile for camera-sized messages: where it is, and who uses it.

With Fast DDS's default transports a message larger than the 512 KiB shared-memory segment
crosses between processes as ~64 KiB UDP fragments. Best effort then loses most 1080p frames;
reliable delivers them, but one lost fragment is repaired only at the writer's next heartbeat,
seconds later (p99 latency 3-6 s with the CPU idle, 2026-12-06). The profile
``config/fastdds_large_images.xml`` gives the shared-memory transport a segment that holds
whole frames; UDP stays for other machines.

Every process the package starts (launch files, demo, benchmarks, soak, ``centertrack_bag
play``/``record``) uses it unless the user has set a profile variable of their own
(:data:`PROFILE_VARIABLES`); a variable set to an empty value switches the package's profile
off (Fast DDS then runs its defaults and logs one ``realpath failed`` error). Fast DDS reads the
variable when a process creates its first participant, so it must be in the environment
before that: in a child's environment, or in this process's before rclpy creates a node.

ROS-free: ``ament_index_python`` is used where it can be imported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, MutableMapping, Optional

PACKAGE = 'centertrack_ros'
PROFILE_FILE = 'fastdds_large_images.xml'
PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
PROFILE_VARIABLES = (PROFILE_VARIABLE, 'FASTRTPS_DEFAULT_PROFILES_FILE')  # new, deprecated
SOURCE_TREE = Path(__file__).resolve().parents[2]
_OWN_SEGMENT = re.compile(r'^(/dev/shm/fastdds_(?!port)[0-9A-Za-z]+)_el$')


def profile_path() -> Optional[Path]:
    """Return the shipped profile: the installed share directory's, else the source tree's.

    None when neither exists (a broken installation).
    """
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE)) / 'config' / PROFILE_FILE)
    except (ImportError, LookupError, ValueError):  # not installed, or no ament index
        pass
    candidates.append(SOURCE_TREE / 'config' / PROFILE_FILE)
    return next((path for path in candidates if path.is_file()), None)


def user_setting(environ: Mapping[str, str]) -> Optional[tuple[str, str]]:
    """Return the ``(variable, value)`` the user set (an empty value too), or None."""
    for name in PROFILE_VARIABLES:
        if name in environ:
            return name, environ[name]
    return None


def profile_environment(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """Return what to add to ``environ`` (default: this process's) for the package's profile.

    Empty when the user set a profile variable (any value, empty included) or the file is
    missing; else ``{FASTDDS_DEFAULT_PROFILES_FILE: <the shipped profile>}``.
    """
    environ = os.environ if environ is None else environ
    if user_setting(environ) is not None:
        return {}
    path = profile_path()
    return {} if path is None else {PROFILE_VARIABLE: str(path)}


def use_package_profile(environ: Optional[MutableMapping[str, str]] = None) -> str:
    """Put the package's profile into ``environ`` (default: this process's) unless set.

    Call it before rclpy creates this process's first node. Returns :func:`describe` of the
    result.
    """
    environ = os.environ if environ is None else environ
    environ.update(profile_environment(environ))
    return describe(environ)


def describe(environ: Optional[Mapping[str, str]] = None) -> str:
    """Say in a few words which profile a process with ``environ`` runs with."""
    environ = os.environ if environ is None else environ
    setting = user_setting(environ)
    if setting is None:
        return 'none (Fast DDS defaults)'
    name, value = setting
    if not value:
        return f'off ({name} set empty: Fast DDS defaults)'
    shipped = profile_path()
    if shipped is not None and Path(value).resolve() == shipped.resolve():
        return f'the package\'s large-image profile ({value})'
    return f'{value} (set in {name})'


def shared_memory_segment_mib(pid: int | str = 'self') -> Optional[float]:
    """Return the size of a process's own Fast DDS shared-memory segment (MiB).

    About 64 MiB with the package's profile, 0.5 MiB with Fast DDS's defaults: the way to check
    that a running process really got the profile. A participant keeps its segment's lock file
    (``/dev/shm/fastdds_<id>_el``) open, which tells its own segment from those of the
    participants it reads from (mapped too). None where ``/proc`` cannot tell (not Linux, no
    such process) or the process has no segment (no participant yet, another RMW).
    """
    try:
        fds = os.listdir(f'/proc/{pid}/fd')
    except OSError:
        return None
    links = []
    for fd in fds:
        try:
            links.append(os.readlink(f'/proc/{pid}/fd/{fd}'))
        except OSError:  # closed meanwhile
            continue
    sizes = []
    for segment in own_segments(links):
        try:
            sizes.append(os.stat(segment).st_size)
        except OSError:
            continue
    return max(sizes) / 2 ** 20 if sizes else None


def own_segments(open_files: Iterable[str]) -> list[str]:
    """Return the Fast DDS segments whose lock files are among a process's ``open_files``."""
    return sorted({match.group(1) for match in map(_OWN_SEGMENT.match, open_files) if match})


def transport_advice() -> str:
    """Say what fixes stalled or lost delivery of large frames (for logs and diagnostics).

    On one host, the profile for the publisher (which decides how a frame travels) and the
    subscriber; between machines, kernel buffers big enough for a frame's UDP fragments.
    """
    path = profile_path()
    where = str(path) if path is not None else f'<share>/{PACKAGE}/config/{PROFILE_FILE}'
    return (f'On this host: run the camera driver (the publisher) and this node with the '
            f'package\'s large-image Fast DDS profile, {PROFILE_VARIABLE}={where} (the '
            f'package\'s launch files and tools set it unless a profile is set; this node runs '
            f'with: {describe()}). For frames that cross machines: raise the kernel\'s socket '
            'receive buffers (sysctl net.core.rmem_max and net.core.rmem_default, e.g. '
            '26214400, and net.ipv4.ipfrag_high_thresh), or send compressed images '
            '(use_compressed: true).')


if __name__ == '__main__':  # `python3 -m centertrack_ros.runtime.dds_profile`: the file's path
    import sys
    found = profile_path()
    if found is None:
        sys.exit(f'{PROFILE_FILE} is not installed with {PACKAGE}')
    print(found)
