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

"""The README documents what really exists: every node parameter, topic and CLI command."""

from pathlib import Path
import re

from disdepth_ros.cli import COMMANDS
from disdepth_ros.node_config import PARAMETERS

README = (Path(__file__).resolve().parents[1] / 'README.md').read_text()


def _table_first_cells() -> set:
    return set(re.findall(r'^\| `([^`]+)`', README, flags=re.MULTILINE))


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
    for topic in ('image', 'camera_info', 'depth', 'depth/camera_info', 'points',
                  'depth/confidence', 'depth/colorized', '/diagnostics'):
        assert topic in cells, f'topic {topic} missing from the README tables'


def test_every_cli_command_is_in_the_readme() -> None:
    for name in COMMANDS:
        assert f'`disdepth {name}' in README, f'disdepth {name} is not documented in the README'


def test_readme_states_the_two_commands() -> None:
    assert 'make demo' in README and 'make test' in README
