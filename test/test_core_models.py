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

"""Students: backbones, weight loading, LG-Conv, decoder, adaptive bins, confidence."""

import math

import pytest
import torch
from torch import nn

from disdepth_core.models import build_student
from disdepth_core.models import DepthOutput
from disdepth_core.models import FeatureInfo
from disdepth_core.models import StudentConfig
from disdepth_core.models.backbones import BACKBONES
from disdepth_core.models.backbones import create_backbone
from disdepth_core.models.backbones import timm_to_torchvision
from disdepth_core.models.bins import bins_from_logits
from disdepth_core.models.bins import confidence_from_probs
from disdepth_core.models.bins import entropy_from_logits
from disdepth_core.models.decoder import Decoder
from disdepth_core.models.lgconv import apply_lgconv
from disdepth_core.models.lgconv import iter_lgconvs
from disdepth_core.models.lgconv import LGConv

torch.set_num_threads(1)

TINY = {'n_bins': 16, 'decoder_width': 32, 'decoder_min_width': 8, 'bins_hidden': 16}
EXPECTED_CHANNELS = {
    'mobilenetv2': [16, 24, 32, 96, 320],
    'resnet18': [64, 64, 128, 256, 512],
    'resnet50': [64, 256, 512, 1024, 2048],
    'efficientnet_b0': [16, 24, 40, 112, 320],
}


@pytest.fixture(scope='module')
def backbones():
    torch.manual_seed(0)
    return {name: create_backbone(name).eval() for name in BACKBONES}


def test_registry_has_the_four_backbones():
    assert set(EXPECTED_CHANNELS) <= set(BACKBONES)
    with pytest.raises(ValueError, match='unknown backbone'):
        create_backbone('vgg16')


