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
``disdepth bench``: latency, throughput, FLOPs and accuracy trade-offs of engines x models x sizes.

For every model (students by backbone, optionally teachers of one or more preset sizes,
``--teacher vit-s,vit-l``; random weights are fine for speed)
and every camera size, the model is exported to ONNX (and quantised to INT8 when asked), then each
engine runs ``predict()`` on a frame of that size: ``--warmup`` untimed frames, then ``--iters``
timed ones.  Reported per row: p50 / p95 end-to-end latency (pre-processing, network,
metric post-processing), the network-only p50, frames per second (iters / total time),
parameters, GFLOPs (``disdepth_core.flops``: 2 x MACs of conv / linear / matmul at the network
size) and the achieved GFLOP/s as a share of the machine's **peak reference**: the best fp32
GFLOP/s of a 1024 x 1024 ``torch.matmul`` with the same thread count, measured at start.

Ratios are computed inside one run, side by side: ``x torch`` (torch eager p50 / this p50),
``x fp32`` (INT8 rows: fp32 ONNX Runtime p50 / INT8 p50), ``x teacher`` (first teacher's p50 /
student p50, same engine and size; every teacher's ratio is in the record's ``vs_teachers``).

Camera sizes need not be multiples of 32: the network runs at the nearest multiple-of-32 size
with the same long side (``transforms.fit_network_size``; 240x320 -> 256x320).

Accuracy rows (``--accuracy-data``, default ``../shared/data/real/hololens_dvmvs`` when present):
with a trained model (``--model``, default the packaged one), delta1 against the real ground
truth for fp32 and INT8 ONNX Runtime (INT8 calibrated on the even frames, evaluated on the odd
ones).  Without a trained model, only the fp32-vs-INT8 agreement of the random-weight students is
reported.

