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
``disdepth bag``: add depth, its camera info, confidence and points to a rosbag2, offline.

Reads a rosbag2 (sqlite3 or mcap; a bag directory or a bare ``.db3`` / ``.mcap`` file) with
``rosbags``, runs the same per-frame pipeline as the node (:mod:`disdepth_ros.pipeline`: same
decoding, preprocessing, engine and message conversions) on **every** image of one topic, in log
time order, and writes a new bag with all input topics copied byte for byte plus::

    <ns>/depth               sensor_msgs/msg/Image        32FC1 metres, NaN invalid (or 16UC1 mm)
    <ns>/depth/camera_info   sensor_msgs/msg/CameraInfo   intrinsics of the depth image
    <ns>/depth/confidence    sensor_msgs/msg/Image        32FC1, 0..1
    <ns>/points              sensor_msgs/msg/PointCloud2  with --points: organised xyz + rgb
    <ns>/depth/colorized     sensor_msgs/msg/Image        with --colorized: bgr8 preview

Each output message carries the header (stamp and frame_id) and the log time of its input image;
the outputs are what the node publishes for the same frame: the same
:class:`disdepth_ros.pipeline.OutputOptions` (validated in one place: ``--min-confidence 5`` is
refused here as ``min_confidence: 5`` is by the node), the same gating and message fields.
``<ns>`` defaults to the namespace of the image topic (``/cam/image_raw`` -> ``/cam``), as if the
node ran in the camera's namespace.  Intrinsics come from the CameraInfo whose header stamp equals
the image's (else the nearest one within ``--sync-tolerance``), else from ``--fov`` /
``--intrinsics``; a frame with neither is an error, never silently dropped.

A relative model (``disdepth adopt`` of a relative family) is refused unless
``--relative-output`` is given; its unitless disparity then goes to ``<ns>/depth/relative``
(32FC1, larger = nearer) and no cloud is written.

