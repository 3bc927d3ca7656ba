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
The GPU check of the torch engine, in one run under a time cap: ``bash tools/gpu_check.sh``.

It measures, on the first CUDA device (``--dry-run``: the same code on the CPU, tiny sizes, a few
iterations, in seconds):

* **parity** of the packaged model (``disdepth_core/assets``): the largest |depth| and
  |confidence| differences of the network output on the device in fp32, fp16 (autocast and
  converted weights) and bf16 against torch fp32 on the CPU, of ONNX Runtime on the CPU (the
  packaged ``.onnx``) against the same reference, and of the whole ``predict`` at the camera
  size with pre/post-processing on the device against the CPU pipeline;
* **inference** latency (p50 / p95 of ``predict_batch``, uint8 images in, metric depth and
  confidence in host memory out) and throughput (images/s) of the packaged model at 480x640,
  batch 1 and 8, fp32 / fp16 (autocast and converted weights), each with and without CUDA
  graphs, channels-last, pre/post-processing on the device; plus the CPU pre/post-processing
  and NCHW rows to compare with;
* **training** throughput (images/s over a few AdamW steps of SILog + 0.1 chamfer, the student
  stage's loss) of the default student and of the vit-s teacher at 480x640, fp32 and bf16;
* the machine: GPU, driver, torch, CUDA and cuDNN versions, the libraries found.

Results go to ``<out>/gpu_check.md`` (tables) and ``<out>/gpu_check.json``, rewritten
atomically after every row, so a run stopped by the time cap (``--time-cap``, seconds from the
start) or killed keeps what it had; rows not reached say so.

Dependencies: torch and numpy.  ONNX Runtime (the packaged-ONNX parity row), OpenCV (the CPU
pre/post-processing rows: ``disdepth_core.transforms`` imports without it, and the device path
resizes with torch), PyYAML and safetensors (the project's checkpoint loader; without them the
packaged checkpoint is read by :func:`read_safetensors` here) are used when present; a row that
needs a missing one says so.  Run it with the repository on ``PYTHONPATH`` (the shell script
does) and the machine's own ``python3``: no virtual environment, nothing installed.
"""

import argparse
import copy
import dataclasses
from dataclasses import dataclass
import datetime
import hashlib
import importlib
import json
import math
import os
from pathlib import Path
import platform
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

START = time.monotonic()

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIME_CAP_S = 420.0
SECTIONS = ('parity', 'latency', 'training')
NOT_MEASURED = 'not measured (time cap)'


class TimeCap(BaseException):
    """The time cap was reached (a BaseException: no per-row error handler swallows it)."""


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class LatencyCase:
    """
    One inference row.

    :param precision: 'fp32', 'fp16' or 'bf16'
    :param low_precision: 'autocast' or 'weights' (for fp16 / bf16)
    :param batch: images per ``predict_batch`` call
    :param graphs: CUDA graphs
    :param channels_last: NHWC weights and input
    :param device_processing: pre/post-processing on the device (else on the CPU, OpenCV)
    """

    precision: str
    low_precision: str
    batch: int
    graphs: bool
    channels_last: bool = True
    device_processing: bool = True

    @property
    def label(self) -> str:
        """Row name, e.g. ``fp16 autocast, batch 8, graphs``."""
        mode = 'fp32' if self.precision == 'fp32' else f'{self.precision} {self.low_precision}'
        parts = [mode, f'batch {self.batch}', 'graphs' if self.graphs else 'eager']
        if not self.channels_last:
            parts.append('NCHW')
        if not self.device_processing:
            parts.append('CPU pre/post')
        return ', '.join(parts)


@dataclass(frozen=True)
class TrainCase:
    """
    One training row.

    :param model: 'student' or 'teacher-vit-s'
    :param amp: 'fp32' or 'bf16' (autocast)
    """

    model: str
    amp: str

    @property
    def label(self) -> str:
        """Row name, e.g. ``teacher-vit-s, bf16``."""
        return f'{self.model}, {self.amp}'


PARITY_CASES: Tuple[Tuple[str, Dict[str, str]], ...] = (
    ('fp32', {'precision': 'fp32'}),
    ('fp16 autocast', {'precision': 'fp16', 'low_precision': 'autocast'}),
    ('fp16 weights', {'precision': 'fp16', 'low_precision': 'weights'}),
    ('bf16 autocast', {'precision': 'bf16', 'low_precision': 'autocast'}),
)
ONNX_PARITY = 'onnxruntime cpu (packaged .onnx)'
PREDICT_PARITY = 'predict, pre/post-processing on the device vs the CPU pipeline (fp32)'


@dataclass(frozen=True)
class Plan:
    """
    What one run measures.

    :param device: 'cuda' or 'cpu'
    :param dry_run: tiny sizes on the CPU
    :param image_hw: camera image (height, width) of the latency rows
    :param net_hw: network input of the latency rows
    :param batches: batch sizes of the latency rows
    :param warmup: untimed calls per latency row (the first one captures the CUDA graph)
    :param iters: timed calls per latency row (at most)
    :param row_budget_s: wall time per latency row after the warm-up (at most)
    :param parity_frames: frames compared per parity row
    :param train_hw: training input (height, width)
    :param train_batch: training batch size
    :param train_warmup: untimed training steps
    :param train_steps: timed training steps
    :param time_cap_s: the whole run stops (and writes what it has) after this many seconds
    """

    device: str
    dry_run: bool
    image_hw: Tuple[int, int]
    net_hw: Tuple[int, int]
    batches: Tuple[int, ...]
    warmup: int
    iters: int
    row_budget_s: float
    parity_frames: int
    train_hw: Tuple[int, int]
    train_batch: int
    train_warmup: int
    train_steps: int
    time_cap_s: float

    def latency_cases(self) -> List[LatencyCase]:
        """List the inference rows, in table order."""
        cases = []
        for precision, mode in (('fp32', 'autocast'), ('fp16', 'autocast'),
                                ('fp16', 'weights')):
            for batch in self.batches:
                for graphs in (False, True):
                    cases.append(LatencyCase(precision, mode, batch, graphs))
        big = max(self.batches)
        cases.append(LatencyCase('fp16', 'autocast', big, True, channels_last=False))
        for batch in self.batches:
            cases.append(LatencyCase('fp32', 'autocast', batch, False,
                                     device_processing=False))
        return cases

    def train_cases(self) -> List[TrainCase]:
        """List the training rows, in table order."""
        return [TrainCase(m, a) for m in ('student', 'teacher-vit-s') for a in ('fp32', 'bf16')]

    def row_labels(self) -> Dict[str, List[str]]:
        """Every planned row name, by section."""
        return {'parity': [f'torch {self.device} {name}' for name, _ in PARITY_CASES]
                + [ONNX_PARITY, PREDICT_PARITY],
                'latency': [c.label for c in self.latency_cases()],
                'training': [c.label for c in self.train_cases()]}


def make_plan(args: argparse.Namespace) -> Plan:
    """Build the plan from the command line (``--dry-run``: CPU, tiny sizes)."""
    if args.dry_run:
        return Plan(device='cpu', dry_run=True, image_hw=(64, 96), net_hw=(32, 64),
                    batches=(1, 2), warmup=1, iters=args.iters or 2, row_budget_s=1.0,
                    parity_frames=1, train_hw=(64, 96), train_batch=2, train_warmup=1,
                    train_steps=args.train_steps or 2, time_cap_s=args.time_cap)
    return Plan(device='cuda', dry_run=False, image_hw=(480, 640), net_hw=(480, 640),
                batches=(1, 8), warmup=10, iters=args.iters or 200, row_budget_s=6.0,
                parity_frames=4, train_hw=(480, 640), train_batch=16, train_warmup=3,
                train_steps=args.train_steps or 10, time_cap_s=args.time_cap)


# --------------------------------------------------------------------------- the report

def _fmt(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return '0'
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f'{value:.2e}'
        return f'{value:.4g}' if abs(value) < 10 else f'{value:.1f}'
    return str(value).replace('|', '/').replace('\n', ' ')


# section -> (column title, row key) in table order
COLUMNS: Dict[str, List[Tuple[str, str]]] = {
    'parity': [('comparison', 'label'), ('status', 'status'),
               ('max abs depth (m)', 'max_abs_depth'), ('mean abs depth (m)', 'mean_abs_depth'),
               ('max abs confidence', 'max_abs_confidence'),
               ('reference depth range (m)', 'reference_range'), ('notes', 'notes')],
    'latency': [('case', 'label'), ('status', 'status'), ('p50 ms', 'p50_ms'),
                ('p95 ms', 'p95_ms'), ('images/s', 'images_per_s'),
                ('network p50 ms', 'infer_p50_ms'), ('calls', 'calls'), ('notes', 'notes')],
    'training': [('model, precision', 'label'), ('status', 'status'), ('batch', 'batch'),
                 ('step p50 ms', 'step_p50_ms'), ('images/s', 'images_per_s'),
                 ('peak memory GiB', 'peak_memory_gib'), ('last loss', 'loss'),
                 ('params M', 'params_m'), ('notes', 'notes')],
}
TITLES = {
    'parity': 'CPU/GPU parity (packaged model)',
    'latency': 'Inference latency and throughput (packaged model, predict_batch)',
    'training': 'Training throughput (AdamW, SILog + 0.1 chamfer)',
}


class Report:
    """
    The results so far, written to ``gpu_check.md`` and ``gpu_check.json`` after every change.

    :param out_dir: where to write
    :param plan: the plan (every planned row is listed from the start)
    :param command: the command line, for the record
    """

    def __init__(self, out_dir: Path, plan: Plan, command: str) -> None:
        self.out_dir = out_dir
        self.plan = plan
        self.data: Dict[str, Any] = {
            'status': 'running', 'command': command,
            'started_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds'),
            'plan': dataclasses.asdict(plan), 'facts': {}, 'notes': [],
            **{s: [{'label': label, 'status': 'pending'} for label in labels]
               for s, labels in plan.row_labels().items()}}

    def row(self, section: str, label: str) -> Dict[str, Any]:
        """Return the planned row ``label`` of ``section``."""
        for entry in self.data[section]:
            if entry['label'] == label:
                return entry
        raise KeyError(f'{section} has no planned row {label!r}')

    def put(self, section: str, label: str, **values: Any) -> None:
        """Update a row and write the files."""
        self.row(section, label).update(values)
        self.write()

    def finish(self, status: str) -> None:
        """Mark rows never reached, set the run status and write the files."""
        for section in SECTIONS:
            for entry in self.data[section]:
                if entry['status'] in ('pending', 'running'):
                    entry['status'] = NOT_MEASURED
        self.data['status'] = status
        self.data['elapsed_s'] = round(time.monotonic() - START, 1)
        self.write()

    def markdown(self) -> str:
        """Render the tables."""
        d = self.data
        mode = ('DRY RUN on the CPU (tiny sizes, a few iterations: the numbers are not GPU '
                'results)' if self.plan.dry_run else f'on {d["facts"].get("gpu", "the GPU")}')
        lines = ['# GPU check (torch CUDA engine)', '',
                 f'Run {d["started_utc"]}, {mode}.  Status: **{d["status"]}**'
                 + (f' after {d["elapsed_s"]} s' if 'elapsed_s' in d else '') + '.', '',
                 f'Command: `{d["command"]}`', '', '## Machine', '', '| fact | value |',
                 '|---|---|']
        lines += [f'| {k} | {_fmt(v)} |' for k, v in d['facts'].items()]
        p = self.plan
        context = {
            'parity': (f'Network output of the packaged model at its input size on '
                       f'{p.parity_frames} synthetic frames, against torch fp32 on the CPU; '
                       f'the predict row compares metric depth at {p.image_hw[0]}x'
                       f'{p.image_hw[1]}.'),
            'latency': (f'{p.image_hw[0]}x{p.image_hw[1]} uint8 images -> metric depth + '
                        f'confidence in host memory, network input {p.net_hw[0]}x'
                        f'{p.net_hw[1]}; {p.warmup} warm-up calls, then up to {p.iters} timed '
                        f'calls or {p.row_budget_s:g} s; channels-last and pre/post-processing '
                        'on the device unless the case says NCHW / CPU pre/post; images/s = '
                        'batch x calls / wall time.'),
            'training': (f'{p.train_hw[0]}x{p.train_hw[1]} random images and depth targets, '
                         f'batch {p.train_batch}, {p.train_warmup} warm-up + {p.train_steps} '
                         'timed steps (forward, loss, backward, AdamW step, synchronised).'),
        }
        for section in SECTIONS:
            cols = COLUMNS[section]
            lines += ['', f'## {TITLES[section]}', '', context[section], '',
                      '| ' + ' | '.join(c for c, _ in cols) + ' |',
                      '|' + '---|' * len(cols)]
            for entry in d[section]:
                lines.append('| ' + ' | '.join(_fmt(entry.get(k)) for _, k in cols) + ' |')
        if d['notes']:
            lines += ['', '## Notes', ''] + [f'- {n}' for n in d['notes']]
        return '\n'.join(lines) + '\n'

    def write(self) -> None:
        """Write both files atomically (temporary file beside each, then rename)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in (('gpu_check.json', json.dumps(self.data, indent=2, default=str)),
                           ('gpu_check.md', self.markdown())):
            target = self.out_dir / name
            tmp = target.with_name(f'.{name}.{os.getpid()}.tmp')
            tmp.write_text(text + ('' if text.endswith('\n') else '\n'))
            os.replace(tmp, target)


# --------------------------------------------------------------------------- machine facts

def _version(module: str) -> str:
    try:
        return str(getattr(importlib.import_module(module), '__version__', 'installed'))
    except ImportError:
        return 'not installed'


def _nvidia_smi(query: str) -> str:
    try:
        out = subprocess.run(['nvidia-smi', f'--query-gpu={query}', '--format=csv,noheader'],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else 'unknown'


def _git_commit() -> str:
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return out.stdout.strip() if out.returncode == 0 else 'unknown (no git checkout)'


def machine_facts(plan: Plan) -> Dict[str, Any]:
    """GPU, driver, library versions and settings that the numbers depend on."""
    facts: Dict[str, Any] = {}
    if plan.device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        facts['gpu'] = torch.cuda.get_device_name(0)
        facts['gpu memory GiB'] = round(props.total_memory / 2 ** 30, 1)
        facts['compute capability'] = f'{props.major}.{props.minor}'
        facts['gpus visible'] = torch.cuda.device_count()
        facts['driver'] = _nvidia_smi('driver_version')
    else:
        facts['gpu'] = 'none (dry run on the CPU)'
    facts.update({
        'torch': torch.__version__, 'torch CUDA': torch.version.cuda or 'none (CPU build)',
        'cuDNN': (str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available()
                  else 'none'),
        'cudnn.benchmark': torch.backends.cudnn.benchmark,
        'TF32 (matmul, cuDNN)': (f'{torch.backends.cuda.matmul.allow_tf32}, '
                                 f'{torch.backends.cudnn.allow_tf32}'),
        'python': platform.python_version(), 'numpy': np.__version__,
        'onnx': _version('onnx'), 'onnxruntime': _version('onnxruntime'),
        'opencv': _version('cv2'), 'pyyaml': _version('yaml'),
        'safetensors': _version('safetensors'),
        'cpu cores': os.cpu_count(), 'torch threads': torch.get_num_threads(),
        'platform': platform.platform(), 'commit': _git_commit(),
    })
    return facts


# --------------------------------------------------------------------------- the packaged model

SAFETENSORS_DTYPES: Dict[str, torch.dtype] = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
    'U8': torch.uint8, 'BOOL': torch.bool,
}


def read_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    """
    Read a ``.safetensors`` file with torch alone.

    The format: an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
    byte range in the data block; ``__metadata__``), then the data block.

    :param path: the file
    :return: name -> CPU tensor
    :raises ValueError: for a malformed file or an unknown dtype
    """
    raw = path.read_bytes()
    if len(raw) < 8:
        raise ValueError(f'{path}: too short for a safetensors file')
    size = int.from_bytes(raw[:8], 'little')
    if 8 + size > len(raw):
        raise ValueError(f'{path}: header length {size} exceeds the file')
    try:
        header = json.loads(raw[8:8 + size].decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f'{path}: bad safetensors header ({exc})') from None
    data = bytearray(raw[8 + size:])
    tensors: Dict[str, torch.Tensor] = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        dtype = SAFETENSORS_DTYPES.get(entry.get('dtype'))
        if dtype is None:
            raise ValueError(f'{path}: tensor {name!r} has unknown dtype {entry.get("dtype")!r}')
        begin, end = (int(v) for v in entry['data_offsets'])
        shape = [int(s) for s in entry['shape']]
        count = int(np.prod(shape)) if shape else 1
        item = torch.empty((), dtype=dtype).element_size()
        if end - begin != count * item or end > len(data):
            raise ValueError(f'{path}: tensor {name!r} byte range {begin}..{end} does not hold '
                             f'{shape} {entry["dtype"]}')
        flat = (torch.frombuffer(data, dtype=dtype, count=count, offset=begin) if count
                else torch.empty(0, dtype=dtype))
        tensors[name] = flat.reshape(shape).clone()
    return tensors


def load_packaged_student() -> Tuple[torch.nn.Module, Any, str]:
    """
    Load the packaged default checkpoint: (model in eval mode, ModelSpec, how it was loaded).

    With PyYAML and safetensors installed, ``disdepth_core.checkpoint.load_checkpoint``;
    otherwise the JSON sidecar, the checksum and :func:`read_safetensors` here.
    """
    from disdepth_core.assets import packaged_model_paths
    paths = packaged_model_paths()
    weights, sidecar = paths['safetensors'], paths['json']
    if weights is None or sidecar is None:
        raise FileNotFoundError('the packaged checkpoint disdepth_core/assets/'
                                'disdepth_default.{safetensors,json} is missing')
    try:
        from disdepth_core.checkpoint import load_checkpoint
        model, spec, _ = load_checkpoint(weights)
        return model, spec, 'disdepth_core.checkpoint.load_checkpoint'
    except ImportError as exc:
        why = f'{exc.name or exc} not installed'
    from disdepth_core.models import build_student
    from disdepth_core.models import StudentConfig
    from disdepth_core.modelspec import ModelSpec
    meta = json.loads(sidecar.read_text())
    if meta.get('model', {}).get('kind') != 'student':
        raise ValueError(f'{sidecar}: expected a student checkpoint, got '
                         f'{meta.get("model", {}).get("kind")!r}')
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if meta.get('sha256') and digest != meta['sha256']:
        raise ValueError(f'{weights}: checksum mismatch with {sidecar}')
    model = build_student(StudentConfig(**{**meta['model']['config'], 'weights': None}))
    model.load_state_dict(read_safetensors(weights), strict=True)
    return (model.eval(), ModelSpec.from_dict(meta['spec']),
            f'built-in safetensors reader ({why})')


def synthetic_frames(n: int, hw: Tuple[int, int], seed: int = 0) -> List[np.ndarray]:
    """Deterministic textured RGB uint8 frames (smooth shading, stripes, noise)."""
    h, w = hw
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        fx, fy, phase = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0, 6.3)
        base = 0.5 + 0.3 * np.sin(xx / w * fx * 6.28 + phase) * np.cos(yy / h * fy * 6.28)
        ramp = yy / max(h - 1, 1)
        rgb = np.stack([base, 0.6 * base + 0.4 * ramp, 1.0 - 0.5 * base], axis=-1)
        rgb += rng.normal(0.0, 0.04, rgb.shape).astype(np.float32)
        frames.append(np.clip(rgb * 255.0, 0, 255).astype(np.uint8))
    return frames


