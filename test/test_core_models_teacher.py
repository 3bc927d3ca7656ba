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

"""Teachers (built-in ViT, Hugging Face adapter), FAM, ghost decoder, acclimated teacher, FLOPs."""

import pytest
import torch

from disdepth_core.config import ConfigError
from disdepth_core.config import from_dict
from disdepth_core.config import load_config
from disdepth_core.flops import count_flops
from disdepth_core.flops import count_params
from disdepth_core.flops import lgconv_overhead
from disdepth_core.flops import measure
from disdepth_core.models import AcclimatedConfig
from disdepth_core.models import build_acclimated
from disdepth_core.models import build_student
from disdepth_core.models import build_teacher
from disdepth_core.models import DepthOutput
from disdepth_core.models import FeatureAcclimation
from disdepth_core.models import FeatureInfo
from disdepth_core.models import GhostDecoder
from disdepth_core.models import StudentConfig
from disdepth_core.models import TeacherConfig
from disdepth_core.models.fam import nearest_levels
from disdepth_core.training.config import TrainConfig

torch.set_num_threads(1)

TINY = {'n_bins': 16, 'decoder_width': 32, 'decoder_min_width': 8, 'bins_hidden': 16}


@pytest.fixture(scope='module')
def student():
    torch.manual_seed(0)
    return build_student(StudentConfig(**TINY))


@pytest.fixture(scope='module')
def teacher():
    torch.manual_seed(0)
    return build_teacher(TeacherConfig.tiny())


