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
The training loop: ``train_one_epoch``, ``evaluate``, checkpointing, resume and :func:`fit`.

No framework: a stage is a :class:`~disdepth_core.training.stages.Task` (``forward(batch) ->
dict``); the learning rate is a pure function of the step (:mod:`.schedule`); a checkpoint is the
deliverable model (``<stem>.safetensors`` + ``<stem>.json`` via
:func:`disdepth_core.checkpoint.save_checkpoint`), the training state next to it
(``<stem>.train.safetensors`` + ``<stem>.train.json``, never pickles) and the merged
``config.yaml`` in the same folder.

Output folder::

    config.yaml            merged configuration (defaults <- YAML <- overrides)
    last.*                 latest checkpoint (+ training state), for --resume
    best.*                 best validation checkpoint (log.keep_best)
    final.*                the model at the end of training
    log.jsonl              one JSON line per logged step / validation
    summary.json           steps, throughput, final losses and validation metrics
    tb/                    TensorBoard scalars
"""

from dataclasses import asdict, dataclass
import json
import math
from pathlib import Path
import random
import sys
import time
from typing import Any, Callable, cast, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import DataLoader

from disdepth_core.checkpoint import save_checkpoint
from disdepth_core.config import save_config
from disdepth_core.config import to_dict
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.training import ddp
from disdepth_core.training.config import TrainConfig
from disdepth_core.training.data import build_mix
from disdepth_core.training.data import canonical_scales
from disdepth_core.training.data import collate
from disdepth_core.training.data import MixSampler
from disdepth_core.training.schedule import SCHEDULES
from disdepth_core.training.stages import build_task
from disdepth_core.training.stages import Task
from disdepth_core.training.state import checkpoint_stem
from disdepth_core.training.state import load_train_state
from disdepth_core.training.state import save_train_state

HIGHER_IS_BETTER = ('d1', 'd2', 'd3')


@dataclass
class TrainState:
    """
    Counters of a run (saved with every checkpoint).

    :param step: optimisation steps taken
    :param epoch: current epoch (0-based)
    :param batch_in_epoch: batches of ``epoch`` already consumed
    :param best: best validation value of ``log.best_metric`` so far
    :param images: training images seen by this process
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: Optional[float] = None
    images: int = 0


@dataclass(frozen=True)
class AmpSettings:
    """
    Mixed precision: autocast dtype and whether a GradScaler is needed.

    :param enabled: autocast on
    :param dtype: torch dtype of autocast
    :param scaler: use a GradScaler (fp16)
    :param device_type: 'cuda' or 'cpu'
    """

    enabled: bool
    dtype: torch.dtype
    scaler: bool
    device_type: str


def amp_settings(mode: str, device: str) -> AmpSettings:
    """
    Resolve ``optim.amp`` for a device.

    :param mode: 'auto', 'off', 'bf16' or 'fp16'
    :param device: device string
    :return: the settings
    :raises ValueError: for fp16 on CPU
    """
    dtype_dev = 'cuda' if device.startswith('cuda') else 'cpu'
    if mode == 'auto':
        if dtype_dev != 'cuda':
            return AmpSettings(False, torch.float32, False, dtype_dev)
        bf16 = torch.cuda.is_bf16_supported()
        return AmpSettings(True, torch.bfloat16 if bf16 else torch.float16, not bf16, dtype_dev)
    if mode == 'off':
        return AmpSettings(False, torch.float32, False, dtype_dev)
    if mode == 'fp16':
        if dtype_dev != 'cuda':
            raise ValueError('optim.amp=fp16 needs CUDA (use bf16 or off on the CPU)')
        return AmpSettings(True, torch.float16, True, dtype_dev)
    return AmpSettings(True, torch.bfloat16, False, dtype_dev)


def to_device(batch: Dict[str, Any], device: str, channels_last: bool = False
              ) -> Dict[str, Any]:
    """Move the tensors of a batch to ``device`` (other values unchanged)."""
    out = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v)
           for k, v in batch.items()}
    if channels_last:
        out['image'] = out['image'].contiguous(memory_format=torch.channels_last)
    return out


