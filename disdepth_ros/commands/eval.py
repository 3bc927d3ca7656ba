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

"""``disdepth eval``: standard metrics of a model on an RGB-D folder, NYU or KITTI."""

import argparse
from pathlib import Path
import sys
from typing import Any, Dict, Optional

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.registry import build_dataset
from disdepth_core.evaluation import CROPS
from disdepth_core.evaluation import evaluate
from disdepth_core.evaluation import format_table
from disdepth_core.evaluation import PROTOCOLS
from disdepth_core.evaluation import write_json_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` arguments to ``parser``."""
    parser.add_argument('--data', type=Path, required=True,
                        help='RGB-D folder, or the NYU / KITTI root for --dataset nyu|kitti_eigen')
    parser.add_argument('--dataset', choices=('rgbd_folder', 'nyu', 'kitti_eigen'),
                        default='rgbd_folder')
    parser.add_argument('--split', type=Path, default=None,
                        help='BTS-style split file (required for nyu and kitti_eigen)')
    parser.add_argument('--gt-root', type=Path, default=None,
                        help='root of the depth paths in the split file (default: --data)')
    parser.add_argument('--model', default=None,
                        help='.onnx or checkpoint (.safetensors/.json); default: packaged model')
    parser.add_argument('--engine', default='auto', help='auto, onnxruntime or torch')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:N, tensorrt')
    parser.add_argument('--protocol', choices=('auto',) + tuple(PROTOCOLS), default='auto',
                        help='caps and crop: nyu (10 m, eigen), kitti (80 m, garg), plain')
    parser.add_argument('--crop', choices=('auto',) + tuple(CROPS), default='auto')
    parser.add_argument('--min-depth', type=float, default=None)
    parser.add_argument('--max-depth', type=float, default=None)
    parser.add_argument('--median-scale', action='store_true',
                        help='headline the median-scaled metrics (both are always reported)')
    parser.add_argument('--flip-tta', action='store_true',
                        help='average with the prediction of the mirrored image')
    parser.add_argument('--max-frames', type=int, default=None)
    parser.add_argument('--json', type=Path, default=None, help='write the results here')
    parser.add_argument('--per-image', action='store_true',
                        help='include per-image metrics in the JSON')
    parser.add_argument('--progress', action='store_true', help='show a progress bar')


def build_eval_dataset(name: str, data: Path, split: Optional[Path] = None,
                       gt_root: Optional[Path] = None) -> DepthDataset:
    """
    Construct the dataset ``disdepth eval`` reads (no augmentation, full resolution).

    :param name: 'rgbd_folder', 'nyu' or 'kitti_eigen'
    :param data: folder or dataset root
    :param split: split file (nyu / kitti_eigen)
    :param gt_root: root of the depth paths (nyu / kitti_eigen)
    :return: the dataset
    """
    if name == 'rgbd_folder':
        return build_dataset('rgbd_folder', root=data)
    if split is None:
        raise ValueError(f'--dataset {name} needs --split (a BTS-style file list)')
    options: Dict[str, Any] = {'root': data, 'split_file': split, 'gt_root': gt_root}
    if name == 'nyu':
        options['mode'] = 'test'
    return build_dataset(name, **options)


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth eval``; return the exit status."""
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference.base import EngineUnavailableError
    from disdepth_core.inference.base import ModelLoadError

    try:
        dataset = build_eval_dataset(args.dataset, args.data, args.split, args.gt_root)
        estimator = create_estimator(args.model, engine=args.engine, device=args.device)
        result = evaluate(estimator, dataset, args.protocol, args.min_depth, args.max_depth,
                          args.crop, args.flip_tta, args.max_frames, args.progress,
                          keep_per_image=args.per_image)
    except (ValueError, ModelLoadError, EngineUnavailableError) as exc:
        print(f'disdepth eval: error: {exc}', file=sys.stderr)
        return 2
    if result['n_images'] == 0:
        print('disdepth eval: error: no frame had valid ground truth inside the depth range and '
              'crop', file=sys.stderr)
        return 1
    result['primary'] = 'metrics_median_scaled' if args.median_scale else 'metrics'
    result['settings']['data'] = str(args.data)
    print(format_table(result, median_first=args.median_scale))
    if args.json is not None:
        if not args.per_image:
            result.pop('per_image', None)
        write_json_atomic(args.json, result)
        print(f'wrote {args.json}')
    return 0
