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

"""The onnxruntime engine on real ONNX Runtime: loading, clear errors, metric output, imports."""

import json
from pathlib import Path
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import create_estimator
from disdepth_core.inference import DepthEstimator
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference.toymodel import TOY_GAIN
from disdepth_core.inference.toymodel import TOY_OFFSET
from disdepth_core.inference.toymodel import TOY_SPEC
from disdepth_core.inference.toymodel import write_toy_onnx
from disdepth_core.modelspec import ModelSpec

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_toy_model_gives_the_expected_metric_depth(tmp_path) -> None:
    est = create_estimator(write_toy_onnx(tmp_path / 'toy.onnx'), device='cpu')
    assert isinstance(est, DepthEstimator)
    assert est.info.provider == 'CPUExecutionProvider' and est.info.precision == 'fp32'
    assert est.spec == TOY_SPEC
    rgb = np.zeros((128, 192, 3), np.uint8)
    rgb[:, 96:] = 255  # right half bright: canonical depth 4.5 m, left half 0.5 m
    # the image is twice the network size; f = 150 px -> f_net = 75, scale 0.75
    k = CameraIntrinsics(150.0, 150.0, 95.5, 63.5, 192, 128)
    res = est.predict(rgb, k)
    assert res.depth.shape == (128, 192) and res.depth.dtype == np.float32
    assert res.confidence.shape == (128, 192)
    np.testing.assert_allclose(res.depth[:, :80], TOY_OFFSET * 0.75, rtol=1e-5)
    np.testing.assert_allclose(res.depth[:, 112:], (TOY_OFFSET + TOY_GAIN) * 0.75, rtol=1e-5)
    np.testing.assert_allclose(res.confidence[:, 112:], 1.0, rtol=1e-5)
    assert res.timings_ms['infer'] > 0


def test_dynamic_model_runs_at_the_requested_size(tmp_path) -> None:
    path = write_toy_onnx(tmp_path / 'dyn.onnx', dynamic=True)
    est = create_estimator(path, input_size=(128, 160))
    assert est.net_hw == (128, 160) and est.spec.dynamic
    out = est.forward(np.zeros((1, 3, 128, 160), np.float32))
    assert out['depth'].shape == (1, 1, 64, 80)
    with pytest.raises(ValueError, match='multiple of 32'):
        create_estimator(path, input_size=(100, 160))


def test_corrupt_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / 'corrupt.onnx'
    bad.write_bytes(b'\x08\x07garbage that is not a protobuf' * 10)
    with pytest.raises(ModelLoadError, match='corrupt.onnx: onnxruntime cannot load it'):
        create_estimator(bad)
    good = write_toy_onnx(tmp_path / 'trunc.onnx')
    good.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ModelLoadError, match='cannot load'):
        create_estimator(good)


def test_onnx_without_disdepth_metadata_is_rejected(tmp_path) -> None:
    path = write_toy_onnx(tmp_path / 'foreign.onnx', spec=None)
    with pytest.raises(ModelLoadError, match='not a DisDepth model.*disdepth export'):
        create_estimator(path)


def test_wrong_input_shape_and_name_are_rejected(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match=r'must be N x 3 x H x W, got \[1, 1, 64, 96\]'):
        create_estimator(write_toy_onnx(tmp_path / 'grey.onnx', channels=1))
    with pytest.raises(ModelLoadError, match='one input named "image"'):
        create_estimator(write_toy_onnx(tmp_path / 'named.onnx', input_name='input'))


def test_mismatched_spec_is_rejected(tmp_path) -> None:
    spec = ModelSpec('m', 'student', 'toy', 64, 96, 100.0, 0.1, 10.0, dynamic=True)
    path = write_toy_onnx(tmp_path / 'mismatch.onnx', spec=spec, exact_spec=True)
    with pytest.raises(ModelLoadError, match='fixed to 64x96 \\(mismatched spec\\)'):
        create_estimator(path)


def test_inference_path_imports_neither_torch_nor_onnx(tmp_path) -> None:
    path = write_toy_onnx(tmp_path / 'toy.onnx')
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import disdepth_core.inference
        from disdepth_core.geometry import CameraIntrinsics
        est = disdepth_core.inference.create_estimator({str(path)!r}, engine='onnxruntime')
        res = est.predict(np.zeros((64, 96, 3), np.uint8),
                          CameraIntrinsics(100.0, 100.0, 47.5, 31.5, 96, 64))
        import json
        print(json.dumps({{'shape': list(res.depth.shape),
                          'loaded': sorted(m for m in ('torch', 'onnx') if m in sys.modules)}}))
    """)
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {'shape': [64, 96], 'loaded': []}
