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
The package builds in a ROS 2 workspace.

``colcon build`` must install what ``ros2 run`` and ``ros2 launch`` need.

colcon-core, colcon-ros, colcon-python-setup-py and ament_package come from PyPI, so this is the
real ament_python build, run on a copy of the working tree.
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PKG = 'disdepth_ros'


def _source_files() -> list:
    proc = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip('not a git checkout: cannot list the package sources')
    return [line for line in proc.stdout.splitlines()
            if line and not line.startswith(('.', 'out/', 'docs/'))]


@pytest.fixture(scope='module')
def colcon_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    colcon = Path(sys.executable).parent / 'colcon'
    if not colcon.exists():
        pytest.skip('colcon is not installed in this environment (pip install ".[dev]")')
    ws = tmp_path_factory.mktemp('ws')
    src = ws / 'src' / PKG
    for rel in _source_files():
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
    proc = subprocess.run([str(colcon), 'build', '--base-paths', 'src', '--build-base', 'build',
                           '--install-base', 'install', '--event-handlers', 'console_direct-'],
                          cwd=ws, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f'colcon build failed:\n{proc.stdout[-4000:]}{proc.stderr}'
    return ws / 'install' / PKG


def test_ament_index_marker_and_manifest(colcon_install: Path) -> None:
    assert (colcon_install / 'share/ament_index/resource_index/packages' / PKG).is_file()
    assert (colcon_install / 'share' / PKG / 'package.xml').is_file()


def test_launch_config_and_rviz_installed(colcon_install: Path) -> None:
    share = colcon_install / 'share' / PKG
    assert (share / 'launch' / 'disdepth.launch.py').is_file()
    assert (share / 'config' / 'disdepth.yaml').is_file()
    assert (share / 'config' / 'disdepth.rviz').is_file()
    for src in (REPO_ROOT / 'launch').glob('*.launch.py'):
        assert (share / 'launch' / src.name).read_bytes() == src.read_bytes()
    for src in (REPO_ROOT / 'config').iterdir():
        assert (share / 'config' / src.name).read_bytes() == src.read_bytes()


def test_executables_where_ros2_run_looks(colcon_install: Path) -> None:
    for exe in ('disdepth_node', 'disdepth_lifecycle_node', 'disdepth'):
        path = colcon_install / 'lib' / PKG / exe
        assert path.is_file() and os.access(path, os.X_OK), f'{path} missing or not executable'


def test_packaged_model_installed_and_found(colcon_install: Path) -> None:
    shipped = sorted(p.name for p in (REPO_ROOT / 'disdepth_core' / 'assets').iterdir()
                     if p.suffix in ('.onnx', '.safetensors', '.json'))
    assert 'disdepth_default.onnx' in shipped, 'the default model is not in the source tree'
    models = colcon_install / 'share' / PKG / 'models'
    assert sorted(p.name for p in models.iterdir()) == shipped
    site = next((colcon_install / 'lib').glob('python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=str(site))
    code = ('from disdepth_core.assets import default_model_path; '
            'print(default_model_path())')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                         cwd=colcon_install)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve().is_relative_to(site.resolve())


def test_installed_cli_runs(colcon_install: Path) -> None:
    site = next((colcon_install / 'lib').glob('python3*/site-packages'))
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, str(colcon_install / 'lib' / PKG / 'disdepth'),
                          '--version'], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith('disdepth ')
