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
Label-free distillation on a CPU: how close does a student get to the teacher it learns from.

The teacher is a fixed, trained network: the packaged default model's ONNX file (a metric
``canonical_metric`` teacher) and the same graph with its output inverted and its metadata set to
``relative_disparity`` (a relative teacher).  For each, a fresh test-sized MobileNetV2 student is
trained with the ``label_distill`` stage (packaged config ``label_distill`` with test-sized
overrides) on unlabelled frames: synthetic indoor frames (their ground truth ignored) and, when
``../shared/data/real/hololens_dvmvs`` is there, its frames 0-29 read as plain images.  The
student before training (same seed, same initialisation) and after are compared with the
teacher on held-out frames (other synthetic rooms; HoloLens frames 30-41): the scale-and-shift-
invariant disparity error (both teachers) and abs_rel after median scaling (metric teacher).

    python tools/label_distill_experiment.py --out out/label_distill            # ~3 CPU minutes
    python tools/label_distill_experiment.py --out /tmp/ld --steps 20 --frames 8  # a smoke run

Writes ``results.json`` and ``results.md`` into ``--out`` (plus the runs and the label cache).
"""

import argparse
from dataclasses import replace
import json
import os
from pathlib import Path
import sys
import time
from typing import Any, Dict, List, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL = REPO_ROOT.parent / 'shared' / 'data' / 'real' / 'hololens_dvmvs'
# test-sized student (as in the packaged tiny config)
TINY_STUDENT = ['model.student.n_bins=16', 'model.student.decoder_width=32',
                'model.student.decoder_min_width=8', 'model.student.bins_hidden=32']


def relative_variant(src: Path, dst: Path) -> Path:
    """
    Write a relative-disparity teacher: ``src``'s graph with ``depth -> 1 / depth``.

    The metadata's ``output_kind`` becomes ``relative_disparity`` (larger = nearer, no unit),
    so tools treat the output as an affine-invariant disparity.

    :param src: a DisDepth ONNX file with a metric ``depth`` output
    :param dst: the new file (written atomically)
    :return: ``dst``
    """
    import onnx
    from onnx import helper

    from disdepth_core.inference.atomic import atomic_path
    from disdepth_core.modelspec import ModelSpec
    from disdepth_core.modelspec import ONNX_METADATA_KEY
    model = onnx.load(str(src))
    graph = model.graph
    for node in graph.node:
        node.input[:] = ['depth_metric' if i == 'depth' else i for i in node.input]
        node.output[:] = ['depth_metric' if o == 'depth' else o for o in node.output]
    for info in graph.value_info:
        if info.name == 'depth':
            info.name = 'depth_metric'
    graph.node.append(helper.make_node('Reciprocal', ['depth_metric'], ['depth'],
                                       name='to_disparity'))
    for prop in model.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            spec = ModelSpec.from_json(prop.value)
            prop.value = replace(spec, output_kind='relative_disparity',
                                 name=f'{spec.name}-relative').to_json()
    onnx.checker.check_model(model)
    with atomic_path(dst, suffix='.onnx') as tmp:
        onnx.save(model, str(tmp))
    return dst


def agreement(estimator: Any, frames: Sequence[Any], targets: Sequence[np.ndarray],
              relative: bool) -> Dict[str, float]:
    """
    Mean student-vs-teacher errors over frames.

    :param estimator: the student (``DepthEstimator``)
    :param frames: un-augmented frames
    :param targets: the teacher's label of each frame (``TeacherLabels.predict``)
    :param relative: whether the teacher is relative
    :return: mean of :func:`disdepth_core.training.teacher_labels.teacher_agreement`
    """
    from disdepth_core.training.teacher_labels import teacher_agreement
    rows = [teacher_agreement(estimator.predict(f.rgb, f.intrinsics).depth, t, relative)
            for f, t in zip(frames, targets)]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def constant_agreement(targets: Sequence[np.ndarray], relative: bool) -> Dict[str, float]:
    """Return the same errors for a constant depth map (a student that learned nothing)."""
    from disdepth_core.training.teacher_labels import teacher_agreement
    rows = [teacher_agreement(np.ones(t.shape, np.float32), t, relative) for t in targets]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}


def held_out(args: argparse.Namespace) -> Dict[str, List[Any]]:
    """Held-out frames by set name: other synthetic rooms, HoloLens frames 30-41."""
    from disdepth_core.data.registry import build_dataset
    sets: Dict[str, List[Any]] = {}
    synth = build_dataset('synthetic', length=args.val_frames, height=args.height,
                          width=args.width, frames_per_sequence=4, first_sequence=1000)
    sets['synthetic'] = [synth.load_frame(i) for i in range(len(synth))]
    if args.real and Path(args.real).is_dir():
        real = build_dataset('unlabeled', root=args.real)
        sets['hololens'] = [real.load_frame(i) for i in range(30, len(real))]
    return sets


def run_arm(name: str, teacher: Path, args: argparse.Namespace,
            sets: Dict[str, List[Any]]) -> Dict[str, Any]:
    """Distil one teacher; return the errors before and after, and the timings."""
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference.torch_engine import TorchEstimator
    from disdepth_core.training.config import load_train_config
    from disdepth_core.training.loop import fit
    from disdepth_core.training.loop import seed_everything
    from disdepth_core.training.stages import build_task
    out = Path(args.out)
    train = ['data.train.0.name=synthetic',
             f'data.train.0.options={{length: {args.frames}, height: {args.height}, '
             f'width: {args.width}, frames_per_sequence: 4}}']
    if args.real and Path(args.real).is_dir():
        train += ['data.train.1.name=unlabeled', f'data.train.1.root={args.real}',
                  'data.train.1.select=0:30', 'data.train.1.options={}']
    cfg = load_train_config('label_distill', [
        f'model.teacher.onnx_path={teacher}', *TINY_STUDENT, *train, 'device=cpu',
        f'threads={args.threads}', 'data.workers=0', f'data.batch_size={args.batch}',
        f'data.input_height={args.input_hw[0]}', f'data.input_width={args.input_hw[1]}',
        f'schedule.max_steps={args.steps}', 'schedule.epochs=1000', 'schedule.kind=onecycle',
        'schedule.precise_bn_batches=8', f'optim.lr={args.lr}', 'optim.encoder_lr_factor=1.0',
        f'label_distill.cache_dir={out / "label_cache"}', 'label_distill.teacher_device=cpu',
        'log.tensorboard=false', f'log.print_every={max(1, args.steps // 5)}'])
    seed_everything(cfg.seed)
    task = build_task(cfg)
    task.student.eval()
    before_est = TorchEstimator(task.student, task.spec(), device='cpu')
    labels = task.labels
    targets = {k: [labels.predict(f) for f in v] for k, v in sets.items()}
    constant = {k: constant_agreement(v, labels.relative) for k, v in targets.items()}
    before = {k: agreement(before_est, v, targets[k], labels.relative) for k, v in sets.items()}
    t0 = time.perf_counter()
    summary = fit(cfg, out / name, quiet=args.quiet)
    wall = time.perf_counter() - t0
    student = create_estimator(out / name / 'final.json', engine='torch', device='cpu')
    after = {k: agreement(student, v, targets[k], labels.relative) for k, v in sets.items()}
    return {'teacher': str(teacher), 'output_kind': labels.spec.output_kind,
            'loss': summary['teacher_labels']['loss'], 'steps': summary['steps'],
            'train_frames': summary['train_frames'], 'train_s': round(wall, 1),
            'labels': {k: summary['teacher_labels'][k] for k in ('frames', 'cached',
                                                                 'computed')},
            'constant': constant, 'before': before, 'after': after}


def table(results: Dict[str, Any]) -> str:
    """Markdown table of the results."""
    lines = ['| teacher | loss | held-out set | metric | constant depth | untrained student | '
             'distilled student |', '|---|---|---|---|---|---|---|']
    for name, r in results['arms'].items():
        for set_name, before in r['before'].items():
            for metric, value in before.items():
                lines.append(f'| {name} ({r["output_kind"]}) | {r["loss"]} | {set_name} | '
                             f'{metric} | {r["constant"][set_name][metric]:.3f} | {value:.3f} | '
                             f'{r["after"][set_name][metric]:.3f} |')
    return '\n'.join(lines) + '\n'


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='out/label_distill', help='output folder')
    parser.add_argument('--steps', type=int, default=150, help='training steps per student')
    parser.add_argument('--frames', type=int, default=48, help='synthetic training frames')
    parser.add_argument('--val-frames', type=int, default=8, help='held-out synthetic frames')
    parser.add_argument('--height', type=int, default=144, help='synthetic frame height')
    parser.add_argument('--width', type=int, default=192, help='synthetic frame width')
    parser.add_argument('--input-hw', type=int, nargs=2, default=(96, 128),
                        help='student input height width')
    parser.add_argument('--batch', type=int, default=4, help='batch size')
    parser.add_argument('--lr', type=float, default=2e-3, help='peak learning rate')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--real', default=str(DEFAULT_REAL),
                        help='HoloLens RGB-D folder (frames 0-29 train, 30- held out); '
                             'empty: synthetic only')
    parser.add_argument('--teacher', default='',
                        help='metric teacher ONNX (default: the packaged default model)')
    parser.add_argument('--quiet', action='store_true', help='no training log lines')
    return parser.parse_args(argv)


def main(argv: Sequence[str] = ()) -> int:
    """Run the experiment."""
    args = parse_args(list(argv))
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from disdepth_core.assets import default_model_path
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    metric = Path(args.teacher) if args.teacher else default_model_path()
    relative = relative_variant(metric, out / 'teacher_relative.onnx')
    sets = held_out(args)
    t0 = time.perf_counter()
    arms = {'metric': run_arm('metric', metric, args, sets),
            'relative': run_arm('relative', relative, args, sets)}
    results = {'command': ' '.join([Path(sys.executable).name, 'tools/label_distill_experiment.py',
                                    *argv]),
               'args': {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in vars(args).items()},
               'held_out_frames': {k: len(v) for k, v in sets.items()},
               'wall_s': round(time.perf_counter() - t0, 1), 'arms': arms}
    (out / 'results.json').write_text(json.dumps(results, indent=1))
    (out / 'results.md').write_text(table(results))
    print(table(results), end='')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
