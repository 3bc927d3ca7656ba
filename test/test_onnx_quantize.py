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

"""INT8 static quantisation: QDQ graph, metadata, engine support and bounded accuracy drift."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from disdepth_core.export import export_onnx
from disdepth_core.inference import create_estimator
from disdepth_core.inference.quantize import calibration_images
from disdepth_core.inference.quantize import depth_agreement
from disdepth_core.inference.quantize import logits_nodes
from disdepth_core.inference.quantize import quantize_int8
from disdepth_core.inference.toymodel import write_toy_onnx
from disdepth_core.models import build_student
from disdepth_core.models import StudentConfig
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime.quantization')

SHARED_REAL = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'real'


@pytest.fixture(scope='module')
def fp32_model(tmp_path_factory) -> Path:
    """A small mobilenetv2 student with sharpened bin logits, so depth varies per pixel."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = StudentConfig(backbone='mobilenetv2', n_bins=16, decoder_width=32,
                        decoder_min_width=8, bins_hidden=32)
    model = build_student(cfg).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.out_channels == cfg.n_bins:
                m.weight.mul_(20.0)
    spec = ModelSpec('q', 'student', 'mobilenetv2', 64, 96, cfg.canonical_focal,
                     cfg.min_depth, cfg.max_depth)
    path = tmp_path_factory.mktemp('q') / 'fp32.onnx'
    export_onnx(model, spec, path)
    return path


def rgbd_folder(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(3)
    (root / 'rgb').mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)
        cv2.imwrite(str(root / 'rgb' / f'{i:04d}.png'), img)
    return root


