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

"""``disdepth export``: every student backbone and the teacher, metadata, parity, atomic writes."""

from pathlib import Path

import numpy as np
import pytest
import torch

from disdepth_core.export import export_onnx
from disdepth_core.export import ExportError
from disdepth_core.export import optimize_for_onnxruntime
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import create_estimator
from disdepth_core.models import build_student
from disdepth_core.models import build_teacher
from disdepth_core.models import StudentConfig
from disdepth_core.models import TeacherConfig
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_ros.commands import export

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

HW = (64, 64)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_student(backbone: str):
    torch.manual_seed(0)
    cfg = StudentConfig(backbone=backbone, n_bins=16, decoder_width=32, decoder_min_width=8,
                        bins_hidden=32, lgconv='dense')
    spec = ModelSpec(f'tiny-{backbone}', 'student', backbone, HW[0], HW[1],
                     cfg.canonical_focal, cfg.min_depth, cfg.max_depth)
    return build_student(cfg), spec, cfg


def metadata(path: Path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.mark.slow
@pytest.mark.parametrize('backbone', ['mobilenetv2', 'resnet18', 'efficientnet_b0', 'resnet50'])
def test_every_student_exports_with_parity(tmp_path, backbone) -> None:
    model, spec, _ = tiny_student(backbone)
    path = tmp_path / f'{backbone}.onnx'
    report = export_onnx(model, spec, path)
    assert report['checker'] == 'passed' and report['parity'] == 'passed'
    assert report['outputs'] == ['depth', 'confidence']
    for name in ('depth', 'confidence'):
        assert 0 <= report['max_abs_err'][name] <= report['tolerance'][name]
    assert report['tolerance']['depth'] < 1e-3 * spec.max_depth
    # the bins head computes channels-last: nothing left for the channel-axis rewrites
    assert report['rewrites'] == {'softmax': 0, 'reduce_sum': 0}
    proto = onnx.load(str(path))
    softmax = [n for n in proto.graph.node if n.op_type == 'Softmax']
    assert len(softmax) == 1
    assert [a.i for a in softmax[0].attribute if a.name == 'axis'] in ([], [-1], [3])
    assert [i.name for i in proto.graph.input] == ['image']
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, HW[0], HW[1]]
    assert [o.name for o in proto.graph.output] == ['depth', 'confidence']
    out_dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [1, 1, HW[0] // 2, HW[1] // 2]
    meta = metadata(path)
    assert ModelSpec.from_json(meta[ONNX_METADATA_KEY]) == spec
    assert meta['disdepth.backbone'] == backbone
    assert meta['disdepth.resolution'].startswith('64x64')
    assert meta['disdepth.depth_range'] == f'{spec.min_depth:g}..{spec.max_depth:g} m'
    assert 'inside the graph' in meta['disdepth.preprocessing']
    assert meta['disdepth.canonical_focal'].startswith(f'{spec.canonical_focal:g} px')
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'{backbone}.onnx']


