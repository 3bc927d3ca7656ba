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
``disdepth``: one command-line tool with subcommands.

Subcommands are registered by module path and imported only when used, so ``disdepth --help``
and ``disdepth info`` stay fast and torch is loaded only by the commands that train or export.
Each subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

import argparse
import importlib
import sys
from typing import Dict, List, Optional, Tuple

from disdepth_ros import __version__

# command -> (module with add_arguments / run, help); the modules live in disdepth_ros.commands
COMMANDS: Dict[str, Tuple[str, str]] = {
    'info': ('disdepth_ros.commands.info', 'print versions, inference providers and the model'),
    'synth': ('disdepth_ros.commands.synth', 'generate synthetic RGB-D scenes (exact depth)'),
    'train': ('disdepth_ros.commands.train', 'train: stages teacher, student, acclimate, '
              'distill, label_distill'),
    'eval': ('disdepth_ros.commands.eval', 'evaluate a model on an RGB-D folder, NYU or KITTI'),
    'export': ('disdepth_ros.commands.export', 'export a checkpoint to ONNX'),
    'infer': ('disdepth_ros.commands.infer', 'run a model on image files'),
    'adopt': ('disdepth_ros.commands.adopt', 'make a foreign depth network (ONNX, Hugging Face '
              'folder) a disdepth model'),
    'bench': ('disdepth_ros.commands.bench', 'benchmark engines, models and sizes'),
    'node-bench': ('disdepth_ros.commands.node_bench', 'benchmark the node beside its engine '
                   '(output rate, latency, stage times, CPU) at several camera sizes and rates'),
    'bag': ('disdepth_ros.commands.bag', 'add depth, camera info and points to a rosbag2'),
    'demo': ('disdepth_ros.commands.demo', 'run the node on a synthetic sequence, record a bag'),
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """
    Build the argument parser; import the module of ``only`` (or none) to add its arguments.

    :param only: the subcommand about to run, or None
    :return: the parser
    """
    parser = argparse.ArgumentParser(
        prog='disdepth', description='DisDepth: metric monocular depth for ROS 2.')
    parser.add_argument('--version', action='version', version=f'disdepth {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module).add_arguments(sp)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``disdepth`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith('-')), None)
    if command not in COMMANDS:
        command = None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print('disdepth: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
