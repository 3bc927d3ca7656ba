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
mypy over both packages, with the settings of ``[mypy]`` in setup.cfg.

The heavy frameworks are treated as ``Any`` (their stubs would dominate the time); every module
of ours is checked and must stay clean (there is no list of exempt modules).
"""

from pathlib import Path
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_mypy() -> None:
    pytest.importorskip('mypy')
    proc = subprocess.run([sys.executable, '-m', 'mypy', '--config-file',
                           str(REPO_ROOT / 'setup.cfg'), 'disdepth_core', 'disdepth_ros'],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'mypy found problems:\n{proc.stdout}{proc.stderr}'
    assert 'Success' in proc.stdout
