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
The launch file, the parameters file, the RViz config and the Fast DDS profile against reality.

``launch``/``launch_ros`` are not installable here, so the launch file is executed with small
recording stand-ins for them: every action it creates is captured, its OpaqueFunctions are run
with a fake launch context, and what comes out is checked against setup.py (executables),
package.xml (package names, dependencies), the node's declared parameters and topics, and the
files in the repository.
"""

import ast
import importlib.util
from pathlib import Path
import sys
import types
import xml.etree.ElementTree as ElementTree

import pytest
import yaml

from disdepth_ros import node_config
from disdepth_ros import qos

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'disdepth.launch.py'
REQUIRED_ARGUMENTS = {'image', 'camera_info', 'namespace', 'params_file', 'model', 'engine',
                      'image_transport', 'lifecycle', 'autostart', 'use_sim_time', 'rviz'}
# executable -> the entry point it must be in setup.py
EXECUTABLES = {'disdepth_node': 'disdepth_ros.depth_node:main',
               'disdepth_lifecycle_node': 'disdepth_ros.lifecycle_node:main'}
NODE_TOPICS = {'image', 'camera_info'}
OUTPUT_TOPICS = {'depth', 'depth/camera_info', 'points', 'depth/confidence', 'depth/colorized'}


class _Recorded:
    """Stand-in for a launch class: records its arguments."""

    created: list = []

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs
        _Recorded.created.append(self)


class _LaunchConfiguration(_Recorded):

    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


def _stub_modules(share_dir: Path) -> dict:
    def cls(name: str, base: type = _Recorded) -> type:
        return type(name, (base,), {})

    launch = types.ModuleType('launch')
    launch.LaunchDescription = cls('LaunchDescription')
    actions = types.ModuleType('launch.actions')
    for name in ('DeclareLaunchArgument', 'OpaqueFunction', 'SetEnvironmentVariable',
                 'IncludeLaunchDescription', 'GroupAction'):
        setattr(actions, name, cls(name))
    conditions = types.ModuleType('launch.conditions')
    conditions.IfCondition = cls('IfCondition')
    conditions.UnlessCondition = cls('UnlessCondition')
    substitutions = types.ModuleType('launch.substitutions')
    substitutions.LaunchConfiguration = cls('LaunchConfiguration', _LaunchConfiguration)
    substitutions.PathJoinSubstitution = cls('PathJoinSubstitution')
    launch_ros = types.ModuleType('launch_ros')
    ros_actions = types.ModuleType('launch_ros.actions')
    ros_actions.Node = cls('Node')
    ros_actions.LifecycleNode = cls('LifecycleNode')
    ament = types.ModuleType('ament_index_python')
    packages = types.ModuleType('ament_index_python.packages')

    def get_package_share_directory(name: str) -> str:
        assert name == 'disdepth_ros', f'launch file looks up the share of {name}'
        return str(share_dir)
    packages.get_package_share_directory = get_package_share_directory
    return {'launch': launch, 'launch.actions': actions, 'launch.conditions': conditions,
            'launch.substitutions': substitutions, 'launch_ros': launch_ros,
            'launch_ros.actions': ros_actions, 'ament_index_python': ament,
            'ament_index_python.packages': packages}


@pytest.fixture
def launched(monkeypatch):
    """Run generate_launch_description() on stand-ins; return (module, description)."""
    for name, module in _stub_modules(REPO).items():
        monkeypatch.setitem(sys.modules, name, module)
    _Recorded.created = []
    spec = importlib.util.spec_from_file_location('disdepth_launch_under_test', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.generate_launch_description()


def _of(kind: str) -> list:
    return [r for r in _Recorded.created if type(r).__name__ == kind]


def _context(arguments: dict, overrides: dict) -> types.SimpleNamespace:
    values = {a.args[0]: a.kwargs.get('default_value', '') for a in arguments.values()}
    values.update(overrides)
    return types.SimpleNamespace(launch_configurations=values)


def _setup_entry_points() -> set:
    tree = ast.parse((REPO / 'setup.py').read_text())
    scripts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    for item in value.elts:
                        name, target = item.value.split('=')
                        scripts.add((name.strip(), target.strip()))
    return scripts


def _package_xml() -> ElementTree.Element:
    return ElementTree.parse(REPO / 'package.xml').getroot()


def test_launch_arguments_and_every_configuration_is_declared(launched):
    declared = {a.args[0]: a for a in _of('DeclareLaunchArgument')}
    assert REQUIRED_ARGUMENTS <= set(declared)
    for arg in declared.values():
        assert arg.kwargs.get('description'), f'launch argument {arg.args[0]} has no description'
    used = {c.args[0] for c in _of('LaunchConfiguration')}
    assert used <= set(declared), f'undeclared: {used - set(declared)}'


def _our_nodes(description, declared: dict, overrides: dict) -> list:
    """Run the OpaqueFunctions with these launch arguments; return the disdepth_ros nodes."""
    opaque = [a for a in description.args[0] if type(a).__name__ == 'OpaqueFunction']
    assert opaque, 'the launch description has no OpaqueFunction'
    context = _context(declared, overrides)
    nodes = []
    for action in opaque:
        nodes += [n for n in action.kwargs['function'](context)
                  if type(n).__name__ in ('Node', 'LifecycleNode')]
    return [n for n in nodes if n.kwargs['package'] == 'disdepth_ros']


def test_launch_starts_our_executable_with_declared_parameters(launched, monkeypatch):
    module, description = launched
    declared = {a.args[0]: a for a in _of('DeclareLaunchArgument')}
    monkeypatch.setenv(qos.PROFILE_ENV, '/somewhere/profile.xml')
    ours = _our_nodes(description, declared, {'model': '/models/m.onnx', 'use_sim_time': 'true'})
    assert ours, 'the launch file starts no disdepth_ros node'
    package_name = _package_xml().find('name').text
    scripts = _setup_entry_points()
    from disdepth_ros import depth_node
    for node in ours:
        kw = node.kwargs
        assert type(node).__name__ == 'Node' and kw['executable'] == 'disdepth_node'
        assert kw['package'] == package_name
        assert (kw['executable'], EXECUTABLES[kw['executable']]) in scripts
        assert kw['name'] == depth_node.NODE_NAME
        params_file, overrides = kw['parameters']
        assert type(params_file).__name__ == 'LaunchConfiguration'
        assert params_file.args[0] == 'params_file'
        assert set(overrides) <= set(node_config.PARAMETER_NAMES) | {'use_sim_time'}
        assert overrides == {'model': '/models/m.onnx', 'use_sim_time': True}
        remapped = {src for src, _ in kw['remappings']}
        assert remapped == NODE_TOPICS == {t for _, t in depth_node.INPUTS.values()}
    # the default params file exists and is what setup.py installs
    default = Path(declared['params_file'].kwargs['default_value'])
    assert default == REPO / 'config' / 'disdepth.yaml' and default.is_file()


def test_launch_lifecycle_autostart_and_transport(launched):
    _, description = launched
    declared = {a.args[0]: a for a in _of('DeclareLaunchArgument')}
    from disdepth_ros import lifecycle_node
    scripts = _setup_entry_points()
    for autostart, arguments in (('false', []), ('true', [lifecycle_node.AUTOSTART_FLAG])):
        ours = _our_nodes(description, declared, {'lifecycle': 'true', 'autostart': autostart,
                                                  'image_transport': 'compressed'})
        assert len(ours) == 1
        node = ours[0]
        kw = node.kwargs
        # launch_ros' LifecycleNode: lifecycle events and ChangeState work from launch files
        assert type(node).__name__ == 'LifecycleNode'
        assert kw['executable'] == 'disdepth_lifecycle_node' and kw['name'] == 'disdepth'
        assert (kw['executable'], EXECUTABLES[kw['executable']]) in scripts
        assert kw['arguments'] == arguments
        _, overrides = kw['parameters']
        assert overrides['image_transport'] == 'compressed'
        assert node_config.NodeConfig.from_values(
            {k: v for k, v in overrides.items() if k != 'use_sim_time'}).image_transport == \
            'compressed'
    # autostart alone changes nothing: the plain node is always active
    plain = _our_nodes(description, declared, {'autostart': 'true'})
    assert [type(n).__name__ for n in plain] == ['Node']
    assert 'arguments' not in plain[0].kwargs and 'image_transport' not in \
        plain[0].kwargs['parameters'][1]


def test_launch_rviz_and_dependencies(launched):
    rviz = [n for n in _of('Node') if n.kwargs['package'] == 'rviz2']
    assert len(rviz) == 1
    args = rviz[0].kwargs['arguments']
    config = Path(args[args.index('-d') + 1])
    assert config == REPO / 'config' / 'disdepth.rviz' and config.is_file()
    condition = rviz[0].kwargs['condition']
    assert condition.args[0].args[0] == 'rviz'
    exec_depends = {e.text for e in _package_xml().findall('exec_depend')}
    assert {'rviz2', 'launch', 'launch_ros', 'ament_index_python'} <= exec_depends


def test_launch_sets_the_fastdds_profile_only_when_unset(launched, monkeypatch):
    module, _ = launched
    monkeypatch.delenv(qos.PROFILE_ENV, raising=False)
    actions = module._fastdds_profile(None)
    assert len(actions) == 1 and actions[0].args[0] == qos.PROFILE_ENV
    assert Path(actions[0].args[1]).is_file()
    monkeypatch.setenv(qos.OPT_OUT_ENV, '1')
    assert module._fastdds_profile(None) == []
    monkeypatch.delenv(qos.OPT_OUT_ENV)
    monkeypatch.setenv(qos.PROFILE_ENV, '/mine.xml')
    assert module._fastdds_profile(None) == []


def _flatten(tree: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{key}.'))
        else:
            out[prefix + key] = value
    return out


def test_params_file_declares_exactly_the_node_parameters():
    data = yaml.safe_load((REPO / 'config' / 'disdepth.yaml').read_text())
    (key, body), = data.items()
    assert key.endswith('disdepth')
    values = _flatten(body['ros__parameters'])
    assert set(values) == set(node_config.PARAMETER_NAMES)
    for spec in node_config.PARAMETERS:
        assert values[spec.name] == spec.default, spec.name
        assert type(values[spec.name]) is type(spec.default), spec.name
    assert node_config.NodeConfig.from_values(values).point_stride == 1


def test_rviz_config_matches_the_node_outputs_and_qos():
    data = yaml.safe_load((REPO / 'config' / 'disdepth.rviz').read_text())
    displays = data['Visualization Manager']['Displays']
    topics = {}
    for display in displays:
        if 'Topic' in display:
            topics[display['Topic']['Value'].lstrip('/')] = display
    inputs = {t: d for t, d in topics.items() if t in NODE_TOPICS}
    topics = {t: d for t, d in topics.items() if t not in inputs}
    assert {'depth', 'depth/colorized', 'points'} <= set(topics) <= OUTPUT_TOPICS
    assert topics['points']['Class'] == 'rviz_default_plugins/PointCloud2'
    assert topics['points']['Color Transformer'] == 'RGB8'
    # the camera input: best effort, which any camera serves (reliable or not), like the node's
    # 'auto' input QoS with no publisher known; off until its topic is set to the real camera
    assert set(inputs) == {'image'}
    assert inputs['image']['Topic']['Reliability Policy'] == 'Best Effort'
    assert inputs['image']['Enabled'] is False
    assert qos.DEFAULT_QOS['image'].reliability == qos.AUTO
    key = {'depth': 'depth', 'depth/colorized': 'colorized', 'points': 'points'}
    for topic, display in topics.items():
        publisher = qos.DEFAULT_QOS[key[topic]]
        wanted = display['Topic']['Reliability Policy']
        # a reliable subscriber needs a reliable publisher; durability likewise
        assert wanted == 'Best Effort' or publisher.reliability == 'reliable'
        assert display['Topic']['Durability Policy'] == 'Volatile' or \
            publisher.durability == 'transient_local'


def test_fastdds_profile_is_shipped_and_large():
    path = qos.fastdds_profile_path()
    assert path == REPO / 'disdepth_ros' / 'resources' / 'fastdds_shm.xml'
    assert (REPO / 'config' / 'fastdds_shm.xml').resolve() == path.resolve()
    root = ElementTree.parse(path).getroot()
    ns = {'d': 'http://www.eprosima.com'}
    sizes = [int(e.text) for e in root.iterfind('.//d:segment_size', ns)]
    assert sizes == [16 * 1024 * 1024]
    participant = root.find('.//d:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    used = {e.text for e in participant.iterfind('.//d:transport_id', ns)}
    declared = {e.text for e in root.iterfind('.//d:transport_descriptor/d:transport_id', ns)}
    assert used == declared and len(used) == 2


def test_apply_fastdds_profile_respects_the_user():
    env = {}
    assert qos.apply_fastdds_profile(env) == str(qos.fastdds_profile_path())
    assert env[qos.PROFILE_ENV] == str(qos.fastdds_profile_path())
    env = {qos.PROFILE_ENV: '/mine.xml'}
    assert qos.apply_fastdds_profile(env) == '/mine.xml' and env[qos.PROFILE_ENV] == '/mine.xml'
    env = {qos.PROFILE_ENV: ''}
    assert qos.apply_fastdds_profile(env) is None
    env = {qos.OPT_OUT_ENV: '1'}
    assert qos.apply_fastdds_profile(env) is None and qos.PROFILE_ENV not in env
    env = {qos.OPT_OUT_ENV: '0'}
    assert qos.apply_fastdds_profile(env) == str(qos.fastdds_profile_path())
    env = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert qos.apply_fastdds_profile(env) is None and qos.PROFILE_ENV not in env