def _intrinsics(hw: Tuple[int, int], n: int) -> List[Any]:
    from disdepth_core.geometry import CameraIntrinsics
    return [CameraIntrinsics.from_fov(55.0 + 5.0 * i, hw[1], hw[0]) for i in range(n)]


def opencv_missing() -> str:
    """Why the CPU pipeline cannot resize here ('' when OpenCV is there)."""
    from disdepth_core import transforms
    return '' if transforms.cv2 is not None else ('skipped: OpenCV not installed (the CPU '
                                                  'pipeline resizes with it)')


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _release(device: str) -> None:
    if device == 'cuda':
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- parity

def _diff(got: Dict[str, np.ndarray], ref: Dict[str, np.ndarray]) -> Dict[str, Any]:
    depth = np.abs(got['depth'].astype(np.float64) - ref['depth'])
    out: Dict[str, Any] = {'max_abs_depth': float(np.nanmax(depth)),
                           'mean_abs_depth': float(np.nanmean(depth)),
                           'reference_range': (f'{float(np.nanmin(ref["depth"])):.3g}..'
                                               f'{float(np.nanmax(ref["depth"])):.3g}')}
    if 'confidence' in got and 'confidence' in ref:
        out['max_abs_confidence'] = float(np.nanmax(np.abs(got['confidence'] -
                                                           ref['confidence'])))
    return out


