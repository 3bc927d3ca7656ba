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

"""Supervised losses: SILog and the bin-centre chamfer loss."""

import math

import pytest
import torch

from disdepth_core.losses import BinsChamferLoss
from disdepth_core.losses import SILogLoss
from disdepth_core.models import build_student
from disdepth_core.models import StudentConfig

torch.set_num_threads(1)


def _target(b=2, h=8, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 9.0 * torch.rand(b, 1, h, w, generator=g)


def test_silog_is_zero_with_finite_gradient_when_pred_equals_target():
    gt = _target()
    pred = gt.clone().requires_grad_(True)
    out = SILogLoss()(pred, gt)
    assert out['loss'].item() == 0.0
    out['loss'].backward()
    assert torch.isfinite(pred.grad).all()


def test_silog_known_value_and_parts():
    gt = _target()
    out = SILogLoss()(2.0 * gt, gt)  # g = log 2 everywhere: Var 0, mean log 2
    expected = 10.0 * math.sqrt(0.15) * math.log(2.0)
    assert out['loss'].item() == pytest.approx(expected, rel=1e-5)
    assert out['silog_mean'].item() == pytest.approx(math.log(2.0), rel=1e-5)
    assert out['silog_var'].item() == pytest.approx(0.0, abs=1e-8)
    assert int(out['n_valid']) == gt.numel()


def test_silog_respects_masks_and_resizes_prediction():
    gt = _target(h=16, w=24)
    pred = gt.clone()
    pred[..., :4] = 100.0  # garbage where the mask says invalid
    mask = torch.ones_like(gt, dtype=torch.bool)
    mask[..., :4] = False
    assert SILogLoss()(pred, gt, mask)['loss'].item() == pytest.approx(0.0, abs=1e-6)
    gt2 = gt.clone()
    gt2[..., :4] = 0.0  # zero depth = no measurement
    assert SILogLoss()(pred, gt2)['loss'].item() == pytest.approx(0.0, abs=1e-6)
    const = torch.full((2, 1, 8, 12), 3.0)
    out = SILogLoss()(const, torch.full((2, 1, 16, 24), 3.0))  # half-resolution prediction
    assert out['loss'].item() == 0.0 and int(out['n_valid']) == 2 * 16 * 24
    empty = SILogLoss()(pred.requires_grad_(True), gt, torch.zeros_like(mask))
    assert empty['loss'].item() == 0.0
    empty['loss'].backward()
    with pytest.raises(ValueError, match='valid_mask shape'):
        SILogLoss()(pred, gt, mask[..., :5])


def test_chamfer_zero_when_centres_match_the_depths_and_known_value():
    centres = torch.tensor([[1.0, 2.0, 4.0]])
    gt = torch.tensor([1.0, 2.0, 4.0, 4.0, 2.0, 1.0]).view(1, 1, 2, 3)
    out = BinsChamferLoss()(centres, gt)
    assert out['chamfer'].item() == 0.0 and out['loss'].item() == 0.0
    # depths {1, 3}: depth->centre 0, 1 -> mean 0.5; centre->depth 0, 1, 1 -> mean 2/3
    gt = torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)
    out = BinsChamferLoss(weight=0.1)(centres, gt)
    assert out['chamfer'].item() == pytest.approx(0.5 + 2 / 3)
    assert out['loss'].item() == pytest.approx(0.1 * (0.5 + 2 / 3))


def test_chamfer_masks_and_gradient():
    centres = torch.tensor([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]], requires_grad=True)
    gt = torch.tensor([1.0, 2.0, 4.0, 9.0]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    mask = torch.tensor([True, True, True, False]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    mask[1] = False  # image 2 has no valid pixel: ignored, not NaN
    out = BinsChamferLoss()(centres, gt, mask)
    assert out['chamfer'].item() == 0.0
    out = BinsChamferLoss()(centres, gt)
    out['loss'].backward()
    assert centres.grad[:, 2].abs().sum() > 0  # 4 is pulled towards the unmatched 9


def test_one_step_lowers_the_supervised_losses():
    torch.manual_seed(0)
    model = build_student(StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8,
                                        bins_hidden=16))
    x = torch.rand(2, 3, 64, 64)
    gt = _target(h=64, w=64)
    silog, chamfer = SILogLoss(), BinsChamferLoss(weight=1.0)
    for loss_fn, key in ((silog, 'depth'), (chamfer, 'bin_centers')):
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        before = loss_fn(getattr(model(x), key), gt)['loss']
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = loss_fn(getattr(model(x), key), gt)['loss']
        assert after.item() < before.item()
