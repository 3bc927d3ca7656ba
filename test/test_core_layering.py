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

"""Layering rules: the core never imports ROS; the robot-side inference path needs no torch."""

from pathlib import Path
import subprocess
import sys
import textwrap

REPO_ROOT = Path(__file__).resolve().parents[1]

ALL_CORE_MODULES = textwrap.dedent("""
    import importlib, pkgutil, sys
    import disdepth_core
    failed = []
    for info in pkgutil.walk_packages(disdepth_core.__path__, 'disdepth_core.'):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:  # an optional dependency; reported below
            failed.append(f'{info.name}: {exc}')
    ros = sorted(m for m in sys.modules if m == 'rclpy' or m.startswith(('rclpy.', 'rosidl',
                                                                          'sensor_msgs')))
    print('ROS=' + ','.join(ros))
    print('FAILED=' + ';'.join(failed))
""")


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_core_never_imports_rclpy() -> None:
    out = run_python(ALL_CORE_MODULES)
    lines = dict(line.split('=', 1) for line in out.splitlines() if '=' in line)
    assert lines['ROS'] == '', f'disdepth_core pulled in ROS modules: {lines["ROS"]}'
    assert lines['FAILED'] == '', f'disdepth_core modules failed to import: {lines["FAILED"]}'


def test_core_sources_do_not_mention_rclpy_imports() -> None:
    offenders = []
    for path in (REPO_ROOT / 'disdepth_core').rglob('*.py'):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(('import rclpy', 'from rclpy', 'import sensor_msgs',
                                    'from sensor_msgs')):
                offenders.append(f'{path.relative_to(REPO_ROOT)}: {stripped}')
    assert not offenders, '\n'.join(offenders)


def test_geometry_and_transforms_need_no_torch() -> None:
    out = run_python(textwrap.dedent("""
        import sys
        import disdepth_core.geometry, disdepth_core.transforms, disdepth_core.modelspec
        import disdepth_core.assets, disdepth_core.inference.base
        print(sorted(m for m in ('torch', 'onnx', 'rclpy') if m in sys.modules))
    """))
    assert out.strip() == '[]'
