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
AdaBins-style adaptive-bins heads, per-pixel confidence, and ``DepthHead`` (decoder + bins).

[C] Two heads: one predicts the bin centres (per image), one the per-pixel bin probabilities;
depth is the probability-weighted sum of the centres.

[R]/[I] details:

* Bin widths: global average pooling of the decoder's bottleneck feature (``bins_source=
  'bottleneck'``, default) or of the decoded feature (``'decoder'``) -> MLP
  ``C -> hidden -> hidden -> N`` with LeakyReLU (a pure-CNN replacement for AdaBins' mini-ViT).
  ``w = relu(y) + eps`` (eps = 0.1, AdaBins' "linear" norm), ``w /= sum(w)``,
  ``widths = (max_depth - min_depth) * w``; edges = ``min_depth + cumsum`` (prepended with
  ``min_depth``, last edge clamped to ``max_depth``); centres = edge midpoints.  Hence widths
  are positive, centres strictly increasing and inside the range.
* Probabilities: 1x1 conv + softmax over bins; ``depth = sum_i p_i c_i`` (a convex combination
  of centres, so inside the range).  The head computes channels-last (B x h x w x N: 1x1 conv
  as a GEMM, softmax, expected depth as a batched matmul with the centres, entropy over the
  last axis from the logits, :func:`entropy_from_logits`); ``probs`` is returned as a
  B x N x h x w view of that tensor.  Bins, probabilities, depth and confidence are computed in
  float32 even under autocast.
* Confidence (published by the node, gates the point cloud), ``confidence=``:
  ``'entropy'`` (default): ``1 - H(p) / log N`` (1 = all mass in one bin, 0 = uniform);
  ``'window'``: probability mass of bins whose centre is within ``confidence_window * depth``
  of the predicted depth.  Both are in [0, 1].
"""

import contextlib
import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.models.decoder import Decoder
from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo

CONFIDENCE_MODES = ('entropy', 'window')
BINS_SOURCES = ('bottleneck', 'decoder')


def bins_from_logits(y: torch.Tensor, min_depth: float, max_depth: float,
                     eps: float = 0.1) -> torch.Tensor:
    """
    Turn raw width logits into bin edges.

    :param y: B x N raw outputs of the width MLP
    :param min_depth: lower end of the range
    :param max_depth: upper end of the range
    :param eps: added to ``relu(y)`` before normalising (keeps every width positive)
    :return: B x (N + 1) increasing edges from ``min_depth`` to ``max_depth``
    """
    w = F.relu(y) + eps
    w = w / w.sum(dim=1, keepdim=True)
    widths = (max_depth - min_depth) * w
    edges = min_depth + torch.cumsum(widths, dim=1)
    edges = torch.cat([torch.full_like(edges[:, :1], min_depth), edges.clamp(max=max_depth)],
                      dim=1)
    return edges


def entropy_from_logits(logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """
    Entropy of ``softmax(logits)`` over the last axis, without a logarithm per bin.

    With ``p = softmax(z)``, ``log p_i = z_i - lse(z)``, so ``H = lse(z) - sum_i p_i z_i``; and
    ``lse(z) = max z - log(max p)`` (the largest logit has the largest probability, and
    ``max p >= 1 / N`` keeps that logarithm well conditioned).  Two max reductions and one
    weighted sum replace the clamp, the logarithm and the product of ``-sum p log p`` over all
    N bins: the entropy was the costliest part of the head on CPUs.

    :param logits: ... x N
    :param probs: ``softmax(logits, dim=-1)``
    :return: ... x 1, in [0, log N] up to rounding
    """
    z_max = logits.amax(dim=-1, keepdim=True)
    p_max = probs.amax(dim=-1, keepdim=True)
    expected_z = (probs * logits).sum(dim=-1, keepdim=True)
    return (z_max - expected_z - torch.log(p_max)).clamp_min(0.0)


def confidence_from_probs(probs: torch.Tensor, centers: torch.Tensor, depth: torch.Tensor,
                          mode: str = 'entropy', window: float = 0.1) -> torch.Tensor:
    """
    Per-pixel confidence in [0, 1] from the bin distribution.

    :param probs: B x N x h x w probabilities
    :param centers: B x N bin centres
    :param depth: B x 1 x h x w predicted depth
    :param mode: ``'entropy'`` or ``'window'`` (see module docstring)
    :param window: relative half-width of the window for ``'window'``
    :return: B x 1 x h x w
    """
    n = probs.shape[1]
    if mode == 'entropy':
        if n < 2:
            return torch.ones_like(depth)
        ent = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1, keepdim=True)
        return (1.0 - ent / math.log(n)).clamp(0.0, 1.0)
    if mode == 'window':
        near = (centers[:, :, None, None] - depth).abs() <= window * depth
        return (probs * near.to(probs.dtype)).sum(dim=1, keepdim=True).clamp(0.0, 1.0)
    raise ValueError(f'confidence must be one of {CONFIDENCE_MODES}, got {mode!r}')


class BinsHead(nn.Module):
    """
    Bin-width MLP + per-pixel probability head.

    :param pooled_channels: channels of the globally pooled feature fed to the width MLP
    :param pixel_channels: channels of the decoded feature fed to the probability head
    :param n_bins: number of bins N
    :param min_depth: range start, metres
    :param max_depth: range end, metres
    :param hidden: MLP width
    :param eps: width floor before normalisation
    :param confidence: ``'entropy'`` or ``'window'``
    :param confidence_window: relative window for ``'window'``
    """

    def __init__(self, pooled_channels: int, pixel_channels: int, n_bins: int = 256,
                 min_depth: float = 1e-3, max_depth: float = 10.0, hidden: int = 256,
                 eps: float = 0.1, confidence: str = 'entropy',
                 confidence_window: float = 0.1) -> None:
        super().__init__()
        if n_bins < 2:
            raise ValueError(f'n_bins must be >= 2, got {n_bins}')
        if not 0 < min_depth < max_depth:
            raise ValueError(f'need 0 < min_depth < max_depth, got {min_depth}, {max_depth}')
        if confidence not in CONFIDENCE_MODES:
            raise ValueError(f'confidence must be one of {CONFIDENCE_MODES}, got {confidence!r}')
        self.n_bins = n_bins
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.eps = float(eps)
        self.confidence_mode = confidence
        self.confidence_window = float(confidence_window)
        self.width_mlp = nn.Sequential(
            nn.Linear(pooled_channels, hidden), nn.LeakyReLU(0.01),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, n_bins))
        self.prob = nn.Conv2d(pixel_channels, n_bins, 1)

    def forward(self, pooled_src: torch.Tensor, pixel: torch.Tensor) -> DepthOutput:
        """
        Predict bins, probabilities, depth and confidence.

        :param pooled_src: B x C x h' x w' feature, globally averaged for the widths
        :param pixel: B x C' x h x w decoded feature
        :return: DepthOutput (``features`` left empty)
        """
        # bins and probabilities in float32 even under autocast: 256 centres over 80 m are
        # closer than the float16 resolution there
        y = self.width_mlp(pooled_src.mean(dim=(2, 3))).float()
        edges = bins_from_logits(y, self.min_depth, self.max_depth, self.eps)
        centers = 0.5 * (edges[:, :-1] + edges[:, 1:])
        # channels-last head: the 1x1 convolution runs as a GEMM on B x h x w x C' (transposing
        # the C' input channels is cheaper than transposing the N bin logits), and the softmax,
        # the expected depth (a batched matmul with the centres) and the entropy all reduce
        # over the contiguous last axis
        pixel_last = pixel.permute(0, 2, 3, 1)
        # matmul first, bias second: INT8 export walks back from the softmax to this layer
        weight = self.prob.weight.flatten(1).t()
        logits = (torch.matmul(pixel_last, weight) + self.prob.bias).float()
        p_last = torch.softmax(logits, dim=-1)
        # autocast would run the matmul in reduced precision ('meta' has no autocast)
        device = p_last.device.type
        amp = device in ('cpu', 'cuda') and torch.is_autocast_enabled(device)
        with torch.autocast(device, enabled=False) if amp else contextlib.nullcontext():
            depth_last = torch.matmul(p_last, centers[:, None, :, None])  # B x h x w x 1
        depth = depth_last.permute(0, 3, 1, 2)
        if self.confidence_mode == 'entropy':
            ent = entropy_from_logits(logits, p_last)
            conf = (1.0 - ent / math.log(self.n_bins)).clamp(0.0, 1.0).permute(0, 3, 1, 2)
        else:
            near = ((centers[:, None, None, :] - depth_last).abs()
                    <= self.confidence_window * depth_last)
            conf = (p_last * near.to(p_last.dtype)).sum(dim=-1, keepdim=True)
            conf = conf.clamp(0.0, 1.0).permute(0, 3, 1, 2)
        # B x N x h x w view of the channels-last probabilities (no copy)
        probs = p_last.permute(0, 3, 1, 2)
        return DepthOutput(depth=depth, bin_centers=centers, bin_edges=edges, probs=probs,
                           confidence=conf)


class DepthHead(nn.Module):
    """
    Decoder + bins heads: features -> DepthOutput.  The ghost decoder is this same class.

    :param feature_info: the levels it decodes
    :param decoder_width: bottleneck width of the decoder
    :param decoder_min_width: lower bound of the decoder stage widths
    :param out_stride: output stride (2: half input resolution)
    :param n_bins: number of bins
    :param min_depth: range start
    :param max_depth: range end
    :param bins_hidden: width of the bin-width MLP
    :param bins_eps: width floor
    :param bins_source: ``'bottleneck'`` or ``'decoder'``
    :param confidence: confidence mode
    :param confidence_window: relative window for ``'window'`` confidence
    """

    def __init__(self, feature_info: Sequence[FeatureInfo], decoder_width: int = 256,
                 decoder_min_width: int = 32, out_stride: int = 2, n_bins: int = 256,
                 min_depth: float = 1e-3, max_depth: float = 10.0, bins_hidden: int = 256,
                 bins_eps: float = 0.1, bins_source: str = 'bottleneck',
                 confidence: str = 'entropy', confidence_window: float = 0.1) -> None:
        super().__init__()
        if bins_source not in BINS_SOURCES:
            raise ValueError(f'bins_source must be one of {BINS_SOURCES}, got {bins_source!r}')
        self.decoder = Decoder(feature_info, decoder_width, decoder_min_width, out_stride)
        pooled = (self.decoder.bottleneck_channels if bins_source == 'bottleneck'
                  else self.decoder.out_channels)
        self.bins_source = bins_source
        self.bins = BinsHead(pooled, self.decoder.out_channels, n_bins, min_depth, max_depth,
                             bins_hidden, bins_eps, confidence, confidence_window)
        self.feature_info = list(feature_info)

    def forward(self, features: Sequence[torch.Tensor]) -> DepthOutput:
        """Decode ``features`` into a DepthOutput whose ``features`` are the inputs."""
        bottleneck, x = self.decoder(features)
        out = self.bins(bottleneck if self.bins_source == 'bottleneck' else x, x)
        out.features = list(features)
        return out
