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
Engine registry, model resolution, provider selection and fallback, TensorRT cache keys.

ONNX Runtime is replaced by a fake module (``FakeOrt``) whose providers can be "listed but
failing", so the TensorRT / CUDA paths are exercised without a GPU.
"""

import logging
import sys
import types
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from disdepth_core import inference
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import create_estimator
from disdepth_core.inference import ENGINES
from disdepth_core.inference import EngineUnavailableError
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference import onnx_engine
from disdepth_core.inference.postprocess import confidence_map
from disdepth_core.inference.postprocess import metric_depth
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY

SPEC = ModelSpec('fake', 'student', 'mobilenetv2', 64, 96, 100.0, 0.1, 10.0)
TRT = onnx_engine.TENSORRT
CUDA = onnx_engine.CUDA
CPU = onnx_engine.CPU


# --------------------------------------------------------------------------- a fake onnxruntime

class _Arg:
    """An input or output description."""

    def __init__(self, name: str, shape: list, type_: str = 'tensor(float)') -> None:
        self.name = name
        self.shape = shape
        self.type = type_


class _Binding:
    """Records IO-binding calls."""

    def __init__(self, sess: 'FakeSession') -> None:
        self.sess = sess
        self.calls: List[tuple] = []
        self.inputs: Dict[str, np.ndarray] = {}

    def bind_cpu_input(self, name: str, array: np.ndarray) -> None:
        self.calls.append(('input', name))
        self.inputs[name] = array

    def bind_output(self, name: str, device_type: str = 'cpu', device_id: int = 0) -> None:
        self.calls.append(('output', name, device_type, device_id))

    def copy_outputs_to_cpu(self) -> list:
        return self.sess.outputs_for(self.inputs['image'])


class FakeSession:
    """Mimics ``onnxruntime.InferenceSession`` for a DisDepth model."""

    def __init__(self, path: str, sess_options: Any = None, providers: Optional[list] = None,
                 provider_options: Optional[list] = None) -> None:
        ort = sys.modules['onnxruntime']
        ort.created.append({'providers': list(providers or []),
                            'provider_options': list(provider_options or []),
                            'options': sess_options})
        if ort.raise_with and ort.raise_with in (providers or []):
            raise RuntimeError(f'{ort.raise_with}: could not start')
        self._providers = [p for p in providers or [CPU] if p in ort.working] or [CPU]
        self.model = ort.model
        self.binding: Optional[_Binding] = None
        self.runs = 0

    def get_providers(self) -> list:
        return list(self._providers)

    def get_inputs(self) -> list:
        return self.model['inputs']

    def get_outputs(self) -> list:
        return [_Arg(n, []) for n in self.model['outputs']]

    def get_modelmeta(self) -> Any:
        return types.SimpleNamespace(custom_metadata_map=self.model['meta'])

    def outputs_for(self, x: np.ndarray) -> list:
        h, w = x.shape[2] // 2, x.shape[3] // 2
        return [np.full((1, 1, h, w), 2.0, np.float32), np.full((1, 1, h, w), 0.5, np.float32)]

    def run(self, names: list, feeds: dict) -> list:
        self.runs += 1
        return self.outputs_for(feeds['image'])[:len(names)]

    def io_binding(self) -> _Binding:
        self.binding = _Binding(self)
        return self.binding

    def run_with_iobinding(self, binding: _Binding) -> None:
        self.runs += 1


class FakeOptions:
    """Mimics ``onnxruntime.SessionOptions``."""

    def __init__(self) -> None:
        self.config: Dict[str, str] = {}

    def add_session_config_entry(self, key: str, value: str) -> None:
        self.config[key] = value


def make_fake_ort(available: List[str], working: List[str],
                  model: Optional[dict] = None) -> types.ModuleType:
    """A module that stands in for ``onnxruntime``."""
    ort = types.ModuleType('onnxruntime')
    ort.__version__ = '1.99.0'
    ort.available = list(available)
    ort.working = set(working)
    ort.created = []
    ort.raise_with = None
    ort.model = model or fake_model()
    ort.get_available_providers = lambda: list(ort.available)
    ort.SessionOptions = FakeOptions
    ort.GraphOptimizationLevel = types.SimpleNamespace(ORT_ENABLE_ALL=99, ORT_DISABLE_ALL=0)
    ort.InferenceSession = FakeSession
    return ort


def fake_model(spec: ModelSpec = SPEC, shape: Optional[list] = None, input_name: str = 'image',
               meta: Optional[dict] = None, outputs: tuple = ('depth', 'confidence')) -> dict:
    return {'inputs': [_Arg(input_name, shape or [1, 3, 64, 96])],
            'outputs': list(outputs),
            'meta': {ONNX_METADATA_KEY: spec.to_json()} if meta is None else meta}


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / 'model.onnx'
    path.write_bytes(b'not really onnx, the fake runtime does not read it')
    return path


@pytest.fixture
def use_ort(monkeypatch, tmp_path):
    monkeypatch.setattr(onnx_engine, 'gpu_name', lambda device_id=0: 'NVIDIA H200')
    monkeypatch.setattr(onnx_engine, 'tensorrt_version', lambda: '10.3.0')

    def install(available, working, model=None):
        ort = make_fake_ort(available, working, model)
        monkeypatch.setitem(sys.modules, 'onnxruntime', ort)
        return ort
    return install


def cam(w: int = 96, h: int = 64, f: float = 100.0) -> CameraIntrinsics:
    return CameraIntrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)


# --------------------------------------------------------------------------- registry

def test_registry_holds_both_engines_and_accepts_new_ones(monkeypatch, model_file) -> None:
    assert {'onnxruntime', 'torch'} <= set(ENGINES)
    calls = []

    def factory(path, device='auto', **options):
        calls.append((path, device, options))
        return 'estimator'
    monkeypatch.setitem(ENGINES, 'mine', factory)
    monkeypatch.setitem(inference._ENGINE_KINDS, 'mine', ('onnx',))
    assert create_estimator(model_file, engine='mine', device='cpu', input_size=(64, 64)) == \
        'estimator'
    assert calls == [(model_file, 'cpu', {'input_size': (64, 64)})]


def test_auto_picks_engine_by_file_type(monkeypatch, tmp_path) -> None:
    seen = []
    monkeypatch.setitem(ENGINES, 'onnxruntime', lambda p, device, **o: seen.append(('ort', p)))
    monkeypatch.setitem(ENGINES, 'torch', lambda p, device, **o: seen.append(('torch', p)))
    for name in ('a.onnx', 'b.safetensors', 'b.json'):
        (tmp_path / name).write_bytes(b'x')
        create_estimator(tmp_path / name)
    assert [s[0] for s in seen] == ['ort', 'torch', 'torch']


def test_unknown_engine_is_a_clear_error(model_file) -> None:
    with pytest.raises(ValueError, match='unknown inference engine .*onnxruntime'):
        create_estimator(model_file, engine='tensorflow')


def test_missing_and_odd_model_files(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match='does not exist'):
        create_estimator(tmp_path / 'nope.onnx')
    with pytest.raises(ModelLoadError, match='is a directory'):
        create_estimator(tmp_path)
    (tmp_path / 'm.pt').write_bytes(b'x')
    with pytest.raises(ModelLoadError, match='unknown model file type'):
        create_estimator(tmp_path / 'm.pt')


def test_checkpoint_on_onnxruntime_suggests_export(tmp_path) -> None:
    (tmp_path / 'm.safetensors').write_bytes(b'x')
    with pytest.raises(ModelLoadError, match='disdepth export'):
        create_estimator(tmp_path / 'm.safetensors', engine='onnxruntime')
    (tmp_path / 'm.onnx').write_bytes(b'x')
    with pytest.raises(ModelLoadError, match='--engine onnxruntime'):
        create_estimator(tmp_path / 'm.onnx', engine='torch')


def test_missing_packaged_model_is_a_clear_error(monkeypatch) -> None:
    import disdepth_core.assets as assets
    monkeypatch.setattr(assets, 'packaged_model_paths',
                        lambda: {'onnx': None, 'safetensors': None, 'json': None})
    for model in (None, ''):
        with pytest.raises(ModelLoadError, match='packaged default model'):
            create_estimator(model)
    with pytest.raises(ModelLoadError, match='packaged default checkpoint'):
        create_estimator(None, engine='torch')


def test_parse_device() -> None:
    assert onnx_engine.parse_device('auto') == ('auto', 0)
    assert onnx_engine.parse_device('cuda:1') == ('cuda', 1)
    assert onnx_engine.parse_device('TensorRT:2') == ('tensorrt', 2)
    for bad in ('tpu', 'cpu:1', 'cuda:x'):
        with pytest.raises(ValueError, match='unknown device'):
            onnx_engine.parse_device(bad)


# --------------------------------------------------------------------------- provider selection

def test_cpu_build_runs_on_cpu_and_says_why(use_ort, model_file, caplog) -> None:
    ort = use_ort([CPU], [CPU])
    with caplog.at_level(logging.INFO, logger='disdepth'):
        est = create_estimator(model_file, engine='onnxruntime')
    assert est.info.provider == CPU and est.info.engine == 'onnxruntime'
    assert ort.created[-1]['providers'] == [CPU]
    lines = [r for r in caplog.records if r.name == 'disdepth']
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert 'runs model.onnx on CPUExecutionProvider' in lines[0].getMessage()
    assert 'TensorrtExecutionProvider (not in this onnxruntime build)' in lines[0].getMessage()
    res = est.predict(np.zeros((64, 96, 3), np.uint8), cam())
    assert est._sess.binding is None and est._sess.runs == 1
    assert res.depth.shape == (64, 96)


def test_listed_gpu_providers_that_fail_fall_back_to_cpu(use_ort, model_file, caplog) -> None:
    ort = use_ort([TRT, CUDA, CPU], [CPU])
    with caplog.at_level(logging.INFO, logger='disdepth'):
        est = create_estimator(model_file, device='auto', cache_dir=model_file.parent / 'c')
    # the file is checked on a CPU session first, then the real session asks for all three
    assert ort.created[0]['providers'] == [CPU]
    assert ort.created[1]['providers'] == [TRT, CUDA, CPU]
    assert est.info.provider == CPU
    lines = [r for r in caplog.records if r.name == 'disdepth']
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    msg = lines[0].getMessage()
    assert 'on CPUExecutionProvider' in msg
    assert 'TensorrtExecutionProvider (listed by onnxruntime but failed to start' in msg
    assert 'CUDAExecutionProvider (listed by onnxruntime but failed to start' in msg
    est.predict(np.zeros((64, 96, 3), np.uint8), cam())
    assert est._sess.binding is None  # no IO binding on the CPU


def test_cuda_uses_io_binding(use_ort, model_file) -> None:
    use_ort([CUDA, CPU], [CUDA, CPU])
    est = create_estimator(model_file, device='cuda:1')
    assert est.info.provider == CUDA
    res = est.predict(np.full((32, 48, 3), 10, np.uint8), cam(48, 32, 50.0))
    calls = est._sess.binding.calls
    assert calls[0] == ('input', 'image')
    assert ('output', 'depth', 'cuda', 1) in calls
    assert ('output', 'confidence', 'cuda', 1) in calls
    # network depth 2.0 at 64x96, f_net = 50 * 96/48 = 100 = canonical: metric depth 2.0
    np.testing.assert_allclose(res.depth, 2.0, rtol=1e-6)
    np.testing.assert_allclose(res.confidence, 0.5, rtol=1e-6)
    assert set(res.timings_ms) == {'preprocess', 'infer', 'postprocess'}


def test_tensorrt_gets_keyed_engine_and_timing_cache(use_ort, model_file, tmp_path) -> None:
    ort = use_ort([TRT, CUDA, CPU], [TRT, CUDA, CPU])
    est = create_estimator(model_file, fp16=True, cache_dir=tmp_path / 'cache')
    assert est.info.provider == TRT and est.info.precision == 'fp16'
    opts = ort.created[-1]['provider_options'][0]
    assert opts['trt_fp16_enable'] is True
    assert opts['trt_engine_cache_enable'] is True and opts['trt_timing_cache_enable'] is True
    cache = opts['trt_engine_cache_path']
    assert cache == opts['trt_timing_cache_path']
    assert cache.startswith(str(tmp_path / 'cache'))
    assert 'nvidia-h200' in cache and 'trt10.3.0' in cache and 'ort1.99.0' in cache
    assert cache.endswith('fp16')
    assert (tmp_path / 'cache').is_dir()
    assert 'TensorRT cache' in est.info.notes


def test_unknown_gpu_turns_the_trt_cache_off(use_ort, model_file, monkeypatch, tmp_path) -> None:
    ort = use_ort([TRT, CPU], [TRT, CPU])
    monkeypatch.setattr(onnx_engine, 'gpu_name', lambda device_id=0: 'unknown')
    est = create_estimator(model_file, cache_dir=tmp_path / 'cache')
    opts = ort.created[-1]['provider_options'][0]
    assert 'trt_engine_cache_enable' not in opts
    assert 'cache off' in est.info.notes
    assert not (tmp_path / 'cache').exists()


def test_explicit_device_that_cannot_run_raises(use_ort, model_file) -> None:
    use_ort([CPU], [CPU])
    with pytest.raises(EngineUnavailableError, match='CUDAExecutionProvider.*does not offer'):
        create_estimator(model_file, device='cuda')
    use_ort([TRT, CUDA, CPU], [CPU])
    with pytest.raises(EngineUnavailableError, match='could only start CPUExecutionProvider'):
        create_estimator(model_file, device='cuda')
    with pytest.raises(EngineUnavailableError, match='TensorrtExecutionProvider'):
        create_estimator(model_file, device='tensorrt')


def test_session_errors_drop_one_provider_at_a_time(use_ort, model_file) -> None:
    ort = use_ort([TRT, CUDA, CPU], [TRT, CUDA, CPU])
    ort.raise_with = TRT
    est = create_estimator(model_file)
    assert est.info.provider == CUDA
    assert 'TensorrtExecutionProvider (session creation failed' in est.info.notes
    assert [c['providers'] for c in ort.created[1:]] == [[TRT, CUDA, CPU], [CUDA, CPU]]
    ort.raise_with = CUDA
    ort.available = [CUDA, CPU]
    est = create_estimator(model_file)
    assert est.info.provider == CPU and ort.created[-1]['providers'] == [CPU]
    assert 'CUDAExecutionProvider: could not start' in est.info.notes


# --------------------------------------------------------------------------- model checks

@pytest.mark.parametrize('model, match', [
    (fake_model(meta={}), 'not a DisDepth model'),
    (fake_model(meta={ONNX_METADATA_KEY: '{"name": 1'}), 'invalid DisDepth metadata'),
    (fake_model(input_name='input'), 'one input named "image"'),
    (fake_model(shape=[1, 3, 64]), 'N x 3 x H x W'),
    (fake_model(shape=[1, 1, 64, 96]), 'N x 3 x H x W'),
    (fake_model(shape=[4, 3, 64, 96]), 'batch size is fixed to 4'),
    (fake_model(shape=[1, 3, 60, 96]), 'not a multiple of 32'),
    (fake_model(spec=ModelSpec('d', 'student', 'x', 64, 96, 100.0, 0.1, 10.0, dynamic=True)),
     'mismatched spec'),
    (fake_model(outputs=('depth',)), 'lacks .*confidence.*mismatched spec'),
    (fake_model(outputs=('disparity',),
                spec=ModelSpec('d', 'student', 'x', 64, 96, 100.0, 0.1, 10.0,
                               outputs=('depth',))), 'no "depth" output'),
])
def test_bad_models_give_clear_errors(use_ort, model_file, model, match) -> None:
    use_ort([CPU], [CPU], model)
    with pytest.raises(ModelLoadError, match=match):
        create_estimator(model_file)


def test_input_size_for_fixed_and_dynamic_graphs(use_ort, model_file) -> None:
    use_ort([CPU], [CPU])
    assert create_estimator(model_file).net_hw == (64, 96)
    with pytest.raises(ValueError, match='fixed input size 64x96.*--dynamic'):
        create_estimator(model_file, input_size=(128, 128))
    dyn = ModelSpec('d', 'student', 'x', 64, 96, 100.0, 0.1, 10.0, dynamic=True)
    use_ort([CPU], [CPU], fake_model(spec=dyn, shape=['n', 3, 'h', 'w']))
    assert create_estimator(model_file).net_hw == (64, 96)
    est = create_estimator(model_file, input_size=(128, 160))
    assert est.net_hw == (128, 160)
    assert est.predict(np.zeros((20, 30, 3), np.uint8), cam(30, 20)).depth.shape == (20, 30)


def test_predict_rejects_bad_inputs(use_ort, model_file) -> None:
    use_ort([CPU], [CPU])
    est = create_estimator(model_file)
    with pytest.raises(ValueError, match='uint8'):
        est.predict(np.zeros((64, 96, 3), np.float32), cam())
    with pytest.raises(ValueError, match='intrinsics are for a 96x64 image but the image is'):
        est.predict(np.zeros((32, 48, 3), np.uint8), cam())
    with pytest.raises(ValueError, match='focal'):
        est.predict(np.zeros((64, 96, 3), np.uint8), cam(f=0.0))


# --------------------------------------------------------------------------- TensorRT cache key

def test_trt_cache_key_changes_with_every_input() -> None:
    base = {'model_sha256': 'a' * 64, 'gpu': 'NVIDIA H200', 'trt_version': '10.3.0',
            'ort_version': '1.31.1', 'fp16': False}
    key = onnx_engine.trt_cache_key(**base)
    assert key == onnx_engine.trt_cache_key(**base)
    for field, value in (('model_sha256', 'b' * 64), ('gpu', 'NVIDIA A100'),
                         ('trt_version', '10.4.0'), ('ort_version', '1.32.0'), ('fp16', True)):
        assert onnx_engine.trt_cache_key(**{**base, field: value}) != key, field
    assert '/' not in onnx_engine.trt_cache_key(**{**base, 'gpu': 'a/b c'})


def test_trt_cache_dir_follows_model_content(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(onnx_engine, 'gpu_name', lambda device_id=0: 'Orin')
    monkeypatch.setattr(onnx_engine, 'tensorrt_version', lambda: '8.6.2')
    model = tmp_path / 'm.onnx'
    model.write_bytes(b'version 1')
    first, _ = onnx_engine.trt_cache_dir(model, tmp_path / 'c', 0, False, '1.31.1')
    model.write_bytes(b'version 2')
    second, _ = onnx_engine.trt_cache_dir(model, tmp_path / 'c', 0, False, '1.31.1')
    assert first != second and first.is_dir() and second.is_dir()
    monkeypatch.setattr(onnx_engine, 'tensorrt_version', lambda: 'unknown')
    off, note = onnx_engine.trt_cache_dir(model, tmp_path / 'c', 0, False, '1.31.1')
    assert off is None and 'TensorRT version' in note


# --------------------------------------------------------------------------- metric scaling

def test_metric_scaling_clipping_and_invalid_values() -> None:
    spec = ModelSpec('s', 'student', 'x', 64, 96, 100.0, 0.5, 6.0)
    net = np.full((64, 96), 2.0, np.float32)
    net[0, 0] = np.inf
    net[0, 1] = np.nan
    net[5, 5] = 100.0
    net[6, 6] = 0.01
    k = cam(96, 64, 150.0)  # f_net = 150 at the same size: scale 1.5
    depth = metric_depth(net, spec, k, (64, 96), (64, 96))
    assert depth.dtype == np.float32 and depth.shape == (64, 96)
    assert np.isclose(depth[40, 60], 3.0)
    assert np.isnan(depth).any()
    finite = depth[np.isfinite(depth)]
    assert finite.min() >= 0.5 and finite.max() <= 6.0
    assert np.isnan(depth[0, 0]) and np.isnan(depth[0, 1])
    assert np.isclose(depth[5, 5], 6.0) and np.isclose(depth[6, 6], 0.5)
    conf = confidence_map(np.full((32, 48), 1.7, np.float32), depth, (64, 96))
    assert conf.shape == (64, 96)
    assert conf.max() == 1.0 and (conf[np.isnan(depth)] == 0).all()
    assert (confidence_map(None, depth, (64, 96))[np.isfinite(depth)] == 1).all()


def test_metric_scale_follows_the_resize() -> None:
    spec = ModelSpec('s', 'student', 'x', 64, 96, 100.0, 0.1, 100.0)
    net = np.full((32, 48), 4.0, np.float32)
    # a 960x640 image with f = 1000 px becomes f_net = 100 at 96x64: scale 1
    depth = metric_depth(net, spec, cam(960, 640, 1000.0), (64, 96), (640, 960))
    assert depth.shape == (640, 960) and np.allclose(depth, 4.0)
    depth = metric_depth(net, spec, cam(960, 640, 500.0), (64, 96), (640, 960))
    assert np.allclose(depth, 2.0)


def test_each_output_kind_is_scaled_as_its_spec_says() -> None:
    net = np.full((32, 48), 4.0, np.float32)
    net[0, 0] = 50.0
    k = cam(960, 640, 500.0)   # f_net = 50 at 96x64: a canonical focal of 100 scales by 0.5
    base = {'name': 's', 'architecture': 'student', 'backbone': 'x', 'input_height': 64,
            'input_width': 96, 'canonical_focal': 100.0, 'min_depth': 0.1, 'max_depth': 10.0}
    canonical = metric_depth(net, ModelSpec(**base), k, (64, 96), (640, 960))
    metric = metric_depth(net, ModelSpec(**base, output_kind='metric'), k, (64, 96), (640, 960))
    relative = metric_depth(net, ModelSpec(**base, output_kind='relative_disparity'), k,
                            (64, 96), (640, 960))
    assert np.isclose(canonical[300, 500], 2.0) and np.isclose(metric[300, 500], 4.0)
    assert np.isclose(relative[300, 500], 4.0)
    # the depth range clips metric outputs, never a unitless one
    assert canonical.max() <= 10.0 and metric.max() <= 10.0 and relative.max() > 10.0


def test_input_multiple_reaches_the_preprocessing() -> None:
    spec = ModelSpec('vit', 'teacher', 'dinov2', 70, 98, 300.0, 0.1, 20.0, input_multiple=14)
    assert spec.preprocessing.hw == (70, 98) and spec.preprocessing.multiple == 14
    with pytest.raises(ValueError, match='multiple of 14'):
        ModelSpec('vit', 'teacher', 'dinov2', 64, 98, 300.0, 0.1, 20.0,
                  input_multiple=14).preprocessing
    with pytest.raises(ValueError, match='input_multiple'):
        ModelSpec('vit', 'teacher', 'dinov2', 70, 98, 300.0, 0.1, 20.0, input_multiple=0)
    # the default stays 32, also for specs written before the field existed
    old = ModelSpec.from_json(ModelSpec('s', 'student', 'x', 64, 96, 100.0, 0.1, 10.0).to_json()
                              .replace('"input_multiple": 32, ', ''))
    assert old.input_multiple == 32


def test_thread_options_reach_the_session(use_ort, model_file) -> None:
    ort = use_ort([CPU], [CPU])
    create_estimator(model_file, intra_op_threads=3, spinning=False)
    opts = ort.created[-1]['options']
    assert opts.intra_op_num_threads == 3
    assert opts.config == {'session.intra_op.allow_spinning': '0'}
    create_estimator(model_file)
    assert ort.created[-1]['options'].config == {}
    with pytest.raises(ValueError, match='intra_op_threads'):
        create_estimator(model_file, intra_op_threads=-1)


def test_atomic_outputs_follow_the_umask_and_leave_nothing_on_error(tmp_path) -> None:
    import os
    from disdepth_core.inference.atomic import atomic_path
    from disdepth_core.inference.atomic import atomic_write_text
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / 'a.txt', 'hello')
        assert (tmp_path / 'a.txt').read_text() == 'hello'
        assert (tmp_path / 'a.txt').stat().st_mode & 0o777 == 0o644
        with pytest.raises(RuntimeError):
            with atomic_path(tmp_path / 'b.bin') as tmp:
                tmp.write_bytes(b'partial')
                raise RuntimeError('writer failed')
        assert sorted(p.name for p in tmp_path.iterdir()) == ['a.txt']
    finally:
        os.umask(old)


def plugin_estimator(model: Any, device: str = 'auto', **options: Any) -> Any:
    """An engine plug-in for the test below: records what it was given."""
    return types.SimpleNamespace(model=model, device=device, options=options)


def test_engine_plugins_come_from_one_environment_variable(monkeypatch) -> None:
    for name in ('ENGINES', '_ENGINE_KINDS'):   # the registrations end with the test
        monkeypatch.setattr(inference, name, dict(getattr(inference, name)))
    monkeypatch.setattr(inference, '_PLUGINS', set())
    monkeypatch.setenv(inference.ENGINE_PLUGINS_ENV, f'probe={__name__}:plugin_estimator')
    est = create_estimator(None, engine='probe', device='cpu', input_size=(64, 96))
    assert (est.model, est.device, est.options) == (None, 'cpu', {'input_size': (64, 96)})
    assert create_estimator('my.model', engine='probe').model == 'my.model'  # as given
    assert 'probe' in inference.ENGINES and 'probe' not in ENGINES
    monkeypatch.setenv(inference.ENGINE_PLUGINS_ENV, 'broken=nowhere_to_be_found:f')
    with pytest.raises(EngineUnavailableError, match='cannot import nowhere_to_be_found'):
        create_estimator(None, engine='broken')
    monkeypatch.setenv(inference.ENGINE_PLUGINS_ENV, f'nofunc={__name__}:missing')
    with pytest.raises(EngineUnavailableError, match='has no missing'):
        create_estimator(None, engine='nofunc')
    for bad, message in (('justaname', 'name=module:function'),
                         (f'torch={__name__}:plugin_estimator', 'built-in')):
        monkeypatch.setenv(inference.ENGINE_PLUGINS_ENV, bad)
        with pytest.raises(ValueError, match=message):
            create_estimator(None, engine='auto')