def _torch_parity(plan: Plan, base: torch.nn.Module, spec: Any, x: np.ndarray,
                  ref: Optional[Dict[str, np.ndarray]], options: Dict[str, str]
                  ) -> Dict[str, Any]:
    """Run ``x`` through a fresh estimator: its differences to ``ref`` (None: its output)."""
    from disdepth_core.inference.torch_engine import TorchEstimator
    options = {'device': plan.device, **options}
    est = TorchEstimator(copy.deepcopy(base), spec, **options)
    out = est.forward(x)
    return {'out': out} if ref is None else {'notes': est.info.notes, **_diff(out, ref)}


def run_parity(report: Report, plan: Plan, base: torch.nn.Module, spec: Any) -> None:
    """Fill the parity rows."""
    from disdepth_core.inference.postprocess import batch_network_input
    from disdepth_core.transforms import Preprocessing
    net_hw = (spec.input_height, spec.input_width)
    prep = Preprocessing(net_hw[0], net_hw[1], tuple(spec.mean), tuple(spec.std),
                         spec.input_multiple)
    # frames at the network size: no resize, so no OpenCV needed for the network input
    x = batch_network_input(synthetic_frames(plan.parity_frames, net_hw, seed=1), prep)
    ref = _torch_parity(plan, base, spec, x, None, {'device': 'cpu'})['out']
    for name, options in PARITY_CASES:
        label = f'torch {plan.device} {name}'
        report.put('parity', label, status='running')
        try:
            row = _torch_parity(plan, base, spec, x, ref, options)
            report.put('parity', label, status='ok', **row)
        except (RuntimeError, ValueError, TypeError) as exc:
            report.put('parity', label, status='error', notes=str(exc)[:300])
        _release(plan.device)
    report.put('parity', ONNX_PARITY, status='running')
    try:
        from disdepth_core.assets import packaged_model_paths
        from disdepth_core.inference.onnx_engine import OnnxEstimator
        importlib.import_module('onnxruntime')
        onnx_est = OnnxEstimator(packaged_model_paths()['onnx'], device='cpu')
        parts = [onnx_est.forward(x[i:i + 1]) for i in range(len(x))]
        got = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        report.put('parity', ONNX_PARITY, status='ok', notes='against torch fp32 on the CPU',
                   **_diff(got, ref))
    except ImportError as exc:
        report.put('parity', ONNX_PARITY, status=f'skipped: {exc.name or exc} not installed')
    except (RuntimeError, ValueError, OSError) as exc:
        report.put('parity', ONNX_PARITY, status='error', notes=str(exc)[:300])
    report.put('parity', PREDICT_PARITY, status='running')
    if opencv_missing():
        report.put('parity', PREDICT_PARITY, status=opencv_missing())
        return
    try:
        report.put('parity', PREDICT_PARITY, status='ok', **_predict_parity(plan, base, spec))
    except (RuntimeError, ValueError, TypeError) as exc:
        report.put('parity', PREDICT_PARITY, status='error', notes=str(exc)[:300])
    _release(plan.device)