``--json`` writes a list of records (``engine``, ``provider``, ``model``, ``height``, ``width``,
``batch``, ``p50_ms``, ``p95_ms``, ``fps``, ``params``, ``gflops``, ...); ``--markdown`` writes
the tables (replacing only the part between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``
when the file already has those markers).
"""

from dataclasses import dataclass, field, replace
import datetime
import logging
import os
from pathlib import Path
import platform
import shlex
import tempfile
import time
from typing import Any, Callable, cast, Dict, List, Optional, Sequence, Tuple

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import EngineUnavailableError
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference.atomic import write_marked_section
from disdepth_core.transforms import fit_network_size

LOG = logging.getLogger('disdepth')

DEFAULT_ENGINES = 'torch,onnxruntime,onnxruntime-int8'
DEFAULT_BACKBONES = 'mobilenetv2,resnet18,efficientnet_b0'
DEFAULT_SIZES = '240x320,480x640'
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ACCURACY_DATA = REPO_ROOT.parent / 'shared' / 'data' / 'real' / 'hololens_dvmvs'
MARK_BEGIN = '<!-- bench:begin -->'
MARK_END = '<!-- bench:end -->'
BENCH_FOV_DEG = 60.0
WAIT_POLICIES = ('passive', 'spin')


# --------------------------------------------------------------------------- machine

def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def machine_info(threads: int) -> Dict[str, Any]:
    """Describe the machine and software versions."""
    import importlib.metadata as md

    def version(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return 'not installed'
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 1
    return {'cpu': cpu_model(), 'cores': os.cpu_count(), 'nproc': nproc, 'threads': threads,
            'python': platform.python_version(), 'platform': platform.platform(),
            'torch': version('torch'),
            'onnxruntime': (version('onnxruntime') if version('onnxruntime') != 'not installed'
                            else version('onnxruntime-gpu')),
            'loadavg_start': list(os.getloadavg()),
            'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY', 'default')}


def peak_gflops(threads: int, n: int = 1024, repeats: int = 8) -> float:
    """
    Best fp32 GEMM GFLOP/s of this machine (``torch.matmul``, n x n), the peak reference.

    :param threads: torch threads
    :param n: matrix size
    :param repeats: timed repetitions (the best one counts)
    :return: GFLOP/s
    """
    import torch
    torch.set_num_threads(threads)
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    torch.matmul(a, b)
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


# --------------------------------------------------------------------------- models and engines

@dataclass
class ModelCase:
    """One model at one network size, with its exported files."""

    name: str
    kind: str  # 'student' or 'teacher'
    module: Any
    spec: Any
    net_hw: Tuple[int, int]
    n_bins: Optional[int] = None
    params: Optional[int] = None
    gflops: Optional[float] = None
    files: Dict[str, Path] = field(default_factory=dict)
    notes: Dict[str, Any] = field(default_factory=dict)


TEACHER_PREFIX = 'teacher-'


def teacher_case_name(preset: str) -> str:
    """Row name of a teacher preset (``'vit-l'`` -> ``'teacher-vit-l'``)."""
    return TEACHER_PREFIX + preset


def build_case(name: str, net_hw: Tuple[int, int], tiny: bool = False,
               n_bins: Optional[int] = None) -> ModelCase:
    """
    Build a random-weight student (``name`` = backbone) or a teacher (``teacher-<preset>``).

    :param name: backbone name or ``'teacher-<preset>'`` (a key of ``TEACHER_PRESETS``)
    :param net_hw: network (height, width)
    :param tiny: test-sized heads and teacher (smoke runs)
    :param n_bins: number of depth bins of the students (None: the StudentConfig default)
    :return: the case, with params and GFLOPs filled when ``disdepth_core.flops`` is available
    """
    import torch

    from disdepth_core.modelspec import ModelSpec
    from disdepth_core.models import build_student
    from disdepth_core.models import build_teacher
    from disdepth_core.models import StudentConfig
    from disdepth_core.models import TeacherConfig
    torch.manual_seed(0)
    if name.startswith(TEACHER_PREFIX):
        preset = name[len(TEACHER_PREFIX):]
        cfg: Any = TeacherConfig.tiny() if tiny else TeacherConfig.from_preset(preset)
        module = build_teacher(cfg)
        kind, backbone = 'teacher', 'vit'
    else:
        small = {'n_bins': 16, 'decoder_width': 32, 'decoder_min_width': 8, 'bins_hidden': 32}
        overrides: Dict[str, Any] = dict(small) if tiny else {}
        if n_bins is not None:
            overrides['n_bins'] = int(n_bins)
        cfg = StudentConfig(backbone=name, **overrides)
        module = build_student(cfg)
        kind, backbone = 'student', name
    module.eval()
    spec = ModelSpec(f'{name} (random weights)', kind, backbone, net_hw[0], net_hw[1],
                     cfg.canonical_focal, cfg.min_depth, cfg.max_depth)
    case = ModelCase(name, kind, module, spec, net_hw, n_bins=int(cfg.n_bins))
    try:
        from disdepth_core import flops
    except ImportError:
        return case
    case.params = int(flops.count_params(module))
    case.gflops = float(flops.count_flops(module, net_hw)) / 1e9
    return case


@dataclass(frozen=True)
class BenchOptions:
    """
    What one ``disdepth bench`` run measures (the command-line options, as data).

    :param engines: comma-separated keys of :data:`BENCH_ENGINES`
    :param backbones: comma-separated student backbones
    :param teacher: comma-separated ViT teacher presets, or None
    :param sizes: comma-separated camera sizes HxW
    :param warmup: untimed frames per row
    :param iters: timed frames per row
    :param threads: CPU threads for torch and onnxruntime (None: every CPU this process may use)
    :param device: inference device
    :param wait_policy: ``passive`` or ``spin`` idle worker threads
    :param calib: INT8 calibration folder (None: synthetic frames)
    :param calib_frames: INT8 calibration frames
    :param model: trained ONNX model for the accuracy rows (None: the packaged one)
    :param accuracy_data: RGB-D folder of the accuracy rows (None: no accuracy rows)
    :param n_bins: depth bins of the students (None: the StudentConfig default)
    :param tiny: test-sized models (smoke runs)
    :param argv: the command line, for the report
    """

    engines: str = DEFAULT_ENGINES
    backbones: str = DEFAULT_BACKBONES
    teacher: Optional[str] = None
    sizes: str = DEFAULT_SIZES
    warmup: int = 3
    iters: int = 20
    threads: Optional[int] = None
    device: str = 'cpu'
    wait_policy: str = 'passive'
    calib: Optional[str] = None
    calib_frames: int = 8
    model: Optional[str] = None
    accuracy_data: Optional[str] = str(DEFAULT_ACCURACY_DATA)
    n_bins: Optional[int] = None
    tiny: bool = False
    argv: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the counts and the wait policy."""
        if self.warmup < 0 or self.iters < 1:
            raise ValueError('need --warmup >= 0 and --iters >= 1')
        if self.wait_policy not in WAIT_POLICIES:
            raise ValueError(f'wait policy must be one of {", ".join(WAIT_POLICIES)}, got '
                             f'{self.wait_policy!r}')


