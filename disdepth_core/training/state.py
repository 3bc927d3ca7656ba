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
Training state (optimizer, gradient scaler, counters) saved without pickles.

An optimizer's ``state_dict()`` is split into its tensors, written to ``<stem>.train.safetensors``,
and everything else (parameter groups, scalar state, counters, the gradient scaler), written to
``<stem>.train.json``.  Loading never unpickles anything, so a resumed checkpoint from an untrusted
source can at worst hold wrong numbers, never run code.
"""

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from safetensors.torch import load_file
from safetensors.torch import save_file
import torch

from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.atomic import atomic_write_text

STATE_FORMAT = 'disdepth-train-state'
STATE_VERSION = 1


def state_paths(stem: Union[str, Path]) -> Tuple[Path, Path]:
    """Return ``(<stem>.train.safetensors, <stem>.train.json)``."""
    stem = Path(stem)
    return (stem.with_name(stem.name + '.train.safetensors'),
            stem.with_name(stem.name + '.train.json'))


def flatten_optimizer_state(
        state: Dict[str, Any]) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """
    Split an optimizer ``state_dict()`` into tensors and JSON-serialisable data.

    :param state: ``optimizer.state_dict()``
    :return: (tensors keyed ``state.<param>.<name>``, JSON data with param groups and scalars)
    :raises ValueError: if a value is neither a tensor nor JSON-serialisable
    """
    tensors: Dict[str, torch.Tensor] = {}
    scalars: Dict[str, Any] = {}
    for pid, entry in state['state'].items():
        for name, value in entry.items():
            key = f'{pid}.{name}'
            if torch.is_tensor(value):
                tensors['state.' + key] = value.detach().to('cpu').contiguous()
            else:
                scalars[key] = value
    meta = {'param_groups': state['param_groups'], 'scalars': scalars}
    try:
        json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f'optimizer state holds a value that is neither a tensor nor JSON: '
                         f'{exc}') from None
    return tensors, meta


def unflatten_optimizer_state(tensors: Dict[str, torch.Tensor],
                              meta: Dict[str, Any]) -> Dict[str, Any]:
    """
    Inverse of :func:`flatten_optimizer_state`.

    :param tensors: the tensors read from safetensors
    :param meta: the JSON part
    :return: a dict for ``optimizer.load_state_dict``
    """
    state: Dict[int, Dict[str, Any]] = {}
    for key, value in tensors.items():
        if not key.startswith('state.'):
            continue
        pid, name = key[len('state.'):].split('.', 1)
        state.setdefault(int(pid), {})[name] = value
    for key, value in meta.get('scalars', {}).items():
        pid, name = key.split('.', 1)
        state.setdefault(int(pid), {})[name] = value
    return {'state': state, 'param_groups': meta['param_groups']}


def save_train_state(stem: Union[str, Path], optimizer: torch.optim.Optimizer,
                     counters: Dict[str, Any], scaler: Optional[Any] = None,
                     extra_tensors: Optional[Dict[str, torch.Tensor]] = None) -> None:
    """
    Write the optimizer, scaler and counters next to a model checkpoint ``<stem>``.

    :param stem: checkpoint stem (``<stem>.train.safetensors`` and ``.train.json`` are written)
    :param optimizer: the optimizer
    :param counters: JSON-serialisable counters (step, epoch, batch...)
    :param scaler: a ``torch.amp.GradScaler`` or None
    :param extra_tensors: more tensors to keep (e.g. the RNG state), keyed by name
    """
    st_path, js_path = state_paths(stem)
    tensors, meta = flatten_optimizer_state(optimizer.state_dict())
    for name, value in (extra_tensors or {}).items():
        tensors['extra.' + name] = value.detach().to('cpu').contiguous()
    doc = {'format': STATE_FORMAT, 'version': STATE_VERSION, 'counters': counters,
           'optimizer': meta,
           'scaler': scaler.state_dict() if scaler is not None and scaler.is_enabled() else None}
    with atomic_path(st_path, suffix='.safetensors') as tmp:
        save_file(tensors, str(tmp))
    atomic_write_text(js_path, json.dumps(doc, indent=1))


def load_train_state(stem: Union[str, Path]) -> Dict[str, Any]:
    """
    Read what :func:`save_train_state` wrote.

    :param stem: checkpoint stem, or a path to any of its files
    :return: dict with ``counters``, ``optimizer`` (for ``load_state_dict``), ``scaler`` (or None)
        and ``extra`` (tensors)
    :raises FileNotFoundError: if the training state files are missing
    :raises ValueError: if they are not a disdepth training state
    """
    st_path, js_path = state_paths(checkpoint_stem(stem))
    for path in (st_path, js_path):
        if not path.is_file():
            raise FileNotFoundError(f'cannot resume: training state {path} is missing (was the '
                                    'checkpoint written by disdepth train?)')
    try:
        doc = json.loads(js_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f'{js_path}: not valid JSON ({exc})') from None
    if not isinstance(doc, dict) or doc.get('format') != STATE_FORMAT:
        raise ValueError(f'{js_path}: not a disdepth training state')
    tensors = load_file(str(st_path))
    extra = {k[len('extra.'):]: v for k, v in tensors.items() if k.startswith('extra.')}
    return {'counters': doc['counters'],
            'optimizer': unflatten_optimizer_state(tensors, doc['optimizer']),
            'scaler': doc.get('scaler'), 'extra': extra}


def checkpoint_stem(path: Union[str, Path]) -> Path:
    """
    Return the stem of a checkpoint given any of its files (``x.safetensors``, ``x.json``...).

    :param path: a checkpoint path
    :return: the path without the checkpoint suffixes
    """
    path = Path(path)
    name = path.name
    for suffix in ('.train.safetensors', '.train.json', '.safetensors', '.json'):
        if name.endswith(suffix):
            return path.with_name(name[:-len(suffix)])
    return path
