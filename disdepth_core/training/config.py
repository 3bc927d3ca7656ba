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
Training configuration: frozen dataclasses, one per section, composed into :class:`TrainConfig`.

Built with :func:`disdepth_core.config.load_config` as defaults <- YAML file <- ``key.sub=value``
overrides; unknown keys are errors.  The merged result is written as ``config.yaml`` next to every
checkpoint, so a run can be reproduced from its output folder alone.  Defaults follow the AdaBins
recipe the DisDepth digest recommends (paper digest section 7): AdamW, weight decay 0.1, OneCycle
with max_lr 3.57e-4, div_factor 25, final_div_factor 100, encoder lr / 10, gradient clipping 0.1,
25 epochs, batch 16.

Sections: ``data`` (datasets by registry name, mixable with weights/repeats), ``model`` (student
and teacher configs and the checkpoints a stage starts from), ``optim``, ``schedule``, ``loss``,
``acclimate``, ``distill``, ``label_distill`` and ``log``.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple, Union

from disdepth_core.config import ConfigError
from disdepth_core.config import load_config
from disdepth_core.distill import ATTENTION_SOURCES
from disdepth_core.losses import SSI_RESIDUALS
from disdepth_core.models import StudentConfig
from disdepth_core.models import TeacherConfig
from disdepth_core.models.fam import GHOST_MODES
from disdepth_core.models.teacher import onnx_teacher_spec

KD_LOSSES = ('attentive', 'mse', 'cwd', 'none')
KD_ATTENTION = ATTENTION_SOURCES
AMP_MODES = ('auto', 'off', 'bf16', 'fp16')
# label_distill.loss: 'auto' picks 'metric' for metric teachers and 'ssi' for relative ones.
LABEL_LOSSES = ('auto', 'metric', 'ssi')
LABEL_CACHE_DTYPES = ('float16', 'float32')


