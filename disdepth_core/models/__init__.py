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
DisDepth networks: CNN students with LG-Conv, adaptive-bins heads, teachers, FAM + ghost decoder.

Public API (see docs/models.md)::

    from disdepth_core.models import (build_student, build_teacher, StudentConfig,
                                      TeacherConfig, DepthOutput, FeatureInfo)
"""

from disdepth_core.models.backbones import BACKBONES
from disdepth_core.models.backbones import create_backbone
from disdepth_core.models.fam import AcclimatedConfig
from disdepth_core.models.fam import AcclimatedTeacher
from disdepth_core.models.fam import build_acclimated
from disdepth_core.models.fam import FeatureAcclimation
from disdepth_core.models.fam import GhostDecoder
from disdepth_core.models.lgconv import apply_lgconv
from disdepth_core.models.lgconv import LGConv
from disdepth_core.models.outputs import DepthOutput
from disdepth_core.models.outputs import FeatureInfo
from disdepth_core.models.student import build_student
from disdepth_core.models.student import DisDepthStudent
from disdepth_core.models.student import StudentConfig
from disdepth_core.models.teacher import build_teacher
from disdepth_core.models.teacher import freeze
from disdepth_core.models.teacher import TeacherConfig

__all__ = [
    'AcclimatedConfig', 'AcclimatedTeacher', 'BACKBONES', 'DepthOutput', 'DisDepthStudent',
    'FeatureAcclimation', 'FeatureInfo', 'GhostDecoder', 'LGConv', 'StudentConfig',
    'TeacherConfig', 'apply_lgconv', 'build_acclimated', 'build_student', 'build_teacher',
    'create_backbone', 'freeze',
]