@dataclass
class EngineSpec:
    """How the bench builds one engine variant."""

    needs: str  # 'module', 'onnx' or 'int8'
    build: Callable[[ModelCase, BenchOptions], Any]
    teacher: bool = True  # also run it for the teacher


def _torch(precision: str, compile_model: bool = False) -> Callable:
    def build(case: ModelCase, args: BenchOptions) -> Any:
        from disdepth_core.inference.torch_engine import TorchEstimator
        return TorchEstimator(case.module, case.spec, device=args.device, precision=precision,
                              compile=compile_model, input_size=case.net_hw,
                              threads=args.threads, model_path=f'{case.name} (in memory)')
    return build


def _ort(key: str, fp16: bool = False, device: Optional[str] = None) -> Callable:
    def build(case: ModelCase, args: BenchOptions) -> Any:
        from disdepth_core.inference.onnx_engine import OnnxEstimator
        return OnnxEstimator(case.files[key], device=device or args.device,
                             intra_op_threads=args.threads, fp16=fp16,
                             spinning=args.wait_policy == 'spin')
    return build


# engine name -> how to build it.  Add a variant by adding a line.
BENCH_ENGINES: Dict[str, EngineSpec] = {
    'torch': EngineSpec('module', _torch('fp32')),
    'torch-bf16': EngineSpec('module', _torch('bf16')),
    'torch-compile': EngineSpec('module', _torch('fp32', compile_model=True)),
    'onnxruntime': EngineSpec('onnx', _ort('onnx')),
    # INT8 is a deployment route for students; the teacher is not quantised (its calibration
    # at 480x640 needs several GB for the activation statistics).
    'onnxruntime-int8': EngineSpec('int8', _ort('int8', device='cpu'), teacher=False),
    'onnxruntime-cuda': EngineSpec('onnx', _ort('onnx', device='cuda')),
    'onnxruntime-trt-fp16': EngineSpec('onnx', _ort('onnx', fp16=True, device='tensorrt')),
}


def bench_frame(hw: Tuple[int, int], seed: int = 0) -> np.ndarray:
    """Return a deterministic textured RGB frame of size ``hw``."""
    from disdepth_core.inference.quantize import synthetic_frames
    return synthetic_frames(1, hw, seed)[0]


def time_estimator(est: Any, rgb: np.ndarray, k: CameraIntrinsics, warmup: int,
                   iters: int) -> Dict[str, float]:
    """
    Time ``predict`` after warm-up.

    :return: ``p50_ms``, ``p95_ms``, ``mean_ms``, ``infer_p50_ms``, ``fps``
    """
    for _ in range(warmup):
        est.predict(rgb, k)
    total: List[float] = []
    infer: List[float] = []
    t_start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        res = est.predict(rgb, k)
        total.append((time.perf_counter() - t0) * 1e3)
        infer.append(res.timings_ms.get('infer', float('nan')))
    elapsed = time.perf_counter() - t_start
    arr = np.asarray(total)
    return {'p50_ms': float(np.percentile(arr, 50)), 'p95_ms': float(np.percentile(arr, 95)),
            'mean_ms': float(arr.mean()), 'infer_p50_ms': float(np.median(infer)),
            'fps': iters / elapsed}


# --------------------------------------------------------------------------- accuracy

def delta1(pred: np.ndarray, gt: np.ndarray, min_depth: float,
           max_depth: float) -> Tuple[int, int]:
    """
    Count pixels with max(pred/gt, gt/pred) < 1.25 among valid ground truth.

    :return: (good pixels, valid pixels)
    """
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    p, g = pred[valid], gt[valid]
    ratio = np.maximum(p / g, g / p)
    return int(np.sum(ratio < 1.25)), int(valid.sum())


