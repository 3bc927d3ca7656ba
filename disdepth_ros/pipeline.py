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
The per-frame step shared by the node and ``disdepth bag``: image + intrinsics -> output fields.

Pure numpy (+ OpenCV for compressed images), duck-typed messages, no rclpy: the live node and the
offline bag tool call the same functions, so a bag processed offline carries exactly what the
node would have published for the same frames.

1. :func:`decode_image` turns a ``sensor_msgs/Image`` (or ``CompressedImage``) into RGB uint8;
2. :func:`intrinsics_for` picks the intrinsics (a CameraInfo, rescaled to the image when its size
   differs, or fallback intrinsics);
3. :func:`estimate` runs the estimator (:func:`estimate_batch`: several images of one size in
   one call, the node's several cameras);
4. :func:`gate` invalidates depth outside the published range or below the confidence threshold;
5. :func:`output_fields` gives the field dicts of every output message (depth, its camera info,
   confidence, colourised depth, points; see :mod:`disdepth_core.rosmsg`); the caller adds
   the input header.

:class:`OutputOptions` is the one definition of what the outputs look like (encoding, range,
confidence threshold, cloud decimation, colourisation, relative output), validated in one place;
the node's parameters and ``disdepth bag``'s options both become one.  :func:`output_topics`
names the outputs (relative to the node or bag namespace) for a given mode.
"""

from dataclasses import dataclass
from dataclasses import replace
import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

import cv2
import numpy as np

from disdepth_core import rosmsg
from disdepth_core.colorize import colorize_depth
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_core.inference import RELATIVE_DEPTH_TOPIC
from disdepth_core.inference.base import DepthEstimator
from disdepth_core.rosmsg import ConversionError
from disdepth_core.rosmsg import DEPTH_ENCODINGS

COLORMAPS = ('turbo', 'jet', 'viridis', 'inferno', 'magma', 'plasma', 'bone', 'hot', 'rainbow')
# output key -> topic (relative to the node's or the bag's namespace), metric mode
OUTPUT_TOPICS: Dict[str, str] = {
    'depth': 'depth',
    'depth_camera_info': 'depth/camera_info',
    'points': 'points',
    'confidence': 'depth/confidence',
    'colorized': 'depth/colorized',
}
# Outputs a relative (unitless) model has: no metric cloud, no metric colour scale.
RELATIVE_OUTPUT_KEYS = ('depth', 'depth_camera_info', 'confidence')


@dataclass(frozen=True)
class OutputOptions:
    """
    What the outputs of a frame look like (node parameters and ``disdepth bag`` options).

    :param depth_encoding: ``32FC1`` (metres, NaN invalid) or ``16UC1`` (millimetres, 0 invalid)
    :param min_depth: nearer depth is published as invalid; 0 = the model's minimum
    :param max_depth: farther depth is published as invalid; 0 = the model's maximum
    :param min_confidence: depth with lower confidence (0..1) is published as invalid
    :param point_stride: point cloud decimation (every N-th row and column)
    :param points_rgb: add the rgb field to the point cloud
    :param colormap: colormap of the colourised depth (:data:`COLORMAPS`)
    :param colorized_min_depth: metres mapped to the first colour
    :param colorized_max_depth: metres mapped to the last colour
    :param colorized_legend: draw the colour bar with the metric range
    :param relative_output: the model is relative (no unit): its output goes to
        ``depth/relative`` as 32FC1, with no cloud and no colourised depth
    """

    depth_encoding: str = '32FC1'
    min_depth: float = 0.0
    max_depth: float = 0.0
    min_confidence: float = 0.0
    point_stride: int = 1
    points_rgb: bool = True
    colormap: str = 'turbo'
    colorized_min_depth: float = 0.0
    colorized_max_depth: float = 10.0
    colorized_legend: bool = True
    relative_output: bool = False

    def problems(self) -> List[str]:
        """Describe every invalid value, named as the node parameter (empty when valid)."""
        out = []
        for name in ('min_depth', 'max_depth', 'min_confidence', 'colorized_min_depth',
                     'colorized_max_depth'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                out.append(f'{name} must be a finite number, got {value!r}')
        if out:
            return out
        if self.min_depth < 0 or self.max_depth < 0:
            out.append(f'min_depth and max_depth must be >= 0, got {self.min_depth}, '
                       f'{self.max_depth}')
        if self.max_depth and self.min_depth >= self.max_depth:
            out.append(f'min_depth ({self.min_depth}) must be < max_depth ({self.max_depth})')
        if not 0.0 <= self.min_confidence <= 1.0:
            out.append(f'min_confidence must be in [0, 1], got {self.min_confidence}')
        if self.depth_encoding not in DEPTH_ENCODINGS:
            out.append(f'depth_encoding must be one of {", ".join(DEPTH_ENCODINGS)}, got '
                       f'{self.depth_encoding!r}')
        if not isinstance(self.point_stride, int) or self.point_stride < 1:
            out.append(f'point_stride must be >= 1, got {self.point_stride}')
        if self.colormap not in COLORMAPS:
            out.append(f'colormap must be one of {", ".join(COLORMAPS)}, got {self.colormap!r}')
        if self.colorized_min_depth < 0 or self.colorized_min_depth >= self.colorized_max_depth:
            out.append(f'need 0 <= colorized_min_depth < colorized_max_depth, got '
                       f'{self.colorized_min_depth}, {self.colorized_max_depth}')
        if self.relative_output and (self.depth_encoding != '32FC1' or self.min_depth
                                     or self.max_depth):
            out.append('relative_output: a relative output has no unit, so it is published as '
                       '32FC1 and min_depth / max_depth do not apply')
        return out

    def validated(self) -> 'OutputOptions':
        """
        Return ``self`` when valid.

        :raises ValueError: listing every problem
        """
        problems = self.problems()
        if problems:
            raise ValueError('; '.join(problems))
        return self

    def depth_range(self, model_min: float, model_max: float) -> Tuple[float, float]:
        """Return the published (min, max) depth: the options, 0 meaning the model's bound."""
        return (self.min_depth or model_min, self.max_depth or model_max)


def output_topics(options: OutputOptions,
                  keys: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """
    Name the outputs' topics, relative to the node's or the bag's namespace.

    :param options: the output options (relative mode: depth on ``depth/relative``, no cloud, no
        colourised depth)
    :param keys: the outputs wanted (default: all the mode has)
    :return: output key -> topic
    """
    topics = dict(OUTPUT_TOPICS)
    if options.relative_output:
        topics = {k: t for k, t in topics.items() if k in RELATIVE_OUTPUT_KEYS}
        topics['depth'] = RELATIVE_DEPTH_TOPIC
    if keys is not None:
        wanted = set(keys)
        topics = {k: t for k, t in topics.items() if k in wanted}
    return topics


@dataclass
class FrameDepth:
    """
    The estimate for one frame, with what the output messages need.

    :param rgb: H x W x 3 uint8 input image, RGB order
    :param intrinsics: intrinsics of ``rgb``
    :param depth: H x W float32 metres, NaN invalid
    :param confidence: H x W float32 in [0, 1]
    :param timings_ms: stage timings reported by the estimator
    """

    rgb: np.ndarray
    intrinsics: CameraIntrinsics
    depth: np.ndarray
    confidence: np.ndarray
    timings_ms: Dict[str, float]


# Step 1 is the codec's (one home for message decoding, shared with the core's bag datasets).
decode_image = rosmsg.message_to_rgb


def intrinsics_for(width: int, height: int, info: Any = None,
                   fallback: Optional[CameraIntrinsics] = None) -> CameraIntrinsics:
    """
    Intrinsics of a ``width`` x ``height`` image.

    A CameraInfo for another resolution of the same camera is rescaled (pixel-centre convention);
    without one, ``fallback`` (rescaled the same way) is used.

    :param width: image width
    :param height: image height
    :param info: a CameraInfo-like object, or None
    :param fallback: intrinsics to use when ``info`` is None
    :return: validated intrinsics for ``width`` x ``height``
    :raises ConversionError: for an unusable CameraInfo, or when there is neither
    """
    if info is not None:
        k = rosmsg.camera_info_to_intrinsics(info)
    elif fallback is not None:
        k = fallback
    else:
        raise ConversionError('no camera intrinsics: no CameraInfo and no fallback intrinsics')
    if (k.width, k.height) != (width, height):
        k = k.scaled(width, height)
    return k.validate()


def estimate(estimator: DepthEstimator, rgb: np.ndarray,
             intrinsics: CameraIntrinsics) -> FrameDepth:
    """
    Run the estimator on one image.

    :param estimator: any :class:`DepthEstimator`
    :param rgb: H x W x 3 uint8 RGB
    :param intrinsics: intrinsics of ``rgb``
    :return: the frame's depth and confidence
    :raises ValueError: for an unusable image or intrinsics (from the estimator)
    """
    result = estimator.predict(rgb, intrinsics)
    h, w = rgb.shape[:2]
    if result.depth.shape != (h, w) or result.confidence.shape != (h, w):
        raise ValueError(f'estimator returned depth {result.depth.shape} and confidence '
                         f'{result.confidence.shape} for a {w}x{h} image')
    return FrameDepth(rgb=rgb, intrinsics=intrinsics,
                      depth=np.asarray(result.depth, dtype=np.float32),
                      confidence=np.asarray(result.confidence, dtype=np.float32),
                      timings_ms=dict(result.timings_ms))


def estimate_batch(estimator: DepthEstimator, rgbs: List[np.ndarray],
                   intrinsics: List[CameraIntrinsics]) -> List[FrameDepth]:
    """
    Run the estimator on several images of one size in one call (``predict_batch``).

    :param estimator: any :class:`DepthEstimator`
    :param rgbs: H x W x 3 uint8 RGB images, all of one size
    :param intrinsics: one CameraIntrinsics per image
    :return: each frame's depth and confidence, in order
    :raises ValueError: for unusable images or intrinsics, several sizes, a model that takes
        one image per call (from the estimator), or results that do not fit the images
    """
    results = estimator.predict_batch(rgbs, intrinsics)
    if len(results) != len(rgbs):
        raise ValueError(f'estimator returned {len(results)} results for {len(rgbs)} images')
    frames = []
    for rgb, k, result in zip(rgbs, intrinsics, results):
        h, w = rgb.shape[:2]
        if result.depth.shape != (h, w) or result.confidence.shape != (h, w):
            raise ValueError(f'estimator returned depth {result.depth.shape} and confidence '
                             f'{result.confidence.shape} for a {w}x{h} image')
        frames.append(FrameDepth(rgb=rgb, intrinsics=k,
                                 depth=np.asarray(result.depth, dtype=np.float32),
                                 confidence=np.asarray(result.confidence, dtype=np.float32),
                                 timings_ms=dict(result.timings_ms)))
    return frames


def gate_depth(depth: np.ndarray, confidence: np.ndarray, min_depth: float, max_depth: float,
               min_confidence: float = 0.0) -> np.ndarray:
    """
    Invalidate (NaN) depth outside ``[min_depth, max_depth]`` or below ``min_confidence``.

    Applied before publishing, so the depth image, the point cloud and a cloud that
    depth_image_proc would compute from the published depth all agree.

    :param depth: H x W float32 metres, NaN invalid
    :param confidence: H x W float32 in [0, 1]
    :param min_depth: metres
    :param max_depth: metres
    :param min_confidence: 0..1
    :return: H x W float32 copy with NaN where invalid
    """
    d = np.asarray(depth, dtype=np.float32)
    # Compare in float32: the model clips depth to float32(min_depth), which can lie just below
    # the float64 bound (float32(0.7) < 0.7), and a clipped pixel must stay valid.
    lo, hi = np.float32(min_depth), np.float32(max_depth)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(d) & (d >= lo) & (d <= hi)
        if min_confidence > 0.0:
            valid &= np.asarray(confidence) >= min_confidence
    return np.where(valid, d, np.float32(np.nan)).astype(np.float32, copy=False)


def gate(frame: 'FrameDepth', spec: Any, options: OutputOptions) -> 'FrameDepth':
    """
    Apply the published depth range and confidence threshold to a frame.

    :param frame: the estimate
    :param spec: the model's ``ModelSpec`` (its range fills the bounds left at 0)
    :param options: the output options
    :return: the frame with gated depth (a relative output: the confidence threshold only)
    """
    if options.relative_output or not getattr(spec, 'is_metric', True):
        lo, hi = -np.inf, np.inf
    else:
        lo, hi = options.depth_range(spec.min_depth, spec.max_depth)
    return replace(frame, depth=gate_depth(frame.depth, frame.confidence, lo, hi,
                                           options.min_confidence))


def colorized(depth: np.ndarray, options: OutputOptions) -> np.ndarray:
    """
    Colourise depth as the ``depth/colorized`` output does (fixed metric range, bgr8).

    :param depth: H x W float32 metres, NaN invalid
    :param options: colormap, range and legend
    :return: H x W x 3 uint8 BGR
    """
    return colorize_depth(depth, options.colorized_min_depth, options.colorized_max_depth,
                          legend=options.colorized_legend,
                          colormap=getattr(cv2, 'COLORMAP_' + options.colormap.upper()))


def output_fields(frame: 'FrameDepth', info: Any, options: OutputOptions,
                  keys: Iterable[str],
                  cloud_buffer: Optional['rosmsg.CloudBuffer'] = None
                  ) -> Dict[str, Dict[str, Any]]:
    """
    Field dicts of the wanted output messages of one (gated) frame; all built before any is used.

    :param frame: the gated frame
    :param info: the CameraInfo the intrinsics came from, or None (fallback intrinsics)
    :param options: the output options
    :param keys: output keys (of :func:`output_topics`)
    :param cloud_buffer: build the point cloud in place in this reused buffer (the node)
    :return: key -> fields (:func:`rosmsg.fill`-ready; the caller adds the header)
    """
    builders = {
        'depth': lambda: depth_fields(frame, options.depth_encoding),
        'depth_camera_info': lambda: camera_info_fields(frame, info),
        'points': lambda: points_fields(frame, options.point_stride, options.points_rgb,
                                        cloud_buffer),
        'confidence': lambda: confidence_fields(frame),
        'colorized': lambda: rosmsg.numpy_to_image_fields(colorized(frame.depth, options),
                                                          'bgr8'),
    }
    return {key: builders[key]() for key in keys}


def depth_fields(frame: FrameDepth, encoding: str = '32FC1') -> Dict[str, Any]:
    """Image fields of the depth output (``32FC1`` metres NaN invalid, or ``16UC1`` mm)."""
    return rosmsg.depth_to_image_fields(frame.depth, encoding)


def confidence_fields(frame: FrameDepth) -> Dict[str, Any]:
    """Image fields of the confidence output (``32FC1``, 0..1, 0 where depth is invalid)."""
    return rosmsg.numpy_to_image_fields(frame.confidence, '32FC1')


def camera_info_fields(frame: FrameDepth, info: Any = None) -> Dict[str, Any]:
    """
    Camera info fields of the depth image (same size as the input image).

    :param frame: the frame
    :param info: the CameraInfo the intrinsics came from (its distortion, R, P are kept), or
        None when fallback intrinsics were used (an ideal pinhole is described)
    :return: see :func:`rosmsg.scaled_camera_info_fields`
    """
    if info is None:
        return rosmsg.intrinsics_to_camera_info_fields(frame.intrinsics)
    return rosmsg.scaled_camera_info_fields(info, frame.intrinsics.width,
                                            frame.intrinsics.height)


def points_fields(frame: FrameDepth, stride: int = 1, colour: bool = True,
                  buffer: Optional[rosmsg.CloudBuffer] = None) -> Dict[str, Any]:
    """
    PointCloud2 fields: the organised cloud of the depth, coloured by the input image.

    :param frame: the frame
    :param stride: keep every ``stride``-th row and column
    :param colour: add the ``rgb`` field
    :param buffer: build the cloud in place in this reused buffer (the node): ``data`` is then
        the buffer's ``array.array``, valid until the buffer's next use; the bytes are the
        same as without it (a new ``bytes`` object)
    :return: see :func:`rosmsg.pointcloud2_fields`
    """
    rgb = frame.rgb[::stride, ::stride] if colour else None
    if buffer is None:
        xyz = depth_to_points(frame.depth, frame.intrinsics, stride)
        return rosmsg.pointcloud2_fields(xyz, rgb)
    height, width = frame.depth[::stride, ::stride].shape
    words = buffer.points(height, width, colour)
    depth_to_points(frame.depth, frame.intrinsics, stride, out=words[..., :3])
    if rgb is not None:
        buffer.store_rgb(rgb)
    return buffer.fields()
