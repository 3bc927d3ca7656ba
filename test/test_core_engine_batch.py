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

"""Batched prediction and the torch engine's GPU options, checked on the CPU."""

import argparse
from pathlib import Path
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import torch_engine
from disdepth_core.inference.postprocess import batch_network_input
from disdepth_core.inference.postprocess import finish_batch
from disdepth_core.inference.postprocess import predict_batch_with
from disdepth_core.inference.postprocess import predict_with
from disdepth_core.inference.torch_engine import capture_cuda_graph
from disdepth_core.inference.torch_engine import DeviceStages
from disdepth_core.inference.torch_engine import resize_matrix
from disdepth_core.inference.torch_engine import resize_rule
from disdepth_core.inference.torch_engine import TorchEstimator
from disdepth_core.models import build_student
from disdepth_core.models import StudentConfig
from disdepth_core.models.bins import BinsHead
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import Preprocessing

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC = ModelSpec('t', 'student', 'tiny', 64, 96, 100.0, 0.1, 10.0)
PREP = Preprocessing(64, 96)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Brightness(nn.Module):
    """depth = 0.5 + 4 * mean brightness (2x2 pooled), confidence = brightness."""

    def forward(self, image: torch.Tensor) -> dict:
        grey = nn.functional.avg_pool2d(image.mean(dim=1, keepdim=True), 2)
        return {'depth': 0.5 + 4.0 * grey, 'confidence': grey}


def numpy_brightness(x: np.ndarray) -> dict:
    """The Brightness model in numpy (per image, so batching cannot change a value)."""
    grey = x.mean(axis=1, keepdims=True)
    n, _, h, w = grey.shape
    pooled = grey.reshape(n, 1, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return {'depth': 0.5 + 4.0 * pooled, 'confidence': pooled}


def cam(w: int = 96, h: int = 64, f: float = 100.0) -> CameraIntrinsics:
    return CameraIntrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)


