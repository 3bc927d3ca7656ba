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
LG-Conv (local-global convolution): a parallel global branch added to a backbone's 3x3 convs.

Paper ([C], DisDepth §2 of docs/paper.md): for every standard 3x3 convolution of the pretrained
backbone, a global branch takes the same input, applies Conv-ReLU, average-pools it to a very
small map, forms a hidden feature by concatenating the local feature with the global one and
predicts an attention that controls how the broadcast global information is injected.

Our reconstruction (the paper gives no layer sizes or init; [I] choices, all switchable):

* ``g = AvgPool_p(ReLU(Conv1x1_{Cin->h}(x)))`` with ``h = max(Cout // reduction, min_hidden)``
  and pool size ``p`` (``pool_size``, default 1 = global average).
* ``a = sigmoid(Conv1x1_{h->Cout}(ReLU(Conv1x1_{Cout+h->h}([l, up(g)]))))`` where
  ``l = conv(x)`` is the wrapped (local) convolution and ``up`` broadcasts the pooled map to
  ``l``'s size (nearest).  The first attention conv acts on the concatenation; since it is
  linear it is computed as ``W_l * l + up(W_g * g)`` (identical result, the global half runs on
  the tiny map).  ``attention='pixel'`` (default) gives a per-pixel, per-channel gate;
  ``attention='channel'`` averages ``l`` and ``g`` to 1 x 1 and predicts a per-channel gate
  only (cheaper).
* ``out = l + a * up(Proj_{h->Cout}(g))`` with ``Proj`` zero-initialised, so a wrapped backbone
  computes exactly what the pretrained one did at step 0 (a test proves it).
* Which convs: ``'off'``, ``'dense'`` (3x3 convs with ``groups == 1``: the literal "standard 3x3"
  reading; note that MobileNetV2 / EfficientNet-B0 then only get their stem conv wrapped) or
  ``'all'`` (also depthwise / grouped 3x3 convs).  Default in ``StudentConfig``: ``'dense'``.
  5x5 and 7x7 convs are never wrapped.  Depthwise convs are cheap (9 MACs per output element)
  and wide (up to 960 channels in MobileNetV2), so in ``'all'`` mode they get a narrower global
  branch: ``Cout // dw_reduction`` (default 16) instead of ``Cout // reduction`` (default 4).

Parameter and FLOP overheads per backbone are measured by
:func:`disdepth_core.flops.lgconv_overhead` and listed in docs/models.md.
"""

from typing import Iterator
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

LGCONV_MODES = ('off', 'dense', 'all')
ATTENTION_MODES = ('pixel', 'channel')


class LGConv(nn.Module):
    """
    A 3x3 convolution with a parallel, zero-initialised global branch.

    :param conv: the wrapped local convolution (kept as ``self.local``, weights untouched)
    :param reduction: hidden width of the global branch is ``Cout // reduction``
    :param pool_size: side of the pooled global map (1 = global average)
    :param attention: ``'pixel'`` or ``'channel'`` gate
    :param min_hidden: lower bound of the hidden width
    """

    def __init__(self, conv: nn.Conv2d, reduction: int = 4, pool_size: int = 1,
                 attention: str = 'pixel', min_hidden: int = 8) -> None:
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f'LG-Conv attention must be one of {ATTENTION_MODES}, got '
                             f'{attention!r}')
        if reduction < 1 or pool_size < 1:
            raise ValueError(f'LG-Conv reduction and pool_size must be >= 1, got {reduction}, '
                             f'{pool_size}')
        cin, cout = conv.in_channels, conv.out_channels
        hidden = max(cout // reduction, min_hidden)
        self.local = conv
        self.pool_size = pool_size
        self.attention = attention
        self.global_conv = nn.Conv2d(cin, hidden, 1)
        self.att_local = nn.Conv2d(cout, hidden, 1)
        self.att_global = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.att_out = nn.Conv2d(hidden, cout, 1)
        self.proj = nn.Conv2d(hidden, cout, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 1:
            return x.mean(dim=(2, 3), keepdim=True)
        return F.adaptive_avg_pool2d(x, self.pool_size)

    @staticmethod
    def _broadcast(g: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        if g.shape[-1] == 1 and g.shape[-2] == 1:
            return g
        return F.interpolate(g, size=ref.shape[-2:], mode='nearest')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Local conv plus the attention-gated global feature."""
        local = self.local(x)
        g = self._pool(F.relu(self.global_conv(x)))
        if self.attention == 'channel':
            hid = (self.att_local(local.mean(dim=(2, 3), keepdim=True))
                   + self.att_global(g.mean(dim=(2, 3), keepdim=True)))
        else:
            hid = self.att_local(local) + self._broadcast(self.att_global(g), local)
        gate = torch.sigmoid(self.att_out(F.relu(hid)))
        return local + gate * self._broadcast(self.proj(g), local)


def _wants(conv: nn.Module, mode: str) -> bool:
    if not isinstance(conv, nn.Conv2d) or tuple(conv.kernel_size) != (3, 3):
        return False
    return mode == 'all' or conv.groups == 1


def iter_lgconvs(model: nn.Module) -> Iterator[Tuple[str, LGConv]]:
    """Yield ``(qualified name, module)`` for every LG-Conv in ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, LGConv):
            yield name, module


def apply_lgconv(model: nn.Module, mode: str = 'dense', reduction: int = 4, pool_size: int = 1,
                 attention: str = 'pixel', dw_reduction: int = 16) -> int:
    """
    Wrap the 3x3 convolutions of ``model`` in place.

    Load pretrained weights before wrapping (the wrapped conv's keys gain a ``.local``).

    :param model: e.g. a backbone
    :param mode: ``'off'``, ``'dense'`` or ``'all'``
    :param reduction: see :class:`LGConv`
    :param pool_size: see :class:`LGConv`
    :param attention: see :class:`LGConv`
    :param dw_reduction: reduction used for depthwise / grouped convs (``'all'`` mode)
    :return: the number of convolutions wrapped
    :raises ValueError: on an unknown mode
    """
    if mode not in LGCONV_MODES:
        raise ValueError(f'lgconv must be one of {LGCONV_MODES}, got {mode!r}')
    if mode == 'off':
        return 0
    targets = [(name, m) for name, m in model.named_modules()
               if _wants(m, mode) and not name.endswith('.local')]
    for name, conv in targets:
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(parent, LGConv):
            continue
        r = reduction if conv.groups == 1 else dw_reduction
        setattr(parent, child, LGConv(conv, r, pool_size, attention))
    return len(targets)
