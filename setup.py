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
    install_requires=['setuptools'],
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
