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
Depth losses: SILog, bin-centre chamfer (AdaBins [R]) and scale-and-shift-invariant (MiDaS [R]).

Every loss is a callable ``nn.Module`` returning a dict of tensors with ``'loss'`` (what to
back-propagate) and its parts.  Valid pixels are explicit: ``valid_mask`` (B x 1 x H x W bool,
same size as the target) is combined with ``target > min_depth`` (and finite targets).

* :class:`SILogLoss`: ``g = log(pred) - log(gt)`` over the valid pixels of the whole batch
  (AdaBins), ``L = alpha * sqrt(mean(g^2) - lambda * mean(g)^2)`` with lambda = 0.85 and
  alpha = 10 (equal to ``alpha * sqrt(Var(g) + 0.15 mean(g)^2)`` with the biased variance).
  The prediction is resized bilinearly (``align_corners=True``) to the target size.  The loss
  is exactly 0 when prediction == target, and its square root is guarded so that the gradient
  stays finite there.
* :class:`BinsChamferLoss`: per image, the bidirectional chamfer distance (mean squared distance
  to the nearest neighbour, both ways) between the N bin centres and the valid target depths,
  averaged over images that have valid pixels.  Nearest neighbours are found by sorting (1-D),
  so memory is O(N + pixels).  ``'chamfer'`` is the raw value; ``'loss'`` is
  ``weight * chamfer`` with ``weight = 0.1`` (AdaBins) by default: callers either use
  ``'loss'`` or set ``weight=1`` and weight it themselves.
