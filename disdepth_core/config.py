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
Frozen dataclass configs from YAML, merged as: dataclass defaults <- YAML file <- CLI overrides.

Each component owns a small frozen dataclass (the model's ``StudentConfig``, the trainer's
``TrainConfig``...).  This module only knows how to build any of them from plain data:

>>> cfg = load_config(TrainConfig, 'configs/student.yaml', ['optim.lr=1e-3', 'data.batch=4'])

Unknown keys are errors (a typo must not silently fall back to a default).  Overrides are
``dotted.key=value`` with ``value`` parsed as YAML (``true``, ``3``, ``[1, 2]``, ``null``).
"""

import dataclasses
from pathlib import Path
import typing
from typing import Any, Dict, Iterable, List, Optional, Type, TypeVar, Union

import yaml

T = TypeVar('T')


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f'{where}: expected a mapping for {tp.__name__}, got {value!r}')
        return from_dict(tp, value, where)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(inner[0], value, where)
        return value
    if origin in (tuple, typing.Tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f'{where}[{i}]') for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f'{where}: expected {len(args)} values, got {len(value)}')
        return tuple(_coerce(a, v, f'{where}[{i}]') for i, (a, v) in
                     enumerate(zip(args or [Any] * len(value), value)))
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f'{where}: expected a number, got {value!r}') from None
    if tp is int and isinstance(value, bool):
        raise ConfigError(f'{where}: expected an integer, got {value!r}')
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise ConfigError(f'{where}: expected {tp.__name__}, got {value!r}')
    return value


def from_dict(cls: Type[T], data: Optional[Dict[str, Any]], where: str = '') -> T:
    """
    Build dataclass ``cls`` from a (possibly nested, possibly partial) dict.

    :param cls: a dataclass type
    :param data: values; missing keys take the dataclass defaults; for a dataclass with a
        ``PRESETS`` table, ``preset: NAME`` fills the named values first
    :param where: prefix for error messages
    :return: the instance
    :raises ConfigError: on unknown keys or values of the wrong type
    """
    data = dict(data or {})
    presets = getattr(cls, 'PRESETS', None)
    if isinstance(presets, dict) and 'preset' in data:
        # a named size, e.g. ``teacher: {preset: vit-l}``; explicit keys override it
        name = data.pop('preset')
        if name not in presets:
            raise ConfigError(f'{where or cls.__name__}.preset: unknown preset {name!r} '
                              f'(valid: {", ".join(presets)})')
        data = {**presets[name], **data}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f'{where}.' if where else ''
        raise ConfigError(f'unknown config key(s) {", ".join(prefix + k for k in unknown)} '
                          f'(valid: {", ".join(sorted(names))})')
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, f'{where}.{key}' if where else key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'{where or cls.__name__}: {exc}') from None


def to_dict(cfg: Any) -> Dict[str, Any]:
    """Convert a (nested) dataclass config to plain data suitable for YAML/JSON."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))


def _set(node: Any, parts: List[str], value: Any, key: str) -> Any:
    """Set ``value`` at the dotted path ``parts`` inside plain data (dicts and lists)."""
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if not head.isdigit():
            raise ConfigError(f'override {key!r}: {head!r} indexes a list (use a number)')
        i = int(head)
        if i > len(node):
            raise ConfigError(f'override {key!r}: index {i} is past the end of a list of '
                              f'{len(node)} items')
        node = list(node)
        if i == len(node):
            node.append({})
        node[i] = _set(node[i], rest, value, key) if rest else value
        return node
    node = dict(node) if isinstance(node, dict) else {}
    if rest:
        child = node.get(head)
        if not isinstance(child, (dict, list)):
            child = [] if rest[0].isdigit() else {}
        node[head] = _set(child, rest, value, key)
    else:
        node[head] = value
    return node


# Keys whose values stay strings: a frame selection like 0:30 is not YAML-safe (YAML 1.1 reads
# it as the sexagesimal number 1800).
STRING_KEYS = ('select',)


def apply_overrides(data: Dict[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """
    Apply ``dotted.key=value`` overrides to nested plain data (values parsed as YAML).

    The one override parser (``disdepth train``, :func:`load_config` and every config loader):
    list items are addressed by index (``data.train.0.name=nyu``; the index one past the end
    appends an item), values are YAML except for :data:`STRING_KEYS`.

    :param data: plain data (from YAML)
    :param overrides: ``key.sub=value`` strings
    :return: the updated copy
    :raises ConfigError: on a malformed override or a bad list index
    """
    out: Any = dict(data)
    for item in overrides:
        if '=' not in item:
            raise ConfigError(f'override {item!r} must look like key.sub=value')
        key, raw = item.split('=', 1)
        parts = key.strip().split('.')
        if not all(parts):
            raise ConfigError(f'override {item!r} must look like key.sub=value')
        value = raw if parts[-1] in STRING_KEYS else yaml.safe_load(raw)
        out = _set(out, parts, value, key)
    return out


def load_config(cls: Type[T], path: Optional[Union[str, Path]] = None,
                overrides: Iterable[str] = ()) -> T:
    """
    Build ``cls`` from defaults, an optional YAML file and CLI overrides.

    :param cls: the dataclass type
    :param path: YAML file (a mapping) or None
    :param overrides: ``dotted.key=value`` strings
    :return: the frozen config
    """
    data: Dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text)
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f'{path}: a config file must hold a mapping')
        data = loaded or {}
    return from_dict(cls, apply_overrides(data, overrides))


def save_config(cfg: Any, path: Union[str, Path]) -> None:
    """Write a config as YAML (atomically: temp file then rename)."""
    from disdepth_core.inference.atomic import atomic_write_text
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
