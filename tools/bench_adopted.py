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
CPU speed of an adopted Depth Anything V2 ViT-S next to our students, side by side in one run.

No pretrained weights can be had here, and speed does not depend on them: the script builds a
random-weight ``transformers`` Depth Anything with the ViT-S configuration of
``depth-anything/Depth-Anything-V2-Small-hf`` (DINOv2 ViT-S/14: width 384, 12 layers, 6 heads;
DPT neck 48/96/192/384, fusion 64), saves it as a local folder, runs ``disdepth adopt --family
hf`` on it at two network sizes (multiples of 14 near 256x320 and 480x640), exports random-weight
students with ``disdepth bench`` code, and times every ONNX file with ONNX Runtime on the CPU
exactly as ``disdepth bench`` does (``bench.time_estimator``: the whole ``predict``, camera frame
in, metric depth out).  The Markdown table goes between the ``adopted`` markers of
``--markdown`` (docs/benchmarks.md), the records to ``--json``.

    python tools/bench_adopted.py --markdown docs/benchmarks.md --json docs/bench_adopted.json
"""

import argparse
from datetime import datetime, timezone
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any, Dict, List, Tuple

from disdepth_core import bench
from disdepth_core.adopt import adopt
from disdepth_core.adopt import AdoptOptions
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.inference.onnx_engine import OnnxEstimator

MARK_BEGIN = '<!-- adopted:begin -->'
MARK_END = '<!-- adopted:end -->'
# camera size -> (student network size, ViT network size: multiples of 14, same aspect ratio)
SIZES = {(240, 320): ((256, 320), (238, 322)), (480, 640): ((480, 640), (476, 644))}
VITS = {'hidden_size': 384, 'num_hidden_layers': 12, 'num_attention_heads': 6,
        'intermediate_size': 1536, 'neck': [48, 96, 192, 384], 'fusion': 64, 'head': 32}
TINY = {'hidden_size': 32, 'num_hidden_layers': 4, 'num_attention_heads': 2,
        'intermediate_size': 64, 'neck': [8, 16, 24, 32], 'fusion': 16, 'head': 8}


def vit_replica(dims: Dict[str, Any]) -> Any:
    """Build a random-weight Depth Anything V2 of the given widths (ViT-S by default)."""
    import torch
    from transformers import DepthAnythingConfig
    from transformers import DepthAnythingForDepthEstimation
    from transformers import Dinov2Config
    torch.manual_seed(0)
    layers = dims['num_hidden_layers']
    picks = [f'stage{i}' for i in (layers // 4, layers // 2, 3 * layers // 4, layers)]
    backbone = Dinov2Config(hidden_size=dims['hidden_size'], num_hidden_layers=layers,
                            num_attention_heads=dims['num_attention_heads'],
                            intermediate_size=dims['intermediate_size'], patch_size=14,
                            image_size=518, out_features=picks, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone,
                                 reassemble_hidden_size=dims['hidden_size'],
                                 neck_hidden_sizes=dims['neck'],
                                 fusion_hidden_size=dims['fusion'],
                                 head_hidden_size=dims['head'], patch_size=14)
    return DepthAnythingForDepthEstimation(config).eval()


def _time(path: Path, size: Tuple[int, int], args: argparse.Namespace) -> Dict[str, Any]:
    est = OnnxEstimator(path, device='cpu', intra_op_threads=args.threads, spinning=False)
    rgb = bench.bench_frame(size)
    k = CameraIntrinsics.from_fov(60.0, size[1], size[0])
    timing = bench.time_estimator(est, rgb, k, args.warmup, args.iters)
    return {'provider': est.info.provider, 'net_height': est.net_hw[0],
            'net_width': est.net_hw[1], **timing}


def run_bench(args: argparse.Namespace, work: Path) -> List[Dict[str, Any]]:
    """Adopt the replica and export the students, then time everything, size by size."""
    import torch
    from disdepth_core.export import export_onnx
    from disdepth_core.flops import count_params
    dims = TINY if args.tiny else VITS
    vit = vit_replica(dims)
    folder = work / 'depth-anything-v2-small-replica'
    vit.save_pretrained(str(folder))
    (folder / 'preprocessor_config.json').write_text(json.dumps(
        {'do_normalize': True, 'image_mean': [0.485, 0.456, 0.406],
         'image_std': [0.229, 0.224, 0.225]}))
    vit_params = count_params(vit)
    records: List[Dict[str, Any]] = []
    for camera, (student_hw, vit_hw) in SIZES.items():
        if args.tiny:
            camera, student_hw, vit_hw = (48, 64), (64, 64), (42, 56)
        files: List[Tuple[str, str, Path, Any]] = []
        target = work / f'da-v2-s-{vit_hw[0]}x{vit_hw[1]}.onnx'
        adopt(folder, target, AdoptOptions('hf', input_size=vit_hw), lambda _: None)
        files.append(('depth-anything-v2 ViT-S (adopted)', 'adopted', target, vit_params))
        for backbone in bench._split(args.backbones):
            case = bench.build_case(backbone, student_hw, tiny=args.tiny)
            path = work / f'{backbone}-{student_hw[0]}x{student_hw[1]}.onnx'
            export_onnx(case.module, case.spec, path)
            files.append((backbone, 'student', path, case.params))
        torch.set_num_threads(args.threads or torch.get_num_threads())
        for name, kind, path, params in files:
            records.append({'model': name, 'kind': kind, 'height': camera[0],
                            'width': camera[1], 'params': params,
                            **_time(path, camera, args)})
        vit_row = next(r for r in records[-len(files):] if r['kind'] == 'adopted')
        for r in records[-len(files):]:
            r['vs_adopted'] = vit_row['p50_ms'] / r['p50_ms']
        if args.tiny:
            break
    return records


def markdown(records: List[Dict[str, Any]], info: Dict[str, Any]) -> str:
    """Render the table and the run header."""
    lines = [f'Run: **{info["date"]}** — `{info["command"]}`', '',
             f'Machine: {info["cpu"]}, `nproc` = {info["nproc"]}, {info["threads"]} threads; '
             f'load average at start {info["load_start"]:.2f}, at end {info["load_end"]:.2f}. '
             'ONNX Runtime on the CPU, whole `predict` (camera frame in, depth out), random '
             'weights.', '',
             '| model | camera size | net size | p50 ms | p95 ms | net p50 ms | fps | params M '
             '| x faster than the adopted ViT-S |',
             '|---|---|---|---:|---:|---:|---:|---:|---:|']
    for r in records:
        lines.append(f'| {r["model"]} | {r["height"]}x{r["width"]} | {r["net_height"]}x'
                     f'{r["net_width"]} | {r["p50_ms"]:.1f} | {r["p95_ms"]:.1f} | '
                     f'{r["infer_p50_ms"]:.1f} | {r["fps"]:.2f} | {r["params"] / 1e6:.2f} | '
                     f'{r["vs_adopted"]:.1f}x |')
    return '\n'.join(lines) + '\n'


def write_section(path: Path, text: str) -> None:
    """Write ``text`` between the markers of ``path`` (appended with them when absent)."""
    from disdepth_core.inference.atomic import write_marked_section
    write_marked_section(path, MARK_BEGIN, MARK_END, text)


def main(argv: List[str] = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--backbones', default='mobilenetv2,resnet18,efficientnet_b0')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--tiny', action='store_true', help='toy widths (a smoke run)')
    parser.add_argument('--markdown', type=Path, default=None)
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix='disdepth-bench-adopted-') as tmp:
        records = run_bench(args, Path(tmp))
    info = {'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'command': 'python tools/bench_adopted.py ' + ' '.join(argv or sys.argv[1:]),
            'cpu': bench.cpu_model(), 'nproc': os.cpu_count(),
            'threads': args.threads or 'default', 'load_start': load_start,
            'load_end': os.getloadavg()[0], 'time': time.time()}
    text = markdown(records, info)
    print(text)
    if args.markdown:
        write_section(args.markdown, text)
    if args.json:
        atomic_write_text(args.json, json.dumps({'info': info, 'records': records}, indent=1,
                                                sort_keys=True) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
