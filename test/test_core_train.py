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

"""Training stages end to end on tiny models, resume, config merge, schedule and KD isolation."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from disdepth_core.checkpoint import load_checkpoint
from disdepth_core.config import ConfigError
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.models import DisDepthStudent
from disdepth_core.training.config import load_train_config
from disdepth_core.training.data import canonical_targets
from disdepth_core.training.data import collate
from disdepth_core.training.data import MixSampler
from disdepth_core.training.loop import fit
from disdepth_core.training.schedule import one_cycle
from disdepth_core.training.stages import build_task
from disdepth_core.training.stages import StageError
from disdepth_core.training.state import load_train_state
from disdepth_core.training.state import save_train_state

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 96x72 RGB-D frames with fronto-parallel planes at known depths."""
    root = tmp_path_factory.mktemp('rgbd') / 'set'
    k = CameraIntrinsics(80.0, 80.0, 47.5, 35.5, 96, 72)
    rng = np.random.default_rng(0)
    with RGBDFolderWriter(root, k) as writer:
        for i in range(6):
            rgb = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
            writer.add(rgb, np.full((72, 96), 1.0 + 0.4 * i, np.float32))
    return root


def tiny(frames: Path, *overrides: str):
    """The packaged tiny config on the fixture frames (train and validation)."""
    return load_train_config('tiny', ['data.train.0.name=rgbd_folder',
                                      f'data.train.0.root={frames}',
                                      'data.val.0.name=rgbd_folder', f'data.val.0.root={frames}',
                                      'data.val.0.select=-2:', *overrides])