Type definitions (and RIHS01 hashes) of copied topics are taken from the input bag, those of new
topics from the bag too when it has them, else from the ROS 2 Kilted type store, so ``ros2 bag
play``, Foxglove and ``rosbags`` read the result.  The bag is written to a temporary directory
next to ``OUT`` and moved into place only when complete: an error leaves no partial output.
"""

from collections import Counter
from dataclasses import dataclass, field
import os
from pathlib import Path
import shutil
import sqlite3
import struct
import sys
import tempfile
import time
from typing import Any, Callable, cast, Dict, List, Optional, Sequence, Tuple, Type, Union

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference import check_output_kind
from disdepth_core.inference import RelativeModelError
from disdepth_core.inference.base import DepthEstimator
from disdepth_core.rosmsg import ConversionError
from disdepth_core.rosmsg import nearest_stamp
from disdepth_core.rosmsg import stamp_ns
from disdepth_ros import pipeline
from disdepth_ros.pipeline import OutputOptions

IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
CLOUD_TYPE = 'sensor_msgs/msg/PointCloud2'
STORAGES = ('sqlite3', 'mcap')
# output key (as the node's) -> message type
OUTPUT_TYPES = {'depth': IMAGE_TYPE, 'depth_camera_info': INFO_TYPE, 'confidence': IMAGE_TYPE,
                'colorized': IMAGE_TYPE, 'points': CLOUD_TYPE}
DEFAULT_SYNC_TOLERANCE_S = 0.5


class BagError(RuntimeError):
    """The bag cannot be processed; the message names the problem and what to do."""


def _read_errors() -> Tuple[Type[BaseException], ...]:
    """Exceptions ``rosbags`` lets through for unreadable, truncated or corrupt bags."""
    from rosbags.highlevel import AnyReaderError
    from rosbags.rosbag2 import ReaderError
    from rosbags.serde import SerdeError
    errors: List[Type[BaseException]] = [
        AnyReaderError, ReaderError, SerdeError, sqlite3.DatabaseError, struct.error,
        UnicodeDecodeError, OverflowError, MemoryError, EOFError]
    try:
        import apsw
    except ImportError:
        pass
    else:
        errors.append(apsw.Error)
    return tuple(errors)


@dataclass(frozen=True)
class BagOptions:
    """
    What ``disdepth bag`` does (the command-line options, as data).

    :param image_topic: the image topic (sensor_msgs/Image or CompressedImage)
    :param camera_info_topic: its CameraInfo topic; None: ``<image namespace>/camera_info`` when
        the bag has it
    :param storage: output storage plugin, 'sqlite3' or 'mcap'; None: the input's
    :param points: also write ``<ns>/points``
    :param colorized: also write ``<ns>/depth/colorized``
    :param namespace: namespace of the output topics; None: the image topic's namespace
    :param fov_deg: fallback horizontal field of view (degrees) when no CameraInfo matches
    :param intrinsics: fallback intrinsics when no CameraInfo matches (rescaled to the image)
    :param sync_tolerance_s: largest |image stamp - camera info stamp| accepted, seconds
    :param outputs: encoding, depth range, confidence threshold, cloud decimation,
        colourisation and relative mode, as the node's parameters of the same names
    :param overwrite: replace an existing output bag
    :param progress: show a progress bar on stderr
    """

    image_topic: str
    camera_info_topic: Optional[str] = None
    storage: Optional[str] = None
    points: bool = False
    colorized: bool = False
    namespace: Optional[str] = None
    fov_deg: Optional[float] = None
    intrinsics: Optional[CameraIntrinsics] = None
    sync_tolerance_s: float = DEFAULT_SYNC_TOLERANCE_S
    outputs: OutputOptions = OutputOptions()
    overwrite: bool = False
    progress: bool = True


@dataclass
class BagSummary:
    """
    What ``disdepth bag`` wrote.

    :param output: the output bag directory
    :param storage: its storage plugin
    :param images: images read (= depth frames written)
    :param copied: input messages copied
    :param topics: output key, as the node's ('depth', 'depth_camera_info', 'confidence',
        'points', 'colorized') -> topic
    :param intrinsics_sources: 'exact' / 'nearest' / 'fallback' -> frame count
    :param seconds: wall time
    :param infer_ms: mean estimator time per frame
    """

    output: Path
    storage: str
    images: int
    copied: int
    topics: Dict[str, str]
    intrinsics_sources: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    infer_ms: float = 0.0


def _normalise_namespace(ns: str) -> str:
    ns = '/' + ns.strip().strip('/')
    return '' if ns == '/' else ns


def _base_topic(image_topic: str, msgtype: str) -> str:
    """Return the image_transport base topic (``/cam/img/compressed`` -> ``/cam/img``)."""
    if msgtype == COMPRESSED_TYPE and image_topic.rstrip('/').endswith('/compressed'):
        return image_topic.rstrip('/')[:-len('/compressed')]
    return image_topic


def _parent(topic: str) -> str:
    return topic.rstrip('/').rsplit('/', 1)[0]


def output_topics(namespace: str, options: BagOptions) -> Dict[str, str]:
    """
    Output topic names in ``namespace`` (the node's relative names, resolved).

    :param namespace: e.g. ``/cam``
    :param options: which outputs (points, colourised) and the mode (relative)
    :return: output key (as the node's) -> topic
    """
    ns = _normalise_namespace(namespace)
    keys = ['depth', 'depth_camera_info', 'confidence'] + (['points'] if options.points else [])
    keys += ['colorized'] if options.colorized else []
    return {k: f'{ns}/{t}' for k, t in pipeline.output_topics(options.outputs, keys).items()}


def _fmt_stamp(ns: int) -> str:
    return f'{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}'


def detect_storage(path: Path) -> str:
    """
    Storage plugin of an input bag ('sqlite3' or 'mcap').

    :param path: a bag directory or a ``.db3`` / ``.mcap`` file
    :return: the plugin name (sqlite3 when it cannot be told)
    """
    if path.is_file():
        return 'mcap' if path.suffix == '.mcap' else 'sqlite3'
    meta = path / 'metadata.yaml'
    if meta.is_file() and 'storage_identifier: mcap' in meta.read_text(errors='replace'):
        return 'mcap'
    return 'mcap' if any(path.glob('*.mcap')) else 'sqlite3'


class _InfoIndex:
    """CameraInfo messages sorted by header stamp, matched to image stamps."""

    def __init__(self, items: Sequence[Tuple[int, Any]]) -> None:
        ordered = sorted(items, key=lambda x: x[0])
        self.stamps = [s for s, _ in ordered]
        self.msgs = [m for _, m in ordered]

    def __len__(self) -> int:
        return len(self.stamps)

    def match(self, stamp: int, tolerance_ns: int) -> Tuple[Optional[Any], Optional[int]]:
        """
        Find the CameraInfo for an image stamp: exact, else nearest within the tolerance.

        :return: (message or None, |offset| in ns of the nearest one, None when there is none)
        """
        best, offset = nearest_stamp(self.stamps, stamp)
        if best is None or offset is None:
            return None, None
        return (self.msgs[best] if offset <= tolerance_ns else None), offset


def _topic_list(connections: Sequence[Any]) -> str:
    seen = sorted({(c.topic, c.msgtype) for c in connections})
    return ', '.join(f'{t} ({m})' for t, m in seen) or '(none)'


class _Messages:
    """Builds rosbags messages of the Kilted type store from the pipeline's field dicts."""

    def __init__(self) -> None:
        from rosbags.typesys import get_typestore
        from rosbags.typesys import Stores
        self.store = get_typestore(Stores.ROS2_KILTED)
        t = self.store.types
        self.Header = t['std_msgs/msg/Header']
        self.Time = t['builtin_interfaces/msg/Time']
        self.Image = t[IMAGE_TYPE]
        self.CameraInfo = t[INFO_TYPE]
        self.Roi = t['sensor_msgs/msg/RegionOfInterest']
        self.PointCloud2 = t[CLOUD_TYPE]
        self.PointField = t['sensor_msgs/msg/PointField']

    def header(self, stamp: int, frame_id: str) -> Any:
        return self.Header(stamp=self.Time(sec=stamp // 1_000_000_000,
                                           nanosec=stamp % 1_000_000_000),
                           frame_id=str(frame_id))

    def image(self, header: Any, f: Dict[str, Any]) -> Any:
        return self.Image(header=header, height=f['height'], width=f['width'],
                          encoding=f['encoding'], is_bigendian=int(f['is_bigendian']),
                          step=f['step'], data=np.frombuffer(f['data'], np.uint8))

    def camera_info(self, header: Any, f: Dict[str, Any]) -> Any:
        return self.CameraInfo(
            header=header, height=f['height'], width=f['width'],
            distortion_model=f['distortion_model'], d=np.asarray(f['d'], np.float64),
            k=np.asarray(f['k'], np.float64), r=np.asarray(f['r'], np.float64),
            p=np.asarray(f['p'], np.float64), binning_x=f['binning_x'],
            binning_y=f['binning_y'], roi=self.Roi(**f['roi']))

    def cloud(self, header: Any, f: Dict[str, Any]) -> Any:
        fields = [self.PointField(name=n, offset=o, datatype=d, count=c)
                  for n, o, d, c in f['fields']]
        return self.PointCloud2(header=header, height=f['height'], width=f['width'],
                                fields=fields, is_bigendian=bool(f['is_bigendian']),
                                point_step=f['point_step'], row_step=f['row_step'],
                                data=np.frombuffer(f['data'], np.uint8),
                                is_dense=bool(f['is_dense']))

    def message(self, msgtype: str, header: Any, f: Dict[str, Any]) -> Any:
        builders = {IMAGE_TYPE: self.image, INFO_TYPE: self.camera_info,
                    CLOUD_TYPE: self.cloud}
        return builders[msgtype](header, f)

    def serialize(self, msg: Any) -> bytes:
        return self.store.serialize_cdr(msg, msg.__msgtype__)


def _open_reader(path: Path) -> Any:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore
    from rosbags.typesys import Stores
    if not path.exists():
        raise BagError(f'input bag {path} does not exist')
    if path.suffix == '.bag':
        raise BagError(f'{path} is a ROS 1 bag; convert it first: rosbags-convert --src {path} '
                       '--dst <rosbag2 dir>')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        files = sorted(p.name for p in path.glob('*') if p.suffix in ('.db3', '.mcap'))
        hint = f'; pass the storage file itself ({files[0]})' if files else ''
        raise BagError(f'{path} is not a rosbag2 directory: it has no metadata.yaml{hint}')
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED))
        reader.open()
    except _read_errors() as exc:
        raise BagError(f'cannot read bag {path}: {exc} (is it truncated or corrupt? a bag still '
                       'being recorded, or copied while recording, is incomplete)') from None
    return reader


