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
The README and docs/node.md document what really exists.

Every node parameter, topic, executable, launch argument, drop reason and CLI command.
"""

import ast
from pathlib import Path
import re

from disdepth_ros.cli import COMMANDS
from disdepth_ros.diagnostics import DROP_REASONS
from disdepth_ros.node_config import PARAMETERS
from disdepth_ros.qos import INPUT_RELIABILITIES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / 'README.md').read_text()
NODE_DOC = (REPO / 'docs' / 'node.md').read_text()


def _table_first_cells(text: str = README) -> set:
    return set(re.findall(r'^\| `([^`]+)`', text, flags=re.MULTILINE))


def _console_scripts() -> set:
    tree = ast.parse((REPO / 'setup.py').read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    names |= {item.value.split('=')[0].strip() for item in value.elts}
    return names


def _launch_arguments() -> set:
    tree = ast.parse((REPO / 'launch' / 'disdepth.launch.py').read_text())
    return {call.args[0].value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, 'id', '') ==
            'DeclareLaunchArgument'}


def test_every_node_parameter_is_in_the_readme_table() -> None:
    cells = _table_first_cells()
    missing = [p.name for p in PARAMETERS
               if p.name not in cells and not p.name.startswith('qos.')]
    assert not missing, f'parameters missing from the README table: {missing}'
    documented = {c for c in cells if re.fullmatch(r'[a-z_]+', c)}
    declared = {p.name for p in PARAMETERS}
    topics = {'image', 'camera_info', 'depth', 'points'}
    stale = sorted(documented - declared - topics - set(COMMANDS))
    assert not stale, f'README documents parameters the node does not declare: {stale}'


def test_every_topic_is_in_the_readme() -> None:
    cells = _table_first_cells()
    for topic in ('image', 'image/compressed', 'camera_info', 'depth', 'depth/camera_info',
                  'points', 'depth/confidence', 'depth/colorized', '/diagnostics'):
        assert topic in cells, f'topic {topic} missing from the README tables'
        assert topic in _table_first_cells(NODE_DOC), f'topic {topic} missing from docs/node.md'


def test_node_doc_has_every_parameter_drop_reason_and_input_qos() -> None:
    cells = _table_first_cells(NODE_DOC)
    missing = [p.name for p in PARAMETERS if p.name not in cells and not p.name.startswith('qos.')]
    assert not missing, f'parameters missing from the docs/node.md table: {missing}'
    assert not set(DROP_REASONS) - cells, 'drop reasons missing from docs/node.md'
    for choice in INPUT_RELIABILITIES:
        assert f'`{choice}`' in NODE_DOC and f'`{choice}`' in README, choice


def test_every_executable_and_launch_argument_is_documented() -> None:
    scripts = _console_scripts()
    assert {'disdepth_node', 'disdepth_lifecycle_node', 'disdepth'} <= scripts
    for name in scripts:
        assert f'`{name}' in README, f'executable {name} is not in the README'
    for name in scripts - {'disdepth'}:
        assert f'`{name}' in NODE_DOC, f'executable {name} is not in docs/node.md'
    arguments = _launch_arguments()
    assert {'lifecycle', 'autostart', 'image_transport'} <= arguments
    for name in arguments:
        assert f'`{name}`' in NODE_DOC, f'launch argument {name} is not in docs/node.md'


def test_every_cli_command_is_in_the_readme() -> None:
    for name in COMMANDS:
        assert f'`disdepth {name}' in README, f'disdepth {name} is not documented in the README'


def test_readme_states_the_two_commands() -> None:
    assert 'make demo' in README and 'make test' in README
