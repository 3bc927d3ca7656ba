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
Dataset registry: name -> dataset class.

Each dataset module decorates its class with :func:`register_dataset`.  Built-in modules are
imported only when their name is first looked up, so ``import disdepth_core.data`` stays cheap and
a missing optional dependency of one dataset never breaks the others.
"""

import importlib
from typing import Any, Callable, Dict, List, Type

DATASETS: Dict[str, Type[Any]] = {}

# name -> module that registers it (imported on first use).
_BUILTIN_MODULES: Dict[str, str] = {
    'rgbd_folder': 'disdepth_core.data.rgbd_folder',
    'nyu': 'disdepth_core.data.nyu',
    'kitti_eigen': 'disdepth_core.data.kitti',
    'synthetic': 'disdepth_core.data.synthetic',
    'unlabeled': 'disdepth_core.data.unlabeled',
}


def register_dataset(name: str) -> Callable[[Type[Any]], Type[Any]]:
    """
    Class decorator that adds a dataset class to :data:`DATASETS` under ``name``.

    :param name: registry name (e.g. 'rgbd_folder')
    :return: the decorator (returns the class unchanged)
    :raises ValueError: if another class already uses ``name``
    """
    def decorator(cls: Type[Any]) -> Type[Any]:
        existing = DATASETS.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f'dataset name {name!r} is already registered by '
                             f'{existing.__module__}.{existing.__name__}')
        DATASETS[name] = cls
        return cls
    return decorator


def dataset_names() -> List[str]:
    """Return every known dataset name (registered or built-in), sorted."""
    return sorted(set(DATASETS) | set(_BUILTIN_MODULES))


def get_dataset_class(name: str) -> Type[Any]:
    """
    Look up a dataset class by registry name, importing its module if needed.

    :param name: registry name
    :return: the class
    :raises ValueError: for an unknown name
    """
    if name not in DATASETS and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in DATASETS:
        raise ValueError(f'unknown dataset {name!r}; known datasets: '
                         f'{", ".join(dataset_names())}')
    return DATASETS[name]


def build_dataset(name: str, **kwargs: Any) -> Any:
    """
    Construct a registered dataset.

    :param name: registry name
    :param kwargs: constructor arguments of that dataset
    :return: the dataset instance
    """
    return get_dataset_class(name)(**kwargs)
