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

"""``disdepth node-bench``: the node beside its engine (``disdepth_ros.node_bench``)."""

import argparse
import json
from pathlib import Path
import sys
from typing import Tuple

from disdepth_ros.node_bench import markdown
from disdepth_ros.node_bench import NodeBenchOptions
from disdepth_ros.node_bench import QUICK_DURATION_S
from disdepth_ros.node_bench import QUICK_ENGINE_ITERS
from disdepth_ros.node_bench import QUICK_RATES
from disdepth_ros.node_bench import QUICK_SIZES
from disdepth_ros.node_bench import RATES
from disdepth_ros.node_bench import run_bench
from disdepth_ros.node_bench import SIZES
from disdepth_ros.node_bench import write_markdown_section


def _size(text: str) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HEIGHTxWIDTH (e.g. 480x640), got '
                                         f'{text!r}') from None
    return height, width


def options_from_args(args: argparse.Namespace) -> NodeBenchOptions:
    """
    Build the options from parsed arguments (``--quick`` fills what was not given).

    :param args: parsed ``node-bench`` arguments
    :return: validated options
    :raises ValueError: for an invalid value (the message names it)
    """
    quick = bool(args.quick)
    return NodeBenchOptions(
        sizes=args.sizes or (QUICK_SIZES if quick else SIZES),
        rates=args.rates or (QUICK_RATES if quick else RATES),
        duration_s=args.duration or (QUICK_DURATION_S if quick else 20.0),
        model=args.model, engine=args.engine, stride=args.stride,
        engine_iters=args.engine_iters or (QUICK_ENGINE_ITERS if quick else 30),
        domain=args.domain)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``node-bench`` options to ``parser``."""
    parser.add_argument('--sizes', type=lambda s: tuple(_size(v) for v in s.split(',')),
                        default=None, help='camera sizes HxW,... (default 240x320,480x640,'
                        '720x1280)')
    parser.add_argument('--rates', type=lambda s: tuple(float(v) for v in s.split(',')),
                        default=None, help='camera rates in Hz, comma separated (default '
                        '15,30,60)')
    parser.add_argument('--duration', type=float, default=None,
                        help='seconds of frames per size and rate (default 20)')
    parser.add_argument('--model', default='', help='model file (default: the packaged model)')
    parser.add_argument('--engine', default='auto', help='inference engine (default auto)')
    parser.add_argument('--stride', type=int, default=1, help="the node's point_stride")
    parser.add_argument('--engine-iters', type=int, default=None,
                        help='timed predict calls of the bare engine per size (default 30)')
    parser.add_argument('--domain', type=int, default=96, help='ROS domain id (1..100)')
    parser.add_argument('--quick', action='store_true',
                        help=f'a quick subset: {QUICK_SIZES[0][0]}x{QUICK_SIZES[0][1]} at '
                        f'{", ".join(f"{r:g}" for r in QUICK_RATES)} Hz, '
                        f'{QUICK_DURATION_S:g} s each')
    parser.add_argument('--markdown', type=Path, default=None,
                        help='write the table into this file (between the node-bench markers)')
    parser.add_argument('--json', type=Path, default=None, help='write all numbers here')


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth node-bench``: print the table, write the markdown / JSON when asked."""
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f'disdepth node-bench: {exc}', file=sys.stderr)
        return 2
    result = run_bench(options, log=sys.stderr)
    argv = sys.argv[1:]
    command = ' '.join(['disdepth'] + argv) if argv[:1] == ['node-bench'] else \
        'disdepth node-bench'
    text = markdown(result, command)
    print(text)
    if args.markdown is not None:
        write_markdown_section(args.markdown, text)
    if args.json is not None:
        from disdepth_core.inference.atomic import atomic_write_text
        atomic_write_text(args.json, json.dumps(result, indent=2) + '\n')
    failed = [r for r in result['node'] if r['node_exit_code'] != 0]
    for r in failed:
        print(f'disdepth node-bench: the node exited with {r["node_exit_code"]} after '
              f'{r["image"]} at {r["rate_hz"]:g} Hz', file=sys.stderr)
    return 1 if failed else 0