def apply_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, step: int,
                   total_steps: int) -> float:
    """
    Set every group's learning rate (and beta1) for ``step``.

    :param optimizer: optimizer whose groups carry ``peak_lr``
    :param cfg: the configuration (schedule section)
    :param step: the step about to be taken
    :param total_steps: steps of the whole run
    :return: the learning rate of the last group (the decoder's)
    """
    s = cfg.schedule
    if s.kind not in SCHEDULES:
        raise ValueError(f'unknown schedule.kind {s.kind!r}; known: {", ".join(SCHEDULES)}')
    values = SCHEDULES[s.kind](step, total_steps, pct_start=s.pct_start,
                               div_factor=s.div_factor, final_div_factor=s.final_div_factor,
                               base_momentum=s.base_momentum, max_momentum=s.max_momentum,
                               cycle_momentum=s.cycle_momentum)
    lr = 0.0
    for group in optimizer.param_groups:
        lr = group['peak_lr'] * values.lr_factor
        group['lr'] = lr
        if values.momentum is not None and 'betas' in group:
            group['betas'] = (values.momentum, group['betas'][1])
    return lr


class RunLogger:
    """
    Rank-0 logging: ``log.jsonl``, TensorBoard scalars and plain lines.

    :param out_dir: output folder (None: print only)
    :param tensorboard: write TensorBoard scalars
    :param enabled: False on ranks other than 0
    :param quiet: no plain lines
    """

    def __init__(self, out_dir: Optional[Path], tensorboard: bool, enabled: bool,
                 quiet: bool) -> None:
        self.enabled = enabled
        self.quiet = quiet
        self.writer = None
        self.jsonl = None
        if enabled and out_dir is not None:
            self.jsonl = (out_dir / 'log.jsonl').open('a')
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(out_dir / 'tb'))

    def scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        """Record scalars under ``prefix/`` at ``step``."""
        if not self.enabled:
            return
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f'{prefix}/{k}', v, step)
        if self.jsonl is not None:
            self.jsonl.write(json.dumps({'kind': prefix, 'step': step, **values}) + '\n')
            self.jsonl.flush()

    def line(self, text: str) -> None:
        """Write a text line to stderr (rank 0 only, unless quiet)."""
        if self.enabled and not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Flush and close the files."""
        if self.writer is not None:
            self.writer.close()
        if self.jsonl is not None:
            self.jsonl.close()


def _fmt(values: Dict[str, float]) -> str:
    return ' '.join(f'{k} {v:.4g}' for k, v in values.items())


def train_one_epoch(task: nn.Module, loader: Iterable[Dict[str, Any]],
                    optimizer: torch.optim.Optimizer, scaler: Optional[torch.amp.GradScaler],
                    cfg: TrainConfig, device: str, state: TrainState, total_steps: int,
                    amp: AmpSettings, logger: Optional[RunLogger] = None,
                    progress: bool = False, on_step: Optional[Callable[[], None]] = None,
                    n_batches: Optional[int] = None) -> Dict[str, float]:
    """
    Train for one epoch (or until ``total_steps``).

    :param task: the task (possibly DDP-wrapped): ``task(batch) -> {'loss', parts...}``
    :param loader: batches from :func:`disdepth_core.training.data.collate`
    :param optimizer: the optimizer (groups with ``peak_lr``)
    :param scaler: GradScaler for fp16, else None
    :param cfg: the configuration
    :param device: training device
    :param state: counters, updated in place
    :param total_steps: stop when ``state.step`` reaches it
    :param amp: mixed-precision settings
    :param logger: rank-0 logger (None: silent)
    :param progress: show a tqdm bar
    :param on_step: called after every optimisation step (periodic validation / checkpoints)
    :param n_batches: number of batches for the progress bar
    :return: mean of every loss part over the epoch (averaged over ranks by the caller)
    """
    from tqdm import tqdm
    task.train()
    sums: Dict[str, float] = {}
    count = 0
    bar = tqdm(loader, total=n_batches, disable=not progress, leave=False, dynamic_ncols=True,
               desc=f'epoch {state.epoch + 1}')
    params = [p for g in optimizer.param_groups for p in g['params']]
    t0 = time.perf_counter()
    images0 = state.images
    for batch in bar:
        if state.step >= total_steps:
            break
        batch = to_device(batch, device, cfg.channels_last)
        lr = apply_schedule(optimizer, cfg, state.step, total_steps)
        with torch.autocast(amp.device_type, dtype=amp.dtype, enabled=amp.enabled):
            out = task(batch)
        loss = out['loss'].float()
        if not torch.isfinite(loss):
            raise FloatingPointError(f'loss is {loss.item()} at step {state.step} '
                                     f'(parts: {_fmt({k: float(v) for k, v in out.items()})})')
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        state.step += 1
        state.batch_in_epoch += 1
        state.images += int(batch['image'].shape[0])
        values = {k: float(v.detach().float()) for k, v in out.items()
                  if torch.is_tensor(v) and v.numel() == 1 and v.is_floating_point()}
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        bar.set_postfix(loss=f'{values["loss"]:.4f}', lr=f'{lr:.2e}')
        if logger is not None:
            every = cfg.log.print_every
            if every and state.step % every == 0:
                rate = (state.images - images0) / max(time.perf_counter() - t0, 1e-9)
                logger.scalars('train', {**values, 'lr': lr}, state.step)
                if not progress:
                    logger.line(f'step {state.step}/{total_steps} epoch {state.epoch + 1} '
                                f'{_fmt(values)} lr {lr:.3g} ({rate:.1f} img/s)')
        if on_step is not None:
            on_step()
    bar.close()
    return {k: v / max(count, 1) for k, v in sums.items()}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Dict[str, Any]], device: str,
             canonical_focal: float, min_depth: float = 1e-3, max_depth: float = 10.0,
             amp: Optional[AmpSettings] = None) -> Dict[str, float]:
    """
    Validate a network on labelled batches: standard metrics, per image, averaged over images.

    The canonical-camera prediction is turned into metric depth with each image's intrinsics
    (``/ canonical_depth_scale``), resized bilinearly to the ground-truth size, and compared on
    ``valid_mask`` pixels within ``[min_depth, max_depth]`` with
    :func:`disdepth_core.metrics.compute_metrics` (no median scaling).  This runs at the network
    resolution without the standard crops: a quick in-training signal; ``disdepth eval`` applies
    the full protocol.

    :param model: image -> DepthOutput
    :param loader: batches from :func:`collate`
    :param device: device
    :param canonical_focal: the model's canonical focal length
    :param min_depth: evaluation cap (metres)
    :param max_depth: evaluation cap (metres)
    :param amp: optional autocast settings
    :return: mean metrics plus ``n_images``
    """
    from disdepth_core.metrics import compute_metrics
    from disdepth_core.metrics import NoValidPixelsError
    was_training = model.training
    model.eval()
    sums: Dict[str, float] = {}
    n = 0
    for batch in loader:
        batch = to_device(batch, device)
        image = batch['image']
        if amp is not None and amp.enabled:
            with torch.autocast(amp.device_type, dtype=amp.dtype):
                out = model(image)
        else:
            out = model(image)
        h, w = image.shape[-2:]
        pred = F.interpolate(out.depth.float(), size=(h, w), mode='bilinear', align_corners=True)
        scale = canonical_scales(batch['K'], (int(h), int(w)), canonical_focal).to(pred.device)
        pred = pred / scale.view(-1, 1, 1, 1)
        for i in range(image.shape[0]):
            if not bool(batch['has_gt'][i]):
                continue
            gt = batch['depth'][i, 0].cpu().numpy()
            mask = batch['valid_mask'][i, 0].cpu().numpy()
            if not mask.any():
                continue
            try:
                values = compute_metrics(gt, pred[i, 0].cpu().numpy(), min_depth=min_depth,
                                         max_depth=max_depth, crop=mask)
            except NoValidPixelsError:
                continue
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
    if was_training:
        model.train()
    out_metrics = {k: v / n for k, v in sums.items()} if n else {}
    out_metrics['n_images'] = float(n)
    return out_metrics


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, loader: Iterable[Dict[str, Any]], device: str,
                          n_batches: int, channels_last: bool = False) -> int:
    """
    Re-estimate the running statistics of the trainable BatchNorm layers ("precise BN").

    Statistics are reset and averaged (cumulatively, not by momentum) over ``n_batches``
    training batches with the current weights.  BatchNorm layers whose parameters are frozen
    (a frozen teacher or ghost decoder) are left alone, as are all weights.

    :param model: the network (image -> output)
    :param loader: training batches
    :param device: device
    :param n_batches: batches to average over
    :param channels_last: feed channels-last images
    :return: number of batches used
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats and any(p.requires_grad for p in m.parameters())]
    if not bns or n_batches <= 0:
        return 0
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    used = 0
    for batch in loader:
        if used >= n_batches:
            break
        model(to_device(batch, device, channels_last)['image'])
        used += 1
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    for m, mode in modes.items():
        m.training = mode
    return used


