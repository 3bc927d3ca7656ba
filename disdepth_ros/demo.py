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
``disdepth demo`` (``make demo``): the real node on a synthetic camera, end to end, in minutes.

1. The project's scene generator renders a short sequence: a camera moving through an indoor
   scene, with exact depth and intrinsics.
2. The real node (the ``disdepth_node`` executable) starts in its own process on an isolated
   ``ROS_DOMAIN_ID`` (``domain_coordinator``), localhost discovery, the shipped Fast DDS
   shared-memory profile and a temporary ``ROS_LOG_DIR``.
3. A small rclpy player publishes ``image`` + ``camera_info`` (same stamps) at camera rate; a
   recorder in the same process subscribes to every output of the node (serialized, as on the
   wire) and ``/diagnostics``.
4. Everything is written with ``rosbags`` into a rosbag2 (mcap) and read back from it for the
   report: ``strip.png`` (input | colourised depth | ground truth for a few frames), ``cloud.ply``
   (the node's point cloud of one frame), ``summary.json`` and ``summary.md`` (frames in/out,
   dropped, latency p50/p95, accuracy against the generator's exact depth).

The output folder is assembled in a temporary directory and replaces ``--out`` only when complete.
The command fails with a clear message (and the tail of the node's log) when the node publishes
nothing.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
import json
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
import time
from typing import Any, cast, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from disdepth_core import rosmsg
from disdepth_core.colorize import colorize_depth
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_core.pointcloud_io import write_ply

NAMESPACE = '/demo'
FRAME_ID = 'demo_camera_optical_frame'
# node output topic (relative) -> message type name
OUTPUT_TOPICS: Dict[str, str] = {
    'depth': 'sensor_msgs/msg/Image',
    'depth/camera_info': 'sensor_msgs/msg/CameraInfo',
    'points': 'sensor_msgs/msg/PointCloud2',
    'depth/confidence': 'sensor_msgs/msg/Image',
    'depth/colorized': 'sensor_msgs/msg/Image',
}
INPUT_TOPICS: Dict[str, str] = {
    'image': 'sensor_msgs/msg/Image',
    'camera_info': 'sensor_msgs/msg/CameraInfo',
}
DIAGNOSTICS = '/diagnostics'
DIAGNOSTICS_TYPE = 'diagnostic_msgs/msg/DiagnosticArray'
IDLE_S = 3.0
# Sequence number of the demo scene in the generator (training uses low sequence numbers;
# 90006 of seed 0 is a furnished room with a good depth range).
DEMO_SEQUENCE = 90_006
# Evaluation cap when the node does not report the model's depth range.
DEFAULT_EVAL_MAX_M = 10.0


class DemoError(RuntimeError):
    """The demo cannot run or the node produced nothing; the message says why."""


@dataclass(frozen=True)
class DemoOptions:
    """
    Settings of one demo run.

    :param out: output folder (replaced when the run completes)
    :param frames: frames in the sequence
    :param fps: camera rate the frames are published at
    :param width: image width
    :param height: image height
    :param model: model file for the node (None: the packaged default)
    :param engine: inference engine of the node
    :param device: inference device of the node
    :param seed: scene seed
    :param point_stride: the node's point cloud decimation
    :param strip_frames: frames shown in strip.png
    :param startup_timeout: seconds to wait for the node to come up
    :param realtime: publish at the camera rate whatever the node does (the node's latest-frame
        policy may then supersede frames on a busy machine); by default each frame waits, at
        most ``frame_timeout`` seconds, until the node's outputs for the previous one arrived,
        so every frame is processed and the result does not depend on the machine's load
    :param frame_timeout: longest wait for one frame's outputs before the next is published
    """

    out: Path = Path('out/demo')
    frames: int = 40
    fps: float = 10.0
    width: int = 320
    height: int = 240
    model: Optional[str] = None
    engine: str = 'auto'
    device: str = 'auto'
    seed: int = 0
    point_stride: int = 2
    strip_frames: int = 4
    startup_timeout: float = 120.0
    realtime: bool = False
    frame_timeout: float = 30.0


QUICK = {'frames': 8, 'width': 128, 'height': 96, 'fps': 5.0, 'point_stride': 1}


@dataclass
class Sequence:
    """
    A synthetic camera sequence with exact depth.

    :param rgb: H x W x 3 uint8 images
    :param depth: H x W float32 metres (0 invalid)
    :param intrinsics: the camera
    :param description: what the generator made
    """

    rgb: List[np.ndarray]
    depth: List[np.ndarray]
    intrinsics: CameraIntrinsics
    description: str = ''


@dataclass
class Recording:
    """
    What went over the wire.

    :param messages: (topic, type, log time ns, serialized CDR bytes), in arrival order
    :param stamps: header stamp (ns) of each published frame, in frame order
    :param diagnostics: key/values of the node's last diagnostics status
    :param node_log: path of the node's stdout/stderr log
    """

    messages: List[Tuple[str, str, int, bytes]] = field(default_factory=list)
    stamps: List[int] = field(default_factory=list)
    diagnostics: Dict[str, str] = field(default_factory=dict)
    node_log: Optional[Path] = None


# ----------------------------------------------------------------------------- sequence

def generate_sequence(options: DemoOptions) -> Sequence:
    """
    Render the demo sequence with the project's scene generator (preset ``indoor``).

    The scene is sequence ``DEMO_SEQUENCE + seed`` of the generator, far from the sequence
    numbers training configs use, so the default model has not seen it.

    :param options: frames, size and seed
    :return: the sequence
    """
    from disdepth_core.data.synthetic import make_sequence
    index = DEMO_SEQUENCE + int(options.seed)
    seq = make_sequence('indoor', seed=int(options.seed), index=index,
                        n_frames=int(options.frames), height=int(options.height),
                        width=int(options.width))
    renders = [seq.render(i) for i in range(len(seq))]
    notes = ', '.join(f'{k} {v:.1f} m' for k, v in sorted(seq.scene.notes.items()))
    return Sequence([r.rgb for r in renders], [np.asarray(r.depth, np.float32) for r in renders],
                    seq.intrinsics, f'indoor scene (generator seed {options.seed}, sequence '
                    f'{index}; {notes}) with a moving camera')


# ----------------------------------------------------------------------------- ROS side

@contextmanager
def scoped_env(values: Dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def node_params(options: DemoOptions, colour_max: float) -> Dict[str, Any]:
    """
    Parameters of the node process.

    :param options: demo options (model, engine, device, point stride)
    :param colour_max: far end of depth/colorized, metres
    :return: parameter name -> value
    """
    params: Dict[str, Any] = {'engine': options.engine, 'device': options.device,
                              'point_stride': int(options.point_stride),
                              'diagnostics_period': 0.5, 'colorized_min_depth': 0.0,
                              'colorized_max_depth': round(float(colour_max), 1)}
    if options.model:
        params['model'] = str(Path(options.model).resolve())
    return params


def _tail(path: Optional[Path], lines: int = 25) -> str:
    if path is None or not path.is_file():
        return '(no node log)'
    text = path.read_text(errors='replace').strip().splitlines()
    return '\n'.join('    ' + line for line in text[-lines:]) or '    (empty)'


def play(seq: Sequence, options: DemoOptions, workdir: Path,
         log: Any = print) -> Recording:
    """
    Run the node, publish the sequence at camera rate, record what comes back.

    :param seq: the frames
    :param options: demo options
    :param workdir: scratch directory (node log, ROS log)
    :param log: progress printer
    :return: the recording
    :raises DemoError: when the node does not start or publishes nothing
    """
    import domain_coordinator
    from rclpy.qos import DurabilityPolicy
    from rclpy.qos import HistoryPolicy
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from rclpy.serialization import serialize_message
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    from sensor_msgs.msg import PointCloud2

    from disdepth_ros.harness import graph_env
    from disdepth_ros.harness import NodeProcess
    from disdepth_ros.harness import RosHarness

    types = {'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/CameraInfo': CameraInfo,
             'sensor_msgs/msg/PointCloud2': PointCloud2}
    rec = Recording(node_log=workdir / 'node.log')
    ros_log = workdir / 'ros_log'
    ros_log.mkdir()
    colour_max = float(np.ceil(max(np.percentile(d[d > 0], 98) for d in seq.depth if
                                   (d > 0).any())))
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    with domain_coordinator.domain_id() as domain:
        env = graph_env(domain, ros_log)
        with scoped_env({k: v for k, v in env.items() if os.environ.get(k) != v}):
            node_proc = NodeProcess(workdir, env, node_params(options, colour_max),
                                    remaps=[f'__ns:={NAMESPACE}'])
            proc = node_proc.proc
            log(f'disdepth demo: starting the node (ROS_DOMAIN_ID={domain}): '
                f'{" ".join(str(a) for a in cast(List[str], proc.args))}')
            ros = None
            try:
                ros = RosHarness(domain, 'disdepth_demo_player')
                node, executor = ros.node, ros.executor
                pub_img = node.create_publisher(Image, f'{NAMESPACE}/image', reliable)
                pub_info = node.create_publisher(CameraInfo, f'{NAMESPACE}/camera_info',
                                                 reliable)
                last_output = [0.0]

                def recorder(topic: str, msgtype: str) -> Any:
                    def callback(raw: bytes) -> None:
                        rec.messages.append((topic, msgtype, time.time_ns(), bytes(raw)))
                        last_output[0] = time.monotonic()
                    return callback

                subs = []
                for rel, msgtype in OUTPUT_TOPICS.items():
                    topic = f'{NAMESPACE}/{rel}'
                    subs.append(node.create_subscription(types[msgtype], topic,
                                                         recorder(topic, msgtype), reliable,
                                                         raw=True))

                def on_diagnostics(raw: bytes) -> None:
                    rec.messages.append((DIAGNOSTICS, DIAGNOSTICS_TYPE, time.time_ns(),
                                         bytes(raw)))
                    msg = deserialize_message(raw, DiagnosticArray)
                    for status in msg.status:
                        if status.name.startswith(f'{NAMESPACE}/disdepth'):
                            rec.diagnostics = {kv.key: kv.value for kv in status.values}

                node.create_subscription(DiagnosticArray, DIAGNOSTICS, on_diagnostics,
                                         reliable, raw=True)
                _wait_ready(executor, proc, rec, options.startup_timeout)
                log(f'disdepth demo: node ready ({rec.diagnostics.get("engine", "?")} on '
                    f'{rec.diagnostics.get("provider", "?")}); playing {len(seq.rgb)} frames '
                    f'at {options.fps:g} Hz')
                _publish_all(seq, options, node, executor, pub_img, pub_info, rec,
                             serialize_message)
                _drain(executor, proc, rec, len(seq.rgb), last_output)
            finally:
                node_proc.stop(timeout=10.0)
                if ros is not None:
                    ros.close()
    return rec


def _wait_ready(executor: Any, proc: 'subprocess.Popen[bytes]', rec: Recording,
                timeout: float) -> None:
    """Wait until the node reports (in /diagnostics) that all its outputs have subscribers."""
    deadline = time.monotonic() + timeout
    wanted = {'depth', 'depth_camera_info', 'points', 'confidence', 'colorized'}
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        subscribed = set(rec.diagnostics.get('outputs_subscribed', '').split(','))
        if wanted <= subscribed:
            return
        if proc.poll() is not None:
            raise DemoError(f'the node exited during start-up (code {proc.returncode}); its '
                            f'log ({rec.node_log}):\n{_tail(rec.node_log)}')
    raise DemoError(f'the node did not come up within {timeout:g} s (no /diagnostics listing '
                    f'its subscribed outputs); its log:\n{_tail(rec.node_log)}')


def _publish_all(seq: Sequence, options: DemoOptions, node: Any, executor: Any, pub_img: Any,
                 pub_info: Any, rec: Recording, serialize: Any) -> None:
    """
    Publish camera_info + image for every frame, at most at the camera rate.

    Unless ``options.realtime``, frame ``i`` also waits (at most ``options.frame_timeout``)
    until every output of frame ``i - 1`` has arrived, or the node reports it dropped.
    """
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    info_fields = rosmsg.intrinsics_to_camera_info_fields(seq.intrinsics)
    period = 1.0 / options.fps
    topics = [f'{NAMESPACE}/{rel}' for rel in OUTPUT_TOPICS]
    previous = time.monotonic() - period
    for i, rgb in enumerate(seq.rgb):
        target = previous + period
        deadline = time.monotonic() + options.frame_timeout
        while True:
            now = time.monotonic()
            waiting = (not options.realtime and i > 0 and now < deadline
                       and min(_count(rec, t) for t in topics) < i
                       and _handled(rec.diagnostics) < i)
            if now >= target and not waiting:
                break
            executor.spin_once(timeout_sec=0.005 if waiting else min(target - now, 0.01))
        previous = time.monotonic()
        stamp = node.get_clock().now()
        img = rosmsg.fill_message(Image(), rosmsg.numpy_to_image_fields(rgb, 'rgb8'))
        img.header.stamp = stamp.to_msg()
        img.header.frame_id = FRAME_ID
        info = rosmsg.fill_message(CameraInfo(), info_fields)
        info.header = img.header
        pub_info.publish(info)
        pub_img.publish(img)
        t = stamp.nanoseconds
        rec.stamps.append(t)
        rec.messages.append((f'{NAMESPACE}/camera_info', 'sensor_msgs/msg/CameraInfo', t,
                             serialize(info)))
        rec.messages.append((f'{NAMESPACE}/image', 'sensor_msgs/msg/Image', t, serialize(img)))


def _handled(diagnostics: Dict[str, str]) -> int:
    """Frames the node reports done: published or dropped (with a counted reason)."""
    try:
        return int(diagnostics.get('frames_out', 0)) + int(diagnostics.get('dropped_total', 0))
    except ValueError:
        return 0


def _count(rec: Recording, topic: str) -> int:
    return sum(1 for m in rec.messages if m[0] == topic)


def _drain(executor: Any, proc: 'subprocess.Popen[bytes]', rec: Recording, n: int,
           last_output: List[float]) -> None:
    """Spin until every frame's outputs arrived, or nothing came for IDLE_S seconds."""
    published = time.monotonic()
    topics = [f'{NAMESPACE}/{rel}' for rel in OUTPUT_TOPICS]
    while proc.poll() is None:
        executor.spin_once(timeout_sec=0.05)
        counts = [_count(rec, t) for t in topics]
        if counts[0] >= n and len(set(counts)) == 1:
            break
        if time.monotonic() - max(published, last_output[0]) > IDLE_S:
            break
    # One more diagnostics report, so the node's counters include the last frames.
    end = time.monotonic() + 1.0
    while time.monotonic() < end and proc.poll() is None:
        executor.spin_once(timeout_sec=0.05)


# ----------------------------------------------------------------------------- outputs

def write_bag(path: Path, rec: Recording) -> None:
    """
    Write the recording as a rosbag2 (mcap) with the Kilted type definitions.

    :param path: bag directory (must not exist)
    :param rec: the recording
    """
    from rosbags.interfaces import Qos
    from rosbags.interfaces import QosDurability
    from rosbags.interfaces import QosHistory
    from rosbags.interfaces import QosLiveliness
    from rosbags.interfaces import QosReliability
    from rosbags.interfaces import QosTime
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore
    from rosbags.typesys import Stores
    store = get_typestore(Stores.ROS2_KILTED)
    zero = QosTime(0, 0)
    qos = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE, zero,
              zero, QosLiveliness.AUTOMATIC, zero, False)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.set_custom_data('disdepth.demo', 'synthetic sequence through the disdepth node')
        conns: Dict[str, Any] = {}
        for topic, msgtype, t, raw in sorted(rec.messages, key=lambda m: m[2]):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=store,
                                                     offered_qos_profiles=[qos])
            writer.write(conns[topic], t, raw)


def read_bag(path: Path) -> Dict[str, List[Tuple[int, Any]]]:
    """
    Read a bag back: topic -> [(log time, message)] (rosbags messages).

    :param path: the bag
    :return: messages per topic, in log-time order
    """
    from rosbags.highlevel import AnyReader
    out: Dict[str, List[Tuple[int, Any]]] = {}
    with AnyReader([path]) as reader:
        for conn, t, raw in reader.messages(connections=reader.connections):
            out.setdefault(conn.topic, []).append((t, reader.deserialize(raw, conn.msgtype)))
    return out


def depth_metrics(pred: np.ndarray, gt: np.ndarray, max_depth: float,
                  median_scale: bool = False) -> Dict[str, float]:
    """
    Compute the standard metrics of one frame (:func:`disdepth_core.metrics.compute_metrics`).

    :param pred: H x W predicted metres (NaN invalid)
    :param gt: H x W exact metres (0 invalid)
    :param max_depth: evaluation cap, metres
    :param median_scale: median-scale the prediction first (scale-free accuracy)
    :return: the metrics dict
    """
    from disdepth_core.metrics import compute_metrics
    return compute_metrics(gt, pred, min_depth=1e-3, max_depth=max_depth,
                           median_scale=median_scale)


def _model_max_depth(diagnostics: Dict[str, str]) -> float:
    """Upper end of the node's depth range from its diagnostics ('0.001..10'), else 10 m."""
    try:
        return float(diagnostics['depth_range_m'].split('..')[1])
    except (KeyError, IndexError, ValueError):
        return DEFAULT_EVAL_MAX_M


def _percentiles(values: List[float]) -> Dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values, dtype=np.float64)
    return {'p50': round(float(np.percentile(arr, 50)), 2),
            'p95': round(float(np.percentile(arr, 95)), 2),
            'max': round(float(arr.max()), 2), 'mean': round(float(arr.mean()), 2)}


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """Add a caption bar above an image."""
    h, w = image.shape[:2]
    scale = float(np.clip(w / 400.0, 0.35, 0.7))
    bar = np.full((int(28 * scale / 0.5), w, 3), 32, np.uint8)
    cv2.putText(bar, text, (6, bar.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def make_strip(rows: List[Tuple[int, np.ndarray, np.ndarray, np.ndarray]],
               max_m: float) -> np.ndarray:
    """
    Build the strip image: one row per frame, input | predicted depth | ground truth.

    :param rows: (frame index, rgb, predicted depth, exact depth)
    :param max_m: far end of the colour range (both depth columns use 0..max_m)
    :return: BGR uint8 image
    """
    out = []
    for k, (i, rgb, pred, gt) in enumerate(rows):
        cells = [np.ascontiguousarray(rgb[..., ::-1]),
                 colorize_depth(pred, 0.0, max_m, legend=True),
                 colorize_depth(np.where(gt > 0, gt, np.nan), 0.0, max_m, legend=True)]
        if k == 0:
            titles = (f'input (frame {i})', 'disdepth node: depth', 'ground truth (exact)')
            cells = [_label(c, t) for c, t in zip(cells, titles)]
        else:
            cells = [_label(cells[0], f'frame {i}'), _label(cells[1], ''), _label(cells[2], '')]
        sep = np.full((cells[0].shape[0], 4, 3), 255, np.uint8)
        out.append(np.concatenate([cells[0], sep, cells[1], sep, cells[2]], axis=1))
    return np.concatenate(out, axis=0)


def analyse(bag: Path, seq: Sequence, rec: Recording, out: Path,
            options: DemoOptions) -> Dict[str, Any]:
    """
    Read the bag back and write strip.png, cloud.ply, summary.json and summary.md into ``out``.

    :param bag: the recorded bag
    :param seq: the sequence (ground truth)
    :param rec: the recording (published stamps, diagnostics)
    :param out: the output folder
    :param options: demo options
    :return: the summary
    :raises DemoError: when the bag holds no depth from the node
    """
    msgs = read_bag(bag)
    index = {s: i for i, s in enumerate(rec.stamps)}
    recv: Dict[str, Dict[int, int]] = {}
    for rel in OUTPUT_TOPICS:
        recv[rel] = {rosmsg.stamp_ns(m): t for t, m in msgs.get(f'{NAMESPACE}/{rel}', [])}
    depth_msgs = {rosmsg.stamp_ns(m): m for _, m in msgs.get(f'{NAMESPACE}/depth', [])}
    if not depth_msgs:
        raise DemoError(f'the node published no depth for any of the {len(rec.stamps)} frames; '
                        f'its diagnostics: {rec.diagnostics or "(none received)"}; its log '
                        f'({rec.node_log}):\n{_tail(rec.node_log)}')
    per_frame, scaled = [], []
    eval_max = _model_max_depth(rec.diagnostics)
    preds: Dict[int, np.ndarray] = {}
    for stamp, msg in sorted(depth_msgs.items()):
        if stamp not in index:
            continue
        i = index[stamp]
        pred = rosmsg.image_to_numpy(msg).astype(np.float32)
        if msg.encoding == '16UC1':
            pred = np.where(pred > 0, pred / 1000.0, np.nan).astype(np.float32)
        preds[i] = pred
        per_frame.append(depth_metrics(pred, seq.depth[i], eval_max))
        scaled.append(depth_metrics(pred, seq.depth[i], eval_max, median_scale=True))
    accuracy = _mean_metrics(per_frame)
    accuracy_scaled = _mean_metrics(scaled)
    accuracy['max_depth_m'] = accuracy_scaled['max_depth_m'] = eval_max
    latency = {rel: _percentiles([(t - s) / 1e6 for s, t in recv[rel].items() if s in index])
               for rel in OUTPUT_TOPICS}
    frames_in = len(rec.stamps)
    frames_out = len(preds)

    # strip.png: a few frames spread over the sequence.
    got = sorted(preds)
    pick = sorted({got[int(round(j * (len(got) - 1) / max(options.strip_frames - 1, 1)))]
                   for j in range(min(options.strip_frames, len(got)))})
    max_m = float(np.ceil(max(np.percentile(seq.depth[i][seq.depth[i] > 0], 98) for i in pick)))
    strip = make_strip([(i, seq.rgb[i], preds[i], seq.depth[i]) for i in pick], max_m)
    if not cv2.imwrite(str(out / 'strip.png'), strip):
        raise DemoError(f'cannot write {out / "strip.png"}')

    # cloud.ply: the node's point cloud of the middle frame (else back-project its depth).
    clouds = {rosmsg.stamp_ns(m): m for _, m in msgs.get(f'{NAMESPACE}/points', [])}
    mid = got[len(got) // 2]
    cloud = clouds.get(rec.stamps[mid])
    if cloud is not None:
        xyz = rosmsg.pointcloud2_to_xyz(cloud)
        rgb = _cloud_rgb(cloud)
        source = f'{NAMESPACE}/points'
    else:
        xyz = depth_to_points(preds[mid], seq.intrinsics)
        rgb = seq.rgb[mid]
        source = f'{NAMESPACE}/depth back-projected'
    n_points = write_ply(out / 'cloud.ply', xyz, rgb,
                         comment=f'disdepth demo frame {mid}: {source}; metres, camera optical '
                                 'frame (x right, y down, z forward)')

    diag = rec.diagnostics
    summary: Dict[str, Any] = {
        'sequence': {'frames': frames_in, 'width': options.width, 'height': options.height,
                     'fps': options.fps, 'seed': options.seed, 'scene': seq.description,
                     'pacing': ('camera rate' if options.realtime else
                                "each frame after the previous one's outputs"),
                     'intrinsics': seq.intrinsics.to_dict()},
        'model': {'path': diag.get('model', options.model or '(packaged default)'),
                  'engine': diag.get('engine', options.engine),
                  'provider': diag.get('provider', '')},
        'frames_in': frames_in,
        'frames_out': frames_out,
        'dropped': frames_in - frames_out,
        'outputs': {rel: len([s for s in recv[rel] if s in index]) for rel in OUTPUT_TOPICS},
        'latency_ms': latency['depth'],
        'latency_ms_by_output': latency,
        'accuracy': accuracy,
        'accuracy_median_scaled': accuracy_scaled,
        'node_diagnostics': diag,
        'files': {'bag': bag.name, 'strip': 'strip.png', 'strip_frames': pick,
                  'ply': 'cloud.ply', 'ply_frame': mid, 'ply_points': n_points,
                  'ply_source': source, 'node_log': 'node.log'},
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2, sort_keys=True) + '\n')
    (out / 'summary.md').write_text(summary_markdown(summary))
    return summary


def _mean_metrics(per_frame: List[Dict[str, float]]) -> Dict[str, Any]:
    """Average per-frame metrics (the standard per-image protocol), rounded."""
    keys = sorted(per_frame[0]) if per_frame else []
    out: Dict[str, Any] = {k: round(float(np.mean([m[k] for m in per_frame])), 4) for k in keys}
    out['frames'] = len(per_frame)
    return out


def _cloud_rgb(cloud: Any) -> Optional[np.ndarray]:
    """Unpack the ``rgb`` field of an organised cloud into H x W x 3 uint8 (None: absent)."""
    field = next((f for f in cloud.fields if f.name == 'rgb'), None)
    if field is None:
        return None
    h, w, step = int(cloud.height), int(cloud.width), int(cloud.point_step)
    buf = np.frombuffer(bytes(cloud.data), np.uint8).reshape(h, int(cloud.row_step))
    words = np.ascontiguousarray(buf[:, :w * step]).reshape(h, w, step)
    packed = np.ascontiguousarray(words[..., field.offset:field.offset + 4]).view('<u4')[..., 0]
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255],
                    axis=-1).astype(np.uint8)