* :class:`ScaleShiftInvariantLoss`: for a teacher whose output is relative disparity (affine-
  invariant inverse depth).  Per image, on the valid pixels, the target is normalised to zero
  median and unit mean absolute deviation (so a teacher's arbitrary per-image scale does not
  weight the images), the prediction (the student's disparity ``1 / depth``) is aligned to it by
  least squares, ``(s, b) = argmin sum (s p + b - t)^2`` with ``s >= 0``, and the residual
  ``r = s p + b - t`` is averaged as ``|r|`` (``'abs'``) or ``r^2`` (``'squared'``); the loss is
  the mean over images.  Zero exactly when the prediction is an increasing affine function of
  the target; a decreasing one (nearer and farther swapped) is no depth map, hence ``s >= 0``.

All cast their inputs to float32 (the SSI alignment runs in float64), so they are safe under
autocast.
"""

from typing import Dict
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812


def _valid(target: torch.Tensor, valid_mask: Optional[torch.Tensor],
           min_depth: float) -> torch.Tensor:
    if target.dim() != 4 or target.shape[1] != 1:
        raise ValueError(f'target must be B x 1 x H x W, got {tuple(target.shape)}')
    valid = torch.isfinite(target) & (target > min_depth)
    if valid_mask is not None:
        if valid_mask.shape != target.shape:
            raise ValueError(f'valid_mask shape {tuple(valid_mask.shape)} does not match the '
                             f'target shape {tuple(target.shape)}')
        valid = valid & valid_mask.bool()
    return valid


def resize_to(pred: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Bilinearly resize a B x 1 x h x w prediction to ``size`` (H, W) if needed."""
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    return F.interpolate(pred, size=tuple(size), mode='bilinear', align_corners=True)


class SILogLoss(nn.Module):
    """
    Scale-invariant log loss.

    :param variance_focus: lambda (0.85)
    :param scale: alpha (10)
    :param min_depth: targets at or below are invalid
    :param eps: predictions are clamped to >= eps before the log
    """

    def __init__(self, variance_focus: float = 0.85, scale: float = 10.0,
                 min_depth: float = 1e-3, eps: float = 1e-6) -> None:
        super().__init__()
        self.variance_focus = variance_focus
        self.scale = scale
        self.min_depth = min_depth
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """
        Compute the loss.

        :param pred: B x 1 x h x w predicted depth (> 0)
        :param target: B x 1 x H x W ground truth
        :param valid_mask: optional B x 1 x H x W boolean mask
        :return: ``{'loss', 'silog_var', 'silog_mean', 'n_valid'}``
        """
        pred = resize_to(pred.float(), target.shape[-2:])
        target = target.float()
        valid = _valid(target, valid_mask, self.min_depth)
        n = valid.sum()
        if int(n) == 0:
            zero = pred.sum() * 0.0
            return {'loss': zero, 'silog_var': zero.detach(), 'silog_mean': zero.detach(),
                    'n_valid': n}
        g = torch.log(pred[valid].clamp_min(self.eps)) - torch.log(target[valid])
        mean = g.mean()
        d = (g * g).mean() - self.variance_focus * mean * mean
        tiny = 1e-12
        loss = self.scale * torch.where(d > tiny, torch.sqrt(d.clamp_min(tiny)),
                                        torch.zeros_like(d))
        return {'loss': loss, 'silog_var': (g.var(unbiased=False)).detach(),
                'silog_mean': mean.detach(), 'n_valid': n}


def _nearest_sq(query: torch.Tensor, ref_sorted: torch.Tensor) -> torch.Tensor:
    """Squared distance from each query value to its nearest value in sorted ``ref``."""
    idx = torch.searchsorted(ref_sorted.detach(), query.detach().contiguous())
    lo = (idx - 1).clamp(0, ref_sorted.numel() - 1)
    hi = idx.clamp(0, ref_sorted.numel() - 1)
    d_lo = (query - ref_sorted[lo]) ** 2
    d_hi = (query - ref_sorted[hi]) ** 2
    return torch.minimum(d_lo, d_hi)


class BinsChamferLoss(nn.Module):
    """
    Bidirectional chamfer distance between bin centres and target depths.

    :param weight: factor of ``'loss'`` (0.1 as in AdaBins)
    :param min_depth: targets at or below are invalid
    """

    def __init__(self, weight: float = 0.1, min_depth: float = 1e-3) -> None:
        super().__init__()
        self.weight = weight
        self.min_depth = min_depth

    def forward(self, bin_centers: torch.Tensor, target: torch.Tensor,
                valid_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """
        Compute the loss.

        :param bin_centers: B x N centres
        :param target: B x 1 x H x W ground truth
        :param valid_mask: optional B x 1 x H x W boolean mask
        :return: ``{'loss', 'chamfer'}``
        """
        if bin_centers.dim() != 2 or bin_centers.shape[0] != target.shape[0]:
            raise ValueError(f'bin_centers must be B x N with B = {target.shape[0]}, got '
                             f'{tuple(bin_centers.shape)}')
        bin_centers = bin_centers.float()
        target = target.float()
        valid = _valid(target, valid_mask, self.min_depth)
        per_image = []
        for b in range(target.shape[0]):
            t = target[b][valid[b]]
            if t.numel() == 0:
                continue
            c = bin_centers[b]
            c_sorted, _ = torch.sort(c)
            t_sorted, _ = torch.sort(t)
            per_image.append(_nearest_sq(t, c_sorted).mean() + _nearest_sq(c, t_sorted).mean())
        if not per_image:
            chamfer = bin_centers.sum() * 0.0
        else:
            chamfer = torch.stack(per_image).mean()
        return {'loss': self.weight * chamfer, 'chamfer': chamfer}


SSI_RESIDUALS = ('abs', 'squared')


class ScaleShiftInvariantLoss(nn.Module):
    """
    Scale-and-shift-invariant loss between a predicted and a target disparity.

    :param residual: ``'abs'`` (mean absolute residual) or ``'squared'`` (mean squared)
    :param min_pixels: images with fewer valid pixels (or a constant target) are skipped
    :param eps: variances below this count as zero (no alignment possible: scale 0)
    """

    def __init__(self, residual: str = 'abs', min_pixels: int = 4, eps: float = 1e-12) -> None:
        super().__init__()
        if residual not in SSI_RESIDUALS:
            raise ValueError(f'ScaleShiftInvariantLoss: residual must be one of {SSI_RESIDUALS}, '
                             f'got {residual!r}')
        self.residual = residual
        self.min_pixels = max(2, int(min_pixels))
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                valid_mask: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """
        Compute the loss.

        :param pred: B x 1 x h x w predicted disparity (resized bilinearly to the target)
        :param target: B x 1 x H x W target disparity (any affine scale; non-finite = invalid)
        :param valid_mask: optional B x 1 x H x W boolean mask
        :return: ``{'loss', 'ssi', 'scale', 'shift', 'n_valid', 'n_images'}``: ``scale`` and
            ``shift`` are the mean alignment over the images used (detached)
        """
        if target.dim() != 4 or target.shape[1] != 1:
            raise ValueError(f'target must be B x 1 x H x W, got {tuple(target.shape)}')
        # float64: the alignment subtracts means of nearly constant maps (an untrained student)
        pred = resize_to(pred.double(), target.shape[-2:])
        target = target.double()
        valid = torch.isfinite(target) & torch.isfinite(pred)
        if valid_mask is not None:
            if valid_mask.shape != target.shape:
                raise ValueError(f'valid_mask shape {tuple(valid_mask.shape)} does not match '
                                 f'the target shape {tuple(target.shape)}')
            valid = valid & valid_mask.bool()
        b = target.shape[0]
        m = valid.reshape(b, -1).double()
        n = m.sum(1)
        p = torch.where(valid, pred, torch.zeros_like(pred)).reshape(b, -1)
        t = torch.where(valid, target, torch.full_like(target, float('nan'))).reshape(b, -1)
        # normalise the target: zero median, unit mean absolute deviation
        med = torch.nanmedian(t, dim=1).values
        med = torch.where(torch.isfinite(med), med, torch.zeros_like(med))
        t = torch.nan_to_num(t - med[:, None], nan=0.0) * m
        n_safe = n.clamp_min(1.0)
        mad = t.abs().sum(1) / n_safe
        used = (n >= self.min_pixels) & (mad > self.eps)
        t = t / torch.where(used, mad, torch.ones_like(mad))[:, None]
        # least-squares alignment of the prediction
        p_mean = (p * m).sum(1) / n_safe
        t_mean = t.sum(1) / n_safe
        dp = (p - p_mean[:, None]) * m
        var = (dp * dp).sum(1) / n_safe
        cov = (dp * t).sum(1) / n_safe
        scale = torch.where(var > self.eps, cov / var.clamp_min(self.eps), torch.zeros_like(var))
        scale = scale.clamp_min(0.0)
        shift = t_mean - scale * p_mean
        r = (scale[:, None] * p + shift[:, None] - t) * m
        err = r.abs() if self.residual == 'abs' else r * r
        per_image = err.sum(1) / n_safe
        k = used.sum()
        if int(k) == 0:
            zero = pred.sum().float() * 0.0
            return {'loss': zero, 'ssi': zero.detach(), 'scale': zero.detach(),
                    'shift': zero.detach(), 'n_valid': n.sum().float(), 'n_images': k}
        w = used.double()
        loss = ((per_image * w).sum() / w.sum()).float()
        return {'loss': loss, 'ssi': loss.detach(),
                'scale': ((scale * w).sum() / w.sum()).float().detach(),
                'shift': ((shift * w).sum() / w.sum()).float().detach(),
                'n_valid': (n * w).sum().float(), 'n_images': k}