def images(n: int, h: int = 64, w: int = 96, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def tiny_student(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_student(StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8,
                                       bins_hidden=32)).eval()


# --------------------------------------------------------------------------- the batch helper

def test_predict_batch_with_equals_predict_with_per_image() -> None:
    rgbs = images(2, 128, 192)
    rgbs.append(rgbs[1])
    ks = [cam(192, 128, f) for f in (100.0, 200.0, 400.0)]  # three cameras, three scales
    batch = predict_batch_with(numpy_brightness, rgbs, ks, PREP, SPEC, PREP.hw)
    assert len(batch) == 3
    for rgb, k, res in zip(rgbs, ks, batch):
        one = predict_with(numpy_brightness, rgb, k, PREP, SPEC, PREP.hw)
        np.testing.assert_array_equal(res.depth, one.depth)
        np.testing.assert_array_equal(res.confidence, one.confidence)
        assert res.kind == one.kind == 'metric'
        assert set(res.timings_ms) == {'preprocess', 'infer', 'postprocess'}
    # each image gets its own camera's scale: f_net 200 (f = 400 px at 192 wide) is twice 100
    np.testing.assert_allclose(batch[2].depth, 2 * batch[1].depth, rtol=1e-6)


def test_predict_batch_with_rejects_bad_batches() -> None:
    rgbs = images(2)
    with pytest.raises(ValueError, match=r'one size per call, got 96x64 \(images 0, 2\) and '
                                         r'192x128 \(image 1\)'):
        predict_batch_with(numpy_brightness, [rgbs[0], images(1, 128, 192)[0], rgbs[1]],
                           [cam(), cam(192, 128), cam()], PREP, SPEC, PREP.hw)
    with pytest.raises(ValueError, match='2 images but 1 intrinsics'):
        predict_batch_with(numpy_brightness, rgbs, [cam()], PREP, SPEC, PREP.hw)
    with pytest.raises(ValueError, match='no images'):
        predict_batch_with(numpy_brightness, [], [], PREP, SPEC, PREP.hw)
    with pytest.raises(ValueError, match='use predict for one image'):
        predict_batch_with(numpy_brightness, rgbs[0], [cam()], PREP, SPEC, PREP.hw)
    with pytest.raises(ValueError, match='single CameraIntrinsics'):
        predict_batch_with(numpy_brightness, rgbs, cam(), PREP, SPEC, PREP.hw)
    with pytest.raises(ValueError, match='image 1 of the batch: image must be uint8'):
        predict_batch_with(numpy_brightness, [rgbs[0], rgbs[1].astype(np.float32)],
                           [cam(), cam()], PREP, SPEC, PREP.hw)

    def wrong_batch(x: np.ndarray) -> dict:
        return numpy_brightness(x[:1])
    with pytest.raises(ValueError, match='1 maps for a batch of 2'):
        predict_batch_with(wrong_batch, rgbs, [cam(), cam()], PREP, SPEC, PREP.hw)


# --------------------------------------------------------------------------- ONNX Runtime

def test_onnx_batch_needs_a_dynamic_batch_axis(tmp_path) -> None:
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference.toymodel import write_toy_onnx
    fixed = create_estimator(write_toy_onnx(tmp_path / 'fixed.onnx'), device='cpu')
    assert fixed.max_batch == 1
    rgbs = images(3)
    one = fixed.predict_batch(rgbs[:1], [cam()])  # one image is fine
    np.testing.assert_array_equal(one[0].depth, fixed.predict(rgbs[0], cam()).depth)
    with pytest.raises(ValueError, match=r'takes 1 image per call .* a batch of 3: re-export it '
                                         r'with a dynamic batch axis, `disdepth export '
                                         r'CHECKPOINT OUT.onnx --dynamic-batch`'):
        fixed.predict_batch(rgbs, [cam()] * 3)
    dyn = create_estimator(write_toy_onnx(tmp_path / 'dyn.onnx', dynamic=True), device='cpu',
                           input_size=(64, 96))
    assert dyn.max_batch is None
    ks = [cam(96, 64, f) for f in (50.0, 100.0, 150.0)]
    for rgb, k, res in zip(rgbs, ks, dyn.predict_batch(rgbs, ks)):
        one = dyn.predict(rgb, k)
        np.testing.assert_allclose(res.depth, one.depth, rtol=1e-6)
        np.testing.assert_allclose(res.confidence, one.confidence, rtol=1e-6, atol=1e-7)


def test_export_dynamic_batch_option(tmp_path, capsys) -> None:
    pytest.importorskip('onnxruntime')
    onnx = pytest.importorskip('onnx')
    from disdepth_ros.commands import export
    from disdepth_core.checkpoint import save_checkpoint
    from disdepth_core.inference.onnx_engine import OnnxEstimator
    cfg = StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=32)
    torch.manual_seed(0)
    spec = ModelSpec('s', 'student', 'mobilenetv2', 64, 96, cfg.canonical_focal, cfg.min_depth,
                     cfg.max_depth)
    save_checkpoint(tmp_path / 'ckpt', build_student(cfg), spec, cfg)
    parser = argparse.ArgumentParser()
    export.add_arguments(parser)
    for name, extra in (('fixed', []), ('batched', ['--dynamic-batch'])):
        args = parser.parse_args([str(tmp_path / 'ckpt.json'), str(tmp_path / f'{name}.onnx')]
                                 + extra)
        assert export.run(args) == 0
    out = capsys.readouterr().out
    assert '"dynamic_batch": true' in out and '"dynamic_batch": false' in out
    graph_in = onnx.load(str(tmp_path / 'batched.onnx')).graph.input[0].type.tensor_type.shape
    assert graph_in.dim[0].dim_param == 'batch'
    assert [d.dim_value for d in graph_in.dim[1:]] == [3, 64, 96]  # the size stays fixed
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / 'batched.onnx')).metadata_props}
    assert meta['disdepth.batch'] == 'dynamic'
    fixed = OnnxEstimator(tmp_path / 'fixed.onnx', device='cpu')
    batched = OnnxEstimator(tmp_path / 'batched.onnx', device='cpu')
    assert fixed.max_batch == 1 and batched.max_batch is None
    assert not batched.spec.dynamic and batched.net_hw == (64, 96)
    rgbs = images(4, 120, 160, seed=3)
    ks = [CameraIntrinsics.from_fov(50 + 10 * i, 160, 120) for i in range(4)]
    for rgb, k, res in zip(rgbs, ks, batched.predict_batch(rgbs, ks)):
        ref = fixed.predict(rgb, k)
        np.testing.assert_allclose(res.depth, ref.depth, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(res.confidence, ref.confidence, atol=1e-4)


# --------------------------------------------------------------------------- torch: batches

def test_torch_predict_batch_equals_predict() -> None:
    est = TorchEstimator(tiny_student(), SPEC, device='cpu')
    rgbs = images(3, 120, 160)
    ks = [CameraIntrinsics.from_fov(60 + 10 * i, 160, 120) for i in range(3)]
    batch = est.predict_batch(rgbs, ks)
    for rgb, k, res in zip(rgbs, ks, batch):
        one = est.predict(rgb, k)
        np.testing.assert_allclose(res.depth, one.depth, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.confidence, one.confidence, atol=1e-5)
    with pytest.raises(ValueError, match='one size per call'):
        est.predict_batch([rgbs[0], images(1)[0]], [ks[0], cam()])


# --------------------------------------------------------------------------- device processing

@pytest.mark.parametrize('src_hw, rule', [((128, 192), 'area'), ((100, 150), 'area'),
                                          ((97, 131), 'area'), ((48, 72), 'linear'),
                                          ((50, 200), 'area_grow'), ((64, 96), 'linear')])
def test_resize_matrices_follow_opencv(src_hw, rule) -> None:
    cv2 = pytest.importorskip('cv2')
    assert resize_rule(src_hw, PREP.hw) == rule
    img = np.random.default_rng(1).random(src_hw, dtype=np.float32) * 255
    interp = cv2.INTER_LINEAR if rule == 'linear' else cv2.INTER_AREA
    ref = cv2.resize(img, (PREP.width, PREP.height), interpolation=interp)
    rows = resize_matrix(src_hw[0], PREP.height, rule)
    cols = resize_matrix(src_hw[1], PREP.width, rule)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(rows @ img @ cols.T, ref, atol=1e-4)
    # and the uint8 path: within one grey level of OpenCV's fixed-point result
    rgbs = images(2, *src_hw, seed=2)
    cpu = batch_network_input(rgbs, PREP)
    dev = DeviceStages(torch.device('cpu')).prepare(rgbs, PREP)
    assert dev.shape == (2, 3, 64, 96) and dev.dtype == torch.float32
    diff = np.abs(dev.numpy() - cpu) * 255
    assert diff.max() <= 1.0 + 1e-3
    assert diff.mean() < 0.15
    if rule == 'area' and src_hw[0] % 64 == 0:  # whole-pixel box averages: exact
        assert diff.max() < 1e-3


def test_device_finish_equals_cpu_finish() -> None:
    rng = np.random.default_rng(4)
    depth = rng.uniform(0.05, 12.0, (3, 1, 32, 48)).astype(np.float32)
    depth[0, 0, :2, :3] = np.nan
    depth[1, 0, 5, 5] = np.inf
    conf = rng.uniform(-0.2, 1.2, (3, 1, 32, 48)).astype(np.float32)
    conf[2, 0, 7, 7] = np.nan
    ks = [cam(192, 128, f) for f in (100.0, 150.0, 300.0)]
    stages = DeviceStages(torch.device('cpu'))
    for kind in ('canonical_metric', 'metric', 'relative_disparity'):
        spec = ModelSpec('t', 'student', 'tiny', 64, 96, 100.0, 0.1, 10.0, output_kind=kind)
        for out in ({'depth': depth, 'confidence': conf}, {'depth': depth}):
            ref_d, ref_c = finish_batch(out, spec, ks, (64, 96), (128, 192))
            got_d, got_c = stages.finish({k: torch.from_numpy(v) for k, v in out.items()},
                                         spec, ks, (64, 96), (128, 192))
            for a, b in zip(got_d, ref_d):
                assert a.shape == (128, 192) and a.dtype == np.float32
                np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            for a, b in zip(got_c, ref_c):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_device_processing_predicts_like_the_cpu_path() -> None:
    model = tiny_student()
    cpu = TorchEstimator(model, SPEC, device='cpu')
    dev = TorchEstimator(model, SPEC, device='cpu', device_processing=True)
    assert 'pre/post-processing on cpu' in dev.info.notes
    rgbs = images(2, 128, 192, seed=5)  # 2x shrink: the same network input
    ks = [cam(192, 128, 150.0), cam(192, 128, 250.0)]
    for rgb, k, res in zip(rgbs, ks, dev.predict_batch(rgbs, ks)):
        ref = cpu.predict(rgb, k)
        np.testing.assert_allclose(res.depth, ref.depth, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res.confidence, ref.confidence, atol=1e-5)
    single = dev.predict(rgbs[0], ks[0])
    np.testing.assert_allclose(single.depth, cpu.predict(rgbs[0], ks[0]).depth, rtol=1e-5)


def test_transforms_and_device_processing_work_without_opencv() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules['cv2'] = None  # import cv2 now fails, as on a machine without OpenCV
        import numpy as np
        from torch import nn
        from disdepth_core.geometry import CameraIntrinsics
        from disdepth_core.inference.torch_engine import TorchEstimator
        from disdepth_core.modelspec import ModelSpec
        from disdepth_core.transforms import resize_depth

        class Grey(nn.Module):
            def forward(self, image):
                return nn.functional.avg_pool2d(image.mean(dim=1, keepdim=True), 2) + 1.0

        spec = ModelSpec('t', 'student', 'tiny', 64, 96, 100.0, 0.1, 10.0)
        rgb = np.full((128, 192, 3), 51, np.uint8)
        k = CameraIntrinsics(200.0, 200.0, 95.5, 63.5, 192, 128)
        res = TorchEstimator(Grey(), spec, device='cpu', device_processing=True).predict(rgb, k)
        print('DEPTH', float(res.depth.mean()), res.depth.shape)
        try:
            TorchEstimator(Grey(), spec, device='cpu').predict(rgb, k)
        except RuntimeError as exc:
            print('CPU', exc)
        print('SAME', resize_depth(np.ones((4, 4), np.float32), (4, 4)).shape)
    """)
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines())
    # grey 0.2 + 1 = 1.2 canonical metres, f_net = 100 = canonical: scale 1
    assert float(lines['DEPTH'].split()[0]) == pytest.approx(1.2, rel=1e-5)
    assert 'needs OpenCV' in lines['CPU'] and 'device_processing=True' in lines['CPU']
    assert lines['SAME'] == '(4, 4)'  # no resize needed: no OpenCV needed


# --------------------------------------------------------------------------- precision

class MatmulDtypes(TorchFunctionMode):
    """Record (second operand shape, result dtype) of every torch.matmul."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.matmul:
            self.calls.append((tuple(args[1].shape), out.dtype))
        return out


@pytest.mark.parametrize('low_precision', ['autocast', 'weights'])
def test_bf16_keeps_bin_centres_and_expected_depth_in_fp32(low_precision) -> None:
    model = tiny_student()
    x = np.random.default_rng(6).random((2, 3, 64, 96), dtype=np.float32)
    ref = TorchEstimator(tiny_student(), SPEC, device='cpu').forward(x)
    est = TorchEstimator(model, SPEC, device='cpu', precision='bf16',
                         low_precision=low_precision)
    assert est.info.precision == 'bf16' and f'bf16 {low_precision}' in est.info.notes
    seen = {}
    bins = next(m for m in model.modules() if isinstance(m, BinsHead))
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    bins.register_forward_hook(lambda m, i, out: seen.update(
        pixel=i[1].dtype, centers=out.bin_centers.dtype, edges=out.bin_edges.dtype,
        depth=out.depth.dtype, probs=out.probs.dtype, conf=out.confidence.dtype))
    first_conv.register_forward_hook(lambda m, i, out: seen.update(conv=out.dtype))
    with MatmulDtypes() as mode:
        out = est.forward(x)
    # the network really ran in bf16 up to the head ...
    assert seen['conv'] == torch.bfloat16 and seen['pixel'] == torch.bfloat16
    if low_precision == 'weights':
        assert first_conv.weight.dtype == torch.bfloat16
    # ... and the bins head kept centres, probabilities and depth in float32
    assert seen['centers'] == seen['edges'] == seen['depth'] == torch.float32
    assert seen['probs'] == seen['conf'] == torch.float32
    n_bins = bins.n_bins
    expected = [dtype for shape, dtype in mode.calls if shape == (2, 1, n_bins, 1)]
    assert expected == [torch.float32]  # the expected-depth sum over the centres
    assert out['depth'].dtype == np.float32
    np.testing.assert_allclose(out['depth'], ref['depth'], rtol=0.05, atol=0.02)


def test_channels_last_converts_weights_and_keeps_the_output() -> None:
    x = np.random.default_rng(7).random((2, 3, 64, 96), dtype=np.float32)
    ref = TorchEstimator(tiny_student(), SPEC, device='cpu').forward(x)
    model = tiny_student()
    est = TorchEstimator(model, SPEC, device='cpu', channels_last=True)
    assert 'channels_last' in est.info.notes
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last)
                         for m in convs)
    got = est.forward(x)
    np.testing.assert_allclose(got['depth'], ref['depth'], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got['confidence'], ref['confidence'], atol=1e-4)


