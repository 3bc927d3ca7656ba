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

"""Colourised depth: colour order (near = red), invalid pixels, the metric-range legend."""

import numpy as np
import pytest

from disdepth_core.colorize import colorize_depth
from disdepth_core.colorize import depth_range
from disdepth_core.colorize import INVALID_BGR
from disdepth_core.colorize import legend_height


def ramp(h: int = 240, w: int = 320, lo: float = 0.5, hi: float = 8.0) -> np.ndarray:
    return np.tile(np.linspace(lo, hi, w, dtype=np.float32), (h, 1))


def test_shape_dtype_and_near_is_red_far_is_blue() -> None:
    img = colorize_depth(ramp(), 0.5, 8.0, legend=False)
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    b, g, r = (int(v) for v in img[100, 2])
    assert r > 100 and r > b  # near: warm (BGR order)
    b, g, r = (int(v) for v in img[100, -3])
    assert b > r  # far: cool


def test_invalid_pixels_are_black() -> None:
    depth = ramp()
    depth[10:20, 10:20] = np.nan
    depth[30, 30] = np.inf
    depth[40, 40] = 0.0
    depth[50, 50] = -1.0
    img = colorize_depth(depth, 0.5, 8.0, legend=False)
    for y, x in ((15, 15), (30, 30), (40, 40), (50, 50)):
        assert tuple(img[y, x]) == INVALID_BGR
    assert img[100, 100].any()


def test_values_outside_the_range_saturate() -> None:
    depth = np.array([[0.1, 0.5, 8.0, 20.0]], np.float32).repeat(4, axis=0)
    img = colorize_depth(depth, 0.5, 8.0, legend=False)
    assert (img[0, 0] == img[0, 1]).all() and (img[0, 2] == img[0, 3]).all()
    assert not (img[0, 1] == img[0, 2]).all()


def test_legend_is_drawn_along_the_bottom_only() -> None:
    depth = ramp(480, 640)
    plain = colorize_depth(depth, 0.5, 8.0, legend=False)
    with_legend = colorize_depth(depth, 0.5, 8.0, legend=True)
    strip = legend_height(480, 640)
    assert 0 < strip < 480 // 3
    assert (plain[:480 - strip] == with_legend[:480 - strip]).all()
    assert (plain[480 - strip:] != with_legend[480 - strip:]).any()
    # white label text inside the darkened strip
    panel = with_legend[480 - strip:]
    assert (panel.min(axis=2) > 200).sum() > 50
    # the colour bar runs near (red, left) to far (blue, right)
    bar_row = panel[3]
    assert int(bar_row[20, 2]) > int(bar_row[20, 0])
    assert int(bar_row[-20, 0]) > int(bar_row[-20, 2])


def test_legend_labels_follow_the_range() -> None:
    depth = ramp(240, 320)
    a = colorize_depth(depth, 0.5, 8.0)
    b = colorize_depth(depth, 1.0, 30.0)
    strip = legend_height(240, 320)
    assert (a[240 - strip:] != b[240 - strip:]).any()


def test_tiny_images_get_no_legend_and_auto_range_works() -> None:
    assert legend_height(20, 30) == 0
    depth = ramp(20, 30)
    assert (colorize_depth(depth, legend=True) == colorize_depth(depth, legend=False)).all()
    lo, hi = depth_range(ramp(10, 100, 1.0, 3.0))
    assert 1.0 <= lo < 1.1 and 2.9 < hi <= 3.0
    assert depth_range(np.full((4, 4), np.nan, np.float32)) == (0.0, 1.0)
    lo, hi = depth_range(np.full((4, 4), 2.0, np.float32))
    assert hi > lo == 2.0
    assert colorize_depth(np.full((4, 4), 2.0, np.float32)).shape == (4, 4, 3)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match='H x W'):
        colorize_depth(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match='finite'):
        colorize_depth(ramp(), 0.0, float('inf'))