def write_checkpoint(task: Task, cfg: TrainConfig, out_dir: Path, name: str, state: TrainState,
                     optimizer: torch.optim.Optimizer,
                     scaler: Optional[torch.amp.GradScaler],
                     metrics: Optional[Dict[str, float]] = None) -> Path:
    """
    Write ``<out_dir>/<name>``: the model (safetensors + JSON), the training state, config.yaml.

    :param task: the (unwrapped) task
    :param cfg: the configuration
    :param out_dir: output folder
    :param name: checkpoint name ('last', 'best', 'final')
    :param state: counters
    :param optimizer: optimizer
    :param scaler: GradScaler or None
    :param metrics: latest validation metrics (stored in ``spec.extra``)
    :return: the stem path
    """
    stem = out_dir / name
    model, model_config, _, _ = task.deliverable()
    data = [e.name + (f':{e.root}' if e.root else '') + (f'[{e.select}]' if e.select else '')
            for e in cfg.data.train]
    extra = {'stage': cfg.stage, 'step': state.step, 'epoch': state.epoch, 'data': data}
    if metrics:
        extra['val_metrics'] = metrics
    spec = task.spec(cfg.model.name, extra=extra)
    save_config(cfg, out_dir / 'config.yaml')
    save_checkpoint(stem, model, spec, model_config, train_config=to_dict(cfg),
                    extra={'counters': asdict(state)})
    tensors = {'task.' + k: v for k, v in task.resume_state().items()}
    tensors['rng.torch'] = torch.get_rng_state()
    save_train_state(stem, optimizer, asdict(state), scaler, extra_tensors=tensors)
    return stem


