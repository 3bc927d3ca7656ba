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
Soak test of disdepth_node: a camera at a fixed rate for a long time, in separate processes.

Starts ``disdepth_node`` (own process, isolated domain, localhost discovery, the shipped Fast DDS
profile), publishes images + camera_info at ``--rate`` Hz for ``--duration`` seconds, subscribes
to depth and points (reliable, as RViz does) and samples the node's memory.  Prints a JSON
summary (rates, end-to-end latency percentiles, drops from /diagnostics, memory growth) and exits
1 when memory grew more than ``--max-rss-growth-mb`` or the p99 latency exceeded
``--max-latency-ms``.

The soak itself is :func:`disdepth_ros.node_bench.soak` (also behind ``disdepth node-bench``,
which runs it at several sizes and rates beside the bare engine).

Examples::

    .venv/bin/python tools/soak_node.py --duration 600 --rate 30
    .venv/bin/python tools/soak_node.py --model path/to/model.onnx --width 640 --height 480
    .venv/bin/python tools/soak_node.py --model default --param overlap_outputs=false

Without ``--model`` a toy ONNX model is written to a temporary directory (real ONNX Runtime
engine, trivial network), so the soak measures the node and DDS rather than the network.
"""

import argparse
import json
import sys
from typing import Any, Dict, List, Optional

import yaml

from disdepth_ros.node_bench import soak


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the command line, soak, print the summary, return 1 on a regression."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--duration', type=float, default=60.0, help='seconds (default 60)')
    parser.add_argument('--rate', type=float, default=15.0, help='camera rate, Hz')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--model', default=None,
                        help="model file, or 'default' for the packaged model (default: a toy "
                             'ONNX model)')
    parser.add_argument('--engine', default='auto')
    parser.add_argument('--stride', type=int, default=1, help='point_stride of the node')
    parser.add_argument('--domain', type=int, default=97, help='ROS domain id (1..100)')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='another node parameter, value in YAML (e.g. '
                        'overlap_outputs=false); repeatable')
    parser.add_argument('--max-rss-growth-mb', type=float, default=50.0)
    parser.add_argument('--max-latency-ms', type=float, default=1000.0)
    args = parser.parse_args(argv)
    model = '' if args.model == 'default' else args.model
    params: Dict[str, Any] = {}
    for item in args.param:
        name, sep, value = item.partition('=')
        if not sep or not name:
            parser.error(f'--param wants NAME=VALUE, got {item!r}')
        params[name] = yaml.safe_load(value)
    summary = soak(args.width, args.height, args.rate, args.duration, model, args.engine,
                   args.stride, args.domain, params=params)
    summary['node_params'] = params
    print(json.dumps(summary, indent=2))
    failures = []
    if summary.get('rss_growth_mb') is not None and \
            summary['rss_growth_mb'] > args.max_rss_growth_mb:
        failures.append(f'memory grew {summary["rss_growth_mb"]} MB')
    p99 = summary.get('latency_ms_depth', {}).get('p99')
    if p99 is None or p99 > args.max_latency_ms:
        failures.append(f'depth latency p99 {p99} ms')
    if summary.get('node_exit_code') != 0:
        failures.append(f'node exit code {summary.get("node_exit_code")}')
    for failure in failures:
        print(f'soak_node: FAIL: {failure}', file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
