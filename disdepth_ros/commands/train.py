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
``disdepth train``: run one training stage from a YAML config plus ``key.sub=value`` overrides.

Examples::

    disdepth train --config nyu_student.yaml data.train.0.root=/data/nyu --out runs/student
    disdepth train --config tiny_student schedule.max_steps=3 --out /tmp/run --quiet
    disdepth train --resume runs/student/last            # config from runs/student/config.yaml
    torchrun --nproc_per_node 4 -m disdepth_ros.cli train --config nyu_distill.yaml --out runs/d
    disdepth train --config label_distill --stage label_distill --out runs/ld \
        model.teacher.onnx_path=models/teacher.onnx data.train.0.root=recordings/front

``--config`` takes a file or the name of a packaged config (``disdepth_core/configs``; list them
with ``--list-configs``).  Overrides address list items by index (``data.train.0.root=...``).
"""

import argparse
from datetime import datetime
from pathlib import Path
import sys
from typing import Any

from disdepth_core.config import ConfigError
from disdepth_core.training.config import load_train_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    Add the ``train`` arguments.

    :param parser: the subcommand parser
    """
    parser.add_argument('--config', '-c', default=None,
                        help='YAML config file or packaged config name (see --list-configs)')
    parser.add_argument('overrides', nargs='*', metavar='KEY=VALUE',
                        help='config overrides, e.g. optim.lr=1e-4 data.batch_size=8 '
                             'stage=distill (list items by index: data.train.0.root=DIR)')
    parser.add_argument('--stage', default=None,
                        choices=('teacher', 'student', 'acclimate', 'distill', 'label_distill'),
                        help='shortcut for the override stage=NAME')
    parser.add_argument('--out', '-o', default=None,
                        help='output folder (default: runs/<stage>-<date-time>; with --resume: '
                             'the checkpoint folder)')
    parser.add_argument('--resume', default=None, metavar='CKPT',
                        help='continue from a checkpoint written by disdepth train (e.g. '
                             'runs/x/last); without --config the config.yaml beside it is used')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (shortcut for threads=N)')
    parser.add_argument('--quiet', '-q', action='store_true',
                        help='no progress bars and no log lines')
    parser.add_argument('--list-configs', action='store_true',
                        help='list the packaged configs and exit')
    parser.add_argument('--print-config', action='store_true',
                        help='print the merged config as YAML and exit')
    # Overrides may sit anywhere among the options (``--out DIR key=value --quiet key=value``):
    # parse this subcommand's arguments intermixed.
    _parse_intermixed(parser)


def _parse_intermixed(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` (a subparser) accept positionals between options."""
    plain = parser.parse_known_args

    def intermixed(args: Any = None, namespace: Any = None) -> Any:
        parser.parse_known_args = plain  # type: ignore[method-assign]
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser.parse_known_args = intermixed  # type: ignore[method-assign]

    parser.parse_known_args = intermixed  # type: ignore[method-assign]


def run(args: argparse.Namespace) -> int:
    """
    Run ``disdepth train``.

    :param args: parsed arguments
    :return: exit status (0 ok, 2 bad config / arguments, 1 training failure)
    """
    from disdepth_core.config import to_dict
    from disdepth_core.training.config import packaged_config_dir
    if args.list_configs:
        for path in sorted(packaged_config_dir().glob('*.yaml')):
            first = next((ln[1:].strip() for ln in path.read_text().splitlines()
                          if ln.startswith('#')), '')
            print(f'{path.stem:24s} {first}')
        return 0
    overrides = list(args.overrides)
    if args.stage:
        overrides.append(f'stage={args.stage}')
    if args.threads is not None:
        overrides.append(f'threads={args.threads}')
    config = args.config
    resume = None
    if args.resume:
        from disdepth_core.training.state import checkpoint_stem
        resume = checkpoint_stem(args.resume)
        if config is None:
            saved = resume.parent / 'config.yaml'
            if not saved.is_file():
                print(f'disdepth train: --resume {args.resume}: no config.yaml beside it; pass '
                      '--config', file=sys.stderr)
                return 2
            config = str(saved)
    try:
        cfg = load_train_config(config, overrides)
    except (ConfigError, ValueError, OSError) as exc:
        print(f'disdepth train: {exc}', file=sys.stderr)
        return 2
    if args.print_config:
        import yaml
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end='')
        return 0
    if not cfg.data.train:
        print('disdepth train: the config has no training data (data.train is empty)',
              file=sys.stderr)
        return 2
    if args.out:
        out = Path(args.out)
    elif resume is not None:
        out = resume.parent
    else:
        out = Path('runs') / f'{cfg.stage}-{datetime.now().strftime("%Y%m%d-%H%M%S")}'
    from disdepth_core.training.loop import fit
    from disdepth_core.training.stages import StageError
    try:
        summary = fit(cfg, out, resume=resume, quiet=args.quiet)
    except (StageError, FileNotFoundError) as exc:
        print(f'disdepth train: {exc}', file=sys.stderr)
        return 2
    except (ValueError, FloatingPointError) as exc:
        print(f'disdepth train: {exc}', file=sys.stderr)
        return 1
    if not args.quiet:
        print(f'disdepth train: {summary["steps"]} steps, checkpoint {summary["checkpoint"]}')
    return 0
