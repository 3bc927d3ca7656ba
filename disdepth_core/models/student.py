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
The DisDepth student: efficient CNN backbone (+ LG-Conv) -> simple decoder -> adaptive bins.

Input: B x 3 x H x W RGB in [0, 1], H and W multiples of 32; ImageNet normalisation is a
non-persistent buffer inside the model, so it is folded into every exported graph.
Output: :class:`DepthOutput` with depth at H/2 x W/2 for the *canonical camera* (focal length
``canonical_focal`` in network-input pixels); ``disdepth_core.geometry.metric_scale`` turns it
into metric depth for a real camera.  The model itself never rescales.

[I] defaults (docs/models.md): 256 bins (AdaBins), decoder width 256 (stages 128, 64, 32, 32),
LG-Conv on dense 3x3 convs, entropy confidence, width MLP fed from the pooled bottleneck.
Pretrained backbone weights (``weights``) are loaded *before* LG-Conv wrapping, so the wrapped
network starts exactly at the ImageNet function.
"""

from dataclasses import dataclass
from typing import List
from typing import Optional

import torch
from torch import nn

from disdepth_core.models.backbones import BACKBONES
from disdepth_core.models.backbones import create_backbone
from disdepth_core.models.bins import BINS_SOURCES
from disdepth_core.models.bins import CONFIDENCE_MODES
from disdepth_core.models.bins import DepthHead
from disdepth_core.models.lgconv import apply_lgconv
from disdepth_core.models.lgconv import ATTENTION_MODES
from disdepth_core.models.lgconv import LGCONV_MODES
from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo
from disdepth_core.transforms import IMAGENET_MEAN
from disdepth_core.transforms import IMAGENET_STD

# NYU Depth V2 colour camera (fx ~ fy ~ 518.86 px at 640 x 480): the default canonical camera.
DEFAULT_CANONICAL_FOCAL = 518.8579


@dataclass(frozen=True)
class StudentConfig:
    """
    Configuration of a DisDepth student.

    :param backbone: a key of ``backbones.BACKBONES``
    :param lgconv: ``'off'``, ``'dense'`` or ``'all'``
    :param lgconv_reduction: LG-Conv hidden width = Cout // reduction (dense convs)
    :param lgconv_dw_reduction: the same for depthwise / grouped convs (``lgconv='all'``)
    :param lgconv_pool: LG-Conv pooled map size
    :param lgconv_attention: ``'pixel'`` or ``'channel'``
    :param n_bins: number of adaptive bins
    :param min_depth: range start, metres (canonical camera)
    :param max_depth: range end, metres (canonical camera)
    :param canonical_focal: focal length (network-input pixels) the depth refers to
    :param decoder_width: decoder bottleneck width
    :param decoder_min_width: lower bound of decoder stage widths
    :param bins_hidden: width of the bin-width MLP
    :param bins_eps: width floor of the bins normalisation
    :param bins_source: ``'bottleneck'`` or ``'decoder'`` feature for the width MLP
    :param confidence: ``'entropy'`` or ``'window'``
    :param confidence_window: relative window for ``'window'`` confidence
    :param weights: optional local ImageNet backbone state dict (.pth/.pt/.safetensors)
    """

    backbone: str = 'mobilenetv2'
    lgconv: str = 'dense'
    lgconv_reduction: int = 4
    lgconv_dw_reduction: int = 16
    lgconv_pool: int = 1
    lgconv_attention: str = 'pixel'
    n_bins: int = 256
    min_depth: float = 1e-3
    max_depth: float = 10.0
    canonical_focal: float = DEFAULT_CANONICAL_FOCAL
    decoder_width: int = 256
    decoder_min_width: int = 32
    bins_hidden: int = 256
    bins_eps: float = 0.1
    bins_source: str = 'bottleneck'
    confidence: str = 'entropy'
    confidence_window: float = 0.1
    weights: Optional[str] = None

    def __post_init__(self) -> None:
        """Validate the values, naming the offending field."""
        if self.backbone not in BACKBONES:
            raise ValueError(f'StudentConfig.backbone: unknown {self.backbone!r}; available: '
                             f'{", ".join(sorted(BACKBONES))}')
        choices = {'lgconv': LGCONV_MODES, 'lgconv_attention': ATTENTION_MODES,
                   'bins_source': BINS_SOURCES, 'confidence': CONFIDENCE_MODES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f'StudentConfig.{name} must be one of {allowed}, got '
                                 f'{getattr(self, name)!r}')
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f'StudentConfig: need 0 < min_depth < max_depth, got '
                             f'{self.min_depth}, {self.max_depth}')
        if self.canonical_focal <= 0:
            raise ValueError(f'StudentConfig.canonical_focal must be > 0, got '
                             f'{self.canonical_focal}')
        for name in ('n_bins', 'decoder_width', 'decoder_min_width', 'bins_hidden',
                     'lgconv_reduction', 'lgconv_dw_reduction', 'lgconv_pool'):
            if getattr(self, name) < 1:
                raise ValueError(f'StudentConfig.{name} must be >= 1, got {getattr(self, name)}')


def check_image(image: torch.Tensor, multiple: int = 32) -> None:
    """
    Validate a network input.

    :param image: expected B x 3 x H x W floating point
    :param multiple: H and W must be multiples of it
    :raises ValueError: naming the problem
    """
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f'expected an image batch B x 3 x H x W, got shape {tuple(image.shape)}')
    if not image.is_floating_point():
        raise ValueError(f'expected a float image in [0, 1], got dtype {image.dtype}')
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if h % multiple or w % multiple:
        raise ValueError(f'image height and width must be multiples of {multiple}, got {h}x{w}')


class DisDepthStudent(nn.Module):
    """
    Backbone + DepthHead, with input normalisation.

    :param config: the StudentConfig
    """

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        self.backbone = create_backbone(config.backbone, config.weights)
        self.n_lgconv = apply_lgconv(self.backbone, config.lgconv, config.lgconv_reduction,
                                     config.lgconv_pool, config.lgconv_attention,
                                     config.lgconv_dw_reduction)
        self.head = DepthHead(
            self.backbone.feature_info, config.decoder_width, config.decoder_min_width, 2,
            config.n_bins, config.min_depth, config.max_depth, config.bins_hidden,
            config.bins_eps, config.bins_source, config.confidence, config.confidence_window)

    @property
    def feature_info(self) -> List[FeatureInfo]:
        """Channels and stride of each level in ``DepthOutput.features``."""
        return list(self.backbone.feature_info)

    def forward(self, image: torch.Tensor) -> DepthOutput:
        """
        Predict canonical-camera depth.

        :param image: B x 3 x H x W RGB in [0, 1], H and W multiples of 32
        :return: DepthOutput (depth at H/2 x W/2, features = backbone levels)
        """
        check_image(image)
        x = (image - self.mean) / self.std
        return self.head(self.backbone.forward_features(x))


def build_student(config: Optional[StudentConfig] = None) -> DisDepthStudent:
    """
    Build a student (loading local backbone weights if ``config.weights`` is set).

    :param config: the configuration (defaults if None)
    :return: the model, in training mode
    """
    return DisDepthStudent(config or StudentConfig())
