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
The one preprocessing definition, shared by training, export, evaluation, the node and bag tools.

A DisDepth network takes ``image``: float32, N x 3 x H x W, **RGB in [0, 1]**.  ImageNet mean/std
normalisation is *inside* the network (a non-persistent buffer of the model), so it is folded into
every exported ONNX graph and no consumer can get it wrong.  Preprocessing is therefore only:
colour order -> resize to the network size -> scale to [0, 1] -> CHW.  Outputs are depth at network
resolution for the canonical camera (see :mod:`disdepth_core.geometry`), resized back to the image
with :func:`resize_depth`.

numpy + OpenCV only: importable on a robot without torch.  OpenCV is needed only when an image or
a depth map is actually resized; without it the module still imports (the torch engine's
``device_processing`` path resizes with torch), and a resize raises a clear error.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Tuple, Union

import numpy as np

try:
    import cv2
except ImportError:  # resizing then needs the torch engine's device_processing path
    cv2 = None  # type: ignore[assignment]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """
    How an RGB image becomes the network input.

    :param height: network input height (a multiple of ``multiple``)
    :param width: network input width (a multiple of ``multiple``)
    :param mean: per-channel mean the *model* subtracts (recorded in model metadata)
    :param std: per-channel std the *model* divides by (recorded in model metadata)
    :param multiple: both sides must be multiples of this (32 for our CNNs, the patch size 14
        for DINOv2-based networks)
    """

    height: int
    width: int
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    multiple: int = 32

    def __post_init__(self) -> None:
        """Validate the network size."""
        if isinstance(self.multiple, bool) or not isinstance(self.multiple, int) \
                or self.multiple < 1:
            raise ValueError(f'network input multiple must be a positive integer, got '
                             f'{self.multiple!r}')
        for name in ('height', 'width'):
            value = getattr(self, name)
            if value <= 0 or value % self.multiple:
                raise ValueError(f'network input {name} must be a positive multiple of '
                                 f'{self.multiple}, got {value}')

    @property
    def hw(self) -> Tuple[int, int]:
        """Network input (height, width)."""
        return (self.height, self.width)


def _opencv() -> Any:
    """Return the cv2 module, or raise a clear error when OpenCV is not installed."""
    if cv2 is None:
        raise RuntimeError('resizing on the CPU needs OpenCV: pip install opencv-python-headless '
                           '(or run the torch engine with device_processing=True, which resizes '
                           'with torch)')
    return cv2


def resize_image(rgb: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """
    Resize an H x W x 3 uint8 image to ``hw`` (area filter when shrinking, bilinear otherwise).

    :param rgb: H x W x 3 uint8
    :param hw: target (height, width)
    :return: resized copy (or the input itself when the size already matches)
    """
    h, w = hw
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = h < rgb.shape[0] or w < rgb.shape[1]
    ocv = _opencv()
    return ocv.resize(rgb, (w, h), interpolation=ocv.INTER_AREA if shrink else ocv.INTER_LINEAR)


def read_rgb(path: Union[str, Path]) -> np.ndarray:
    """
    Read an 8-bit image file (PNG, JPEG...; grey, colour or with alpha) as H x W x 3 uint8 RGB.

    The one image-file reader: RGB-D folders, unlabeled folders, ``disdepth infer`` and the INT8
    calibration frames all go through it.

    :param path: image file
    :return: the image, RGB order
    :raises ValueError: if it cannot be read or is not 8-bit
    """
    ocv = _opencv()
    raw = ocv.imread(str(path), ocv.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'cannot read image {path} (missing, unreadable or not an image file)')
    if raw.dtype != np.uint8:
        raise ValueError(f'{path}: colour images must be 8-bit, got {raw.dtype}')
    if raw.ndim == 2:
        return ocv.cvtColor(raw, ocv.COLOR_GRAY2RGB)
    if raw.shape[2] == 4:
        return ocv.cvtColor(raw, ocv.COLOR_BGRA2RGB)
    return ocv.cvtColor(raw, ocv.COLOR_BGR2RGB)


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Check that ``rgb`` is a non-empty H x W x 3 uint8 array.

    :raises ValueError: naming what is wrong
    """
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f'image must be a numpy array, got {type(rgb).__name__}')
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'image must be H x W x 3 (RGB), got shape {rgb.shape}')
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f'image is empty ({rgb.shape[1]}x{rgb.shape[0]})')
    if rgb.dtype != np.uint8:
        raise ValueError(f'image must be uint8, got {rgb.dtype}')
    return rgb


def to_network_input(rgb: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """
    Turn one RGB uint8 image into the network input tensor.

    :param rgb: H x W x 3 uint8, RGB order
    :param prep: the model's preprocessing
    :return: 1 x 3 x H_net x W_net float32 in [0, 1], C-contiguous
    """
    small = resize_image(check_rgb(rgb), prep.hw)
    chw = np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32)
    chw *= np.float32(1.0 / 255.0)
    return chw[None]


def resize_depth(depth: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """
    Resize a float depth (or confidence) map to ``hw`` with bilinear interpolation.

    :param depth: h x w float32
    :param hw: target (height, width)
    :return: H x W float32
    """
    h, w = hw
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape == (h, w):
        return depth
    ocv = _opencv()
    return ocv.resize(depth, (w, h), interpolation=ocv.INTER_LINEAR)


def fit_network_size(image_hw: Tuple[int, int], max_side: int, multiple: int = 32
                     ) -> Tuple[int, int]:
    """
    Network (height, width) that keeps the image aspect ratio with the long side ``max_side``.

    :param image_hw: original (height, width)
    :param max_side: long side of the network input, rounded to ``multiple``
    :param multiple: both sides are multiples of this
    :return: (height, width)
    """
    h, w = image_hw
    s = max_side / max(h, w)
    return (max(multiple, int(round(h * s / multiple)) * multiple),
            max(multiple, int(round(w * s / multiple)) * multiple))
