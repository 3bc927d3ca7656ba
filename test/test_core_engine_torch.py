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

"""The torch engine: checkpoints, devices, precision, torch.compile switch, output handling."""

import numpy as np
import pytest
import torch
from torch import nn

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import create_estimator
from disdepth_core.inference import EngineUnavailableError
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference import torch_engine
from disdepth_core.inference.torch_engine import split_outputs
from disdepth_core.inference.torch_engine import TorchEstimator
from disdepth_core.modelspec import ModelSpec

SPEC = ModelSpec('t', 'student', 'tiny', 64, 96, 100.0, 0.1, 10.0)


class Brightness(nn.Module):
    """depth = 0.5 + 4 * mean brightness (2x2 pooled), confidence = brightness."""

    def forward(self, image: torch.Tensor) -> dict:
        grey = nn.functional.avg_pool2d(image.mean(dim=1, keepdim=True), 2)
        return {'depth': 0.5 + 4.0 * grey, 'confidence': grey}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cam(w: int = 96, h: int = 64, f: float = 100.0) -> CameraIntrinsics:
    return CameraIntrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)


def test_predict_scales_and_resizes() -> None:
    est = TorchEstimator(Brightness(), SPEC, device='cpu')
    assert est.info.engine == 'torch' and est.info.provider == 'cpu'
    assert est.info.precision == 'fp32' and est.info.notes == 'eager'
    rgb = np.full((128, 192, 3), 255, np.uint8)
    res = est.predict(rgb, cam(192, 128, 400.0))  # f_net = 200: scale 2
    assert res.depth.shape == (128, 192) and res.depth.dtype == np.float32
    np.testing.assert_allclose(res.depth, 9.0, rtol=1e-5)
    np.testing.assert_allclose(res.confidence, 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match='intrinsics are for'):
        est.predict(rgb, cam())


def test_bf16_stays_close_to_fp32() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 1, 1), nn.Softplus())
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    ref = TorchEstimator(model, SPEC, device='cpu').forward(x)['depth']
    got = TorchEstimator(model, SPEC, device='cpu', precision='bf16')
    assert got.info.precision == 'bf16'
    out = got.forward(x)
    assert out['depth'].dtype == np.float32 and 'confidence' not in out
    np.testing.assert_allclose(out['depth'], ref, rtol=0.05, atol=0.02)
    with pytest.raises(ValueError, match='precision'):
        TorchEstimator(model, SPEC, device='cpu', precision='int4')


def test_compile_switch_wraps_the_model(monkeypatch) -> None:
    calls = []

    def fake_compile(model, mode=None):
        calls.append(mode)
        return model
    monkeypatch.setattr(torch_engine.torch, 'compile', fake_compile)
    est = TorchEstimator(Brightness(), SPEC, device='cpu', compile=True,
                         compile_mode='reduce-overhead')
    assert calls == ['reduce-overhead'] and est.info.notes == 'torch.compile'
    assert est.predict(np.zeros((64, 96, 3), np.uint8), cam()).depth.shape == (64, 96)


def test_devices(monkeypatch) -> None:
    assert torch_engine.resolve_device('cpu').type == 'cpu'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert torch_engine.resolve_device('auto').type == 'cpu'
    with pytest.raises(EngineUnavailableError, match='no CUDA device'):
        torch_engine.resolve_device('cuda')
    with pytest.raises(EngineUnavailableError, match='no CUDA device'):
        TorchEstimator(Brightness(), SPEC, device='cuda:0')
    with pytest.raises(ValueError, match='unknown device'):
        torch_engine.resolve_device('tpu')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert torch_engine.resolve_device('cuda:0') == torch.device('cuda', 0)
    with pytest.raises(EngineUnavailableError, match='only 1 CUDA device'):
        torch_engine.resolve_device('cuda:3')


def test_split_outputs_accepts_the_usual_shapes() -> None:
    d = torch.ones(1, 1, 2, 2)
    c = torch.zeros(1, 1, 2, 2)
    assert split_outputs(d) == (d, None)
    assert split_outputs({'depth': d, 'confidence': c})[1] is c
    assert split_outputs((d, c))[1] is c
    assert split_outputs(type('Out', (), {'depth': d, 'confidence': None})())[0] is d
    with pytest.raises(TypeError, match='cannot find depth'):
        split_outputs(3)


def test_checkpoints_load_and_bad_ones_are_clear(tmp_path) -> None:
    from disdepth_core.checkpoint import save_checkpoint
    from disdepth_core.models import build_student
    from disdepth_core.models import StudentConfig
    cfg = StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=32)
    spec = ModelSpec('s', 'student', 'mobilenetv2', 64, 64, cfg.canonical_focal,
                     cfg.min_depth, cfg.max_depth)
    save_checkpoint(tmp_path / 'ckpt', build_student(cfg), spec, cfg)
    for name in ('ckpt.json', 'ckpt.safetensors'):
        est = create_estimator(tmp_path / name, device='cpu')
        assert est.spec == spec and est.info.model_path.endswith(name)
        res = est.predict(np.zeros((48, 64, 3), np.uint8), CameraIntrinsics.from_fov(60, 64, 48))
        assert res.depth.shape == (48, 64)
    (tmp_path / 'ckpt.json').write_text('{not json')
    with pytest.raises(ModelLoadError, match='cannot load the checkpoint'):
        create_estimator(tmp_path / 'ckpt.json')
