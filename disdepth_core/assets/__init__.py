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
Files shipped inside the package (the default model), found with ``importlib.resources``.

The same lookup works in a virtual environment, an editable install and a colcon install.
"""

from importlib import resources
from pathlib import Path
from typing import Dict, Optional

DEFAULT_MODEL_STEM = 'disdepth_default'


def asset_path(name: str) -> Optional[Path]:
    """
    Path of a packaged asset, or None when it is not shipped.

    :param name: file name inside ``disdepth_core/assets``
    :return: the path or None
    """
    ref = resources.files('disdepth_core.assets').joinpath(name)
    return Path(str(ref)) if ref.is_file() else None


def packaged_model_paths() -> Dict[str, Optional[Path]]:
    """Paths of the packaged default model: ``onnx``, ``safetensors`` and its ``json`` sidecar."""
    return {'onnx': asset_path(DEFAULT_MODEL_STEM + '.onnx'),
            'safetensors': asset_path(DEFAULT_MODEL_STEM + '.safetensors'),
            'json': asset_path(DEFAULT_MODEL_STEM + '.json')}


def default_model_path() -> Path:
    """
    Return the path of the packaged default ONNX model.

    :raises FileNotFoundError: when the package ships no model (a broken install)
    """
    path = packaged_model_paths()['onnx']
    if path is None:
        raise FileNotFoundError('the packaged default model disdepth_core/assets/'
                                f'{DEFAULT_MODEL_STEM}.onnx is missing: reinstall disdepth_ros '
                                'or pass a model path')
    return path
