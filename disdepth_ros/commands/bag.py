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

"""``disdepth bag IN OUT --image-topic T``: the node's outputs for a rosbag2, offline."""

import argparse
from pathlib import Path
import sys

from disdepth_core.geometry import load_intrinsics_json
from disdepth_core.inference.base import DepthEstimator
from disdepth_ros.bag import BagError
from disdepth_ros.bag import BagOptions
from disdepth_ros.bag import DEFAULT_SYNC_TOLERANCE_S
from disdepth_ros.bag import process_bag
from disdepth_ros.bag import STORAGES
from disdepth_ros.pipeline import OutputOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    Add the ``disdepth bag`` arguments.

    :param parser: the subcommand's parser
    """
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        'Add depth, depth/camera_info, depth/confidence (and points) to a copy of a rosbag2, '
        "running the node's pipeline on every image offline.")
    parser.add_argument('input', type=Path, help='input rosbag2 directory (or .db3 / .mcap file)')
    parser.add_argument('output', type=Path, help='output rosbag2 directory (must not exist)')
    parser.add_argument('--image-topic', required=True,
                        help='image topic (sensor_msgs/Image or CompressedImage)')
    parser.add_argument('--camera-info-topic', default=None,
                        help='CameraInfo topic (default: camera_info next to the image topic)')
    parser.add_argument('--storage', choices=STORAGES, default=None,
                        help='output storage plugin (default: same as the input)')
    parser.add_argument('--points', action='store_true', help='also write <ns>/points')
    parser.add_argument('--colorized', action='store_true',
                        help="also write <ns>/depth/colorized (bgr8, the node's colours)")
    parser.add_argument('--colormap', default='turbo', help='colormap of --colorized')
    parser.add_argument('--colorized-range', nargs=2, type=float, default=(0.0, 10.0),
                        metavar=('MIN', 'MAX'), help='metres of the first and last colour')
    parser.add_argument('--point-stride', type=int, default=1,
                        help='keep every n-th row and column of the point cloud (default 1)')
    parser.add_argument('--model', default=None,
                        help='.onnx or checkpoint (default: the packaged model)')
    parser.add_argument('--engine', default='auto', help='inference engine (default auto)')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:N, tensorrt')
    parser.add_argument('--namespace', default=None,
                        help="namespace of the output topics (default: the image topic's)")
    fallback = parser.add_mutually_exclusive_group()
    fallback.add_argument('--fov', type=float, default=None, metavar='DEG',
                          help='horizontal field of view for frames without camera info')
    fallback.add_argument('--intrinsics', type=Path, default=None, metavar='FILE',
                          help='intrinsics.json for frames without camera info')
    parser.add_argument('--sync-tolerance', type=float, default=DEFAULT_SYNC_TOLERANCE_S,
                        metavar='S', help='largest image / camera info stamp difference, '
                        f'seconds (default {DEFAULT_SYNC_TOLERANCE_S})')
    parser.add_argument('--depth-encoding', choices=('32FC1', '16UC1'), default='32FC1',
                        help='32FC1 metres (default) or 16UC1 millimetres')
    parser.add_argument('--min-depth', type=float, default=0.0, metavar='M',
                        help="nearer depth is written as invalid (default: the model's minimum)")
    parser.add_argument('--max-depth', type=float, default=0.0, metavar='M',
                        help="farther depth is written as invalid (default: the model's maximum)")
    parser.add_argument('--min-confidence', type=float, default=0.0, metavar='C',
                        help='depth with a lower confidence (0..1) is written as invalid')
    parser.add_argument('--relative-output', action='store_true',
                        help='the model predicts relative disparity (an adopted relative '
                        'family): write it, unitless, on <ns>/depth/relative instead of depth')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """
    Run ``disdepth bag``.

    :param args: parsed arguments
    :return: 0 on success, 1 on error (printed to stderr)
    """
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference import EngineUnavailableError
    from disdepth_core.inference import ModelLoadError
    try:
        intrinsics = load_intrinsics_json(args.intrinsics) if args.intrinsics else None
    except (OSError, ValueError) as exc:
        print(f'disdepth bag: error: --intrinsics: {exc}', file=sys.stderr)
        return 1
    outputs = OutputOptions(depth_encoding=args.depth_encoding, min_depth=args.min_depth,
                            max_depth=args.max_depth, min_confidence=args.min_confidence,
                            point_stride=args.point_stride, colormap=args.colormap,
                            colorized_min_depth=args.colorized_range[0],
                            colorized_max_depth=args.colorized_range[1],
                            relative_output=args.relative_output)
    options = BagOptions(image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                         storage=args.storage, points=args.points, colorized=args.colorized,
                         namespace=args.namespace, fov_deg=args.fov, intrinsics=intrinsics,
                         sync_tolerance_s=args.sync_tolerance, outputs=outputs,
                         overwrite=args.overwrite, progress=not args.quiet)

    def factory() -> DepthEstimator:
        try:
            return create_estimator(args.model, engine=args.engine, device=args.device)
        except ValueError as exc:
            raise BagError(f'cannot create the estimator: {exc}') from None

    try:
        process_bag(args.input, args.output, options, factory)
    except (BagError, ModelLoadError, EngineUnavailableError) as exc:
        print(f'disdepth bag: error: {exc}', file=sys.stderr)
        return 1
    return 0