@dataclass(frozen=True)
class DatasetEntry:
    """
    One dataset of a training or validation mix.

    :param name: dataset registry name ('rgbd_folder', 'nyu', 'kitti_eigen', 'synthetic',
        'unlabeled')
    :param root: the dataset root (folder, bag...) passed as ``root``; empty for datasets that
        need none (``synthetic``)
    :param options: more constructor arguments of that dataset (e.g. ``split``, ``topic``)
    :param select: a Python slice over the dataset's frames, e.g. ``'0:30'`` or ``'-12:'`` (empty:
        all frames; quote it in YAML); how train / held-out frames of one sequence are separated
    :param repeats: how many times the (selected) frames appear in one epoch (integer >= 1)
    :param weight: relative sampling weight per frame (1 everywhere: plain shuffling; otherwise
        frames are drawn with replacement with probability proportional to the weight)
    :param augment: apply the training augmentation (ignored for validation sets)
    :param augment_options: ``AugmentConfig`` values for this dataset only, over ``data.augment``
        (e.g. a ``crop_hw`` that fits its image size)
    """

    name: str
    root: str = ''
    options: Dict[str, Any] = field(default_factory=dict)
    select: str = ''
    repeats: int = 1
    weight: float = 1.0
    augment: bool = True
    augment_options: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate the entry."""
        if self.repeats < 1:
            raise ValueError(f'dataset {self.name!r}: repeats must be >= 1, got {self.repeats}')
        if not self.weight > 0:
            raise ValueError(f'dataset {self.name!r}: weight must be > 0, got {self.weight}')
        parse_select(self.select)


def parse_select(text: str) -> slice:
    """
    Parse a ``start:stop[:step]`` frame selection into a slice (empty: everything).

    :param text: the selection
    :return: the slice
    :raises ValueError: for a malformed selection
    """
    text = (text or '').strip()
    if not text:
        return slice(None)
    parts = text.split(':')
    if len(parts) == 1 or len(parts) > 3:
        raise ValueError(f'frame selection {text!r} must look like start:stop or start:stop:step')
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise ValueError(f'frame selection {text!r}: bounds must be integers') from None
    if len(values) == 3 and values[2] is not None and values[2] <= 0:
        raise ValueError(f'frame selection {text!r}: step must be positive')
    return slice(*values)


@dataclass(frozen=True)
class DataConfig:
    """
    What to train and validate on.

    :param train: the training mix (one or more datasets)
    :param val: validation sets (evaluated separately, each reported under its index / name)
    :param input_height: network input height (multiple of 32)
    :param input_width: network input width (multiple of 32)
    :param batch_size: per-process batch size
    :param val_batch_size: validation batch size
    :param workers: DataLoader worker processes (0: load in the training process)
    :param seed: seed of the augmentation streams and the sampling order
    :param augment: :class:`disdepth_core.data.augment.AugmentConfig` values (crop_hw,
        scale_range, hflip_prob, rotate_deg, color_prob, gamma_range, brightness_range,
        color_range; an empty mapping: its defaults, the NYU recipe without crop; null: no
        augmentation).  Samples are resized to the network input after augmentation.
    :param max_depth: ground truth beyond this is ignored in the losses (None: the model's
        ``max_depth``)
    """

    train: Tuple[DatasetEntry, ...] = ()
    val: Tuple[DatasetEntry, ...] = ()
    input_height: int = 192
    input_width: int = 256
    batch_size: int = 16
    val_batch_size: int = 4
    workers: int = 0
    seed: int = 0
    augment: Optional[Dict[str, Any]] = field(default_factory=dict)
    max_depth: Optional[float] = None

    def __post_init__(self) -> None:
        """Validate sizes."""
        for name in ('input_height', 'input_width'):
            value = getattr(self, name)
            if value <= 0 or value % 32:
                raise ValueError(f'data.{name} must be a positive multiple of 32, got {value}')
        if self.batch_size < 1 or self.val_batch_size < 1:
            raise ValueError('data.batch_size and data.val_batch_size must be >= 1')
        if self.workers < 0:
            raise ValueError(f'data.workers must be >= 0, got {self.workers}')

    @property
    def hw(self) -> Tuple[int, int]:
        """Network input (height, width)."""
        return (self.input_height, self.input_width)


@dataclass(frozen=True)
class ModelSection:
    """
    The networks of a run and the checkpoints a stage starts from.

    :param name: model name written into the checkpoint's ``ModelSpec``
    :param student: the student architecture (stages ``student``, ``distill``,
        ``label_distill``; also sizes the ghost decoder of ``acclimate``)
    :param teacher: the teacher architecture (stage ``teacher``; ``label_distill``: a kind
        ``onnx`` teacher file; ``acclimate`` / ``distill`` read it from the teacher checkpoint)
    :param init: checkpoint to initialise the trained network from (fine-tuning), or empty
    :param teacher_checkpoint: trained teacher for ``acclimate`` (required there)
    :param student_checkpoint: trained student whose decoder becomes the frozen ghost decoder
        (``acclimate`` with ``acclimate.ghost: frozen``)
    :param acclimated_checkpoint: output of ``acclimate``, the teacher for ``distill``
    """

    name: str = ''
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    init: str = ''
    teacher_checkpoint: str = ''
    student_checkpoint: str = ''
    acclimated_checkpoint: str = ''


@dataclass(frozen=True)
class OptimConfig:
    """
    AdamW with an encoder learning rate of ``lr * encoder_lr_factor``.

    :param lr: peak learning rate of the decoder / heads (OneCycle ``max_lr``)
    :param encoder_lr_factor: encoder (backbone) lr = ``lr * encoder_lr_factor``
    :param weight_decay: AdamW weight decay
    :param betas: AdamW betas (beta1 is cycled by OneCycle when ``schedule.cycle_momentum``)
    :param grad_clip: clip the global gradient norm to this (0: no clipping)
    :param amp: mixed precision: 'auto' (bf16 on CUDA when supported, else fp16; off on CPU),
        'bf16', 'fp16' (with a GradScaler) or 'off'
    """

    lr: float = 3.57e-4
    encoder_lr_factor: float = 0.1
    weight_decay: float = 0.1
    betas: Tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 0.1
    amp: Union[str, bool] = 'auto'

    def __post_init__(self) -> None:
        """Validate the values (YAML's bare ``off`` / ``on`` arrive as booleans)."""
        if isinstance(self.amp, bool):
            object.__setattr__(self, 'amp', 'auto' if self.amp else 'off')
        if not self.lr > 0:
            raise ValueError(f'optim.lr must be > 0, got {self.lr}')
        if self.amp not in AMP_MODES:
            raise ValueError(f'optim.amp must be one of {AMP_MODES}, got {self.amp!r}')
        if self.grad_clip < 0:
            raise ValueError(f'optim.grad_clip must be >= 0, got {self.grad_clip}')


@dataclass(frozen=True)
class ScheduleConfig:
    """
    How long to train and how the learning rate moves.

    :param epochs: number of epochs
    :param max_steps: stop after this many optimisation steps (0: ``epochs`` decide); the
        schedule spans ``min(max_steps, epochs * steps_per_epoch)``
    :param kind: 'onecycle' or 'constant'
    :param pct_start: OneCycle warm-up fraction
    :param div_factor: OneCycle initial lr = lr / div_factor
    :param final_div_factor: OneCycle final lr = initial lr / final_div_factor
    :param cycle_momentum: cycle Adam's beta1 between the two momenta
    :param base_momentum: lowest beta1
    :param max_momentum: highest beta1
    :param val_every: validate every N epochs (0: only at the end)
    :param val_every_steps: also validate every N steps (0: off)
    :param precise_bn_batches: before each validation and the final checkpoint, re-estimate the
        BatchNorm running statistics of the trained network on this many training batches
        ("precise BN"; 0: off).  Short from-scratch runs need it: the running averages lag far
        behind the fast-moving weights
    """

    epochs: int = 25
    max_steps: int = 0
    kind: str = 'onecycle'
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 100.0
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    val_every: int = 1
    val_every_steps: int = 0
    precise_bn_batches: int = 0

    def __post_init__(self) -> None:
        """Validate the values."""
        if self.precise_bn_batches < 0:
            raise ValueError('schedule.precise_bn_batches must be >= 0')
        if self.epochs < 1:
            raise ValueError(f'schedule.epochs must be >= 1, got {self.epochs}')
        if self.max_steps < 0:
            raise ValueError(f'schedule.max_steps must be >= 0, got {self.max_steps}')


@dataclass(frozen=True)
class LossConfig:
    """
    The supervised depth loss (AdaBins): ``silog + chamfer_weight * chamfer``.

    :param silog_lambda: variance focus of SILog (0.85)
    :param silog_scale: SILog scale (10)
    :param chamfer_weight: weight of the bin-centre chamfer loss (0.1; 0 disables it)
    """

    silog_lambda: float = 0.85
    silog_scale: float = 10.0
    chamfer_weight: float = 0.1


@dataclass(frozen=True)
class AcclimateConfig:
    """
    Ghost-decoder teacher acclimation (paper digest section 4).

    :param ghost: 'joint' (FAM and a fresh ghost decoder trained together on the frozen
        teacher) or 'frozen' (ghost decoder copied from ``model.student_checkpoint`` and frozen;
        only the FAM learns)
    :param level_map: teacher level per student level (empty: nearest stride)
    """

    ghost: str = 'joint'
    level_map: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        """Validate the mode."""
        if self.ghost not in GHOST_MODES:
            raise ValueError(f'acclimate.ghost must be one of {GHOST_MODES}, got {self.ghost!r}')


@dataclass(frozen=True)
class DistillConfig:
    """
    Distillation loss: ``gt_weight * (silog + chamfer) + kd_weight * KD + depth_kd_weight * DKD``.

    :param kd_loss: feature KD variant: 'attentive', 'mse', 'cwd' or 'none'
    :param kd_weight: weight of the feature KD loss
    :param attention: attentive KD: attention from the 'teacher', the 'student' or 'both'
    :param temperature: attentive KD spatial-softmax temperature (CWD uses ``cwd_temperature``)
    :param cwd_temperature: CWD channel-softmax temperature
    :param levels: indices of the feature levels to distil (empty: all)
    :param gt_weight: weight of the supervised loss on ground truth (0: no ground truth used)
    :param depth_kd_weight: weight of SILog between the student depth and the acclimated
        teacher's depth (for unlabeled data; 0: off)
    :param init_decoder_from_ghost: start the student decoder + heads from the ghost decoder
    :param kd_balance: at the first training step, rescale the feature KD term once so that it
        equals the supervised loss (or the depth-KD loss without ground truth) times
        ``kd_weight``; the digest's "weight tuned so that L_kd ~ L_depth at the start", which
        makes KD variants with very different raw magnitudes comparable.  The factor is kept in
        the checkpoint's training state
    """

    kd_loss: str = 'attentive'
    kd_weight: float = 1.0
    attention: str = 'both'
    temperature: float = 0.5
    cwd_temperature: float = 4.0
    levels: Tuple[int, ...] = ()
    gt_weight: float = 1.0
    depth_kd_weight: float = 0.0
    init_decoder_from_ghost: bool = False
    kd_balance: bool = False

    def __post_init__(self) -> None:
        """Validate the variants."""
        if self.kd_loss not in KD_LOSSES:
            raise ValueError(f'distill.kd_loss must be one of {KD_LOSSES}, got {self.kd_loss!r}')
        if self.attention not in KD_ATTENTION:
            raise ValueError(f'distill.attention must be one of {KD_ATTENTION}, got '
                             f'{self.attention!r}')
        if min(self.kd_weight, self.gt_weight, self.depth_kd_weight) < 0:
            raise ValueError('distill weights must be >= 0')


@dataclass(frozen=True)
class LabelDistillConfig:
    """
    Output-level distillation from a teacher ONNX file, no labels needed (stage ``label_distill``).

    ``loss = teacher_weight * L_teacher + anchor_weight * SILog(student, ground truth)``, where
    ``L_teacher`` is the metric loss (SILog + ``loss.chamfer_weight`` chamfer against the
    teacher's metric depth, turned into canonical targets like ground truth) or the
    scale-and-shift-invariant disparity loss
    (:class:`disdepth_core.losses.ScaleShiftInvariantLoss`).

    :param loss: 'metric', 'ssi', or 'auto' ('metric' for a ``metric`` / ``canonical_metric``
        teacher, 'ssi' for a ``relative_disparity`` one); a relative teacher cannot take
        'metric'
    :param ssi_residual: residual of the SSI loss: 'abs' (mean absolute) or 'squared'
    :param teacher_weight: weight of the teacher loss
    :param anchor_weight: weight of SILog against the ground truth of labelled frames in the mix
        (the metric anchor; 0: ground truth is ignored)
    :param cache_dir: folder of the teacher-label cache (empty: ``$XDG_CACHE_HOME/disdepth/
        teacher_labels``, i.e. ``~/.cache/disdepth/teacher_labels``)
    :param cache_dtype: 'float16' (half the disk; see :mod:`disdepth_core.training.
        teacher_labels` for the precision) or 'float32'
    :param teacher_device: ONNX Runtime device of the teacher: 'auto' (TensorRT -> CUDA -> CPU),
        'cuda', 'cuda:N', 'tensorrt' or 'cpu'
    :param teacher_input_size: network (height, width) for a teacher exported with a dynamic
        input size (None: the size in its metadata); part of the cache key
    :param teacher_threads: ONNX Runtime CPU threads of the teacher (0: its default)
    """

    loss: str = 'auto'
    ssi_residual: str = 'abs'
    teacher_weight: float = 1.0
    anchor_weight: float = 0.0
    cache_dir: str = ''
    cache_dtype: str = 'float16'
    teacher_device: str = 'auto'
    teacher_input_size: Optional[Tuple[int, int]] = None
    teacher_threads: int = 0

    def __post_init__(self) -> None:
        """Validate the values."""
        if self.loss not in LABEL_LOSSES:
            raise ValueError(f'label_distill.loss must be one of {LABEL_LOSSES}, got '
                             f'{self.loss!r}')
        if self.ssi_residual not in SSI_RESIDUALS:
            raise ValueError(f'label_distill.ssi_residual must be one of {SSI_RESIDUALS}, got '
                             f'{self.ssi_residual!r}')
        if self.cache_dtype not in LABEL_CACHE_DTYPES:
            raise ValueError(f'label_distill.cache_dtype must be one of {LABEL_CACHE_DTYPES}, '
                             f'got {self.cache_dtype!r}')
        if min(self.teacher_weight, self.anchor_weight) < 0:
            raise ValueError('label_distill.teacher_weight and anchor_weight must be >= 0, got '
                             f'{self.teacher_weight}, {self.anchor_weight}')
        if self.teacher_weight == 0 and self.anchor_weight == 0:
            raise ValueError('label_distill: teacher_weight and anchor_weight are both 0 '
                             '(nothing to learn from)')
        if self.teacher_input_size is not None and min(self.teacher_input_size) <= 0:
            raise ValueError(f'label_distill.teacher_input_size must be positive, got '
                             f'{self.teacher_input_size}')
        if self.teacher_threads < 0:
            raise ValueError(f'label_distill.teacher_threads must be >= 0, got '
                             f'{self.teacher_threads}')


def label_loss(cfg: 'TrainConfig') -> str:
    """
    Return the teacher loss of a ``label_distill`` run: 'metric' or 'ssi' (``'auto'`` resolved).

    :param cfg: a config whose ``model.teacher`` is a kind 'onnx' teacher
    :return: the loss name
    """
    spec = onnx_teacher_spec(cfg.model.teacher.onnx_path or '')
    if cfg.label_distill.loss != 'auto':
        return cfg.label_distill.loss
    return 'metric' if spec.is_metric else 'ssi'


def _check_label_distill(cfg: 'TrainConfig') -> None:
    """Cross-section checks of a ``label_distill`` run (teacher kind, loss vs output kind)."""
    teacher = cfg.model.teacher
    if teacher.kind != 'onnx':
        raise ValueError('stage label_distill needs model.teacher.kind: onnx and '
                         'model.teacher.onnx_path (a DisDepth ONNX file from `disdepth export` '
                         f'or `disdepth adopt`); got kind {teacher.kind!r} (feature KD from '
                         'vit / hf teachers is the acclimate + distill stages)')
    spec = onnx_teacher_spec(teacher.onnx_path or '')
    if cfg.label_distill.loss == 'metric' and not spec.is_metric:
        raise ValueError(f'label_distill.loss=metric needs a metric teacher, but '
                         f'{teacher.onnx_path} outputs {spec.output_kind} (depth known only up '
                         f'to scale and shift): use label_distill.loss=ssi (or auto), and '
                         f'label_distill.anchor_weight > 0 with labelled frames for metres')


@dataclass(frozen=True)
class LogConfig:
    """
    Logging and checkpointing.

    :param progress: tqdm progress bars (also off when stderr is not a terminal)
    :param tensorboard: write TensorBoard scalars to ``<out>/tb``
    :param print_every: log a line every N steps (0: only per epoch)
    :param ckpt_every_steps: also write ``last`` every N steps (0: at the end of each epoch)
    :param keep_best: keep ``best`` by the first validation set's ``best_metric``
    :param best_metric: metric key for ``best`` (lower is better except d1/d2/d3)
    """

    progress: bool = True
    tensorboard: bool = True
    print_every: int = 20
    ckpt_every_steps: int = 0
    keep_best: bool = True
    best_metric: str = 'abs_rel'


@dataclass(frozen=True)
class TrainConfig:
    """
    A complete training run.

    :param stage: 'teacher', 'student', 'acclimate', 'distill' or 'label_distill'
    :param seed: seed of the model initialisation
    :param device: 'auto', 'cpu', 'cuda' or 'cuda:N'
    :param threads: ``torch.set_num_threads`` (0: leave torch's default)
    :param channels_last: train in channels-last memory format (faster convolutions on CPUs
        and tensor cores)
    :param data: see :class:`DataConfig`
    :param model: see :class:`ModelSection`
    :param optim: see :class:`OptimConfig`
    :param schedule: see :class:`ScheduleConfig`
    :param loss: see :class:`LossConfig`
    :param acclimate: see :class:`AcclimateConfig`
    :param distill: see :class:`DistillConfig`
    :param label_distill: see :class:`LabelDistillConfig`
    :param log: see :class:`LogConfig`
    """

    stage: str = 'student'
    seed: int = 0
    device: str = 'auto'
    threads: int = 0
    channels_last: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    acclimate: AcclimateConfig = field(default_factory=AcclimateConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    label_distill: LabelDistillConfig = field(default_factory=LabelDistillConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        """Validate the top-level values (and the sections a stage combines)."""
        if self.threads < 0:
            raise ValueError(f'threads must be >= 0, got {self.threads}')
        if self.stage == 'label_distill':
            _check_label_distill(self)


def load_train_config(path: Optional[Union[str, Path]] = None,
                      overrides: Iterable[str] = ()) -> TrainConfig:
    """
    Load a training config: defaults <- YAML ``path`` <- ``key.sub=value`` overrides.

    A ``path`` that is not a file is looked up among the packaged configs
    (``disdepth_core/configs/<name>.yaml``), so ``--config tiny_student`` works anywhere.

    :param path: YAML file, packaged config name, or None
    :param overrides: dotted overrides
    :return: the frozen config
    :raises ConfigError: for unknown keys, wrong types or a missing file
    """
    if path is not None:
        path = resolve_config_path(path)
    return load_config(TrainConfig, path, list(overrides))


def packaged_config_dir() -> Path:
    """Folder of the packaged configs (``disdepth_core/configs``)."""
    return Path(__file__).resolve().parents[1] / 'configs'


def resolve_config_path(path: Union[str, Path]) -> Path:
    """
    Find a config file: an existing path, or a packaged config by name (with or without .yaml).

    :param path: path or name
    :return: the file
    :raises ConfigError: if neither exists
    """
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    name = candidate.name if candidate.suffix == '.yaml' else candidate.name + '.yaml'
    packaged = packaged_config_dir() / name
    if candidate.parent == Path('.') and packaged.is_file():
        return packaged
    known = sorted(p.stem for p in packaged_config_dir().glob('*.yaml'))
    raise ConfigError(f'config {path} not found (packaged configs: {", ".join(known)})')
