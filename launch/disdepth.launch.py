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

r"""
Launch the disdepth node on a camera, optionally with RViz.

Example::

    ros2 launch disdepth_ros disdepth.launch.py image:=/camera/color/image_raw \\
        camera_info:=/camera/color/camera_info rviz:=true

``image_transport:=compressed`` subscribes ``<image>/compressed`` instead (JPEG/PNG).
``cameras:=front,back`` serves several cameras through one model (``<name>/image`` and
``<name>/camera_info`` in, ``<name>/depth``, ``<name>/points``, ... out, below ``namespace``).
``lifecycle:=true`` starts the managed node ``disdepth_lifecycle_node`` instead (it waits
unconfigured for a lifecycle manager; ``autostart:=true`` configures and activates it at once).

Unless ``FASTDDS_DEFAULT_PROFILES_FILE`` is already set, it is pointed at the shipped Fast DDS
profile (16 MB shared-memory segments) for every process this file starts; see docs/node.md.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import OpaqueFunction
from launch.actions import SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.actions import Node

PACKAGE = 'disdepth_ros'
EXECUTABLE = 'disdepth_node'
LIFECYCLE_EXECUTABLE = 'disdepth_lifecycle_node'
AUTOSTART_FLAG = '--autostart'
NODE_NAME = 'disdepth'
PROFILE_ENV = 'FASTDDS_DEFAULT_PROFILES_FILE'


def _share(*parts: str) -> str:
    return os.path.join(get_package_share_directory(PACKAGE), *parts)


def _fastdds_profile(context, *args, **kwargs) -> list:
    """Use the shipped Fast DDS profile unless the user already chose one."""
    if PROFILE_ENV in os.environ:
        return []
    from disdepth_ros.qos import apply_fastdds_profile
    path = apply_fastdds_profile(dict(os.environ))   # None: opted out, or not Fast DDS
    return [SetEnvironmentVariable(PROFILE_ENV, path)] if path else []


def _flag(context, name: str) -> bool:
    return LaunchConfiguration(name).perform(context).lower() == 'true'


def _depth_node(context, *args, **kwargs) -> list:
    """Build the node (plain or managed); model, engine, transport override only when given."""
    overrides = {'use_sim_time': _flag(context, 'use_sim_time')}
    for name in ('model', 'engine', 'image_transport'):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    cameras = LaunchConfiguration('cameras').perform(context)
    if cameras.strip():
        overrides['cameras'] = [name.strip() for name in cameras.split(',') if name.strip()]
    common = {
        'package': PACKAGE,
        'name': NODE_NAME,
        'namespace': LaunchConfiguration('namespace'),
        'parameters': [LaunchConfiguration('params_file'), overrides],
        'remappings': [('image', LaunchConfiguration('image')),
                       ('camera_info', LaunchConfiguration('camera_info'))],
        'output': 'screen',
    }
    if _flag(context, 'lifecycle'):
        arguments = [AUTOSTART_FLAG] if _flag(context, 'autostart') else []
        return [LifecycleNode(executable=LIFECYCLE_EXECUTABLE, arguments=arguments, **common)]
    return [Node(executable=EXECUTABLE, **common)]


def generate_launch_description() -> LaunchDescription:
    """Describe the launch: arguments, the Fast DDS profile, the node and optionally RViz."""
    return LaunchDescription([
        DeclareLaunchArgument('image', default_value='image_raw',
                              description='input image topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('camera_info', default_value='camera_info',
                              description='input camera info topic (sensor_msgs/CameraInfo)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node and its output topics'),
        DeclareLaunchArgument('params_file', default_value=_share('config', 'disdepth.yaml'),
                              description='parameters file of the node'),
        DeclareLaunchArgument('model', default_value='',
                              description='model file; empty = the params file value (default '
                                          'model)'),
        DeclareLaunchArgument('engine', default_value='',
                              description='auto, onnxruntime or torch; empty = the params file '
                                          'value'),
        DeclareLaunchArgument('image_transport', default_value='',
                              description='raw (sensor_msgs/Image on image) or compressed '
                                          '(CompressedImage on <image>/compressed); empty = the '
                                          'params file value'),
        DeclareLaunchArgument('cameras', default_value='',
                              description='comma-separated camera names (front,back): one node, '
                                          'one model, <name>/image in, <name>/depth ... out; '
                                          'empty = the params file value (one camera on image)'),
        DeclareLaunchArgument('lifecycle', default_value='false',
                              description='start the managed node disdepth_lifecycle_node '
                                          '(configure/activate through its lifecycle services)'),
        DeclareLaunchArgument('autostart', default_value='false',
                              description='with lifecycle:=true: configure and activate the node '
                                          'at start instead of waiting for a lifecycle manager'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='use /clock (bag playback, simulation)'),
        DeclareLaunchArgument('rviz', default_value='false',
                              description='start RViz with config/disdepth.rviz'),
        DeclareLaunchArgument('fixed_frame', default_value='camera_optical_frame',
                              description="RViz fixed frame: the camera's optical frame_id"),
        OpaqueFunction(function=_fastdds_profile),
        OpaqueFunction(function=_depth_node),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            arguments=['-d', _share('config', 'disdepth.rviz'),
                       '-f', LaunchConfiguration('fixed_frame')],
            parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}],
            condition=IfCondition(LaunchConfiguration('rviz')),
            output='screen',
        ),
    ])
