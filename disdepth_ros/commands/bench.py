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

"""``disdepth bench``: engines x models x sizes side by side (``disdepth_core.bench``)."""

import argparse
from dataclasses import fields
import json
import logging
import os
from pathlib import Path
import sys

from disdepth_core.bench import BENCH_ENGINES
from disdepth_core.bench import BenchOptions
from disdepth_core.bench import DEFAULT_ACCURACY_DATA
from disdepth_core.bench import DEFAULT_BACKBONES
from disdepth_core.bench import DEFAULT_ENGINES
from disdepth_core.bench import DEFAULT_SIZES
from disdepth_core.bench import LOG
from disdepth_core.bench import markdown
from disdepth_core.bench import run_bench
from disdepth_core.bench import WAIT_POLICIES
from disdepth_core.bench import write_markdown
from disdepth_core.inference import EngineUnavailableError
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference.atomic import atomic_write_text


def _log_to_stderr() -> None:
    """Show the ``disdepth`` log (INFO) and other libraries' warnings on stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format='%(name)s: %(message)s')
    if LOG.level == logging.NOTSET:
        LOG.setLevel(logging.INFO)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``disdepth bench`` options."""
    parser.add_argument('--engines', default=DEFAULT_ENGINES,
                        help=f'comma-separated, from {", ".join(BENCH_ENGINES)} '
                             f'(default {DEFAULT_ENGINES})')
    parser.add_argument('--backbones', default=DEFAULT_BACKBONES,
                        help=f'student backbones (default {DEFAULT_BACKBONES})')
    parser.add_argument('--teacher', nargs='?', const='vit-s', default=None,
                        metavar='PRESETS',
                        help='also benchmark built-in ViT teachers: comma-separated preset '
                             'sizes, e.g. vit-s,vit-b,vit-l (no value: vit-s, the default '
                             'TeacherConfig); the "x teacher" column uses the first')
    parser.add_argument('--sizes', default=DEFAULT_SIZES,
                        help=f'camera sizes HxW (default {DEFAULT_SIZES})')
    parser.add_argument('--warmup', type=int, default=3, help='untimed frames per row')
    parser.add_argument('--iters', type=int, default=20, help='timed frames per row')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads for torch and onnxruntime (default: nproc)')
    parser.add_argument('--device', default='cpu', help='cpu, auto, cuda... (default cpu)')
    parser.add_argument('--wait-policy', choices=WAIT_POLICIES, default='passive',
                        help='idle worker threads: passive (sleep; robust when other processes '
                             'use the CPU) or spin (busy-wait; fastest on an idle machine); '
                             'sets OMP_WAIT_POLICY for torch and allow_spinning for '
                             'onnxruntime (default passive)')
    parser.add_argument('--calib', default=None,
                        help='RGB-D/image folder for INT8 calibration (default: synthetic)')
    parser.add_argument('--calib-frames', type=int, default=8, help='INT8 calibration frames')
    parser.add_argument('--model', default=None,
                        help='trained ONNX model for the accuracy rows (default: packaged)')
    parser.add_argument('--accuracy-data', default=str(DEFAULT_ACCURACY_DATA),
                        help='RGB-D folder for the accuracy rows')
    parser.add_argument('--n-bins', type=int, default=None,
                        help='depth bins of the students (default: the StudentConfig default)')
    parser.add_argument('--tiny', action='store_true',
                        help='test-sized model heads and teacher (smoke runs, not benchmarks)')
    parser.add_argument('--markdown', default=None, help='write the Markdown report here')
    parser.add_argument('--json', default=None, help='write the JSON records here')


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """
    Return the options of parsed ``disdepth bench`` arguments.

    :raises ValueError: for bad counts or an unknown wait policy
    """
    argv = getattr(args, 'argv', None)
    if argv is None:
        argv = sys.argv[2:] if sys.argv[1:2] == ['bench'] else []
    names = {f.name for f in fields(BenchOptions)} - {'argv'}
    return BenchOptions(**{n: getattr(args, n) for n in names}, argv=tuple(argv))


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth bench``."""
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f'disdepth bench: error: {exc}', file=sys.stderr)
        return 2
    if 'torch' not in sys.modules:  # OpenMP reads it once, when torch loads
        os.environ['OMP_WAIT_POLICY'] = 'PASSIVE' if options.wait_policy == 'passive' else 'ACTIVE'

    _log_to_stderr()
    try:
        records, info = run_bench(options)
    except (ValueError, ModelLoadError, EngineUnavailableError) as exc:
        print(f'disdepth bench: error: {exc}', file=sys.stderr)
        return 2
    text = markdown(records, info)
    print(text)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(
            [{**r, 'date': info['date'], 'cpu': info['machine']['cpu'],
              'peak_gflops': info['peak_gflops']} for r in records], indent=1) + '\n')
    if args.markdown:
        write_markdown(Path(args.markdown), text)
    return 0