def accuracy_rows(model_path: Path, data: Path, args: BenchOptions,
                  workdir: Path) -> List[Dict[str, Any]]:
    """
    Measure delta1 of a trained ONNX model, fp32 vs INT8, on real frames.

    INT8 is calibrated on the even frames; both are evaluated on the odd ones.
    """
    from disdepth_core.data.rgbd_folder import RGBDFolderDataset
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference.quantize import quantize_int8
    dataset = RGBDFolderDataset(data)
    calib = workdir / 'calib'
    (calib / 'rgb').mkdir(parents=True, exist_ok=True)
    frames = [dataset.load_frame(i) for i in range(len(dataset))]
    import cv2
    for i, frame in enumerate(frames[0::2]):
        cv2.imwrite(str(calib / 'rgb' / f'{i:04d}.png'), cv2.cvtColor(frame.rgb,
                                                                      cv2.COLOR_RGB2BGR))
    int8 = workdir / 'accuracy-int8.onnx'
    quantize_int8(model_path, int8, calib_dir=calib, n_frames=args.calib_frames,
                  threads=args.threads)
    rows = []
    for engine, path in (('onnxruntime', model_path), ('onnxruntime-int8', int8)):
        est = create_estimator(path, device='cpu', intra_op_threads=args.threads)
        good = total = 0
        times = []
        for frame in frames[1::2]:
            res = est.predict(frame.rgb, frame.intrinsics)
            times.append(res.timings_ms['infer'])
            # RGBDFolderDataset opens its folders with require_depth=True: depth is never None
            g, n = delta1(res.depth, cast(np.ndarray, frame.depth), est.spec.min_depth,
                          est.spec.max_depth)
            good, total = good + g, total + n
        h, w = frames[0].rgb.shape[:2]
        rows.append({'engine': engine, 'provider': est.info.provider, 'model': model_path.name,
                     'kind': 'accuracy', 'height': h, 'width': w,
                     # a .onnx path gives an OnnxEstimator, which has net_hw
                     'net_height': cast(Any, est).net_hw[0],
                     'net_width': cast(Any, est).net_hw[1], 'batch': 1,
                     'infer_p50_ms': float(np.median(times)), 'frames': len(frames[1::2]),
                     'delta1': good / max(total, 1), 'precision': est.info.precision,
                     'data': str(data)})
    if len(rows) == 2:
        rows[1]['delta1_change'] = rows[1]['delta1'] - rows[0]['delta1']
        rows[1]['vs_fp32'] = rows[0]['infer_p50_ms'] / rows[1]['infer_p50_ms']
    return rows


# --------------------------------------------------------------------------- the run

def parse_sizes(text: str) -> List[Tuple[int, int]]:
    """
    Parse ``'240x320,480x640'`` into [(240, 320), (480, 640)].

    :raises ValueError: naming the bad entry
    """
    sizes = []
    for item in text.split(','):
        try:
            h, w = (int(v) for v in item.lower().strip().split('x'))
        except ValueError:
            raise ValueError(f'size {item!r} must look like 480x640 (height x width)') from None
        if h < 32 or w < 32:
            raise ValueError(f'size {item!r} is too small (at least 32x32)')
        sizes.append((h, w))
    return sizes


def _split(text: str) -> List[str]:
    return [t.strip() for t in text.split(',') if t.strip()]


