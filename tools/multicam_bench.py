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

r"""
N cameras through one node (``cameras``) against N nodes, same machine, same run.

For each N it starts either one ``disdepth_node`` with ``cameras: [cam0, ...]`` or N nodes in
the namespaces ``/cam0``, ... (same topics either way: ``/camK/image`` in, ``/camK/depth`` out),
publishes every camera at ``--rate`` Hz with identical stamps (synchronised cameras) for
``--duration`` seconds after a warm-up, and measures the depth rate per camera, the latency from
publishing to receiving depth, the CPU seconds the node processes used per depth frame and their
memory.  Prints one Markdown table row per run and writes a JSON report (``--out``, atomically).

Example (the packaged default checkpoint on the torch engine, CPU)::

    .venv/bin/python tools/multicam_bench.py --cameras 1 2 3 --rate 5 --duration 20 \
        --engine torch --model disdepth_core/assets/disdepth_default.safetensors --device cpu
"""

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.rosmsg import intrinsics_to_camera_info_fields
from disdepth_core.rosmsg import numpy_to_image_fields
from disdepth_core.rosmsg import stamp_ns
from disdepth_ros.harness import graph_env
from disdepth_ros.harness import NodeProcess
from disdepth_ros.harness import RosHarness


def _cpu_s(pid: int) -> float:
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _fill(msg: Any, fields: Dict[str, Any], stamp: int, frame_id: str) -> Any:
    for key, value in fields.items():
        if key != 'roi':
            setattr(msg, key, value)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    msg.header.frame_id = frame_id
    return msg


def run_once(mode: str, n: int, args: argparse.Namespace, domain: int, work: Path
             ) -> Dict[str, Any]:
    """Run one configuration; return its measurements."""
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    names = [f'cam{i}' for i in range(n)]
    params = {'engine': args.engine, 'model': args.model, 'device': args.device}
    env = graph_env(domain, work)
    procs = []
    if mode == 'one':
        (work / 'one').mkdir()
        procs.append(NodeProcess(work / 'one', env, {**params, 'cameras': names}))
    else:
        for name in names:
            (work / name).mkdir()
            procs.append(NodeProcess(work / name, env, params, remaps=[f'__ns:=/{name}']))
    ros = RosHarness(domain, 'multicam_bench')
    try:
        pubs = {name: (ros.publisher(Image, f'/{name}/image'),
                       ros.publisher(CameraInfo, f'/{name}/camera_info')) for name in names}
        sent: Dict[int, float] = {}
        arrivals: Dict[str, Dict[int, float]] = {name: {} for name in names}
        subs = [ros.node.create_subscription(
            Image, f'/{name}/depth',
            lambda m, name=name: arrivals[name].setdefault(stamp_ns(m.header), time.monotonic()),
            10) for name in names]
        ok = ros.spin_until(lambda: all(s.get_publisher_count() > 0 for s in subs)
                            and all(p.get_subscription_count() > 0 for pair in pubs.values()
                                    for p in pair), 120.0)
        if not ok:
            raise RuntimeError('nodes not up: ' + ' '.join(p.output()[-2000:] for p in procs))
        rng = np.random.default_rng(0)
        rgb = rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
        image_fields = numpy_to_image_fields(rgb, 'rgb8')
        info_fields = intrinsics_to_camera_info_fields(
            CameraIntrinsics.from_fov(60.0, args.width, args.height))
        stamp = [1_900_000_000_000_000_000]

        def tick() -> None:
            stamp[0] += int(1e9 / args.rate)
            sent[stamp[0]] = time.monotonic()
            for name, (image_pub, info_pub) in pubs.items():
                info_pub.publish(_fill(CameraInfo(), info_fields, stamp[0], name))
                image_pub.publish(_fill(Image(), image_fields, stamp[0], name))
        ros.spin_until(lambda: False, args.warmup, every=tick, period=1.0 / args.rate)
        first = stamp[0]
        cpu0 = sum(_cpu_s(p.proc.pid) for p in procs)
        load0 = os.getloadavg()[0]
        ros.spin_until(lambda: False, args.duration, every=tick, period=1.0 / args.rate)
        cpu = sum(_cpu_s(p.proc.pid) for p in procs) - cpu0
        last = stamp[0]
        ros.spin_until(lambda: False, 1.0)
        rss = sum(p.rss_mb() for p in procs)
        window = [s for s in sent if first < s <= last]
        latencies: List[float] = []
        got = 0
        for name in names:
            for s in window:
                if s in arrivals[name]:
                    got += 1
                    latencies.append((arrivals[name][s] - sent[s]) * 1000.0)
        lat = np.asarray(latencies) if latencies else np.asarray([np.nan])
        return {
            'mode': mode, 'cameras': n, 'rate_hz': args.rate, 'frames_sent': len(window) * n,
            'depth_received': got,
            'depth_hz_per_camera': round(got / n / args.duration, 2),
            'latency_ms_p50': round(float(np.percentile(lat, 50)), 1),
            'latency_ms_p95': round(float(np.percentile(lat, 95)), 1),
            'cpu_s_per_depth': round(cpu / max(got, 1), 4),
            'rss_mb': round(rss, 1), 'load_1min_at_start': round(load0, 2),
        }
    finally:
        ros.close()
        for proc in procs:
            proc.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """Run every configuration and print the table (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cameras', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--rate', type=float, default=5.0)
    parser.add_argument('--duration', type=float, default=20.0)
    parser.add_argument('--warmup', type=float, default=5.0)
    parser.add_argument('--width', type=int, default=320)
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--engine', default='auto')
    parser.add_argument('--model', default='')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--domain', type=int, default=91)
    parser.add_argument('--out', default='')
    args = parser.parse_args(argv)
    results = []
    print('| cameras | layout | depth Hz per camera (sent at '
          f'{args.rate:g}) | latency p50 / p95 ms | CPU s per depth frame | RSS MiB | '
          'load at start |')
    print('|---|---|---|---|---|---|---|')
    for n in args.cameras:
        for mode in ('one', 'many'):
            if n == 1 and mode == 'many':
                continue
            with tempfile.TemporaryDirectory(prefix='multicam_bench_') as tmp:
                r = run_once(mode, n, args, args.domain, Path(tmp))
            results.append(r)
            layout = '1 node, `cameras`' if mode == 'one' else f'{n} nodes'
            print(f"| {n} | {layout} | {r['depth_hz_per_camera']} | {r['latency_ms_p50']} / "
                  f"{r['latency_ms_p95']} | {r['cpu_s_per_depth']} | {r['rss_mb']} | "
                  f"{r['load_1min_at_start']} |", flush=True)
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
