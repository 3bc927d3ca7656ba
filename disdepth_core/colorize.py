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
Colourised depth images with a metric-range legend (``disdepth infer``, the node, the demo).

Near is warm (red), far is cool (blue): the depth range ``[min_m, max_m]`` is mapped linearly
onto the reversed Turbo colormap.  Invalid pixels (NaN, inf, <= 0) are black.  The legend is a
strip drawn *inside* the image along the bottom edge (so the output keeps the depth's H x W): a
colour bar from ``min_m`` (left) to ``max_m`` (right) with the values in metres.  Images smaller
than :data:`LEGEND_MIN_HW` get no legend.

numpy + OpenCV only.
"""

from typing import Optional, Tuple

import cv2
import numpy as np

LEGEND_MIN_HW = (48, 96)
INVALID_BGR = (0, 0, 0)
# Range used when min_m / max_m are not given: these percentiles of the valid depth.
AUTO_PERCENTILES = (2.0, 98.0)


def depth_range(depth_m: np.ndarray, min_m: Optional[float] = None,
                max_m: Optional[float] = None) -> Tuple[float, float]:
    """
    Colour range: the given bounds, or robust percentiles of the valid depth.

    :param depth_m: H x W depth in metres
    :param min_m: near end (None: 2nd percentile of the valid depth)
    :param max_m: far end (None: 98th percentile of the valid depth)
    :return: (near, far) with far > near
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if min_m is None or max_m is None:
        if valid.size:
            lo, hi = np.percentile(valid, AUTO_PERCENTILES)
        else:
            lo, hi = 0.0, 1.0
        min_m = float(lo) if min_m is None else float(min_m)
        max_m = float(hi) if max_m is None else float(max_m)
    if not (np.isfinite(min_m) and np.isfinite(max_m)):
        raise ValueError(f'depth colour range must be finite, got {min_m}..{max_m}')
    if max_m <= min_m:
        max_m = min_m + max(1e-3, abs(min_m) * 1e-3)
    return float(min_m), float(max_m)


def _format_m(value: float) -> str:
    return f'{value:.2f} m' if abs(value) < 10 else f'{value:.1f} m'


def legend_height(height: int, width: int) -> int:
    """Height in pixels of the legend strip for an image of this size (0: no legend)."""
    if height < LEGEND_MIN_HW[0] or width < LEGEND_MIN_HW[1]:
        return 0
    scale = _font_scale(width)
    (_, text_h), base = cv2.getTextSize('0.00 m', cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    bar = max(4, height // 40)
    return min(height // 3, bar + text_h + base + 8)


def _font_scale(width: int) -> float:
    return float(np.clip(width / 1000.0, 0.3, 0.8))


def _draw_legend(image: np.ndarray, min_m: float, max_m: float, colormap: int) -> None:
    h, w = image.shape[:2]
    strip = legend_height(h, w)
    if strip == 0:
        return
    top = h - strip
    panel = image[top:]
    panel[:] = (panel.astype(np.uint16) // 4).astype(np.uint8)  # darken under the legend
    margin = max(4, w // 40)
    bar_h = max(4, h // 40)
    bar_w = w - 2 * margin
    ramp = np.linspace(255, 0, bar_w, dtype=np.float32).round().astype(np.uint8)[None, :]
    bar = cv2.applyColorMap(np.repeat(ramp, bar_h, axis=0), colormap)
    image[top + 2:top + 2 + bar_h, margin:margin + bar_w] = bar
    scale = _font_scale(w)
    baseline_y = h - 4
    labels = [(_format_m(min_m), 'left'), (_format_m(0.5 * (min_m + max_m)), 'centre'),
              (_format_m(max_m), 'right')]
    for text, where in labels:
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x = {'left': margin, 'centre': (w - tw) // 2, 'right': w - margin - tw}[where]
        cv2.putText(image, text, (int(x), baseline_y), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)


def colorize_depth(depth_m: np.ndarray, min_m: Optional[float] = None,
                   max_m: Optional[float] = None, legend: bool = True,
                   colormap: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """
    Colourise a metric depth map.

    :param depth_m: H x W depth in metres (NaN / inf / <= 0 are invalid)
    :param min_m: depth drawn in the nearest colour (None: 2nd percentile of the valid depth)
    :param max_m: depth drawn in the farthest colour (None: 98th percentile)
    :param legend: draw the colour bar with the metric range along the bottom edge
    :param colormap: an OpenCV colormap (near = its top end)
    :return: H x W x 3 uint8, BGR order (ready for ``cv2.imwrite`` / a ``bgr8`` Image)
    :raises ValueError: for a depth that is not a 2-D array
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f'depth must be a non-empty H x W array, got shape {depth.shape}')
    lo, hi = depth_range(depth, min_m, max_m)
    valid = np.isfinite(depth) & (depth > 0)
    t = np.where(valid, (hi - depth) / (hi - lo), 0.0)
    index = (np.clip(t, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    image = cv2.applyColorMap(index, colormap)
    image[~valid] = INVALID_BGR
    if legend:
        _draw_legend(image, lo, hi, colormap)
    return image
