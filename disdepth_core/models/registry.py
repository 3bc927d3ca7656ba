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
Model registry: model kind -> (config class, builder), used to rebuild models from checkpoints.

``'student'`` -> :class:`StudentConfig` / :func:`build_student`; ``'teacher'`` ->
:class:`TeacherConfig` / :func:`build_teacher` (rebuilt unfrozen; the caller freezes it if it
distils); ``'acclimated'`` -> :class:`AcclimatedConfig` / :func:`build_acclimated`.  Backbones
have their own registry (``backbones.BACKBONES``) and teachers theirs (``teacher.TEACHERS``).
"""

from typing import Any
from typing import Callable
from typing import Dict
from typing import Tuple

from disdepth_core.models.fam import AcclimatedConfig
from disdepth_core.models.fam import build_acclimated
from disdepth_core.models.student import build_student
from disdepth_core.models.student import StudentConfig
from disdepth_core.models.teacher import build_teacher
from disdepth_core.models.teacher import TeacherConfig


def _teacher_unfrozen(config: TeacherConfig) -> Any:
    return build_teacher(config, frozen=False)


MODELS: Dict[str, Tuple[type, Callable[[Any], Any]]] = {
    'student': (StudentConfig, build_student),
    'teacher': (TeacherConfig, _teacher_unfrozen),
    'acclimated': (AcclimatedConfig, build_acclimated),
}


def model_kind(config: Any) -> str:
    """
    Return the registry kind of a model config instance.

    :raises ValueError: if the config type is not registered
    """
    for kind, (cls, _) in MODELS.items():
        if isinstance(config, cls):
            return kind
    raise ValueError(f'{type(config).__name__} is not a registered model config '
                     f'({", ".join(c.__name__ for c, _ in MODELS.values())})')