def test_vit_teacher_output_and_features(teacher):
    x = torch.rand(2, 3, 64, 96)
    out = teacher(x)
    assert isinstance(out, DepthOutput)
    assert out.depth.shape == (2, 1, 32, 48)
    assert [f.stride for f in teacher.feature_info] == [4, 8, 16, 32]
    assert [tuple(f.shape[1:]) for f in out.features] == [
        (fi.channels, 64 // fi.stride, 96 // fi.stride) for fi in teacher.feature_info]
    c = out.bin_centers
    assert (c[:, 1:] > c[:, :-1]).all() and (out.depth > 0).all()
    assert 'mean' not in teacher.state_dict()


def test_teacher_is_frozen_and_stays_in_eval(teacher):
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training
    assert not any(m.training for m in teacher.modules())
    trainable = build_teacher(TeacherConfig.tiny(), frozen=False)
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_teacher_config_validation():
    with pytest.raises(ValueError, match='kind'):
        TeacherConfig(kind='swin')
    with pytest.raises(ValueError, match='hf_path'):
        TeacherConfig(kind='hf')
    with pytest.raises(ValueError, match='divisible'):
        TeacherConfig.tiny(embed_dim=30, num_heads=4)


def test_default_teacher_is_at_least_8x_the_mobilenetv2_student():
    ps, fs = measure(lambda: build_student(StudentConfig(backbone='mobilenetv2')), (480, 640))
    pt, ft = measure(lambda: build_teacher(TeacherConfig()), (480, 640))
    assert ft >= 8 * fs
    assert pt > 5 * ps
    tiny = build_teacher(TeacherConfig.tiny())
    assert count_params(tiny) < 0.1 * pt


def test_teacher_presets_grow_and_load_from_config():
    sizes = []
    for name in ('vit-s', 'vit-b', 'vit-l'):
        cfg = TeacherConfig.from_preset(name)
        sizes.append(measure(lambda: build_teacher(cfg), (256, 320)))
    assert TeacherConfig.from_preset('vit-s') == TeacherConfig()
    assert sizes[0][0] < sizes[1][0] < sizes[2][0] and sizes[0][1] < sizes[1][1] < sizes[2][1]
    cfg = from_dict(TeacherConfig, {'preset': 'vit-l', 'n_bins': 64}, 'model.teacher')
    assert (cfg.embed_dim, cfg.depth, cfg.n_bins) == (1024, 24, 64)
    assert TeacherConfig.from_preset('vit-b', depth=6).depth == 6
    train = load_config(TrainConfig, None, ['model.teacher.preset=vit-b', 'model.teacher.depth=6'])
    assert (train.model.teacher.embed_dim, train.model.teacher.depth) == (768, 6)
    with pytest.raises(ConfigError, match='model.teacher.preset.*vit-xl'):
        from_dict(TeacherConfig, {'preset': 'vit-xl'}, 'model.teacher')
    with pytest.raises(ValueError, match='vit-xl'):
        TeacherConfig.from_preset('vit-xl')


def test_flop_count_includes_attention_on_every_device():
    cfg = TeacherConfig.tiny()
    params, on_meta = measure(lambda: build_teacher(cfg), (64, 96))
    torch.manual_seed(0)
    on_cpu = count_flops(build_teacher(cfg), (64, 96))
    # the meta device runs attention as plain matmuls; the fused CPU kernel must count the same
    assert on_cpu == on_meta and params > 0


def test_lgconv_overhead_report():
    dense = lgconv_overhead('resnet18', 'dense', (64, 64))
    assert dense['n_wrapped'] == 16
    assert dense['extra_params'] > 0 and dense['extra_flops'] > 0
    assert 0 < dense['flops_pct_student'] < dense['flops_pct_backbone']
    off = lgconv_overhead('resnet18', 'off', (64, 64))
    assert off['extra_params'] == 0 and off['extra_flops'] == 0


# ------------------------------------------------------------------------------------- FAM


def test_fam_maps_teacher_levels_to_student_shapes(student, teacher):
    fam = FeatureAcclimation(teacher.feature_info, student.feature_info)
    assert fam.level_map == (0, 0, 1, 2, 3)  # stride 2 <- 4, then 4, 8, 16, 32
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        t_feats = teacher(x).features
        s_feats = student.eval()(x).features
    out = fam(t_feats, (64, 96))
    assert [f.shape for f in out] == [f.shape for f in s_feats]
    assert nearest_levels([FeatureInfo(8, 14)] * 4, student.feature_info) == (0, 1, 2, 2, 3)
    with pytest.raises(ValueError, match='level_map'):
        FeatureAcclimation(teacher.feature_info, student.feature_info, level_map=(0, 1))


def test_ghost_decoder_copies_the_student_head(student):
    ghost = GhostDecoder.from_student(student, frozen=True)
    assert type(ghost).__mro__[1] is type(student.head)
    for (k, a), (k2, b) in zip(ghost.state_dict().items(), student.head.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert not any(p.requires_grad for p in ghost.parameters())
    feats = [torch.rand(1, f.channels, 64 // f.stride, 64 // f.stride)
             for f in student.feature_info]
    student.eval()
    with torch.no_grad():
        assert torch.equal(ghost(feats).depth, student.head(feats).depth)


@pytest.mark.parametrize('mode', ['joint', 'frozen'])
def test_acclimated_teacher_trains_only_what_it_should(student, teacher, mode):
    cfg = AcclimatedConfig(teacher=TeacherConfig.tiny(), student=student.config, ghost_mode=mode)
    acc = build_acclimated(cfg, student=student if mode == 'frozen' else None, teacher=teacher)
    acc.train()
    assert not acc.teacher.training
    x = torch.rand(2, 3, 64, 64)
    out = acc(x)
    assert out.depth.shape == (2, 1, 32, 32)
    assert [f.shape[1:] for f in out.features] == [
        (fi.channels, 64 // fi.stride, 64 // fi.stride) for fi in student.feature_info]
    out.depth.mean().backward()
    assert all(p.grad is None for p in acc.teacher.parameters())
    assert all(p.grad is not None for p in acc.fam.parameters())
    ghost_grads = [p.grad is not None for p in acc.ghost.parameters()]
    assert all(ghost_grads) if mode == 'joint' else not any(ghost_grads)
    n_fam = sum(1 for _ in acc.fam.parameters())
    n_ghost = sum(1 for _ in acc.ghost.parameters())
    assert len(acc.trainable_parameters()) == n_fam + (n_ghost if mode == 'joint' else 0)


# ------------------------------------------------------------------------- Hugging Face teacher


def _save_tiny(kind, path):
    transformers = pytest.importorskip('transformers')
    if kind == 'dpt':
        cfg = transformers.DPTConfig(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
            image_size=64, patch_size=16, neck_hidden_sizes=[8, 16, 24, 32],
            fusion_hidden_size=16, backbone_out_indices=[0, 1, 2, 3],
            reassemble_factors=[4, 2, 1, 0.5], head_in_index=-1)
    elif kind == 'depth_anything':
        backbone = transformers.Dinov2Config(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
            image_size=56, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
        cfg = transformers.DepthAnythingConfig(
            backbone_config=backbone, neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16,
            reassemble_hidden_size=32, patch_size=14)
    else:
        cfg = transformers.GLPNConfig(
            num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1],
            hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 2, 2],
            decoder_hidden_size=16, head_in_index=-1)
    torch.manual_seed(0)
    model = transformers.AutoModelForDepthEstimation.from_config(cfg)
    model.save_pretrained(str(path))
    return model.eval()


@pytest.mark.parametrize('kind,input_size,strides', [
    ('dpt', (64, 64), [16, 16, 16, 16]),
    ('depth_anything', None, [14, 14, 14, 14]),
    ('glpn', None, [4, 8, 16, 32]),
])
def test_hf_teacher_adapter(tmp_path, student, kind, input_size, strides):
    ref = _save_tiny(kind, tmp_path)
    cfg = TeacherConfig(kind='hf', hf_path=str(tmp_path), hf_input_size=input_size)
    t = build_teacher(cfg)
    assert not any(p.requires_grad for p in t.parameters())
    assert [f.stride for f in t.feature_info] == strides
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = t(x)
        net_hw = input_size or (64, 96)
        if kind == 'depth_anything':
            net_hw = (70, 98)  # nearest multiples of the patch size 14
        xr = torch.nn.functional.interpolate((x - t.mean) / t.std, size=net_hw, mode='bilinear',
                                             align_corners=False)
        hidden = ref(pixel_values=xr, output_hidden_states=True).hidden_states
    assert out.depth.shape == (2, 1, 32, 48)
    for f, info, i in zip(out.features, t.feature_info, t.layers):
        assert f.shape[:2] == (2, info.channels)
        flat = hidden[i] if hidden[i].dim() == 4 else hidden[i][:, -f.shape[2] * f.shape[3]:]
        assert torch.allclose(f.flatten(2), flat.flatten(2) if flat.dim() == 4
                              else flat.transpose(1, 2), atol=1e-5)
    acc = build_acclimated(AcclimatedConfig(teacher=cfg, student=student.config), teacher=t)
    feats = acc(x).features
    assert [f.shape[1] for f in feats] == [f.channels for f in student.feature_info]


def test_hf_teacher_errors(tmp_path):
    pytest.importorskip('transformers')
    with pytest.raises(ValueError, match='config.json'):
        build_teacher(TeacherConfig(kind='hf', hf_path=str(tmp_path)))
