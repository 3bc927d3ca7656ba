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
The DisDepth training stages, each a :class:`Task` registered in :data:`STAGES`.

A task owns the networks of its stage (trainable and frozen) and the losses, and maps a batch to
a dict with ``'loss'`` and its parts (conventions: distillation returns its parts).  The loop
(:mod:`disdepth_core.training.loop`) knows nothing stage-specific.

* ``teacher``: trains the teacher (from scratch, or fine-tunes ``model.init``) with SILog +
  0.1 chamfer.
* ``student``: the supervised baseline student, SILog + 0.1 chamfer.
* ``acclimate``: FAM (+ the ghost decoder unless ``acclimate.ghost: frozen``) on the frozen
  teacher, SILog + 0.1 chamfer on the ghost decoder's depth.
* ``distill``: the student from the frozen acclimated teacher: ``gt_weight * (SILog + 0.1
  chamfer) + kd_weight * KD + depth_kd_weight * SILog(student depth, teacher depth)``.
* ``label_distill``: the student from a teacher ONNX file's output alone (no acclimation, no
  labels): the metric loss against a metric teacher's depth, or the scale-and-shift-invariant
  disparity loss against a relative one, plus an optional SILog anchor on labelled frames; the
  teacher's labels are computed once and cached (:mod:`disdepth_core.training.teacher_labels`).