@pytest.fixture(scope='module')
def teacher_ckpt(frames: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('teacher')
    fit(tiny(frames, 'stage=teacher'), out, quiet=True)
    return out / 'final'


@pytest.fixture(scope='module')
def student_ckpt(frames: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('student')
    fit(tiny(frames, 'stage=student'), out, quiet=True)
    return out / 'final'


@pytest.fixture(scope='module')
def acclimated_ckpt(frames: Path, teacher_ckpt: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('acclimate')
    fit(tiny(frames, 'stage=acclimate', f'model.teacher_checkpoint={teacher_ckpt}'), out,
        quiet=True)
    return out / 'final'


def _summary(out: Path) -> dict:
    return json.loads((out / 'summary.json').read_text())


def test_teacher_and_student_stages_write_loadable_checkpoints(teacher_ckpt: Path,
                                                               student_ckpt: Path) -> None:
    teacher, tspec, tmeta = load_checkpoint(teacher_ckpt)
    student, sspec, smeta = load_checkpoint(student_ckpt)
    assert tspec.architecture == 'teacher' and tmeta['model']['kind'] == 'teacher'
    assert isinstance(student, DisDepthStudent) and sspec.architecture == 'student'
    assert (sspec.input_height, sspec.input_width) == (64, 96)
    assert smeta['extra']['counters']['step'] == 3
    summary = _summary(student_ckpt.parent)
    assert summary['steps'] == 3 and np.isfinite(summary['final_losses']['loss'])
    assert summary['val']['val0_rgbd_folder']['n_images'] == 2
    with torch.no_grad():
        out = student(torch.rand(1, 3, 64, 96))
    assert out.depth.shape == (1, 1, 32, 48) and bool((out.depth > 0).all())


def test_training_changes_the_weights(frames: Path, student_ckpt: Path) -> None:
    torch.manual_seed(0)
    fresh = build_task(tiny(frames, 'stage=student')).student.state_dict()
    trained, _, _ = load_checkpoint(student_ckpt)
    changed = [k for k, v in trained.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, fresh[k])]
    assert len(changed) > 10


def test_merged_config_is_saved_next_to_the_checkpoint(frames: Path, tmp_path: Path) -> None:
    cfg = tiny(frames, 'optim.lr=2e-3', 'schedule.max_steps=1')
    fit(cfg, tmp_path, quiet=True)
    saved = yaml.safe_load((tmp_path / 'config.yaml').read_text())
    assert saved['optim']['lr'] == pytest.approx(2e-3)
    assert saved['data']['train'][0]['root'] == str(frames)
    assert saved['model']['student']['decoder_width'] == 32  # from tiny.yaml
    assert saved['optim']['weight_decay'] == pytest.approx(0.1)  # dataclass default
    meta = json.loads((tmp_path / 'final.json').read_text())
    assert meta['train']['optim']['lr'] == pytest.approx(2e-3)
    assert load_train_config(str(tmp_path / 'config.yaml'), []) == cfg


def test_config_errors_are_clear(frames: Path) -> None:
    with pytest.raises(ConfigError, match='optim.lrr'):
        tiny(frames, 'optim.lrr=1')
    with pytest.raises(ConfigError, match='kd_loss'):
        tiny(frames, 'distill.kd_loss=fancy')
    with pytest.raises(ConfigError, match='selection'):
        tiny(frames, 'data.train.0.select=3')
    with pytest.raises(ConfigError, match='not found'):
        load_train_config('no_such_config', [])


def test_acclimate_joint_trains_only_fam_and_ghost(acclimated_ckpt: Path,
                                                   teacher_ckpt: Path) -> None:
    acc, spec, meta = load_checkpoint(acclimated_ckpt)
    teacher, _, _ = load_checkpoint(teacher_ckpt)
    assert meta['model']['kind'] == 'acclimated'
    assert meta['model']['config']['ghost_mode'] == 'joint'
    for k, v in teacher.state_dict().items():
        assert torch.equal(acc.teacher.state_dict()[k], v), k
    with torch.no_grad():
        out = acc(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in out.features] == [f.channels for f in acc.feature_info]


def test_acclimate_frozen_ghost_is_the_student_decoder(frames: Path, teacher_ckpt: Path,
                                                       student_ckpt: Path,
                                                       tmp_path: Path) -> None:
    fit(tiny(frames, 'stage=acclimate', 'acclimate.ghost=frozen',
             f'model.teacher_checkpoint={teacher_ckpt}',
             f'model.student_checkpoint={student_ckpt}'), tmp_path, quiet=True)
    acc, _, meta = load_checkpoint(tmp_path / 'final')
    student, _, _ = load_checkpoint(student_ckpt)
    assert meta['model']['config']['ghost_mode'] == 'frozen'
    ghost = acc.ghost.state_dict()
    for k, v in student.head.state_dict().items():
        assert torch.equal(ghost[k], v), k


def test_frozen_ghost_needs_a_student_checkpoint(frames: Path, teacher_ckpt: Path) -> None:
    with pytest.raises(StageError, match='student_checkpoint'):
        build_task(tiny(frames, 'stage=acclimate', 'acclimate.ghost=frozen',
                        f'model.teacher_checkpoint={teacher_ckpt}'))


@pytest.mark.parametrize('kd', ['attentive', 'mse', 'cwd'])
def test_distill_variants_run_end_to_end(frames: Path, acclimated_ckpt: Path, tmp_path: Path,
                                         kd: str) -> None:
    fit(tiny(frames, 'stage=distill', f'distill.kd_loss={kd}', 'schedule.max_steps=2',
             f'model.acclimated_checkpoint={acclimated_ckpt}'), tmp_path, quiet=True)
    summary = _summary(tmp_path)
    assert summary['steps'] == 2
    assert summary['final_losses']['kd'] > 0
    student, spec, _ = load_checkpoint(tmp_path / 'final')
    assert isinstance(student, DisDepthStudent) and spec.architecture == 'student'


def test_distill_without_ground_truth_uses_teacher_depth(frames: Path, acclimated_ckpt: Path,
                                                         tmp_path: Path) -> None:
    fit(tiny(frames, 'stage=distill', 'distill.gt_weight=0', 'distill.depth_kd_weight=1',
             'schedule.max_steps=1', f'model.acclimated_checkpoint={acclimated_ckpt}'),
        tmp_path, quiet=True)
    losses = _summary(tmp_path)['final_losses']
    assert 'silog' not in losses and losses['depth_kd'] > 0 and losses['kd'] > 0


def test_kd_gradients_do_not_reach_the_frozen_teacher(frames: Path,
                                                      acclimated_ckpt: Path) -> None:
    task = build_task(tiny(frames, 'stage=distill', 'distill.depth_kd_weight=0.5',
                           f'model.acclimated_checkpoint={acclimated_ckpt}'))
    task.train()
    from disdepth_core.training.data import build_mix
    cfg = task.cfg
    mix = build_mix(cfg.data.train, cfg.data, train=True, max_depth=None)
    batch = collate([mix[0], mix[1]])
    before = {k: v.clone() for k, v in task.teacher.state_dict().items()}
    opt = torch.optim.AdamW(task.param_groups())
    out = task(batch)
    out['loss'].backward()
    opt.step()
    assert out['kd'] > 0
    assert all(p.grad is None and not p.requires_grad for p in task.teacher.parameters())
    assert not task.teacher.training
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in task.student.parameters())
    for k, v in task.teacher.state_dict().items():
        assert torch.equal(before[k], v), f'teacher {k} changed'
    teacher_ids = {id(p) for p in task.teacher.parameters()}
    assert not teacher_ids & {id(p) for g in opt.param_groups for p in g['params']}


def test_resume_continues_the_step_count(frames: Path, tmp_path: Path) -> None:
    fit(tiny(frames, 'schedule.epochs=3', 'schedule.max_steps=2'), tmp_path, quiet=True)
    first = load_train_state(tmp_path / 'last')
    assert first['counters']['step'] == 2 and first['counters']['batch_in_epoch'] == 2
    assert first['optimizer']['state']  # Adam moments were saved
    fit(tiny(frames, 'schedule.epochs=3', 'schedule.max_steps=5'), tmp_path,
        resume=tmp_path / 'last', quiet=True)
    summary = _summary(tmp_path)
    assert summary['steps'] == 5 and summary['epochs'] == 1
    steps = [json.loads(line)['step'] for line in (tmp_path / 'log.jsonl').read_text().splitlines()
             if json.loads(line)['kind'] == 'train']
    assert steps == [1, 2, 3, 4, 5]


def test_resume_refuses_a_mismatched_stage(frames: Path, student_ckpt: Path,
                                           teacher_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(StageError, match='cannot resume'):
        fit(tiny(frames, 'stage=teacher'), tmp_path, resume=student_ckpt, quiet=True)


def test_optimizer_state_round_trips_without_pickle(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.rand(4, 3)).sum().backward()
    opt.step()
    save_train_state(tmp_path / 'x', opt, {'step': 1})
    assert not list(tmp_path.glob('*.pt')) and (tmp_path / 'x.train.safetensors').is_file()
    opt2 = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    opt2.load_state_dict(load_train_state(tmp_path / 'x')['optimizer'])
    a, b = opt.state_dict()['state'][0], opt2.state_dict()['state'][0]
    assert torch.equal(a['exp_avg'], b['exp_avg']) and float(a['step']) == float(b['step'])


def test_one_cycle_matches_torch() -> None:
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=3.57e-4)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, 3.57e-4, total_steps=50, div_factor=25,
                                              final_div_factor=100)
    for step in range(50):
        v = one_cycle(step, 50)
        assert opt.param_groups[0]['lr'] == pytest.approx(3.57e-4 * v.lr_factor, rel=1e-9)
        assert opt.param_groups[0]['betas'][0] == pytest.approx(v.momentum, rel=1e-9)
        opt.step()
        ref.step()


