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

"""Label-free distillation: ONNX teachers, the SSI loss, the teacher-label cache, the stage."""

from dataclasses import replace
import importlib.util
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch

from disdepth_core.checkpoint import load_checkpoint
from disdepth_core.config import ConfigError
from disdepth_core.data.augment import AugmentConfig
from disdepth_core.data.augment import Augmenter
from disdepth_core.data.registry import build_dataset
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import create_estimator
from disdepth_core.inference.onnx_engine import OnnxEstimator
from disdepth_core.inference.torch_engine import TorchEstimator
from disdepth_core.inference.toymodel import TOY_SPEC
from disdepth_core.inference.toymodel import write_toy_onnx
from disdepth_core.losses import ScaleShiftInvariantLoss
from disdepth_core.models import build_teacher
from disdepth_core.models import DisDepthStudent
from disdepth_core.models import TeacherConfig
from disdepth_core.models.teacher import onnx_teacher_spec
from disdepth_core.models.teacher import read_onnx_metadata
from disdepth_core.training.config import load_train_config
from disdepth_core.training.data import build_mix
from disdepth_core.training.data import collate
from disdepth_core.training.loop import fit
from disdepth_core.training.loop import seed_everything
from disdepth_core.training.stages import build_task
from disdepth_core.training.stages import StageError
from disdepth_core.training.stages import STAGES
from disdepth_core.training.teacher_labels import fill_labels
from disdepth_core.training.teacher_labels import MANIFEST
from disdepth_core.training.teacher_labels import teacher_agreement
from disdepth_core.training.teacher_labels import TeacherLabelDataset
from disdepth_core.training.teacher_labels import TeacherLabels

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