Ground truth is metric; every loss compares canonical-camera depth, so targets are made by
:func:`disdepth_core.training.data.canonical_targets` (one helper for all stages).
"""

from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from disdepth_core.checkpoint import load_checkpoint
from disdepth_core.distill import AttentiveKDLoss
from disdepth_core.distill import CWDLoss
from disdepth_core.distill import FeatureKDLoss
from disdepth_core.distill import MSEFeatureLoss
from disdepth_core.losses import BinsChamferLoss
from disdepth_core.losses import ScaleShiftInvariantLoss
from disdepth_core.losses import SILogLoss
from disdepth_core.models import AcclimatedConfig
from disdepth_core.models import build_acclimated
from disdepth_core.models import build_student
from disdepth_core.models import build_teacher
from disdepth_core.models import DepthOutput
from disdepth_core.models import DisDepthStudent
from disdepth_core.models import freeze
from disdepth_core.modelspec import ModelSpec
from disdepth_core.training.config import DatasetEntry
from disdepth_core.training.config import DistillConfig
from disdepth_core.training.config import label_loss
from disdepth_core.training.config import TrainConfig
from disdepth_core.training.data import canonical_targets

# Parameter-name prefixes that belong to the decoder / heads (full learning rate); every other
# parameter is "encoder" and gets ``lr * encoder_lr_factor`` (AdaBins: encoder lr / 10).
DECODER_PREFIXES = ('head.', 'reassemble.', 'fam.', 'ghost.', 'kd.')


class StageError(ValueError):
    """A stage cannot start (missing checkpoint, incompatible models...); the message says why."""


class Task(nn.Module):
    """
    Base class of a stage: networks + losses; ``forward(batch) -> dict`` with ``'loss'``.

    :param cfg: the training configuration
    """

    stage = ''

    # True when some trained parameters may get no gradient in a step (DDP must look for them).
    has_unused_parameters = False

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.silog = SILogLoss(cfg.loss.silog_lambda, cfg.loss.silog_scale)
        self.chamfer = BinsChamferLoss(weight=1.0)

    # -- what subclasses provide -------------------------------------------------------------
    def predictor(self) -> nn.Module:
        """Return the network that validation runs (image -> DepthOutput, canonical depth)."""
        raise NotImplementedError

    def deliverable(self) -> Tuple[nn.Module, Any, str, str]:
        """Return ``(model, model_config, architecture, backbone)`` written as the checkpoint."""
        raise NotImplementedError

    def resume_modules(self) -> Dict[str, nn.Module]:
        """Return the modules whose state a resumed run must restore, by name."""
        raise NotImplementedError

    def trained_modules(self) -> Dict[str, nn.Module]:
        """Return the modules that are optimised (for parameter groups), by name prefix."""
        return self.resume_modules()

    def output_config(self) -> Any:
        """Return the config (canonical_focal, min_depth, max_depth) of the trained depth."""
        raise NotImplementedError

    # -- optional hooks (data preparation) ---------------------------------------------------
    def wrap_dataset(self, dataset: Any, entry: DatasetEntry) -> Any:
        """Wrap one training dataset before its frame selection (default: unchanged)."""
        return dataset

    def prepare_data(self, train_set: Any, rank: int, world_size: int, device: str,
                     progress: bool, log: Callable[[str], None]) -> None:
        """
        Prepare the training data once before the first step (default: nothing).

        :param train_set: the training mix
        :param rank: this process's rank
        :param world_size: number of processes
        :param device: the training device
        :param progress: show progress bars
        :param log: rank-0 log line writer
        """

    def summary_extra(self) -> Dict[str, Any]:
        """Stage-specific entries of ``summary.json`` (default: none)."""
        return {}

    @property
    def canonical_focal(self) -> float:
        """Canonical focal length of the trained network's depth."""
        return float(self.output_config().canonical_focal)

    @property
    def depth_range(self) -> Tuple[float, float]:
        """(min_depth, max_depth) of the trained network."""
        config = self.output_config()
        return (float(config.min_depth), float(config.max_depth))

    def supervised_forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Supervised loss of :meth:`predictor` on a labelled batch."""
        out = self.predictor()(batch['image'])
        target, valid = self.targets(batch)
        loss, parts = self.supervised(out, target, valid)
        return {'loss': loss, **parts}

    # -- shared -----------------------------------------------------------------------------
    def targets(self, batch: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Canonical-camera targets and their valid mask.

        :param batch: a collated batch on the training device
        :return: (B x 1 x H x W targets, B x 1 x H x W bool mask)
        """
        target = canonical_targets(batch, self.canonical_focal)
        valid = batch['valid_mask'] & (target > 0) & torch.isfinite(target)
        return target, valid

    def supervised(self, out: DepthOutput, target: torch.Tensor,
                   valid: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """
        Compute SILog + ``loss.chamfer_weight`` * chamfer (no chamfer for outputs without bins).

        :param out: the network output
        :param target: canonical targets
        :param valid: valid pixels
        :return: (loss, parts)
        """
        s = self.silog(out.depth.float(), target, valid)
        loss = s['loss']
        parts = {'silog': s['loss'].detach()}
        w = self.cfg.loss.chamfer_weight
        if w > 0 and out.bin_centers is not None:
            c = self.chamfer(out.bin_centers.float(), target, valid)['chamfer']
            loss = loss + w * c
            parts['chamfer'] = c.detach()
        return loss, parts

    def param_groups(self) -> List[Dict[str, Any]]:
        """
        Split the trained parameters into AdamW groups (encoder at lr * encoder_lr_factor).

        The encoder gets ``lr * encoder_lr_factor``, the decoder / heads / FAM get ``lr``.

        Each group carries ``peak_lr`` (the schedule multiplies it) and ``name``.

        :return: the groups (empty groups dropped)
        """
        optim = self.cfg.optim
        enc: List[nn.Parameter] = []
        dec: List[nn.Parameter] = []
        for prefix, module in self.trained_modules().items():
            for name, p in module.named_parameters():
                if not p.requires_grad:
                    continue
                full = f'{prefix}.{name}'
                is_dec = any(full.startswith(d) or name.startswith(d) for d in DECODER_PREFIXES)
                (dec if is_dec else enc).append(p)
        groups = [{'name': 'encoder', 'params': enc,
                   'peak_lr': optim.lr * optim.encoder_lr_factor},
                  {'name': 'decoder', 'params': dec, 'peak_lr': optim.lr}]
        groups = [g for g in groups if g['params']]
        for g in groups:
            g['lr'] = g['peak_lr']
        if not groups:
            raise StageError(f'stage {self.stage!r} has no trainable parameters')
        return groups

    def resume_state(self) -> Dict[str, torch.Tensor]:
        """Return the state a resume needs, keyed ``<module>.<key>``."""
        out = {}
        for prefix, module in self.resume_modules().items():
            for key, value in module.state_dict().items():
                out[f'{prefix}.{key}'] = value
        return out

    def load_resume_state(self, state: Dict[str, torch.Tensor]) -> None:
        """
        Restore what :meth:`resume_state` returned.

        :raises StageError: if modules are missing or shapes differ
        """
        for prefix, module in self.resume_modules().items():
            sub = {k[len(prefix) + 1:]: v for k, v in state.items()
                   if k.startswith(prefix + '.')}
            try:
                module.load_state_dict(sub, strict=True)
            except RuntimeError as exc:
                raise StageError(f'cannot resume {prefix!r} of stage {self.stage!r}: the '
                                 f'checkpoint does not match this config ({exc})') from None

    def spec(self, name: str = '', extra: Optional[Dict[str, Any]] = None) -> ModelSpec:
        """
        Build the ``ModelSpec`` of the deliverable model.

        :param name: model name (default: ``disdepth-<stage>-<backbone>``)
        :param extra: provenance stored in ``spec.extra``
        :return: the spec
        """
        _, _, arch, backbone = self.deliverable()
        lo, hi = self.depth_range
        return ModelSpec(name=name or f'disdepth-{self.stage}-{backbone}', architecture=arch,
                         backbone=backbone, input_height=self.cfg.data.input_height,
                         input_width=self.cfg.data.input_width,
                         canonical_focal=float(self.canonical_focal), min_depth=float(lo),
                         max_depth=float(hi), extra=dict(extra or {}))


def _load(path: str, what: str) -> Tuple[nn.Module, ModelSpec, Dict[str, Any]]:
    if not path:
        raise StageError(f'{what} is required for this stage (set it in the config or with '
                         f'{what}=PATH)')
    try:
        return load_checkpoint(path)
    except (FileNotFoundError, ValueError) as exc:
        raise StageError(f'{what}: {exc}') from None


def _student_from(cfg: TrainConfig) -> DisDepthStudent:
    if cfg.model.init:
        model, _, _ = _load(cfg.model.init, 'model.init')
        if not isinstance(model, DisDepthStudent):
            raise StageError(f'model.init {cfg.model.init} is not a student checkpoint')
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    return build_student(cfg.model.student)


class TeacherTask(Task):
    """Train (or fine-tune from ``model.init``) the teacher with SILog + chamfer."""

    stage = 'teacher'

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        if cfg.model.init:
            model, _, _ = _load(cfg.model.init, 'model.init')
            model.train()
            for p in model.parameters():
                p.requires_grad_(True)
        else:
            model = build_teacher(cfg.model.teacher, frozen=False)
        self.teacher = model

    def forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Supervised loss of the teacher."""
        return self.supervised_forward(batch)

    def predictor(self) -> nn.Module:
        """Return the teacher."""
        return self.teacher

    def deliverable(self) -> Tuple[nn.Module, Any, str, str]:
        """Return the teacher and its config."""
        config = self.teacher.config
        return self.teacher, config, 'teacher', str(getattr(config, 'kind', 'teacher'))

    def resume_modules(self) -> Dict[str, nn.Module]:
        """Return the teacher."""
        return {'teacher': self.teacher}

    def output_config(self) -> Any:
        """Return the teacher's config."""
        return self.teacher.config


class _StudentResult:
    """The deliverable of the stages whose trained network is ``self.student`` alone."""

    student: DisDepthStudent

    def predictor(self) -> nn.Module:
        """Return the student."""
        return self.student

    def deliverable(self) -> Tuple[nn.Module, Any, str, str]:
        """Return the student and its config."""
        return self.student, self.student.config, 'student', self.student.config.backbone

    def resume_modules(self) -> Dict[str, nn.Module]:
        """Return the student."""
        return {'student': self.student}

    def output_config(self) -> Any:
        """Return the student's config."""
        return self.student.config


class StudentTask(_StudentResult, Task):
    """Supervised baseline student."""

    stage = 'student'

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.student = _student_from(cfg)

    def forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Supervised loss of the student."""
        return self.supervised_forward(batch)


class AcclimateTask(Task):
    """
    FAM + ghost decoder on the frozen teacher (paper digest section 4).

    ``acclimate.ghost: joint`` trains a fresh ghost decoder with the FAM; ``frozen`` copies the
    decoder of ``model.student_checkpoint`` into the ghost decoder, freezes it and trains only
    the FAM.
    """

    stage = 'acclimate'

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        teacher, _, _ = _load(cfg.model.teacher_checkpoint, 'model.teacher_checkpoint')
        teacher = freeze(teacher)
        student: Optional[DisDepthStudent] = None
        student_cfg = cfg.model.student
        if cfg.acclimate.ghost == 'frozen':
            loaded, _, _ = _load(cfg.model.student_checkpoint, 'model.student_checkpoint')
            if not isinstance(loaded, DisDepthStudent):
                raise StageError(f'model.student_checkpoint {cfg.model.student_checkpoint} is '
                                 'not a student checkpoint')
            student = loaded
            student_cfg = loaded.config
        teacher_cfg = getattr(teacher, 'config', None)
        if teacher_cfg is None:
            raise StageError('the teacher checkpoint has no config to rebuild it from')
        level_map = tuple(cfg.acclimate.level_map) or None
        self.acclimated = build_acclimated(
            AcclimatedConfig(teacher=teacher_cfg, student=student_cfg,
                             ghost_mode=cfg.acclimate.ghost, level_map=level_map),
            student=student, teacher=teacher)
        self.student_config = student_cfg

    def forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Supervised loss of the ghost decoder's depth (gradients reach FAM and ghost only)."""
        return self.supervised_forward(batch)

    def predictor(self) -> nn.Module:
        """Return the acclimated teacher."""
        return self.acclimated

    def deliverable(self) -> Tuple[nn.Module, Any, str, str]:
        """Return the acclimated teacher and its config."""
        a = self.acclimated
        config = AcclimatedConfig(teacher=a.teacher.config, student=self.student_config,
                                  ghost_mode=self.cfg.acclimate.ghost,
                                  level_map=tuple(a.fam.level_map))
        return a, config, 'acclimated', str(getattr(a.teacher.config, 'kind', 'teacher'))

    def resume_modules(self) -> Dict[str, nn.Module]:
        """Return the FAM and the ghost decoder."""
        return {'fam': self.acclimated.fam, 'ghost': self.acclimated.ghost}

    def output_config(self) -> Any:
        """Return the ghost decoder's (= the student's) config."""
        return self.student_config


def _kd_attentive(s: List[int], t: List[int], d: DistillConfig) -> FeatureKDLoss:
    return AttentiveKDLoss(s, t, temperature=d.temperature, attention=d.attention)


def _kd_mse(s: List[int], t: List[int], d: DistillConfig) -> FeatureKDLoss:
    return MSEFeatureLoss(s, t)


def _kd_cwd(s: List[int], t: List[int], d: DistillConfig) -> FeatureKDLoss:
    return CWDLoss(s, t, temperature=d.cwd_temperature)


# distill.kd_loss -> builder(student_channels, teacher_channels, DistillConfig); 'none': no KD.
KD_BUILDERS: Dict[str, Optional[Callable[[List[int], List[int], DistillConfig],
                                         FeatureKDLoss]]] = {
    'attentive': _kd_attentive,
    'mse': _kd_mse,
    'cwd': _kd_cwd,
    'none': None,
}


class DistillTask(Task):
    """
    Student trained from the frozen acclimated teacher (with or without ground truth).

    ``loss = gt_weight * (SILog + 0.1 chamfer) + kd_weight * KD(student features, FAM outputs)
    + depth_kd_weight * SILog(student depth, acclimated-teacher depth)``.
    """

    stage = 'distill'

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        d = cfg.distill
        teacher, _, _ = _load(cfg.model.acclimated_checkpoint, 'model.acclimated_checkpoint')
        if not hasattr(teacher, 'fam'):
            raise StageError(f'model.acclimated_checkpoint {cfg.model.acclimated_checkpoint} is '
                             'not an acclimated teacher (run the acclimate stage first)')
        self.teacher = freeze(teacher)
        self.student = _student_from(cfg)
        s_info, t_info = self.student.feature_info, self.teacher.feature_info
        if len(s_info) != len(t_info):
            raise StageError(f'student has {len(s_info)} feature levels, the acclimated teacher '
                             f'{len(t_info)} (acclimate it for this student backbone)')
        n = len(s_info)
        self.levels = tuple(d.levels) or tuple(range(n))
        bad = [i for i in self.levels if not 0 <= i < n]
        if bad:
            raise StageError(f'distill.levels {bad} out of range 0..{n - 1}')
        if d.init_decoder_from_ghost:
            try:
                self.student.head.load_state_dict(self.teacher.ghost.state_dict())
            except RuntimeError as exc:
                raise StageError(f'cannot copy the ghost decoder into the student: {exc}') \
                    from None
        builder = KD_BUILDERS[d.kd_loss]
        self.kd = None if builder is None or d.kd_weight == 0 else builder(
            [s_info[i].channels for i in self.levels], [t_info[i].channels for i in self.levels],
            d)
        if d.gt_weight == 0 and d.depth_kd_weight == 0 and self.kd is None:
            raise StageError('distill: every loss weight is 0 (set distill.gt_weight, '
                             'distill.kd_weight or distill.depth_kd_weight)')
        # Feature KD alone leaves the student's decoder without gradient.
        self.has_unused_parameters = d.gt_weight == 0 and d.depth_kd_weight == 0
        # distill.kd_balance: factor fixed at the first training step (-1: not yet).
        self.register_buffer('kd_scale', torch.tensor(-1.0 if d.kd_balance else 1.0))

    def forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Supervised + feature KD + depth KD losses."""
        d = self.cfg.distill
        image = batch['image']
        with torch.no_grad():
            t_out = self.teacher(image)
        s_out = self.student(image)
        parts: Dict[str, torch.Tensor] = {}
        loss = s_out.depth.sum() * 0.0
        if d.gt_weight > 0:
            target, valid = self.targets(batch)
            sup, sparts = self.supervised(s_out, target, valid)
            loss = loss + d.gt_weight * sup
            parts.update(sparts)
            parts['supervised'] = sup.detach()
        if d.depth_kd_weight > 0:
            t_depth = t_out.depth.detach().float()
            everywhere = torch.ones_like(t_depth, dtype=torch.bool)
            dkd = self.silog(s_out.depth.float(), t_depth, everywhere)
            loss = loss + d.depth_kd_weight * dkd['loss']
            parts['depth_kd'] = dkd['loss'].detach()
        if self.kd is not None:
            kd = self.kd([s_out.features[i] for i in self.levels],
                         [t_out.features[i].detach() for i in self.levels])['loss']
            if self.training and float(self.kd_scale) < 0:
                ref = parts.get('supervised', parts.get('depth_kd'))
                scale = 1.0 if ref is None else float(ref) / max(float(kd.detach()), 1e-12)
                self.kd_scale.fill_(scale)
            kd = kd * self.kd_scale.clamp_min(0.0)
            loss = loss + d.kd_weight * kd
            parts['kd'] = kd.detach()
        return {'loss': loss, **parts}

    def predictor(self) -> nn.Module:
        """Return the student."""
        return self.student

    def deliverable(self) -> Tuple[nn.Module, Any, str, str]:
        """Return the student and its config."""
        return self.student, self.student.config, 'student', self.student.config.backbone

    def resume_modules(self) -> Dict[str, nn.Module]:
        """Return the student and the KD loss (its align convs)."""
        mods: Dict[str, nn.Module] = {'student': self.student}
        if self.kd is not None:
            mods['kd'] = self.kd
        return mods

    def resume_state(self) -> Dict[str, torch.Tensor]:
        """Return the trained modules' state plus the KD balance factor."""
        return {**super().resume_state(), 'kd_scale': self.kd_scale.detach().clone()}

    def load_resume_state(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore the trained modules and the KD balance factor."""
        super().load_resume_state(state)
        if 'kd_scale' in state:
            self.kd_scale.copy_(state['kd_scale'])

    def output_config(self) -> Any:
        """Return the student's config."""
        return self.student.config


class LabelDistillTask(_StudentResult, Task):
    """
    The student from a teacher ONNX file's output on (unlabelled) frames: no acclimation.

    ``loss = teacher_weight * L_teacher + anchor_weight * SILog(student, ground truth)``;
    ``L_teacher`` is SILog + ``loss.chamfer_weight`` chamfer against the teacher's metric depth
    in canonical-camera units (``label_distill.loss: metric``), or the scale-and-shift-invariant
    loss between the student's disparity ``1 / depth`` and the teacher's relative disparity
    (``ssi``).  Training frames come through :class:`~disdepth_core.training.teacher_labels.
    TeacherLabelDataset` (the teacher's map in the depth slot, augmented with the image); the
    ground truth of labelled datasets is used only for the anchor.
    """

    stage = 'label_distill'

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        from disdepth_core.training.teacher_labels import TeacherLabels
        ld = cfg.label_distill
        teacher = cfg.model.teacher
        if teacher.kind != 'onnx' or not teacher.onnx_path:
            raise StageError('stage label_distill needs model.teacher.kind=onnx and '
                             'model.teacher.onnx_path')
        try:
            self.labels = TeacherLabels(teacher.onnx_path, ld.cache_dir, ld.cache_dtype,
                                        ld.teacher_device, ld.teacher_input_size,
                                        ld.teacher_threads)
        except ValueError as exc:
            raise StageError(str(exc)) from None
        self.loss_kind = label_loss(cfg)
        self.student = _student_from(cfg)
        self.ssi = ScaleShiftInvariantLoss(ld.ssi_residual)
        self.label_stats: Dict[str, int] = {}

    def wrap_dataset(self, dataset: Any, entry: DatasetEntry) -> Any:
        """Serve the teacher's labels of this dataset (and its ground truth for the anchor)."""
        from disdepth_core.training.teacher_labels import dataset_identity
        from disdepth_core.training.teacher_labels import TeacherLabelDataset
        try:
            return TeacherLabelDataset(dataset, self.labels, dataset_identity(entry),
                                       anchor=self.cfg.label_distill.anchor_weight > 0,
                                       max_depth=self.cfg.data.max_depth)
        except TypeError as exc:
            raise StageError(f'dataset {entry.name!r}: {exc}') from None

    def prepare_data(self, train_set: Any, rank: int, world_size: int, device: str,
                     progress: bool, log: Callable[[str], None]) -> None:
        """Compute the missing teacher labels (this rank's share) before training."""
        from disdepth_core.training.teacher_labels import fill_labels
        from disdepth_core.training.teacher_labels import labelled_parts
        if world_size > 1 and self.labels.device == 'auto' and device.startswith('cuda:'):
            # this rank's GPU rather than every rank on GPU 0; the CPU if ONNX Runtime has no CUDA
            self.labels.device, self.labels.device_fallback = device, 'cpu'
        self.label_stats = fill_labels(labelled_parts(train_set), rank, world_size, progress,
                                       log)
        if self.labels.relative and self.cfg.label_distill.anchor_weight == 0:
            log(f'label_distill: {self.labels.path.name} is a relative teacher and there is no '
                'anchor: the student learns depth up to a scale and shift of its inverse (add '
                'labelled frames and label_distill.anchor_weight > 0 for metres)')

    def summary_extra(self) -> Dict[str, Any]:
        """Return the teacher and its label cache."""
        return {'teacher_labels': {'teacher': str(self.labels.path),
                                   'sha256': self.labels.sha256,
                                   'output_kind': self.labels.spec.output_kind,
                                   'loss': self.loss_kind, 'cache': str(self.labels.root),
                                   **self.label_stats, 'computed_total': self.labels.computed}}

    def forward(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """Teacher loss (metric or SSI) + the optional ground-truth anchor."""
        ld = self.cfg.label_distill
        out = self.student(batch['image'])
        loss = out.depth.sum() * 0.0
        parts: Dict[str, torch.Tensor] = {}
        if ld.teacher_weight > 0:
            if self.loss_kind == 'ssi':
                disparity = 1.0 / out.depth.float().clamp_min(1e-6)
                ssi = self.ssi(disparity, batch['depth'], batch['valid_mask'])
                teacher_loss = ssi['loss']
                parts['ssi_scale'] = ssi['scale']
            else:
                target, valid = self.targets(batch)
                teacher_loss, sparts = self.supervised(out, target, valid)
                parts.update(sparts)
            loss = loss + ld.teacher_weight * teacher_loss
            parts['teacher'] = teacher_loss.detach()
        if ld.anchor_weight > 0 and 'anchor_depth' in batch:
            target = canonical_targets({'image': batch['image'], 'depth': batch['anchor_depth'],
                                        'K': batch['K']}, self.canonical_focal)
            valid = batch['anchor_valid'] & (target > 0) & torch.isfinite(target)
            anchor = self.silog(out.depth.float(), target, valid)['loss']
            loss = loss + ld.anchor_weight * anchor
            parts['anchor'] = anchor.detach()
        return {'loss': loss, **parts}

    def spec(self, name: str = '', extra: Optional[Dict[str, Any]] = None) -> ModelSpec:
        """Return the student's spec, with the teacher and where the metric scale comes from."""
        ld = self.cfg.label_distill
        if not self.labels.relative:
            scale = 'teacher'
        elif ld.anchor_weight > 0:
            scale = 'ground-truth anchor'
        else:
            scale = ('none: relative teacher without an anchor, the depth is known only up to '
                     'a scale and shift of its inverse')
        info = {'teacher': self.labels.path.name, 'teacher_sha256': self.labels.sha256,
                'teacher_output_kind': self.labels.spec.output_kind, 'loss': self.loss_kind,
                'metric_scale': scale}
        spec = super().spec(name, {**dict(extra or {}), 'label_distill': info})
        if self.labels.relative and ld.anchor_weight <= 0:
            # never published as metres: the node and bag refuse it unless asked for relative
            spec = replace(spec, output_kind='relative_depth')
        return spec


# stage name -> Task class
STAGES: Dict[str, Callable[[TrainConfig], Task]] = {
    'teacher': TeacherTask,
    'student': StudentTask,
    'acclimate': AcclimateTask,
    'distill': DistillTask,
    'label_distill': LabelDistillTask,
}


def build_task(cfg: TrainConfig) -> Task:
    """
    Build the task of ``cfg.stage``.

    :param cfg: the training configuration
    :return: the task (on the CPU; the loop moves it)
    :raises StageError: for an unknown stage or a stage that cannot start
    """
    if cfg.stage not in STAGES:
        raise StageError(f'unknown stage {cfg.stage!r}; stages: {", ".join(STAGES)}')
    return STAGES[cfg.stage](cfg)
