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

"""``disdepth adopt IN OUT.onnx --family F``: the command line of :mod:`disdepth_core.adopt`."""

import argparse
from pathlib import Path
import sys
from typing import List, Tuple

from disdepth_core.adopt import AdoptError
from disdepth_core.adopt import AdoptOptions
from disdepth_core.adopt.families import FAMILIES
from disdepth_core.modelspec import OUTPUT_KINDS


def _size(text: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW (e.g. 518x518), got {text!r}') from None
    return h, w


def _triple(text: str) -> Tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected R,G,B numbers, got {text!r}') from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f'expected three numbers R,G,B, got {text!r}')
    return values  # type: ignore[return-value]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    Add the ``disdepth adopt`` arguments.

    :param parser: the subcommand's parser
    """
    families = sorted(FAMILIES) + ['hf']
    parser.description = ('Turn a foreign depth network (an ONNX file, or a local Hugging Face '
                          'folder with --family hf) into a model every disdepth tool runs: the '
                          'node, bag, eval, infer, bench.  See docs/adopt.md.')
    parser.add_argument('source', type=Path, help='the network: .onnx file or HF folder')
    parser.add_argument('target', type=Path, help='the .onnx file to write')
    parser.add_argument('--family', required=True, choices=families,
                        help='input/output conventions of the network (docs/adopt.md)')
    parser.add_argument('--input-size', type=_size, default=None, metavar='HxW',
                        help='network input size for graphs with a dynamic size (default: the '
                        "family's usual size)")
    parser.add_argument('--mean', type=_triple, default=None, metavar='R,G,B',
                        help='generic: mean subtracted from RGB scaled to [0, 1]')
    parser.add_argument('--std', type=_triple, default=None, metavar='R,G,B',
                        help='generic: std dividing RGB scaled to [0, 1]')
    parser.add_argument('--output', default=None, metavar='NAME',
                        help='the output that holds depth (when the graph has several)')
    parser.add_argument('--kind', default=None, choices=OUTPUT_KINDS,
                        help='generic (and hf, to override): what the output means')
    parser.add_argument('--canonical-focal', type=float, default=None, metavar='F',
                        help='canonical_metric: focal length in pixels at the input size')
    parser.add_argument('--min-depth', type=float, default=None, metavar='M',
                        help='metric kinds: lower end of the depth range, metres')
    parser.add_argument('--max-depth', type=float, default=None, metavar='M',
                        help='metric kinds: upper end of the depth range, metres')
    parser.add_argument('--scene', default=None, choices=('indoor', 'outdoor'),
                        help='depth-anything-v2-metric: Hypersim (indoor, 20 m) or Virtual KITTI '
                        '(outdoor, 80 m) checkpoint (default: from the file name)')
    parser.add_argument('--bgr', action='store_true', default=False,
                        help='generic: the network expects BGR channel order')
    parser.add_argument('--name', default=None, help='model name (default: the input file name)')
    parser.add_argument('--opset', type=int, default=17, help='hf: ONNX opset (default 17)')


def options_from_args(args: argparse.Namespace) -> AdoptOptions:
    """Return the library options of parsed arguments."""
    return AdoptOptions(family=args.family, input_size=args.input_size, mean=args.mean,
                        std=args.std, output=args.output, kind=args.kind,
                        canonical_focal=args.canonical_focal, min_depth=args.min_depth,
                        max_depth=args.max_depth, scene=args.scene, bgr=args.bgr,
                        name=args.name, opset=args.opset)


def run(args: argparse.Namespace) -> int:
    """
    Run ``disdepth adopt``.

    :param args: parsed arguments
    :return: 0 on success, 1 with a message on stderr otherwise
    """
    from disdepth_core.adopt import adopt
    try:
        spec = adopt(args.source, args.target, options_from_args(args))
    except AdoptError as exc:
        print(f'disdepth adopt: error: {exc}', file=sys.stderr)
        return 1
    uses: List[str] = [f'disdepth infer {args.target} IMAGE.png',
                       f'ros2 launch disdepth_ros disdepth.launch.py model:={args.target}']
    if not spec.is_metric:
        uses[1] += ' relative_output:=true   (relative disparity: never on a metric topic)'
    print('  run it with:  ' + '\n                '.join(uses))
    return 0
