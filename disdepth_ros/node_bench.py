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
``disdepth node-bench``: the node beside its engine, in one run.

For every camera size the bare estimator is timed first (``predict`` in a loop, built exactly as
the node builds it: :func:`disdepth_ros.depth_node.create_estimator_for`).  Then, for every size
and camera rate, :func:`soak` starts ``disdepth_node`` in its own process (isolated domain,
localhost discovery, the shipped Fast DDS profile), publishes images + camera_info at the rate,
subscribes to ``depth`` and ``points`` (reliable, as RViz does; as serialized messages, of
which only the stamp is read, so that the listener takes little of the CPU it shares with the
node) and collects: output rates,
end-to-end latency percentiles (stamp sent -> message received), the node's own timers from
``/diagnostics`` (processing, inference and the ``stage_ms_mean.*`` parts: decode, inference,
gate, build, publish), the drops, and the CPU used by the node and by the camera/listener
process.  The table relates the node to its engine: ``processing / engine`` (per frame, the
node's work from taking a frame to the end of publishing over the bare ``predict`` time) and
``delivered`` (output rate over what the engine alone could give at that camera rate).

``tools/soak_node.py`` is :func:`soak` with a command line (one long run, memory growth checks).
``--quick`` is a subset for tests (one small size, two rates, a few seconds each).
"""

from dataclasses import asdict
from dataclasses import dataclass
import datetime
import os
from pathlib import Path
import platform
import struct
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

MARK_BEGIN = '<!-- node-bench:begin -->'
MARK_END = '<!-- node-bench:end -->'
SIZES: Tuple[Tuple[int, int], ...] = ((240, 320), (480, 640), (720, 1280))
RATES: Tuple[float, ...] = (15.0, 30.0, 60.0)
QUICK_SIZES: Tuple[Tuple[int, int], ...] = ((240, 320),)
QUICK_RATES: Tuple[float, ...] = (15.0, 30.0)
QUICK_DURATION_S = 4.0
QUICK_ENGINE_ITERS = 10
# Diagnostics keys copied into a soak summary.
DIAGNOSTIC_PREFIXES = ('dropped', 'frames', 'inference', 'latency', 'processing', 'stage',
                       'input', 'output', 'engine', 'provider')
STAGES = ('decode', 'inference', 'gate', 'build', 'publish')
# A serialized message starts with the 4-byte CDR encapsulation header (little-endian CDR here:
# ROS 2 on x86 / ARM), then the header's stamp (int32 sec, uint32 nanosec).
CDR_HEADER_BYTES = 4


@dataclass(frozen=True)
class NodeBenchOptions:
    """
    What ``disdepth node-bench`` measures.

    :param sizes: camera sizes (height, width)
    :param rates: camera rates, Hz
    :param duration_s: seconds of camera frames per (size, rate)
    :param model: model file, ``''`` for the packaged default model
    :param engine: inference engine (as the node's ``engine`` parameter)
    :param stride: the node's ``point_stride``
    :param engine_iters: timed ``predict`` calls of the bare engine per size (after 3 warm-up)
    :param domain: ROS domain id of the runs (1..100)
    """

    sizes: Tuple[Tuple[int, int], ...] = SIZES
    rates: Tuple[float, ...] = RATES
    duration_s: float = 20.0
    model: str = ''
    engine: str = 'auto'
    stride: int = 1
    engine_iters: int = 30
    domain: int = 96

    def __post_init__(self) -> None:
        """Check every value; the error names the option and what is expected."""
        if not self.sizes or any(len(s) != 2 or min(s) < 8 for s in self.sizes):
            raise ValueError(f'sizes must be (height, width) pairs of at least 8 pixels, got '
                             f'{self.sizes!r}')
        if not self.rates or any(not 0.0 < r <= 240.0 for r in self.rates):
            raise ValueError(f'rates must be in (0, 240] Hz, got {self.rates!r}')
        if self.duration_s <= 0:
            raise ValueError(f'duration must be > 0 s, got {self.duration_s}')
        if self.stride < 1:
            raise ValueError(f'stride must be >= 1, got {self.stride}')
        if self.engine_iters < 1:
            raise ValueError(f'engine iterations must be >= 1, got {self.engine_iters}')
        if not 1 <= self.domain <= 100:
            raise ValueError(f'domain must be in 1..100, got {self.domain}')


def _rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    return float('nan')


def cpu_seconds(pid: int) -> float:
    """
    CPU seconds (user + system) a process has used so far.

    :param pid: process id
    :return: seconds
    """
    fields = Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def percentiles(samples: Sequence[float]) -> Dict[str, float]:
    """
    Return p50, p95, p99 and max of ``samples`` (empty dict when there are none).

    :param samples: values
    :return: dict of rounded values
    """
    if not samples:
        return {}
    arr = np.asarray(samples, dtype=np.float64)
    out = {f'p{q}': round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)}
    out['max'] = round(float(arr.max()), 2)
    return out


def soak(width: int, height: int, rate: float, duration_s: float, model: Optional[str] = '',
         engine: str = 'auto', stride: int = 1, domain: int = 97,
         settle_s: float = 3.0, params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """
    Run the node under a camera at ``rate`` Hz for ``duration_s`` and summarise.

    :param width: image width
    :param height: image height
    :param rate: camera rate, Hz
    :param duration_s: seconds of frames
    :param model: model file, ``''`` for the packaged model, None for a toy ONNX model (real
        ONNX Runtime, trivial network: measures the node and DDS rather than the network)
    :param engine: the node's ``engine``
    :param stride: the node's ``point_stride``
    :param domain: ROS domain id (1..100)
    :param settle_s: seconds to keep listening after the last frame
    :param params: more node parameters (e.g. ``{'overlap_outputs': False}``)
    :return: summary (rates, latency percentiles, node diagnostics, CPU, memory, exit code)
    :raises RuntimeError: when the node does not come up within 60 s (with its log)
    """
    os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='disdepth-soak-log-'))
    from disdepth_ros.qos import apply_fastdds_profile
    apply_fastdds_profile()
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    from sensor_msgs.msg import PointCloud2
    from diagnostic_msgs.msg import DiagnosticArray

    from disdepth_core.geometry import CameraIntrinsics
    from disdepth_core.rosmsg import fill_message
    from disdepth_core.rosmsg import intrinsics_to_camera_info_fields
    from disdepth_core.rosmsg import numpy_to_image_fields
    from disdepth_ros.harness import graph_env
    from disdepth_ros.harness import NodeProcess
    from disdepth_ros.harness import RosHarness

    work = Path(tempfile.mkdtemp(prefix='disdepth-soak-'))
    if model is None:
        from disdepth_core.inference.toymodel import write_toy_onnx
        model = str(write_toy_onnx(work / 'toy.onnx'))
    node_proc = NodeProcess(work, graph_env(domain, Path(os.environ['ROS_LOG_DIR'])),
                            {'model': model or '', 'engine': engine, 'point_stride': stride,
                             **(params or {})})
    proc = node_proc.proc
    ros = RosHarness(domain, 'disdepth_soak')
    node, executor = ros.node, ros.executor
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, 'image', reliable)
    info_pub = node.create_publisher(CameraInfo, 'camera_info', reliable)
    sent: Dict[int, float] = {}
    latency: Dict[str, List[float]] = {'depth': [], 'points': []}
    diagnostics: List[Dict[str, str]] = []

    def on_output(name: str):
        def callback(data: bytes) -> None:
            # Serialized (raw) messages: only the stamp is read, so the listener does not
            # spend the shared CPU on turning 10 MB clouds into Python objects.
            sec, nanosec = struct.unpack_from('<iI', data, CDR_HEADER_BYTES)
            stamp = sec * 1_000_000_000 + nanosec
            if stamp in sent:
                latency[name].append((time.monotonic() - sent[stamp]) * 1000.0)
        return callback

    def on_diagnostics(msg: Any) -> None:
        for status in msg.status:
            if 'disdepth' in status.name:
                diagnostics.append({kv.key: kv.value for kv in status.values})

    node.create_subscription(Image, 'depth', on_output('depth'), reliable, raw=True)
    node.create_subscription(PointCloud2, 'points', on_output('points'), reliable, raw=True)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(8)]
    intr = CameraIntrinsics.from_fov(70.0, width, height)
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
        cpu_start, own_start, load_start = (cpu_seconds(proc.pid), time.process_time(),
                                            os.getloadavg())
        next_frame, next_rss, index = start, start, 0
        while time.monotonic() - start < duration_s:
            now = time.monotonic()
            if now >= next_frame:
                stamp = 1_000_000_000_000 + index * 1_000_000
                image = fill_message(Image(), numpy_to_image_fields(
                    frames[index % len(frames)], 'rgb8'))
                info = fill_message(CameraInfo(), intrinsics_to_camera_info_fields(intr))
                for msg in (image, info):
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp,
                                                                            1_000_000_000)
                    msg.header.frame_id = 'soak_optical'
                sent[stamp] = time.monotonic()
                info_pub.publish(info)
                image_pub.publish(image)
                index += 1
                next_frame += 1.0 / rate
            if now >= next_rss:
                rss.append(_rss_mb(proc.pid))
                next_rss += 1.0
            executor.spin_once(timeout_sec=max(0.0, min(next_frame, next_rss)
                                               - time.monotonic()))
        cpu_node = cpu_seconds(proc.pid) - cpu_start
        cpu_own = time.process_time() - own_start
        load_end = os.getloadavg()
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        last = diagnostics[-1] if diagnostics else {}
        warm = rss[min(len(rss) - 1, 5)] if rss else float('nan')
        summary = {
            'duration_s': duration_s, 'rate_hz': rate, 'image': f'{width}x{height}',
            'frames_sent': len(sent),
            'depth_received': len(latency['depth']),
            'points_received': len(latency['points']),
            'depth_hz': round(len(latency['depth']) / duration_s, 2),
            'points_hz': round(len(latency['points']) / duration_s, 2),
            'latency_ms_depth': percentiles(latency['depth']),
            'latency_ms_points': percentiles(latency['points']),
            'node_cpu_percent': round(100.0 * cpu_node / duration_s, 1),
            'soak_cpu_percent': round(100.0 * cpu_own / duration_s, 1),
            'load_average_start': round(load_start[0], 2),
            'load_average_end': round(load_end[0], 2),
            'rss_mb_start': round(warm, 1), 'rss_mb_end': round(rss[-1], 1) if rss else None,
            'rss_growth_mb': round(rss[-1] - warm, 1) if rss else None,
            'node_diagnostics': {k: v for k, v in last.items()
                                 if k.startswith(DIAGNOSTIC_PREFIXES)},
        }
    finally:
        ros.close()
        node_proc.stop(timeout=15.0)
    summary['node_exit_code'] = proc.returncode
    return summary


def engine_row(height: int, width: int, options: NodeBenchOptions) -> Dict[str, Any]:
    """
    Time the bare estimator, built as the node builds it, on one camera size.

    :param height: image height
    :param width: image width
    :param options: model, engine and iterations
    :return: size, engine, provider, mean / p50 ms and fps
    """
    from disdepth_core.geometry import CameraIntrinsics
    from disdepth_ros.depth_node import create_estimator_for
    from disdepth_ros.node_config import NodeConfig
    config = NodeConfig.from_values({'model': options.model, 'engine': options.engine})
    estimator = create_estimator_for(config)
    rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    intr = CameraIntrinsics.from_fov(70.0, width, height)
    for _ in range(3):
        estimator.predict(rgb, intr)
    times = []
    for _ in range(options.engine_iters):
        start = time.perf_counter()
        estimator.predict(rgb, intr)
        times.append((time.perf_counter() - start) * 1000.0)
    mean = float(np.mean(times))
    return {'image': f'{width}x{height}', 'engine': estimator.info.engine,
            'provider': estimator.info.provider, 'engine_ms_mean': round(mean, 2),
            'engine_ms_p50': round(float(np.median(times)), 2),
            'engine_fps': round(1000.0 / mean, 2)}


def _float(values: Dict[str, str], key: str) -> Optional[float]:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None


def node_row(run: Dict[str, Any], engine: Dict[str, Any]) -> Dict[str, Any]:
    """
    Table row of one soak run beside the bare engine of its size.

    :param run: a :func:`soak` summary
    :param engine: the :func:`engine_row` of the same size
    :return: the row (None for what the run did not report)
    """
    diag = run.get('node_diagnostics', {})
    processing = _float(diag, 'processing_ms_mean')
    possible = min(run['rate_hz'], engine['engine_fps'])
    return {
        'image': run['image'], 'rate_hz': run['rate_hz'],
        'engine_fps': engine['engine_fps'], 'engine_ms': engine['engine_ms_mean'],
        'output_hz': run['depth_hz'], 'points_hz': run['points_hz'],
        'delivered': round(run['depth_hz'] / possible, 3) if possible > 0 else None,
        'processing_ms': processing, 'inference_ms': _float(diag, 'inference_ms_mean'),
        'processing_over_engine': (round(processing / engine['engine_ms_mean'], 2)
                                   if processing is not None else None),
        'stages_ms': {s: _float(diag, f'stage_ms_mean.{s}') for s in STAGES},
        'latency_ms': run['latency_ms_depth'], 'latency_ms_points': run['latency_ms_points'],
        'superseded': int(diag.get('dropped.superseded', 0) or 0),
        'node_cpu_percent': run['node_cpu_percent'],
        'soak_cpu_percent': run['soak_cpu_percent'],
        'load_average': (run['load_average_start'], run['load_average_end']),
        'node_exit_code': run['node_exit_code'],
    }


def machine() -> Dict[str, Any]:
    """Describe the machine: CPU model, cores, Python, the time and the load average."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return {'cpu': model, 'nproc': os.cpu_count(), 'python': platform.python_version(),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'load_average': [round(v, 2) for v in os.getloadavg()]}


def run_bench(options: NodeBenchOptions, log: Any = None) -> Dict[str, Any]:
    """
    Measure the bare engine per size, then the node per size and rate.

    :param options: what to measure
    :param log: progress is printed here (None: quiet)
    :return: ``{'machine', 'options', 'engine': [...], 'node': [...]}``
    """
    result: Dict[str, Any] = {'machine': machine(), 'options': asdict(options),
                              'engine': [], 'node': []}
    engines = {}
    for height, width in options.sizes:
        row = engine_row(height, width, options)
        engines[(height, width)] = row
        result['engine'].append(row)
        if log is not None:
            print(f'engine {row["image"]}: {row["engine_ms_mean"]:.1f} ms '
                  f'({row["engine_fps"]:.1f} fps)', file=log, flush=True)
    for height, width in options.sizes:
        for rate in options.rates:
            run = soak(width, height, rate, options.duration_s, options.model, options.engine,
                       options.stride, options.domain, settle_s=1.5)
            row = node_row(run, engines[(height, width)])
            result['node'].append(row)
            if log is not None:
                print(f'node {row["image"]} at {rate:g} Hz: {row["output_hz"]:.1f} Hz out, '
                      f'processing {row["processing_ms"]} ms, CPU {row["node_cpu_percent"]} %',
                      file=log, flush=True)
    result['machine']['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    return result


def _cell(value: Any, fmt: str = '{:.1f}') -> str:
    return '-' if value is None else fmt.format(value)


def markdown(result: Dict[str, Any], command: str) -> str:
    """
    Render the node-vs-engine table (with the machine and the command) as markdown.

    :param result: :func:`run_bench` output
    :param command: the command line that produced it
    :return: markdown text
    """
    m = result['machine']
    lines = [f'Run: **{m["date"]}**: `{command}`', '',
             f'Machine: {m["cpu"]}, `nproc` = {m["nproc"]}, Python {m["python"]}; load average '
             f'{m["load_average"][0]:.2f} at the start, '
             f'{m.get("load_average_end", m["load_average"])[0]:.2f} at the end.  Engine: '
             + ', '.join(sorted({f'{e["engine"]} ({e["provider"]})' for e in result['engine']}))
             + '.', '',
             '| camera | camera Hz | engine fps | engine ms | node out Hz | delivered | '
             'processing ms | node inference ms | processing / engine | decode / gate / '
             'build / publish ms | latency p50 / p95 / p99 ms | node CPU % | camera+listener '
             'CPU % |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in result['node']:
        stages = ' / '.join(_cell(r['stages_ms'].get(s))
                            for s in ('decode', 'gate', 'build', 'publish'))
        lat = r['latency_ms']
        latency = ' / '.join(_cell(lat.get(q), '{:.0f}') for q in ('p50', 'p95', 'p99'))
        lines.append(
            f'| {r["image"]} | {r["rate_hz"]:g} | {r["engine_fps"]:.1f} | {r["engine_ms"]:.1f} '
            f'| {r["output_hz"]:.1f} | {_cell(r["delivered"], "{:.0%}")} | '
            f'{_cell(r["processing_ms"])} | {_cell(r["inference_ms"])} | '
            f'{_cell(r["processing_over_engine"], "{:.2f}x")} | {stages} | {latency} | '
            f'{r["node_cpu_percent"]:.0f} | {r["soak_cpu_percent"]:.0f} |')
    return '\n'.join(lines) + '\n'


def write_markdown_section(path: Path, text: str) -> None:
    """
    Put ``text`` between the node-bench markers of ``path`` (appended when they are missing).

    :param path: markdown file (created when missing); written atomically
    :param text: the section's content
    """
    from disdepth_core.inference.atomic import write_marked_section
    write_marked_section(path, MARK_BEGIN, MARK_END, text)
