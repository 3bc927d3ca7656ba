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
Model checkpoints as ``<stem>.safetensors`` (weights) + ``<stem>.json`` (metadata); never pickle.

The JSON sidecar holds::

    {"format": "disdepth-checkpoint", "version": 1,
     "weights": "<stem>.safetensors", "sha256": "<hex digest of the weights file>",
     "spec": {...ModelSpec...},
     "model": {"kind": "student" | "teacher" | "acclimated", "config": {...dataclass...}},
     "train": {...training config or null...},
     "extra": {...free-form...}}

so :func:`load_checkpoint` can rebuild the model from its config (``models.registry.MODELS``)
and load the weights strictly.  Both files are written atomically (temp file + rename; weights
first, so a JSON file always points at complete weights).  Every failure (missing file, invalid
JSON, checksum or key mismatch...) raises :class:`CheckpointError` naming the problem.
Teachers are rebuilt unfrozen (``kind 'teacher'``): freeze them with
``disdepth_core.models.freeze`` for distillation.  A Hugging Face teacher (``kind: 'hf'``) is
rebuilt from its ``hf_path`` directory, which must still exist (its weights then come from the
checkpoint).
"""

from dataclasses import fields
from dataclasses import is_dataclass
from dataclasses import replace
import json
from pathlib import Path
from typing import Any
from typing import Dict
from typing import Optional
from typing import Tuple
from typing import Union

from torch import nn

from disdepth_core.config import ConfigError
from disdepth_core.config import from_dict
from disdepth_core.config import to_dict
from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.inference.atomic import file_sha256
from disdepth_core.modelspec import ModelSpec

FORMAT = 'disdepth-checkpoint'
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read."""


def checkpoint_paths(path: Union[str, Path]) -> Tuple[Path, Path]:
    """
    Return ``(weights, json)`` paths for a stem, a ``.safetensors`` or a ``.json`` path.

    :param path: any of the three forms
    :return: the two paths
    """
    path = Path(path)
    if path.suffix in ('.safetensors', '.json'):
        path = path.with_suffix('')
    return path.with_name(path.name + '.safetensors'), path.with_name(path.name + '.json')


def _plain(cfg: Any) -> Any:
    if cfg is None:
        return None
    if is_dataclass(cfg) and not isinstance(cfg, type):
        return to_dict(cfg)
    if isinstance(cfg, dict):
        return json.loads(json.dumps(cfg, default=str))
    raise CheckpointError(f'cannot store a {type(cfg).__name__} as a config (use a dataclass or '
                          'a dict)')


def save_checkpoint(stem_path: Union[str, Path], model: nn.Module, spec: ModelSpec,
                    model_config: Any, train_config: Any = None,
                    extra: Optional[Dict[str, Any]] = None) -> Tuple[Path, Path]:
    """
    Write ``<stem>.safetensors`` and ``<stem>.json`` atomically.

    :param stem_path: path without suffix (a ``.safetensors``/``.json`` suffix is stripped)
    :param model: the module whose ``state_dict`` is stored
    :param spec: its ModelSpec
    :param model_config: the StudentConfig / TeacherConfig / AcclimatedConfig it was built from
    :param train_config: training config (dataclass or dict), optional
    :param extra: JSON-serialisable provenance, optional
    :return: (weights path, json path)
    :raises CheckpointError: on an unregistered config or unserialisable metadata
    """
    from safetensors.torch import save_file

    from disdepth_core.models.registry import model_kind

    weights, meta_path = checkpoint_paths(stem_path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    try:
        kind = model_kind(model_config)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    tensors = {k: v.detach().to('cpu').contiguous().clone() for k, v in
               model.state_dict().items()}
    with atomic_path(weights, suffix='.safetensors') as tmp:
        save_file(tensors, str(tmp), metadata={'format': 'pt', 'kind': kind})
    meta = {'format': FORMAT, 'version': VERSION, 'weights': weights.name,
            'sha256': file_sha256(weights), 'spec': json.loads(spec.to_json()),
            'model': {'kind': kind, 'config': _plain(model_config)},
            'train': _plain(train_config), 'extra': extra or {}}
    try:
        text = json.dumps(meta, indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'checkpoint metadata is not JSON-serialisable: {exc}') from None
    atomic_write_text(meta_path, text + '\n')
    return weights, meta_path


def read_checkpoint_meta(path: Union[str, Path]) -> Dict[str, Any]:
    """
    Read and check the JSON sidecar of a checkpoint (no torch model is built).

    :param path: stem, ``.safetensors`` or ``.json`` path
    :return: the metadata dict
    :raises CheckpointError: if the file is missing or malformed
    """
    _, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise CheckpointError(f'checkpoint metadata {meta_path} not found (a checkpoint is '
                              '<stem>.safetensors + <stem>.json)')
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f'{meta_path}: not valid JSON ({exc})') from None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT:
        raise CheckpointError(f'{meta_path}: not a disdepth checkpoint (format != {FORMAT!r})')
    if int(meta.get('version', 0)) > VERSION:
        raise CheckpointError(f'{meta_path}: checkpoint version {meta.get("version")} is newer '
                              f'than this disdepth ({VERSION})')
    for key in ('spec', 'model', 'weights'):
        if key not in meta:
            raise CheckpointError(f'{meta_path}: missing key {key!r}')
    if not isinstance(meta['model'], dict) or 'kind' not in meta['model'] \
            or 'config' not in meta['model']:
        raise CheckpointError(f'{meta_path}: "model" must hold "kind" and "config"')
    return meta


