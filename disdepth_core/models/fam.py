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
Teacher acclimation: the feature acclimation module (FAM) and the ghost decoder.

[C] The ghost decoder is a copy of the student's decoder; acclimating the teacher through it
(with the FAM) turns the teacher's features into student-friendly ones while keeping the
teacher's performance; a *fixed* ghost decoder stabilises the cross-architecture transfer.

[I] Our reconstruction:

* :class:`FeatureAcclimation`: for each student level ``l`` pick a teacher level (by default the
  one with the nearest stride, ties to the finer one; for plain ViTs whose levels all share the
  patch stride, the levels in order; ``level_map`` overrides) and apply
  ``Conv1x1(C_T -> C_S) -> BN -> ReLU -> [bilinear resize to the student level size if the
  strides differ] -> Conv3x3(C_S -> C_S)``.  Resizing before the 3x3 conv lets it refine the
  upsampled map.  Output shapes equal the student's ``features`` at the same input size.
* :class:`GhostDecoder`: the student's :class:`~disdepth_core.models.bins.DepthHead` class
  (decoder + both bins heads) built from the student's config.
* Two acclimation variants (``AcclimatedConfig.ghost_mode``):
  ``'joint'``: a fresh ghost decoder trained jointly with the FAM (teacher frozen);
  ``'frozen'``: the ghost decoder is copied from a trained student
  (:meth:`GhostDecoder.from_student`) and frozen, only the FAM trains, so the teacher's
  features must become decodable by the student's own decoder.
* :class:`AcclimatedTeacher` ``(teacher, fam, ghost)``: image -> frozen teacher (no grad) ->
  FAM -> ghost decoder; returns :class:`DepthOutput` whose ``features`` are the FAM outputs
  (the distillation targets).  :meth:`AcclimatedTeacher.trainable_parameters` lists what the
  acclimation stage optimises; :func:`~disdepth_core.models.teacher.freeze` it for distillation.
