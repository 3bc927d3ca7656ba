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
The input/output conventions of the depth-network families ``disdepth adopt`` knows.

Each :class:`Family` says what a network of that family expects (colour order, normalisation of
RGB scaled to [0, 1], the multiple its input sides must have, the size it is usually run at) and
what its output means (``ModelSpec.output_kind``, the canonical focal length for camera-aware
families, the depth range), with the source the convention was taken from.  docs/adopt.md shows
the same table.  ``generic`` fixes nothing: every field comes from the command line.

Pure Python: no torch, no onnx.
"""

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from disdepth_core.transforms import IMAGENET_MEAN
from disdepth_core.transforms import IMAGENET_STD

Triple = Tuple[float, float, float]


@dataclass(frozen=True)
class Family:
    """
    Conventions of one family of depth networks.

    :param name: registry name (``--family``)
    :param title: what it is, for messages and docs
    :param output_kind: one of ``disdepth_core.modelspec.OUTPUT_KINDS``; None: given by option
    :param mean: per-channel mean subtracted from RGB in [0, 1]; None: given by option
    :param std: per-channel std of RGB in [0, 1]; None: given by option
    :param multiple: input sides must be multiples of this
    :param default_size: (height, width) used when the graph's input size is dynamic and no
        ``--input-size`` is given; None: the option is required then
    :param canonical_focal: focal length (pixels at the network input size) the output refers to,
        for ``canonical_metric``; None otherwise (or: given by option)
    :param min_depth: lower end of the output range, metres (None: given by option)
    :param max_depth: upper end of the output range, metres (None: given by option or by
        ``scenes``)
    :param scenes: ``--scene`` name -> max_depth, for families trained per scene type
    :param output_names: output names the family's exports use, in order of preference
    :param bgr: whether the network expects BGR channel order
    :param source: where the convention is documented
    """

    name: str
    title: str
    output_kind: Optional[str]
    mean: Optional[Triple]
    std: Optional[Triple]
    multiple: int
    default_size: Optional[Tuple[int, int]]
    canonical_focal: Optional[float] = None
    min_depth: Optional[float] = None
    max_depth: Optional[float] = None
    scenes: Tuple[Tuple[str, float], ...] = ()
    output_names: Tuple[str, ...] = ('depth', 'predicted_depth')
    bgr: bool = False
    source: str = ''

    @property
    def fixed(self) -> bool:
        """Whether the family fixes the conventions (everything but ``generic``)."""
        return self.output_kind is not None


# Depth ranges of relative models are placeholders: the output has no unit and is never clipped.
RELATIVE_RANGE = (1e-3, 1e3)

FAMILIES: Dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """
    Add a family to :data:`FAMILIES`.

    :param family: the conventions
    :return: the family
    """
    FAMILIES[family.name] = family
    return family


register_family(Family(
    name='depth-anything-v2',
    title='Depth Anything V2 (relative; ViT-S/B/L)',
    output_kind='relative_disparity', mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple=14,
    default_size=(518, 518), min_depth=RELATIVE_RANGE[0], max_depth=RELATIVE_RANGE[1],
    source='github.com/DepthAnything/Depth-Anything-V2 (depth_anything_v2/dpt.py image2tensor: '
           'RGB / 255, resize to 518 keeping a multiple of 14, ImageNet mean/std; the output '
           'is affine-invariant inverse depth); Hugging Face model cards '
           'depth-anything/Depth-Anything-V2-*-hf'))
register_family(Family(
    name='depth-anything-v2-metric',
    title='Depth Anything V2 metric (Hypersim indoor / Virtual KITTI outdoor)',
    output_kind='metric', mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple=14,
    default_size=(518, 518), min_depth=1e-3, max_depth=None,
    scenes=(('indoor', 20.0), ('outdoor', 80.0)),
    source='github.com/DepthAnything/Depth-Anything-V2/tree/main/metric_depth (README: '
           'max_depth 20 for the Hypersim checkpoints, 80 for the Virtual KITTI ones; the head '
           'outputs sigmoid x max_depth metres)'))
register_family(Family(
    name='da3-metric',
    title='Depth Anything 3 metric (DA3METRIC)',
    output_kind='canonical_metric', mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple=14,
    default_size=(504, 504), canonical_focal=300.0, min_depth=1e-2, max_depth=200.0,
    source='github.com/ByteDance-Seed/Depth-Anything-3 (README: metric depth = focal x '
           'net output / 300, focal in pixels of the processed image; default processing '
           'resolution 504, multiples of 14); the 200 m clip is ours'))
register_family(Family(
    name='midas',
    title='MiDaS v2.1 (relative inverse depth; 384 and small 256)',
    output_kind='relative_disparity', mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple=32,
    default_size=(384, 384), min_depth=RELATIVE_RANGE[0], max_depth=RELATIVE_RANGE[1],
    source='github.com/isl-org/MiDaS (midas/transforms.py and run.py: RGB / 255, resize to '
           '384 (small: 256) in multiples of 32, ImageNet mean/std for v2.1; the output is '
           'relative inverse depth)'))
register_family(Family(
    name='metric3d',
    title='Metric3D v2 (ViT-S/L/g, canonical camera)',
    output_kind='canonical_metric', mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple=14,
    default_size=(616, 1064), canonical_focal=1000.0, min_depth=1e-3, max_depth=300.0,
    output_names=('predicted_depth', 'depth', 'pred_depth'),
    source='github.com/YvanYin/Metric3D (hubconf.py: ViT input 616x1064, mean (123.675, '
           '116.28, 103.53) / std (58.395, 57.12, 57.375) on 0-255 RGB = ImageNet on [0, 1], '
           'depth in a canonical camera of focal 1000 scaled by the real focal at the input '
           'size / 1000, clamped to 300 m)'))
register_family(Family(
    name='generic',
    title='any depth network, every convention given by option',
    output_kind=None, mean=None, std=None, multiple=1, default_size=None,
    output_names=(), source='the command line'))


def get_family(name: str) -> Family:
    """
    Return the family called ``name``.

    :raises ValueError: for an unknown name, listing the known ones (and ``hf``)
    """
    if name not in FAMILIES:
        raise ValueError(f'unknown family {name!r}; families: {", ".join(sorted(FAMILIES))} '
                         'and hf (a local transformers folder)')
    return FAMILIES[name]
