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

"""The estimator protocol and result types shared by all inference engines."""

from dataclasses import dataclass, field
from typing import Dict, List, Protocol, runtime_checkable, Sequence

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.modelspec import ModelSpec


class ModelLoadError(RuntimeError):
    """A model file is missing, corrupt, or not a DisDepth model (the message says which)."""


class EngineUnavailableError(RuntimeError):
    """The requested engine or provider cannot run here (the message says why)."""


@dataclass(frozen=True)
class EngineInfo:
    """
    What is actually running.

    :param engine: engine registry name ('onnxruntime', 'torch', ...)
    :param provider: the provider/device really in use (e.g. 'CPUExecutionProvider', 'cuda:0')
    :param model_path: the model file
    :param precision: 'fp32', 'fp16', 'int8', 'bf16'
    :param notes: why other providers were skipped, cache locations, ...
    """

    engine: str
    provider: str
    model_path: str
    precision: str = 'fp32'
    notes: str = ''


@dataclass
class DepthResult:
    """
    One prediction.

    :param depth: H x W float32 at the input image resolution, NaN invalid: metres when
        ``kind`` is ``'metric'``; unitless inverse depth (larger = nearer) when it is
        ``'relative_disparity'``; unitless depth-like values (larger = farther, the inverse is
        an affine-invariant disparity) when it is ``'relative_depth'``
    :param confidence: H x W float32 in [0, 1]
    :param timings_ms: stage timings ('preprocess', 'infer', 'postprocess')
    :param kind: ``'metric'``, ``'relative_disparity'`` or ``'relative_depth'``
    """

    depth: np.ndarray
    confidence: np.ndarray
    timings_ms: Dict[str, float] = field(default_factory=dict)
    kind: str = 'metric'

    @property
    def is_metric(self) -> bool:
        """Whether ``depth`` is metres."""
        return self.kind == 'metric'


@runtime_checkable
class DepthEstimator(Protocol):
    """Anything that turns an RGB image and its intrinsics into metric depth."""

    spec: ModelSpec
    info: EngineInfo

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """
        Predict metric depth for one RGB image.

        :param rgb: H x W x 3 uint8, RGB order
        :param intrinsics: intrinsics of ``rgb`` (same width and height)
        :return: depth and confidence at H x W
        :raises ValueError: for an unusable image or intrinsics
        """
        ...

    def predict_batch(self, rgbs: Sequence[np.ndarray],
                      intrinsics: Sequence[CameraIntrinsics]) -> List[DepthResult]:
        """
        Predict metric depth for several images of one size in one network call.

        Each result equals ``predict`` on its image up to float rounding; every result
        carries the whole batch's stage times.

        :param rgbs: H x W x 3 uint8 RGB images, all of one size (several cameras of one
            model, or consecutive frames)
        :param intrinsics: one CameraIntrinsics per image
        :return: one DepthResult per image, in order
        :raises ValueError: images of several sizes, a count mismatch, bad images or
            intrinsics, or a model that only takes one image per call (the message says how to
            re-export it)
        """
        ...
