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
Typed model outputs and feature metadata shared by students, teachers and the ghost decoder.

Every depth network of this package returns a :class:`DepthOutput` and describes the feature
levels it exposes with a list of :class:`FeatureInfo` (channels and stride per level), in the
timm / monodepth2 ``feature_info`` style.  Decoders, LG-Conv reports, the feature acclimation
module and the KD losses are all sized from that list, never from magic indices.
"""

from dataclasses import dataclass
from dataclasses import field
from typing import List
from typing import Optional

import torch


@dataclass(frozen=True)
class FeatureInfo:
    """
    One feature level: its channel count and its stride relative to the network input.

    :param channels: number of channels of the level
    :param stride: input pixels per feature pixel (2, 4, 8, 16, 32 for the CNN backbones)
    """

    channels: int
    stride: int


@dataclass
class DepthOutput:
    """
    What a DisDepth network returns.

    Shapes for an input of B x 3 x H x W (students: depth at half resolution):

    :param depth: B x 1 x h x w depth for the canonical camera, metres (> 0)
    :param features: the multi-level features (one tensor per ``feature_info`` entry): the
        backbone levels fed to the decoder for students, the reassembled encoder levels for
        teachers, the FAM outputs for an acclimated teacher
    :param bin_centers: B x N sorted bin centres inside [min_depth, max_depth] (None for a
        foreign teacher without bins)
    :param bin_edges: B x (N + 1) bin edges, ``bin_edges[:, 0] == min_depth``
    :param probs: B x N x h x w per-pixel bin probabilities (softmax over bins)
    :param confidence: B x 1 x h x w per-pixel confidence in [0, 1]
    """

    depth: torch.Tensor
    features: List[torch.Tensor] = field(default_factory=list)
    bin_centers: Optional[torch.Tensor] = None
    bin_edges: Optional[torch.Tensor] = None
    probs: Optional[torch.Tensor] = None
    confidence: Optional[torch.Tensor] = None