def _predict_parity(plan: Plan, base: torch.nn.Module, spec: Any) -> Dict[str, Any]:
    from disdepth_core.inference.torch_engine import TorchEstimator
    frames = synthetic_frames(plan.parity_frames, plan.image_hw, seed=2)
    ks = _intrinsics(plan.image_hw, len(frames))
    cpu = TorchEstimator(copy.deepcopy(base), spec, device='cpu').predict_batch(frames, ks)
    est = TorchEstimator(copy.deepcopy(base), spec, device=plan.device, device_processing=True)
    dev = est.predict_batch(frames, ks)
    got = {'depth': np.stack([r.depth for r in dev]),
           'confidence': np.stack([r.confidence for r in dev])}
    want = {'depth': np.stack([r.depth for r in cpu]),
            'confidence': np.stack([r.confidence for r in cpu])}
    return {'notes': est.info.notes, **_diff(got, want)}


# --------------------------------------------------------------------------- latency

def time_calls(call: Callable[[], Any], warmup: int, iters: int, budget_s: float,
               device: str) -> Dict[str, Any]:
    """
    Time ``call`` after ``warmup`` untimed calls: at most ``iters`` calls or ``budget_s``.

    :return: ``p50_ms``, ``p95_ms``, ``calls``, ``elapsed_s`` and the last call's result
    """
    for _ in range(warmup):
        call()
    _sync(device)
    times: List[float] = []
    last = None
    t_start = time.perf_counter()
    while len(times) < iters and (not times or time.perf_counter() - t_start < budget_s):
        t0 = time.perf_counter()
        last = call()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    elapsed = time.perf_counter() - t_start
    arr = np.asarray(times)
    return {'p50_ms': float(np.percentile(arr, 50)), 'p95_ms': float(np.percentile(arr, 95)),
            'calls': len(times), 'elapsed_s': elapsed, 'last': last}


