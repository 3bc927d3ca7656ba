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
Steps every engine shares around the network: input checks and metric post-processing.

numpy + OpenCV only (via :mod:`disdepth_core.transforms`).
"""

import time
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import metric_scale
from disdepth_core.inference.base import DepthResult
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import check_rgb
from disdepth_core.transforms import Preprocessing
from disdepth_core.transforms import resize_depth
from disdepth_core.transforms import to_network_input


def check_inputs(rgb: np.ndarray, intrinsics: CameraIntrinsics) -> Tuple[int, int]:
    """
    Check an image and its intrinsics before inference.

    :param rgb: H x W x 3 uint8 RGB
    :param intrinsics: intrinsics of ``rgb``
    :return: (H, W)
    :raises ValueError: naming the problem (bad image, bad intrinsics, size mismatch)
    """
    check_rgb(rgb)
    if not isinstance(intrinsics, CameraIntrinsics):
        raise ValueError(f'intrinsics must be a CameraIntrinsics, got {type(intrinsics).__name__}')
    intrinsics.validate()
    h, w = rgb.shape[:2]
    if (intrinsics.width, intrinsics.height) != (w, h):
        raise ValueError(f'intrinsics are for a {intrinsics.width}x{intrinsics.height} image but '
                         f'the image is {w}x{h}; rescale them with CameraIntrinsics.scaled()')
    return h, w


def _canonical_scale(spec: ModelSpec, intrinsics: CameraIntrinsics,
                     net_hw: Tuple[int, int]) -> float:
    """Scale of a canonical-camera output for the live camera (``geometry.metric_scale``)."""
    return metric_scale(spec.canonical_focal, intrinsics, net_hw)


def _unit_scale(spec: ModelSpec, intrinsics: CameraIntrinsics,
                net_hw: Tuple[int, int]) -> float:
    """Scale of an output that is already metres (or has no unit): 1."""
    return 1.0


# output_kind -> (scale for the live camera, whether the model's depth range clips the output)
OUTPUT_SCALING: Dict[str, Tuple[Callable[[ModelSpec, CameraIntrinsics, Tuple[int, int]], float],
                                bool]] = {
    'canonical_metric': (_canonical_scale, True),
    'metric': (_unit_scale, True),
    'relative_disparity': (_unit_scale, False),
}


def result_kind(spec: ModelSpec) -> str:
    """Return what a ``DepthResult`` of this model holds: 'metric' or 'relative_disparity'."""
    return 'metric' if spec.is_metric else spec.output_kind


def metric_depth(depth_net: np.ndarray, spec: ModelSpec, intrinsics: CameraIntrinsics,
                 net_hw: Tuple[int, int], image_hw: Tuple[int, int]) -> np.ndarray:
    """
    Turn the network's output into depth at the image resolution, as its ``output_kind`` says.

    ``canonical_metric``: ``resize(depth_net, image_hw) * metric_scale(spec.canonical_focal, K,
    net_hw)``; ``metric``: ``resize(depth_net)``; both clipped to ``[spec.min_depth,
    spec.max_depth]``.  ``relative_disparity``: ``resize(depth_net)`` unchanged (no unit, no
    clipping).  Non-finite values become NaN.

    :param depth_net: h x w network depth (any float dtype)
    :param spec: the model spec
    :param intrinsics: intrinsics of the original image
    :param net_hw: (height, width) of the network input
    :param image_hw: (height, width) of the original image
    :return: H x W float32 (metres for metric kinds), NaN where invalid
    """
    scale_of, clip = OUTPUT_SCALING[spec.output_kind]
    scale = np.float32(scale_of(spec, intrinsics, net_hw))
    depth = resize_depth(np.asarray(depth_net, dtype=np.float32), image_hw)
    depth = depth * scale
    finite = np.isfinite(depth)
    if clip:
        np.clip(depth, np.float32(spec.min_depth), np.float32(spec.max_depth), out=depth)
    depth[~finite] = np.nan
    return depth


def confidence_map(conf_net: Optional[np.ndarray], depth: np.ndarray,
                   image_hw: Tuple[int, int]) -> np.ndarray:
    """
    Confidence at the image resolution, in [0, 1], 0 where depth is invalid.

    :param conf_net: h x w network confidence, or None when the model has none (then 1)
    :param depth: the metric depth from :func:`metric_depth`
    :param image_hw: (height, width) of the original image
    :return: H x W float32
    """
    if conf_net is None:
        conf = np.ones(image_hw, np.float32)
    else:
        conf = resize_depth(np.asarray(conf_net, dtype=np.float32), image_hw)
        conf = np.nan_to_num(conf, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(conf, 0.0, 1.0, out=conf)
    conf[np.isnan(depth)] = 0.0
    return conf


def first_map(array: np.ndarray, name: str) -> np.ndarray:
    """
    Return the h x w map of the first batch item of an N x 1 x h x w (or N x h x w) output.

    :raises ValueError: for an unexpected output shape
    """
    arr = np.asarray(array)
    if arr.ndim == 4 and arr.shape[1] == 1:
        return arr[0, 0]
    if arr.ndim == 3:
        return arr[0]
    raise ValueError(f'model output {name!r} has shape {arr.shape}, expected N x 1 x h x w')


def predict_with(forward: Callable[[np.ndarray], Dict[str, np.ndarray]], rgb: np.ndarray,
                 intrinsics: CameraIntrinsics, prep: Preprocessing, spec: ModelSpec,
                 net_hw: Tuple[int, int]) -> DepthResult:
    """
    Run one prediction around an engine's network call: checks, preprocessing, metric depth.

    :param forward: the engine's network call: 1 x 3 x H x W float32 -> outputs by name
    :param rgb: H x W x 3 uint8 RGB
    :param intrinsics: intrinsics of ``rgb``
    :param prep: the model's preprocessing at the network size in use
    :param spec: the model spec
    :param net_hw: network input (height, width)
    :return: depth (metres, NaN invalid) and confidence at H x W, with stage timings
    """
    t0 = time.perf_counter()
    image_hw = check_inputs(rgb, intrinsics)
    x = to_network_input(rgb, prep)
    t1 = time.perf_counter()
    out = forward(x)
    t2 = time.perf_counter()
    depth = metric_depth(first_map(out['depth'], 'depth'), spec, intrinsics, net_hw, image_hw)
    conf = out.get('confidence')
    confidence = confidence_map(None if conf is None else first_map(conf, 'confidence'),
                                depth, image_hw)
    t3 = time.perf_counter()
    return DepthResult(depth, confidence, {'preprocess': (t1 - t0) * 1e3,
                                           'infer': (t2 - t1) * 1e3,
                                           'postprocess': (t3 - t2) * 1e3},
                       kind=result_kind(spec))
