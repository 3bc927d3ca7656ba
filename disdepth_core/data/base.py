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
Dataset base class and the sample format shared by every dataset.

A dataset loads a :class:`Frame` (RGB uint8, metric depth, intrinsics) through the template hook
:meth:`DepthDataset.load_frame`; :meth:`DepthDataset.__getitem__` then applies the optional
augmentation (:mod:`disdepth_core.data.augment`) and an optional resize to a fixed size, and
returns a dict sample of **numpy** arrays (``torch.utils.data.default_collate`` turns them into
tensors, so this module needs no torch):

==============  ======================  ================================================
key             type                    meaning
==============  ======================  ================================================
``image``       float32 3 x H x W       RGB in [0, 1] (the network input convention)
``depth``       float32 1 x H x W       metric z-depth in metres, 0 where invalid
``valid_mask``  bool 1 x H x W          finite and ``min_depth < depth <= max_depth``
``K``           float32 3 x 3           intrinsics of *this* (cropped/resized) image
``crop``        int64 [t, l, H0, W0]    where the image sits in the original frame
                                        (for the standard evaluation crops)
``index``       int                     dataset index
``name``        str                     frame name (file stem or generator id)
==============  ======================  ================================================

Datasets without ground truth (``unlabeled``) return frames with ``depth=None``; their samples have
no ``depth`` / ``valid_mask`` keys.  Depth stays metric: training turns it into canonical-camera
targets with :func:`disdepth_core.geometry.canonical_depth_scale`.

