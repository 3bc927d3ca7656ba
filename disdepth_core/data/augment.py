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
Training augmentation that keeps image, metric depth and intrinsics consistent.

Order (BTS / AdaBins family): random resize (scale) -> small rotation -> random crop -> horizontal
flip -> colour jitter.

* **Scale** ``s``: image (area/bilinear) and depth (nearest) resized by ``s``, K scaled
  (``f * s``, ``c -> (c + 0.5) s - 0.5``).  Depth values are unchanged: zooming changes the focal
  length in pixels, which the camera-aware canonical scale absorbs (the training side divides the
  depth target by :func:`disdepth_core.geometry.canonical_depth_scale`'s inverse using the new K).
* **Rotation** by up to ``rotate_deg`` about the **principal point** (image bilinear, depth
  nearest, border 0 = invalid).  For square pixels this is exactly a camera roll about the optical
  axis, so z-depth and K are unchanged (for ``fx != fy`` it is a close approximation).
* **Crop**: a random ``crop_hw`` window, K shifted (the scale is raised if the image is smaller).
* **Flip**: with probability ``hflip_prob``, mirror image and depth and set ``cx' = W - 1 - cx``.
* **Colour** (probability ``color_prob``, on [0, 1] floats, then back to uint8): gamma ``x ** g``,
  brightness ``x * b``, per-channel gains ``x * c``, clipped.  BTS/AdaBins ranges: gamma
  U(0.9, 1.1), brightness U(0.75, 1.25) on NYU and U(0.9, 1.1) on KITTI, colours U(0.9, 1.1).

Deterministic: everything is drawn from the generator passed in (the datasets seed it from
``(seed, epoch, index)``).  Evaluation and the node use no augmentation.
"""

from dataclasses import dataclass, replace
import math
from typing import Optional, Tuple

import cv2
import numpy as np

from disdepth_core.data.base import crop_frame
from disdepth_core.data.base import Frame
from disdepth_core.data.base import resize_frame
from disdepth_core.geometry import CameraIntrinsics


@dataclass(frozen=True)
class AugmentConfig:
    """
    Augmentation settings (defaults: the NYU recipe without a crop).

    :param crop_hw: random crop (height, width), or None
    :param scale_range: random resize factor range (1, 1 = off)
    :param hflip_prob: probability of a horizontal flip
    :param rotate_deg: maximum absolute rotation in degrees (0 = off)
    :param color_prob: probability of colour jitter
    :param gamma_range: gamma range
    :param brightness_range: brightness gain range
    :param color_range: per-channel gain range
    """

    crop_hw: Optional[Tuple[int, int]] = None
    scale_range: Tuple[float, float] = (1.0, 1.0)
    hflip_prob: float = 0.5
    rotate_deg: float = 2.5
    color_prob: float = 0.5
    gamma_range: Tuple[float, float] = (0.9, 1.1)
    brightness_range: Tuple[float, float] = (0.75, 1.25)
    color_range: Tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        """Validate the ranges."""
        for name in ('scale_range', 'gamma_range', 'brightness_range', 'color_range'):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f'augment {name} must satisfy 0 < low <= high, got {(lo, hi)}')
        for name in ('hflip_prob', 'color_prob'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'augment {name} must be in [0, 1]')
        if self.rotate_deg < 0:
            raise ValueError(f'augment rotate_deg must be >= 0, got {self.rotate_deg}')
        if self.crop_hw is not None and (self.crop_hw[0] <= 0 or self.crop_hw[1] <= 0):
            raise ValueError(f'augment crop_hw must be positive, got {self.crop_hw}')

    @classmethod
    def nyu(cls, crop_hw: Optional[Tuple[int, int]] = (416, 544)) -> 'AugmentConfig':
        """Return the AdaBins NYU recipe (crop 416 x 544, rotate 2.5 deg, brightness 0.75-1.25)."""
        return cls(crop_hw=crop_hw, rotate_deg=2.5, brightness_range=(0.75, 1.25))

    @classmethod
    def kitti(cls, crop_hw: Optional[Tuple[int, int]] = (352, 704)) -> 'AugmentConfig':
        """Return the AdaBins KITTI recipe (crop 352 x 704, rotation 1 deg, brightness 0.9-1.1)."""
        return cls(crop_hw=crop_hw, rotate_deg=1.0, brightness_range=(0.9, 1.1))


def rotate_frame(frame: Frame, degrees: float) -> Frame:
    """
    Rotate image and depth by ``degrees`` (counter-clockwise on screen) about the principal point.

    :param frame: the frame
    :param degrees: angle
    :return: rotated frame with the same intrinsics (pixels rotated in from outside are 0)
    """
    if degrees == 0:
        return frame
    k = frame.intrinsics
    m = cv2.getRotationMatrix2D((k.cx, k.cy), degrees, 1.0)
    h, w = frame.hw
    rgb = cv2.warpAffine(frame.rgb, m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    depth = None
    if frame.depth is not None:
        depth = cv2.warpAffine(frame.depth, m, (w, h), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return replace(frame, rgb=rgb, depth=depth)


def flip_frame(frame: Frame) -> Frame:
    """
    Mirror a frame left-right; ``cx' = W - 1 - cx`` (the pixel-centre convention).

    :param frame: the frame
    :return: flipped frame
    """
    k = frame.intrinsics
    h, w = frame.hw
    depth = None if frame.depth is None else np.ascontiguousarray(frame.depth[:, ::-1])
    oh, ow = frame.original_hw
    return replace(frame, rgb=np.ascontiguousarray(frame.rgb[:, ::-1]), depth=depth,
                   intrinsics=CameraIntrinsics(k.fx, k.fy, w - 1 - k.cx, k.cy, w, h),
                   offset=(frame.offset[0], ow - frame.offset[1] - w))


def color_jitter(rgb: np.ndarray, gamma: float, brightness: float,
                 colors: Tuple[float, float, float]) -> np.ndarray:
    """
    BTS-style colour augmentation on a uint8 RGB image.

    :param rgb: H x W x 3 uint8
    :param gamma: exponent applied to [0, 1] values
    :param brightness: global gain
    :param colors: per-channel gains (R, G, B)
    :return: augmented uint8 image
    """
    x = rgb.astype(np.float32) / np.float32(255.0)
    x = np.power(x, np.float32(gamma)) * np.float32(brightness)
    x = x * np.asarray(colors, np.float32)[None, None]
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


class Augmenter:
    """
    Callable ``(frame, rng) -> frame`` for :class:`disdepth_core.data.base.DepthDataset`.

    :param config: the settings
    """

    def __init__(self, config: AugmentConfig = AugmentConfig()) -> None:
        self.config = config

    def __call__(self, frame: Frame, rng: np.random.Generator) -> Frame:
        """Augment one frame with random draws from ``rng``."""
        c = self.config
        h, w = frame.hw
        s = float(rng.uniform(*c.scale_range))
        if c.crop_hw is not None:
            s = max(s, c.crop_hw[0] / h, c.crop_hw[1] / w)
        if s != 1.0:
            frame = resize_frame(frame, (max(1, int(math.ceil(h * s - 1e-9))),
                                         max(1, int(math.ceil(w * s - 1e-9)))))
        if c.rotate_deg > 0:
            frame = rotate_frame(frame, float(rng.uniform(-c.rotate_deg, c.rotate_deg)))
        if c.crop_hw is not None:
            ch, cw = c.crop_hw
            hh, ww = frame.hw
            top = int(rng.integers(0, hh - ch + 1))
            left = int(rng.integers(0, ww - cw + 1))
            frame = crop_frame(frame, top, left, ch, cw)
        if rng.random() < c.hflip_prob:
            frame = flip_frame(frame)
        if rng.random() < c.color_prob:
            gamma = float(rng.uniform(*c.gamma_range))
            brightness = float(rng.uniform(*c.brightness_range))
            r, g, b = (float(x) for x in rng.uniform(*c.color_range, size=3))
            colors = (r, g, b)
            frame = replace(frame, rgb=color_jitter(frame.rgb, gamma, brightness, colors))
        return frame
