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

"""tools/gpu_check.sh: its dry run on the CPU, a machine without OpenCV / PyYAML / safetensors."""

import importlib.util
import json
import math
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHELL_SCRIPT = REPO_ROOT / 'tools' / 'gpu_check.sh'
PY_SCRIPT = REPO_ROOT / 'tools' / 'gpu_check.py'
SECTIONS = ('parity', 'latency', 'training')
# a sitecustomize that makes these imports fail, as on the GPU machine's bare python
BARE_SITE = """
import sys
for name in ('cv2', 'yaml', 'safetensors', 'safetensors.torch'):
    sys.modules[name] = None
"""


def load_tool():
    spec = importlib.util.spec_from_file_location('gpu_check', PY_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules['gpu_check'] = module
    spec.loader.exec_module(module)
    return module


def run_shell(tmp_path: Path, *args: str, pythonpath: str = '') -> tuple:
    out = tmp_path / 'out'
    env = {**os.environ, 'OUT': str(out), 'PY': sys.executable, 'OMP_WAIT_POLICY': 'PASSIVE',
           'PYTHONPATH': pythonpath}
    proc = subprocess.run(['bash', str(SHELL_SCRIPT), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    data = json.loads((out / 'gpu_check.json').read_text())
    return proc, data, (out / 'gpu_check.md').read_text()


def planned_labels(data: dict) -> dict:
    tool = load_tool()
    plan = tool.Plan(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in data['plan'].items()})
    return plan.row_labels()


def table_rows(md: str, section_title: str) -> list:
    """The first cells of the table under a '## title' heading."""
    part = md.split(f'## {section_title}', 1)[1].split('\n## ', 1)[0]
    rows = [line for line in part.splitlines() if line.startswith('| ')]
    return [row.split(' | ')[0][2:] for row in rows[1:]]


def test_dry_run_measures_every_row(tmp_path) -> None:
    proc, data, md = run_shell(tmp_path, '--dry-run')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert data['status'] == 'complete' and data['plan']['dry_run']
    assert '# GPU check (torch CUDA engine)' in proc.stdout  # the tables are printed at the end
    labels = planned_labels(data)
    tool = load_tool()
    for section in SECTIONS:
        assert [r['label'] for r in data[section]] == labels[section]
        assert table_rows(md, tool.TITLES[section]) == labels[section]
        assert all(r['status'] == 'ok' for r in data[section]), data[section]
    # the grid the issue asks for: both batch sizes x fp32 / fp16 x with and without graphs
    by_label = {r['label']: r for r in data['latency']}
    for batch in data['plan']['batches']:
        for mode in ('fp32', 'fp16 autocast', 'fp16 weights'):
            for graphs in ('eager', 'graphs'):
                row = by_label[f'{mode}, batch {batch}, {graphs}']
                assert 0 < row['p50_ms'] <= row['p95_ms']
                assert row['images_per_s'] > 0 and row['calls'] >= 1
                assert 0 < row['infer_p50_ms'] <= 1.5 * row['p95_ms']
                assert row['valid_fraction'] > 0.99
    assert 'cuda_graphs off: CUDA graphs need a CUDA device' in \
        by_label['fp32, batch 1, graphs']['notes']
    parity = {r['label']: r for r in data['parity']}
    assert parity['torch cpu fp32']['max_abs_depth'] <= 1e-5  # the same computation
    for name in ('fp16 autocast', 'fp16 weights', 'bf16 autocast'):
        assert 0 < parity[f'torch cpu {name}']['max_abs_depth'] < 0.5
        assert parity[f'torch cpu {name}']['max_abs_confidence'] < 0.1
    assert parity[tool.ONNX_PARITY]['max_abs_depth'] < 1e-3
    assert 0 <= parity[tool.PREDICT_PARITY]['mean_abs_depth'] < 0.1
    for row in data['training']:
        assert row['images_per_s'] > 0 and row['step_p50_ms'] > 0
        assert math.isfinite(row['loss']) and row['loss'] > 0 and row['params_m'] > 0
    assert data['facts']['torch'] == torch.__version__
    assert data['facts']['checkpoint loader'] == 'disdepth_core.checkpoint.load_checkpoint'


def test_dry_run_on_a_bare_python(tmp_path) -> None:
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(BARE_SITE)
    proc, data, md = run_shell(tmp_path, '--dry-run', '--sections', 'parity,latency',
                               pythonpath=str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = data['facts']
    assert facts['opencv'] == facts['pyyaml'] == facts['safetensors'] == 'not installed'
    assert facts['checkpoint loader'].startswith('built-in safetensors reader')
    tool = load_tool()
    skipped = {r['label'] for s in SECTIONS for r in data[s]
               if r['status'].startswith('skipped: OpenCV not installed')}
    assert skipped == {tool.PREDICT_PARITY} | {r['label'] for r in data['latency']
                                               if r['label'].endswith('CPU pre/post')}
    assert all(r['status'] == 'skipped: not in --sections' for r in data['training'])
    others = [r for s in ('parity', 'latency') for r in data[s] if r['label'] not in skipped]
    assert others and all(r['status'] == 'ok' for r in others)
    assert 'skipped: OpenCV not installed' in md


def test_the_time_cap_keeps_what_was_done(tmp_path) -> None:
    out = tmp_path / 'capped'
    env = {**os.environ, 'PYTHONPATH': str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, str(PY_SCRIPT), '--dry-run', '--out', str(out),
                           '--time-cap', '0.01'], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    data = json.loads((out / 'gpu_check.json').read_text())
    assert data['status'].startswith('stopped by the time cap (0.01 s)')
    md = (out / 'gpu_check.md').read_text()
    for section in SECTIONS:
        assert data[section] and all(r['status'] == 'not measured (time cap)'
                                     for r in data[section])
        assert all(r['label'] in md for r in data[section])


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device would run the full check')
def test_without_a_gpu_the_full_check_says_so(tmp_path) -> None:
    out = tmp_path / 'nogpu'
    env = {**os.environ, 'PYTHONPATH': str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, str(PY_SCRIPT), '--out', str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    data = json.loads((out / 'gpu_check.json').read_text())
    assert data['status'].startswith('no CUDA device visible to torch: nothing measured')
    assert 'no CUDA device' in proc.stderr


def test_safetensors_reader_matches_the_library(tmp_path) -> None:
    safetensors_torch = pytest.importorskip('safetensors.torch')
    from disdepth_core.assets import packaged_model_paths
    tool = load_tool()
    path = packaged_model_paths()['safetensors']
    ours = tool.read_safetensors(path)
    theirs = safetensors_torch.load_file(str(path))
    assert sorted(ours) == sorted(theirs)
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and torch.equal(ours[name], tensor), name
    mixed = {'a': torch.arange(6, dtype=torch.int64).reshape(2, 3),
             'b': torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
             'c': torch.zeros(0, 4, dtype=torch.float16), 'd': torch.tensor(3.0)}
    safetensors_torch.save_file(mixed, str(tmp_path / 'mixed.safetensors'))
    back = tool.read_safetensors(tmp_path / 'mixed.safetensors')
    for name, tensor in mixed.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    raw = (tmp_path / 'mixed.safetensors').read_bytes()
    (tmp_path / 'cut.safetensors').write_bytes(raw[:len(raw) - 4])
    with pytest.raises(ValueError, match="tensor '.' byte range"):
        tool.read_safetensors(tmp_path / 'cut.safetensors')
    (tmp_path / 'junk.safetensors').write_bytes(b'\xff' * 4)
    with pytest.raises(ValueError, match='too short'):
        tool.read_safetensors(tmp_path / 'junk.safetensors')


def test_frames_are_deterministic_and_textured() -> None:
    tool = load_tool()
    a = tool.synthetic_frames(2, (48, 64), seed=5)
    b = tool.synthetic_frames(2, (48, 64), seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (48, 64, 3) and a[0].dtype == np.uint8
    assert a[0].std() > 20 and not np.array_equal(a[0], a[1])
