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
Several cameras through one model in one node: per-camera slots, batches grouped by image size.

With the ``cameras`` parameter set, the node owns one
:class:`~disdepth_ros.camera_input.CameraInput` per name (``<name>/image``,
``<name>/camera_info``) and one set of outputs per name (``<name>/depth``, ...).  Each camera
has its own latest-frame slot in :class:`FrameSlots`, its own intrinsics, its own
:class:`~disdepth_ros.diagnostics.NodeStats` and its own ``/diagnostics`` status.

The worker takes every frame that is ready (after a first frame it waits at most
:data:`GATHER_S` for the other cameras), groups the frames by image size
(:func:`group_by_size`) and runs each group as one ``predict_batch`` call.  A camera that stops
only leaves its slot empty: the others never wait for it longer than :data:`GATHER_S`.  A model
whose graph takes one image per call (an ONNX file exported without ``--dynamic-batch``) is run
image by image, with one warning that names the re-export command.  When a batch fails, its
frames are retried one by one, so that one bad frame is the only one dropped.

:class:`MultiCameraMixin` is the node side (mixed into
:class:`~disdepth_ros.depth_node.DepthNodeMixin`); the rest is pure Python.
"""

import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type
from typing import cast
from typing import TypeVar

from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.msg import KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

from disdepth_core.rosmsg import ConversionError
from disdepth_ros import pipeline
from disdepth_ros.camera_input import CameraInput
from disdepth_ros.diagnostics import NodeStats
from disdepth_ros.node_config import NodeConfig
from disdepth_ros.pipeline import output_topics
from disdepth_ros.sync import Frame

# Seconds the worker waits, after the first ready frame, for the other cameras' frames.
GATHER_S = 0.01
# The command a fixed-batch ONNX model is re-exported with.
REEXPORT_HINT = 'disdepth export CHECKPOINT OUT.onnx --dynamic-batch'

T = TypeVar('T')


def camera_output_topics(name: str, topics: Dict[str, str]) -> Dict[str, str]:
    """
    Prefix the outputs' topics with a camera name.

    :param name: the camera name (``front``)
    :param topics: output key -> topic, as :func:`pipeline.output_topics` names them
    :return: output key -> ``<name>/<topic>``
    """
    return {key: f'{name}/{topic}' for key, topic in topics.items()}


def output_key(name: str, key: str) -> str:
    """Key of a camera's output among the node's publishers (``front/depth``)."""
    return f'{name}/{key}'


def group_by_size(items: Iterable[T], size: Callable[[T], Tuple[int, int]],
                  limit: Optional[int] = None) -> List[List[T]]:
    """
    Group items by image size, in order of first appearance, each group at most ``limit`` long.

    :param items: the items
    :param size: an item's (height, width)
    :param limit: largest group (None = unlimited)
    :return: the groups; items keep their order within a group
    """
    by_size: Dict[Tuple[int, int], List[T]] = {}
    for item in items:
        by_size.setdefault(size(item), []).append(item)
    groups = []
    for group in by_size.values():
        step = limit if limit and limit > 0 else len(group)
        groups += [group[i:i + step] for i in range(0, len(group), step)]
    return groups


class FrameSlots:
    """
    One latest-frame slot per camera behind one condition (the worker takes all ready frames).

    :param names: the camera names
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._cond = threading.Condition()
        self._frames: Dict[str, Frame] = {}
        self._closed = False

    def put(self, name: str, frame: Frame) -> bool:
        """
        Offer a camera's frame.

        :param name: the camera
        :param frame: its new frame
        :return: True when it replaced a frame of that camera that was never processed
        """
        with self._cond:
            replaced = name in self._frames
            self._frames[name] = frame
            self._cond.notify()
            return replaced

    def take_all(self, timeout: Optional[float] = None,
                 gather: float = GATHER_S) -> Dict[str, Frame]:
        """
        Wait for a frame, give the other cameras ``gather`` seconds more, take every frame.

        :param timeout: seconds to wait for a first frame (None = until one arrives or closed)
        :param gather: seconds to wait after the first frame for the cameras still missing
        :return: camera -> frame, in camera order (empty on timeout or when closed)
        """
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._frames) or self._closed, timeout):
                return {}
            if not self._closed and len(self._frames) < len(self.names):
                self._cond.wait_for(
                    lambda: len(self._frames) == len(self.names) or self._closed, gather)
            if self._closed:
                return {}
            frames = {n: self._frames[n] for n in self.names if n in self._frames}
            self._frames = {}
            return frames

    def close(self) -> None:
        """Wake the worker for shutdown; later calls of :meth:`take_all` return nothing."""
        with self._cond:
            self._closed = True
            self._frames = {}
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        with self._cond:
            return self._closed


class _Ready:
    """A decoded frame of one camera, waiting for its batch."""

    def __init__(self, name: str, frame: Frame, rgb: Any, intrinsics: Any, info: Any,
                 wanted: List[str]) -> None:
        self.name, self.frame, self.rgb = name, frame, rgb
        self.intrinsics, self.info, self.wanted = intrinsics, info, wanted

    @property
    def size(self) -> Tuple[int, int]:
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))