def test_teacher_exports_with_parity(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = TeacherConfig.tiny()
    spec = ModelSpec('tiny-teacher', 'teacher', 'vit', 64, 96, cfg.canonical_focal,
                     cfg.min_depth, cfg.max_depth)
    report = export_onnx(build_teacher(cfg), spec, tmp_path / 'teacher.onnx')
    assert report['parity'] == 'passed'
    assert report['max_abs_err']['depth'] <= report['tolerance']['depth']
    est = create_estimator(tmp_path / 'teacher.onnx')
    assert est.spec.architecture == 'teacher' and est.net_hw == (64, 96)


def test_dynamic_export_runs_at_other_sizes(tmp_path) -> None:
    model, spec, _ = tiny_student('mobilenetv2')
    report = export_onnx(model, spec, tmp_path / 'dyn.onnx', dynamic=True)
    assert report['dynamic'] and report['parity'] == 'passed'  # checked at 64x64 and 96x128
    est = create_estimator(tmp_path / 'dyn.onnx', input_size=(96, 128))
    assert est.spec.dynamic
    assert est.forward(np.zeros((1, 3, 96, 128), np.float32))['depth'].shape == (1, 1, 48, 64)


def test_export_size_and_parity_failures_leave_nothing(tmp_path, monkeypatch) -> None:
    model, spec, _ = tiny_student('mobilenetv2')
    with pytest.raises(ValueError, match='multiple of 32'):
        export_onnx(model, spec, tmp_path / 'bad.onnx', height=60)
    import disdepth_core.export as library
    monkeypatch.setattr(library, 'PARITY_ATOL', -1.0)
    with pytest.raises(ExportError, match='disagree'):
        export_onnx(model, spec, tmp_path / 'never.onnx')
    assert list(tmp_path.iterdir()) == []


def test_torch_and_onnxruntime_engines_agree(tmp_path) -> None:
    from disdepth_core.checkpoint import save_checkpoint
    model, spec, cfg = tiny_student('mobilenetv2')
    save_checkpoint(tmp_path / 'ckpt', model, spec, cfg)
    assert export.run(export_args(tmp_path / 'ckpt.safetensors', tmp_path / 'm.onnx')) == 0
    ort_est = create_estimator(tmp_path / 'm.onnx')
    torch_est = create_estimator(tmp_path / 'ckpt.json', device='cpu')
    assert (ort_est.info.engine, torch_est.info.engine) == ('onnxruntime', 'torch')
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    k = CameraIntrinsics.from_fov(70.0, 80, 48)
    a, b = ort_est.predict(rgb, k), torch_est.predict(rgb, k)
    assert a.depth.shape == (48, 80)
    np.testing.assert_allclose(a.depth, b.depth, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


def export_args(checkpoint: Path, out: Path, *extra: str):
    import argparse
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    return parser.parse_args([str(checkpoint), str(out), *extra])


def test_export_cli_errors(tmp_path, capsys) -> None:
    assert export.run(export_args(tmp_path / 'missing.json', tmp_path / 'o.onnx')) == 1
    assert 'not found' in capsys.readouterr().err
    assert export.run(export_args(tmp_path / 'missing.json', tmp_path / 'o.txt')) == 2
    assert 'must end in .onnx' in capsys.readouterr().err


def test_onnxruntime_rewrites_are_exact_and_selective(tmp_path) -> None:
    import onnxruntime as ort
    from onnx import helper
    from onnx import numpy_helper
    from onnx import TensorProto
    axes = numpy_helper.from_array(np.array([1], np.int64), 'axes')
    last = numpy_helper.from_array(np.array([3], np.int64), 'last')
    nodes = [helper.make_node('Softmax', ['x'], ['p'], axis=1, name='sm'),
             helper.make_node('Softmax', ['x'], ['q'], axis=-1, name='sm_last'),
             helper.make_node('ReduceSum', ['p', 'axes'], ['s'], keepdims=1, name='rs'),
             helper.make_node('ReduceSum', ['p', 'axes'], ['s0'], keepdims=0, name='rs0'),
             helper.make_node('ReduceSum', ['q', 'last'], ['s3'], keepdims=1, name='rs3')]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n, shape in (
        ('p', [1, 5, 4, 6]), ('q', [1, 5, 4, 6]), ('s', [1, 1, 4, 6]), ('s0', [1, 4, 6]),
        ('s3', [1, 5, 4, 1]))]
    graph = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info(
        'x', TensorProto.FLOAT, [1, 5, 4, 6])], outs, initializer=[axes, last])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    x = np.random.default_rng(0).normal(0, 5, (1, 5, 4, 6)).astype(np.float32)

    def run(m):
        sess = ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
        return sess.run(None, {'x': x})
    before = run(model)
    counts = optimize_for_onnxruntime(model)
    onnx.checker.check_model(model)
    assert counts == {'softmax': 1, 'reduce_sum': 2}  # rs and the new softmax sum
    ops = [n.op_type for n in model.graph.node]
    assert ops.count('Softmax') == 1 and ops.count('ReduceSum') == 2  # last-axis ones stay
    for a, b in zip(before, run(model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_no_optimize_keeps_the_traced_graph(tmp_path) -> None:
    model, spec, _ = tiny_student('mobilenetv2')
    report = export_onnx(model, spec, tmp_path / 'plain.onnx', optimize=False)
    assert report['rewrites'] == {} and report['parity'] == 'passed'
    ops = {n.op_type for n in onnx.load(str(tmp_path / 'plain.onnx')).graph.node}
    assert 'Softmax' in ops


@pytest.mark.slow
def test_export_cli_int8(tmp_path, capsys) -> None:
    import json
    from disdepth_core.checkpoint import save_checkpoint
    model, spec, cfg = tiny_student('mobilenetv2')
    save_checkpoint(tmp_path / 'ckpt', model, spec, cfg)
    out = tmp_path / 'int8.onnx'
    args = export_args(tmp_path / 'ckpt.json', out, '--int8', '--calib-frames', '2')
    assert export.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report['path'] == str(out) and report['parity'] == 'passed'
    assert report['int8']['drift']['delta1'] >= 0.95
    assert metadata(out)['disdepth.precision'] == 'int8'
    assert create_estimator(out).info.precision == 'int8'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt.json', 'ckpt.safetensors',
                                                          'int8.onnx']
