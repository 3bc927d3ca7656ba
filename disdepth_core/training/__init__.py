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
Training: the stages (teacher, student, acclimate, distill, label_distill), loop, ``torchrun``.

Public API::

    from disdepth_core.training import TrainConfig, load_train_config, fit, STAGES
    cfg = load_train_config('tiny_student', ['schedule.max_steps=3'])
    summary = fit(cfg, 'runs/tiny')

Heavy modules (torch, the models) load on first use of :func:`fit` / :data:`STAGES`.
"""

from typing import Any

from disdepth_core.training.config import load_train_config
from disdepth_core.training.config import TrainConfig

__all__ = ['STAGES', 'TrainConfig', 'fit', 'load_train_config']


def __getattr__(name: str) -> Any:
    """Import ``fit`` and ``STAGES`` lazily."""
    if name == 'fit':
        from disdepth_core.training.loop import fit
        return fit
    if name == 'STAGES':
        from disdepth_core.training.stages import STAGES
        return STAGES
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