def _better(value: float, best: Optional[float], metric: str) -> bool:
    if best is None:
        return True
    return value > best if metric in HIGHER_IS_BETTER else value < best


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def _atomic_json(path: Path, data: Dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def _show_progress(cfg: TrainConfig, quiet: bool) -> bool:
    return bool(cfg.log.progress and not quiet and sys.stderr.isatty())


def _reduce_means(values: Dict[str, float], ctx: ddp.DistContext) -> Dict[str, float]:
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64,
                     device=ctx.device if ctx.device.startswith('cuda') else 'cpu')
    t = ddp.all_reduce_mean(t, ctx)
    return dict(zip(keys, t.tolist()))


def fit(cfg: TrainConfig, out_dir: Union[str, Path], resume: Optional[Union[str, Path]] = None,
        quiet: bool = False) -> Dict[str, Any]:
    """
    Run a training stage end to end (single process, or one rank of a ``torchrun`` job).

    :param cfg: the merged configuration
    :param out_dir: output folder (created)
    :param resume: checkpoint (stem or any of its files) to continue from, or None
    :param quiet: no progress bars and no log lines
    :return: the summary (also written to ``<out_dir>/summary.json`` by rank 0)
    """
    ctx = ddp.init_distributed(cfg.device)
    try:
        return _fit(cfg, Path(out_dir), resume, quiet, ctx)
    finally:
        ddp.shutdown(ctx)