REPO_ROOT = Path(__file__).resolve().parents[1]
K = CameraIntrinsics(80.0, 80.0, 47.5, 35.5, 96, 72)
N_FRAMES = 6
torch.set_num_threads(1)


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def smooth_image(rng: np.random.Generator, h: int = 72, w: int = 96) -> np.ndarray:
    """An image with structure at several scales (blurred, upsampled noise)."""
    coarse = rng.uniform(0, 255, (h // 8, w // 8, 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def teachers(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Toy teachers (depth = 0.5 + 4 brightness): metric, relative, and one without metadata."""
    root = tmp_path_factory.mktemp('teachers')
    return {'metric': write_toy_onnx(root / 'metric.onnx', replace(TOY_SPEC,
                                                                   output_kind='metric')),
            'relative': write_toy_onnx(root / 'relative.onnx',
                                       replace(TOY_SPEC, output_kind='relative_disparity')),
            'canonical': write_toy_onnx(root / 'canonical.onnx', TOY_SPEC),
            'plain': write_toy_onnx(root / 'plain.onnx', None), 'root': root}


@pytest.fixture(scope='module')
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An RGB-D folder (also readable as `unlabeled` images) of structured 96x72 frames."""
    root = tmp_path_factory.mktemp('frames') / 'set'
    rng = np.random.default_rng(0)
    with RGBDFolderWriter(root, K) as writer:
        for i in range(N_FRAMES):
            writer.add(smooth_image(rng), np.full((72, 96), 1.0 + 0.4 * i, np.float32))
    return root


def tiny(teacher: Path, data, cache: Path, *overrides: str):
    """The packaged tiny config as a label_distill run (``data``: an image folder, or None)."""
    entry = [] if data is None else ['data.train.0.name=unlabeled', f'data.train.0.root={data}']
    return load_train_config('tiny', ['stage=label_distill', 'model.teacher.kind=onnx',
                                      f'model.teacher.onnx_path={teacher}', *entry,
                                      f'label_distill.cache_dir={cache}', 'log.tensorboard=false',
                                      *overrides])


class CountingPredict:
    """Counts teacher predictions made through ``OnnxEstimator.predict``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = OnnxEstimator.predict

        def counted(est, rgb, intrinsics):
            self.calls += 1
            return original(est, rgb, intrinsics)
        monkeypatch.setattr(OnnxEstimator, 'predict', counted)


# --------------------------------------------------------------------------- ONNX teachers

def test_onnx_metadata_is_read_without_loading_the_graph(teachers: dict) -> None:
    path = teachers['metric']
    expected = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert read_onnx_metadata(path) == expected
    assert onnx_teacher_spec(path).output_kind == 'metric'
    cfg = TeacherConfig(kind='onnx', onnx_path=str(path))
    assert cfg.onnx_path == str(path)


def test_onnx_teacher_config_errors_name_the_file(teachers: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='needs onnx_path'):
        TeacherConfig(kind='onnx')
    missing = tmp_path / 'nowhere.onnx'
    with pytest.raises(ValueError, match=f'{missing}.*does not exist'):
        TeacherConfig(kind='onnx', onnx_path=str(missing))
    with pytest.raises(ValueError, match=f'{teachers["plain"]}.*no DisDepth metadata'):
        TeacherConfig(kind='onnx', onnx_path=str(teachers['plain']))
    garbage = tmp_path / 'garbage.onnx'
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=f'{garbage} is not an ONNX'):
        TeacherConfig(kind='onnx', onnx_path=str(garbage))
    truncated = tmp_path / 'truncated.onnx'
    truncated.write_bytes(teachers['metric'].read_bytes()[:-40])
    with pytest.raises(ValueError, match=f'{truncated} is not an ONNX'):
        TeacherConfig(kind='onnx', onnx_path=str(truncated))
    with pytest.raises(ValueError, match='label_distill'):
        build_teacher(TeacherConfig(kind='onnx', onnx_path=str(teachers['metric'])))


def test_label_distill_config_is_checked(teachers: dict, frames: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='kind: onnx'):
        load_train_config('tiny', ['stage=label_distill'])
    with pytest.raises(ConfigError, match='needs a metric teacher.*ssi'):
        tiny(teachers['relative'], frames, tmp_path, 'label_distill.loss=metric')
    with pytest.raises(ConfigError, match='label_distill.loss'):
        tiny(teachers['metric'], frames, tmp_path, 'label_distill.loss=fancy')
    with pytest.raises(ConfigError, match='ssi_residual'):
        tiny(teachers['metric'], frames, tmp_path, 'label_distill.ssi_residual=cubic')
    with pytest.raises(ConfigError, match='both 0'):
        tiny(teachers['metric'], frames, tmp_path, 'label_distill.teacher_weight=0')
    with pytest.raises(ConfigError, match=str(tmp_path / 'gone.onnx')):
        tiny(tmp_path / 'gone.onnx', frames, tmp_path)
    cfg = tiny(teachers['metric'], frames, tmp_path, 'label_distill.teacher_input_size=[32, 64]')
    with pytest.raises(StageError, match='fixed input size 64x96'):
        build_task(cfg)
    assert 'label_distill' in STAGES
    # the ssi loss is allowed for a metric teacher (its depth is used as a relative map)
    assert tiny(teachers['metric'], frames, tmp_path, 'label_distill.loss=ssi')


# --------------------------------------------------------------------------- the SSI loss

def _reference_ssi(pred: np.ndarray, target: np.ndarray, mask: np.ndarray,
                   squared: bool = False) -> float:
    """numpy reference: normalise the target, fit s >= 0 and b by least squares, residual."""
    losses = []
    for p, t, m in zip(pred, target, mask):
        p, t = p[m].astype(np.float64), t[m].astype(np.float64)
        t = t - np.median(t)
        t = t / np.mean(np.abs(t))
        s, b = np.polyfit(p, t, 1)
        if s < 0:
            s, b = 0.0, float(np.mean(t))
        r = s * p + b - t
        losses.append(np.mean(r * r) if squared else np.mean(np.abs(r)))
    return float(np.mean(losses))


def test_ssi_loss_is_zero_for_increasing_affine_maps_and_matches_a_reference() -> None:
    rng = np.random.default_rng(3)
    target = rng.uniform(0.1, 2.0, (3, 1, 12, 16))
    mask = rng.random((3, 1, 12, 16)) > 0.3
    loss = ScaleShiftInvariantLoss()
    for scale, shift in ((1.0, 0.0), (7.5, -3.0), (0.02, 40.0)):
        pred = torch.tensor(scale * target + shift, dtype=torch.float64)
        out = loss(pred, torch.tensor(target), torch.tensor(mask))
        assert float(out['loss']) < 1e-6
        assert int(out['n_images']) == 3
    pred = rng.uniform(0.1, 2.0, target.shape)
    for residual, squared in (('abs', False), ('squared', True)):
        out = ScaleShiftInvariantLoss(residual)(torch.tensor(pred), torch.tensor(target),
                                                torch.tensor(mask))
        ref = _reference_ssi(pred[:, 0], target[:, 0], mask[:, 0], squared)
        assert float(out['loss']) == pytest.approx(ref, rel=1e-5) and ref > 0.1
    # reversed order (nearer <-> farther) is no depth map: the scale is clamped at 0
    flipped = ScaleShiftInvariantLoss()(torch.tensor(5.0 - target), torch.tensor(target))
    assert float(flipped['loss']) > 0.5 and float(flipped['scale']) == 0.0


def test_ssi_loss_respects_the_mask_and_is_invariant_to_the_target_scale() -> None:
    rng = np.random.default_rng(4)
    target = torch.tensor(rng.uniform(0.5, 1.5, (2, 1, 10, 10)))
    pred = torch.tensor(rng.uniform(0.5, 1.5, (2, 1, 10, 10)))
    mask = torch.zeros(2, 1, 10, 10, dtype=torch.bool)
    mask[:, :, :6] = True
    loss = ScaleShiftInvariantLoss()
    base = float(loss(pred, target, mask)['loss'])
    changed = target.clone()
    changed[:, :, 6:] = 1e6  # masked-out pixels: ignored
    assert float(loss(pred, changed, mask)['loss']) == pytest.approx(base, rel=1e-9)
    assert float(loss(pred, 3.0 * target + 2.0, mask)['loss']) == pytest.approx(base, rel=1e-9)
    changed = target.clone()
    changed[:, :, :2] += 0.7  # valid pixels: they count
    assert abs(float(loss(pred, changed, mask)['loss']) - base) > 1e-3
    nan_target = target.clone()
    nan_target[:, :, 6:] = float('nan')  # non-finite targets are invalid too
    assert float(loss(pred, nan_target)['loss']) == pytest.approx(base, rel=1e-9)


def test_ssi_loss_gradients_are_finite_in_degenerate_cases() -> None:
    target = torch.rand(2, 1, 8, 8) + 0.5
    for pred in (torch.rand(2, 1, 4, 4) + 0.1, torch.ones(2, 1, 4, 4),
                 (2.0 * target[:, :, ::2, ::2] + 1.0)):
        p = pred.clone().requires_grad_()
        out = ScaleShiftInvariantLoss()(p, target)
        out['loss'].backward()
        assert torch.isfinite(out['loss']) and bool(torch.isfinite(p.grad).all())
    p = torch.rand(2, 1, 4, 4, requires_grad=True)
    empty = ScaleShiftInvariantLoss()(p, target, torch.zeros_like(target, dtype=torch.bool))
    empty['loss'].backward()
    assert float(empty['loss'].detach()) == 0.0 and int(empty['n_images']) == 0
    assert bool(torch.isfinite(p.grad).all())
    flat = ScaleShiftInvariantLoss()(torch.rand(2, 1, 8, 8), torch.full((2, 1, 8, 8), 3.0))
    assert int(flat['n_images']) == 0  # a constant target has no shape to learn


# --------------------------------------------------------------------------- the label cache

def _labelled(teacher: Path, frames: Path, cache: Path, **kwargs) -> TeacherLabelDataset:
    labels = TeacherLabels(teacher, cache, device='cpu')
    base = build_dataset('unlabeled', root=frames, **kwargs.pop('dataset', {}))
    return TeacherLabelDataset(base, labels, 'set-test', **kwargs)


def test_labels_are_computed_once_hit_later_and_survive_a_restart(
        teachers: dict, frames: Path, tmp_path: Path) -> None:
    ds = _labelled(teachers['metric'], frames, tmp_path)
    stats = fill_labels([(ds, range(N_FRAMES))])
    assert stats == {'frames': N_FRAMES, 'cached': 0, 'computed': N_FRAMES}
    first = [ds[i]['depth'] for i in range(N_FRAMES)]
    for i in range(N_FRAMES):  # "the second epoch"
        ds[i]
    assert ds.labels.computed == N_FRAMES and ds.labels.hits == 2 * N_FRAMES
    restarted = _labelled(teachers['metric'], frames, tmp_path)
    assert fill_labels([(restarted, range(N_FRAMES))])['computed'] == 0
    for i in range(N_FRAMES):
        assert np.array_equal(restarted[i]['depth'], first[i])
    entries = sorted(ds.labels.root.glob('set-test/*.npy'))
    assert len(entries) == N_FRAMES and (ds.labels.root / MANIFEST).is_file()
    assert not list(ds.labels.root.rglob('.*'))  # no temporary files left
    manifest = json.loads((ds.labels.root / MANIFEST).read_text())
    assert manifest['sha256'] == ds.labels.sha256 and manifest['output_kind'] == 'metric'


def test_cached_labels_are_the_teacher_depth_within_float16(teachers: dict, frames: Path,
                                                            tmp_path: Path) -> None:
    est = create_estimator(teachers['canonical'], device='cpu')
    for kind, tol in (('canonical', 2.0 ** -11), ('relative', 2.0 ** -12)):
        ds = _labelled(teachers[kind], frames, tmp_path)
        frame, label = ds.label(2)
        ref = est.predict(frame.rgb, frame.intrinsics).depth  # metres at the frame size
        assert label.shape == (72, 96) == frame.hw
        if kind == 'canonical':
            assert np.max(np.abs(label - ref) / ref) <= tol
        else:  # the same brightness map as relative disparity, normalised to [0, 1]
            ref = (ref - ref.min()) / (ref.max() - ref.min())
            assert np.max(np.abs(label - ref)) <= tol + 1e-6
            assert label.min() == 0.0 and label.max() == 1.0


def test_corrupt_and_mismatched_entries_are_recomputed(teachers: dict, frames: Path,
                                                       tmp_path: Path) -> None:
    ds = _labelled(teachers['metric'], frames, tmp_path)
    fill_labels([(ds, range(N_FRAMES))])
    good = {i: ds.label(i)[1] for i in range(N_FRAMES)}
    entries = sorted((ds.labels.root / 'set-test').glob('*.npy'))
    entries[0].write_bytes(entries[0].read_bytes()[:-100])  # truncated
    entries[1].write_bytes(b'not a numpy file')  # corrupt
    np.save(entries[2], np.zeros((10, 10), np.float16))  # wrong shape
    np.save(entries[3], good[3].astype(np.float32))  # wrong dtype
    again = _labelled(teachers['metric'], frames, tmp_path)
    assert fill_labels([(again, range(N_FRAMES))]) == {'frames': N_FRAMES, 'cached': 2,
                                                       'computed': 4}
    for i in range(N_FRAMES):
        assert np.array_equal(again.label(i)[1], good[i])


def test_an_interrupted_fill_continues(teachers: dict, frames: Path, tmp_path: Path) -> None:
    ds = _labelled(teachers['metric'], frames, tmp_path)
    assert fill_labels([(ds, [0, 1])])['computed'] == 2
    resumed = _labelled(teachers['metric'], frames, tmp_path)
    assert fill_labels([(resumed, range(N_FRAMES))]) == {'frames': N_FRAMES, 'cached': 2,
                                                         'computed': N_FRAMES - 2}


def test_a_changed_teacher_or_frame_is_not_served_stale_labels(teachers: dict, frames: Path,
                                                               tmp_path: Path) -> None:
    teacher = tmp_path / 'teacher.onnx'
    write_toy_onnx(teacher, replace(TOY_SPEC, output_kind='metric', name='v1'))
    ds = _labelled(teacher, frames, tmp_path / 'cache')
    fill_labels([(ds, range(N_FRAMES))])
    write_toy_onnx(teacher, replace(TOY_SPEC, output_kind='metric', name='v2'))
    changed = _labelled(teacher, frames, tmp_path / 'cache')
    assert changed.labels.root != ds.labels.root
    assert fill_labels([(changed, range(N_FRAMES))])['computed'] == N_FRAMES
    # a re-recorded frame under the same name gets a new label
    copy = tmp_path / 'frames'
    shutil.copytree(frames, copy)
    first = _labelled(teacher, copy, tmp_path / 'cache')
    fill_labels([(first, range(N_FRAMES))])
    name = sorted((copy / 'rgb').iterdir())[1]
    cv2.imwrite(str(name), 255 - cv2.imread(str(name)))
    second = _labelled(teacher, copy, tmp_path / 'cache')
    assert fill_labels([(second, range(N_FRAMES))]) == {'frames': N_FRAMES,
                                                        'cached': N_FRAMES - 1, 'computed': 1}


def test_a_rank_gpu_that_cannot_run_falls_back_to_the_cpu(teachers: dict, frames: Path,
                                                          tmp_path: Path) -> None:
    import onnxruntime
    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        pytest.skip('this onnxruntime build has CUDA: cuda:7 might run')
    from disdepth_core.inference import EngineUnavailableError
    labels = TeacherLabels(teachers['metric'], tmp_path, device='cuda:7')
    frame = build_dataset('unlabeled', root=frames).load_frame(0)
    with pytest.raises(EngineUnavailableError, match='cuda:7'):
        labels.predict(frame)
    labels.device_fallback = 'cpu'
    assert labels.predict(frame).shape == frame.hw
    assert labels.estimator().info.provider == 'CPUExecutionProvider'


def test_augmentation_moves_the_teacher_map_with_the_image(teachers: dict,
                                                           tmp_path: Path) -> None:
    """Ground truth equal to the teacher's map must come out of the augmentation equal to it."""
    rng = np.random.default_rng(7)
    raw = tmp_path / 'raw'
    with RGBDFolderWriter(raw, K) as writer:
        for _ in range(4):
            writer.add(smooth_image(rng), np.ones((72, 96), np.float32))
    labels = TeacherLabels(teachers['metric'], tmp_path / 'cache', dtype='float32', device='cpu')
    plain = build_dataset('rgbd_folder', root=raw)
    target = tmp_path / 'labelled'
    with RGBDFolderWriter(target, K, depth_format='npy') as writer:
        for i in range(4):
            frame = plain.load_frame(i)
            writer.add(frame.rgb, labels.predict(frame))
    augment = Augmenter(AugmentConfig(crop_hw=(56, 80), scale_range=(1.1, 1.3), hflip_prob=0.5,
                                      rotate_deg=8.0, color_prob=0.0))
    base = build_dataset('rgbd_folder', root=target, augment=augment, size=(64, 96), seed=5)
    ds = TeacherLabelDataset(base, labels, 'labelled', anchor=True)
    moved = 0
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(4):
            sample = ds[i]
            assert sample['depth_source'] == 'teacher'
            teacher, truth = sample['depth'][0], sample['anchor_depth'][0]
            both = sample['valid_mask'][0] & sample['anchor_valid'][0]
            assert both.mean() > 0.6
            assert np.array_equal(sample['valid_mask'], sample['anchor_valid'])
            np.testing.assert_allclose(teacher[both], truth[both], rtol=1e-6)
            # and it really moved: the un-augmented map differs from the augmented one
            unaugmented = cv2.resize(labels.predict(base.load_frame(i)), (96, 64),
                                     interpolation=cv2.INTER_NEAREST)
            moved += np.abs(unaugmented - teacher)[both].mean() > 0.05
    assert moved == 12


# --------------------------------------------------------------------------- the stage

def test_metric_teacher_stage_caches_across_epochs_and_restarts(
        teachers: dict, frames: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingPredict(monkeypatch)
    cfg = tiny(teachers['metric'], frames, tmp_path / 'cache', 'schedule.max_steps=0',
               'schedule.epochs=2')
    summary = fit(cfg, tmp_path / 'run', quiet=True)
    assert summary['steps'] == 2 * (N_FRAMES // 2)  # two epochs of three batches of two
    assert counter.calls == N_FRAMES  # once per frame: the second epoch hit the cache
    info = summary['teacher_labels']
    assert info['loss'] == 'metric' and info['computed'] == N_FRAMES
    assert {'silog', 'teacher'} <= set(summary['final_losses'])
    student, spec, _ = load_checkpoint(tmp_path / 'run' / 'final')
    assert isinstance(student, DisDepthStudent) and spec.output_kind == 'canonical_metric'
    assert spec.extra['label_distill']['metric_scale'] == 'teacher'
    fit(cfg, tmp_path / 'run2', quiet=True)  # a restart
    assert counter.calls == N_FRAMES
    fit(replace(cfg, model=replace(cfg.model, teacher=TeacherConfig(
        kind='onnx', onnx_path=str(teachers['canonical'])))), tmp_path / 'run3', quiet=True)
    assert counter.calls == 2 * N_FRAMES  # another teacher file: other labels


def test_relative_teacher_stage_uses_ssi_and_says_the_scale_is_unknown(
        teachers: dict, frames: Path, tmp_path: Path) -> None:
    summary = fit(tiny(teachers['relative'], frames, tmp_path), tmp_path / 'run', quiet=True)
    assert summary['teacher_labels']['loss'] == 'ssi'
    assert summary['teacher_labels']['output_kind'] == 'relative_disparity'
    assert np.isfinite(summary['final_losses']['teacher'])
    _, spec, _ = load_checkpoint(tmp_path / 'run' / 'final')
    assert spec.extra['label_distill']['metric_scale'].startswith('none')
    # never metres: the node and disdepth bag refuse it unless asked for a relative output
    assert spec.output_kind == 'relative_depth' and not spec.is_metric
    from disdepth_core.inference import check_output_kind
    from disdepth_core.inference import RelativeModelError
    with pytest.raises(RelativeModelError, match='without a metric anchor'):
        check_output_kind(spec, relative_output=False)
    check_output_kind(spec, relative_output=True)


def _first_loss(cfg) -> dict:
    seed_everything(cfg.seed)
    task = build_task(cfg)
    mix = build_mix(cfg.data.train, cfg.data, train=True, max_depth=None,
                    wrap=task.wrap_dataset)
    from disdepth_core.training.teacher_labels import fill_labels as fill
    from disdepth_core.training.teacher_labels import labelled_parts
    fill(labelled_parts(mix))
    task.train()
    with torch.no_grad():
        out = task(collate([mix[0], mix[1]]))
    return {k: float(v) for k, v in out.items() if v.numel() == 1}


def test_ground_truth_is_ignored_unless_the_anchor_asks_for_it(teachers: dict, frames: Path,
                                                               tmp_path: Path) -> None:
    other = tmp_path / 'other_depth'
    shutil.copytree(frames, other)
    for path in (other / 'depth').iterdir():  # same images, other ground truth
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(path), (depth * 3).astype(np.uint16))
    runs = {}
    for name, root in (('a', frames), ('b', other)):
        for anchor in (0.0, 0.5):
            cfg = tiny(teachers['relative'], root, tmp_path / 'cache',
                       'data.train.0.name=rgbd_folder', f'label_distill.anchor_weight={anchor}')
            runs[name, anchor] = _first_loss(cfg)
    assert 'anchor' not in runs['a', 0.0]
    assert runs['a', 0.0]['loss'] == pytest.approx(runs['b', 0.0]['loss'], rel=1e-6)
    assert runs['a', 0.5]['teacher'] == pytest.approx(runs['a', 0.0]['teacher'], rel=1e-6)
    assert runs['a', 0.5]['anchor'] > 0 and runs['b', 0.5]['anchor'] > 0
    assert abs(runs['a', 0.5]['anchor'] - runs['b', 0.5]['anchor']) > 0.1
    assert runs['a', 0.5]['loss'] == pytest.approx(
        runs['a', 0.5]['teacher'] + 0.5 * runs['a', 0.5]['anchor'], rel=1e-5)


def test_label_distill_resumes(teachers: dict, frames: Path, tmp_path: Path) -> None:
    cfg = tiny(teachers['metric'], frames, tmp_path / 'cache', 'schedule.epochs=3')
    fit(replace(cfg, schedule=replace(cfg.schedule, max_steps=2)), tmp_path, quiet=True)
    summary = fit(replace(cfg, schedule=replace(cfg.schedule, max_steps=5)), tmp_path,
                  resume=tmp_path / 'last', quiet=True)
    assert summary['steps'] == 5
    steps = [json.loads(line)['step'] for line in (tmp_path / 'log.jsonl').read_text().splitlines()
             if json.loads(line)['kind'] == 'train']
    assert steps == [1, 2, 3, 4, 5]


def test_two_gloo_processes_share_the_fill_and_end_identical(
        teachers: dict, frames: Path, tmp_path: Path) -> None:
    pytest.importorskip('torch.distributed.run')
    out = tmp_path / 'run'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(REPO_ROOT)}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           '-m', 'disdepth_ros.cli', 'train', '--config', 'tiny', '--stage', 'label_distill',
           '--quiet', '--out', str(out), 'model.teacher.kind=onnx',
           f'model.teacher.onnx_path={teachers["metric"]}', 'data.train.0.name=unlabeled',
           f'data.train.0.root={frames}', f'label_distill.cache_dir={tmp_path / "cache"}',
           'data.batch_size=1', 'schedule.max_steps=0', 'schedule.epochs=1']
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['world_size'] == 2 and summary['steps'] == N_FRAMES // 2
    assert summary['teacher_labels']['computed'] == N_FRAMES // 2  # rank 0's half of the fill
    assert len(list((tmp_path / 'cache').rglob('*.npy'))) == N_FRAMES
    digests = summary['param_digests']
    assert len(digests) == 2 and digests[0] == digests[1]


