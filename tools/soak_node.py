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

Examples::

    .venv/bin/python tools/soak_node.py --duration 600 --rate 30
    .venv/bin/python tools/soak_node.py --model path/to/model.onnx --width 640 --height 480

Without ``--model`` a toy ONNX model is written to a temporary directory (real ONNX Runtime
engine, trivial network), so the soak measures the node and DDS rather than the network.
"""

import argparse
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np


def _rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    return float('nan')


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _percentiles(samples: List[float]) -> Dict[str, float]:
    if not samples:
        return {}
    arr = np.asarray(samples)
    return {f'p{q}': round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)} | {
        'max': round(float(arr.max()), 2)}


def _node_env(domain: int, log_dir: str) -> Dict[str, str]:
    from disdepth_ros.qos import fastdds_profile_path
    env = dict(os.environ)
    env.update({'ROS_DOMAIN_ID': str(domain), 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                'ROS_LOG_DIR': log_dir,
                'FASTDDS_DEFAULT_PROFILES_FILE': str(fastdds_profile_path())})
    return env


def soak(args: argparse.Namespace) -> Dict[str, Any]:
    """
    Run the soak and return its summary.

    :param args: parsed command line
    :return: summary dict
    """
    os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='disdepth-soak-log-'))
    from disdepth_ros.qos import apply_fastdds_profile
    apply_fastdds_profile()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    from sensor_msgs.msg import PointCloud2
    from diagnostic_msgs.msg import DiagnosticArray

    from disdepth_core.geometry import CameraIntrinsics
    from disdepth_ros.conversions import intrinsics_to_camera_info_fields
    from disdepth_ros.conversions import numpy_to_image_fields

    work = Path(tempfile.mkdtemp(prefix='disdepth-soak-'))
    model = args.model
    if model is None:
        from disdepth_core.inference.toymodel import write_toy_onnx
        model = str(write_toy_onnx(work / 'toy.onnx'))
    elif model == 'default':
        model = ''
    params = ['-p', f'model:={model}' if model else 'model:=""', '-p', f'engine:={args.engine}',
              '-p', f'point_stride:={args.stride}']
    node_bin = Path(sys.executable).parent / 'disdepth_node'
    cmd = [str(node_bin)] if node_bin.is_file() else [sys.executable, '-m',
                                                      'disdepth_ros.depth_node']
    log = open(work / 'node.log', 'wb')
    proc = subprocess.Popen(cmd + ['--ros-args'] + params,
                            env=_node_env(args.domain, os.environ['ROS_LOG_DIR']),
                            stdout=log, stderr=subprocess.STDOUT)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=args.domain)
    node = rclpy.create_node('disdepth_soak', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, 'image', reliable)
    info_pub = node.create_publisher(CameraInfo, 'camera_info', reliable)
    sent: Dict[int, float] = {}
    latency: Dict[str, List[float]] = {'depth': [], 'points': []}
    diagnostics: List[Dict[str, str]] = []

    def on_output(name: str):
        def callback(msg: Any) -> None:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if stamp in sent:
                latency[name].append((time.monotonic() - sent[stamp]) * 1000.0)
        return callback

    def on_diagnostics(msg: Any) -> None:
        for status in msg.status:
            if 'disdepth' in status.name:
                diagnostics.append({kv.key: kv.value for kv in status.values})

    node.create_subscription(Image, 'depth', on_output('depth'), reliable)
    node.create_subscription(PointCloud2, 'points', on_output('points'), reliable)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
              for _ in range(8)]
    intr = CameraIntrinsics.from_fov(70.0, args.width, args.height)
    rss: List[float] = []
    summary: Dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60.0
        while image_pub.get_subscription_count() == 0 or node.count_publishers('depth') == 0:
            executor.spin_once(timeout_sec=0.1)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the node did not come up:\n' + (work / 'node.log')
                                   .read_text(errors='replace'))
        start = time.monotonic()
        cpu_start, own_start, load_start = _cpu_s(proc.pid), time.process_time(), os.getloadavg()
        next_frame, next_rss, index = start, start, 0
        while time.monotonic() - start < args.duration:
            now = time.monotonic()
            if now >= next_frame:
                stamp = 1_000_000_000_000 + index * 1_000_000
                image = Image()
                for key, value in numpy_to_image_fields(frames[index % len(frames)],
                                                        'rgb8').items():
                    setattr(image, key, value)
                info = CameraInfo()
                for key, value in intrinsics_to_camera_info_fields(intr).items():
                    if key != 'roi':
                        setattr(info, key, value)
                for msg in (image, info):
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp,
                                                                            1_000_000_000)
                    msg.header.frame_id = 'soak_optical'
                sent[stamp] = time.monotonic()
                info_pub.publish(info)
                image_pub.publish(image)
                index += 1
                next_frame += 1.0 / args.rate
            if now >= next_rss:
                rss.append(_rss_mb(proc.pid))
                next_rss += 1.0
            executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_rss)
                                               - time.monotonic()))
        cpu_node = _cpu_s(proc.pid) - cpu_start
        cpu_own = time.process_time() - own_start
        load_end = os.getloadavg()
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        elapsed = args.duration
        last = diagnostics[-1] if diagnostics else {}
        warm = rss[min(len(rss) - 1, 5)] if rss else float('nan')
        summary = {
            'duration_s': elapsed, 'rate_hz': args.rate, 'image': f'{args.width}x{args.height}',
            'frames_sent': len(sent),
            'depth_received': len(latency['depth']),
            'points_received': len(latency['points']),
            'depth_hz': round(len(latency['depth']) / elapsed, 2),
            'latency_ms_depth': _percentiles(latency['depth']),
            'latency_ms_points': _percentiles(latency['points']),
            'node_cpu_percent': round(100.0 * cpu_node / elapsed, 1),
            'soak_cpu_percent': round(100.0 * cpu_own / elapsed, 1),
            'load_average_start': round(load_start[0], 2),
            'load_average_end': round(load_end[0], 2),
            'rss_mb_start': round(warm, 1), 'rss_mb_end': round(rss[-1], 1) if rss else None,
            'rss_growth_mb': round(rss[-1] - warm, 1) if rss else None,
            'node_diagnostics': {k: v for k, v in last.items()
                                 if k.startswith(('dropped', 'frames', 'inference', 'latency',
                                                  'processing',
                                                  'input', 'output', 'engine', 'provider'))},
        }
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    summary['node_exit_code'] = proc.returncode
    return summary


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
    parser.add_argument('--max-rss-growth-mb', type=float, default=50.0)
    parser.add_argument('--max-latency-ms', type=float, default=1000.0)
    args = parser.parse_args(argv)
    summary = soak(args)
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
