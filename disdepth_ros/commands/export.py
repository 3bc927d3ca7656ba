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

"""``disdepth export CKPT OUT.onnx``: a checkpoint to ONNX (``disdepth_core.export``)."""

import argparse
import json
from pathlib import Path
import sys
import tempfile
from typing import Any, Dict

from disdepth_core.export import DEFAULT_OPSET
from disdepth_core.export import export_onnx


def _print_report(report: Dict[str, Any]) -> None:
    print(json.dumps(report, indent=2, default=str))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``disdepth export`` options."""
    parser.add_argument('checkpoint', help='torch checkpoint (<stem>.safetensors or <stem>.json)')
    parser.add_argument('out', help='output ONNX file')
    parser.add_argument('--height', type=int, default=None,
                        help='graph input height (default: the training height)')
    parser.add_argument('--width', type=int, default=None,
                        help='graph input width (default: the training width)')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, height and width (multiples of 32)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='dynamic batch axis only (height and width stay fixed): the graph '
                             'then takes several images per call (predict_batch); the default '
                             'is a graph fixed to one image')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the ONNX Runtime vs torch parity check')
    parser.add_argument('--no-optimize', action='store_true',
                        help='keep the traced graph as is (no ONNX Runtime-friendly rewrites of '
                             'channel-axis Softmax / ReduceSum)')
    parser.add_argument('--int8', action='store_true',
                        help='write an INT8 (static, QDQ, per-channel) model for CPUs instead')
    parser.add_argument('--calib', default=None,
                        help='with --int8: RGB-D folder (or image folder) for calibration; '
                             'default: synthetic frames')
    parser.add_argument('--calib-frames', type=int, default=16,
                        help='with --int8: number of calibration frames')


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth export``."""
    out = Path(args.out)
    if out.suffix.lower() != '.onnx':
        print(f'disdepth export: error: output {out} must end in .onnx', file=sys.stderr)
        return 2
    try:
        from disdepth_core.checkpoint import load_checkpoint
        model, spec, _ = load_checkpoint(args.checkpoint)
        if not args.int8:
            _print_report(export_onnx(model, spec, out, args.height, args.width, args.opset,
                                      args.dynamic, check=not args.no_check,
                                      optimize=not args.no_optimize,
                                      dynamic_batch=args.dynamic_batch))
            return 0
        from disdepth_core.inference.quantize import quantize_int8
        with tempfile.TemporaryDirectory(prefix='disdepth-export-') as tmp:
            fp32 = Path(tmp) / 'fp32.onnx'
            report = export_onnx(model, spec, fp32, args.height, args.width, args.opset,
                                 args.dynamic, check=not args.no_check,
                                 optimize=not args.no_optimize,
                                 dynamic_batch=args.dynamic_batch)
            report['int8'] = quantize_int8(fp32, out, calib_dir=args.calib,
                                           n_frames=args.calib_frames)
            report['path'] = str(out)
        _print_report(report)
        return 0
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        print(f'disdepth export: error: {exc}', file=sys.stderr)
        return 1