def test_bad_option_combinations_are_clear() -> None:
    with pytest.raises(ValueError, match='low_precision must be one of'):
        TorchEstimator(Brightness(), SPEC, device='cpu', precision='fp16', low_precision='int')
    with pytest.raises(ValueError, match='cuda_graphs and compile do not combine'):
        TorchEstimator(Brightness(), SPEC, device='cpu', cuda_graphs=True, compile=True)


# --------------------------------------------------------------------------- devices

def test_device_auto_says_why_it_runs_on_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    est = TorchEstimator(Brightness(), SPEC, device='auto')
    assert est.device.type == 'cpu'
    assert 'device auto: no usable CUDA device for torch' in est.info.notes
    assert est.predict(np.zeros((64, 96, 3), np.uint8), cam()).depth.shape == (64, 96)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)

    def broken(index: int = 0) -> None:
        raise RuntimeError('CUDA error: no kernel image is available')
    monkeypatch.setattr(torch_engine, 'probe_cuda', broken)
    device, note = torch_engine.choose_device('auto')
    assert device.type == 'cpu'
    assert 'CUDA did not initialise (CUDA error: no kernel image' in note
    assert torch_engine.choose_device('cpu') == (torch.device('cpu'), '')


# --------------------------------------------------------------------------- CUDA graphs