class _NoProgress:
    """Stand-in for a tqdm bar (tqdm is a training dependency, optional on a robot)."""

    def update(self, n: int = 1) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""


def _progress(total: int, enabled: bool) -> Any:
    """Return a tqdm progress bar on stderr, or a silent stand-in (disabled, or no tqdm)."""
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, unit='frame', desc='disdepth bag', file=sys.stderr,
                dynamic_ncols=True)


def _output_qos() -> Any:
    """Offered QoS recorded for the new topics: the node's (reliable, volatile, keep last 2)."""
    from rosbags.interfaces import Qos
    from rosbags.interfaces import QosDurability
    from rosbags.interfaces import QosHistory
    from rosbags.interfaces import QosLiveliness
    from rosbags.interfaces import QosReliability
    from rosbags.interfaces import QosTime
    default = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 2, QosReliability.RELIABLE, QosDurability.VOLATILE,
               default, default, QosLiveliness.AUTOMATIC, default, False)


def _connection_kwargs(conn: Any, reader: Any) -> Dict[str, Any]:
    """Writer.add_connection arguments that reproduce an input connection."""
    ext = conn.ext
    kwargs: Dict[str, Any] = {
        'serialization_format': getattr(ext, 'serialization_format', 'cdr'),
        'offered_qos_profiles': list(getattr(ext, 'offered_qos_profiles', []) or []),
    }
    if conn.msgdef.data and conn.digest:
        kwargs.update(msgdef=conn.msgdef.data, rihs01=conn.digest)
    else:
        kwargs['typestore'] = reader.typestore
    return kwargs