def test_canonical_targets_follow_the_focal_length() -> None:
    k = torch.tensor([[[100.0, 0, 47.5], [0, 100.0, 31.5], [0, 0, 1]],
                      [[50.0, 0, 47.5], [0, 50.0, 31.5], [0, 0, 1]]])
    batch = {'image': torch.zeros(2, 3, 64, 96), 'depth': torch.full((2, 1, 64, 96), 2.0), 'K': k}
    t = canonical_targets(batch, canonical_focal=200.0)
    # canonical depth = metric depth * f_canonical / f_network
    assert float(t[0].mean()) == pytest.approx(4.0) and float(t[1].mean()) == pytest.approx(8.0)


def test_sampler_splits_ranks_and_weights_mixes() -> None:
    w = torch.ones(10)
    ranks = [list(MixSampler(w, seed=3, rank=r, world_size=2)) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))
    heavy = torch.tensor([1.0] * 5 + [20.0] * 5)
    drawn = list(MixSampler(heavy, seed=1))
    assert sum(i >= 5 for i in drawn) > 7


def test_unlabeled_and_labelled_samples_collate_together(frames: Path) -> None:
    cfg = tiny(frames)
    from disdepth_core.training.data import build_mix
    mix = build_mix(cfg.data.train, cfg.data, train=True, max_depth=None)
    labelled = mix[0]
    unlabelled = {k: v for k, v in labelled.items() if k not in ('depth', 'valid_mask')}
    batch = collate([labelled, unlabelled])
    assert batch['has_gt'].tolist() == [True, False]
    assert bool(batch['valid_mask'][0].any()) and not bool(batch['valid_mask'][1].any())