def test_cuda_graphs_are_a_reported_no_op_on_the_cpu() -> None:
    est = TorchEstimator(Brightness(), SPEC, device='cpu', cuda_graphs=True)
    assert 'cuda_graphs off: CUDA graphs need a CUDA device (running on cpu)' in est.info.notes
    res = est.predict(np.full((64, 96, 3), 255, np.uint8), cam())
    np.testing.assert_allclose(res.depth, 4.5, rtol=1e-5)


class FakeGraph:
    """Stands in for a CUDA graph: replay recomputes the captured call on its static input."""

    def __init__(self, fn, static_in, outputs) -> None:
        self.fn, self.static_in, self.outputs = fn, static_in, outputs
        self.replays = 0

    def replay(self) -> None:
        self.replays += 1
        for buf, new in zip(self.outputs, self.fn(self.static_in)):
            if buf is not None:
                buf.copy_(new)


def test_cuda_graphs_capture_once_per_batch_size_and_replay(monkeypatch) -> None:
    captures = []

    def fake_capture(fn, static_in, device, warmup):
        captures.append((tuple(static_in.shape), warmup))
        outputs = fn(static_in)
        return FakeGraph(fn, static_in, outputs), outputs
    monkeypatch.setattr(torch_engine, 'cuda_graphs_unsupported', lambda device: '')
    monkeypatch.setattr(torch_engine, 'capture_cuda_graph', fake_capture)
    model = tiny_student()
    ref = TorchEstimator(tiny_student(), SPEC, device='cpu', device_processing=True)
    est = TorchEstimator(model, SPEC, device='cpu', cuda_graphs=True, device_processing=True)
    assert 'cuda graphs (captured per batch size)' in est.info.notes
    rgbs = images(5, seed=8)
    ks = [cam()] * 5
    for chunk in ([0], [1], [2, 3], [4, 0], [3]):  # batch 1, 1, 2, 2, 1
        got = est.predict_batch([rgbs[i] for i in chunk], [ks[i] for i in chunk])
        want = ref.predict_batch([rgbs[i] for i in chunk], [ks[i] for i in chunk])
        for a, b in zip(got, want):  # new images every time: the static input is refilled
            np.testing.assert_allclose(a.depth, b.depth, rtol=1e-5, atol=1e-6)
    assert captures == [((1, 3, 64, 96), torch_engine.GRAPH_WARMUP),
                        ((2, 3, 64, 96), torch_engine.GRAPH_WARMUP)]
    assert est._graphs.shapes == [(1, 3, 64, 96), (2, 3, 64, 96)]
    # the numpy forward goes through the same graphs
    x = batch_network_input(rgbs[:2], PREP)
    np.testing.assert_allclose(est.forward(x)['depth'], ref.forward(x)['depth'], rtol=1e-5)
    assert len(captures) == 2