def process_bag(input_path: Union[str, Path], output_path: Union[str, Path],
                options: BagOptions,
                estimator: Union[DepthEstimator, Callable[[], DepthEstimator]],
                log: Callable[[str], None] = print) -> BagSummary:
    """
    Copy a bag and add depth, camera info, confidence (and points) for every image.

    :param input_path: rosbag2 directory, or a ``.db3`` / ``.mcap`` file
    :param output_path: the output bag directory (must not exist unless ``overwrite``)
    :param options: what to do
    :param estimator: a :class:`DepthEstimator`, or a zero-argument factory called once the bag
        has been checked (so a bad bag fails before the model loads)
    :param log: where to print the one-line summary
    :return: what was written
    :raises BagError: for a missing topic, unsupported encoding, unreadable bag, missing
        intrinsics or an existing output
    """
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer
    t0 = time.monotonic()
    src = Path(input_path)
    out = Path(output_path)
    if options.storage is not None and options.storage not in STORAGES:
        raise BagError(f'unknown storage {options.storage!r}; choose one of {", ".join(STORAGES)}')
    problems = options.outputs.problems()
    if problems:
        raise BagError('invalid output options: ' + '; '.join(problems))
    if options.sync_tolerance_s < 0:
        raise BagError(f'sync tolerance must be >= 0 s, got {options.sync_tolerance_s}')
    if options.outputs.relative_output and (options.points or options.colorized):
        raise BagError('a relative output has no unit: it is written without points and '
                       'without a colourised depth (drop --points / --colorized)')
    if out.exists() and not options.overwrite:
        raise BagError(f'output {out} exists; choose another path or pass --overwrite')
    if src.exists() and out.exists() and out.resolve() == src.resolve():
        raise BagError('the output bag must differ from the input bag')
    storage = options.storage or detect_storage(src)
    errors = _read_errors()
    reader = _open_reader(src)
    try:
        conns = reader.connections
        image_conns = [c for c in conns if c.topic == options.image_topic]
        if not image_conns:
            raise BagError(f'image topic {options.image_topic!r} is not in {src}; its topics: '
                           f'{_topic_list(conns)}')
        image_type = image_conns[0].msgtype
        if image_type not in (IMAGE_TYPE, COMPRESSED_TYPE):
            raise BagError(f'topic {options.image_topic} has type {image_type}, expected '
                           f'{IMAGE_TYPE} or {COMPRESSED_TYPE}')
        base = _base_topic(options.image_topic, image_type)
        info_topic = options.camera_info_topic
        if info_topic is not None:
            info_conns = [c for c in conns if c.topic == info_topic]
            if not info_conns:
                raise BagError(f'camera info topic {info_topic!r} is not in {src}; its topics: '
                               f'{_topic_list(conns)}')
            if info_conns[0].msgtype != INFO_TYPE:
                raise BagError(f'topic {info_topic} has type {info_conns[0].msgtype}, expected '
                               f'{INFO_TYPE}')
        else:
            guess = f'{_parent(base)}/camera_info'
            info_conns = [c for c in conns if c.topic == guess and c.msgtype == INFO_TYPE]
            info_topic = guess if info_conns else None
        have_fallback = options.fov_deg is not None or options.intrinsics is not None
        if not info_conns and not have_fallback:
            info_topics = sorted({c.topic for c in conns if c.msgtype == INFO_TYPE})
            raise BagError(f'no camera info for {options.image_topic}: '
                           f'{_parent(base)}/camera_info is not in the bag '
                           f'(CameraInfo topics: {", ".join(info_topics) or "none"}); pass '
                           '--camera-info-topic, or --fov / --intrinsics')
        namespace = (_normalise_namespace(options.namespace) if options.namespace is not None
                     else _normalise_namespace(_parent(base)))
        topics = output_topics(namespace, options)
        clash = sorted(set(topics.values()) & {c.topic for c in conns})
        if clash:
            raise BagError(f'the input bag already has {", ".join(clash)}; write the outputs to '
                           'another namespace with --namespace')
        expected = sum(c.msgcount for c in image_conns)
        if expected == 0:
            raise BagError(f'topic {options.image_topic} has no messages in {src}')

        infos: List[Tuple[int, Any]] = []
        try:
            # (an empty connection list would mean "all topics" to rosbags)
            for conn, _, raw in (reader.messages(connections=info_conns) if info_conns else ()):
                msg = reader.deserialize(raw, conn.msgtype)
                infos.append((stamp_ns(msg.header), msg))
        except errors as exc:
            raise BagError(f'cannot read camera info from {src}: {exc} (truncated or corrupt '
                           'bag?)') from None
        index = _InfoIndex(infos)

        est = cast(DepthEstimator, estimator) if hasattr(estimator, 'predict') else estimator()
        try:
            check_output_kind(est.spec, options.outputs.relative_output)
        except RelativeModelError as exc:
            raise BagError(str(exc)) from None
        build = _Messages()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.partial', dir=out.parent))
        try:
            summary = _write(reader, src, tmp / out.name, storage, options, est, build,
                             image_conns, index, info_topic, topics, expected, errors,
                             StoragePlugin, Writer)
            if out.exists():
                os.rename(out, tmp / 'replaced')
            os.rename(tmp / out.name, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        reader.close()
    summary.output = out
    summary.seconds = time.monotonic() - t0
    sources = ', '.join(f'{v} {k}' for k, v in sorted(summary.intrinsics_sources.items()))
    log(f'disdepth bag: wrote {out} ({storage}): {summary.images} depth frames on '
        f'{topics["depth"]} (+ {", ".join(t for r, t in topics.items() if r != "depth")}), '
        f'{summary.copied} input messages copied; intrinsics: {sources}; '
        f'{summary.seconds:.1f} s, {summary.infer_ms:.1f} ms/frame inference')
    return summary


def _write(reader: Any, src: Path, path: Path, storage: str, options: BagOptions,
           est: DepthEstimator, build: _Messages, image_conns: List[Any], index: _InfoIndex,
           info_topic: Optional[str], topics: Dict[str, str], expected: int,
           errors: Tuple[Type[BaseException], ...], storage_plugin: Any,
           writer_cls: Any) -> BagSummary:
    """Write the output bag at ``path`` (the temporary location)."""
    plugin = storage_plugin.MCAP if storage == 'mcap' else storage_plugin.SQLITE3
    tolerance_ns = int(round(options.sync_tolerance_s * 1e9))
    image_ids = {c.id for c in image_conns}
    sources: Counter = Counter()
    infer_ms = 0.0
    n_images = 0
    copied = 0
    with writer_cls(path, version=9, storage_plugin=plugin) as writer:
        writer.set_custom_data('disdepth.source', str(src.name))
        writer.set_custom_data('disdepth.image_topic', options.image_topic)
        writer.set_custom_data('disdepth.model', str(getattr(est.spec, 'name', '')))
        writer.set_custom_data('disdepth.engine', str(getattr(est.info, 'engine', '')))
        out_conns: Dict[Any, Any] = {}
        by_input: Dict[int, Any] = {}
        for conn in reader.connections:
            kwargs = _connection_kwargs(conn, reader)
            key = (conn.topic, conn.msgtype, kwargs['serialization_format'],
                   repr(kwargs['offered_qos_profiles']))
            if key not in out_conns:
                out_conns[key] = writer.add_connection(conn.topic, conn.msgtype, **kwargs)
            by_input[conn.id] = out_conns[key]
        known = {c.msgtype: c for c in reader.connections if c.msgdef.data and c.digest}
        qos = [_output_qos()]
        new: Dict[str, Any] = {}
        for role, topic in topics.items():
            msgtype = OUTPUT_TYPES[role]
            if msgtype in known:
                new[role] = writer.add_connection(topic, msgtype,
                                                  msgdef=known[msgtype].msgdef.data,
                                                  rihs01=known[msgtype].digest,
                                                  offered_qos_profiles=qos)
            else:
                new[role] = writer.add_connection(topic, msgtype, typestore=build.store,
                                                  offered_qos_profiles=qos)
        bar = _progress(expected, options.progress)
        try:
            for conn, t, raw in reader.messages(connections=reader.connections):
                writer.write(by_input[conn.id], t, raw)
                copied += 1
                if conn.id not in image_ids:
                    continue
                msg = reader.deserialize(raw, conn.msgtype)
                frame, source = _process(msg, n_images, options, est, index, info_topic,
                                         tolerance_ns)
                sources[source[0]] += 1
                infer_ms += float(frame.timings_ms.get('infer', 0.0))
                header = build.header(stamp_ns(msg.header), msg.header.frame_id)
                fields = pipeline.output_fields(frame, source[1], options.outputs, list(new))
                for role, conn_out in new.items():
                    writer.write(conn_out, t, build.serialize(
                        build.message(OUTPUT_TYPES[role], header, fields[role])))
                n_images += 1
                bar.update(1)
        except errors as exc:
            raise BagError(f'cannot read {src} after {n_images} of {expected} images: {exc} '
                           '(truncated or corrupt bag?); no output written') from None
        finally:
            bar.close()
        if n_images != expected:
            raise BagError(f'{src} is truncated or corrupt: its index lists {expected} images on '
                           f'{options.image_topic} but only {n_images} could be read; no output '
                           'written')
    return BagSummary(output=path, storage=storage, images=n_images, copied=copied,
                      topics=dict(topics), intrinsics_sources=dict(sources),
                      infer_ms=infer_ms / max(n_images, 1))


def _process(msg: Any, i: int, options: BagOptions, est: DepthEstimator, index: _InfoIndex,
             info_topic: Optional[str], tolerance_ns: int
             ) -> Tuple[pipeline.FrameDepth, Tuple[str, Any]]:
    """Decode one image, find its intrinsics and run the estimator."""
    stamp = stamp_ns(msg.header)
    where = f'{options.image_topic} frame {i} (stamp {_fmt_stamp(stamp)})'
    try:
        rgb = pipeline.decode_image(msg)
    except ConversionError as exc:
        raise BagError(f'{where}: {exc}') from None
    h, w = rgb.shape[:2]
    info, offset = index.match(stamp, tolerance_ns)
    try:
        if info is not None:
            source = ('exact' if offset == 0 else 'nearest', info)
            intrinsics = pipeline.intrinsics_for(w, h, info=info)
        elif options.intrinsics is not None or options.fov_deg is not None:
            # no intrinsics: the elif made sure that fov_deg is given
            fallback = options.intrinsics or CameraIntrinsics.from_fov(
                cast(float, options.fov_deg), w, h)
            source = ('fallback', None)
            intrinsics = pipeline.intrinsics_for(w, h, fallback=fallback)
        else:
            nearest = ('none on ' + str(info_topic) if offset is None
                       else f'the nearest on {info_topic} is {offset / 1e9:.3f} s away')
            raise BagError(f'{where}: no camera info within {options.sync_tolerance_s} s '
                           f'({nearest}); raise --sync-tolerance or pass --fov / --intrinsics')
        frame = pipeline.estimate(est, rgb, intrinsics)
    except ValueError as exc:
        raise BagError(f'{where}: {exc}') from None
    return pipeline.gate(frame, est.spec, options.outputs), source
