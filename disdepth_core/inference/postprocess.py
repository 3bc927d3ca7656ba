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

:func:`predict_with` runs one image, :func:`predict_batch_with` several images of one size in one
network call.  numpy + OpenCV only (via :mod:`disdepth_core.transforms`).
"""

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
    'relative_depth': (_unit_scale, False),
}


def result_kind(spec: ModelSpec) -> str:
    """Return the ``DepthResult.kind`` of this model: ``'metric'`` or its relative output kind."""
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


# --------------------------------------------------------------------------- batches

# The CPU stages of a batch, replaceable by an engine that runs them on its own device:
# prepare(images, prep) -> network input; finish(outputs, spec, intrinsics, net_hw, image_hw)
# -> (depth maps, confidence maps) at the image resolution.
PrepareBatch = Callable[[Sequence[np.ndarray], Preprocessing], Any]
FinishBatch = Callable[[Dict[str, Any], ModelSpec, Sequence[CameraIntrinsics], Tuple[int, int],
                        Tuple[int, int]], Tuple[Sequence[np.ndarray], Sequence[np.ndarray]]]


def check_batch(rgbs: Sequence[np.ndarray],
                intrinsics: Sequence[CameraIntrinsics]) -> Tuple[int, int]:
    """
    Check a batch of images and their intrinsics: one size for all, one intrinsics per image.

    :param rgbs: a non-empty sequence of H x W x 3 uint8 RGB images (or an N x H x W x 3 array)
    :param intrinsics: one CameraIntrinsics per image
    :return: the common (H, W)
    :raises ValueError: naming the problem (and the image index)
    """
    if isinstance(rgbs, np.ndarray) and rgbs.ndim != 4:
        raise ValueError(f'predict_batch takes a sequence of H x W x 3 images or an N x H x W x 3 '
                         f'array, got an array of shape {rgbs.shape} (use predict for one image)')
    if isinstance(intrinsics, CameraIntrinsics):
        raise ValueError('predict_batch takes one CameraIntrinsics per image (a list), got a '
                         'single CameraIntrinsics')
    n = len(rgbs)
    if len(intrinsics) != n:
        raise ValueError(f'predict_batch got {n} images but {len(intrinsics)} intrinsics: pass '
                         'one CameraIntrinsics per image')
    if n == 0:
        raise ValueError('predict_batch got no images')
    sizes: Dict[Tuple[int, int], List[int]] = {}
    for i, (rgb, k) in enumerate(zip(rgbs, intrinsics)):
        try:
            hw = check_inputs(rgb, k)
        except ValueError as exc:
            raise ValueError(f'image {i} of the batch: {exc}') from None
        sizes.setdefault(hw, []).append(i)
    if len(sizes) > 1:
        parts = [f'{w}x{h} (image{"s" if len(idx) > 1 else ""} {", ".join(map(str, idx[:8]))}'
                 f'{", ..." if len(idx) > 8 else ""})' for (h, w), idx in sizes.items()]
        raise ValueError('predict_batch takes images of one size per call, got '
                         f'{" and ".join(parts)}: call it once per size')
    return next(iter(sizes))


def batch_network_input(rgbs: Sequence[np.ndarray], prep: Preprocessing) -> np.ndarray:
    """
    Stack :func:`to_network_input` of every image: the network input of a batch on the CPU.

    :param rgbs: checked H x W x 3 uint8 RGB images of one size
    :param prep: the model's preprocessing
    :return: N x 3 x H_net x W_net float32 in [0, 1], C-contiguous
    """
    x = np.empty((len(rgbs), 3, prep.height, prep.width), np.float32)
    for i, rgb in enumerate(rgbs):
        x[i] = to_network_input(rgb, prep)[0]
    return x


def batch_maps(array: Any, name: str, n: int) -> np.ndarray:
    """
    Return the N x h x w maps of an N x 1 x h x w (or N x h x w) output.

    :param array: the output
    :param name: its name, for messages
    :param n: the expected batch size
    :raises ValueError: for an unexpected shape or batch size
    """
    arr = np.asarray(array)
    if arr.ndim == 4 and arr.shape[1] == 1:
        maps = arr[:, 0]
    elif arr.ndim == 3:
        maps = arr
    else:
        raise ValueError(f'model output {name!r} has shape {arr.shape}, expected N x 1 x h x w')
    if maps.shape[0] != n:
        raise ValueError(f'model output {name!r} holds {maps.shape[0]} maps for a batch of {n} '
                         'images')
    return maps


def finish_batch(out: Dict[str, Any], spec: ModelSpec, intrinsics: Sequence[CameraIntrinsics],
                 net_hw: Tuple[int, int], image_hw: Tuple[int, int]
                 ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """
    Metric depth and confidence of every image of a batch on the CPU (as :func:`predict_with`).

    :param out: network outputs by name (``depth`` N x 1 x h x w, optional ``confidence``)
    :param spec: the model spec
    :param intrinsics: one CameraIntrinsics per image (each image gets its own metric scale)
    :param net_hw: network input (height, width)
    :param image_hw: (height, width) of the images
    :return: (depth maps, confidence maps), H x W float32 each
    """
    n = len(intrinsics)
    depth_maps = batch_maps(out['depth'], 'depth', n)
    conf = out.get('confidence')
    conf_maps = None if conf is None else batch_maps(conf, 'confidence', n)
    depths: List[np.ndarray] = []
    confs: List[np.ndarray] = []
    for i, k in enumerate(intrinsics):
        depth = metric_depth(depth_maps[i], spec, k, net_hw, image_hw)
        depths.append(depth)
        confs.append(confidence_map(None if conf_maps is None else conf_maps[i], depth,
                                    image_hw))
    return depths, confs


def predict_batch_with(forward: Callable[[Any], Dict[str, Any]], rgbs: Sequence[np.ndarray],
                       intrinsics: Sequence[CameraIntrinsics], prep: Preprocessing,
                       spec: ModelSpec, net_hw: Tuple[int, int],
                       prepare: PrepareBatch = batch_network_input,
                       finish: FinishBatch = finish_batch) -> List[DepthResult]:
    """
    Run several images of one size through one network call (the batch form of predict_with).

    Each result equals :func:`predict_with` on its image up to the float rounding of a batched
    network call (the same preprocessing and post-processing, each image with its own
    intrinsics).  Every result carries the whole batch's stage times in ``timings_ms``.

    :param forward: the engine's network call: N x 3 x H x W input -> outputs by name
    :param rgbs: H x W x 3 uint8 RGB images, all of one size
    :param intrinsics: one CameraIntrinsics per image
    :param prep: the model's preprocessing at the network size in use
    :param spec: the model spec
    :param net_hw: network input (height, width)
    :param prepare: builds the network input (default: on the CPU, :func:`batch_network_input`)
    :param finish: metric post-processing (default: on the CPU, :func:`finish_batch`)
    :return: one DepthResult per image, in order
    :raises ValueError: several image sizes, a count mismatch, or a bad image or intrinsics
    """
    t0 = time.perf_counter()
    image_hw = check_batch(rgbs, intrinsics)
    x = prepare(rgbs, prep)
    t1 = time.perf_counter()
    out = forward(x)
    t2 = time.perf_counter()
    depths, confs = finish(out, spec, intrinsics, net_hw, image_hw)
    t3 = time.perf_counter()
    timings = {'preprocess': (t1 - t0) * 1e3, 'infer': (t2 - t1) * 1e3,
               'postprocess': (t3 - t2) * 1e3}
    kind = result_kind(spec)
    return [DepthResult(d, c, dict(timings), kind=kind) for d, c in zip(depths, confs)]
