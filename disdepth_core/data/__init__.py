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
Data: the dataset registry, the shared sample format, augmentation and the scene generator.

``build_dataset(name, **kwargs)`` constructs a registered dataset (``rgbd_folder``, ``nyu``,
``kitti_eigen``, ``synthetic``, ``unlabeled``); every dataset returns dict samples
``{image, depth, valid_mask, K, crop, index, name}`` (see :mod:`disdepth_core.data.base`).
Dataset modules are imported on first use.
"""

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import build_dataset
from disdepth_core.data.registry import dataset_names
from disdepth_core.data.registry import DATASETS
from disdepth_core.data.registry import get_dataset_class
from disdepth_core.data.registry import register_dataset

__all__ = ['DATASETS', 'DepthDataset', 'Frame', 'build_dataset', 'dataset_names',
           'get_dataset_class', 'register_dataset']
