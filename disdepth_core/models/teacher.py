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
Transformer teachers behind one interface, and the built-in ViT teacher.

[C] DisDepth distils from a state-of-the-art *transformer* depth model; the paper's exact teacher
is unknown.  Two kinds, chosen by ``TeacherConfig.kind`` through :data:`TEACHERS`:

* ``'vit'``: our own plain ViT encoder (patch embedding, pre-norm transformer blocks with a
  learned, bilinearly resized position embedding, no class token).  Four evenly spaced blocks
  are tapped and reassembled DPT-style to strides 4, 8, 16, 32 (1x1 projection, then a
  transposed conv x4 / x2, identity, or a stride-2 3x3 conv).  The same DisDepth decoder +
  adaptive-bins head (:class:`~disdepth_core.models.bins.DepthHead`) produces depth at half
  resolution, with wider channels.  The default size (ViT-S/16-like: 384 wide, 12 blocks,
  6 heads, decoder width 512) costs well over 8x the MobileNetV2 student's FLOPs at 480x640
  (docs/models.md); ``TeacherConfig.tiny()`` is a test-sized version.  Named sizes,
  :data:`TEACHER_PRESETS` (``TeacherConfig.from_preset('vit-l')``, or ``preset: vit-l`` in a
  YAML config): ``vit-s`` (the default), ``vit-b`` (768 wide, 12 blocks) and ``vit-l``
  (1024 wide, 24 blocks, DPT-Large's reassembly widths): the scale of the paper's
  transformer teachers, for distillation on a GPU and for speed comparisons.
* ``'hf'``: any Hugging Face ``transformers`` depth-estimation model in a local directory
  (:mod:`disdepth_core.models.hf_teacher`).
* ``'onnx'``: any DisDepth ONNX file (``disdepth export`` of a trained teacher or student, or a
  foreign network turned into one by ``disdepth adopt``), given by ``onnx_path``.  It runs in
  ONNX Runtime, exposes no features and is never a torch module: only the output-level stage
  ``label_distill`` uses it (:mod:`disdepth_core.training.teacher_labels`).  The config checks
  that the file exists and carries DisDepth metadata (:func:`onnx_teacher_spec`, which reads
  the metadata without loading the graph).

``'vit'`` and ``'hf'`` return :class:`DepthOutput` (depth + multi-level ``features``) and expose
``feature_info``.  A teacher owns its input normalisation (non-persistent buffers; it takes RGB
in [0, 1] like the students).  :func:`build_teacher` returns it frozen (``requires_grad=False``,
``eval()``, kept in eval even if a parent module calls ``.train()``); ``frozen=False`` is for the
stage that trains the teacher itself.
"""

from dataclasses import dataclass
from dataclasses import replace
import functools
import io
import os
from pathlib import Path
from typing import Any
from typing import Callable
from typing import ClassVar
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple
from typing import Union

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.models.bins import CONFIDENCE_MODES
from disdepth_core.models.bins import DepthHead
from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo
from disdepth_core.models.student import check_image
from disdepth_core.models.student import DEFAULT_CANONICAL_FOCAL
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_core.transforms import IMAGENET_MEAN
from disdepth_core.transforms import IMAGENET_STD

TEACHER_KINDS = ('vit', 'hf', 'onnx')

# Named sizes of the built-in ViT teacher (field overrides of TeacherConfig; 'vit-s' = defaults).
TEACHER_PRESETS: Dict[str, Dict[str, Any]] = {
    'vit-s': {},
    'vit-b': {'embed_dim': 768, 'depth': 12, 'num_heads': 12},
    'vit-l': {'embed_dim': 1024, 'depth': 24, 'num_heads': 16,
              'reassemble_channels': (256, 512, 1024, 1024)},
}


@dataclass(frozen=True)
class TeacherConfig:
    """
    Configuration of a teacher.

    :param kind: ``'vit'`` (built-in), ``'hf'`` (Hugging Face directory) or ``'onnx'`` (a
        DisDepth ONNX file, for the ``label_distill`` stage)
    :param n_bins: bins of the ViT teacher's head
    :param min_depth: range start, metres
    :param max_depth: range end, metres
    :param canonical_focal: focal length (network-input pixels) the depth refers to
    :param patch_size: ViT patch size (must divide 32... 16 by default)
    :param embed_dim: ViT width
    :param depth: number of transformer blocks
    :param num_heads: attention heads
    :param mlp_ratio: MLP hidden width / embed_dim
    :param pos_grid: (rows, cols) of the learned position embedding (resized to the input)
    :param reassemble_channels: channels of the four reassembled levels (strides 4..32)
    :param decoder_width: decoder bottleneck width
    :param decoder_min_width: lower bound of decoder stage widths
    :param bins_hidden: width of the bin-width MLP
    :param confidence: confidence mode of the bins head
    :param hf_path: local directory of a transformers depth model (kind 'hf')
    :param hf_layers: hidden-state indices used as features (None: four evenly spaced)
    :param hf_depth_scale: factor applied to the HF ``predicted_depth``
    :param hf_input_size: fixed (H, W) the HF model runs at (None: nearest patch multiple)
    :param onnx_path: DisDepth ONNX file of the teacher (kind 'onnx'); its ``ModelSpec`` says
        what its output is (``output_kind``)
    """

    kind: str = 'vit'
    n_bins: int = 256
    min_depth: float = 1e-3
    max_depth: float = 10.0
    canonical_focal: float = DEFAULT_CANONICAL_FOCAL
    patch_size: int = 16
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    pos_grid: Tuple[int, int] = (30, 40)
    reassemble_channels: Tuple[int, int, int, int] = (96, 192, 384, 768)
    decoder_width: int = 512
    decoder_min_width: int = 64
    bins_hidden: int = 256
    confidence: str = 'entropy'
    hf_path: Optional[str] = None
    hf_layers: Optional[Tuple[int, ...]] = None
    hf_depth_scale: float = 1.0
    hf_input_size: Optional[Tuple[int, int]] = None
    onnx_path: Optional[str] = None

    PRESETS: ClassVar[Dict[str, Dict[str, Any]]] = TEACHER_PRESETS

    def __post_init__(self) -> None:
        """Validate the values, naming the offending field."""
        if self.kind not in TEACHER_KINDS:
            raise ValueError(f'TeacherConfig.kind must be one of {TEACHER_KINDS}, got '
                             f'{self.kind!r}')
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f'TeacherConfig: need 0 < min_depth < max_depth, got '
                             f'{self.min_depth}, {self.max_depth}')
        if self.kind == 'vit':
            if self.patch_size not in (4, 8, 16, 32):
                raise ValueError(f'TeacherConfig.patch_size must be 4, 8, 16 or 32, got '
                                 f'{self.patch_size}')
            if self.embed_dim % self.num_heads:
                raise ValueError(f'TeacherConfig: embed_dim {self.embed_dim} is not divisible '
                                 f'by num_heads {self.num_heads}')
            if self.depth < 1 or len(self.reassemble_channels) != 4:
                raise ValueError('TeacherConfig: depth must be >= 1 and reassemble_channels '
                                 'must have 4 entries')
            if self.confidence not in CONFIDENCE_MODES:
                raise ValueError(f'TeacherConfig.confidence must be one of {CONFIDENCE_MODES}')
        if self.kind == 'hf' and not self.hf_path:
            raise ValueError("TeacherConfig: kind 'hf' needs hf_path (a local directory)")
        if self.kind == 'onnx':
            if not self.onnx_path:
                raise ValueError("TeacherConfig: kind 'onnx' needs onnx_path (a DisDepth ONNX "
                                 'file, from `disdepth export` or `disdepth adopt`)')
            onnx_teacher_spec(self.onnx_path)

    @classmethod
    def tiny(cls, **overrides: Any) -> 'TeacherConfig':
        """Return a test-sized ViT teacher configuration."""
        base = cls(n_bins=16, embed_dim=32, depth=4, num_heads=2, mlp_ratio=2.0, pos_grid=(4, 6),
                   reassemble_channels=(8, 16, 24, 32), decoder_width=32, decoder_min_width=8,
                   bins_hidden=32)
        return replace(base, **overrides)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> 'TeacherConfig':
        """
        Return the configuration of a named teacher size, with field overrides.

        The same path as ``preset: NAME`` in a YAML config (:func:`disdepth_core.config.
        from_dict`).

        :param name: a key of :data:`TEACHER_PRESETS`
        :raises ValueError: for an unknown name, listing the known ones
        """
        from disdepth_core.config import from_dict
        return from_dict(cls, {'preset': name, **overrides}, 'teacher')


class _Block(nn.Module):
    """Pre-norm transformer block (attention + MLP)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to B x N x D tokens."""
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        att = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(att.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class ViTTeacher(nn.Module):
    """
    Built-in ViT teacher (DPT-style reassembly + DisDepth bins head).

    :param config: a TeacherConfig with ``kind == 'vit'``
    """

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        d, p = config.embed_dim, config.patch_size
        self.patch_embed = nn.Conv2d(3, d, p, p)
        self.pos_embed = nn.Parameter(torch.zeros(1, d, *config.pos_grid))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(_Block(d, config.num_heads, config.mlp_ratio)
                                    for _ in range(config.depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        n = config.depth
        self.taps = tuple(sorted({max(0, (n * (i + 1)) // 4 - 1) for i in range(4)}))
        if len(self.taps) < 4:
            self.taps = tuple(sorted(set(self.taps) | {n - 1})) + (n - 1,) * (4 - len(self.taps))
        strides = (4, 8, 16, 32)
        self.reassemble = nn.ModuleList(
            self._resample(d, c, p, s) for c, s in zip(config.reassemble_channels, strides))
        self._feature_info = [FeatureInfo(c, s)
                              for c, s in zip(config.reassemble_channels, strides)]
        self.head = DepthHead(self._feature_info, config.decoder_width, config.decoder_min_width,
                              2, config.n_bins, config.min_depth, config.max_depth,
                              config.bins_hidden, 0.1, 'bottleneck', config.confidence)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @staticmethod
    def _resample(dim: int, cout: int, patch: int, stride: int) -> nn.Sequential:
        layers: List[nn.Module] = [nn.Conv2d(dim, cout, 1)]
        if stride < patch:
            f = patch // stride
            layers.append(nn.ConvTranspose2d(cout, cout, f, f))
        elif stride > patch:
            s = patch
            while s < stride:
                layers.append(nn.Conv2d(cout, cout, 3, 2, 1))
                s *= 2
        return nn.Sequential(*layers)

    @property
    def feature_info(self) -> List[FeatureInfo]:
        """Channels and stride of each level in ``DepthOutput.features``."""
        return list(self._feature_info)

    def forward(self, image: torch.Tensor) -> DepthOutput:
        """
        Predict canonical depth and the reassembled features.

        :param image: B x 3 x H x W RGB in [0, 1], H and W multiples of 32
        :return: DepthOutput (depth at H/2 x W/2, four feature levels at strides 4..32)
        """
        check_image(image)
        x = self.patch_embed((image - self.mean) / self.std)
        b, d, h, w = x.shape
        pos = self.pos_embed
        if tuple(pos.shape[-2:]) != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode='bilinear', align_corners=False)
        tokens = (x + pos).flatten(2).transpose(1, 2)
        maps = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            for tap in self.taps:
                if tap == i:
                    t = self.norm(tokens) if i == len(self.blocks) - 1 else tokens
                    maps.append(t.transpose(1, 2).reshape(b, d, h, w))
        feats = [r(m) for r, m in zip(self.reassemble, maps)]
        return self.head(feats)


def freeze(model: nn.Module) -> nn.Module:
    """
    Freeze a teacher: no gradients, eval mode, and stay in eval when a parent calls ``train()``.

    :param model: the module
    :return: the same module
    """
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    model.train = _stay_eval.__get__(model)  # type: ignore[method-assign]
    return model


def _stay_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    nn.Module.train(self, False)
    return self


def _build_vit(config: TeacherConfig) -> nn.Module:
    return ViTTeacher(config)


def _build_hf(config: TeacherConfig) -> nn.Module:
    from disdepth_core.models.hf_teacher import HFDepthTeacher
    return HFDepthTeacher(config)


def _build_onnx(config: TeacherConfig) -> nn.Module:
    raise ValueError(f"teacher {config.onnx_path} (kind 'onnx') runs in ONNX Runtime and is not "
                     'a torch module: it cannot be trained, acclimated or give features for '
                     'feature KD; distil it with the label_distill stage (docs/training.md, '
                     '"Distil a network you already have")')


TEACHERS: Dict[str, Callable[[TeacherConfig], nn.Module]] = {
    'vit': _build_vit,
    'hf': _build_hf,
    'onnx': _build_onnx,
}


def build_teacher(config: Optional[TeacherConfig] = None, frozen: bool = True) -> nn.Module:
    """
    Build a teacher.

    :param config: the configuration (default: the built-in ViT teacher)
    :param frozen: freeze it (distillation); False to train the teacher itself
    :return: a module mapping B x 3 x H x W RGB in [0, 1] to DepthOutput, with ``feature_info``
    """
    config = config or TeacherConfig()
    model = TEACHERS[config.kind](config)
    return freeze(model) if frozen else model


# --------------------------------------------------------------------------- ONNX metadata

# Protocol-buffer wire types (ONNX files are one serialised ModelProto).
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
# ModelProto field numbers: graph, metadata_props; StringStringEntryProto: key, value.
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2


def _read_varint(data: Any, path: Path) -> Optional[int]:
    """Read one base-128 varint from a binary stream (None at a clean end of the stream)."""
    value, shift = 0, 0
    while True:
        byte = data.read(1)
        if not byte:
            if shift:
                raise ValueError(f'{path} is not an ONNX file (truncated field header)')
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError(f'{path} is not an ONNX file (malformed field header)')


def _entry(payload: bytes, path: Path) -> Tuple[str, str]:
    """Decode a ``StringStringEntryProto`` (key, value)."""
    fields: Dict[int, str] = {}
    stream = io.BytesIO(payload)
    while True:
        tag = _read_varint(stream, path)
        if tag is None:
            break
        number, wire = tag >> 3, tag & 7
        if wire != _BYTES:
            raise ValueError(f'{path} is not an ONNX file (malformed metadata entry)')
        size = _read_varint(stream, path)
        text = stream.read(size or 0)
        if size is None or len(text) != size:
            raise ValueError(f'{path} is not an ONNX file (truncated metadata entry)')
        fields[number] = text.decode('utf-8', errors='replace')
    return fields.get(_ENTRY_KEY, ''), fields.get(_ENTRY_VALUE, '')


def read_onnx_metadata(path: Union[str, Path]) -> Dict[str, str]:
    """
    Read the ``metadata_props`` of an ONNX file without loading its graph or weights.

    The file is one serialised ``ModelProto``: its top-level fields are walked and every field
    but the metadata entries is skipped by seeking, so a multi-gigabyte teacher costs a few
    reads (no ``onnx`` package needed).

    :param path: the ``.onnx`` file
    :return: metadata key -> value
    :raises ValueError: naming the file when it is missing or not an ONNX model
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'teacher ONNX file {path} does not exist or is not a file')
    size = path.stat().st_size
    meta: Dict[str, str] = {}
    has_graph = False
    with open(path, 'rb') as data:
        while True:
            tag = _read_varint(data, path)
            if tag is None:
                break
            number, wire = tag >> 3, tag & 7
            if number == 0 or wire not in (_VARINT, _FIXED64, _BYTES, _FIXED32):
                raise ValueError(f'{path} is not an ONNX file (invalid protobuf field)')
            if wire == _VARINT:
                _read_varint(data, path)
                continue
            length = {_FIXED64: 8, _FIXED32: 4}.get(wire)
            if length is None:
                length = _read_varint(data, path)
            if length is None or data.tell() + length > size:
                raise ValueError(f'{path} is not an ONNX file (a field runs past the end of '
                                 'the file: truncated?)')
            if wire == _BYTES and number == _MODEL_METADATA:
                key, value = _entry(data.read(length), path)
                meta[key] = value
            else:
                has_graph = has_graph or (wire == _BYTES and number == _MODEL_GRAPH)
                data.seek(length, os.SEEK_CUR)
    if not has_graph:
        raise ValueError(f'{path} is not an ONNX model (no graph)')
    return meta


@functools.lru_cache(maxsize=16)
def _cached_spec(path: str, mtime_ns: int, size: int) -> ModelSpec:
    meta = read_onnx_metadata(path)
    text = meta.get(ONNX_METADATA_KEY)
    if text is None:
        raise ValueError(f'teacher ONNX file {path} carries no DisDepth metadata (no '
                         f'{ONNX_METADATA_KEY!r} entry): make it with `disdepth export` or '
                         '`disdepth adopt`')
    try:
        return ModelSpec.from_json(text)
    except ValueError as exc:
        raise ValueError(f'teacher ONNX file {path}: invalid DisDepth metadata: {exc}') from None


def onnx_teacher_spec(path: Union[str, Path]) -> ModelSpec:
    """
    Return the ``ModelSpec`` of a DisDepth ONNX file (read once per file version).

    :param path: the ``.onnx`` file
    :return: its spec (``output_kind`` says whether its depth is metric or relative)
    :raises ValueError: naming the file when it is missing, not ONNX or has no DisDepth metadata
    """
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except OSError:
        raise ValueError(f'teacher ONNX file {path} does not exist') from None
    return _cached_spec(str(path), stat.st_mtime_ns, stat.st_size)