def _latency_row(case: LatencyCase, plan: Plan, base: torch.nn.Module,
                 spec: Any) -> Dict[str, Any]:
    from disdepth_core.inference.torch_engine import TorchEstimator
    est = TorchEstimator(copy.deepcopy(base), spec, device=plan.device,
                         precision=case.precision, low_precision=case.low_precision,
                         channels_last=case.channels_last, cuda_graphs=case.graphs,
                         device_processing=case.device_processing, input_size=plan.net_hw)
    frames = synthetic_frames(case.batch, plan.image_hw, seed=3)
    ks = _intrinsics(plan.image_hw, case.batch)
    infer: List[float] = []

    def call() -> Any:
        results = est.predict_batch(frames, ks)
        infer.append(results[0].timings_ms['infer'])
        return results
    t = time_calls(call, plan.warmup, plan.iters, plan.row_budget_s, plan.device)
    timed = infer[plan.warmup:]
    return {'p50_ms': t['p50_ms'], 'p95_ms': t['p95_ms'], 'calls': t['calls'],
            'images_per_s': case.batch * t['calls'] / t['elapsed_s'],
            'infer_p50_ms': float(np.median(timed)) if timed else None,
            'valid_fraction': float(np.mean([np.isfinite(r.depth).mean() for r in t['last']])),
            'notes': est.info.notes}


