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
The ament lint rules, run directly with PyPI packages over the whole package.

``ament_flake8``, ``ament_pep257`` and ``ament_copyright`` exist only in ROS distributions, so
these tests apply the same configuration with flake8 (+ plugins) and pydocstyle: 99 columns,
single quotes, Google import order, pep257 with the ament ignore list, and an Apache-2.0 header
in every Python file.
"""

from pathlib import Path
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# What ament's linters walk: the package root, minus generated and third-party trees.
LINT_PATHS = ['disdepth_core', 'disdepth_ros', 'launch', 'test', 'tools', 'setup.py']
# ament_flake8's configuration (ament_flake8/configuration/ament_flake8.ini), with our two
# packages named as the local import group.
FLAKE8_ARGS = [
    '--max-line-length=99',
    '--import-order-style=google',
    '--application-import-names=disdepth_core,disdepth_ros',
    '--extend-ignore=B902,C816,D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404,I202',
    '--inline-quotes=single',
    '--show-source',
]
# ament_pep257's default ignore list (everything else in pydocstyle is checked).
PEP257_IGNORE = 'D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404'


def python_files() -> list:
    """All Python files the linters must cover."""
    files = []
    for entry in LINT_PATHS:
        path = REPO_ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob('*.py'))
    return [f for f in files if '__pycache__' not in f.parts]


@pytest.mark.linter
def test_flake8() -> None:
    proc = subprocess.run([sys.executable, '-m', 'flake8', *FLAKE8_ARGS, *LINT_PATHS],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f'flake8 found problems:\n{proc.stdout}{proc.stderr}'


@pytest.mark.linter
def test_pep257() -> None:
    proc = subprocess.run([sys.executable, '-m', 'pydocstyle', f'--ignore={PEP257_IGNORE}',
                           *[str(f) for f in python_files()]],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f'pep257 found problems:\n{proc.stdout}{proc.stderr}'


@pytest.mark.linter
def test_copyright() -> None:
    header = (REPO_ROOT / 'tools' / 'license_header.txt').read_text().splitlines()
    missing = []
    for path in python_files():
        lines = path.read_text().splitlines()
        if lines[:len(header)] != header:
            missing.append(str(path.relative_to(REPO_ROOT)))
    assert not missing, 'files without the Apache-2.0 licence header:\n' + '\n'.join(missing)


@pytest.mark.linter
def test_lint_covers_the_package() -> None:
    files = {str(p.relative_to(REPO_ROOT)) for p in python_files()}
    assert 'setup.py' in files
    assert any(f.startswith('disdepth_core/') for f in files)
    assert any(f.startswith('disdepth_ros/') for f in files)