def _fit(cfg: TrainConfig, out_dir: Path, resume: Optional[Union[str, Path]], quiet: bool,
         ctx: ddp.DistContext) -> Dict[str, Any]:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = ctx.device
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / 'config.yaml')
    ddp.barrier(ctx)
    seed_everything(cfg.seed)
    task = build_task(cfg)
    task.to(device)
    if cfg.channels_last:
        task.to(memory_format=torch.channels_last)
    d = cfg.data
    _, hi = task.depth_range
    gt_cap = d.max_depth
    train_set = build_mix(d.train, d, train=True, max_depth=gt_cap, wrap=task.wrap_dataset)
    sampler = MixSampler(train_set.weights, shuffle=True, seed=d.seed, rank=ctx.rank,
                         world_size=ctx.world_size)
    drop_last = sampler.per_rank >= d.batch_size
    loader = DataLoader(train_set, batch_size=d.batch_size, sampler=sampler, collate_fn=collate,
                        num_workers=d.workers, drop_last=drop_last,
                        persistent_workers=False, pin_memory=device.startswith('cuda'))
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError('the training set yields no batch (fewer frames than data.batch_size?)')
    total_steps = cfg.schedule.epochs * steps_per_epoch
    if cfg.schedule.max_steps:
        total_steps = min(total_steps, cfg.schedule.max_steps)
    val_loaders: List[Tuple[str, DataLoader]] = []
    if ctx.is_main:
        for i, entry in enumerate(d.val):
            vset = build_mix([entry], d, train=False, max_depth=gt_cap)
            label = f'val{i}_{entry.name}'
            val_loaders.append((label, DataLoader(vset, batch_size=d.val_batch_size,
                                                  shuffle=False, collate_fn=collate,
                                                  num_workers=d.workers)))
    optimizer = torch.optim.AdamW(task.param_groups(), lr=cfg.optim.lr, betas=cfg.optim.betas,
                                  weight_decay=cfg.optim.weight_decay)
    amp = amp_settings(cast(str, cfg.optim.amp), device)   # OptimConfig turns bools into str
    scaler = torch.amp.GradScaler('cuda') if amp.scaler else None
    state = TrainState()
    if resume is not None:
        saved = load_train_state(resume)
        tensors = {k[len('task.'):]: v for k, v in saved['extra'].items()
                   if k.startswith('task.')}
        task.load_resume_state(tensors)
        task.to(device)
        optimizer.load_state_dict(saved['optimizer'])
        if scaler is not None and saved['scaler']:
            scaler.load_state_dict(saved['scaler'])
        state = TrainState(**saved['counters'])
        if 'rng.torch' in saved['extra']:
            torch.set_rng_state(saved['extra']['rng.torch'])
    model: nn.Module = task
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            task, device_ids=[ctx.local_rank] if device.startswith('cuda') else None,
            find_unused_parameters=task.has_unused_parameters)
    logger = RunLogger(out_dir, cfg.log.tensorboard, ctx.is_main, quiet)
    progress = ctx.is_main and _show_progress(cfg, quiet)
    task.prepare_data(train_set, ctx.rank, ctx.world_size, device, progress, logger.line)
    ddp.barrier(ctx)
    lo, hi = task.depth_range
    eval_max = d.max_depth if d.max_depth is not None else hi
    last_metrics: Dict[str, Dict[str, float]] = {}

    def precise_bn() -> None:
        n = cfg.schedule.precise_bn_batches
        if n:
            recalibrate_batchnorm(task.predictor(), loader, device, n, cfg.channels_last)
            ddp.broadcast_buffers(task, ctx)

    def validate() -> Dict[str, Dict[str, float]]:
        results: Dict[str, Dict[str, float]] = {}
        precise_bn()
        if ctx.is_main:
            for label, vloader in val_loaders:
                m = evaluate(task.predictor(), vloader, device, task.canonical_focal,
                             min_depth=1e-3, max_depth=eval_max, amp=amp)
                results[label] = m
                logger.scalars(label, m, state.step)
                logger.line(f'validate {label} step {state.step}: {_fmt(m)}')
            if results and cfg.log.keep_best:
                first = next(iter(results.values()))
                key = cfg.log.best_metric
                if key in first and _better(first[key], state.best, key):
                    state.best = first[key]
                    write_checkpoint(task, cfg, out_dir, 'best', state, optimizer, scaler, first)
        ddp.barrier(ctx)
        last_metrics.update(results)
        return results

    def on_step() -> None:
        s = cfg.schedule
        if s.val_every_steps and state.step % s.val_every_steps == 0 and val_loaders:
            validate()
        every = cfg.log.ckpt_every_steps
        if every and state.step % every == 0:
            if ctx.is_main:
                write_checkpoint(task, cfg, out_dir, 'last', state, optimizer, scaler)
            ddp.barrier(ctx)

    logger.line(f'stage {cfg.stage}: {len(train_set)} training frames, {steps_per_epoch} steps '
                f'per epoch, {total_steps} steps, device {device}, world {ctx.world_size}, '
                f'resuming at step {state.step}' if resume else
                f'stage {cfg.stage}: {len(train_set)} training frames, {steps_per_epoch} steps '
                f'per epoch, {total_steps} steps, device {device}, world {ctx.world_size}')
    t_start = time.perf_counter()
    images_at_start = state.images
    epoch_losses: Dict[str, float] = {}
    while state.step < total_steps and state.epoch < cfg.schedule.epochs:
        if state.batch_in_epoch >= steps_per_epoch:
            state.epoch += 1
            state.batch_in_epoch = 0
            continue
        sampler.set_epoch(state.epoch)
        train_set.set_epoch(state.epoch)
        skip = state.batch_in_epoch
        batches: Iterable[Dict[str, Any]] = loader
        if skip:
            batches = _skip(loader, skip)
        epoch_losses = train_one_epoch(model, batches, optimizer, scaler, cfg, device, state,
                                       total_steps, amp, logger, progress, on_step,
                                       n_batches=steps_per_epoch - skip)
        epoch_losses = _reduce_means(epoch_losses, ctx)
        logger.scalars('epoch', epoch_losses, state.step)
        logger.line(f'epoch {state.epoch + 1}/{cfg.schedule.epochs} step {state.step}: '
                    f'{_fmt(epoch_losses)}')
        finished = state.batch_in_epoch >= steps_per_epoch
        done = state.step >= total_steps or (finished and state.epoch + 1 >= cfg.schedule.epochs)
        ve = cfg.schedule.val_every
        if val_loaders and ((ve and (state.epoch + 1) % ve == 0 and finished) or done):
            validate()
        elif done:
            precise_bn()
            ddp.barrier(ctx)
        if finished:
            state.epoch += 1
            state.batch_in_epoch = 0
        if ctx.is_main:
            write_checkpoint(task, cfg, out_dir, 'last', state, optimizer, scaler,
                             next(iter(last_metrics.values()), None))
        ddp.barrier(ctx)
    wall = time.perf_counter() - t_start
    ddp.broadcast_buffers(task, ctx)
    digests = ddp.gather_objects(ddp.parameter_digest(task.predictor()), ctx)
    images = ddp.gather_objects(state.images - images_at_start, ctx)
    summary: Dict[str, Any] = {
        'stage': cfg.stage, 'steps': state.step, 'epochs': state.epoch,
        'total_steps': total_steps, 'steps_per_epoch': steps_per_epoch,
        'train_frames': len(train_set), 'world_size': ctx.world_size, 'device': device,
        'wall_s': round(wall, 2), 'images_per_s': round(sum(images) / max(wall, 1e-9), 3),
        'final_losses': epoch_losses, 'val': last_metrics, 'best': state.best,
        'param_digests': digests, 'checkpoint': str(out_dir / 'final'),
        **task.summary_extra(),
    }
    if ctx.is_main:
        write_checkpoint(task, cfg, out_dir, 'final', state, optimizer, scaler,
                         next(iter(last_metrics.values()), None))
        _atomic_json(out_dir / 'summary.json', summary)
        logger.line(f'done: {state.step} steps in {wall:.1f} s; checkpoint {out_dir / "final"}')
    logger.close()
    ddp.barrier(ctx)
    return summary


def _skip(loader: Iterable[Dict[str, Any]], n: int) -> Iterable[Dict[str, Any]]:
    """Skip the first ``n`` batches of a resumed epoch without training on them."""
    sampler = getattr(loader, 'sampler', None)
    if isinstance(sampler, MixSampler):
        sampler.skip_next = n * getattr(loader, 'batch_size', 1)
        return loader
    it = iter(loader)
    for _ in range(n):
        next(it, None)
    return it


__all__ = ['AmpSettings', 'TrainState', 'amp_settings', 'apply_schedule', 'evaluate', 'fit',
           'checkpoint_stem', 'train_one_epoch', 'write_checkpoint']