def run_latency(report: Report, plan: Plan, base: torch.nn.Module, spec: Any) -> None:
    """Fill the inference rows."""
    for case in plan.latency_cases():
        if not case.device_processing and opencv_missing():
            report.put('latency', case.label, status=opencv_missing())
            continue
        report.put('latency', case.label, status='running')
        try:
            report.put('latency', case.label, status='ok',
                       **_latency_row(case, plan, base, spec))
        except (RuntimeError, ValueError, TypeError) as exc:
            report.put('latency', case.label, status='error', notes=str(exc)[:300])
        _release(plan.device)


# --------------------------------------------------------------------------- training

def build_train_model(case: TrainCase, plan: Plan) -> torch.nn.Module:
    """Build the student (default config) or the vit-s teacher to train (tiny in a dry run)."""
    from disdepth_core.models import build_student
    from disdepth_core.models import build_teacher
    from disdepth_core.models import StudentConfig
    from disdepth_core.models import TeacherConfig
    from disdepth_core.models.teacher import TEACHER_PRESETS
    if case.model == 'student':
        cfg = (StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=32)
               if plan.dry_run else StudentConfig())
        return build_student(cfg)
    preset = case.model[len('teacher-'):]
    tcfg = (TeacherConfig.tiny() if plan.dry_run
            else TeacherConfig(**TEACHER_PRESETS[preset]))
    return build_teacher(tcfg, frozen=False)


