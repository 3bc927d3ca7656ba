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

"""Checkpoints: safetensors + JSON round trips and clear errors."""

import json

import pytest
import torch

from disdepth_core.checkpoint import CheckpointError
from disdepth_core.checkpoint import load_checkpoint
from disdepth_core.checkpoint import read_checkpoint_meta
from disdepth_core.checkpoint import save_checkpoint
from disdepth_core.models import AcclimatedConfig
from disdepth_core.models import build_acclimated
from disdepth_core.models import build_student
from disdepth_core.models import build_teacher
from disdepth_core.models import StudentConfig
from disdepth_core.models import TeacherConfig
from disdepth_core.modelspec import ModelSpec

torch.set_num_threads(1)

CFG = StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=16,
                    lgconv='dense', backbone='resnet18')


def _spec(arch='student'):
    return ModelSpec(name='tiny', architecture=arch, backbone='resnet18', input_height=64,
                     input_width=64, canonical_focal=CFG.canonical_focal, min_depth=1e-3,
                     max_depth=10.0)


@pytest.fixture(scope='module')
def student():
    torch.manual_seed(0)
    model = build_student(CFG)
    with torch.no_grad():  # make the LG-Conv branches and BN statistics non-trivial
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        model(torch.rand(2, 3, 64, 64))
    return model.eval()


def test_student_round_trip(tmp_path, student):
    w, j = save_checkpoint(tmp_path / 'ckpt' / 'student', student, _spec(), CFG,
                           train_config={'lr': 1e-3}, extra={'note': 'unit test'})
    assert w.name == 'student.safetensors' and j.name == 'student.json'
    assert sorted(p.name for p in w.parent.iterdir()) == ['student.json', 'student.safetensors']
    x = torch.rand(1, 3, 64, 64)
    for path in (j, w, tmp_path / 'ckpt' / 'student'):
        model, spec, meta = load_checkpoint(path)
        assert not model.training
        assert spec == _spec()
        assert meta['model']['kind'] == 'student'
        assert meta['train'] == {'lr': 1e-3} and meta['extra'] == {'note': 'unit test'}
        assert model.config == CFG
        with torch.no_grad():
            assert torch.equal(model(x).depth, student(x).depth)
    meta = json.loads(j.read_text())
    assert meta['model']['config']['backbone'] == 'resnet18'


def test_teacher_and_acclimated_round_trip(tmp_path, student):
    torch.manual_seed(1)
    teacher = build_teacher(TeacherConfig.tiny())
    save_checkpoint(tmp_path / 't', teacher, _spec('teacher'), TeacherConfig.tiny())
    model, _, meta = load_checkpoint(tmp_path / 't.json')
    assert meta['model']['kind'] == 'teacher'
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x).depth, teacher(x).depth)
    acfg = AcclimatedConfig(teacher=TeacherConfig.tiny(), student=CFG, ghost_mode='frozen')
    acc = build_acclimated(acfg, student=student, teacher=teacher).eval()
    save_checkpoint(tmp_path / 'a', acc, _spec('teacher'), acfg)
    model, _, meta = load_checkpoint(tmp_path / 'a.safetensors')
    assert meta['model']['config']['ghost_mode'] == 'frozen'
    with torch.no_grad():
        a, b = model(x), acc(x)
    assert torch.equal(a.depth, b.depth)
    assert all(torch.equal(f, g) for f, g in zip(a.features, b.features))


def test_pretrained_weights_path_is_not_needed_to_reload(tmp_path, student):
    cfg = StudentConfig(**{**CFG.__dict__, 'weights': str(tmp_path / 'gone.pth')})
    save_checkpoint(tmp_path / 's', student, _spec(), cfg)
    model, _, _ = load_checkpoint(tmp_path / 's')
    assert model.config.weights is None


def test_errors_are_clear(tmp_path, student):
    with pytest.raises(CheckpointError, match='not found'):
        load_checkpoint(tmp_path / 'missing.safetensors')
    w, j = save_checkpoint(tmp_path / 's', student, _spec(), CFG)
    # corrupt weights: checksum
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='checksum'):
        load_checkpoint(j)
    # unreadable weights (checksum removed so the reader is reached)
    w.write_bytes(b'garbage')
    meta = json.loads(j.read_text())
    meta.pop('sha256')
    j.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='safetensors'):
        load_checkpoint(j)
    # weights missing
    w.unlink()
    with pytest.raises(CheckpointError, match='weights .* not found'):
        load_checkpoint(j)
    # invalid JSON / foreign JSON
    j.write_text('{not json')
    with pytest.raises(CheckpointError, match='not valid JSON'):
        read_checkpoint_meta(j)
    j.write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match='not a disdepth checkpoint'):
        read_checkpoint_meta(j)


def test_key_mismatch_is_reported(tmp_path, student):
    save_checkpoint(tmp_path / 's', student, _spec(), CFG)
    # the JSON says LG-Conv is off, the weights have it: keys differ
    meta = json.loads((tmp_path / 's.json').read_text())
    meta['model']['config']['lgconv'] = 'off'
    (tmp_path / 's.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='unexpected keys'):
        load_checkpoint(tmp_path / 's')
    meta['model']['config']['lgconv'] = 'dense'
    meta['model']['config']['n_bins'] = 8
    (tmp_path / 's.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='shape mismatches'):
        load_checkpoint(tmp_path / 's')
    meta['model']['kind'] = 'robot'
    (tmp_path / 's.json').write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match='unknown model kind'):
        load_checkpoint(tmp_path / 's')


def test_unregistered_config_is_rejected(tmp_path, student):
    with pytest.raises(CheckpointError, match='not a registered model config'):
        save_checkpoint(tmp_path / 's', student, _spec(), {'backbone': 'resnet18'})
