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
Adapter for Hugging Face ``transformers`` depth-estimation models stored in a local directory.

``TeacherConfig(kind='hf', hf_path=DIR)`` loads ``AutoModelForDepthEstimation.from_pretrained(
DIR, local_files_only=True)`` (DPT, Depth Anything (V2), ZoeDepth, GLPN...; never downloads) and
wraps it behind the teacher interface:

* input: B x 3 x H x W RGB in [0, 1]; the adapter normalises with ``image_mean`` / ``image_std``
  from ``DIR/preprocessor_config.json`` (identity if ``do_normalize`` is false; ImageNet if the
  file is absent) and resizes the image to ``hf_input_size`` if set, else (bilinearly) to the
  nearest multiple of the model's patch size (DINOv2-based models use 14).  Plain DPT-ViT needs
  square inputs: set ``hf_input_size`` for it.
* ``features``: the model's ``hidden_states`` (``output_hidden_states=True``).  Token sequences
  (B x T x C) are reshaped to maps on the patch grid after dropping the leading class /
  register tokens; hidden states that already are maps (GLPN) are used as they are.  By default
  four evenly spaced transformer layers are used (all maps for hierarchical encoders);
  ``hf_layers`` picks hidden-state indices explicitly.  ``feature_info`` is measured once at
  construction with a small dry run (nominal stride = input size / map size).
* ``depth``: ``predicted_depth * hf_depth_scale`` resized to H/2 x W/2.  It is whatever the model
  predicts: metric for metric checkpoints, relative (disparity-like) for relative ones; KD uses
  the features, so relative teachers still work for feature distillation.