@pytest.mark.parametrize('name', ['nyu', 'kitti', 'indoor_experiment', 'tiny'])
def test_packaged_configs_load_and_their_augmentation_builds(name: str) -> None:
    from disdepth_core.training.data import make_augmenter
    cfg = load_train_config(name, [])
    assert cfg.data.input_height % 32 == 0 and cfg.data.input_width % 32 == 0
    if cfg.data.augment is not None:
        for entry in cfg.data.train:
            make_augmenter({**cfg.data.augment, **entry.augment_options})
    if name in ('nyu', 'kitti'):  # the paper-digest recipe
        assert cfg.optim.lr == pytest.approx(3.57e-4) and cfg.optim.weight_decay == 0.1
        assert cfg.optim.encoder_lr_factor == pytest.approx(0.1)
        assert cfg.optim.grad_clip == pytest.approx(0.1)
        assert (cfg.schedule.epochs, cfg.data.batch_size) == (25, 16)
        assert (cfg.schedule.div_factor, cfg.schedule.final_div_factor) == (25, 100)
        crop = tuple(cfg.data.augment['crop_hw'])
        assert crop == ((416, 544) if name == 'nyu' else (352, 704))
        assert cfg.model.student.max_depth == (10.0 if name == 'nyu' else 80.0)


def test_overrides_may_sit_between_options(tmp_path: Path) -> None:
    from disdepth_ros.cli import build_parser
    parser = build_parser('train')
    args = parser.parse_args(['train', '--config', 'tiny', 'seed=3', '--out', str(tmp_path),
                              'optim.lr=0.5', '--quiet'])
    assert args.overrides == ['seed=3', 'optim.lr=0.5'] and args.quiet
    cfg = load_train_config(args.config, args.overrides)
    assert cfg.seed == 3 and cfg.optim.lr == 0.5


def test_precise_bn_recalibrates_only_trainable_batchnorm(
        frames: Path, acclimated_ckpt: Path) -> None:
    from torch.utils.data import DataLoader

    from disdepth_core.training.data import build_mix
    from disdepth_core.training.loop import recalibrate_batchnorm
    task = build_task(tiny(frames, 'stage=distill',
                           f'model.acclimated_checkpoint={acclimated_ckpt}'))
    mix = build_mix(task.cfg.data.train, task.cfg.data, train=True, max_depth=None)
    loader = DataLoader(mix, batch_size=2, collate_fn=collate)
    bn = next(m for m in task.student.modules() if isinstance(m, torch.nn.BatchNorm2d))
    teacher_before = {k: v.clone() for k, v in task.teacher.state_dict().items()}
    weights_before = {k: v.clone() for k, v in task.student.named_parameters()}
    task.eval()
    assert recalibrate_batchnorm(task.student, loader, 'cpu', 2) == 2
    assert int(bn.num_batches_tracked) == 2 and bn.momentum == 0.1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    assert not task.student.training and not bn.training
    for k, v in task.teacher.state_dict().items():
        assert torch.equal(teacher_before[k], v), k
    for k, v in task.student.named_parameters():
        assert torch.equal(weights_before[k], v), k


def test_kd_balance_matches_the_supervised_loss_at_the_first_step(
        frames: Path, acclimated_ckpt: Path) -> None:
    task = build_task(tiny(frames, 'stage=distill', 'distill.kd_balance=true',
                           'distill.kd_weight=0.5', 'distill.kd_loss=mse',
                           f'model.acclimated_checkpoint={acclimated_ckpt}'))
    from disdepth_core.training.data import build_mix
    mix = build_mix(task.cfg.data.train, task.cfg.data, train=True, max_depth=None)
    task.train()
    out = task(collate([mix[0], mix[1]]))
    assert float(out['kd']) == pytest.approx(float(out['supervised']), rel=1e-4)
    scale = float(task.kd_scale)
    task(collate([mix[2], mix[3]]))
    assert float(task.kd_scale) == scale > 0
    assert task.resume_state()['kd_scale'] == pytest.approx(scale)


def test_one_override_parser_for_the_cli_and_the_library() -> None:
    from disdepth_core.config import apply_overrides
    from disdepth_core.config import ConfigError
    from disdepth_core.training.config import load_train_config
    overrides = ['data.train.0.name=synthetic', 'data.train.0.select=0:30',
                 'data.train.1.name=synthetic', 'optim.lr=0.002']
    library = load_train_config('tiny', overrides)
    assert library.data.train[0].select == '0:30' and library.optim.lr == 0.002
    assert len(library.data.train) == 2
    assert apply_overrides({'a': [{'b': 1}]}, ['a.0.b=2', 'a.1.b=3']) == {
        'a': [{'b': 2}, {'b': 3}]}
    for bad, message in (('a.x.b=1', 'indexes a list'), ('a.5.b=1', 'past the end'),
                         ('novalue', 'key.sub=value'), ('a..b=1', 'key.sub=value')):
        with pytest.raises(ConfigError, match=message):
            apply_overrides({'a': [{'b': 1}]}, [bad])