def _training_row(case: TrainCase, plan: Plan, images: torch.Tensor,
                  target: torch.Tensor) -> Dict[str, Any]:
    from disdepth_core.losses import BinsChamferLoss
    from disdepth_core.losses import SILogLoss
    silog = SILogLoss()
    chamfer = BinsChamferLoss(weight=0.1)
    device = images.device
    torch.manual_seed(0)
    model = build_train_model(case, plan).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-4)
    amp = case.amp == 'bf16'
    losses: List[torch.Tensor] = []

    def step() -> None:
        optim.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(images)
        loss = silog(out.depth, target)['loss'] + chamfer(out.bin_centers, target)['loss']
        loss.backward()
        optim.step()
        losses.append(loss.detach())
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    t = time_calls(step, plan.train_warmup, plan.train_steps, float('inf'), device.type)
    last = float(losses[-1])
    return {'status': 'ok' if math.isfinite(last) else 'error: non-finite loss',
            'step_p50_ms': t['p50_ms'],
            'images_per_s': plan.train_batch * t['calls'] / t['elapsed_s'],
            'peak_memory_gib': (torch.cuda.max_memory_allocated() / 2 ** 30
                                if device.type == 'cuda' else None),
            'loss': last, 'params_m': sum(p.numel() for p in params) / 1e6,
            'notes': 'random weights; ' + ('bf16 autocast' if amp else 'fp32')}


