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
The ``onnxruntime`` engine: DisDepth ONNX files on TensorRT, CUDA or the CPU.

Providers are tried in the order TensorRT -> CUDA -> CPU (``device='auto'``).  ONNX Runtime
silently falls back when a listed provider cannot start (``onnxruntime-gpu`` lists CUDA and
TensorRT even on a machine without a GPU), so the provider that really runs is read from
``session.get_providers()`` after the session is created, and one log line (logger ``disdepth``)
says which one runs and why the others were skipped.

TensorRT engines and timing caches go to ``<cache_dir>/<key>/`` (default
``~/.cache/disdepth/trt``), where the key combines the model file's SHA-256, the GPU name, the
TensorRT version, the ONNX Runtime version and the precision, so a stale engine is never reused.
When the GPU or the TensorRT version cannot be identified, caching is turned off rather than risk
a stale engine.

On a GPU provider inputs and outputs go through IO binding.  Only numpy and onnxruntime are
imported (onnxruntime when an estimator is built).
"""

import ctypes.util
import importlib
import importlib.metadata
import logging
import os
from pathlib import Path
import re
import subprocess
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.atomic import file_sha256
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import EngineUnavailableError
from disdepth_core.inference.base import ModelLoadError
from disdepth_core.inference.postprocess import predict_batch_with
from disdepth_core.inference.postprocess import predict_with
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_core.transforms import Preprocessing

LOG = logging.getLogger('disdepth')

TENSORRT = 'TensorrtExecutionProvider'
CUDA = 'CUDAExecutionProvider'
CPU = 'CPUExecutionProvider'
GPU_PROVIDERS = (TENSORRT, CUDA)

# device -> providers to try, in order.
DEVICE_PLANS: Dict[str, Tuple[str, ...]] = {
    'auto': (TENSORRT, CUDA, CPU),
    'tensorrt': (TENSORRT, CUDA, CPU),
    'cuda': (CUDA, CPU),
    'cpu': (CPU,),
}
# An explicitly requested device must get this provider, or the estimator is not built.
REQUIRED_PROVIDER: Dict[str, str] = {'tensorrt': TENSORRT, 'cuda': CUDA, 'cpu': CPU}

PRECISION_METADATA_KEY = 'disdepth.precision'
NOT_IN_BUILD = 'not in this onnxruntime build'
UNKNOWN = 'unknown'


def _ort() -> Any:
    """Import onnxruntime (kept in a function so tests can substitute a fake module)."""
    try:
        return importlib.import_module('onnxruntime')
    except ImportError:
        raise EngineUnavailableError(
            'the onnxruntime engine needs the onnxruntime package: pip install onnxruntime '
            '(or onnxruntime-gpu on an NVIDIA machine)') from None


def _ort_errors(ort: Any) -> Tuple[Type[BaseException], ...]:
    """Exception types ONNX Runtime raises for unusable models and failing providers."""
    errors: List[Type[BaseException]] = [RuntimeError, OSError, ValueError]
    state = getattr(getattr(ort, 'capi', None), 'onnxruntime_pybind11_state', None)
    for name in ('Fail', 'InvalidArgument', 'InvalidGraph', 'InvalidProtobuf', 'NoSuchFile',
                 'NoModel', 'NotImplemented', 'RuntimeException', 'EPFail', 'EngineError'):
        cls = getattr(state, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            errors.append(cls)
    return tuple(errors)


def parse_device(device: str) -> Tuple[str, int]:
    """
    Split a device string into a provider plan name and a GPU index.

    :param device: 'auto', 'cpu', 'cuda', 'cuda:N', 'tensorrt' or 'tensorrt:N'
    :return: (plan name, device id)
    :raises ValueError: for anything else
    """
    text = (device or 'auto').strip().lower()
    name, _, index = text.partition(':')
    if name == 'gpu':
        name = 'cuda'
    if name not in DEVICE_PLANS or (index and (not index.isdigit() or name in ('auto', 'cpu'))):
        raise ValueError(f'unknown device {device!r} for onnxruntime; use auto, cpu, cuda, '
                         'cuda:N, tensorrt or tensorrt:N')
    return name, int(index) if index else 0


# --------------------------------------------------------------------------- TensorRT cache

def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/disdepth/trt`` (``~/.cache/disdepth/trt`` by default)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'disdepth' / 'trt'


def gpu_name(device_id: int = 0) -> str:
    """
    Name of GPU ``device_id`` without CUDA bindings, or ``'unknown'``.

    Asks ``nvidia-smi``, then the NVIDIA driver's ``/proc`` entries, then (Jetson) the device
    tree model.
    """
    try:
        out = subprocess.run(['nvidia-smi', f'--id={device_id}', '--query-gpu=name',
                              '--format=csv,noheader'], capture_output=True, text=True,
                             timeout=10, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    gpus = sorted(Path('/proc/driver/nvidia/gpus').glob('*/information'))
    if device_id < len(gpus):
        try:
            for line in gpus[device_id].read_text().splitlines():
                if line.startswith('Model:'):
                    return line.split(':', 1)[1].strip()
        except OSError:
            pass
    model = Path('/proc/device-tree/model')
    if model.is_file():
        try:
            return model.read_text().strip('\x00\n ') or UNKNOWN
        except OSError:
            pass
    return UNKNOWN


def tensorrt_version() -> str:
    """
    Full TensorRT version (e.g. ``'10.3.0'``), or ``'unknown'``.

    Looks at the Python distributions first, then at the real file behind ``libnvinfer.so``
    (``libnvinfer.so.10.3.0``).
    """
    for dist in ('tensorrt', 'tensorrt-cu13', 'tensorrt-cu12', 'tensorrt-cu13-libs',
                 'tensorrt-cu12-libs', 'tensorrt-libs'):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if ctypes.util.find_library('nvinfer') is None:
        return UNKNOWN
    try:
        out = subprocess.run(['ldconfig', '-p'], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    for line in out.splitlines():
        if 'libnvinfer.so' in line and '=>' in line:
            real = os.path.realpath(line.split('=>', 1)[1].strip())
            match = re.search(r'libnvinfer\.so\.(\d+(?:\.\d+)+)$', real)
            if match:
                return match.group(1)
    return UNKNOWN


def _slug(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9.]+', '-', text).strip('-').lower() or UNKNOWN


def trt_cache_key(model_sha256: str, gpu: str, trt_version: str, ort_version: str,
                  fp16: bool) -> str:
    """
    Directory name for a model's TensorRT engine and timing caches.

    :param model_sha256: hex digest of the ONNX file
    :param gpu: GPU name
    :param trt_version: TensorRT version
    :param ort_version: ONNX Runtime version
    :param fp16: whether TensorRT may use fp16 kernels
    :return: e.g. ``'3fa2c1d09b7e4a55-nvidia-h200-trt10.3.0-ort1.31.1-fp16'``
    """
    return (f'{model_sha256[:16]}-{_slug(gpu)}-trt{_slug(trt_version)}-ort{_slug(ort_version)}'
            f'-{"fp16" if fp16 else "fp32"}')


def trt_cache_dir(model_path: Union[str, Path], cache_root: Union[str, Path], device_id: int,
                  fp16: bool, ort_version: str) -> Tuple[Optional[Path], str]:
    """
    Return the cache directory for this model on this GPU, or None when it is not safely keyed.

    :return: (directory or None, a note for the log)
    """
    gpu = gpu_name(device_id)
    trt = tensorrt_version()
    if UNKNOWN in (gpu, trt):
        return None, (f'TensorRT engine cache off: cannot identify the '
                      f'{"GPU" if gpu == UNKNOWN else "TensorRT version"}, so a cached engine '
                      'could be stale')
    key = trt_cache_key(file_sha256(model_path), gpu, trt, ort_version, fp16)
    path = Path(cache_root).expanduser() / key
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return None, f'TensorRT engine cache off: cannot create {path} ({exc.strerror})'
    return path, f'TensorRT cache {path}'


# --------------------------------------------------------------------------- model inspection

def _dim(value: Any) -> Optional[int]:
    """Return a static dimension as int, None when symbolic."""
    return int(value) if isinstance(value, (int, np.integer)) and value > 0 else None


def inspect_session(sess: Any, path: Path) -> Dict[str, Any]:
    """
    Check that a session holds a DisDepth model and describe it.

    :param sess: an onnxruntime InferenceSession (or anything with the same methods)
    :param path: the model file, for messages
    :return: dict with ``spec``, ``input_name``, ``static_hw`` ((h, w) or None),
        ``batch`` (1 for a graph fixed to one image, None for a dynamic batch axis),
        ``outputs`` (names) and ``precision``
    :raises ModelLoadError: naming what is wrong
    """
    meta = dict(sess.get_modelmeta().custom_metadata_map or {})
    text = meta.get(ONNX_METADATA_KEY)
    if text is None:
        raise ModelLoadError(f'{path} is not a DisDepth model: its ONNX metadata has no '
                             f'{ONNX_METADATA_KEY!r} entry (create models with `disdepth export`)')
    try:
        spec = ModelSpec.from_json(text)
    except ValueError as exc:
        raise ModelLoadError(f'{path}: invalid DisDepth metadata: {exc}') from None
    inputs = list(sess.get_inputs())
    described = ', '.join(f'{i.name} {list(i.shape)}' for i in inputs)
    if len(inputs) != 1 or inputs[0].name != 'image':
        raise ModelLoadError(f'{path}: expected one input named "image" (N x 3 x H x W float), '
                             f'got {described or "none"}')
    shape = list(inputs[0].shape)
    if len(shape) != 4 or _dim(shape[1]) != 3:
        raise ModelLoadError(f'{path}: input "image" must be N x 3 x H x W, got {shape}')
    if inputs[0].type != 'tensor(float)':
        raise ModelLoadError(f'{path}: input "image" must be float32, got {inputs[0].type}')
    batch = _dim(shape[0])
    if batch not in (None, 1):
        raise ModelLoadError(f'{path}: input batch size is fixed to {batch}; export with batch 1 '
                             'or with a dynamic batch axis (--dynamic-batch or --dynamic)')
    h, w = _dim(shape[2]), _dim(shape[3])
    static_hw = (h, w) if h is not None and w is not None else None
    m = spec.input_multiple
    if h is not None and w is not None and (h % m or w % m):
        raise ModelLoadError(f'{path}: input size {h}x{w} is not a multiple of {m} (the model '
                             "spec's input_multiple)")
    if spec.dynamic and static_hw is not None:
        raise ModelLoadError(f'{path}: metadata says the model accepts any input size but the '
                             f'graph input is fixed to {h}x{w} (mismatched spec)')
    outputs = [o.name for o in sess.get_outputs()]
    if 'depth' not in outputs:
        raise ModelLoadError(f'{path}: the model has no "depth" output (outputs: {outputs})')
    missing = [name for name in spec.outputs if name not in outputs]
    if missing:
        raise ModelLoadError(f'{path}: metadata lists outputs {list(spec.outputs)} but the graph '
                             f'lacks {missing} (mismatched spec)')
    return {'spec': spec, 'input_name': 'image', 'static_hw': static_hw, 'batch': batch,
            'outputs': [name for name in ('depth', 'confidence') if name in outputs],
            'precision': meta.get(PRECISION_METADATA_KEY, 'fp32')}


def choose_input_size(model: Dict[str, Any], input_size: Optional[Sequence[int]],
                      path: Path) -> Tuple[int, int]:
    """
    Network input size: the graph's fixed size, else ``input_size``, else the training size.

    :raises ValueError: when ``input_size`` asks a fixed-size model for another size
    """
    static_hw = model['static_hw']
    wanted = None if input_size is None else (int(input_size[0]), int(input_size[1]))
    if static_hw is not None:
        if wanted is not None and wanted != static_hw:
            raise ValueError(f'{path} has a fixed input size {static_hw[0]}x{static_hw[1]}; '
                             f'input_size {wanted[0]}x{wanted[1]} needs a model exported with '
                             '`disdepth export --dynamic`')
        return static_hw
    spec = model['spec']
    return wanted or (spec.input_height, spec.input_width)


# --------------------------------------------------------------------------- the estimator

class OnnxEstimator:
    """
    A DisDepth ONNX model on ONNX Runtime (implements ``DepthEstimator``).

    :param path: the ``.onnx`` file
    :param device: 'auto' (TensorRT -> CUDA -> CPU), 'tensorrt[:N]', 'cuda[:N]' or 'cpu'
    :param input_size: network (height, width) for models exported with ``--dynamic``
    :param intra_op_threads: CPU threads per operator (None: onnxruntime's default)
    :param fp16: let TensorRT use fp16 kernels
    :param cache_dir: root of the TensorRT cache (None: :func:`default_cache_dir`)
    :param log_level: onnxruntime's own log severity (0 verbose .. 4 fatal)
    :param spinning: whether idle CPU worker threads busy-wait (None: onnxruntime's default,
        on); turn it off when the CPU is shared with other busy processes (other ROS nodes)
    :raises ModelLoadError: missing, corrupt or non-DisDepth file, wrong input/outputs
    :raises EngineUnavailableError: onnxruntime missing, or an explicit device cannot run
    """

    def __init__(self, path: Union[str, Path], device: str = 'auto',
                 input_size: Optional[Sequence[int]] = None,
                 intra_op_threads: Optional[int] = None, fp16: bool = False,
                 cache_dir: Optional[Union[str, Path]] = None, log_level: int = 3,
                 spinning: Optional[bool] = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f'model file {self.path} does not exist')
        plan_name, self.device_id = parse_device(device)
        ort = _ort()
        self._ort = ort
        self._errors = _ort_errors(ort)
        self._options = self._session_options(intra_op_threads, log_level, spinning)
        plan = DEVICE_PLANS[plan_name]
        available = list(ort.get_available_providers())
        skipped: Dict[str, str] = {}
        requested = []
        for provider in plan:
            if provider in available:
                requested.append(provider)
            else:
                skipped[provider] = NOT_IN_BUILD
        required = REQUIRED_PROVIDER.get(plan_name)
        if required is not None and required not in requested:
            raise EngineUnavailableError(
                f'device {device!r} needs {required}, which this onnxruntime build does not '
                f'offer (it has {", ".join(available)}); install onnxruntime-gpu with a '
                'matching CUDA/TensorRT, or use device auto/cpu')
        notes: List[str] = []
        if any(p in GPU_PROVIDERS for p in requested):
            # Check the file before any GPU work (a TensorRT build can take minutes).
            model = inspect_session(self._open(self._cpu_options(log_level), [CPU], [{}]),
                                    self.path)
        else:
            model = None
        sess, requested = self._create(requested, skipped, notes, fp16, cache_dir)
        if model is None:
            model = inspect_session(sess, self.path)
        actual = list(sess.get_providers())
        for provider in requested:
            if provider not in actual and provider not in skipped:
                skipped[provider] = ('listed by onnxruntime but failed to start (no GPU, or '
                                     'missing CUDA/cuDNN/TensorRT libraries; see the onnxruntime '
                                     'messages above)')
        running = actual[0] if actual else CPU
        if required is not None and running != required:
            raise EngineUnavailableError(f'device {device!r} needs {required} but onnxruntime '
                                         f'could only start {running}: {skipped.get(required)}')
        self._sess = sess
        self.spec: ModelSpec = model['spec']
        self._input_name = model['input_name']
        self._outputs: List[str] = model['outputs']
        self.net_hw = choose_input_size(model, input_size, self.path)
        # the most images one network call takes (None: any number)
        self.max_batch: Optional[int] = model['batch']
        self._prep = Preprocessing(self.net_hw[0], self.net_hw[1], tuple(self.spec.mean),
                                   tuple(self.spec.std), self.spec.input_multiple)
        self.provider = running
        self._gpu = running in GPU_PROVIDERS
        self._binding = sess.io_binding() if self._gpu else None
        precision = model['precision']
        if running == TENSORRT and fp16:
            precision = 'fp16'
        elif fp16:
            notes.append('fp16 applies to TensorRT only: running fp32')
        skipped_text = ', '.join(f'{p} ({why})' for p, why in skipped.items())
        if running != CPU and CPU in actual[1:]:
            notes.append(f'{running} with {", ".join(actual[1:])} for unsupported nodes')
        self.info = EngineInfo(engine='onnxruntime', provider=running,
                               model_path=str(self.path), precision=precision,
                               notes='; '.join(([f'skipped {skipped_text}'] if skipped_text
                                                else []) + notes))
        failed = [p for p, why in skipped.items() if why != NOT_IN_BUILD]
        LOG.log(logging.WARNING if failed else logging.INFO,
                'onnxruntime runs %s on %s (%s, %dx%d input)%s%s', self.path.name, running,
                precision, self.net_hw[0], self.net_hw[1],
                f'; skipped {skipped_text}' if skipped_text else '',
                f'; {"; ".join(notes)}' if notes else '')

    # -- session construction

    def _session_options(self, intra_op_threads: Optional[int], log_level: int,
                         spinning: Optional[bool]) -> Any:
        opts = self._ort.SessionOptions()
        opts.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = int(log_level)
        if spinning is not None:
            opts.add_session_config_entry('session.intra_op.allow_spinning',
                                          '1' if spinning else '0')
        if intra_op_threads is not None:
            if int(intra_op_threads) < 0:
                raise ValueError(f'intra_op_threads must be >= 0, got {intra_op_threads}')
            opts.intra_op_num_threads = int(intra_op_threads)
        return opts

    def _cpu_options(self, log_level: int) -> Any:
        opts = self._ort.SessionOptions()
        opts.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.log_severity_level = int(log_level)
        opts.intra_op_num_threads = 1
        return opts

    def _open(self, options: Any, providers: List[str], provider_options: List[dict]) -> Any:
        try:
            return self._ort.InferenceSession(str(self.path), sess_options=options,
                                              providers=providers,
                                              provider_options=provider_options)
        except self._errors as exc:
            raise ModelLoadError(f'{self.path}: onnxruntime cannot load it (corrupt or not an '
                                 f'ONNX model?): {str(exc).strip()[:300]}') from None

    def _provider_options(self, provider: str, fp16: bool,
                          cache_dir: Optional[Union[str, Path]], notes: List[str]) -> dict:
        if provider == TENSORRT:
            opts: Dict[str, Any] = {'device_id': self.device_id,
                                    'trt_fp16_enable': bool(fp16)}
            root = default_cache_dir() if cache_dir is None else Path(cache_dir)
            path, note = trt_cache_dir(self.path, root, self.device_id, fp16,
                                       str(getattr(self._ort, '__version__', UNKNOWN)))
            notes.append(note)
            if path is not None:
                opts.update({'trt_engine_cache_enable': True,
                             'trt_engine_cache_path': str(path),
                             'trt_timing_cache_enable': True,
                             'trt_timing_cache_path': str(path)})
            return opts
        if provider == CUDA:
            return {'device_id': self.device_id}
        return {}

    def _create(self, requested: List[str], skipped: Dict[str, str], notes: List[str],
                fp16: bool, cache_dir: Optional[Union[str, Path]]) -> Tuple[Any, List[str]]:
        """
        Create the session, dropping the first provider each time creation raises.

        ONNX Runtime usually falls back silently when a provider cannot start, but a TensorRT
        build failure (or a broken engine cache) raises; then CUDA is tried, then the CPU.
        """
        options = {p: self._provider_options(p, fp16, cache_dir, notes) for p in requested}
        attempt = list(requested)
        while True:
            try:
                sess = self._ort.InferenceSession(str(self.path), sess_options=self._options,
                                                  providers=attempt,
                                                  provider_options=[options[p] for p in attempt])
                return sess, attempt
            except self._errors as exc:
                if attempt[0] not in GPU_PROVIDERS:
                    text = str(exc).strip()[:300]
                    raise ModelLoadError(f'{self.path}: onnxruntime cannot load it (corrupt or '
                                         f'not an ONNX model?): {text}') from None
                skipped[attempt[0]] = f'session creation failed: {str(exc).strip()[:200]}'
                attempt = attempt[1:] or [CPU]
                options.setdefault(CPU, {})

    # -- inference

    def forward(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Run the network on a prepared input.

        :param x: N x 3 x H x W float32 in [0, 1] at :attr:`net_hw`
        :return: output name -> array (``depth`` and, when present, ``confidence``)
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._binding is None:
            values = self._sess.run(self._outputs, {self._input_name: x})
        else:
            binding = self._binding
            binding.bind_cpu_input(self._input_name, x)
            for name in self._outputs:
                binding.bind_output(name, 'cuda', self.device_id)
            self._sess.run_with_iobinding(binding)
            values = binding.copy_outputs_to_cpu()
        return dict(zip(self._outputs, values))

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """
        Predict metric depth for one RGB image (see ``DepthEstimator.predict``).

        :param rgb: H x W x 3 uint8 RGB
        :param intrinsics: intrinsics of ``rgb``
        :return: depth (metres, NaN invalid) and confidence at H x W
        """
        return predict_with(self.forward, rgb, intrinsics, self._prep, self.spec, self.net_hw)

    def predict_batch(self, rgbs: Sequence[np.ndarray],
                      intrinsics: Sequence[CameraIntrinsics]) -> List[DepthResult]:
        """
        Predict several images of one size in one network call (see ``DepthEstimator``).

        :param rgbs: H x W x 3 uint8 RGB images, all of one size
        :param intrinsics: one CameraIntrinsics per image
        :return: one DepthResult per image
        :raises ValueError: several sizes, bad input, or more images than the graph's fixed
            batch size of 1 (re-export with a dynamic batch axis)
        """
        if self.max_batch is not None and len(rgbs) > self.max_batch:
            raise ValueError(
                f'{self.path} takes {self.max_batch} image per call (its graph input is '
                f'{self.max_batch} x 3 x {self.net_hw[0]} x {self.net_hw[1]}), got a batch of '
                f'{len(rgbs)}: re-export it with a dynamic batch axis, `disdepth export '
                'CHECKPOINT OUT.onnx --dynamic-batch` (or --dynamic), or call predict per image')
        return predict_batch_with(self.forward, rgbs, intrinsics, self._prep, self.spec,
                                  self.net_hw)
