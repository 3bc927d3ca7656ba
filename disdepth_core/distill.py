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
Feature knowledge-distillation losses: DisDepth's attentive KD loss and MSE / CWD baselines.

All take ``(student_feats, teacher_feats, valid_mask=None)`` (lists, one tensor per level) and
return a dict with ``'loss'`` (weighted sum over levels) and ``'level{i}'`` parts.  Teacher
features are detached: no gradient ever reaches the teacher.  When student and teacher channels
differ at a level, a 1x1 *align* conv ``phi`` (owned by the loss module, trainable: add the
loss's parameters to the optimiser) maps the student feature to the teacher's width.  If the
spatial sizes differ the teacher feature is resized bilinearly to the student's size (the FAM
normally makes them equal).  ``valid_mask`` (B x 1 x H x W, any size) is resized (nearest) to
each level and excludes pixels from the loss.  Losses are computed in float32 (safe under
autocast).

Attentive KD ([C]: spatial attention maps from the features select depth-relevant regions;
[I] formula, FGD-style): for a level with teacher ``T`` and aligned student ``S = phi(s)``
(C x H x W), ``A_X = H W softmax_hw(mean_c |X| / tau)``, ``A = A_T`` / ``A_S`` /
``(A_T + A_S) / 2`` (``attention='teacher' | 'student' | 'both'``, default ``'both'``), detached;
``L = sum_hw A (1/C) sum_c (T - S)^2 / (H W)`` (over valid pixels).  tau = 0.5 by default.

