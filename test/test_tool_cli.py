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

"""The ``disdepth`` command line: dispatcher, ``--version``, ``info``; and set-up idempotency."""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from disdepth_ros import __version__
from disdepth_ros.cli import build_parser
from disdepth_ros.cli import COMMANDS
from disdepth_ros.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(['--version'])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f'disdepth {__version__}'


def test_no_command_prints_help(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_every_registered_command_has_its_module() -> None:
    for name in COMMANDS:
        parser = build_parser(name)
        assert parser.prog == 'disdepth'


def test_info_json(capsys: pytest.CaptureFixture) -> None:
    assert main(['info', '--json']) == 0
    info = json.loads(capsys.readouterr().out)
    assert info['versions']['disdepth_ros'] == __version__
    assert 'CPUExecutionProvider' in info['onnxruntime_providers']
    assert set(info['packaged_model']) == {'onnx', 'safetensors', 'json'}


def test_console_scripts_installed() -> None:
    exe = BIN / 'disdepth'
    if not exe.exists():
        pytest.skip('console scripts not installed in this interpreter prefix')
    out = subprocess.run([str(exe), 'info'], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'onnxruntime providers:' in out.stdout
    assert 'packaged model (onnx):' in out.stdout


def test_make_setup_is_idempotent() -> None:
    """After ``make setup`` ran once, make considers it up to date (nothing to redo)."""
    if shutil.which('make') is None or not (REPO_ROOT / '.venv' / '.disdepth-installed').exists():
        pytest.skip('make setup has not been run in this checkout')
    env = {k: v for k, v in os.environ.items() if not k.startswith('MAKE')}
    out = subprocess.run(['make', '-q', 'setup'], cwd=REPO_ROOT, env=env, capture_output=True)
    assert out.returncode == 0, 'make setup would run again although nothing changed'