def summary_markdown(s: Dict[str, Any]) -> str:
    """
    Human-readable summary.

    :param s: the summary dict
    :return: Markdown text
    """
    seq, acc, lat = s['sequence'], s['accuracy'], s['latency_ms']
    lines = [
        '# disdepth demo',
        '',
        f'Synthetic {seq["scene"]}: {seq["frames"]} frames of {seq["width"]}x{seq["height"]} '
        f'published at {seq["fps"]:g} Hz ({seq["pacing"]}) to the real `disdepth` node '
        f'(model `{Path(str(s["model"]["path"])).name}`, engine {s["model"]["engine"]}, '
        f'{s["model"]["provider"] or "?"}).',
        '',
        '| | |',
        '|---|---|',
        f'| frames in / depth frames out | {s["frames_in"]} / {s["frames_out"]} |',
        f'| dropped (latest-frame policy or errors) | {s["dropped"]} |',
        f'| latency image stamp -> depth received, p50 / p95 | {lat.get("p50", "-")} / '
        f'{lat.get("p95", "-")} ms |',
    ]
    for key in ('abs_rel', 'rmse', 'd1'):
        if key in acc:
            unit = ' m' if key == 'rmse' else ''
            lines.append(f'| {key} (vs exact depth, {acc["frames"]} frames) | '
                         f'{acc[key]:.3f}{unit} |')
    med = s.get('accuracy_median_scaled', {})
    if 'abs_rel' in med:
        lines.append(f'| abs_rel / d1 after median scaling (shape only; mean scale '
                     f'{med.get("scale", float("nan")):.2f}) | {med["abs_rel"]:.3f} / '
                     f'{med["d1"]:.3f} |')
    lines += [
        '',
        'Outputs received: ' + ', '.join(f'`{k}` {v}' for k, v in s['outputs'].items()) + '.',
        '',
        '## Files',
        '',
        f'* `{s["files"]["strip"]}`: input | node depth | ground truth, frames '
        f'{", ".join(str(i) for i in s["files"]["strip_frames"])} (same colour range).',
        f'* `{s["files"]["ply"]}`: {s["files"]["ply_points"]} points of frame '
        f'{s["files"]["ply_frame"]} ({s["files"]["ply_source"]}); open in MeshLab or '
        'CloudCompare.',
        f'* `{s["files"]["bag"]}/`: rosbag2 (mcap) with the input and every output topic; '
        'open in Foxglove, or `ros2 bag play` it.',
        "* `summary.json`: these numbers and the node's last diagnostics.",
        '',
        'The accuracy is on synthetic frames: it shows the pipeline works end to end, not how '
        'well the model does on real images (see docs/model_card.md).',
        '',
    ]
    return '\n'.join(lines)


