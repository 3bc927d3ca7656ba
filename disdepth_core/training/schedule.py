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
Learning-rate / momentum schedules as pure functions of the optimisation step.

Being pure functions, they need no state of their own in a checkpoint: resuming at step ``s``
recomputes the same values.  ``onecycle`` follows ``torch.optim.lr_scheduler.OneCycleLR`` (two
phases, cosine annealing, cycled momentum), the AdaBins recipe: warm up from ``max_lr /
div_factor`` to ``max_lr`` over ``pct_start`` of the steps while momentum (Adam's beta1) falls from
``max_momentum`` to ``base_momentum``, then anneal to ``max_lr / (div_factor * final_div_factor)``
while momentum rises again.
"""

from dataclasses import dataclass
import math
from typing import Callable, Dict, Optional


@dataclass(frozen=True)
class ScheduleValues:
    """
    The schedule at one step.

    :param lr_factor: multiply each parameter group's peak learning rate by this
    :param momentum: Adam beta1 (or SGD momentum) to use, or None to leave it unchanged
    """

    lr_factor: float
    momentum: Optional[float]


def _cos_anneal(start: float, end: float, t: float) -> float:
    """Cosine interpolation from ``start`` (t = 0) to ``end`` (t = 1)."""
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * t))


def one_cycle(step: int, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 100.0, base_momentum: float = 0.85,
              max_momentum: float = 0.95, cycle_momentum: bool = True) -> ScheduleValues:
    """
    Compute the one-cycle schedule at ``step`` (0-based), relative to the peak learning rate.

    :param step: the optimisation step about to be taken, 0 <= step < total_steps (clamped)
    :param total_steps: number of optimisation steps of the whole run (>= 1)
    :param pct_start: fraction of the steps spent warming up
    :param div_factor: initial lr = max_lr / div_factor
    :param final_div_factor: final lr = initial lr / final_div_factor
    :param base_momentum: lowest momentum (reached at the peak learning rate)
    :param max_momentum: highest momentum (at the start and the end)
    :param cycle_momentum: cycle beta1 inversely to the learning rate
    :return: the learning-rate factor and momentum
    :raises ValueError: for a non-positive ``total_steps`` or a ``pct_start`` outside (0, 1)
    """
    if total_steps < 1:
        raise ValueError(f'one_cycle: total_steps must be >= 1, got {total_steps}')
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f'one_cycle: pct_start must be in (0, 1), got {pct_start}')
    initial = 1.0 / div_factor
    final = initial / final_div_factor
    step = min(max(step, 0), total_steps - 1)
    warm_end = float(pct_start * total_steps) - 1.0
    last = float(total_steps - 1)
    if warm_end > 0 and step <= warm_end:
        t = step / warm_end
        lr = _cos_anneal(initial, 1.0, t)
        mom = _cos_anneal(max_momentum, base_momentum, t)
    else:
        start = max(warm_end, 0.0)
        span = last - start
        t = (step - start) / span if span > 0 else 1.0
        lr = _cos_anneal(1.0, final, t)
        mom = _cos_anneal(base_momentum, max_momentum, t)
    return ScheduleValues(lr, mom if cycle_momentum else None)


def constant(step: int, total_steps: int, **_: float) -> ScheduleValues:
    """Return a constant learning rate (factor 1) and leave the momentum alone."""
    return ScheduleValues(1.0, None)


# name -> schedule function(step, total_steps, **options)
SCHEDULES: Dict[str, Callable[..., ScheduleValues]] = {
    'onecycle': one_cycle,
    'constant': constant,
}