def run_bench(options: BenchOptions) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """
    Run the benchmark.

    :param options: what to measure
    :return: (records, run info: machine, peak, command, date, notes)
    """
    import torch
    threads = options.threads or (len(os.sched_getaffinity(0))
                                  if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1))
    args = replace(options, threads=threads)
    torch.set_num_threads(threads)
    engines = _split(args.engines)
    unknown = [e for e in engines if e not in BENCH_ENGINES]
    if unknown:
        raise ValueError(f'unknown engine(s) {unknown}; choose from {", ".join(BENCH_ENGINES)}')
    from disdepth_core.models import TeacherConfig
    presets = _split(args.teacher or '')
    for preset in presets:  # fail before any timing, naming the bad preset
        TeacherConfig.from_preset(preset)
    teachers = [teacher_case_name(t) for t in presets]
    names = _split(args.backbones) + teachers
    sizes = parse_sizes(args.sizes)
    info: Dict[str, Any] = {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'command': 'disdepth bench ' + ' '.join(shlex.quote(a) for a in args.argv),
        'machine': machine_info(threads), 'peak_gflops': peak_gflops(threads),
        'cuda': bool(torch.cuda.is_available()), 'wait_policy': args.wait_policy, 'notes': []}
    LOG.info('peak reference: %.1f GFLOP/s (fp32 matmul, %d threads)', info['peak_gflops'],
             threads)
    records: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix='disdepth-bench-') as tmp:
        work = Path(tmp)
        for size in sizes:
            net_hw = fit_network_size(size, max(size))
            rgb = bench_frame(size)
            k = CameraIntrinsics.from_fov(BENCH_FOV_DEG, size[1], size[0])
            for name in names:
                case = build_case(name, net_hw, tiny=args.tiny, n_bins=args.n_bins)
                _prepare_files(case, engines, args, work)
                for engine in engines:
                    record = _bench_one(case, engine, size, rgb, k, args)
                    if record is not None:
                        records.append(record)
                        LOG.info('%s %dx%d %s: p50 %.1f ms', name, size[0], size[1], engine,
                                 record['p50_ms'])
                    else:
                        info['notes'].append(case.notes.get(engine, ''))
                del case
        model = _trained_model(args)
        data = Path(args.accuracy_data) if args.accuracy_data else None
        if model is not None and data is not None and data.is_dir():
            records += accuracy_rows(model, data, args, work)
        elif data is None or not data.is_dir():
            info['notes'].append(f'accuracy rows skipped: no RGB-D folder at {data}')
        else:
            info['notes'].append('accuracy rows skipped: no trained model (packaged model '
                                 'missing and no --model given)')
    add_ratios(records)
    info['machine']['loadavg_end'] = list(os.getloadavg())
    info['peak_gflops'] = max(info['peak_gflops'], peak_gflops(threads))
    info['notes'] = [n for n in info['notes'] if n]
    return records, info


def _trained_model(args: BenchOptions) -> Optional[Path]:
    if args.model:
        return Path(args.model)
    from disdepth_core.assets import packaged_model_paths
    return packaged_model_paths()['onnx']


def _prepare_files(case: ModelCase, engines: Sequence[str], args: BenchOptions,
                   work: Path) -> None:
    needs = {BENCH_ENGINES[e].needs for e in engines
             if case.kind != 'teacher' or BENCH_ENGINES[e].teacher}
    if needs & {'onnx', 'int8'}:
        from disdepth_core.export import export_onnx
        path = work / f'{case.name}-{case.net_hw[0]}x{case.net_hw[1]}.onnx'
        report = export_onnx(case.module, case.spec, path)
        case.files['onnx'] = path
        case.notes['parity_max_abs_err'] = report['max_abs_err']
    if 'int8' in needs:
        from disdepth_core.inference.quantize import quantize_int8
        path = work / f'{case.name}-{case.net_hw[0]}x{case.net_hw[1]}-int8.onnx'
        report = quantize_int8(case.files['onnx'], path, calib_dir=args.calib,
                               n_frames=args.calib_frames, threads=args.threads)
        case.files['int8'] = path
        case.notes['int8_drift'] = report['drift']


def _bench_one(case: ModelCase, engine: str, size: Tuple[int, int], rgb: np.ndarray,
               k: CameraIntrinsics, args: BenchOptions) -> Optional[Dict[str, Any]]:
    if case.kind == 'teacher' and not BENCH_ENGINES[engine].teacher:
        return None
    try:
        est = BENCH_ENGINES[engine].build(case, args)
    except (EngineUnavailableError, ModelLoadError) as exc:
        case.notes[engine] = f'{engine} skipped for {case.name}: {exc}'
        return None
    timing = time_estimator(est, rgb, k, args.warmup, args.iters)
    record: Dict[str, Any] = {
        'engine': engine, 'provider': est.info.provider, 'precision': est.info.precision,
        'model': case.name, 'kind': case.kind, 'n_bins': case.n_bins,
        'height': size[0], 'width': size[1],
        'net_height': case.net_hw[0], 'net_width': case.net_hw[1], 'batch': 1,
        **timing, 'params': case.params, 'gflops': case.gflops,
        'warmup': args.warmup, 'iters': args.iters, 'threads': args.threads}
    if case.gflops is not None:
        record['achieved_gflops_s'] = case.gflops / (timing['infer_p50_ms'] / 1e3)
    if engine == 'onnxruntime-int8' and 'int8_drift' in case.notes:
        record['int8_vs_fp32_delta1'] = case.notes['int8_drift']['delta1']
        record['int8_vs_fp32_abs_rel'] = case.notes['int8_drift']['abs_rel']
    if engine.startswith('onnxruntime') and 'parity_max_abs_err' in case.notes:
        record['export_parity_max_abs_err'] = case.notes['parity_max_abs_err'].get('depth')
    return record


