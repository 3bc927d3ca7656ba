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
Where an exported student spends its time in ONNX Runtime, fp32 vs INT8, by operator type.

Builds a random-weight student with ``disdepth bench`` code (``bench.build_case``), exports it,
quantises it three ways (the default INT8 recipe; ``float_logits=True``; and the logit layer's
output quantised too) and prints, for each file, the median wall time of a few runs and the
ONNX Runtime profile summed by operator type.  The numbers behind the "why INT8 stays below 2x"
part of docs/benchmarks.md, e.g.::

    .venv/bin/python tools/profile_head.py --backbone mobilenetv2 --size 480x640
"""

import argparse
import collections
import json
from pathlib import Path
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import numpy as np


def profile(path: Path, hw: Tuple[int, int], threads: int, runs: int,
            prefix: Path) -> Tuple[float, Dict[str, float]]:
    """Return (median ms of ``runs`` plain runs, ms per run by operator type when profiled)."""
    import onnxruntime as ort

    def session(profiling: bool) -> 'ort.InferenceSession':
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        opts.enable_profiling = profiling
        opts.profile_file_prefix = str(prefix)
        return ort.InferenceSession(str(path), opts, providers=['CPUExecutionProvider'])

    x = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
    plain = session(False)
    for _ in range(2):
        plain.run(None, {'image': x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        plain.run(None, {'image': x})
        times.append((time.perf_counter() - t0) * 1e3)
    prof = session(True)
    for _ in range(runs):
        prof.run(None, {'image': x})
    events = json.loads(Path(prof.end_profiling()).read_text())
    by_op: Dict[str, float] = collections.Counter()
    for e in events:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
            by_op[e['args']['op_name']] += e['dur'] / 1e3 / runs
    return float(np.median(times)), dict(by_op)


def main(argv: Optional[List[str]] = None) -> int:
    """Export, quantise, profile; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--backbone', default='mobilenetv2')
    parser.add_argument('--size', default='480x640', help='network size HxW (multiples of 32)')
    parser.add_argument('--n-bins', type=int, default=None)
    parser.add_argument('--calib', default='../shared/data/real',
                        help='calibration folder (missing: synthetic frames)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=6)
    args = parser.parse_args(argv)
    hw = tuple(int(v) for v in args.size.lower().split('x'))

    import onnxruntime.quantization as oq

    from disdepth_core.bench import build_case
    from disdepth_core.export import export_onnx
    import disdepth_core.inference.quantize as q

    calib = args.calib if Path(args.calib).is_dir() else None
    case = build_case(args.backbone, hw, n_bins=args.n_bins)
    with tempfile.TemporaryDirectory(prefix='disdepth-profile-') as tmp:
        work = Path(tmp)
        files = {'fp32': work / 'fp32.onnx'}
        export_onnx(case.module, case.spec, files['fp32'])
        files['int8'] = work / 'int8.onnx'
        q.quantize_int8(files['fp32'], files['int8'], calib_dir=calib, n_frames=8,
                        threads=args.threads)
        files['int8, float logit layer'] = work / 'int8-float-logits.onnx'
        q.quantize_int8(files['fp32'], files['int8, float logit layer'], calib_dir=calib,
                        n_frames=8, threads=args.threads, float_logits=True)
        # the rejected variant: the logit layer's output quantised as well
        original = oq.quantize_static

        def quantize_outputs_too(*a, **k):
            k['extra_options'] = {}
            return original(*a, **k)
        oq.quantize_static = quantize_outputs_too
        try:
            files['int8, int8 logits'] = work / 'int8-logits.onnx'
            q.quantize_int8(files['fp32'], files['int8, int8 logits'], calib_dir=calib,
                            n_frames=8, threads=args.threads)
        finally:
            oq.quantize_static = original
        for name, path in files.items():
            wall, by_op = profile(path, hw, args.threads, args.runs, work / 'profile')
            total = sum(by_op.values())
            print(f'\n{name}: median {wall:.1f} ms per run ({args.runs} runs); profiled kernels '
                  f'{total:.1f} ms')
            for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:10]:
                print(f'  {op:24s} {ms:7.1f} ms  {100 * ms / total:5.1f} %')
    return 0


if __name__ == '__main__':
    sys.exit(main())
