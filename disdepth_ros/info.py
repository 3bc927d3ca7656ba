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

"""``disdepth info``: versions, inference providers and the packaged model."""

import importlib.metadata
import importlib.util
import platform
from typing import Any, Dict, List

from disdepth_core import __version__ as core_version
from disdepth_core.assets import packaged_model_paths


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return 'not installed'


def ort_providers() -> List[str]:
    """ONNX Runtime providers this build offers ([] without onnxruntime)."""
    if importlib.util.find_spec('onnxruntime') is None:
        return []
    import onnxruntime
    return list(onnxruntime.get_available_providers())


def collect() -> Dict[str, Any]:
    """Gather everything ``disdepth info`` prints."""
    versions = {name: _version(dist) for name, dist in (
        ('disdepth_ros', 'disdepth_ros'), ('numpy', 'numpy'),
        ('opencv', 'opencv-python-headless'), ('onnxruntime', 'onnxruntime'),
        ('onnxruntime-gpu', 'onnxruntime-gpu'), ('torch', 'torch'), ('onnx', 'onnx'),
        ('rclpy', 'ros-rclpy'), ('rosbags', 'rosbags'))}
    versions['disdepth_core'] = core_version
    paths = packaged_model_paths()
    return {
        'python': platform.python_version(),
        'platform': platform.platform(),
        'versions': versions,
        'onnxruntime_providers': ort_providers(),
        'torch_cuda': _torch_cuda(),
        'packaged_model': {k: (str(v) if v else None) for k, v in paths.items()},
    }


def _torch_cuda() -> str:
    if importlib.util.find_spec('torch') is None:
        return 'torch not installed'
    import torch
    if torch.cuda.is_available():
        return f'available ({torch.cuda.get_device_name(0)})'
    return 'not available'