``transformers`` is imported lazily here only (``pip install transformers``; tested with 5.24.0).
"""

import json
from pathlib import Path
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo
from disdepth_core.models.teacher import TeacherConfig
from disdepth_core.transforms import IMAGENET_MEAN
from disdepth_core.transforms import IMAGENET_STD


def read_normalisation(path: Path) -> Tuple[Sequence[float], Sequence[float]]:
    """
    Mean and std (of RGB in [0, 1]) from a model folder's ``preprocessor_config.json``.

    :param path: the model folder
    :return: (mean, std): ImageNet without the file, identity when ``do_normalize`` is false
    :raises ValueError: invalid JSON or not three values
    """
    cfg_file = path / 'preprocessor_config.json'
    if not cfg_file.is_file():
        return IMAGENET_MEAN, IMAGENET_STD
    try:
        data = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f'{cfg_file}: invalid JSON ({exc})') from None
    if not data.get('do_normalize', True):
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    mean = data.get('image_mean', IMAGENET_MEAN)
    std = data.get('image_std', IMAGENET_STD)
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f'{cfg_file}: image_mean / image_std must have 3 values')
    return mean, std


def patch_size_of(config: object) -> Optional[int]:
    """Return the ViT patch size of a transformers config (or its backbone's), or None."""
    for cfg in (getattr(config, 'backbone_config', None), config):
        p = getattr(cfg, 'patch_size', None) if cfg is not None else None
        if isinstance(p, int):
            return p
        if isinstance(p, (list, tuple)) and p:
            return int(p[0])
    return None


class HFDepthTeacher(nn.Module):
    """
    A transformers depth model behind the DisDepth teacher interface.

    :param config: a TeacherConfig with ``kind == 'hf'`` and ``hf_path`` a local directory
    """

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        path = Path(config.hf_path or '')
        if not path.is_dir() or not (path / 'config.json').is_file():
            raise ValueError(f'HF teacher: {path} is not a local transformers model directory '
                             '(config.json missing)')
        try:
            from transformers import AutoModelForDepthEstimation
        except ImportError:
            raise RuntimeError('the Hugging Face teacher needs the transformers package: '
                               'pip install transformers') from None
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(
                str(path), local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f'HF teacher: cannot load a depth-estimation model from {path}: '
                             f'{exc}') from None
        self.config = config
        mean, std = read_normalisation(path)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.patch = patch_size_of(self.model.config)
        self.input_size = tuple(config.hf_input_size) if config.hf_input_size else None
        self.layers: Tuple[int, ...] = ()
        self._feature_info: List[FeatureInfo] = []
        self._probe()

    def _net_size(self, h: int, w: int) -> Tuple[int, int]:
        if self.input_size is not None:
            return int(self.input_size[0]), int(self.input_size[1])
        if self.patch:
            p = self.patch
            return max(p, round(h / p) * p), max(p, round(w / p) * p)
        return h, w

    def _probe(self) -> None:
        """Dry run: choose the layers and measure channels and strides."""
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            net_hw = self._net_size(64, 64)
            hidden = self._hidden_states(torch.zeros(1, 3, *net_hw))
        self.model.train(was_training)
        n = len(hidden)
        if self.config.hf_layers is not None:
            layers = tuple(int(i) for i in self.config.hf_layers)
            bad = [i for i in layers if not -n <= i < n]
            if bad:
                raise ValueError(f'HF teacher: hf_layers {bad} out of range for {n} hidden '
                                 'states')
            layers = tuple(i % n for i in layers)
        elif all(h.dim() == 4 for h in hidden):
            layers = tuple(range(n))
        else:
            blocks = n - 1  # hidden_states[0] is the embedding output
            layers = tuple(sorted({max(1, round(blocks * k / 4)) for k in range(1, 5)}))
        self.layers = layers
        info = []
        for i in layers:
            fmap = self._to_map(hidden[i], net_hw)
            info.append(FeatureInfo(int(fmap.shape[1]),
                                    max(1, round(net_hw[0] / fmap.shape[-2]))))
        self._feature_info = info

    def _hidden_states(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model(pixel_values=x, output_hidden_states=True, return_dict=True)
        hidden = out.hidden_states
        if not hidden:
            raise ValueError(f'HF teacher: {type(self.model).__name__} returned no hidden states')
        return tuple(hidden)

    def _to_map(self, h: torch.Tensor, net_hw: Tuple[int, int]) -> torch.Tensor:
        if h.dim() == 4:
            return h
        if h.dim() != 3 or not self.patch:
            raise ValueError(f'HF teacher: cannot turn a hidden state of shape {tuple(h.shape)} '
                             'into a feature map')
        gh, gw = net_hw[0] // self.patch, net_hw[1] // self.patch
        extra = h.shape[1] - gh * gw
        if extra < 0:
            raise ValueError(f'HF teacher: {h.shape[1]} tokens for a {gh}x{gw} patch grid')
        return h[:, extra:].transpose(1, 2).reshape(h.shape[0], h.shape[2], gh, gw)

    @property
    def feature_info(self) -> List[FeatureInfo]:
        """Channels and nominal stride of each feature level."""
        return list(self._feature_info)

    def forward(self, image: torch.Tensor) -> DepthOutput:
        """
        Run the HF model.

        :param image: B x 3 x H x W RGB in [0, 1]
        :return: DepthOutput with depth at H/2 x W/2 and the selected hidden states as maps
        """
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f'expected an image batch B x 3 x H x W, got {tuple(image.shape)}')
        h, w = int(image.shape[-2]), int(image.shape[-1])
        net_hw = self._net_size(h, w)
        x = (image - self.mean) / self.std
        if net_hw != (h, w):
            x = F.interpolate(x, size=net_hw, mode='bilinear', align_corners=False)
        out = self.model(pixel_values=x, output_hidden_states=True, return_dict=True)
        feats = [self._to_map(out.hidden_states[i], net_hw) for i in self.layers]
        depth = out.predicted_depth
        if depth.dim() == 3:
            depth = depth.unsqueeze(1)
        depth = F.interpolate(depth, size=(max(1, h // 2), max(1, w // 2)), mode='bilinear',
                              align_corners=False) * self.config.hf_depth_scale
        return DepthOutput(depth=depth, features=feats)