def load_checkpoint(path: Union[str, Path], map_location: str = 'cpu'
                    ) -> Tuple[nn.Module, ModelSpec, Dict[str, Any]]:
    """
    Rebuild a model from its checkpoint.

    :param path: stem, ``.safetensors`` or ``.json`` path
    :param map_location: device the weights are loaded to
    :return: (model in eval mode, its ModelSpec, the metadata dict)
    :raises CheckpointError: naming what is missing, corrupt or mismatched
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from disdepth_core.models.registry import MODELS

    meta = read_checkpoint_meta(path)
    _, meta_path = checkpoint_paths(path)
    weights = meta_path.with_name(meta['weights'])
    if not weights.is_file():
        raise CheckpointError(f'checkpoint weights {weights} not found (referenced by '
                              f'{meta_path})')
    digest = meta.get('sha256')
    if digest and file_sha256(weights) != digest:
        raise CheckpointError(f'{weights}: checksum mismatch with {meta_path} (corrupt or '
                              'replaced weights file)')
    try:
        spec = ModelSpec.from_dict(meta['spec'])
    except ValueError as exc:
        raise CheckpointError(f'{meta_path}: bad spec: {exc}') from None
    kind = meta['model']['kind']
    if kind not in MODELS:
        raise CheckpointError(f'{meta_path}: unknown model kind {kind!r} (known: '
                              f'{", ".join(MODELS)})')
    cls, build = MODELS[kind]
    try:
        config: Any = from_dict(cls, meta['model']['config'])
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f'{meta_path}: bad model config: {exc}') from None
    config = _without_pretrained(config)
    model = build(config)
    try:
        state = load_file(str(weights), device=map_location)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f'{weights}: cannot read safetensors ({exc})') from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
              for k in sorted(set(own) & set(state)) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        parts = [f'{weights} does not match the {kind} rebuilt from {meta_path}:']
        if missing:
            parts.append(f'missing keys ({len(missing)}): {", ".join(missing[:20])}')
        if unexpected:
            parts.append(f'unexpected keys ({len(unexpected)}): {", ".join(unexpected[:20])}')
        if shapes:
            parts.append(f'shape mismatches ({len(shapes)}): {"; ".join(shapes[:20])}')
        raise CheckpointError('\n  '.join(parts))
    model.load_state_dict(state, strict=True)
    model.to(map_location)
    model.eval()
    return model, spec, meta


def _without_pretrained(config: Any) -> Any:
    """Drop ImageNet ``weights`` paths (nested too): the checkpoint holds all weights."""
    changes: Dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == 'weights' and value is not None:
            changes[f.name] = None
        elif is_dataclass(value) and not isinstance(value, type):
            changes[f.name] = _without_pretrained(value)
    return replace(config, **changes) if changes else config