class MultiCameraMixin:
    """
    The ``cameras`` mode of the depth node (see the module docstring).

    Expects the attributes and methods of :class:`~disdepth_ros.depth_node.DepthNodeMixin`
    (``_lock``, ``_config``, ``_estimator``, ``_publishers_by_key``, ``_intrinsics``,
    ``_publish``, ...), declared here for the type checker.
    """

    _lock: threading.Lock
    _config: Optional[NodeConfig]
    _estimator: Any
    _publishers_by_key: Dict[str, Any]
    _inputs: List[CameraInput]
    _inputs_group: Any
    _slot: Any
    _worker: Optional[threading.Thread]
    _diagnostics_timer: Any
    get_logger: Callable[[], Any]
    create_timer: Callable[..., Any]
    get_fully_qualified_name: Callable[[], str]
    _intrinsics: Callable[..., Tuple[Any, Any]]
    _publish: Callable[..., List[str]]
    _hand_over: Callable[..., None]
    _publish_diagnostics: Callable[[], None]

    def _init_cameras(self) -> None:
        self._camera_stats: Dict[str, NodeStats] = {}
        self._last_size: Dict[str, Tuple[int, int]] = {}
        self._resolution_changes: Dict[str, int] = {}
        self._batch_warned: Any = None

    # ----------------------------------------------------------------- configure / activate

    def _camera_publishers(self, config: NodeConfig, create: Callable[[str, str], Any]
                           ) -> Dict[str, Any]:
        """
        Create every camera's publishers and statistics.

        :param config: the configuration (``cameras`` set)
        :param create: (output key, topic) -> publisher
        :return: ``<camera>/<key>`` -> publisher
        """
        topics = output_topics(config.output_options())
        publishers = {}
        for name in config.cameras:
            for key, topic in camera_output_topics(name, topics).items():
                publishers[output_key(name, key)] = create(key, topic)
        self._camera_stats = {name: NodeStats() for name in config.cameras}
        self._last_size, self._resolution_changes = {}, dict.fromkeys(config.cameras, 0)
        return publishers

    def _activate_cameras(self, config: NodeConfig) -> None:
        """Subscribe to every camera and start the batching worker."""
        slots = FrameSlots(config.cameras)
        self._slot = slots
        self._worker = threading.Thread(target=self._work_cameras, args=(slots,),
                                        name='disdepth-inference', daemon=True)
        self._worker.start()
        self._inputs = []
        for name in config.cameras:
            camera = CameraInput(cast(Any, self), config, self._camera_stats[name],
                                 self._camera_offer(slots, name), self._camera_wanted_fn(name),
                                 self._inputs_group, prefix=name)
            self._inputs.append(camera)
            camera.start()
            self.get_logger().info(f'camera {name}: processing {camera.image_topic} with '
                                   f'{camera.info_topic}')
        self._diagnostics_timer = self.create_timer(
            config.diagnostics_period, self._publish_diagnostics,
            callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f'{len(config.cameras)} cameras, batched through one model')

    def _camera_offer(self, slots: FrameSlots, name: str) -> Callable[[Frame], None]:
        stats = self._camera_stats[name]

        def offer(frame: Frame) -> None:
            if slots.put(name, frame):
                stats.drop('superseded')
        return offer

    def _camera_wanted_fn(self, name: str) -> Callable[[], List[str]]:
        return lambda: self._camera_wanted(name)

    def _camera_wanted(self, name: str) -> List[str]:
        """Return the outputs of camera ``name`` that have subscribers (``depth``, ...)."""
        prefix = output_key(name, '')
        return [key[len(prefix):] for key, pub in list(self._publishers_by_key.items())
                if key.startswith(prefix) and pub.get_subscription_count() > 0]

    # ----------------------------------------------------------------- worker

    def _work_cameras(self, slots: FrameSlots) -> None:
        while True:
            frames = slots.take_all(timeout=0.5)
            if not frames:
                if slots.closed:
                    return
                continue
            self._process_cameras(frames)

    def _prepare(self, name: str, frame: Frame, config: NodeConfig) -> Optional[_Ready]:
        """Decode a camera's frame and find its intrinsics; None when it is dropped."""
        stats = self._camera_stats[name]
        wanted = self._camera_wanted(name)
        if not wanted:
            stats.drop('no_subscribers')
            return None
        try:
            rgb = pipeline.decode_image(frame.image)
        except ConversionError as exc:
            stats.drop('bad_image')
            stats.error(f'bad image: {exc}')
            self.get_logger().warning(f'camera {name}: dropping image: {exc}',
                                      throttle_duration_sec=5.0)
            return None
        height, width = rgb.shape[:2]
        last = self._last_size.get(name)
        self._last_size[name] = (height, width)
        if last is not None and last != (height, width):
            self._resolution_changes[name] += 1
            stats.note('resolution_changes', str(self._resolution_changes[name]))
            self.get_logger().warning(
                f'camera {name} changed resolution from {last[1]}x{last[0]} to '
                f'{width}x{height} ({self._resolution_changes[name]} changes): its frames are '
                'batched only with frames of the same size', throttle_duration_sec=5.0)
        try:
            intrinsics, info = self._intrinsics(frame, width, height, config)
        except (ConversionError, ValueError) as exc:
            stats.drop('bad_camera_info')
            stats.error(f'bad camera_info: {exc}')
            self.get_logger().warning(f'camera {name}: dropping image: unusable camera_info: '
                                      f'{exc}', throttle_duration_sec=5.0)
            return None
        return _Ready(name, frame, rgb, intrinsics, info, wanted)

    def _batch_limit(self, estimator: Any) -> Optional[int]:
        """Largest batch the model takes (None = any); warn once for a one-image model."""
        limit = getattr(estimator, 'max_batch', None)
        if limit is not None and limit < 2 and self._batch_warned is not estimator:
            self._batch_warned = estimator
            self.get_logger().warning(
                f'{estimator.info.model_path} takes one image per call (fixed batch axis): '
                'the cameras run one after another, not as one batch. Re-export it with a '
                f'dynamic batch axis: `{REEXPORT_HINT}`')
        return limit

    def _estimate_group(self, estimator: Any, group: List[_Ready], limit: Optional[int]
                        ) -> List[Tuple[_Ready, Optional['pipeline.FrameDepth'], float]]:
        """Run one size group; return (item, depth or None when it failed, infer ms)."""
        if len(group) > 1 and (limit is None or limit > 1):
            start = time.perf_counter()
            try:
                depths = pipeline.estimate_batch(estimator, [g.rgb for g in group],
                                                 [g.intrinsics for g in group])
                ms = (time.perf_counter() - start) * 1000.0
                for item in group:
                    self._camera_stats[item.name].note('batch_size', str(len(group)))
                return [(item, depth, ms) for item, depth in zip(group, depths)]
            except _frame_errors() as exc:
                self.get_logger().warning(f'a batch of {len(group)} failed ({exc}); running '
                                          'its frames one by one', throttle_duration_sec=5.0)
        out: List[Tuple[_Ready, Optional['pipeline.FrameDepth'], float]] = []
        for item in group:
            start = time.perf_counter()
            try:
                depth: Optional['pipeline.FrameDepth'] = pipeline.estimate(
                    estimator, item.rgb, item.intrinsics)
            except _frame_errors() as exc:
                stats = self._camera_stats[item.name]
                stats.drop('inference_error')
                stats.error(f'inference failed: {exc}')
                self.get_logger().error(f'camera {item.name}: inference failed: {exc}',
                                        throttle_duration_sec=5.0)
                depth = None
            self._camera_stats[item.name].note('batch_size', '1')
            out.append((item, depth, (time.perf_counter() - start) * 1000.0))
        return out

    def _process_cameras(self, frames: Dict[str, Frame]) -> None:
        """Decode every camera's frame, run them in size groups, publish each camera's outputs."""
        taken = time.monotonic()
        with self._lock:
            config, estimator = self._config, self._estimator
        if config is None or estimator is None:
            return
        ready = [item for item in (self._prepare(name, frame, config)
                                   for name, frame in frames.items()) if item is not None]
        limit = self._batch_limit(estimator)
        for group in group_by_size(ready, lambda item: item.size, limit):
            for item, depth, infer_ms in self._estimate_group(estimator, group, limit):
                if depth is not None:
                    self._publish_camera(item, depth, infer_ms, config, estimator, taken)

    def _publish_camera(self, item: _Ready, depth: 'pipeline.FrameDepth', infer_ms: float,
                        config: NodeConfig, estimator: Any, taken: float) -> None:
        result = pipeline.gate(depth, estimator.spec, config.output_options())
        self._hand_over(self._camera_stats[item.name], item.frame, result, item.info, config,
                        item.wanted, infer_ms, taken, camera=item.name)

    # ----------------------------------------------------------------- diagnostics

    def _camera_statuses(self, static: List[Tuple[str, str]], hardware_id: str
                         ) -> List[DiagnosticStatus]:
        """One status per camera: ``<node>: depth <camera>``."""
        statuses = []
        topics = {camera.prefix: camera for camera in self._inputs}
        for name, stats in self._camera_stats.items():
            values = [('camera', name)]
            camera = topics.get(name)
            if camera is not None:
                values += [('image_topic', camera.image_topic),
                           ('camera_info_topic', camera.info_topic)]
            values += static
            values.append(('outputs_subscribed', ','.join(self._camera_wanted(name)) or 'none'))
            values.append(('resolution_changes', str(self._resolution_changes.get(name, 0))))
            report = stats.report(values)
            statuses.append(DiagnosticStatus(
                level=bytes([report.level]),
                name=f'{self.get_fully_qualified_name()}: depth {name}',
                message=report.message, hardware_id=hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in report.values]))
        return statuses


def _frame_errors() -> Tuple[Type[BaseException], ...]:
    """Return the node's failures of one frame (imported late: the node imports this module)."""
    from disdepth_ros.depth_node import FRAME_ERRORS
    return FRAME_ERRORS
