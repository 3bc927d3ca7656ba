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
The inference contract every engine implements, and the engine registry.

``create_estimator(model, engine='auto')`` returns a :class:`DepthEstimator`:
``predict(rgb uint8 HxWx3, intrinsics) -> DepthResult`` with metric depth (metres, float32,
input resolution, NaN where invalid) and confidence (0..1).  The node, ``disdepth infer``,
``disdepth eval`` and ``disdepth bag`` all go through it.

This package imports neither torch nor onnx at module load: robots run it with numpy +
onnxruntime only; engines import their framework when constructed.

Engines (:data:`ENGINES`, name -> factory):

* ``onnxruntime``: ``.onnx`` files; providers TensorRT -> CUDA -> CPU (see
  :mod:`disdepth_core.inference.onnx_engine`).
* ``torch``: checkpoints (``<stem>.safetensors`` + ``<stem>.json``), eager or ``torch.compile``
  (see :mod:`disdepth_core.inference.torch_engine`).

``engine='auto'`` picks by file type (:data:`AUTO_ENGINE_BY_SUFFIX`).

Plug-ins, the one mechanism for engines this package does not ship: in code,
:func:`register_engine`; without code changes, the environment variable
``DISDEPTH_EXTRA_ENGINES=name=module:function[,...]`` (:data:`ENGINE_PLUGINS_ENV`), read by
:func:`create_estimator` in every tool and the node; ``function(model, device=..., **options)``
gets the ``model`` argument as given (None for the default) and returns a ``DepthEstimator``.
"""

import importlib
import os
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from disdepth_core.inference.base import DepthEstimator
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import EngineUnavailableError
from disdepth_core.inference.base import ModelLoadError

__all__ = ['AUTO_ENGINE_BY_SUFFIX', 'DepthEstimator', 'DepthResult', 'ENGINES',
           'ENGINE_PLUGINS_ENV', 'EngineInfo', 'EngineUnavailableError', 'ModelLoadError',
           'RELATIVE_DEPTH_TOPIC', 'engine_plugins',
           'RelativeModelError', 'check_output_kind', 'create_estimator', 'model_kind',
           'register_engine', 'resolve_model_path']

# Where a relative (unitless) model's output goes when the user asks for it: never ``depth``.
RELATIVE_DEPTH_TOPIC = 'depth/relative'


class RelativeModelError(ModelLoadError):
    """A relative-disparity model was asked for metric depth (the message says what to do)."""


def check_output_kind(spec: Any, relative_output: bool) -> None:
    """
    Refuse to publish a relative model as metric depth, and a metric one as relative.

    REP 118 depth images are metres; a relative disparity has no unit, so the node and
    ``disdepth bag`` run such a model only when asked for a relative output explicitly (it then
    goes to :data:`RELATIVE_DEPTH_TOPIC`, with no point cloud).

    :param spec: the model's ``ModelSpec``
    :param relative_output: whether the user asked for the relative output
    :raises RelativeModelError: naming the model, what it predicts and what to do
    """
    if not spec.is_metric and not relative_output:
        what = ('relative disparity (no unit, larger = nearer)'
                if spec.output_kind == 'relative_disparity' else
                'relative depth (no unit: a student distilled from a relative teacher without a '
                'metric anchor)')
        raise RelativeModelError(
            f'model {spec.name!r} predicts {what}, not metres: it cannot be published as depth '
            '(REP 118) or as a point cloud. Use a metric model (adopt a metric family such as '
            'depth-anything-v2-metric, da3-metric or metric3d, or distil this one into a '
            'metric student, docs/adopt.md), or ask for the relative output (node parameter '
            f'relative_output: true, disdepth bag --relative-output) on {RELATIVE_DEPTH_TOPIC}')
    if spec.is_metric and relative_output:
        raise RelativeModelError(
            f'relative output was asked for, but model {spec.name!r} predicts metric depth '
            f'({spec.output_kind}); drop relative_output to publish depth in metres')


EngineFactory = Callable[..., DepthEstimator]

# Model file kinds, by suffix.
ONNX_SUFFIXES = ('.onnx',)
CHECKPOINT_SUFFIXES = ('.safetensors', '.json')

# engine='auto': the engine for each model kind.
AUTO_ENGINE_BY_SUFFIX: Dict[str, str] = {'onnx': 'onnxruntime', 'checkpoint': 'torch'}

# Which model kinds each engine can run (filled by register_engine).
_ENGINE_KINDS: Dict[str, tuple] = {}


def _onnxruntime_factory(path: Path, device: str = 'auto', **options: Any) -> DepthEstimator:
    from disdepth_core.inference.onnx_engine import OnnxEstimator
    return OnnxEstimator(path, device=device, **options)


def _torch_factory(path: Path, device: str = 'auto', **options: Any) -> DepthEstimator:
    from disdepth_core.inference.torch_engine import TorchEstimator
    return TorchEstimator.from_checkpoint(path, device=device, **options)


ENGINES: Dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory, kinds: tuple = ('onnx',)) -> None:
    """
    Register an engine.

    :param name: registry name (what ``--engine`` takes)
    :param factory: ``factory(path: Path, device: str, **options) -> DepthEstimator``
    :param kinds: model kinds it runs: ``'onnx'`` and/or ``'checkpoint'``, or ``'raw'``: the
        factory gets the ``model`` argument as given (plug-ins with their own file types)
    """
    ENGINES[name] = factory
    _ENGINE_KINDS[name] = tuple(kinds)


register_engine('onnxruntime', _onnxruntime_factory, kinds=('onnx',))
register_engine('torch', _torch_factory, kinds=('checkpoint',))

ENGINE_PLUGINS_ENV = 'DISDEPTH_EXTRA_ENGINES'


def engine_plugins(env: Optional[Mapping[str, str]] = None) -> Dict[str, Tuple[str, str]]:
    """
    Parse :data:`ENGINE_PLUGINS_ENV` (``name=module:function`` entries, comma separated).

    :param env: environment (default ``os.environ``)
    :return: engine name -> (module, function)
    :raises ValueError: for a malformed entry, or a name that a shipped engine already has
    """
    env = os.environ if env is None else env
    out = {}
    for item in (s.strip() for s in env.get(ENGINE_PLUGINS_ENV, '').split(',')):
        if not item:
            continue
        name, _, target = item.partition('=')
        module, _, function = target.partition(':')
        name = name.strip()
        if not (name and module.strip() and function.strip()):
            raise ValueError(f'{ENGINE_PLUGINS_ENV}: expected name=module:function, got {item!r}')
        if name in ('auto', 'onnxruntime', 'torch'):
            raise ValueError(f'{ENGINE_PLUGINS_ENV}: {name!r} is a built-in engine name')
        out[name] = (module.strip(), function.strip())
    return out


def _plugin_factory(name: str, module: str, function: str) -> EngineFactory:
    def factory(model: Any, device: str = 'auto', **options: Any) -> DepthEstimator:
        try:
            target = getattr(importlib.import_module(module), function, None)
        except ImportError as exc:
            raise EngineUnavailableError(f'engine {name!r} ({ENGINE_PLUGINS_ENV}): cannot import '
                                         f'{module}: {exc}') from None
        if target is None:
            raise EngineUnavailableError(f'engine {name!r} ({ENGINE_PLUGINS_ENV}): {module} has '
                                         f'no {function}')
        return target(model, device=device, **options)
    return factory


def _register_plugins() -> None:
    for name, (module, function) in engine_plugins().items():
        if ENGINES.get(name) is None or name in _PLUGINS:
            register_engine(name, _plugin_factory(name, module, function), kinds=('raw',))
            _PLUGINS.add(name)


_PLUGINS: set = set()


def model_kind(path: Union[str, Path]) -> str:
    """
    Kind of a model file from its suffix: ``'onnx'`` or ``'checkpoint'``.

    :param path: model file
    :return: the kind
    :raises ModelLoadError: for an unknown suffix
    """
    suffix = Path(path).suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return 'onnx'
    if suffix in CHECKPOINT_SUFFIXES:
        return 'checkpoint'
    raise ModelLoadError(f'{path}: unknown model file type {suffix!r}: expected an ONNX file '
                         '(.onnx) or a torch checkpoint (.safetensors with its .json sidecar)')


def resolve_model_path(model: Optional[Union[str, Path]], engine: str = 'auto') -> Path:
    """
    Turn the ``model`` argument into an existing file.

    ``None`` or ``''`` means the packaged default model: its ONNX file, or its checkpoint when
    ``engine`` only runs checkpoints (``torch``).

    :param model: a path, or None / '' for the packaged default
    :param engine: the requested engine name (or 'auto')
    :return: the model path
    :raises ModelLoadError: when the file does not exist
    """
    if model is None or str(model) == '':
        from disdepth_core.assets import default_model_path
        from disdepth_core.assets import packaged_model_paths
        if engine != 'auto' and 'onnx' not in _ENGINE_KINDS.get(engine, ('onnx',)):
            path = packaged_model_paths()['safetensors']
            if path is None:
                raise ModelLoadError('the packaged default checkpoint disdepth_core/assets/'
                                     '*.safetensors is missing: reinstall disdepth_ros or pass '
                                     'a model path')
            return path
        try:
            return default_model_path()
        except FileNotFoundError as exc:
            raise ModelLoadError(str(exc)) from None
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(f'model file {path} does not exist')
    if path.is_dir():
        raise ModelLoadError(f'model path {path} is a directory, expected an .onnx file or a '
                             '.safetensors/.json checkpoint')
    return path


def create_estimator(model: Optional[Union[str, Path]] = None, engine: str = 'auto',
                     device: str = 'auto', **options: Any) -> DepthEstimator:
    """
    Build a depth estimator for a model file.

    :param model: ``.onnx`` file, checkpoint (``.safetensors`` or its ``.json``), or None / ''
        for the packaged default model
    :param engine: a name in :data:`ENGINES`, or ``'auto'`` (ONNX Runtime for ONNX files, torch
        for checkpoints)
    :param device: ``'auto'``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` (``'tensorrt'`` for
        onnxruntime); ``'auto'`` uses the fastest device that really works and falls back to the
        CPU, an explicit device that cannot run raises :class:`EngineUnavailableError`
    :param options: engine options, e.g. ``input_size=(h, w)`` (dynamic models),
        ``intra_op_threads``, ``fp16``, ``cache_dir`` (onnxruntime), ``compile``,
        ``precision`` (torch)
    :return: the estimator
    :raises ModelLoadError: missing, corrupt or non-DisDepth model files
    :raises EngineUnavailableError: the engine or device cannot run here
    :raises ValueError: unknown engine name
    """
    _register_plugins()
    if engine != 'auto' and engine not in ENGINES:
        raise ValueError(f'unknown inference engine {engine!r}; choose one of '
                         f'{", ".join(["auto"] + sorted(ENGINES))}')
    if engine != 'auto' and 'raw' in _ENGINE_KINDS[engine]:
        # a plug-in: the model argument as given (its files are its business)
        return ENGINES[engine](None if model in (None, '') else model, device=device, **options)
    path = resolve_model_path(model, engine)
    kind = model_kind(path)
    name = AUTO_ENGINE_BY_SUFFIX[kind] if engine == 'auto' else engine
    if kind not in _ENGINE_KINDS[name]:
        if kind == 'checkpoint':
            raise ModelLoadError(f'{path} is a torch checkpoint; the {name!r} engine runs ONNX '
                                 f'files: export it first with `disdepth export {path} '
                                 f'{path.with_suffix(".onnx")}`, or use --engine torch')
        raise ModelLoadError(f'{path} is an ONNX file; the {name!r} engine runs torch '
                             'checkpoints (.safetensors + .json): use --engine onnxruntime')
    return ENGINES[name](path, device=device, **options)


try:   # so that --engine choices list the plug-ins; a malformed variable is reported on use
    _register_plugins()
except ValueError:
    pass
