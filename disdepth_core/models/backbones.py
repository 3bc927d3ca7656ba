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
CNN backbones for the DisDepth students, written in plain ``torch.nn``, behind a registry.

**Why no torchvision / timm.**  The CPU wheel of torch 2.13 used for training, export and tests
here has no matching torchvision build on PyPI (the torchvision wheel there pins a different
torch and breaks the import); timm needs torchvision; the CUDA torch + torchvision pair that
does work together is about 5.5 GB, far too heavy for a robot or CI image.  The four
architectures we need are small, so they are written out here.  Module and parameter names
follow torchvision's ImageNet state dicts exactly (``features.3.conv.1.0.weight``,
``layer2.0.downsample.1.running_mean``...), so a user who has a torchvision ``.pth`` file gets a
pretrained backbone with :func:`load_backbone_weights`; timm state dicts of the same
architectures (``resnet*``, ``mobilenetv2_100``, ``efficientnet_b0``) are translated on the fly
(:func:`timm_to_torchvision`).  Nothing is ever downloaded.

**Contract** (docs/architecture.md): every backbone is a :class:`Backbone` with
``feature_info`` (a list of :class:`FeatureInfo`, strides 2, 4, 8, 16, 32) and
``forward_features(x) -> list[Tensor]``.  Inputs are already ImageNet-normalised (the student
owns the normalisation).  Classifier heads and the final 1x1 "head" convs of MobileNetV2 /
EfficientNet (1280 channels, not used as a depth feature) are not built; their keys are ignored
when loading ImageNet weights.
"""

from collections import OrderedDict
from pathlib import Path
import pickle
import re
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union

import torch
from torch import nn

from disdepth_core.models.outputs import FeatureInfo


class Backbone(nn.Module):
    """
    Base class: a CNN returning one feature map per level.

    Subclasses set ``feature_info`` and ``ignored_prefixes`` (ImageNet state-dict keys that
    belong to parts not built here) and implement :meth:`forward_features`.
    """

    feature_info: List[FeatureInfo]
    ignored_prefixes: Tuple[str, ...] = ()

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """
        Compute the multi-level features.

        :param x: B x 3 x H x W normalised image, H and W multiples of 32
        :return: one tensor per ``feature_info`` level
        """
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Alias of :meth:`forward_features`."""
        return self.forward_features(x)


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int, groups: int,
                 act: Optional[Callable[[], nn.Module]]) -> nn.Sequential:
    """Conv (no bias) + BN (+ activation): torchvision's ``Conv2dNormActivation`` layout."""
    layers: List[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------- MobileNetV2


class _InvertedResidualV2(nn.Module):
    """MobileNetV2 block, keys ``conv.*`` as in torchvision."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: List[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_act(cin, hidden, 1, 1, 1, nn.ReLU6))
        layers += [_conv_bn_act(hidden, hidden, 3, stride, hidden, nn.ReLU6),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.conv(x)
        return x + y if self.use_res else y


class MobileNetV2(Backbone):
    """MobileNetV2 (width 1.0) features; levels after ``features.{1,3,6,13,17}``."""

    # (expand t, channels c, repeats n, first stride s), the paper's table 2
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))
    ignored_prefixes = ('features.18.', 'classifier.')

    def __init__(self) -> None:
        super().__init__()
        layers: List[nn.Module] = [_conv_bn_act(3, 32, 3, 2, 1, nn.ReLU6)]
        cin = 32
        stride = 2
        taps: List[int] = []
        info: List[FeatureInfo] = []
        for t, c, n, s in self.SETTINGS:
            if s == 2:
                taps.append(len(layers) - 1)
                info.append(FeatureInfo(cin, stride))
                stride *= 2
            for i in range(n):
                layers.append(_InvertedResidualV2(cin, c, s if i == 0 else 1, t))
                cin = c
        taps.append(len(layers) - 1)
        info.append(FeatureInfo(cin, stride))
        self.features = nn.Sequential(*layers)
        self.taps = tuple(taps)
        self.feature_info = info

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the five levels (16, 24, 32, 96, 320 channels; strides 2..32)."""
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


# -------------------------------------------------------------------------------------- ResNet


class _BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class _Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv, as torchvision)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


