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
Shared pytest fixtures: repository paths, the real data in ../shared/data, log isolation.

Markers: every test of a ``test_ros_*.py`` file, and of the files in :data:`ROS_FILES` (they start
the node), is marked ``ros``; tests taking more than a few seconds carry ``@pytest.mark.slow``.
``make test-fast`` runs the rest (``-m "not ros and not slow and not linter"``) for inner loops;
``make test`` (what CI runs) runs everything.
"""

import os
from pathlib import Path
import tempfile

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'

# rclpy writes one log file per process into ~/.ros/log unless told otherwise.
os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='disdepth-roslog-'))
# Fast DDS reads its profile once per process, at the first participant: every test process (and
# the node processes it starts) uses the shipped large-message shared-memory profile.
os.environ.setdefault(
    'FASTDDS_DEFAULT_PROFILES_FILE',
    str(REPO_ROOT / 'disdepth_ros' / 'resources' / 'fastdds_shm.xml'))


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """Root of the disdepth_ros repository."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip when it is absent."""
    if not (SHARED_DATA / 'real').is_dir():
        pytest.skip(f'real RGB-D frames not found at {SHARED_DATA} (only present beside a '
                    'development checkout)')
    return SHARED_DATA


# Files outside test_ros_*.py whose tests start the node over DDS.
ROS_FILES = ('test_tool_demo.py',)


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Mark the tests that run real nodes over Fast DDS as ``ros``."""
    for item in items:
        name = Path(str(item.fspath)).name
        if name.startswith('test_ros_') or name in ROS_FILES:
            item.add_marker(pytest.mark.ros)
