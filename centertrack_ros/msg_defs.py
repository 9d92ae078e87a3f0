"""Text of the interface definitions the package publishes, for tools without ROS (rosbags).

Three interface packages: ``vision_msgs`` (detections), ``autoware_perception_msgs`` (tracked
and detected objects) and ``foxglove_msgs`` (image annotations). Their definitions come from
``msg/<package>/msg`` of a source checkout (this repository's fallback copies, field for field
the upstream packages) or, when the package is installed without its sources (colcon on a ROS
distribution), from the ``share/<package>/msg`` directory found through the ament index.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = 'vision_msgs'
AUTOWARE_PERCEPTION_MSGS = 'autoware_perception_msgs'
FOXGLOVE_MSGS = 'foxglove_msgs'
# Every interface package of msg/, in the order setup_env.sh builds them.
INTERFACE_PACKAGES = (PACKAGE, AUTOWARE_PERCEPTION_MSGS, FOXGLOVE_MSGS)

# ROS 2 type hashes (RIHS01) of the real vision_msgs 4.1.1 messages. Computed once from the
# upstream .msg files (ros-perception/vision_msgs, tag 4.1.1): they were built with
# rosidl_generate_interfaces (target vision_msgs__rosidl_generator_type_description, Kilted
# generators from the ros-* wheels) and the hashes read from the generated
# vision_msgs/msg/<Type>.json "type_hashes". rosbags' Typestore.hash_rihs01 gives the same values.
# Publishers advertise these hashes over DDS; subscribers on a ROS distribution compare them.
# (msg/type_hashes.json records these and the other packages' hashes with their provenance.)
VISION_MSGS_TYPE_HASHES = {
    'BoundingBox2D': 'RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f',
    'BoundingBox2DArray':
        'RIHS01_2464e82838009386d371b523211c21c91d74d313fcdd6788223c531d621cf691',
    'BoundingBox3D': 'RIHS01_bbb73a65c163d7f9bb29009c7bde9f7faa576bd2d23299c4511d19230dab4698',
    'BoundingBox3DArray':
        'RIHS01_a81938db9576b10c2eecd7c5a5da3eac496efd00221b25ed051dfbc81fb56da6',
    'Classification': 'RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143',
    'Detection2D': 'RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea',
    'Detection2DArray': 'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968',
    'Detection3D': 'RIHS01_ddd703be132ab0b69d33121f1bb034132bfbb3b0ac5f9fb1516005ba1c8a265b',
    'Detection3DArray': 'RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018',
    'LabelInfo': 'RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783',
    'ObjectHypothesis': 'RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90',
    'ObjectHypothesisWithPose':
        'RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc',
    'Point2D': 'RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247',
    'Pose2D': 'RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648',
    'VisionClass': 'RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a',
    'VisionInfo': 'RIHS01_95d3116a17484ad91c9a2686e1d54890bbfc3ff6c6a2de137738c4950d45d284',
}
SOURCE_MSG_ROOT = Path(__file__).resolve().parents[1] / 'msg'


def msg_directory(package: str = PACKAGE) -> Path:
    """Return the directory holding the ``.msg`` files of an interface package.

    The repository's ``msg/<package>/msg`` is preferred; otherwise the installed package's share
    directory. Raises FileNotFoundError when neither exists.
    """
    source = SOURCE_MSG_ROOT / package / 'msg'
    if any(source.glob('*.msg')):
        return source
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(package)) / 'msg'
    except (ImportError, LookupError, OSError) as exc:
        raise FileNotFoundError(
            f'no {package} .msg files: {source} is empty and the ament index has no '
            f'{package} ({exc})') from exc
    if not any(share.glob('*.msg')):
        raise FileNotFoundError(f'no .msg files in {share}')
    return share


def interface_definitions(package: str,
                          directory: str | os.PathLike | None = None) -> dict[str, str]:
    """Return ``{'<package>/msg/<Type>': <.msg text>}`` for every definition of a package.

    ``directory`` overrides where the ``.msg`` files are read from (default: msg_directory()).
    """
    root = Path(directory) if directory is not None else msg_directory(package)
    return {
        f'{package}/msg/{path.stem}': path.read_text(encoding='utf-8')
        for path in sorted(root.glob('*.msg'))
    }


def vision_msgs_definitions(directory: str | os.PathLike | None = None) -> dict[str, str]:
    """Return ``{'vision_msgs/msg/<Type>': <.msg text>}`` for every definition."""
    return interface_definitions(PACKAGE, directory)


def register_definitions(typestore, definitions: dict[str, str]):
    """Register ``.msg`` texts (``{'<package>/msg/<Type>': text}``) in a ``rosbags`` typestore.

    Types the store already knows are left as they are. Returns the typestore.
    """
    from rosbags.typesys import get_types_from_msg

    types = {}
    for name, text in definitions.items():
        if name not in typestore.fielddefs:
            types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


def register_vision_msgs(typestore, directory: str | os.PathLike | None = None):
    """Register the vision_msgs types in a ``rosbags`` typestore and return the typestore.

    Types the store already knows are left as they are. Needs the ``rosbags`` package.
    """
    return register_definitions(typestore, vision_msgs_definitions(directory))


def register_interfaces(typestore, packages: tuple[str, ...] = INTERFACE_PACKAGES,
                        required: tuple[str, ...] = (PACKAGE,)) -> list[str]:
    """Register every interface package of ``packages`` that can be found; return the missing.

    A package of ``required`` that cannot be found raises FileNotFoundError; the others are
    skipped (a colcon install on a distribution without Autoware still writes detections).
    """
    missing = []
    for package in packages:
        try:
            definitions = interface_definitions(package)
        except FileNotFoundError:
            if package in required:
                raise
            missing.append(package)
            continue
        register_definitions(typestore, definitions)
    return missing
