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

"""``disdepth demo`` (``make demo``): the real node on a synthetic sequence."""

import argparse
import math
from pathlib import Path
import sys
from typing import Any, Dict

from disdepth_ros.demo import DemoError
from disdepth_ros.demo import DemoOptions
from disdepth_ros.demo import QUICK
from disdepth_ros.demo import run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    Add the ``disdepth demo`` arguments.

    :param parser: the subcommand's parser
    """
    d = DemoOptions()
    parser.add_argument('--out', type=Path, default=d.out,
                        help=f'output folder, replaced when the run completes (default {d.out})')
    parser.add_argument('--frames', type=int, default=None,
                        help=f'frames in the sequence (default {d.frames}; --quick '
                        f'{QUICK["frames"]})')
    parser.add_argument('--fps', type=float, default=None,
                        help=f'camera rate, Hz (default {d.fps:g}; --quick {QUICK["fps"]:g})')
    parser.add_argument('--width', type=int, default=None,
                        help=f'image width (default {d.width}; --quick {QUICK["width"]})')
    parser.add_argument('--height', type=int, default=None,
                        help=f'image height (default {d.height}; --quick {QUICK["height"]})')
    parser.add_argument('--model', default=None,
                        help='model for the node (default: the packaged model)')
    parser.add_argument('--engine', default=d.engine, help='inference engine (default auto)')
    parser.add_argument('--device', default=d.device, help='inference device (default auto)')
    parser.add_argument('--seed', type=int, default=d.seed, help='scene seed (default 0)')
    parser.add_argument('--quick', action='store_true',
                        help='a short, small sequence (what the test runs)')
    parser.add_argument('--realtime', action='store_true',
                        help='publish at the camera rate even when the node falls behind (its '
                        'latest-frame policy then drops frames on a slow machine); by default '
                        'each frame waits for the outputs of the previous one')


def run(args: argparse.Namespace) -> int:
    """
    Run ``disdepth demo``.

    :param args: parsed arguments
    :return: 0 on success, 1 with a message on stderr otherwise
    """
    base: Dict[str, Any] = dict(QUICK) if args.quick else {}
    for key in ('frames', 'width', 'height', 'fps'):
        if getattr(args, key) is not None:
            base[key] = getattr(args, key)
    options = DemoOptions(out=args.out, model=args.model, engine=args.engine,
                          device=args.device, seed=args.seed, realtime=args.realtime, **base)
    try:
        s = run_demo(options)
    except DemoError as exc:
        print(f'disdepth demo: error: {exc}', file=sys.stderr)
        return 1
    acc, lat, out = s['accuracy'], s['latency_ms'], Path(options.out)
    metrics = ', '.join(f'{k} {acc[k]:.3f}' for k in ('abs_rel', 'rmse', 'd1') if k in acc)
    print(f'disdepth demo: {s["frames_in"]} frames in, {s["frames_out"]} depth frames out '
          f'({s["dropped"]} dropped); latency p50 {lat.get("p50", math.nan):.0f} ms, p95 '
          f'{lat.get("p95", math.nan):.0f} ms; {metrics}; {s["wall_s"]:.0f} s')
    print(f'  look at:  {out / "strip.png"}   (input | depth | ground truth)')
    print(f'            {out / "cloud.ply"}   (point cloud: MeshLab, CloudCompare)')
    print(f'            {out / "bag"}/   (rosbag2 mcap: Foxglove, ros2 bag play)')
    print(f'            {out / "summary.md"}')
    return 0