# ----------------------------------------------------------------------------- command

def run_demo(options: DemoOptions, log: Any = print) -> Dict[str, Any]:
    """
    Run the whole demo and publish ``options.out``.

    :param options: settings
    :param log: progress printer
    :return: the summary
    :raises DemoError: naming the problem
    """
    from disdepth_core.inference import ModelLoadError
    from disdepth_core.inference import resolve_model_path
    if options.frames < 1 or options.fps <= 0 or options.width < 32 or options.height < 32:
        raise DemoError('need --frames >= 1, --fps > 0 and an image of at least 32x32')
    try:
        model = resolve_model_path(options.model, options.engine)
    except ModelLoadError as exc:
        raise DemoError(f'{exc} (pass --model PATH)') from None
    t0 = time.monotonic()
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.partial', dir=out.parent))
    try:
        log(f'disdepth demo: rendering {options.frames} synthetic frames '
            f'({options.width}x{options.height}) ...')
        seq = generate_sequence(options)
        scratch = work / 'scratch'
        scratch.mkdir()
        rec = play(seq, options, scratch, log)
        result = work / 'result'
        result.mkdir()
        assert rec.node_log is not None, 'play() always records the node log'
        shutil.copyfile(rec.node_log, result / 'node.log')
        bag = result / 'bag'
        write_bag(bag, rec)
        summary = analyse(bag, seq, rec, result, options)
        summary['model'].setdefault('file', str(model))
        summary['wall_s'] = round(time.monotonic() - t0, 1)
        (result / 'summary.json').write_text(json.dumps(summary, indent=2, sort_keys=True)
                                             + '\n')
        if out.exists():
            os.rename(out, work / 'previous')
        os.rename(result, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary
