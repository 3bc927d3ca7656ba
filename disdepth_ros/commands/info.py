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

"""``disdepth info``: versions, inference providers and the packaged model."""

import argparse
import json

from disdepth_ros.info import collect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``disdepth info`` options."""
    parser.add_argument('--json', action='store_true', help='print as JSON')


def run(args: argparse.Namespace) -> int:
    """Print the report."""
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f'python {info["python"]} on {info["platform"]}')
    for name, version in info['versions'].items():
        print(f'  {name:16s} {version}')
    providers = info['onnxruntime_providers']
    print('onnxruntime providers: ' + (', '.join(providers) if providers else 'none'))
    if 'CUDAExecutionProvider' in providers:
        print('  (listed providers may still fail to load without a GPU driver; the engine logs '
              'which one really runs)')
    print(f'torch CUDA: {info["torch_cuda"]}')
    for kind, path in info['packaged_model'].items():
        print(f'packaged model ({kind}): {path or "missing"}')
    return 0
