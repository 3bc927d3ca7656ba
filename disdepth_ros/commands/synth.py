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

"""``disdepth synth OUT --frames N``: procedural scenes with exact depth as an RGB-D folder."""

import argparse
from pathlib import Path
import sys
import time

from disdepth_core.data.synthetic import PRESETS
from disdepth_core.data.synthetic.dataset import SCENE_VERSIONS
from disdepth_core.data.synthetic.writer import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``synth`` arguments to ``parser``."""
    parser.add_argument('out', type=Path, help='output RGB-D folder')
    parser.add_argument('--frames', type=int, default=100, help='total number of frames')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='indoor')
    parser.add_argument('--seed', type=int, default=0, help='scene seed (deterministic output)')
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--sequences', type=int, default=1,
                        help='number of scenes; frames are split evenly between them')
    parser.add_argument('--hfov', type=float, default=None,
                        help='fixed horizontal field of view in degrees (default: random per '
                             'preset range)')
    parser.add_argument('--vary-intrinsics', action='store_true',
                        help='a different random camera per sequence, one sub-folder each')
    parser.add_argument('--depth-format', choices=('auto', 'png', 'npy'), default='auto',
                        help='auto: uint16 mm PNG if the preset fits 65.5 m (indoor), else .npy')
    parser.add_argument('--no-noise', action='store_true', help='no sensor noise in the images')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    parser.add_argument('--scenes', choices=SCENE_VERSIONS, default='v1',
                        help='scene version: v1 (the original scenes) or v2 (furnished '
                             'interiors, photo textures, soft light, a flawed camera)')
    parser.add_argument('--photos', action='append', default=[], metavar='SRC',
                        help='v2 photo textures: "skimage", an RGB-D folder (PATH or '
                             'PATH[start:stop]: training frames only) or a folder of images; '
                             'repeatable')


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth synth``; return the exit status."""
    start = time.perf_counter()
    try:
        out = generate(args.out, args.frames, args.preset, args.seed, args.height, args.width,
                       args.sequences, args.hfov, args.vary_intrinsics, args.depth_format,
                       not args.no_noise, args.overwrite, args.scenes, args.photos)
    except (ValueError, FileExistsError) as exc:
        print(f'disdepth synth: error: {exc}', file=sys.stderr)
        return 2
    dt = time.perf_counter() - start
    print(f'wrote {args.frames} {args.preset} {args.scenes} frames ({args.sequences} sequence(s), '
          f'{args.width}x{args.height}) to {out} in {dt:.1f} s '
          f'({60.0 * args.frames / max(dt, 1e-9):.0f} frames/min)')
    return 0
