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

"""The experiment tools: evaluation table over held-out slices, and default-model packaging."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from disdepth_core.checkpoint import load_checkpoint
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.training.config import load_train_config
from disdepth_core.training.loop import fit

REPO_ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('exp')
    k = CameraIntrinsics(80.0, 80.0, 47.5, 35.5, 96, 72)
    rng = np.random.default_rng(2)
    with RGBDFolderWriter(root / 'frames', k) as writer:
        for i in range(6):
            writer.add(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8),
                       np.full((72, 96), 1.0 + 0.5 * i, np.float32))
    cfg = load_train_config('tiny', ['data.train.0.name=rgbd_folder',
                                     f'data.train.0.root={root / "frames"}',
                                     'schedule.max_steps=2'])
    fit(cfg, root / 'student', quiet=True)
    return root


def test_parse_set_reads_label_path_selection_and_protocol() -> None:
    tool = _tool('experiment_eval')
    assert tool.parse_set('holo=../data/h[30:]') == ('holo', Path('../data/h'), '30:', 'auto')
    assert tool.parse_set('k=/x/kitti@kitti') == ('k', Path('/x/kitti'), '', 'kitti')
    with pytest.raises(ValueError, match='label=path'):
        tool.parse_set('no-label')


def test_experiment_eval_writes_the_table(trained: Path, tmp_path: Path) -> None:
    tool = _tool('experiment_eval')
    frames = trained / 'frames'
    rc = tool.main(['--out', str(tmp_path), '--model', f'a={trained / "student" / "final"}',
                    '--set', f'all={frames}', '--set', f'last2={frames}[-2:]'])
    assert rc == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    sets = results['models']['a']['sets']
    assert sets['all']['n_images'] == 6 and sets['last2']['n_images'] == 2
    assert 0 < sets['all']['metrics']['abs_rel'] < 10
    table = (tmp_path / 'results.md').read_text()
    assert '| a |' in table and 'last2' in table


def test_constant_yardstick_is_scored_by_the_same_code(trained: Path, tmp_path: Path) -> None:
    tool = _tool('experiment_eval')
    frames = trained / 'frames'
    rc = tool.main(['--out', str(tmp_path), '--constant', 'const=2.0', '--set', f'all={frames}'])
    assert rc == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    entry = results['models']['const']
    assert entry['constant_m'] == 2.0
    gt = 1.0 + 0.5 * np.arange(6)          # each frame is one flat depth
    want = float(np.mean(np.abs(2.0 - gt) / gt))
    assert entry['sets']['all']['metrics']['abs_rel'] == pytest.approx(want, rel=1e-5)
    # median scaling makes a constant exact on a flat frame
    assert entry['sets']['all']['metrics_median_scaled']['abs_rel'] == pytest.approx(0, abs=1e-6)
    assert '| const | |' in (tmp_path / 'results.md').read_text()
    with pytest.raises(SystemExit):
        tool.main(['--out', str(tmp_path), '--constant', 'bad=-1', '--set', f'all={frames}'])


def test_package_writes_checkpoint_and_onnx(trained: Path, tmp_path: Path) -> None:
    pytest.importorskip('onnxruntime')
    tool = _tool('experiment_package')
    rc = tool.main([str(trained / 'student' / 'final'), '--assets', str(tmp_path),
                    '--name', 'packaged-test'])
    assert rc == 0, 'packaging failed'
    model, spec, meta = load_checkpoint(tmp_path / 'disdepth_default')
    assert spec.name == 'packaged-test' and 'recipe' in spec.extra
    assert (tmp_path / 'disdepth_default.onnx').stat().st_size > 1000