@pytest.mark.slow
def test_int8_model_is_qdq_keeps_metadata_and_stays_close(fp32_model, tmp_path) -> None:
    out = tmp_path / 'int8.onnx'
    report = quantize_int8(fp32_model, out, n_frames=6)
    proto = onnx.load(str(out))
    ops = {n.op_type for n in proto.graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta['disdepth.precision'] == 'int8'
    assert '6 synthetic frames' in meta['disdepth.calibration']
    fp32_meta = {p.key: p.value for p in onnx.load(str(fp32_model)).metadata_props}
    assert meta[ONNX_METADATA_KEY] == fp32_meta[ONNX_METADATA_KEY]
    assert report['size_bytes'] < 0.5 * report['fp32_size_bytes']
    # the bins head (softmax, expected depth, entropy) stays in float; the logit layer runs
    # with int8 inputs and weights but a float output
    float_nodes = json.loads(meta['disdepth.calibration'])['float_nodes']
    assert len(float_nodes) >= 3
    producer = {o: n for n in proto.graph.node for o in n.output}

    def dequantized(name):
        return name in producer and producer[name].op_type == 'DequantizeLinear'

    def requantized(node):
        return any(c.op_type == 'QuantizeLinear' for c in proto.graph.node
                   if node.output[0] in c.input)

    logits = logits_nodes(proto)
    assert len(logits) == 1 and logits[0] not in float_nodes
    float_linear = [n for n in proto.graph.node
                    if n.name in float_nodes and n.op_type in ('Conv', 'MatMul', 'Gemm')]
    assert float_linear  # the expected depth (probabilities x centres), the width MLP
    for node in float_linear:  # float weights, float output (no QuantizeLinear after it)
        assert not dequantized(node.input[1]) and not requantized(node), node.name
    logit_layer = next(n for n in proto.graph.node if n.name == logits[0])
    assert dequantized(logit_layer.input[0]) and dequantized(logit_layer.input[1])
    assert not requantized(logit_layer)
    assert not any(n.op_type in ('Exp', 'Log') and n.name not in float_nodes
                   for n in proto.graph.node)
    softmax = [n for n in proto.graph.node if n.op_type == 'Softmax']
    assert softmax
    for node in softmax:  # float logits in, float probabilities out
        assert not dequantized(node.input[0]) and not requantized(node), node.name
    # the bin-width MLP (vectors, not feature maps) sets every pixel's scale: float too
    gemms = [n for n in proto.graph.node if n.op_type in ('Gemm', 'MatMul')
             and n.name not in logits]
    assert gemms and all(n.name in float_nodes and not dequantized(n.input[1]) for n in gemms)
    est = create_estimator(out)
    assert est.info.precision == 'int8'
    # drift on held-out frames (not the calibration ones)
    ref_est = create_estimator(fp32_model)
    frames, _ = calibration_images(None, 4, seed=123)
    ref = np.stack([ref_est.forward(est_input(ref_est, f))['depth'] for f in frames])
    got = np.stack([est.forward(est_input(est, f))['depth'] for f in frames])
    assert float(np.std(ref)) > 0.05  # the sharpened model really varies per pixel
    drift = depth_agreement(ref, got)
    assert drift['delta1'] >= 0.97, drift
    assert drift['abs_rel'] <= 0.05, drift
    assert report['drift']['delta1'] >= 0.97


@pytest.mark.slow
def test_float_logits_keeps_the_logit_layer_in_float(fp32_model, tmp_path) -> None:
    out = tmp_path / 'int8-float-logits.onnx'
    report = quantize_int8(fp32_model, out, n_frames=4, float_logits=True)
    proto = onnx.load(str(out))
    float_nodes = json.loads({p.key: p.value for p in proto.metadata_props}
                             ['disdepth.calibration'])['float_nodes']
    logits = logits_nodes(proto)
    assert logits and set(logits) <= set(float_nodes)
    producer = {o: n for n in proto.graph.node for o in n.output}
    layer = next(n for n in proto.graph.node if n.name == logits[0])
    assert layer.input[1] not in producer or producer[layer.input[1]].op_type != \
        'DequantizeLinear'
    assert report['drift']['delta1'] >= 0.97


def est_input(est, rgb: np.ndarray) -> np.ndarray:
    from disdepth_core.transforms import to_network_input
    return to_network_input(rgb, est._prep)


def test_calibration_from_an_rgbd_folder(fp32_model, tmp_path) -> None:
    folder = rgbd_folder(tmp_path / 'set')
    frames, described = calibration_images(folder, 3)
    assert len(frames) == 3 and frames[0].shape == (48, 72, 3)
    assert str(folder) in described
    report = quantize_int8(fp32_model, tmp_path / 'int8.onnx', calib_dir=folder, n_frames=3)
    assert report['calibration'].startswith('3 frames from')
    assert report['drift']['delta1'] >= 0.95
    assert sorted(p.name for p in tmp_path.iterdir()) == ['int8.onnx', 'set']


@pytest.mark.skipif(not SHARED_REAL.is_dir(), reason=f'real RGB-D frames not found at '
                    f'{SHARED_REAL} (only present beside a development checkout)')
def test_calibration_on_the_real_dev_frames(fp32_model, tmp_path) -> None:
    frames, described = calibration_images(SHARED_REAL, 4)
    assert len(frames) == 4 and all(f.ndim == 3 for f in frames)
    report = quantize_int8(fp32_model, tmp_path / 'int8.onnx', calib_dir=SHARED_REAL,
                           n_frames=4)
    assert report['drift']['delta1'] >= 0.95


def test_bad_inputs_are_rejected(fp32_model, tmp_path) -> None:
    foreign = write_toy_onnx(tmp_path / 'foreign.onnx', spec=None)
    with pytest.raises(ValueError, match='not a DisDepth model'):
        quantize_int8(foreign, tmp_path / 'x.onnx', n_frames=1)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        quantize_int8(fp32_model, tmp_path / 'x.onnx', calib_dir=tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no images'):
        calibration_images(tmp_path / 'empty', 2)
    assert not (tmp_path / 'x.onnx').exists()


def test_depth_agreement_by_hand() -> None:
    ref = np.array([1.0, 2.0, 4.0, np.nan])
    got = np.array([1.0, 3.0, 4.4, 1.0])
    a = depth_agreement(ref, got)
    assert a['delta1'] == pytest.approx(2 / 3)
    assert a['abs_rel'] == pytest.approx((0 + 0.5 + 0.1) / 3)
    assert a['max_abs'] == pytest.approx(1.0)
