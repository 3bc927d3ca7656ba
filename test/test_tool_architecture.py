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

"""docs/architecture.md names every module, with the first sentence of its docstring."""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        'architecture_table', REPO_ROOT / 'tools' / 'architecture_table.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_architecture_table_is_generated_from_the_code() -> None:
    tool = _tool()
    text = (REPO_ROOT / 'docs' / 'architecture.md').read_text()
    for package in tool.PACKAGES:
        for path in (REPO_ROOT / package).rglob('*.py'):
            if '__pycache__' not in path.parts:
                rel = path.relative_to(REPO_ROOT).as_posix()
                assert f'| `{rel}` |' in text, f'docs/architecture.md does not name {rel}'
    assert tool.main(['--check']) == 0, 'run: python tools/architecture_table.py'


def test_every_module_says_what_it_is() -> None:
    missing = [path for path, text in _tool().modules() if not text]
    assert not missing, f'modules without a docstring: {missing}'