def test_a_failed_capture_falls_back_to_eager_and_says_so(monkeypatch) -> None:
    def failing(fn, static_in, device, warmup):
        raise RuntimeError('operation not permitted when stream is capturing')
    monkeypatch.setattr(torch_engine, 'cuda_graphs_unsupported', lambda device: '')
    monkeypatch.setattr(torch_engine, 'capture_cuda_graph', failing)
    est = TorchEstimator(Brightness(), SPEC, device='cpu', cuda_graphs=True)
    res = est.predict(np.full((64, 96, 3), 255, np.uint8), cam())
    np.testing.assert_allclose(res.depth, 4.5, rtol=1e-5)
    assert 'cuda_graphs off: CUDA graph capture failed for input (1, 3, 64, 96): operation ' \
           'not permitted' in est.info.notes
    assert 'captured per batch size' not in est.info.notes


def test_capture_warms_up_on_a_side_stream_then_captures_once(monkeypatch) -> None:
    events = []

    class Stream:

        def __init__(self, device=None) -> None:
            self.name = 'side' if device is not None else 'main'

        def wait_stream(self, other) -> None:
            events.append(f'{self.name} waits for {other.name}')

    main = Stream()

    class StreamContext:

        def __init__(self, stream) -> None:
            self.stream = stream

        def __enter__(self):
            events.append(f'enter {self.stream.name}')

        def __exit__(self, *exc):
            events.append(f'leave {self.stream.name}')

    class Graph:
        pass

    class GraphContext:

        def __init__(self, graph) -> None:
            assert isinstance(graph, Graph)

        def __enter__(self):
            events.append('capture begins')

        def __exit__(self, *exc):
            events.append('capture ends')

    monkeypatch.setattr(torch.cuda, 'Stream', Stream)
    monkeypatch.setattr(torch.cuda, 'current_stream', lambda device=None: main)
    monkeypatch.setattr(torch.cuda, 'stream', StreamContext)
    monkeypatch.setattr(torch.cuda, 'CUDAGraph', Graph)
    monkeypatch.setattr(torch.cuda, 'graph', GraphContext)

    def fn(x):
        events.append('call')
        return x * 2, None
    graph, outputs = capture_cuda_graph(fn, torch.ones(2), torch.device('cuda', 0), warmup=3)
    assert isinstance(graph, Graph)
    np.testing.assert_array_equal(outputs[0].numpy(), [2.0, 2.0])
    assert events == ['side waits for main', 'enter side', 'call', 'call', 'call', 'leave side',
                      'main waits for side', 'capture begins', 'call', 'capture ends']
