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
Parameter and FLOP counting for students, teachers and the LG-Conv overhead.

FLOPs are measured, not estimated: the model runs once under
``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions (incl. transposed),
linear layers and matrix products (attention included) as 2 x multiply-accumulates.  Element-wise
ops, pooling, normalisation and softmax are not counted (they are small and conventionally left
out).  ``GMACs`` (= GFLOPs / 2) is the unit of fvcore / thop and of most depth papers' "FLOPs"
(e.g. DisDepth's 35.7 G for EfficientNet-B0).  Models are built on the ``meta`` device, so
counting a 480x640 teacher takes a second and no memory.

Print the table recorded in docs/models.md with::

    .venv/bin/python -m disdepth_core.flops [--height 480 --width 640]
"""

import argparse
from dataclasses import replace
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import torch
from torch import nn
from torch.nn.attention import sdpa_kernel
from torch.nn.attention import SDPBackend
from torch.utils.flop_counter import FlopCounterMode

from disdepth_core.models.backbones import BACKBONES
from disdepth_core.models.backbones import create_backbone
from disdepth_core.models.lgconv import apply_lgconv
from disdepth_core.models.lgconv import LGCONV_MODES
from disdepth_core.models.student import build_student
from disdepth_core.models.student import StudentConfig
from disdepth_core.models.teacher import build_teacher
from disdepth_core.models.teacher import TEACHER_PRESETS
from disdepth_core.models.teacher import TeacherConfig

DEFAULT_HW = (480, 640)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """
    Count the parameters.

    :param model: the module
    :param trainable_only: count only parameters with ``requires_grad``
    :return: the count
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_hw: Tuple[int, int] = DEFAULT_HW,
                batch: int = 1) -> int:
    """
    Count the FLOPs (2 x MACs of conv / linear / matmul) of one forward pass.

    :param model: a module taking B x 3 x H x W (on any device, ``meta`` is fastest)
    :param input_hw: (H, W)
    :param batch: batch size
    :return: total FLOPs
    """
    ref = next(iter(model.parameters()), None)
    device = ref.device if ref is not None else torch.device('cpu')
    x = torch.rand(batch, 3, *input_hw, device=device) if device.type != 'meta' else \
        torch.empty(batch, 3, *input_hw, device=device)
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    # the math attention backend decomposes into counted matmuls; the fused CPU kernel of
    # scaled_dot_product_attention is not counted, which hid a quarter of a ViT's FLOPs
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


def measure(build: Callable[[], nn.Module], input_hw: Tuple[int, int] = DEFAULT_HW
            ) -> Tuple[int, int]:
    """
    Build a model on the meta device and return (params, FLOPs).

    :param build: zero-argument constructor
    :param input_hw: (H, W)
    :return: (parameter count, FLOPs)
    """
    with torch.device('meta'):
        model = build()
    return count_params(model), count_flops(model, input_hw)


def lgconv_overhead(backbone: str, mode: str = 'dense', input_hw: Tuple[int, int] = DEFAULT_HW,
                    reduction: int = 4, pool_size: int = 1, attention: str = 'pixel',
                    dw_reduction: int = 16, student: Optional[StudentConfig] = None
                    ) -> Dict[str, Any]:
    """
    Parameter and FLOP overhead of LG-Conv on one backbone (used by ``disdepth bench``).

    :param backbone: registry name
    :param mode: ``'dense'`` or ``'all'`` (``'off'`` gives zeros)
    :param input_hw: (H, W)
    :param reduction: LG-Conv reduction
    :param pool_size: LG-Conv pool size
    :param attention: LG-Conv attention mode
    :param dw_reduction: LG-Conv reduction of depthwise convs
    :param student: student config whose decoder the whole-model percentages refer to (default
        ``StudentConfig(backbone=backbone)``)
    :return: dict with ``n_wrapped``, ``params`` / ``flops`` of the plain backbone, the added
        ``extra_params`` / ``extra_flops``, and percentages relative to the backbone and to the
        whole student without LG-Conv
    """
    if mode not in LGCONV_MODES:
        raise ValueError(f'lgconv mode must be one of {LGCONV_MODES}, got {mode!r}')
    wrapped: List[int] = []

    def plain() -> nn.Module:
        return create_backbone(backbone)

    def with_lg() -> nn.Module:
        m = create_backbone(backbone)
        wrapped.append(apply_lgconv(m, mode, reduction, pool_size, attention,
                                    dw_reduction))
        return m

    p0, f0 = measure(plain, input_hw)
    p1, f1 = measure(with_lg, input_hw)
    cfg = replace(student or StudentConfig(backbone=backbone), backbone=backbone, lgconv='off')
    ps, fs = measure(lambda: build_student(cfg), input_hw)
    return {'backbone': backbone, 'mode': mode, 'n_wrapped': wrapped[0],
            'params': p0, 'flops': f0, 'extra_params': p1 - p0, 'extra_flops': f1 - f0,
            'params_pct_backbone': 100.0 * (p1 - p0) / p0,
            'flops_pct_backbone': 100.0 * (f1 - f0) / f0,
            'params_pct_student': 100.0 * (p1 - p0) / ps,
            'flops_pct_student': 100.0 * (f1 - f0) / fs}


