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

"""Feature KD losses (attentive, MSE, CWD) and distillation through the acclimated teacher."""

import pytest
import torch

from disdepth_core.distill import AttentiveKDLoss
from disdepth_core.distill import CWDLoss
from disdepth_core.distill import MSEFeatureLoss
from disdepth_core.distill import spatial_attention
from disdepth_core.models import AcclimatedConfig
from disdepth_core.models import build_acclimated
from disdepth_core.models import build_student
from disdepth_core.models import freeze
from disdepth_core.models import StudentConfig
from disdepth_core.models import TeacherConfig

torch.set_num_threads(1)

LOSSES = [AttentiveKDLoss, MSEFeatureLoss, CWDLoss]


def _feats(channels, seed, hw=((8, 8), (4, 4))):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, c, h, w, generator=g) for c, (h, w) in zip(channels, hw)]


@pytest.mark.parametrize('cls', LOSSES)
def test_zero_when_student_equals_teacher(cls):
    t = _feats([4, 6], 0)
    loss = cls([4, 6], [4, 6])
    out = loss([f.clone() for f in t], t)
    assert out['loss'].item() == pytest.approx(0.0, abs=1e-6)
    assert set(out) == {'loss', 'level0', 'level1'}
    assert len(list(loss.parameters())) == 0  # equal channels: no align conv


@pytest.mark.parametrize('attention', ['teacher', 'student', 'both'])
def test_attention_sources_and_map(attention):
    t = _feats([4, 6], 0)
    s = _feats([4, 6], 1)
    out = AttentiveKDLoss([4, 6], [4, 6], attention=attention)(s, t)
    assert out['loss'].item() > 0
    att = spatial_attention(t[0], 0.5)
    assert att.shape == (2, 1, 8, 8)
    assert torch.allclose(att.mean(dim=(1, 2, 3)), torch.ones(2))
    hot = torch.zeros(1, 3, 4, 4)
    hot[..., 1, 2] = 5.0
    assert spatial_attention(hot, 0.5).argmax().item() == 1 * 4 + 2
    with pytest.raises(ValueError, match='attention'):
        AttentiveKDLoss([4], [4], attention='neither')


@pytest.mark.parametrize('cls', LOSSES)
def test_gradients_reach_student_and_align_convs_not_teacher(cls):
    s = [f.requires_grad_(True) for f in _feats([3, 5], 1)]
    t = [f.requires_grad_(True) for f in _feats([4, 6], 0)]
    loss = cls([3, 5], [4, 6])
    assert len(loss.align) == 2 and len(list(loss.parameters())) == 4
    loss(s, t)['loss'].backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in s)
    assert all(p.grad is not None for p in loss.parameters())
    assert all(f.grad is None for f in t)


@pytest.mark.parametrize('cls', LOSSES)
def test_mask_excludes_pixels(cls):
    t = _feats([4], 0, hw=((8, 8),))
    s = [t[0].clone()]
    s[0][..., :4] += 3.0  # differences only in the left half
    mask = torch.ones(2, 1, 16, 16, dtype=torch.bool)
    mask[..., :8] = False  # the mask is at twice the feature resolution
    loss = cls([4], [4])
    assert loss(s, t, mask)['loss'].item() == pytest.approx(0.0, abs=1e-5)
    assert loss(s, t)['loss'].item() > 0


def test_level_count_and_weights_are_checked():
    with pytest.raises(ValueError, match='levels'):
        MSEFeatureLoss([4, 6], [4])
    loss = MSEFeatureLoss([4, 6], [4, 6], level_weights=[0.0, 2.0])
    t = _feats([4, 6], 0)
    s = _feats([4, 6], 1)
    out = loss(s, t)
    assert out['loss'].item() == pytest.approx(2.0 * out['level1'].item(), rel=1e-5)
    with pytest.raises(ValueError, match='expects 2 levels'):
        loss(s[:1], t[:1])


@pytest.mark.parametrize('cls', LOSSES)
def test_one_step_lowers_each_kd_loss(cls):
    torch.manual_seed(0)
    t = _feats([4, 6], 0)
    s = [torch.nn.Parameter(f) for f in _feats([3, 5], 1)]
    loss = cls([3, 5], [4, 6])
    opt = torch.optim.SGD(list(loss.parameters()) + s, lr=1e-2)
    before = loss(s, t)['loss']
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss(s, t)['loss']
    assert after.item() < before.item()


def test_kd_through_the_acclimated_teacher_never_reaches_the_teacher():
    torch.manual_seed(0)
    cfg = StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=16)
    student = build_student(cfg)
    acc = freeze(build_acclimated(AcclimatedConfig(teacher=TeacherConfig.tiny(), student=cfg)))
    kd = AttentiveKDLoss([f.channels for f in student.feature_info],
                         [f.channels for f in acc.feature_info])
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        targets = acc(x).features
    opt = torch.optim.Adam(list(student.parameters()) + list(kd.parameters()), lr=1e-4)
    before = kd(student(x).features, targets)['loss']
    opt.zero_grad()
    before.backward()
    assert all(p.grad is None for p in acc.parameters())
    assert student.backbone.features[0][0].local.weight.grad is not None
    opt.step()
    # the undetached acclimated output is also safe: the loss detaches the targets
    after = kd(student(x).features, acc(x).features)['loss']
    after.backward()
    assert all(p.grad is None for p in acc.parameters())
    assert after.item() < before.item()
