# Copyright 2026 The disdepth_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Install disdepth_ros (ament_python) and its ROS-free core disdepth_core.

Dependencies are declared here and only here.  ``install_requires`` stays minimal on purpose: in a
ROS 2 workspace the runtime libraries (rclpy, numpy, OpenCV, onnxruntime) come from the distro or
rosdep, and a console-script wrapper must not refuse to start because pip metadata for a distro
package is missing.  The pinned set for a standalone virtual environment is in the extras:

* ``ros``: the ROS 2 Kilted wheels from PyPI (what a ROS install provides otherwise);
* ``node``: what the node needs at run time besides ROS and ONNX Runtime (numpy, OpenCV, rosbags);
* ``ort`` / ``ort-gpu``: ONNX Runtime, CPU build or GPU build (never both: they share a module);
* ``train``: training, export and evaluation (CPU torch, onnx, safetensors, ...);
* ``dev``: tests and the ament lint rules.

``make setup`` installs ``.[ros,node,ort,train,dev]`` (``ort-gpu`` in place of ``ort`` where
``nvidia-smi`` finds a GPU).
"""

from glob import glob
import os

from setuptools import find_packages
from setuptools import setup

package_name = 'disdepth_ros'

ROS = [
    'ros-rclpy==9.1.2',
    'ros-rmw-fastrtps-cpp==9.3.3',
    'ros-sensor-msgs==5.5.1',
    'ros-std-msgs==5.5.1',
    'ros-geometry-msgs==5.5.1',
    'ros-builtin-interfaces==2.3.0',
    'ros-diagnostic-msgs==5.5.1',
    # The managed node (rclpy.lifecycle): the state machine and its services.
    'ros-rcl-lifecycle==10.1.3',
    'ros-lifecycle-msgs==2.3.0',
    'ros-ament-index-python==1.11.0',
    'ros-domain-coordinator==0.12.0',
]
NODE = [
    'numpy>=2,<3',
    'opencv-python-headless==5.0.0.93',
    'rosbags==0.11.9',
    'PyYAML>=6',
]
ORT_CPU = ['onnxruntime==1.32.0']
ORT_GPU = ['onnxruntime-gpu==1.31.1']
TRAIN = [
    'torch==2.13.0',
    'onnx==1.23.2',
    'safetensors==0.8.0',
    'tqdm==4.70.1',
    'tensorboard==2.21.0',
    # Only for the Hugging Face teacher adapter (imported lazily there).
    'transformers==5.24.0',
]
DEV = [
    'pytest==9.2.0',
    'flake8==7.5.0',
    'flake8-quotes==3.4.0',
    'flake8-import-order==0.19.2',
    'flake8-builtins==3.1.0',
    'flake8-comprehensions==3.17.0',
    'flake8-class-newline==1.6.0',
    'flake8-deprecated==2.4.0',
    'pydocstyle==6.3.0',
    'mypy==2.4.1',
    'colcon-core==0.21.3',
    'colcon-ros==0.5.0',
    'colcon-python-setup-py==0.2.9',
    'ros-ament-package==0.17.2',
    'mcap==1.6.0',
    'mcap-ros2-support==0.6.0',
    'rosbags-image==0.10.4',
]


def _model_files() -> list:
    return sorted(glob(os.path.join('disdepth_core', 'assets', '*.onnx'))
                  + glob(os.path.join('disdepth_core', 'assets', '*.safetensors'))
                  + glob(os.path.join('disdepth_core', 'assets', '*.json')))


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'tools', 'tools.*']),
    package_data={'disdepth_core': ['assets/*', 'configs/*.yaml'],
                  'disdepth_ros': ['resources/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config',
         glob('config/*.yaml') + glob('config/*.rviz') + glob('config/*.xml')),
        ('share/' + package_name + '/models', _model_files()),
    ],
    install_requires=['setuptools'],
    extras_require={'ros': ROS, 'node': NODE, 'ort': ORT_CPU, 'ort-gpu': ORT_GPU,
                    'train': TRAIN, 'dev': DEV},
    python_requires='>=3.10',
    zip_safe=False,
    maintainer='disdepth_ros maintainers',
    maintainer_email='disdepth@example.org',
    description='Metric monocular depth for ROS 2: DisDepth students, distillation and a node.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'disdepth_node = disdepth_ros.depth_node:main',
            'disdepth_lifecycle_node = disdepth_ros.lifecycle_node:main',
            'disdepth = disdepth_ros.cli:main',
        ],
    },
)