Baselines: :class:`MSEFeatureLoss` (FitNet, mean squared error) and :class:`CWDLoss`
(channel-wise distillation: per channel softmax over H W with temperature tau = 4,
``tau^2 / C * sum_c KL(p_T || p_S)``, averaged over the batch).
"""

from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

ATTENTION_SOURCES = ('teacher', 'student', 'both')


class FeatureKDLoss(nn.Module):
    """
    Base class: per-level align convs, level weights, masking and the output dict.

    :param student_channels: channels of each student level
    :param teacher_channels: channels of each teacher (acclimated) level
    :param level_weights: weight per level (default 1 each)
    :param weight: global factor of ``'loss'``
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 level_weights: Optional[Sequence[float]] = None, weight: float = 1.0) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError(f'{type(self).__name__}: {len(student_channels)} student levels vs '
                             f'{len(teacher_channels)} teacher levels')
        n = len(student_channels)
        if level_weights is None:
            level_weights = [1.0] * n
        if len(level_weights) != n:
            raise ValueError(f'{type(self).__name__}: {len(level_weights)} level weights for '
                             f'{n} levels')
        self.level_weights = [float(w) for w in level_weights]
        self.weight = float(weight)
        self.align = nn.ModuleList(
            nn.Identity() if cs == ct else nn.Conv2d(cs, ct, 1)
            for cs, ct in zip(student_channels, teacher_channels))

    def level_loss(self, s: torch.Tensor, t: torch.Tensor,
                   mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Loss of one level: aligned student ``s``, detached teacher ``t``, mask B x 1 x H x W."""
        raise NotImplementedError

    def forward(self, student_feats: Sequence[torch.Tensor],
                teacher_feats: Sequence[torch.Tensor],
                valid_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """
        Compute the loss over all levels.

        :param student_feats: one B x Cs x H x W tensor per level
        :param teacher_feats: one B x Ct x H' x W' tensor per level
        :param valid_mask: optional B x 1 x H x W boolean mask (any resolution)
        :return: ``{'loss', 'level0', 'level1', ...}``
        """
        if len(student_feats) != len(self.align) or len(teacher_feats) != len(self.align):
            raise ValueError(f'{type(self).__name__} expects {len(self.align)} levels, got '
                             f'{len(student_feats)} student and {len(teacher_feats)} teacher')
        out: Dict[str, torch.Tensor] = {}
        total: List[torch.Tensor] = []
        for i, (s, t) in enumerate(zip(student_feats, teacher_feats)):
            s = self.align[i](s).float()
            t = t.detach().float()
            if s.shape[1] != t.shape[1]:
                raise ValueError(f'level {i}: student has {s.shape[1]} channels after alignment,'
                                 f' teacher {t.shape[1]}')
            if t.shape[-2:] != s.shape[-2:]:
                t = F.interpolate(t, size=s.shape[-2:], mode='bilinear', align_corners=False)
            mask = None
            if valid_mask is not None:
                mask = F.interpolate(valid_mask.float(), size=s.shape[-2:], mode='nearest')
            value = self.level_loss(s, t, mask)
            out[f'level{i}'] = value.detach()
            total.append(self.level_weights[i] * value)
        out['loss'] = self.weight * torch.stack(total).sum()
        return out


def spatial_attention(feat: torch.Tensor, temperature: float) -> torch.Tensor:
    """
    ``H W softmax_hw(mean_c |feat| / temperature)``: B x 1 x H x W, mean 1 per image.

    :param feat: B x C x H x W
    :param temperature: tau
    :return: the attention map
    """
    b, _, h, w = feat.shape
    g = feat.abs().mean(dim=1).reshape(b, h * w)
    return (h * w * torch.softmax(g / temperature, dim=1)).reshape(b, 1, h, w)


class AttentiveKDLoss(FeatureKDLoss):
    """
    DisDepth attentive feature KD (see module docstring).

    :param student_channels: channels of each student level
    :param teacher_channels: channels of each teacher level
    :param temperature: tau of the spatial attention
    :param attention: ``'teacher'``, ``'student'`` or ``'both'``
    :param level_weights: weight per level
    :param weight: global factor
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 temperature: float = 0.5, attention: str = 'both',
                 level_weights: Optional[Sequence[float]] = None, weight: float = 1.0) -> None:
        super().__init__(student_channels, teacher_channels, level_weights, weight)
        if attention not in ATTENTION_SOURCES:
            raise ValueError(f'attention must be one of {ATTENTION_SOURCES}, got {attention!r}')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.attention = attention

    def level_loss(self, s: torch.Tensor, t: torch.Tensor,
                   mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Attention-weighted squared error."""
        with torch.no_grad():
            if self.attention == 'teacher':
                att = spatial_attention(t, self.temperature)
            elif self.attention == 'student':
                att = spatial_attention(s, self.temperature)
            else:
                att = 0.5 * (spatial_attention(t, self.temperature)
                             + spatial_attention(s, self.temperature))
        err = ((t - s) ** 2).mean(dim=1, keepdim=True) * att
        if mask is None:
            return err.mean()
        return (err * mask).sum() / mask.sum().clamp_min(1.0)


class MSEFeatureLoss(FeatureKDLoss):
    """FitNet-style mean squared error between aligned student and teacher features."""

    def level_loss(self, s: torch.Tensor, t: torch.Tensor,
                   mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Mean squared error over valid pixels."""
        err = ((t - s) ** 2).mean(dim=1, keepdim=True)
        if mask is None:
            return err.mean()
        return (err * mask).sum() / mask.sum().clamp_min(1.0)


class CWDLoss(FeatureKDLoss):
    """
    Channel-wise distillation (Shu et al.): KL between per-channel spatial softmaxes.

    :param student_channels: channels of each student level
    :param teacher_channels: channels of each teacher level
    :param temperature: tau (4)
    :param level_weights: weight per level
    :param weight: global factor
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 temperature: float = 4.0, level_weights: Optional[Sequence[float]] = None,
                 weight: float = 1.0) -> None:
        super().__init__(student_channels, teacher_channels, level_weights, weight)
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)

    def level_loss(self, s: torch.Tensor, t: torch.Tensor,
                   mask: Optional[torch.Tensor]) -> torch.Tensor:
        """``tau^2 / C * sum_c KL``; masked pixels are removed from both distributions."""
        b, c, h, w = s.shape
        ls = s.reshape(b, c, h * w) / self.temperature
        lt = t.reshape(b, c, h * w) / self.temperature
        if mask is not None:
            neg = (mask.reshape(b, 1, h * w) < 0.5)
            ls = ls.masked_fill(neg, -1e4)
            lt = lt.masked_fill(neg, -1e4)
        pt = torch.softmax(lt, dim=2)
        kl = (pt * (torch.log_softmax(lt, dim=2) - torch.log_softmax(ls, dim=2))).sum(dim=2)
        return self.temperature ** 2 * kl.mean()