def cost_table(input_hw: Tuple[int, int] = DEFAULT_HW,
               backbones: Sequence[str] = tuple(BACKBONES),
               teachers: Optional[Dict[str, TeacherConfig]] = None) -> List[Dict[str, Any]]:
    """
    Params and FLOPs of every student backbone x LG-Conv mode, and of the teachers.

    :param input_hw: (H, W)
    :param backbones: backbones to include
    :param teachers: label -> teacher config (default: every ``TEACHER_PRESETS`` size)
    :return: rows with ``model``, ``lgconv``, ``params``, ``flops``
    """
    rows = []
    for name in backbones:
        for mode in LGCONV_MODES:
            cfg = StudentConfig(backbone=name, lgconv=mode)
            p, f = measure(lambda: build_student(cfg), input_hw)
            rows.append({'model': f'student {name}', 'lgconv': mode, 'params': p, 'flops': f})
    if teachers is None:
        teachers = {name: TeacherConfig.from_preset(name) for name in TEACHER_PRESETS}
    for label, tcfg in teachers.items():
        p, f = measure(lambda: build_teacher(tcfg), input_hw)
        rows.append({'model': f'teacher {label} (d={tcfg.embed_dim}, L={tcfg.depth})',
                     'lgconv': '-', 'params': p, 'flops': f})
    return rows


def format_tables(input_hw: Tuple[int, int] = DEFAULT_HW) -> str:
    """
    Markdown tables: model costs and LG-Conv overheads at ``input_hw``.

    :param input_hw: (H, W)
    :return: the text
    """
    h, w = input_hw
    lines = [f'Model cost at {h}x{w} (batch 1; GFLOPs = 2 x GMACs, conv/linear/matmul):', '',
             '| model | LG-Conv | params (M) | GFLOPs | GMACs |', '|---|---|---:|---:|---:|']
    for r in cost_table(input_hw):
        lines.append(f'| {r["model"]} | {r["lgconv"]} | {r["params"] / 1e6:.2f} | '
                     f'{r["flops"] / 1e9:.2f} | {r["flops"] / 2e9:.2f} |')
    lines += ['', f'LG-Conv overhead at {h}x{w} (reduction 4 / depthwise 16, pool 1, '
              'pixel attention):', '',
              '| backbone | mode | convs wrapped | +params (M) | +GFLOPs | % backbone params | '
              '% backbone FLOPs | % student FLOPs |', '|---|---|---:|---:|---:|---:|---:|---:|']
    for name in BACKBONES:
        for mode in ('dense', 'all'):
            o = lgconv_overhead(name, mode, input_hw)
            lines.append(f'| {name} | {mode} | {o["n_wrapped"]} | '
                         f'{o["extra_params"] / 1e6:.3f} | '
                         f'{o["extra_flops"] / 1e9:.2f} | {o["params_pct_backbone"]:.1f} | '
                         f'{o["flops_pct_backbone"]:.1f} | {o["flops_pct_student"]:.1f} |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the cost tables."""
    parser = argparse.ArgumentParser(description='Params / FLOPs of DisDepth models')
    parser.add_argument('--height', type=int, default=DEFAULT_HW[0])
    parser.add_argument('--width', type=int, default=DEFAULT_HW[1])
    args = parser.parse_args(argv)
    if args.height % 32 or args.width % 32 or args.height <= 0 or args.width <= 0:
        parser.error('height and width must be positive multiples of 32')
    print(format_tables((args.height, args.width)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