def run_training(report: Report, plan: Plan) -> None:
    """Fill the training rows."""
    device = torch.device(plan.device)
    gen = torch.Generator().manual_seed(0)
    h, w = plan.train_hw
    images = torch.rand(plan.train_batch, 3, h, w, generator=gen).to(device)
    target = (0.5 + 7.5 * torch.rand(plan.train_batch, 1, h, w, generator=gen)).to(device)
    for case in plan.train_cases():
        report.put('training', case.label, status='running', batch=plan.train_batch)
        try:
            report.put('training', case.label, **_training_row(case, plan, images, target))
        except (RuntimeError, ValueError, TypeError) as exc:
            report.put('training', case.label, status='error', notes=str(exc)[:300])
        _release(plan.device)


# --------------------------------------------------------------------------- main

def _on_alarm(signum: int, frame: Any) -> None:
    raise TimeCap()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.environ.get('OUT') or 'out/gpu_check',
                        help='output folder (default: $OUT, else out/gpu_check)')
    parser.add_argument('--dry-run', action='store_true',
                        help='the same code on the CPU with tiny sizes and iterations')
    parser.add_argument('--time-cap', type=float, default=DEFAULT_TIME_CAP_S,
                        help='seconds from the start after which the run stops and keeps what '
                             f'it has (default {DEFAULT_TIME_CAP_S:g})')
    parser.add_argument('--iters', type=int, default=None,
                        help='timed calls per latency row (default 200, dry run 3)')
    parser.add_argument('--train-steps', type=int, default=None,
                        help='timed training steps per row (default 10, dry run 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: as torch chooses; dry run 1)')
    parser.add_argument('--sections', default=','.join(SECTIONS),
                        help=f'comma-separated subset of {",".join(SECTIONS)}')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the check; 0 when every row was measured or skipped for a reason, else 1 (2: no GPU)."""
    args = parse_args(argv)
    sections = [s.strip() for s in args.sections.split(',') if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f'gpu_check: unknown section(s) {", ".join(unknown)}; choose from '
              f'{", ".join(SECTIONS)}', file=sys.stderr)
        return 2
    plan = make_plan(args)
    threads = args.threads or (1 if args.dry_run else None)
    if threads:
        torch.set_num_threads(threads)
    command = ' '.join(['tools/gpu_check.py'] + list(sys.argv[1:] if argv is None else argv))
    report = Report(Path(args.out), plan, command)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_alarm)
    status = 'complete'
    try:
        left = plan.time_cap_s - (time.monotonic() - START)
        if left <= 0:
            raise TimeCap()
        signal.setitimer(signal.ITIMER_REAL, left)
        if plan.device == 'cuda' and not torch.cuda.is_available():
            report.data['facts'] = machine_facts(dataclasses.replace(plan, device='cpu'))
            report.finish('no CUDA device visible to torch: nothing measured (use --dry-run '
                          'to check the script on a CPU)')
            print(f'gpu_check: no CUDA device for torch {torch.__version__}; see '
                  f'{report.out_dir}/gpu_check.md', file=sys.stderr)
            return 2
        if plan.device == 'cuda':
            torch.backends.cudnn.benchmark = True  # fixed shapes: autotune the convolutions
        report.data['facts'] = machine_facts(plan)
        report.write()
        base, spec, loader = load_packaged_student()
        report.data['facts']['packaged model'] = (f'{spec.name} ({spec.backbone}, '
                                                  f'{spec.input_height}x{spec.input_width})')
        report.data['facts']['checkpoint loader'] = loader
        report.write()
        if 'parity' in sections:
            run_parity(report, plan, base, spec)
        if 'latency' in sections:
            run_latency(report, plan, base, spec)
        if 'training' in sections:
            run_training(report, plan)
        for section in SECTIONS:
            if section not in sections:
                for entry in report.data[section]:
                    entry['status'] = 'skipped: not in --sections'
    except TimeCap:
        status = (f'stopped by the time cap ({plan.time_cap_s:g} s): rows not reached are '
                  'marked')
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    report.finish(status)
    failed = [e['label'] for s in SECTIONS for e in report.data[s] if e['status'] == 'error']
    print(f'gpu_check: {status}; {len(failed)} row(s) failed; results in '
          f'{report.out_dir}/gpu_check.md', file=sys.stderr)
    return 0 if status == 'complete' and not failed else 1


if __name__ == '__main__':
    sys.exit(main())
