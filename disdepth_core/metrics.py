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
Standard monocular-depth metrics, pure numpy functions (the AdaBins / BTS evaluation protocol).

Per image (:func:`compute_metrics`): the prediction is resized to the ground-truth size if
needed (bilinear), NaN -> ``min_depth``, +inf -> ``max_depth``, clipped to
``[min_depth, max_depth]``; valid pixels are ``min_depth < gt < max_depth`` inside the crop;
optionally the prediction is median-scaled to the ground truth (then clipped again).  Then, on the
valid pixels (``thr = max(gt / pred, pred / gt)``, ``e = log pred - log gt``):

=============  ==============================================
``abs_rel``    mean(|gt - pred| / gt)
``sq_rel``     mean((gt - pred)^2 / gt)
``rmse``       sqrt(mean((gt - pred)^2))
``rmse_log``   sqrt(mean((log gt - log pred)^2))
``log10``      mean(|log10 gt - log10 pred|)
``d1,d2,d3``   mean(thr < 1.25^k), k = 1, 2, 3
``silog``      100 * sqrt(mean(e^2) - mean(e)^2)
=============  ==============================================

Datasets are evaluated per image and the metrics averaged over images
(:class:`MetricAccumulator`).  Crops: ``eigen`` (NYU rows 45:471, cols 41:601 of 480 x 640, scaled
proportionally for other sizes), ``garg`` and ``eigen_kitti`` (KITTI, fractions of the full frame),
``none``; :func:`kb_crop_box` gives the KITTI benchmark input crop (352 x 1216, bottom-centred).
"""

from typing import Callable, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from disdepth_core.transforms import resize_depth

METRIC_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'd1', 'd2', 'd3', 'silog')
LOWER_IS_BETTER = frozenset(('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog'))

KB_CROP_HW = (352, 1216)


class NoValidPixelsError(ValueError):
    """An image has no ground-truth pixel inside the depth range and crop."""


def eigen_crop_mask(height: int, width: int) -> np.ndarray:
    """
    NYU Eigen crop: rows 45:471, cols 41:601 of 480 x 640, scaled to ``height`` x ``width``.

    :param height: image height
    :param width: image width
    :return: bool mask
    """
    mask = np.zeros((height, width), bool)
    r0, r1 = int(round(45 * height / 480)), int(round(471 * height / 480))
    c0, c1 = int(round(41 * width / 640)), int(round(601 * width / 640))
    mask[r0:r1, c0:c1] = True
    return mask


def garg_crop_mask(height: int, width: int) -> np.ndarray:
    """
    KITTI Garg crop: rows [0.40810811 H, 0.99189189 H), cols [0.03594771 W, 0.96405229 W).

    :param height: full-frame height
    :param width: full-frame width
    :return: bool mask
    """
    mask = np.zeros((height, width), bool)
    mask[int(0.40810811 * height):int(0.99189189 * height),
         int(0.03594771 * width):int(0.96405229 * width)] = True
    return mask


def eigen_kitti_crop_mask(height: int, width: int) -> np.ndarray:
    """
    KITTI Eigen crop: rows [0.3324324 H, 0.91351351 H), cols [0.0359477 W, 0.96405229 W).

    :param height: full-frame height
    :param width: full-frame width
    :return: bool mask
    """
    mask = np.zeros((height, width), bool)
    mask[int(0.3324324 * height):int(0.91351351 * height),
         int(0.0359477 * width):int(0.96405229 * width)] = True
    return mask


def _no_crop(height: int, width: int) -> np.ndarray:
    return np.ones((height, width), bool)


CROPS: Dict[str, Callable[[int, int], np.ndarray]] = {
    'eigen': eigen_crop_mask,
    'garg': garg_crop_mask,
    'eigen_kitti': eigen_kitti_crop_mask,
    'none': _no_crop,
}


def crop_mask(name: Optional[str], height: int, width: int, offset: Tuple[int, int] = (0, 0),
              full_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """
    Return the evaluation crop of a frame that may be a window of a larger original frame.

    The crop is defined on the original frame (``full_hw``) and cut to the window at ``offset``
    (e.g. a KB-cropped KITTI image keeps the Garg crop of the full 375 x 1242 frame).

    :param name: a key of :data:`CROPS`, or None for no crop
    :param height: window height
    :param width: window width
    :param offset: (top, left) of the window in the original frame
    :param full_hw: original (height, width); None means the window is the whole frame
    :return: bool mask of the window
    """
    name = 'none' if name is None else name
    if name not in CROPS:
        raise ValueError(f'unknown evaluation crop {name!r}; choose from {", ".join(CROPS)}')
    fh, fw = full_hw if full_hw is not None else (height, width)
    top, left = int(offset[0]), int(offset[1])
    if top < 0 or left < 0 or top + height > fh or left + width > fw:
        raise ValueError(f'window {width}x{height} at ({left}, {top}) is outside the '
                         f'{fw}x{fh} frame')
    return CROPS[name](fh, fw)[top:top + height, left:left + width]


def kb_crop_box(height: int, width: int) -> Tuple[int, int, int, int]:
    """
    KITTI benchmark crop window: 352 x 1216, bottom-aligned and horizontally centred.

    :param height: image height (>= 352)
    :param width: image width (>= 1216)
    :return: (top, left, 352, 1216)
    """
    ch, cw = KB_CROP_HW
    if height < ch or width < cw:
        raise ValueError(f'KB crop needs at least {cw}x{ch} pixels, got {width}x{height}')
    return (int(height - ch), int((width - cw) / 2), ch, cw)


def kb_crop(array: np.ndarray) -> np.ndarray:
    """
    Apply :func:`kb_crop_box` to an H x W (x C) array.

    :param array: image or depth map
    :return: the 352 x 1216 window (a view)
    """
    top, left, ch, cw = kb_crop_box(array.shape[0], array.shape[1])
    return array[top:top + ch, left:left + cw]


def clamp_prediction(pred: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """
    Replace NaN -> ``min_depth``, +inf -> ``max_depth``, -inf -> ``min_depth``, then clip.

    :param pred: predicted depth
    :param min_depth: lower limit
    :param max_depth: upper limit
    :return: float64 copy
    """
    out = np.nan_to_num(np.asarray(pred, np.float64), nan=min_depth, posinf=max_depth,
                        neginf=min_depth)
    return np.clip(out, min_depth, max_depth)


def compute_errors(gt: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """
    Compute the standard metrics on already-selected, positive depth values.

    :param gt: ground truth (any shape, > 0)
    :param pred: prediction (same shape, > 0)
    :return: dict with the keys of :data:`METRIC_KEYS`
    """
    gt = np.asarray(gt, np.float64).ravel()
    pred = np.asarray(pred, np.float64).ravel()
    if gt.shape != pred.shape:
        raise ValueError(f'gt has {gt.size} values but pred has {pred.size}')
    if gt.size == 0:
        raise NoValidPixelsError('no valid ground-truth pixels to evaluate')
    if np.any(gt <= 0) or np.any(pred <= 0):
        raise ValueError('compute_errors needs positive depths (clamp and mask first)')
    thr = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    log_err = np.log(pred) - np.log(gt)
    silog_var = max(float(np.mean(log_err ** 2) - np.mean(log_err) ** 2), 0.0)
    return {
        'abs_rel': float(np.mean(np.abs(diff) / gt)),
        'sq_rel': float(np.mean(diff ** 2 / gt)),
        'rmse': float(np.sqrt(np.mean(diff ** 2))),
        'rmse_log': float(np.sqrt(np.mean(log_err ** 2))),
        'log10': float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
        'd1': float(np.mean(thr < 1.25)),
        'd2': float(np.mean(thr < 1.25 ** 2)),
        'd3': float(np.mean(thr < 1.25 ** 3)),
        'silog': float(100.0 * np.sqrt(silog_var)),
    }


def evaluation_mask(gt: np.ndarray, min_depth: float, max_depth: float,
                    crop: Union[None, str, np.ndarray] = None) -> np.ndarray:
    """
    Return the pixels that count: finite ``min_depth < gt < max_depth``, inside the crop.

    :param gt: H x W ground truth
    :param min_depth: exclusive lower limit
    :param max_depth: exclusive upper limit
    :param crop: crop name (see :data:`CROPS`), a bool mask, or None
    :return: bool mask
    """
    gt = np.asarray(gt)
    with np.errstate(invalid='ignore'):
        mask = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    if crop is None:
        return mask
    if isinstance(crop, str):
        return mask & crop_mask(crop, gt.shape[0], gt.shape[1])
    crop = np.asarray(crop, bool)
    if crop.shape != gt.shape:
        raise ValueError(f'crop mask shape {crop.shape} differs from gt {gt.shape}')
    return mask & crop


def compute_metrics(gt: np.ndarray, pred: np.ndarray, min_depth: float = 1e-3,
                    max_depth: float = 10.0, crop: Union[None, str, np.ndarray] = None,
                    median_scale: bool = False) -> Dict[str, float]:
    """
    Compute the metrics of one image under the standard protocol (see the module docstring).

    :param gt: H x W metric ground truth (0 / NaN = invalid)
    :param pred: predicted metric depth (any size; resized bilinearly to H x W)
    :param min_depth: lower evaluation limit
    :param max_depth: upper evaluation limit
    :param crop: crop name, bool mask or None
    :param median_scale: scale the prediction by median(gt) / median(pred) on valid pixels
    :return: dict with the keys of :data:`METRIC_KEYS` (plus ``scale`` when median-scaled)
    :raises NoValidPixelsError: when no pixel is valid
    """
    if not 0 < min_depth < max_depth:
        raise ValueError(f'need 0 < min_depth < max_depth, got {min_depth}, {max_depth}')
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 2:
        raise ValueError(f'gt must be H x W, got shape {gt.shape}')
    pred = np.asarray(pred, np.float32)
    if pred.ndim != 2:
        raise ValueError(f'pred must be H x W, got shape {pred.shape}')
    if pred.shape != gt.shape:
        pred = resize_depth(pred, gt.shape)
    pred = clamp_prediction(pred, min_depth, max_depth)
    mask = evaluation_mask(gt, min_depth, max_depth, crop)
    if not mask.any():
        raise NoValidPixelsError('no ground-truth pixel inside the depth range and crop')
    g, p = gt[mask], pred[mask]
    scale = None
    if median_scale:
        scale = float(np.median(g) / np.median(p))
        p = np.clip(p * scale, min_depth, max_depth)
    out = compute_errors(g, p)
    if scale is not None:
        out['scale'] = scale
    return out


def align_disparity(disparity: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """
    Depth from a relative (affine-invariant) disparity, aligned to ground truth.

    Least squares in disparity space on the ``mask`` pixels: ``s, t = argmin sum((s * disparity +
    t - 1 / gt) ** 2)``; depth ``= 1 / (s * disparity + t)`` where that is positive, NaN elsewhere.
    The usual protocol for relative models (MiDaS, Depth Anything); the result shows shape only,
    never a metric scale the model knew.

    :param disparity: H x W relative disparity (larger = nearer; NaN invalid)
    :param gt: H x W metric ground truth
    :param mask: H x W bool, the pixels that count (valid ground truth)
    :return: H x W float32 depth, NaN where the aligned disparity is not positive
    :raises NoValidPixelsError: fewer than two valid pixels
    """
    disparity = np.asarray(disparity, np.float64)
    gt = np.asarray(gt, np.float64)
    if disparity.shape != gt.shape:
        disparity = resize_depth(disparity.astype(np.float32), gt.shape).astype(np.float64)
    use = np.asarray(mask, bool) & np.isfinite(disparity) & np.isfinite(gt) & (gt > 0)
    if use.sum() < 2:
        raise NoValidPixelsError('fewer than two pixels to align the relative prediction')
    d, target = disparity[use], 1.0 / gt[use]
    a = np.stack([d, np.ones_like(d)], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, target, rcond=None)
    aligned = s * disparity + t
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(aligned > 0, 1.0 / aligned, np.nan)
    return depth.astype(np.float32)


class MetricAccumulator:
    """Running per-image average of metric dicts (every image weighs the same)."""

    def __init__(self) -> None:
        self.sums: Dict[str, float] = {}
        self.count = 0

    def update(self, metrics: Dict[str, float]) -> None:
        """Add one image's metrics."""
        if self.count and set(metrics) != set(self.sums):
            raise ValueError(f'metric keys changed: {sorted(metrics)} vs {sorted(self.sums)}')
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def extend(self, items: Iterable[Dict[str, float]]) -> None:
        """Add several images' metrics."""
        for m in items:
            self.update(m)

    def mean(self) -> Dict[str, float]:
        """Return the average of every key (empty dict when nothing was added)."""
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}
