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
The "frustratingly simple" DisDepth decoder: convolutions and upsampling fusing backbone levels.

[C] The student decoder is a simple conv + upsample decoder fusing the multi-scale backbone
features.  [I] We follow AdaBins' ``DecoderBN`` pattern without its magic indices: a 1x1
"bottleneck" conv maps the deepest level to ``width`` channels; then, from deep to shallow, each
stage upsamples bilinearly (``align_corners=True``) to the next level's size, concatenates that
skip feature and applies two [3x3 conv, BN, LeakyReLU] blocks, halving the width each stage (not
below ``min_width``).  If the shallowest level is coarser than ``out_stride`` (the ViT teacher
starts at stride 4), extra upsample + conv stages without skip reach ``out_stride``.  Every size
is derived from ``feature_info``.
"""

from typing import List
from typing import Sequence
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.models.outputs import FeatureInfo


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.01, inplace=True))


class UpBlock(nn.Module):
    """
    Upsample to the skip's size, concatenate it (if any), two conv-BN-LeakyReLU blocks.

    :param cin: channels of the coarse input
    :param skip: channels of the skip feature (0: none, upsample x2)
    :param cout: output channels
    """

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.has_skip = skip > 0
        self.convs = nn.Sequential(_conv_block(cin + skip, cout), _conv_block(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor = None) -> torch.Tensor:
        """Fuse ``x`` with ``skip``."""
        if skip is not None:
            x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=True)
            x = torch.cat([x, skip], dim=1)
        else:
            x = F.interpolate(x, scale_factor=2.0, mode='bilinear', align_corners=True)
        return self.convs(x)


class Decoder(nn.Module):
    """
    Conv + upsample decoder sized from ``feature_info``.

    :param feature_info: levels with strictly increasing strides
    :param width: bottleneck width (channels after the 1x1 conv on the deepest level)
    :param min_width: lower bound of the per-stage width
    :param out_stride: stride of the output (<= the shallowest level's stride, power-of-2 ratio)
    """

    def __init__(self, feature_info: Sequence[FeatureInfo], width: int = 256,
                 min_width: int = 32, out_stride: int = 2) -> None:
        super().__init__()
        info = list(feature_info)
        if not info:
            raise ValueError('decoder needs at least one feature level')
        strides = [f.stride for f in info]
        if any(b <= a for a, b in zip(strides, strides[1:])):
            raise ValueError(f'feature strides must increase strictly, got {strides}')
        if out_stride > strides[0] or strides[0] % out_stride:
            raise ValueError(f'out_stride {out_stride} must divide the shallowest stride '
                             f'{strides[0]}')
        self.feature_info = info
        self.bottleneck = nn.Conv2d(info[-1].channels, width, 1)
        self.bottleneck_channels = width
        chans = width
        stages = []
        for k, level in enumerate(reversed(info[:-1])):
            cout = max(width // 2 ** (k + 1), min_width)
            stages.append(UpBlock(chans, level.channels, cout))
            chans = cout
        extra = []
        stride = strides[0]
        while stride > out_stride:
            cout = max(chans // 2, min_width)
            extra.append(UpBlock(chans, 0, cout))
            chans = cout
            stride //= 2
        self.stages = nn.ModuleList(stages)
        self.extra = nn.ModuleList(extra)
        self.out_channels = chans
        self.out_stride = out_stride

    def forward(self, features: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Decode.

        :param features: one tensor per level (shallow to deep)
        :return: (bottleneck feature B x width x h32 x w32, decoded B x C x H/out_stride ...)
        """
        if len(features) != len(self.feature_info):
            raise ValueError(f'decoder expects {len(self.feature_info)} feature levels, got '
                             f'{len(features)}')
        bottleneck = self.bottleneck(features[-1])
        x = bottleneck
        skips: List[torch.Tensor] = list(features[:-1])[::-1]
        for stage, skip in zip(self.stages, skips):
            x = stage(x, skip)
        for stage in self.extra:
            x = stage(x)
        return bottleneck, x
