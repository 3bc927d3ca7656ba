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
``disdepth eval`` and :func:`evaluate` with fake estimators whose errors are known exactly.
"""

from dataclasses import dataclass
import json
import math

import numpy as np
import pytest

from disdepth_core.data.augment import Augmenter
from disdepth_core.data.rgbd_folder import RGBDFolderDataset
from disdepth_core.data.rgbd_folder import write_rgbd_folder
from disdepth_core.evaluation import evaluate
from disdepth_core.evaluation import flip_intrinsics
from disdepth_core.evaluation import resolve_protocol
from disdepth_core.geometry import CameraIntrinsics
import disdepth_core.inference
from disdepth_ros import cli

K = CameraIntrinsics(40.0, 40.0, 15.0, 11.5, 32, 24)


@dataclass
class _Spec:
    max_depth: float = 10.0
    name: str = 'fake'


@dataclass
class _Result:
    depth: np.ndarray
    confidence: np.ndarray


class FakeEstimator:
    """Return ``factor * gt`` for images it knows (looked up by their bytes)."""

    def __init__(self, frames, factor=1.1, flip_factor=None, spec=None):
        self.table = {}
        self.spec = spec or _Spec()
        self.calls = []
        for rgb, depth in frames:
            self.table[rgb.tobytes()] = (depth * factor, K)
            mirrored = np.ascontiguousarray(rgb[:, ::-1])
            f = factor if flip_factor is None else flip_factor
            self.table[mirrored.tobytes()] = (depth[:, ::-1] * f, flip_intrinsics(K))

    def predict(self, rgb, intrinsics):
        depth, k = self.table[rgb.tobytes()]
        assert intrinsics == k  # the flipped image comes with mirrored intrinsics
        self.calls.append(intrinsics)
        return _Result(depth.astype(np.float32), np.ones_like(depth, np.float32))


def _frames(n=3, seed=0, far=None):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 8.0, (24, 32)).astype(np.float32)
        depth[:2] = 0.0  # invalid rows
        if far is not None:
            depth[-1] = far
        out.append((rgb, depth))
    return out


def _expected_metric(depths, factor, min_depth=1e-3, max_depth=10.0):
    rows = []
    for d in depths:
        g = d[(d > min_depth) & (d < max_depth)].astype(np.float64)
        rows.append({'sq_rel': float(np.mean((factor - 1) ** 2 * g)),
                     'rmse': abs(factor - 1) * float(np.sqrt(np.mean(g ** 2)))})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def test_evaluate_gt_times_1_1(tmp_path):
    frames = _frames(far=15.0)  # the 15 m row lies beyond the 10 m cap of the model
    root = write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy')
    est = FakeEstimator(frames)
    result = evaluate(est, RGBDFolderDataset(root))
    m = result['metrics']
    assert result['n_images'] == 3 and result['n_skipped'] == 0
    assert result['settings']['max_depth'] == 10.0 and result['settings']['crop'] == 'none'
    assert m['abs_rel'] == pytest.approx(0.1)
    assert m['d1'] == 1.0 and m['d2'] == 1.0
    assert m['log10'] == pytest.approx(math.log10(1.1))
    assert m['rmse_log'] == pytest.approx(math.log(1.1))
    assert m['silog'] == pytest.approx(0.0, abs=1e-4)
    expected = _expected_metric([d for _, d in frames], 1.1)
    assert m['sq_rel'] == pytest.approx(expected['sq_rel'], rel=1e-6)
    assert m['rmse'] == pytest.approx(expected['rmse'], rel=1e-6)
    ms = result['metrics_median_scaled']
    assert ms['abs_rel'] == pytest.approx(0.0, abs=1e-6) and ms['scale'] == pytest.approx(1 / 1.1)
    assert len(result['per_image']) == 3


def test_caps_from_spec_and_overrides(tmp_path):
    frames = _frames(far=15.0)
    root = write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy')
    # a 20 m model keeps the 15 m row, where 1.1 x 15 = 16.5 stays inside the cap
    est = FakeEstimator(frames, spec=_Spec(max_depth=20.0))
    result = evaluate(est, RGBDFolderDataset(root))
    assert result['settings']['max_depth'] == 20.0
    exp = _expected_metric([d for _, d in frames], 1.1, max_depth=20.0)
    assert result['metrics']['rmse'] == pytest.approx(exp['rmse'], rel=1e-6)
    # an explicit 7 m cap clips predictions (1.1 x 6.5 = 7.15 -> 7)
    result = evaluate(est, RGBDFolderDataset(root), max_depth=7.0)
    per_image = []
    for _, d in frames:
        g = d[(d > 1e-3) & (d < 7.0)].astype(np.float64)
        per_image.append(np.mean(np.abs(g - np.minimum(1.1 * g, 7.0)) / g))
    assert result['metrics']['abs_rel'] == pytest.approx(np.mean(per_image), rel=1e-6)
    assert result['metrics']['abs_rel'] < 0.1


def test_flip_tta_averages_with_mirrored_intrinsics(tmp_path):
    frames = _frames(n=2)
    root = write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy')
    est = FakeEstimator(frames, factor=1.1, flip_factor=0.9)
    result = evaluate(est, RGBDFolderDataset(root), flip_tta=True)
    assert result['metrics']['abs_rel'] == pytest.approx(0.0, abs=1e-6)
    assert len(est.calls) == 4 and est.calls[1].cx == pytest.approx(32 - 1 - 15.0)
    result = evaluate(est, RGBDFolderDataset(root), flip_tta=False)
    assert result['metrics']['abs_rel'] == pytest.approx(0.1)


def test_frames_without_valid_depth_are_skipped(tmp_path):
    frames = _frames(n=2)
    frames[1] = (frames[1][0], np.zeros_like(frames[1][1]))
    root = write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy')
    result = evaluate(FakeEstimator(frames), RGBDFolderDataset(root))
    assert result['n_images'] == 1 and result['n_skipped'] == 1 and result['skipped'] == ['0001']


def test_protocol_resolution_and_guards(tmp_path):
    frames = _frames(n=1)
    ds = RGBDFolderDataset(write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy'))
    assert resolve_protocol(ds, None).max_depth == 10.0
    assert resolve_protocol(ds, _Spec(max_depth=6.0)).max_depth == 6.0
    kitti = resolve_protocol(ds, _Spec(), 'kitti')
    assert (kitti.max_depth, kitti.crop) == (80.0, 'garg')
    nyu = resolve_protocol(ds, None, 'nyu', crop='none', max_depth=5.0)
    assert (nyu.max_depth, nyu.crop) == (5.0, 'none')
    with pytest.raises(ValueError, match='unknown evaluation protocol'):
        resolve_protocol(ds, None, 'foo')
    ds.augment = Augmenter()
    with pytest.raises(ValueError, match='without augmentation'):
        evaluate(FakeEstimator(frames), ds)


def test_cli_eval_writes_json(tmp_path, monkeypatch, capsys):
    frames = _frames(n=2)
    root = write_rgbd_folder(tmp_path / 'set', K, frames, depth_format='npy')
    seen = {}

    def fake_create(model=None, engine='auto', device='auto', **options):
        seen.update(model=model, engine=engine)
        return FakeEstimator(frames, factor=1.3, spec=_Spec(max_depth=20.0))

    monkeypatch.setattr(disdepth_core.inference, 'create_estimator', fake_create)
    out = tmp_path / 'res' / 'eval.json'
    assert cli.main(['eval', '--data', str(root), '--json', str(out), '--model', 'm.onnx',
                     '--engine', 'onnxruntime', '--per-image']) == 0
    assert seen == {'model': 'm.onnx', 'engine': 'onnxruntime'}
    data = json.loads(out.read_text())
    assert data['metrics']['abs_rel'] == pytest.approx(0.3)
    assert data['metrics']['d1'] == 0.0 and data['metrics']['d2'] == 1.0
    assert data['n_images'] == 2 and len(data['per_image']) == 2
    assert 'abs_rel' in capsys.readouterr().out
    assert not list(out.parent.glob('.eval.json.*'))
    # clear errors
    assert cli.main(['eval', '--data', str(tmp_path / 'missing')]) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert cli.main(['eval', '--data', str(root), '--dataset', 'nyu']) == 2
    assert '--split' in capsys.readouterr().err


def test_eval_on_shared_hololens(shared_data):
    ds = RGBDFolderDataset(shared_data / 'real' / 'hololens_dvmvs', max_frames=3)
    frames = [(f.rgb, f.depth) for f in (ds.load_frame(i) for i in range(3))]
    holo_k = ds.load_frame(0).intrinsics

    class Fake(FakeEstimator):
        """Checks the intrinsics of the shared set."""

        def predict(self, rgb, intrinsics):
            assert intrinsics == holo_k
            return _Result(self.table[rgb.tobytes()][0], None)

    result = evaluate(Fake(frames, factor=0.8), ds)
    assert result['n_images'] == 3
    assert result['metrics']['abs_rel'] == pytest.approx(0.2, rel=1e-5)
    assert result['metrics_median_scaled']['scale'] == pytest.approx(1.25, rel=1e-5)


def test_cli_eval_with_a_real_onnx_model(tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from disdepth_core.data.synthetic.writer import generate
    from disdepth_core.inference.toymodel import write_toy_onnx
    from disdepth_core.metrics import compute_metrics
    from disdepth_core.metrics import MetricAccumulator

    model = write_toy_onnx(tmp_path / 'toy.onnx')
    data = generate(tmp_path / 'synth', frames=2, height=48, width=64, seed=3)
    out = tmp_path / 'eval.json'
    assert cli.main(['eval', '--data', str(data), '--model', str(model), '--json',
                     str(out)]) == 0
    result = json.loads(out.read_text())
    # the same numbers straight from the estimator and the metric functions
    est = disdepth_core.inference.create_estimator(str(model))
    acc = MetricAccumulator()
    ds = RGBDFolderDataset(data)
    for i in range(len(ds)):
        frame = ds.load_frame(i)
        pred = est.predict(frame.rgb, frame.intrinsics).depth
        acc.update(compute_metrics(frame.depth, pred, 1e-3, est.spec.max_depth))
    for key, value in acc.mean().items():
        assert result['metrics'][key] == pytest.approx(value, rel=1e-6)
    assert result['settings']['engine'] == 'onnxruntime'