def add_ratios(records: List[Dict[str, Any]]) -> None:
    """
    Add ``vs_torch``, ``vs_fp32`` and ``vs_teacher`` speed-up ratios (p50 based), in place.

    Rows are matched on (model, height, width) and, for the teacher ratios, the engine.
    ``vs_teachers`` maps every teacher to its ratio; ``vs_teacher`` is the first teacher's.
    """
    timed = [r for r in records if r.get('kind') != 'accuracy']
    index = {(r['model'], r['height'], r['width'], r['engine']): r for r in timed}
    teachers = list(dict.fromkeys(r['model'] for r in timed if r.get('kind') == 'teacher'))
    for r in timed:
        key = (r['model'], r['height'], r['width'])
        torch_row = index.get(key + ('torch',))
        if torch_row is not None and r['engine'] != 'torch':
            r['vs_torch'] = torch_row['p50_ms'] / r['p50_ms']
        fp32 = index.get(key + ('onnxruntime',))
        if fp32 is not None and r['engine'] == 'onnxruntime-int8':
            r['vs_fp32'] = fp32['p50_ms'] / r['p50_ms']
        if r['kind'] != 'student':
            continue
        for name in teachers:
            teacher = index.get((name, r['height'], r['width'], r['engine']))
            if teacher is not None:
                ratios = r.setdefault('vs_teachers', {})
                ratios[name] = teacher['p50_ms'] / r['p50_ms']
                r.setdefault('vs_teacher', ratios[name])


# --------------------------------------------------------------------------- reports

def _fmt(value: Any, spec: str = '.1f', suffix: str = '') -> str:
    if value is None:
        return '–'
    return f'{value:{spec}}{suffix}'


