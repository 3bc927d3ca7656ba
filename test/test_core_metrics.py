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
Depth metrics against values computed by hand.
"""

import math

import numpy as np
import pytest

from disdepth_core.metrics import compute_errors
from disdepth_core.metrics import compute_metrics
from disdepth_core.metrics import crop_mask
from disdepth_core.metrics import eigen_crop_mask
from disdepth_core.metrics import garg_crop_mask
from disdepth_core.metrics import kb_crop
from disdepth_core.metrics import kb_crop_box
from disdepth_core.metrics import METRIC_KEYS
from disdepth_core.metrics import MetricAccumulator
from disdepth_core.metrics import NoValidPixelsError


def test_compute_errors_hand_values():
    # gt = 1 2 4 5, pred = 2 2 3 5: errors -1 0 1 0, ratios 2 1 4/3 1
    m = compute_errors(np.array([1.0, 2.0, 4.0, 5.0]), np.array([2.0, 2.0, 3.0, 5.0]))
    assert set(m) == set(METRIC_KEYS)
    assert m['abs_rel'] == pytest.approx(0.3125)        # (1/1 + 1/4) / 4
    assert m['sq_rel'] == pytest.approx(0.3125)         # (1/1 + 1/4) / 4
    assert m['rmse'] == pytest.approx(0.7071067812)     # sqrt(2 / 4)
    ln2, ln34 = 0.6931471806, -0.2876820725            # ln 2, ln 3/4
    assert m['rmse_log'] == pytest.approx(math.sqrt((ln2 ** 2 + ln34 ** 2) / 4))
    assert m['rmse_log'] == pytest.approx(0.375238, abs=1e-6)
    assert m['log10'] == pytest.approx((0.3010299957 + 0.1249387366) / 4)
    assert m['d1'] == pytest.approx(0.5)    # 2 and 4/3 fail 1.25
    assert m['d2'] == pytest.approx(0.75)   # 4/3 < 1.5625 < 2
    assert m['d3'] == pytest.approx(0.75)   # 2 > 1.953125
    mean_e = (ln2 + ln34) / 4
    assert m['silog'] == pytest.approx(
        100 * math.sqrt((ln2 ** 2 + ln34 ** 2) / 4 - mean_e ** 2))
    assert m['silog'] == pytest.approx(36.1287, abs=1e-3)


def test_perfect_prediction_and_bad_input():
    gt = np.array([0.5, 1.0, 7.0])
    m = compute_errors(gt, gt)
    assert m['abs_rel'] == 0 and m['rmse'] == 0 and m['silog'] == 0 and m['d1'] == 1
    with pytest.raises(NoValidPixelsError):
        compute_errors(np.array([]), np.array([]))
    with pytest.raises(ValueError, match='positive'):
        compute_errors(np.array([1.0]), np.array([0.0]))


def test_clamping_masking_and_caps():
    gt = np.array([[0.5, 8.0, 0.0, 12.0, 10.0]])
    pred = np.array([[np.nan, np.inf, 3.0, 3.0, 3.0]])
    m = compute_metrics(gt, pred, min_depth=0.1, max_depth=10.0)
    # only gt 0.5 (pred NaN -> 0.1) and 8 (pred inf -> 10) count; 0, 12 and 10 (= max) do not
    assert m['abs_rel'] == pytest.approx((0.4 / 0.5 + 2.0 / 8.0) / 2)
    assert m['rmse'] == pytest.approx(math.sqrt((0.16 + 4.0) / 2))
    # predictions beyond the caps are clipped: 20 -> 10 against gt 5
    m = compute_metrics(np.array([[5.0]]), np.array([[20.0]]), 1e-3, 10.0)
    assert m['abs_rel'] == pytest.approx(1.0)
    with pytest.raises(NoValidPixelsError):
        compute_metrics(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match='min_depth < max_depth'):
        compute_metrics(gt, pred, 5.0, 1.0)


def test_median_scaling():
    gt = np.array([[1.0, 2.0, 3.0]])
    m = compute_metrics(gt, gt * 2.0, median_scale=True)
    assert m['scale'] == pytest.approx(0.5)
    assert m['abs_rel'] == pytest.approx(0.0, abs=1e-12) and m['d1'] == 1.0
    plain = compute_metrics(gt, gt * 2.0)
    assert plain['abs_rel'] == pytest.approx(1.0) and 'scale' not in plain


def test_prediction_resized_to_gt():
    gt = np.full((4, 6), 2.0)
    m = compute_metrics(gt, np.full((2, 3), 2.5, np.float32))
    assert m['abs_rel'] == pytest.approx(0.25)


def test_crops():
    nyu = eigen_crop_mask(480, 640)
    rows, cols = np.nonzero(nyu.any(1))[0], np.nonzero(nyu.any(0))[0]
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (45, 470, 41, 600)
    assert nyu.sum() == 426 * 560
    half = eigen_crop_mask(240, 320)
    assert abs(half.sum() - 426 * 560 / 4) < 600
    garg = garg_crop_mask(375, 1242)
    rows, cols = np.nonzero(garg.any(1))[0], np.nonzero(garg.any(0))[0]
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (153, 371, 44, 1197)
    assert kb_crop_box(375, 1242) == (23, 13, 352, 1216)
    assert kb_crop(np.zeros((375, 1242, 3))).shape == (352, 1216, 3)
    with pytest.raises(ValueError, match='KB crop'):
        kb_crop_box(300, 1242)
    # a KB-cropped window keeps the Garg crop of the full frame
    window = crop_mask('garg', 352, 1216, offset=(23, 13), full_hw=(375, 1242))
    np.testing.assert_array_equal(window, garg[23:375, 13:1229])
    assert crop_mask(None, 3, 4).all()
    with pytest.raises(ValueError, match='unknown evaluation crop'):
        crop_mask('foo', 3, 4)
    # the crop removes pixels from the metric
    gt = np.full((480, 640), 2.0)
    pred = np.full((480, 640), 2.0)
    pred[0] = 4.0  # outside the Eigen crop
    assert compute_metrics(gt, pred, crop='eigen')['abs_rel'] == 0.0
    assert compute_metrics(gt, pred)['abs_rel'] > 0.0


def test_per_image_average():
    acc = MetricAccumulator()
    assert acc.mean() == {}
    # image 1: 1 pixel with abs_rel 1; image 2: 3 perfect pixels -> per-image mean 0.5
    acc.update(compute_metrics(np.array([[2.0]]), np.array([[4.0]])))
    acc.update(compute_metrics(np.full((1, 3), 2.0), np.full((1, 3), 2.0)))
    assert acc.count == 2
    assert acc.mean()['abs_rel'] == pytest.approx(0.5)  # pooled over pixels it would be 0.25
    with pytest.raises(ValueError, match='keys changed'):
        acc.update({'abs_rel': 1.0})
