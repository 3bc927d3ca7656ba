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
3. :func:`estimate` runs the estimator;
4. :func:`depth_fields`, :func:`confidence_fields`, :func:`camera_info_fields` and
   :func:`points_fields` give the field dicts of the output messages (see
   :mod:`disdepth_ros.conversions`); the caller adds the input header.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_core.inference.base import DepthEstimator
from disdepth_ros import conversions
from disdepth_ros.conversions import ConversionError


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


is_compressed = conversions.is_compressed_image


def decode_image(msg: Any) -> np.ndarray:
    """
    Decode an Image or CompressedImage message into H x W x 3 uint8 RGB.

    :param msg: an Image-like (see :func:`conversions.image_to_rgb`) or CompressedImage-like
        object (see :func:`conversions.compressed_image_to_rgb`)
    :return: H x W x 3 uint8, RGB order
    :raises ConversionError: for an unsupported encoding, a depth payload or undecodable data
    """
    if is_compressed(msg):
        return conversions.compressed_image_to_rgb(msg)
    return conversions.image_to_rgb(msg)


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
        k = conversions.camera_info_to_intrinsics(info)
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


def depth_fields(frame: FrameDepth, encoding: str = '32FC1') -> Dict[str, Any]:
    """Image fields of the depth output (``32FC1`` metres NaN invalid, or ``16UC1`` mm)."""
    return conversions.depth_to_image_fields(frame.depth, encoding)


def confidence_fields(frame: FrameDepth) -> Dict[str, Any]:
    """Image fields of the confidence output (``32FC1``, 0..1, 0 where depth is invalid)."""
    return conversions.numpy_to_image_fields(frame.confidence, '32FC1')


def camera_info_fields(frame: FrameDepth, info: Any = None) -> Dict[str, Any]:
    """
    Camera info fields of the depth image (same size as the input image).

    :param frame: the frame
    :param info: the CameraInfo the intrinsics came from (its distortion, R, P are kept), or
        None when fallback intrinsics were used (an ideal pinhole is described)
    :return: see :func:`conversions.scaled_camera_info_fields`
    """
    if info is None:
        return conversions.intrinsics_to_camera_info_fields(frame.intrinsics)
    return conversions.scaled_camera_info_fields(info, frame.intrinsics.width,
                                                 frame.intrinsics.height)


def points_fields(frame: FrameDepth, stride: int = 1, colour: bool = True,
                  buffer: Optional[conversions.CloudBuffer] = None) -> Dict[str, Any]:
    """
    PointCloud2 fields: the organised cloud of the depth, coloured by the input image.

    :param frame: the frame
    :param stride: keep every ``stride``-th row and column
    :param colour: add the ``rgb`` field
    :param buffer: build the cloud in place in this reused buffer (the node): ``data`` is then
        the buffer's ``array.array``, valid until the buffer's next use; the bytes are the
        same as without it (a new ``bytes`` object)
    :return: see :func:`conversions.pointcloud2_fields`
    """
    rgb = frame.rgb[::stride, ::stride] if colour else None
    if buffer is None:
        xyz = depth_to_points(frame.depth, frame.intrinsics, stride)
        return conversions.pointcloud2_fields(xyz, rgb)
    height, width = frame.depth[::stride, ::stride].shape
    words = buffer.points(height, width, colour)
    depth_to_points(frame.depth, frame.intrinsics, stride, out=words[..., :3])
    if rgb is not None:
        buffer.store_rgb(rgb)
    return buffer.fields()
