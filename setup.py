"""ament_python setup for centertrack_ros (also installable with pip into a venv)."""
from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'centertrack_ros'


def _share(subdir, pattern='*'):
    files = [f for f in glob(os.path.join(subdir, pattern)) if os.path.isfile(f)]
    return (os.path.join('share', PACKAGE, subdir), files)


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        _share('launch', '*.launch.py'),
        _share('config', '*.yaml'),
        _share('config', '*.xml'),
        _share('models', '*.pth'),
        _share('models', '*.md'),
    ],
    # What pip installs with the package. The tested versions are pinned in
    # scripts/requirements-runtime.txt (the vehicle runtime) and scripts/requirements.txt (all);
    # a ROS workspace takes its dependencies from package.xml (rosdep) instead.
    # OpenCV and ONNX Runtime come with the `runtime` extra, not by default: on a Jetson,
    # JetPack's OpenCV and NVIDIA's onnxruntime-gpu provide the same modules (cv2, onnxruntime)
    # under other names, and pip would put the CPU wheels over them.
    install_requires=['setuptools', 'numpy', 'pyyaml'],
    extras_require={
        # The lean node: an exported .onnx with the onnxruntime engine.
        'runtime': ['opencv-python-headless', 'onnxruntime'],
        # .pth checkpoints, export, training, the torch and reference engines.
        'torch': ['torch', 'torchvision', 'onnx', 'onnxscript'],
        # centertrack_bag, centertrack_demo, centertrack_evaluate, centertrack_bench (HOTA also
        # needs `pip install --no-deps trackeval`: README, "Setup details").
        'tools': ['rosbags', 'scipy', 'motmetrics', 'tqdm', 'pillow', 'psutil'],
    },
    zip_safe=True,
    maintainer='centertrack_ros maintainers',
    maintainer_email='centertrack-ros@example.com',
    description='CenterTrack multi-object tracking as a ROS 2 node with persistent track IDs.',
    license='MIT',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'centertrack_node = centertrack_ros.ros.node:main',
            'centertrack_train = centertrack_ros.tools.train:main',
            'centertrack_bag = centertrack_ros.tools.bag:main',
            'centertrack_bench = centertrack_ros.tools.bench:main',
            'centertrack_export = centertrack_ros.tools.export:main',
            'centertrack_demo = centertrack_ros.tools.demo:main',
            'centertrack_evaluate = centertrack_ros.tools.evaluate_model:main',
        ],
    },
)