def _downsample(cin: int, cout: int, stride: int) -> Optional[nn.Sequential]:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(Backbone):
    """
    ResNet features: levels after the stem ReLU (stride 2) and ``layer1..layer4``.

    :param block: ``_BasicBlock`` or ``_Bottleneck``
    :param layers: blocks per stage
    """

    ignored_prefixes = ('fc.',)

    def __init__(self, block: type, layers: Sequence[int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        info = [FeatureInfo(64, 2)]
        for i, n in enumerate(layers):
            width = 64 * 2 ** i
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, stride if j == 0 else 1))
                cin = width * block.expansion  # type: ignore[attr-defined]
            setattr(self, f'layer{i + 1}', nn.Sequential(*blocks))
            info.append(FeatureInfo(cin, 4 * 2 ** i))
        self.feature_info = info

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the five levels (strides 2..32)."""
        x = self.relu(self.bn1(self.conv1(x)))
        out = [x]
        x = self.maxpool(x)
        for name in ('layer1', 'layer2', 'layer3', 'layer4'):
            x = getattr(self, name)(x)
            out.append(x)
        return out


# -------------------------------------------------------------------------------- EfficientNet


class _SqueezeExcitation(nn.Module):
    """torchvision ``SqueezeExcitation`` (keys ``fc1``, ``fc2``)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale the channels of ``x``."""
        s = x.mean(dim=(2, 3), keepdim=True)
        s = torch.sigmoid(self.fc2(self.activation(self.fc1(s))))
        return x * s


class _MBConv(nn.Module):
    """EfficientNet MBConv (keys ``block.*``); stochastic depth is omitted (identity in eval)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: List[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_act(cin, hidden, 1, 1, 1, nn.SiLU))
        layers += [_conv_bn_act(hidden, hidden, kernel, stride, hidden, nn.SiLU),
                   _SqueezeExcitation(hidden, max(1, cin // 4)),
                   _conv_bn_act(hidden, cout, 1, 1, 1, None)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        y = self.block(x)
        return x + y if self.use_res else y


class EfficientNetB0(Backbone):
    """EfficientNet-B0 features; levels after ``features.{1,2,3,5,7}``."""

    # (expand, kernel, stride, in, out, repeats)
    SETTINGS = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                (6, 3, 1, 192, 320, 1))
    ignored_prefixes = ('features.8.', 'classifier.')

    def __init__(self) -> None:
        super().__init__()
        stages: List[nn.Module] = [_conv_bn_act(3, 32, 3, 2, 1, nn.SiLU)]
        stride = 2
        taps: List[int] = []
        info: List[FeatureInfo] = []
        for expand, kernel, s, cin, cout, n in self.SETTINGS:
            if s == 2:
                taps.append(len(stages) - 1)
                info.append(FeatureInfo(cin, stride))
                stride *= 2
            blocks = [_MBConv(cin if i == 0 else cout, cout, kernel, s if i == 0 else 1, expand)
                      for i in range(n)]
            stages.append(nn.Sequential(*blocks))
        taps.append(len(stages) - 1)
        info.append(FeatureInfo(self.SETTINGS[-1][4], stride))
        self.features = nn.Sequential(*stages)
        self.taps = tuple(taps)
        self.feature_info = info

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Return the five levels (16, 24, 40, 112, 320 channels; strides 2..32)."""
        out = []
        for i, stage in enumerate(self.features):
            x = stage(x)
            if i in self.taps:
                out.append(x)
        return out


# ------------------------------------------------------------------------------------ registry


def _init_weights(model: nn.Module) -> nn.Module:
    """Kaiming conv init, unit BN (torchvision's defaults for these families)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def mobilenetv2() -> Backbone:
    """MobileNetV2 1.0 (torchvision ``mobilenet_v2`` keys)."""
    return _init_weights(MobileNetV2())


def resnet18() -> Backbone:
    """ResNet-18 (torchvision ``resnet18`` keys)."""
    return _init_weights(ResNet(_BasicBlock, (2, 2, 2, 2)))


def resnet50() -> Backbone:
    """ResNet-50 v1.5 (torchvision ``resnet50`` keys)."""
    return _init_weights(ResNet(_Bottleneck, (3, 4, 6, 3)))


def efficientnet_b0() -> Backbone:
    """EfficientNet-B0 (torchvision ``efficientnet_b0`` keys)."""
    return _init_weights(EfficientNetB0())


BACKBONES: Dict[str, Callable[[], Backbone]] = {
    'mobilenetv2': mobilenetv2,
    'resnet18': resnet18,
    'resnet50': resnet50,
    'efficientnet_b0': efficientnet_b0,
}


def create_backbone(name: str, weights: Optional[Union[str, Path]] = None) -> Backbone:
    """
    Build a registered backbone, optionally loading ImageNet weights from a local file.

    :param name: a key of :data:`BACKBONES`
    :param weights: optional ``.pth``/``.pt``/``.safetensors`` state dict (torchvision or timm)
    :return: the backbone
    :raises ValueError: for an unknown name or unusable weights
    """
    if name not in BACKBONES:
        raise ValueError(f'unknown backbone {name!r}; available: {", ".join(sorted(BACKBONES))}')
    model = BACKBONES[name]()
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


# ------------------------------------------------------------------------------ weight loading


def read_state_dict(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """
    Read a state dict from ``.safetensors`` or a ``.pth``/``.pt`` file (``weights_only=True``).

    Wrappers such as ``{'state_dict': ...}`` / ``{'model': ...}`` are unwrapped and a leading
    ``module.`` (DataParallel) is stripped.

    :param path: local file
    :return: name -> tensor
    :raises ValueError: if the file is missing or not a state dict
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'weights file {path} does not exist')
    if path.suffix == '.safetensors':
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            sd = load_file(str(path))
        except SafetensorError as exc:
            raise ValueError(f'{path}: not a valid safetensors file ({exc})') from None
    else:
        try:
            sd = torch.load(str(path), map_location='cpu', weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
            raise ValueError(f'{path}: cannot read a state dict with torch.load('
                             f'weights_only=True): {exc}') from None
    for key in ('state_dict', 'model', 'model_state_dict'):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f'{path}: expected a mapping of parameter names to tensors')
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in sd.items())


_TIMM_BLOCK = re.compile(r'^blocks\.(\d+)\.(\d+)\.(.*)$')
_TIMM_DS = {'conv_dw': '0.0', 'bn1': '0.1', 'se.conv_reduce': '1.fc1', 'se.conv_expand': '1.fc2',
            'conv_pw': '2.0', 'bn2': '2.1'}
_TIMM_IR = {'conv_pw': '0.0', 'bn1': '0.1', 'conv_dw': '1.0', 'bn2': '1.1',
            'se.conv_reduce': '2.fc1', 'se.conv_expand': '2.fc2', 'conv_pwl': '3.0',
            'bn3': '3.1'}
_TIMM_IR_NOSE = {'conv_pw': '0.0', 'bn1': '0.1', 'conv_dw': '1.0', 'bn2': '1.1',
                 'conv_pwl': '2', 'bn3': '3'}
_TIMM_DS_NOSE = {'conv_dw': '0.0', 'bn1': '0.1', 'conv_pw': '1', 'bn2': '2'}


def _map_module(table: Dict[str, str], rest: str) -> Optional[str]:
    for src, dst in table.items():
        if rest.startswith(src + '.'):
            return dst + rest[len(src):]
    return None


def timm_to_torchvision(sd: Dict[str, torch.Tensor], name: str) -> Dict[str, torch.Tensor]:
    """
    Translate timm keys of ``mobilenetv2_100`` / ``efficientnet_b0`` to torchvision's.

    ResNet keys are already identical; dicts without ``conv_stem.weight`` are returned as is.
    Unknown timm keys are kept unchanged so that the caller reports them as unexpected.

    :param sd: the state dict
    :param name: backbone registry name
    :return: the translated state dict
    """
    if 'conv_stem.weight' not in sd or name not in ('mobilenetv2', 'efficientnet_b0'):
        return sd
    if name == 'mobilenetv2':
        repeats = [s[2] for s in MobileNetV2.SETTINGS]
    else:
        repeats = [s[5] for s in EfficientNetB0.SETTINGS]
    offsets = [sum(repeats[:i]) for i in range(len(repeats))]
    out: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in sd.items():
        new: Optional[str] = None
        if key.startswith('conv_stem.'):
            new = 'features.0.0.' + key[len('conv_stem.'):]
        elif key.startswith('bn1.'):
            new = 'features.0.1.' + key[len('bn1.'):]
        else:
            m = _TIMM_BLOCK.match(key)
            if m:
                stage, idx, rest = int(m.group(1)), int(m.group(2)), m.group(3)
                if name == 'mobilenetv2':
                    table = _TIMM_DS_NOSE if stage == 0 else _TIMM_IR_NOSE
                    mapped = _map_module(table, rest)
                    if mapped is not None:
                        new = f'features.{offsets[stage] + idx + 1}.conv.{mapped}'
                else:
                    table = _TIMM_DS if stage == 0 else _TIMM_IR
                    mapped = _map_module(table, rest)
                    if mapped is not None:
                        new = f'features.{stage + 1}.{idx}.block.{mapped}'
        out[new if new is not None else key] = value
    return out


def load_backbone_weights(model: Backbone, weights: Union[str, Path, Dict[str, torch.Tensor]],
                          name: Optional[str] = None) -> None:
    """
    Load an ImageNet state dict into ``model`` (before LG-Conv wrapping).

    Keys of parts not built here (classifier, final 1x1 head conv) are ignored; every other
    mismatch is an error that lists the missing keys, unexpected keys and shape mismatches.

    :param model: a backbone from :data:`BACKBONES`
    :param weights: a file path or an already loaded state dict
    :param name: registry name (for timm key translation); guessed from the class if None
    :raises ValueError: on any mismatch
    """
    source = str(weights) if not isinstance(weights, dict) else 'state dict'
    sd = read_state_dict(weights) if not isinstance(weights, dict) else dict(weights)
    if name is None:
        name = {MobileNetV2: 'mobilenetv2', EfficientNetB0: 'efficientnet_b0'}.get(
            type(model), '')
    sd = timm_to_torchvision(sd, name)
    own = model.state_dict()
    sd = {k: v for k, v in sd.items() if not k.startswith(tuple(model.ignored_prefixes))}
    # timm keeps no ``num_batches_tracked``; torchvision files may lack it too
    missing = [k for k in own if k not in sd and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in sd if k not in own]
    shapes = [f'{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}'
              for k in sd if k in own and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f'cannot load backbone weights from {source} into {type(model).__name__}:']
        if missing:
            parts.append(f'missing keys ({len(missing)}): {", ".join(missing[:20])}'
                         + (' ...' if len(missing) > 20 else ''))
        if unexpected:
            parts.append(f'unexpected keys ({len(unexpected)}): {", ".join(unexpected[:20])}'
                         + (' ...' if len(unexpected) > 20 else ''))
        if shapes:
            parts.append(f'shape mismatches ({len(shapes)}): {"; ".join(shapes[:20])}')
        raise ValueError('\n  '.join(parts))
    model.load_state_dict(sd, strict=False)