"""

from dataclasses import dataclass
from dataclasses import field
import math
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.models.backbones import create_backbone
from disdepth_core.models.bins import DepthHead
from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo
from disdepth_core.models.student import DisDepthStudent
from disdepth_core.models.student import StudentConfig
from disdepth_core.models.teacher import build_teacher
from disdepth_core.models.teacher import freeze
from disdepth_core.models.teacher import TeacherConfig

GHOST_MODES = ('joint', 'frozen')


def nearest_levels(teacher_info: Sequence[FeatureInfo],
                   student_info: Sequence[FeatureInfo]) -> Tuple[int, ...]:
    """
    Choose the default teacher level for each student level.

    Hierarchical teachers (strictly increasing strides): the level with the nearest stride (log
    scale, ties to the finer one).  Plain ViTs whose levels share one stride: levels in order,
    evenly spread (shallow student levels take early layers, deep ones late layers).

    :param teacher_info: teacher levels
    :param student_info: student levels
    :return: teacher level index per student level
    """
    t_strides = [t.stride for t in teacher_info]
    if any(b <= a for a, b in zip(t_strides, t_strides[1:])):
        nt, ns = len(teacher_info), len(student_info)
        if ns == 1:
            return (nt - 1,)
        return tuple(round(i * (nt - 1) / (ns - 1)) for i in range(ns))
    out = []
    for s in student_info:
        dist = [abs(math.log2(t.stride / s.stride)) for t in teacher_info]
        out.append(min(range(len(dist)), key=lambda j: (dist[j], teacher_info[j].stride)))
    return tuple(out)


class FeatureAcclimation(nn.Module):
    """
    Maps teacher features to the student's level shapes.

    :param teacher_info: the teacher's ``feature_info``
    :param student_info: the student's ``feature_info``
    :param level_map: teacher level index per student level (default: nearest stride)
    """

    def __init__(self, teacher_info: Sequence[FeatureInfo], student_info: Sequence[FeatureInfo],
                 level_map: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self.teacher_info = list(teacher_info)
        self.student_info = list(student_info)
        if level_map is None:
            level_map = nearest_levels(self.teacher_info, self.student_info)
        if len(level_map) != len(self.student_info) or not all(
                0 <= j < len(self.teacher_info) for j in level_map):
            raise ValueError(f'level_map {tuple(level_map)} must give one teacher level '
                             f'(0..{len(self.teacher_info) - 1}) per student level '
                             f'({len(self.student_info)})')
        self.level_map = tuple(int(j) for j in level_map)
        self.reduce = nn.ModuleList()
        self.refine = nn.ModuleList()
        for s, j in zip(self.student_info, self.level_map):
            ct = self.teacher_info[j].channels
            self.reduce.append(nn.Sequential(nn.Conv2d(ct, s.channels, 1, bias=False),
                                             nn.BatchNorm2d(s.channels), nn.ReLU(inplace=True)))
            self.refine.append(nn.Conv2d(s.channels, s.channels, 3, 1, 1))

    @property
    def feature_info(self) -> List[FeatureInfo]:
        """The output levels (= the student's)."""
        return list(self.student_info)

    def forward(self, teacher_feats: Sequence[torch.Tensor],
                image_hw: Optional[Tuple[int, int]] = None) -> List[torch.Tensor]:
        """
        Acclimate teacher features.

        :param teacher_feats: one tensor per teacher level
        :param image_hw: network input size (default: inferred from the first teacher level)
        :return: one B x C_S x H/s x W/s tensor per student level
        """
        if len(teacher_feats) != len(self.teacher_info):
            raise ValueError(f'FAM expects {len(self.teacher_info)} teacher levels, got '
                             f'{len(teacher_feats)}')
        if image_hw is None:
            t0 = teacher_feats[0]
            st = self.teacher_info[0].stride
            image_hw = (int(t0.shape[-2]) * st, int(t0.shape[-1]) * st)
        out = []
        for i, (s, j) in enumerate(zip(self.student_info, self.level_map)):
            y = self.reduce[i](teacher_feats[j])
            size = (image_hw[0] // s.stride, image_hw[1] // s.stride)
            if tuple(y.shape[-2:]) != size:
                y = F.interpolate(y, size=size, mode='bilinear', align_corners=False)
            out.append(self.refine[i](y))
        return out


class GhostDecoder(DepthHead):
    """The student's decoder + bins heads, decoding acclimated teacher features."""

    @classmethod
    def from_student_config(cls, config: StudentConfig,
                            feature_info: Sequence[FeatureInfo]) -> 'GhostDecoder':
        """
        Build a fresh ghost decoder with the student's head hyper-parameters.

        :param config: the student's config
        :param feature_info: the student's feature levels
        :return: the ghost decoder (trainable)
        """
        return cls(feature_info, config.decoder_width, config.decoder_min_width, 2,
                   config.n_bins, config.min_depth, config.max_depth, config.bins_hidden,
                   config.bins_eps, config.bins_source, config.confidence,
                   config.confidence_window)

    @classmethod
    def from_student(cls, student: DisDepthStudent, frozen: bool = True) -> 'GhostDecoder':
        """
        Copy a (trained) student's decoder + heads.

        :param student: the student
        :param frozen: freeze the copy (variant 'frozen' of the acclimation)
        :return: the ghost decoder
        """
        ghost = cls.from_student_config(student.config, student.feature_info)
        ghost.load_state_dict(student.head.state_dict())
        return freeze(ghost) if frozen else ghost


class AcclimatedTeacher(nn.Module):
    """
    Frozen teacher -> FAM -> ghost decoder.

    :param teacher: a (frozen) teacher module with ``feature_info``
    :param fam: the FeatureAcclimation
    :param ghost: the GhostDecoder
    """

    def __init__(self, teacher: nn.Module, fam: FeatureAcclimation, ghost: DepthHead) -> None:
        super().__init__()
        self.teacher = teacher
        self.fam = fam
        self.ghost = ghost

    @property
    def feature_info(self) -> List[FeatureInfo]:
        """The levels of ``DepthOutput.features`` (FAM outputs, = the student's levels)."""
        return self.fam.feature_info

    def trainable_parameters(self) -> List[nn.Parameter]:
        """Parameters the acclimation stage optimises (FAM, plus a non-frozen ghost)."""
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, image: torch.Tensor) -> DepthOutput:
        """
        Run the acclimated teacher.

        :param image: B x 3 x H x W RGB in [0, 1]
        :return: ghost-decoder DepthOutput with ``features`` = FAM outputs
        """
        with torch.no_grad():
            t_out = self.teacher(image)
        feats = self.fam(t_out.features, (int(image.shape[-2]), int(image.shape[-1])))
        return self.ghost(feats)


@dataclass(frozen=True)
class AcclimatedConfig:
    """
    Everything needed to rebuild an AcclimatedTeacher (e.g. from a checkpoint).

    :param teacher: the teacher's config
    :param student: the config of the student whose levels/decoder the ghost mirrors
    :param ghost_mode: ``'joint'`` or ``'frozen'``
    :param level_map: teacher level per student level (None: nearest stride)
    """

    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    ghost_mode: str = 'joint'
    level_map: Optional[Tuple[int, ...]] = None

    def __post_init__(self) -> None:
        """Validate the ghost mode."""
        if self.ghost_mode not in GHOST_MODES:
            raise ValueError(f'AcclimatedConfig.ghost_mode must be one of {GHOST_MODES}, got '
                             f'{self.ghost_mode!r}')


def build_acclimated(config: AcclimatedConfig,
                     student: Optional[DisDepthStudent] = None,
                     teacher: Optional[nn.Module] = None) -> AcclimatedTeacher:
    """
    Build an acclimated teacher.

    :param config: the configuration
    :param student: a trained student to copy the ghost decoder from (required, and only
        used, for ``ghost_mode='frozen'``; without it a frozen fresh ghost is built, as when
        rebuilding from a checkpoint that then loads the weights)
    :param teacher: an already built teacher (default: ``build_teacher(config.teacher)``)
    :return: the module; the teacher frozen, FAM trainable, ghost per ``ghost_mode``
    """
    teacher = freeze(teacher) if teacher is not None else build_teacher(config.teacher)
    if student is not None:
        s_info = student.feature_info
    else:
        s_info = create_backbone(config.student.backbone).feature_info
    fam = FeatureAcclimation(teacher.feature_info, s_info, config.level_map)
    if config.ghost_mode == 'frozen':
        if student is not None:
            ghost: DepthHead = GhostDecoder.from_student(student, frozen=True)
        else:
            ghost = freeze(GhostDecoder.from_student_config(config.student, s_info))
    else:
        ghost = GhostDecoder.from_student_config(config.student, s_info)
    return AcclimatedTeacher(teacher, fam, ghost)
