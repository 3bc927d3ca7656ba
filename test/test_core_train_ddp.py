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

"""DDP: two CPU processes (gloo) launched by torchrun train in lockstep and end identical."""

import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.geometry import CameraIntrinsics

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    pytest.importorskip('torch.distributed.run')
    root = tmp_path / 'frames'
    k = CameraIntrinsics(80.0, 80.0, 47.5, 35.5, 96, 72)
    rng = np.random.default_rng(1)
    with RGBDFolderWriter(root, k) as writer:
        for i in range(8):
            writer.add(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8),
                       np.full((72, 96), 1.0 + 0.3 * i, np.float32))
    out = tmp_path / 'run'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO_ROOT)}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           '-m', 'disdepth_ros.cli', 'train', '--config', 'tiny', '--quiet', '--out', str(out),
           'data.train.0.name=rgbd_folder', f'data.train.0.root={root}', 'data.batch_size=2',
           'schedule.max_steps=0', 'schedule.epochs=2']
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['world_size'] == 2
    # 8 frames / 2 ranks / batch 2 = 2 steps per epoch, 2 epochs
    assert summary['steps_per_epoch'] == 2 and summary['steps'] == 4
    digests = summary['param_digests']
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (out / 'final.safetensors').is_file() and (out / 'config.yaml').is_file()
    train_lines = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    assert [d['step'] for d in train_lines if d['kind'] == 'train'] == [1, 2, 3, 4]