Augmentation is deterministic: the random generator of item ``i`` is seeded from
``(seed, epoch, i)``; call :meth:`DepthDataset.set_epoch` at the start of each epoch (before the
DataLoader iterator is created; not seen by ``persistent_workers``).
"""

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional, Tuple

import cv2
import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.transforms import check_rgb
from disdepth_core.transforms import resize_image


@dataclass
class Frame:
    """
    One RGB-D frame before conversion to a sample.

    :param rgb: H x W x 3 uint8, RGB order
    :param depth: H x W float32 metres (0 = invalid), or None when there is no ground truth
    :param intrinsics: intrinsics of ``rgb``
    :param name: frame name
    :param offset: (top, left) of this frame inside the original frame
    :param full_hw: (height, width) of the original frame (None: same as ``rgb``)
    """

    rgb: np.ndarray
    depth: Optional[np.ndarray]
    intrinsics: CameraIntrinsics
    name: str = ''
    offset: Tuple[int, int] = (0, 0)
    full_hw: Optional[Tuple[int, int]] = None

    @property
    def hw(self) -> Tuple[int, int]:
        """(height, width) of the frame."""
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))

    @property
    def original_hw(self) -> Tuple[int, int]:
        """(height, width) of the original frame the offset refers to."""
        return self.full_hw if self.full_hw is not None else self.hw

    def check(self) -> 'Frame':
        """
        Validate shapes and types.

        :return: self
        :raises ValueError: naming the problem
        """
        check_rgb(self.rgb)
        if self.depth is not None:
            if self.depth.shape != self.rgb.shape[:2]:
                raise ValueError(f'frame {self.name!r}: depth is {self.depth.shape[1]}x'
                                 f'{self.depth.shape[0]} but the image is {self.rgb.shape[1]}x'
                                 f'{self.rgb.shape[0]}')
            if self.depth.dtype != np.float32:
                raise ValueError(f'frame {self.name!r}: depth must be float32 metres, got '
                                 f'{self.depth.dtype}')
        if (self.intrinsics.height, self.intrinsics.width) != self.hw:
            k = self.intrinsics
            raise ValueError(f'frame {self.name!r}: intrinsics are for {k.width}x{k.height} but '
                             f'the image is {self.hw[1]}x{self.hw[0]}')
        return self


def crop_frame(frame: Frame, top: int, left: int, height: int, width: int) -> Frame:
    """
    Crop a frame (image, depth, intrinsics and crop bookkeeping stay consistent).

    :param frame: the frame
    :param top: first row
    :param left: first column
    :param height: crop height
    :param width: crop width
    :return: the cropped frame
    :raises ValueError: if the window does not fit
    """
    h, w = frame.hw
    if top < 0 or left < 0 or height <= 0 or width <= 0 or top + height > h or left + width > w:
        raise ValueError(f'crop {width}x{height} at ({left}, {top}) does not fit the '
                         f'{w}x{h} frame {frame.name!r}')
    depth = None if frame.depth is None else frame.depth[top:top + height, left:left + width]
    return replace(frame, rgb=frame.rgb[top:top + height, left:left + width],
                   depth=depth, intrinsics=frame.intrinsics.cropped(left, top, width, height),
                   offset=(frame.offset[0] + top, frame.offset[1] + left),
                   full_hw=frame.original_hw)


def resize_depth_nearest(depth: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    """
    Resize a (possibly sparse) depth map with nearest-neighbour sampling (no mixed values).

    :param depth: H x W float32 metres
    :param hw: target (height, width)
    :return: resized float32 map
    """
    h, w = hw
    if depth.shape == (h, w):
        return depth
    return cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)


def resize_frame(frame: Frame, hw: Tuple[int, int]) -> Frame:
    """
    Resize a frame to ``hw``: image via :func:`transforms.resize_image`, depth nearest, K scaled.

    Depth values are unchanged (a resize changes the focal length in pixels, not the distance).

    :param frame: the frame
    :param hw: target (height, width)
    :return: the resized frame (the crop bookkeeping is scaled along)
    """
    h, w = hw
    if frame.hw == (h, w):
        return frame
    sy, sx = h / frame.hw[0], w / frame.hw[1]
    oh, ow = frame.original_hw
    depth = None if frame.depth is None else resize_depth_nearest(frame.depth, hw)
    return replace(frame, rgb=resize_image(frame.rgb, hw), depth=depth,
                   intrinsics=frame.intrinsics.scaled(w, h),
                   offset=(int(round(frame.offset[0] * sy)), int(round(frame.offset[1] * sx))),
                   full_hw=(int(round(oh * sy)), int(round(ow * sx))))


def rgb_to_image(rgb: np.ndarray) -> np.ndarray:
    """
    Turn H x W x 3 uint8 RGB into the 3 x H x W float32 [0, 1] network convention (no resize).

    :param rgb: H x W x 3 uint8
    :return: 3 x H x W float32
    """
    chw = np.ascontiguousarray(check_rgb(rgb).transpose(2, 0, 1), dtype=np.float32)
    chw *= np.float32(1.0 / 255.0)
    return chw


def image_to_rgb(image: np.ndarray) -> np.ndarray:
    """
    Inverse of :func:`rgb_to_image` (exact for images that came from uint8).

    :param image: 3 x H x W float in [0, 1] (numpy or anything ``np.asarray`` accepts)
    :return: H x W x 3 uint8
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise ValueError(f'image must be 3 x H x W, got shape {arr.shape}')
    return np.ascontiguousarray(np.clip(np.rint(arr.transpose(1, 2, 0) * 255.0), 0, 255)
                                .astype(np.uint8))


def valid_depth_mask(depth: np.ndarray, min_depth: float,
                     max_depth: Optional[float]) -> np.ndarray:
    """
    Pixels with usable ground truth: finite and ``min_depth < depth <= max_depth``.

    :param depth: float depth in metres
    :param min_depth: exclusive lower bound
    :param max_depth: inclusive upper bound, or None for no cap
    :return: bool mask of the same shape
    """
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(depth) & (depth > min_depth)
        if max_depth is not None:
            mask &= depth <= max_depth
    return mask


def intrinsics_from_sample(sample: Dict[str, Any]) -> CameraIntrinsics:
    """
    Rebuild :class:`CameraIntrinsics` from a sample's ``K`` and image size.

    :param sample: a dict sample (unbatched)
    :return: the intrinsics
    """
    image = np.asarray(sample['image'])
    return CameraIntrinsics.from_matrix(np.asarray(sample['K']), int(image.shape[-1]),
                                        int(image.shape[-2]))