@pytest.mark.parametrize('name', sorted(EXPECTED_CHANNELS))
def test_backbone_feature_shapes_match_feature_info(backbones, name):
    model = backbones[name]
    info = model.feature_info
    assert [f.channels for f in info] == EXPECTED_CHANNELS[name]
    assert [f.stride for f in info] == [2, 4, 8, 16, 32]
    with torch.no_grad():
        for h, w in ((64, 96), (96, 128)):
            feats = model.forward_features(torch.rand(1, 3, h, w))
            assert [tuple(f.shape) for f in feats] == [
                (1, fi.channels, h // fi.stride, w // fi.stride) for fi in info]


@pytest.mark.parametrize('name', sorted(EXPECTED_CHANNELS))
@pytest.mark.parametrize('mode', ['off', 'dense', 'all'])
def test_student_shapes_every_backbone_and_lgconv_mode(name, mode):
    torch.manual_seed(0)
    model = build_student(StudentConfig(backbone=name, lgconv=mode, **TINY)).eval()
    h, w = (64, 96) if mode != 'dense' else (96, 64)
    with torch.no_grad():
        out = model(torch.rand(2, 3, h, w))
    assert isinstance(out, DepthOutput)
    assert out.depth.shape == (2, 1, h // 2, w // 2)
    assert out.probs.shape == (2, 16, h // 2, w // 2)
    assert out.confidence.shape == (2, 1, h // 2, w // 2)
    assert out.bin_centers.shape == (2, 16)
    assert out.bin_edges.shape == (2, 17)
    assert [tuple(f.shape[1:]) for f in out.features] == [
        (fi.channels, h // fi.stride, w // fi.stride) for fi in model.feature_info]
    n_lg = sum(1 for _ in iter_lgconvs(model))
    assert (n_lg == 0) == (mode == 'off')


def test_student_rejects_bad_inputs_and_configs():
    model = build_student(StudentConfig(**TINY)).eval()
    with pytest.raises(ValueError, match='multiples of 32'):
        model(torch.rand(1, 3, 60, 96))
    with pytest.raises(ValueError, match='B x 3 x H x W'):
        model(torch.rand(3, 64, 96))
    with pytest.raises(ValueError, match='lgconv'):
        StudentConfig(lgconv='sometimes')
    with pytest.raises(ValueError, match='min_depth'):
        StudentConfig(min_depth=5.0, max_depth=1.0)
    with pytest.raises(ValueError, match='unknown'):
        StudentConfig(backbone='alexnet')


def test_student_normalisation_is_a_non_persistent_buffer():
    model = build_student(StudentConfig(**TINY))
    keys = model.state_dict().keys()
    assert 'mean' not in keys and 'std' not in keys
    assert torch.allclose(model.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))


# ---------------------------------------------------------------------------- weights loading


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_backbone_weights_round_trip(tmp_path, suffix):
    torch.manual_seed(1)
    src = create_backbone('resnet18')
    sd = src.state_dict()
    sd['fc.weight'] = torch.zeros(1000, 512)  # classifier keys are ignored
    sd['fc.bias'] = torch.zeros(1000)
    path = tmp_path / f'r18{suffix}'
    if suffix == '.pth':
        torch.save({'state_dict': sd}, path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    torch.manual_seed(2)
    dst = create_backbone('resnet18', weights=path).eval()
    src.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(src(x), dst(x)):
            assert torch.equal(a, b)


def test_student_loads_weights_before_lgconv(tmp_path):
    torch.manual_seed(3)
    src = create_backbone('mobilenetv2').eval()
    path = tmp_path / 'mbv2.pth'
    torch.save(src.state_dict(), path)
    student = build_student(StudentConfig(weights=str(path), lgconv='all', **TINY)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(src(x), student.backbone(x)):
            assert torch.allclose(a, b, atol=1e-6)


def test_backbone_weights_mismatch_lists_the_problems(tmp_path):
    sd = create_backbone('resnet18').state_dict()
    del sd['layer1.0.conv1.weight']
    sd['layer9.weight'] = torch.zeros(3)
    sd['conv1.weight'] = torch.zeros(64, 3, 3, 3)
    path = tmp_path / 'bad.pth'
    torch.save(sd, path)
    with pytest.raises(ValueError) as info:
        create_backbone('resnet18', weights=path)
    msg = str(info.value)
    assert 'missing keys (1): layer1.0.conv1.weight' in msg
    assert 'unexpected keys (1): layer9.weight' in msg
    assert 'conv1.weight: file (64, 3, 3, 3) vs model (64, 3, 7, 7)' in msg
    with pytest.raises(ValueError, match='does not exist'):
        create_backbone('resnet18', weights=tmp_path / 'nope.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a torch file')
    with pytest.raises(ValueError, match='weights_only'):
        create_backbone('resnet18', weights=tmp_path / 'junk.pth')


def test_timm_keys_are_translated():
    eff = {'conv_stem.weight': torch.zeros(1), 'bn1.running_mean': torch.zeros(1),
           'blocks.0.0.conv_dw.weight': torch.zeros(1),
           'blocks.0.0.se.conv_reduce.bias': torch.zeros(1),
           'blocks.1.1.conv_pwl.weight': torch.zeros(1),
           'blocks.5.3.bn2.weight': torch.zeros(1), 'conv_head.weight': torch.zeros(1)}
    out = timm_to_torchvision(eff, 'efficientnet_b0')
    assert set(out) == {'features.0.0.weight', 'features.0.1.running_mean',
                        'features.1.0.block.0.0.weight', 'features.1.0.block.1.fc1.bias',
                        'features.2.1.block.3.0.weight', 'features.6.3.block.1.1.weight',
                        'conv_head.weight'}
    mb = {'conv_stem.weight': torch.zeros(1), 'blocks.0.0.conv_pw.weight': torch.zeros(1),
          'blocks.2.1.conv_dw.weight': torch.zeros(1), 'blocks.6.0.bn3.bias': torch.zeros(1)}
    out = timm_to_torchvision(mb, 'mobilenetv2')
    assert set(out) == {'features.0.0.weight', 'features.1.conv.1.weight',
                        'features.5.conv.1.0.weight', 'features.17.conv.3.bias'}
    # A fully translated timm dict loads: rebuild one from our own keys through the inverse map.
    model = create_backbone('efficientnet_b0')
    own = model.state_dict()
    inverse = {v: k for k, v in timm_to_torchvision(
        {_to_timm(k): k for k in own}, 'efficientnet_b0').items()}
    assert set(inverse) == set(own)


def _to_timm(key: str) -> str:
    """Inverse of the EfficientNet-B0 translation, written independently for the test."""
    if key.startswith('features.0.0.'):
        return 'conv_stem.' + key[len('features.0.0.'):]
    if key.startswith('features.0.1.'):
        return 'bn1.' + key[len('features.0.1.'):]
    parts = key.split('.')
    stage, idx, rest = int(parts[1]) - 1, parts[2], '.'.join(parts[4:])
    ds = {'0.0': 'conv_dw', '0.1': 'bn1', '1.fc1': 'se.conv_reduce', '1.fc2': 'se.conv_expand',
          '2.0': 'conv_pw', '2.1': 'bn2'}
    ir = {'0.0': 'conv_pw', '0.1': 'bn1', '1.0': 'conv_dw', '1.1': 'bn2',
          '2.fc1': 'se.conv_reduce', '2.fc2': 'se.conv_expand', '3.0': 'conv_pwl', '3.1': 'bn3'}
    table = ds if stage == 0 else ir
    for src, dst in table.items():
        if rest.startswith(src + '.'):
            return f'blocks.{stage}.{idx}.{dst}{rest[len(src):]}'
    raise AssertionError(key)


# ------------------------------------------------------------------------------------ LG-Conv


@pytest.mark.parametrize('groups', [1, 8])
@pytest.mark.parametrize('attention', ['pixel', 'channel'])
@pytest.mark.parametrize('pool', [1, 2])
def test_lgconv_is_identity_at_init_and_live_after(groups, attention, pool):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, 2, 1, groups=groups)
    lg = LGConv(conv, reduction=2, pool_size=pool, attention=attention)
    x = torch.randn(2, 8, 12, 16)
    assert torch.equal(lg(x), conv(x))
    with torch.no_grad():
        lg.proj.weight.normal_()
    assert not torch.allclose(lg(x), conv(x))


def test_lgconv_wrapped_backbone_equals_plain_backbone_at_init():
    torch.manual_seed(0)
    plain = create_backbone('resnet18').eval()
    wrapped = create_backbone('resnet18')
    wrapped.load_state_dict(plain.state_dict())
    n = apply_lgconv(wrapped, 'dense')
    wrapped.eval()
    assert n == 16  # two 3x3 convs in each of the 8 basic blocks; the 7x7 stem stays
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(x), wrapped(x)):
            assert torch.equal(a, b)


def test_lgconv_modes_select_the_right_convs():
    counts = {}
    for mode in ('off', 'dense', 'all'):
        m = create_backbone('mobilenetv2')
        counts[mode] = apply_lgconv(m, mode)
        for _, lg in iter_lgconvs(m):
            assert lg.local.kernel_size == (3, 3)
            assert mode == 'all' or lg.local.groups == 1
    assert counts == {'off': 0, 'dense': 1, 'all': 18}  # stem + 17 depthwise convs
    eff = create_backbone('efficientnet_b0')
    assert apply_lgconv(eff, 'all') == 8  # 5x5 depthwise convs are never wrapped
    with pytest.raises(ValueError, match='lgconv'):
        apply_lgconv(create_backbone('resnet18'), 'half')


# --------------------------------------------------------------------------- decoder and bins


def test_decoder_is_sized_from_feature_info():
    info = [FeatureInfo(8, 4), FeatureInfo(16, 8), FeatureInfo(24, 16)]
    dec = Decoder(info, width=32, min_width=8, out_stride=2)
    feats = [torch.rand(1, f.channels, 64 // f.stride, 96 // f.stride) for f in info]
    bottleneck, out = dec(feats)
    assert bottleneck.shape == (1, 32, 4, 6)
    assert out.shape == (1, dec.out_channels, 32, 48)
    with pytest.raises(ValueError, match='increase'):
        Decoder([FeatureInfo(8, 8), FeatureInfo(8, 4)])
    with pytest.raises(ValueError, match='levels'):
        dec(feats[:2])


def test_bins_properties():
    torch.manual_seed(0)
    y = torch.randn(4, 32) * 5
    edges = bins_from_logits(y, 0.5, 80.0)
    widths = edges[:, 1:] - edges[:, :-1]
    assert (widths > 0).all()
    assert torch.allclose(edges[:, 0], torch.full((4,), 0.5))
    assert torch.allclose(edges[:, -1], torch.full((4,), 80.0))
    model = build_student(StudentConfig(max_depth=80.0, **TINY)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    c = out.bin_centers
    assert (c[:, 1:] > c[:, :-1]).all()
    assert (c > 1e-3).all() and (c < 80.0).all()
    assert (out.depth >= c[:, :1, None, None] - 1e-5).all()
    assert (out.depth <= c[:, -1:, None, None] + 1e-5).all()
    assert torch.allclose(out.probs.sum(1), torch.ones(2, 32, 32), atol=1e-5)
    assert ((out.confidence >= 0) & (out.confidence <= 1)).all()


def test_confidence_modes():
    centers = torch.linspace(1, 8, 8)[None]
    uniform = torch.full((1, 8, 1, 1), 1 / 8)
    onehot = torch.zeros(1, 8, 1, 1)
    onehot[0, 3] = 1.0
    d_uni = (uniform * centers[:, :, None, None]).sum(1, keepdim=True)
    d_one = (onehot * centers[:, :, None, None]).sum(1, keepdim=True)
    assert confidence_from_probs(uniform, centers, d_uni).item() == pytest.approx(0.0, abs=1e-6)
    assert confidence_from_probs(onehot, centers, d_one).item() == pytest.approx(1.0, abs=1e-6)
    # window: mass of bins within 20 % of the prediction (4.5 +- 0.9 -> bins 4 and 5 only)
    assert confidence_from_probs(uniform, centers, d_uni, 'window', 0.2).item() == \
        pytest.approx(2 / 8)
    assert confidence_from_probs(onehot, centers, d_one, 'window').item() == pytest.approx(1.0)
    model = build_student(StudentConfig(confidence='window', **TINY)).eval()
    with torch.no_grad():
        conf = model(torch.rand(1, 3, 64, 64)).confidence
    assert ((conf >= 0) & (conf <= 1)).all()
    with pytest.raises(ValueError, match='confidence'):
        confidence_from_probs(uniform, centers, d_uni, 'vibes')
    assert math.isclose(float(confidence_from_probs(uniform, centers, d_uni).max()), 0.0,
                        abs_tol=1e-6)


def test_entropy_from_logits_matches_the_definition():
    torch.manual_seed(0)
    # flat, moderate and strongly peaked logits, incl. probabilities that underflow to 0
    logits = torch.randn(3, 5, 7, 256) * torch.tensor([0.01, 3.0, 60.0])[:, None, None, None]
    probs = torch.softmax(logits, dim=-1)
    direct = -(probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1, keepdim=True)
    fast = entropy_from_logits(logits, probs)
    assert fast.shape == direct.shape
    assert torch.allclose(fast, direct, atol=2e-5)
    assert float(fast[0].min()) > 0.99 * math.log(256) and float(fast[2].max()) < 1.0
    # and the head's confidence is 1 - H / log N of its own probabilities
    model = build_student(StudentConfig(**TINY)).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))
    expected = confidence_from_probs(out.probs, out.bin_centers, out.depth)
    assert torch.allclose(out.confidence, expected, atol=1e-5)


def test_student_config_canonical_focal_is_carried():
    cfg = StudentConfig(canonical_focal=721.5, **TINY)
    assert build_student(cfg).config.canonical_focal == 721.5
    with pytest.raises(ValueError, match='canonical_focal'):
        StudentConfig(canonical_focal=0.0)


def test_bins_stay_float32_under_autocast():
    torch.manual_seed(0)
    model = build_student(StudentConfig(**TINY)).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(torch.rand(1, 3, 64, 64))
    for t in (out.depth, out.bin_centers, out.probs, out.confidence):
        assert t.dtype == torch.float32
    assert (out.bin_centers[:, 1:] > out.bin_centers[:, :-1]).all()