def markdown(records: List[Dict[str, Any]], info: Dict[str, Any]) -> str:
    """Render the run as Markdown (machine, command, date, tables, targets)."""
    m = info['machine']
    peak = info['peak_gflops']
    lines = [
        f'Run: **{info["date"]}** — `{info["command"]}`',
        '',
        f'Machine: {m["cpu"]}, {m["cores"]} cores (`nproc` = {m["nproc"]}), {m["threads"]} '
        f'threads, wait policy {info["wait_policy"]} (OMP_WAIT_POLICY={m["omp_wait_policy"]}); '
        f'Python {m["python"]}, torch {m["torch"]}, onnxruntime {m["onnxruntime"]}; '
        f'load average at start {m["loadavg_start"][0]:.2f}, at end '
        f'{m.get("loadavg_end", [float("nan")])[0]:.2f}.  GPU: '
        f'{"present" if info["cuda"] else "none (no GPU rows in this run)"}.',
        '',
        f'Peak reference: **{peak:.1f} GFLOP/s** (best fp32 1024x1024 `torch.matmul`, same '
        'threads, measured at the start and the end of the run; % peak can exceed 100 % when '
        'other load depressed both measurements or for INT8 rows).',
        '',
        '| model | bins | camera size | net size | engine | provider | p50 ms | p95 ms '
        '| net p50 ms | fps | params M | GFLOPs | GFLOP/s | % peak | x torch | x fp32 '
        '| x teacher |',
        '|---|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    timed = [r for r in records if r.get('kind') != 'accuracy']
    for r in timed:
        achieved = r.get('achieved_gflops_s')
        lines.append(
            f'| {r["model"]} | {_fmt(r.get("n_bins"), "d")} | {r["height"]}x{r["width"]} '
            f'| {r["net_height"]}x{r["net_width"]} '
            f'| {r["engine"]} | {r["provider"].replace("ExecutionProvider", "")} '
            f'| {r["p50_ms"]:.1f} | {r["p95_ms"]:.1f} | {r["infer_p50_ms"]:.1f} '
            f'| {r["fps"]:.2f} | {_fmt(r["params"] / 1e6 if r["params"] else None, ".2f")} '
            f'| {_fmt(r["gflops"], ".1f")} | {_fmt(achieved, ".1f")} '
            f'| {_fmt(100 * achieved / peak if achieved else None, ".0f", "%")} '
            f'| {_fmt(r.get("vs_torch"), ".2f", "x")} | {_fmt(r.get("vs_fp32"), ".2f", "x")} '
            f'| {_fmt(r.get("vs_teacher"), ".1f", "x")} |')
    int8 = [r for r in timed if 'int8_vs_fp32_delta1' in r]
    if int8:
        lines += ['', 'INT8 vs fp32 agreement (same random-weight model, calibration frames): ',
                  '', '| model | size | delta1(int8, fp32) | abs rel |', '|---|---|---:|---:|']
        lines += [f'| {r["model"]} | {r["height"]}x{r["width"]} | '
                  f'{r["int8_vs_fp32_delta1"]:.4f} | {r["int8_vs_fp32_abs_rel"]:.4f} |'
                  for r in int8]
    acc = [r for r in records if r.get('kind') == 'accuracy']
    if acc:
        lines += ['', f'Accuracy on real frames ({acc[0]["data"]}, {acc[0]["frames"]} '
                  'held-out frames, metric depth, no median scaling):', '',
                  '| model | engine | precision | net p50 ms | delta1 | delta1 change | x fp32 |',
                  '|---|---|---|---:|---:|---:|---:|']
        lines += [f'| {r["model"]} | {r["engine"]} | {r["precision"]} | '
                  f'{r["infer_p50_ms"]:.1f} | {r["delta1"]:.4f} | '
                  f'{_fmt(r.get("delta1_change"), "+.4f")} | '
                  f'{_fmt(r.get("vs_fp32"), ".2f", "x")} |' for r in acc]
    lines += ['', 'Targets (computed from the rows above):', '']
    lines += [f'- {t}' for t in target_lines(records)]
    for note in info['notes']:
        lines.append(f'- note: {note}')
    return '\n'.join(lines) + '\n'


def target_lines(records: List[Dict[str, Any]]) -> List[str]:
    """Check the issue's targets against the records (met / missed, by how much)."""
    out = []
    timed = [r for r in records if r.get('kind') != 'accuracy']

    def verdict(value: float, goal: float) -> str:
        return 'met' if value >= goal else f'missed by {goal / value:.2f}x'
    for r in timed:
        if r['kind'] == 'student' and r['engine'] == 'onnxruntime' and 'vs_torch' in r and \
                (r['height'], r['width']) == (480, 640):
            out.append(f'ORT CPU vs torch eager, {r["model"]} 480x640: {r["vs_torch"]:.2f}x '
                       f'(target 1.5x: {verdict(r["vs_torch"], 1.5)})')
    for r in timed:
        if 'vs_fp32' in r and r['kind'] == 'student':
            out.append(f'INT8 vs fp32 ORT, {r["model"]} {r["height"]}x{r["width"]}: '
                       f'{r["vs_fp32"]:.2f}x (target 2x: {verdict(r["vs_fp32"], 2.0)})')
    for r in timed:
        if r['engine'] not in ('torch', 'onnxruntime'):
            continue
        for name, ratio in r.get('vs_teachers', {}).items():
            out.append(f'student vs {name}, {r["model"]} {r["height"]}x{r["width"]} '
                       f'{r["engine"]}: {ratio:.1f}x (target 8x: {verdict(ratio, 8.0)})')
    for r in records:
        if r.get('kind') == 'accuracy' and 'delta1_change' in r:
            ok = abs(r['delta1_change']) <= 0.01
            out.append(f'INT8 delta1 change on real frames: {r["delta1_change"]:+.4f} (target '
                       f'|change| <= 0.01: {"met" if ok else "missed"})')
    return out or ['no rows to compare (run with torch, onnxruntime and the teacher)']


def write_markdown(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, between the bench markers (added when absent)."""
    write_marked_section(path, MARK_BEGIN, MARK_END, text)


# --------------------------------------------------------------------------- CLI