def test_disdepth_train_runs_the_packaged_label_distill_config(
        teachers: dict, frames: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from disdepth_ros.cli import main
    common = ['train', '--config', 'label_distill', '--stage', 'label_distill', '--quiet',
              f'data.train.0.root={frames}', 'data.train.0.options={}', 'device=cpu',
              'threads=1', 'data.workers=0', 'data.batch_size=2', 'data.input_height=64',
              'data.input_width=96', 'schedule.max_steps=2', 'schedule.precise_bn_batches=0',
              'model.student.n_bins=16', 'model.student.decoder_width=32',
              'model.student.decoder_min_width=8', 'model.student.bins_hidden=32',
              f'label_distill.cache_dir={tmp_path / "cache"}', 'log.tensorboard=false']
    out = tmp_path / 'run'
    assert main([*common, '--out', str(out), f'model.teacher.onnx_path={teachers["relative"]}']) \
        == 0
    assert (out / 'final.safetensors').is_file()
    assert json.loads((out / 'summary.json').read_text())['teacher_labels']['loss'] == 'ssi'
    missing = tmp_path / 'missing.onnx'
    assert main([*common, '--out', str(tmp_path / 'bad'),
                 f'model.teacher.onnx_path={missing}']) == 2
    assert str(missing) in capsys.readouterr().err


def test_distillation_brings_the_student_closer_to_the_teacher(teachers: dict,
                                                               tmp_path: Path) -> None:
    """A few steps on unlabelled synthetic rooms reduce the held-out error against the teacher."""
    cfg = tiny(teachers['relative'], None, tmp_path / 'cache', 'data.train.0.name=synthetic',
               'data.train.0.options={length: 16, height: 72, width: 96, '
               'frames_per_sequence: 4}', 'data.batch_size=4', 'optim.lr=3e-3',
               'schedule.kind=constant', 'schedule.epochs=100', 'schedule.max_steps=20',
               'schedule.precise_bn_batches=4', 'log.print_every=0')
    held = build_dataset('synthetic', length=4, height=72, width=96, frames_per_sequence=2,
                         first_sequence=50)
    labels = TeacherLabels(teachers['relative'], tmp_path / 'cache', device='cpu')
    frames = [held.load_frame(i) for i in range(len(held))]
    targets = [labels.predict(f) for f in frames]

    def error(estimator) -> float:
        return float(np.mean([teacher_agreement(estimator.predict(f.rgb, f.intrinsics).depth,
                                                t, relative=True)['ssi']
                              for f, t in zip(frames, targets)]))
    seed_everything(cfg.seed)
    task = build_task(cfg)
    before = error(TorchEstimator(task.student.eval(), task.spec(), device='cpu'))
    fit(cfg, tmp_path / 'run', quiet=True)
    after = error(create_estimator(tmp_path / 'run' / 'final.json', device='cpu'))
    assert after < 0.75 * before


def test_the_experiment_tool_makes_a_real_relative_teacher(teachers: dict,
                                                           tmp_path: Path) -> None:
    tool = _tool('label_distill_experiment')
    src = teachers['canonical']
    dst = tool.relative_variant(src, tmp_path / 'relative.onnx')
    metric, relative = create_estimator(src, device='cpu'), create_estimator(dst, device='cpu')
    assert relative.spec.output_kind == 'relative_disparity'
    rgb = smooth_image(np.random.default_rng(1), 64, 96)
    k = CameraIntrinsics(70.0, 70.0, 47.5, 31.5, 96, 64)
    depth, disparity = metric.forward(rgb[None].transpose(0, 3, 1, 2) / np.float32(255.0)), \
        relative.forward(rgb[None].transpose(0, 3, 1, 2) / np.float32(255.0))
    np.testing.assert_allclose(disparity['depth'], 1.0 / depth['depth'], rtol=1e-5)
    result = relative.predict(rgb, k)
    assert result.kind == 'relative_disparity'
    inverse = 1.0 / metric.predict(rgb, k).depth  # nearer = larger, up to the metric scale
    assert np.corrcoef(result.depth.ravel(), inverse.ravel())[0, 1] > 0.999