def frame_to_sample(frame: Frame, index: int, min_depth: float,
                    max_depth: Optional[float]) -> Dict[str, Any]:
    """
    Convert a frame into the dict sample documented in this module.

    :param frame: the frame
    :param index: dataset index
    :param min_depth: lower bound for ``valid_mask``
    :param max_depth: upper bound for ``valid_mask`` (None: no cap)
    :return: the sample dict
    """
    oh, ow = frame.original_hw
    sample: Dict[str, Any] = {
        'image': rgb_to_image(frame.rgb),
        'K': frame.intrinsics.matrix().astype(np.float32),
        'crop': np.array([frame.offset[0], frame.offset[1], oh, ow], dtype=np.int64),
        'index': int(index),
        'name': frame.name,
    }
    if frame.depth is not None:
        mask = valid_depth_mask(frame.depth, min_depth, max_depth)
        sample['depth'] = np.where(mask, frame.depth, np.float32(0.0))[None].astype(np.float32)
        sample['valid_mask'] = mask[None]
    return sample


class DepthDataset:
    """
    Base class of every dataset (map-style: ``len()`` and ``[i]``; usable by a torch DataLoader).

    Subclasses implement :meth:`__len__` and :meth:`load_frame`, and set the class attributes
    ``min_depth`` / ``max_depth`` (training validity caps and the default evaluation caps; a
    ``max_depth`` of None means "take it from the model") and ``eval_crop`` (the standard
    evaluation crop name for :func:`disdepth_core.metrics.crop_mask`, or None).

    :param augment: callable ``(frame, rng) -> frame`` (e.g. :class:`augment.Augmenter`), or None
    :param size: (height, width) every sample is resized to after augmentation, or None
    :param seed: seed of the per-item augmentation random generators
    """

    min_depth: float = 1e-3
    max_depth: Optional[float] = None
    eval_crop: Optional[str] = None

    def __init__(self, augment: Optional[Callable[[Frame, np.random.Generator], Frame]] = None,
                 size: Optional[Tuple[int, int]] = None, seed: int = 0) -> None:
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if size[0] <= 0 or size[1] <= 0:
                raise ValueError(f'dataset size must be positive (height, width), got {size}')
        self.augment = augment
        self.size = size
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        """Return the number of frames."""
        raise NotImplementedError

    def load_frame(self, index: int) -> Frame:
        """
        Load frame ``index`` (0 <= index < len) without augmentation.

        :param index: frame index
        :return: the frame
        """
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation random stream of this epoch."""
        self.epoch = int(epoch)

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f'{type(self).__name__}: index {index} out of range for {n} frames')
        return index % n

    def get_frame(self, index: int) -> Frame:
        """
        Return the frame after augmentation and resize (what :meth:`__getitem__` converts).

        :param index: frame index
        :return: the processed frame
        """
        index = self._check_index(int(index))
        return self.transform_frame(self.load_frame(index).check(), index)

    def transform_frame(self, frame: Frame, index: int) -> Frame:
        """
        Apply this dataset's augmentation (random stream of item ``index``) and resize.

        Deterministic: two frames of the same size and intrinsics get the same geometric
        transform for the same ``index`` and epoch, whatever their depth maps hold (how a
        teacher's map is augmented exactly like its image, :mod:`disdepth_core.training.
        teacher_labels`).

        :param frame: a frame of item ``index`` (e.g. from :meth:`load_frame`)
        :param index: the item index (seeds the augmentation)
        :return: the processed frame
        """
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(index)])
            frame = self.augment(frame, rng)
        if self.size is not None:
            frame = resize_frame(frame, self.size)
        return frame

    def __getitem__(self, index: int) -> Dict[str, Any]:
        """Return sample ``index`` (see the module docstring for the keys)."""
        index = self._check_index(int(index))
        return frame_to_sample(self.get_frame(index), index, self.min_depth, self.max_depth)
