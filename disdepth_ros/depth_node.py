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
The ``disdepth`` node: metric depth, camera info, organised point cloud and diagnostics.

Subscribes ``image`` (or ``image/compressed``) and ``camera_info`` (reliability adapted to the
publishers by default), matches them by stamp, and hands the newest frame to an inference worker
thread (latest-frame policy: older unprocessed frames are dropped and counted).  The worker runs
the estimator and publishes ``depth``, ``depth/camera_info``, ``points``, ``depth/confidence``
and ``depth/colorized``, each only when it has subscribers (no subscriber on any output: no
inference at all), with the input image's header.  ``/diagnostics`` reports the engine, timings,
rates, the input QoS and every dropped frame.

:class:`DepthNodeMixin` holds all of it, in four steps that the managed node
(:mod:`disdepth_ros.lifecycle_node`) maps to its transitions: configure (validate the
parameters, load the model, create the publishers), activate (subscribe, start the worker),
deactivate (unsubscribe, finish the frame in progress, stop the worker; the model stays loaded)
and cleanup (release the model and the publishers).  :class:`DepthNode` runs configure and
activate at construction.  :func:`run` spins either node until SIGINT/SIGTERM and then shuts
down in order: no new frames, the frame in progress published completely, then the middleware.

The per-frame work is the shared pipeline (:mod:`disdepth_ros.pipeline`, also used by
``disdepth bag``); one camera's subscriptions and matching are a
:class:`~disdepth_ros.camera_input.CameraInput`.  Parameters: :mod:`disdepth_ros.node_config`;
QoS and the Fast DDS profile: :mod:`disdepth_ros.qos`.

Engines: the ``engine`` parameter takes the names of ``disdepth_core.inference`` (``auto``,
``onnxruntime``, ``torch``) and of its plug-ins (``DISDEPTH_EXTRA_ENGINES=name=module:function``,
read by ``create_estimator`` for every tool); the tests use one to run the node process with a
deterministic fake engine.  A relative model is refused unless ``relative_output`` is set.
"""

import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import cv2
from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.msg import KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import Executor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from sensor_msgs.msg import PointCloud2
from sensor_msgs.msg import PointField

from disdepth_core.inference import check_output_kind
from disdepth_core.inference import RelativeModelError
from disdepth_core.inference.base import DepthEstimator
from disdepth_core.rosmsg import CloudBuffer
from disdepth_core.rosmsg import ConversionError
from disdepth_core.rosmsg import fill_message
from disdepth_ros import pipeline
from disdepth_ros.camera_input import CameraInput
from disdepth_ros.diagnostics import NodeStats
from disdepth_ros.executor import InputExecutor
from disdepth_ros.multicam import MultiCameraMixin
from disdepth_ros.multicam import output_key
from disdepth_ros.node_config import ConfigError
from disdepth_ros.node_config import MODEL_PARAMETERS
from disdepth_ros.node_config import NodeConfig
from disdepth_ros.node_config import PARAMETER_NAMES
from disdepth_ros.node_config import PARAMETERS
from disdepth_ros.output_stage import OutputStage
from disdepth_ros.pipeline import output_topics
from disdepth_ros.qos import apply_fastdds_profile
from disdepth_ros.qos import to_qos_profile
from disdepth_ros.sync import Frame
from disdepth_ros.sync import LatestFrameSlot

NODE_NAME = 'disdepth'
EXTRA_ENGINES_ENV = 'DISDEPTH_EXTRA_ENGINES'

# output key -> message type (topics: pipeline.output_topics)
OUTPUT_TYPES: Dict[str, type] = {
    'depth': Image, 'depth_camera_info': CameraInfo, 'points': PointCloud2,
    'confidence': Image, 'colorized': Image,
}
INPUTS: Dict[str, Tuple[type, str]] = {
    'image': (Image, 'image'),
    'camera_info': (CameraInfo, 'camera_info'),
}
DIAGNOSTICS_TOPIC = '/diagnostics'

# Failures of one frame inside the estimator: the frame is dropped and counted, the node goes on.
FRAME_ERRORS = (ValueError, RuntimeError, TypeError, IndexError, ArithmeticError, cv2.error)
# Failures of loading a model.
LOAD_ERRORS = (RuntimeError, OSError, ValueError, ImportError)

EstimatorFactory = Callable[[NodeConfig], DepthEstimator]

# ONNX Runtime's idle worker threads busy-wait by default.  In the node they would spin on the
# cores that the middleware, the input callbacks and the output building need between two
# inferences (and that a robot's other nodes need): the node runs them passively.
ORT_SPINNING = os.environ.get('DISDEPTH_ORT_SPINNING', '0') == '1'

# Seconds the shutdown waits for reliable subscribers to acknowledge the last outputs.
ACK_TIMEOUT_S = 1.0
# Seconds deactivation waits for the frame in progress (a first TensorRT run can take long).
WORKER_JOIN_S = 60.0


class NodeStartupError(RuntimeError):
    """The node cannot start (invalid parameters, unusable model); the message says why."""


def create_estimator_for(config: NodeConfig) -> DepthEstimator:
    """
    Build the estimator the parameters ask for.

    :param config: node configuration (model, engine, device, input size)
    :return: the estimator
    :raises ModelLoadError: (and the other :data:`LOAD_ERRORS`) when it cannot be built
    """
    options = config.estimator_options()
    from disdepth_core.inference import create_estimator
    if _runs_on_onnxruntime(config):
        options.setdefault('spinning', ORT_SPINNING)
    return create_estimator(config.model or None, engine=config.engine, device=config.device,
                            **options)


def _runs_on_onnxruntime(config: NodeConfig) -> bool:
    """Whether the configured engine is ONNX Runtime (``auto`` with an ONNX model included)."""
    from disdepth_core.inference import AUTO_ENGINE_BY_SUFFIX
    from disdepth_core.inference import model_kind
    from disdepth_core.inference import ModelLoadError
    from disdepth_core.inference import resolve_model_path
    if config.engine != 'auto':
        return config.engine == 'onnxruntime'
    try:
        kind = model_kind(resolve_model_path(config.model or None))
    except (ModelLoadError, OSError, ValueError):   # create_estimator reports it
        return False
    return AUTO_ENGINE_BY_SUFFIX.get(kind) == 'onnxruntime'


def _keeping_arrays(msg_type: type) -> Any:
    """
    Create a message whose array fields keep an ``array.array`` as it is.

    rclpy's generated setters copy every value into a new ``array.array`` unless the message
    checks its fields (``check_fields=True``), in which case an ``array.array`` of the right
    type code is kept: the 10 MB point cloud is then not copied before ``publish`` (which
    copies it into the middleware once).  Older rosidl versions have no such option and keep
    the array whenever assertions are on.

    :param msg_type: message class
    :return: an empty message
    """
    try:
        return msg_type(check_fields=True)
    except AssertionError:
        return msg_type()


def _fill(msg: Any, fields: Mapping[str, Any]) -> Any:
    return fill_message(msg, fields, PointField)


class DepthNodeMixin(MultiCameraMixin):
    """
    The depth node's logic, shared by :class:`DepthNode` and the managed (lifecycle) node.

    Mixed into an rclpy ``Node`` subclass, which calls :meth:`_init_depth` once the ``Node``
    exists and then drives :meth:`configure_depth`, :meth:`activate_depth`,
    :meth:`deactivate_depth` and :meth:`cleanup_depth` (each is a no-op when its state is
    already reached).  The methods it uses from rclpy's ``Node`` are declared here for the type
    checker (see also :class:`~disdepth_ros.multicam.MultiCameraMixin`).
    """

    declare_parameter: Callable[..., Any]
    get_parameter: Callable[[str], Any]
    add_on_set_parameters_callback: Callable[
        [Callable[[List[Parameter]], SetParametersResult]], Any]
    create_publisher: Callable[..., Any]
    destroy_publisher: Callable[[Any], Any]
    destroy_timer: Callable[[Any], Any]
    get_clock: Callable[[], Any]

    def _init_depth(self, estimator_factory: EstimatorFactory) -> None:
        """
        Declare the parameters and set up the empty (unconfigured) state.

        :param estimator_factory: builds the estimator from the configuration
        """
        # rcl reads an empty list in a params file (`cameras: []`) as an unset override: the
        # declared default ([]) stands then
        overrides = getattr(self, '_parameter_overrides', {})
        for spec in PARAMETERS:
            unset = isinstance(spec.default, list) and spec.name in overrides \
                and overrides[spec.name].value is None
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description, read_only=not spec.live,
                dynamic_typing=isinstance(spec.default, (float, list))), ignore_override=unset)
        self._factory = estimator_factory
        self._lock = threading.Lock()
        self._config: Optional[NodeConfig] = None
        self._estimator: Optional[DepthEstimator] = None
        self._stats = NodeStats()
        self._slot = LatestFrameSlot()
        self._worker: Optional[threading.Thread] = None
        self._outputs: Optional[OutputStage] = None
        self._inputs: List[CameraInput] = []
        self._publishers_by_key: Dict[str, Any] = {}
        self._diagnostics_pub: Any = None
        self._diagnostics_timer: Any = None
        self._inputs_group = MutuallyExclusiveCallbackGroup()
        self._fallback_active = False
        self._init_cameras()
        self._thread_buffers = threading.local()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # ----------------------------------------------------------------- states

    @property
    def configured(self) -> bool:
        """Whether a model is loaded and the publishers exist."""
        with self._lock:
            return self._estimator is not None

    @property
    def active(self) -> bool:
        """Whether the node is subscribed and processing frames."""
        return self._worker is not None

    def configure_depth(self) -> None:
        """
        Validate the parameters, load the model and create the publishers.

        :raises NodeStartupError: for invalid parameters or a model that cannot be loaded
            (nothing is kept then)
        """
        if self.configured:
            return
        try:
            config = NodeConfig.from_values(self._parameter_values())
        except ConfigError as exc:
            raise NodeStartupError(str(exc)) from None
        estimator = self._load(config)
        try:
            check_output_kind(estimator.spec, config.relative_output)
        except RelativeModelError as exc:
            raise NodeStartupError(str(exc)) from None
        publishers = {key: self.create_publisher(OUTPUT_TYPES[key], topic,
                                                 to_qos_profile(config.qos[key]))
                      for key, topic in output_topics(config.output_options()).items()} \
            if not config.multi_camera else self._camera_publishers(
                config, lambda key, topic: self.create_publisher(
                    OUTPUT_TYPES[key], topic, to_qos_profile(config.qos[key])))
        with self._lock:
            self._config, self._estimator = config, estimator
            self._stats = NodeStats()
            self._publishers_by_key = publishers
            self._diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        info = estimator.info
        self.get_logger().info(f'serving {info.model_path} ({info.engine}, {info.provider}, '
                               f'{info.precision})')

    def activate_depth(self) -> None:
        """Subscribe to the camera and start the inference worker (needs a configuration)."""
        if self.active:
            return
        config = self.config
        if config is None:
            raise NodeStartupError('cannot activate: the node is not configured')
        if config.overlap_outputs:
            self._outputs = OutputStage(capacity=max(1, len(config.cameras)),
                                        on_error=self._output_failed)
        if config.multi_camera:
            self._activate_cameras(config)
            return
        self._slot = LatestFrameSlot()
        self._worker = threading.Thread(target=self._work, args=(self._slot,),
                                        name='disdepth-inference', daemon=True)
        self._worker.start()
        camera = CameraInput(self, config, self._stats, self._offer, self._wanted_outputs,
                             self._inputs_group)
        self._inputs = [camera]
        camera.start()
        self._diagnostics_timer = self.create_timer(
            config.diagnostics_period, self._publish_diagnostics,
            callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f'processing {camera.image_topic} with {camera.info_topic}')

    def deactivate_depth(self) -> None:
        """
        Stop processing: unsubscribe, finish the frame in progress, stop the worker.

        The frame being processed is published completely (every output it was computed for),
        a frame still waiting is discarded, and reliable subscribers get up to
        :data:`ACK_TIMEOUT_S` to acknowledge what was published.  The model stays loaded.
        """
        if not self.active:
            return
        for camera in self._inputs:
            camera.stop()
        self._inputs = []
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        self._slot.close()
        worker, self._worker = self._worker, None
        assert worker is not None, 'active: the worker exists'
        if worker is not threading.current_thread():
            worker.join(timeout=WORKER_JOIN_S)
            if worker.is_alive():
                self.get_logger().warning(f'the frame in progress did not finish within '
                                          f'{WORKER_JOIN_S:g} s; stopping without it')
        outputs, self._outputs = self._outputs, None
        if outputs is not None and not outputs.close(timeout=WORKER_JOIN_S):
            self.get_logger().warning(f'the outputs in progress were not published within '
                                      f'{WORKER_JOIN_S:g} s; stopping without them')
        deadline = time.monotonic() + ACK_TIMEOUT_S
        for pub in list(self._publishers_by_key.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))

    def cleanup_depth(self) -> None:
        """Deactivate if needed, then release the model and destroy the publishers."""
        self.deactivate_depth()
        with self._lock:
            publishers = list(self._publishers_by_key.values())
            if self._diagnostics_pub is not None:
                publishers.append(self._diagnostics_pub)
            self._publishers_by_key, self._diagnostics_pub = {}, None
            self._config, self._estimator = None, None
            for pub in publishers:
                self.destroy_publisher(pub)

    # ----------------------------------------------------------------- configuration

    def _parameter_values(self) -> Dict[str, Any]:
        return {name: self.get_parameter(name).value for name in PARAMETER_NAMES}

    def _load(self, config: NodeConfig) -> DepthEstimator:
        model = config.model or 'the packaged default model'
        try:
            estimator = self._factory(config)
        except LOAD_ERRORS as exc:
            raise NodeStartupError(f'cannot load {model} with engine {config.engine!r} on '
                                   f'device {config.device!r}: {exc}') from None
        return estimator

    @property
    def config(self) -> Optional[NodeConfig]:
        """The configuration in effect (None while unconfigured)."""
        with self._lock:
            return self._config

    @property
    def estimator(self) -> Optional[DepthEstimator]:
        """The estimator in use (None while unconfigured)."""
        with self._lock:
            return self._estimator

    @property
    def stats(self) -> NodeStats:
        """Run-time statistics (what /diagnostics reports)."""
        return self._stats

    def _on_set_parameters(self, params: List[Parameter]) -> SetParametersResult:
        old = self.config
        if old is None:
            # Unconfigured: nothing runs; the values are validated by the next configure.
            return SetParametersResult(successful=True)
        values = self._parameter_values()
        for param in params:
            if param.name in values:
                values[param.name] = param.value
        try:
            new = NodeConfig.from_values(values)
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if any(getattr(new, name) != getattr(old, name) for name in MODEL_PARAMETERS):
            try:
                estimator = self._load(new)
            except NodeStartupError as exc:
                served = self.estimator
                assert served is not None, 'configured: set and cleared with the config'
                message = f'model reload failed, still serving {served.info.model_path}: {exc}'
                self._stats.error(message)
                self.get_logger().error(message)
                return SetParametersResult(successful=False, reason=message)
            with self._lock:
                self._estimator = estimator
            self.get_logger().info(f'now serving {estimator.info.model_path} '
                                   f'({estimator.info.engine}, {estimator.info.provider})')
        with self._lock:
            self._config = new
        for camera in self._inputs:
            camera.reconfigure(new)
        return SetParametersResult(successful=True)

    # ----------------------------------------------------------------- input side

    def _wanted_outputs(self) -> List[str]:
        return [key for key, pub in list(self._publishers_by_key.items())
                if pub.get_subscription_count() > 0]

    def _offer(self, frame: Frame) -> None:
        if self._slot.put(frame):
            self._stats.drop('superseded')

    # ----------------------------------------------------------------- worker

    def _work(self, slot: LatestFrameSlot) -> None:
        while True:
            frame = slot.take(timeout=0.5)
            if frame is None:
                if slot.closed:
                    return
                continue
            self._process(frame)

    def _intrinsics(self, frame: Frame, width: int, height: int,
                    config: NodeConfig) -> Tuple[Any, Optional[Any]]:
        """Return (intrinsics, camera_info used or None), or raise ConversionError."""
        fallback = config.fallback_intrinsics(width, height)
        if frame.info is None:
            return pipeline.intrinsics_for(width, height, None, fallback), None
        try:
            return pipeline.intrinsics_for(width, height, frame.info), frame.info
        except ConversionError as exc:
            if fallback is None:
                raise
            self.get_logger().warning(f'unusable camera_info ({exc}); using the fallback '
                                      'intrinsics', throttle_duration_sec=5.0)
            return fallback, None

    def _process(self, frame: Frame) -> None:
        taken = time.monotonic()
        with self._lock:
            config, estimator = self._config, self._estimator
        wanted = self._wanted_outputs()
        if not wanted or config is None or estimator is None:
            # No config or estimator: cleanup is destroying the publishers under this frame.
            self._stats.drop('no_subscribers')
            return
        stages: Dict[str, float] = {}
        try:
            rgb = pipeline.decode_image(frame.image)
        except ConversionError as exc:
            self._stats.drop('bad_image')
            self._stats.error(f'bad image: {exc}')
            self.get_logger().warning(f'dropping image: {exc}', throttle_duration_sec=5.0)
            return
        stages['decode'] = (time.monotonic() - taken) * 1000.0
        height, width = rgb.shape[:2]
        try:
            intrinsics, info = self._intrinsics(frame, width, height, config)
        except (ConversionError, ValueError) as exc:
            self._stats.drop('bad_camera_info')
            self._stats.error(f'bad camera_info: {exc}')
            self.get_logger().warning(f'dropping image: unusable camera_info: {exc}',
                                      throttle_duration_sec=5.0)
            return
        start = time.perf_counter()
        try:
            result = pipeline.estimate(estimator, rgb, intrinsics)
        except FRAME_ERRORS as exc:
            self._stats.drop('inference_error')
            self._stats.error(f'inference failed: {exc}')
            self.get_logger().error(f'inference failed: {exc}', throttle_duration_sec=5.0)
            return
        infer_ms = (time.perf_counter() - start) * 1000.0
        stages['inference'] = infer_ms
        result = pipeline.gate(result, estimator.spec, config.output_options())
        stages['gate'] = (time.perf_counter() - start) * 1000.0 - infer_ms
        self._hand_over(self._stats, frame, result, info, config, wanted, infer_ms, taken,
                        stages=stages)

    def _hand_over(self, stats: NodeStats, frame: Frame, result: 'pipeline.FrameDepth',
                   info: Optional[Any], config: NodeConfig, wanted: List[str], infer_ms: float,
                   taken: float, stages: Optional[Dict[str, float]] = None,
                   camera: str = '') -> None:
        """
        Build and publish a frame's outputs: in the output thread when there is one, else here.

        With the output thread, the worker's time for the frame (``processing_ms``) ends when
        the job is handed over, which includes waiting while the previous frame's outputs are
        still queued; build and publish are timed as stages in the output thread.

        :param stats: the counters of the frame's camera
        :param frame: the frame (its header goes on every output)
        :param result: its gated depth
        :param info: the camera_info its intrinsics came from, or None
        :param config: the configuration it was processed with
        :param wanted: the outputs to build
        :param infer_ms: the estimator's time
        :param taken: ``time.monotonic()`` when the worker took the frame
        :param stages: the frame's stage times so far (build and publish are added)
        :param camera: the camera's name with ``cameras`` (its publishers and log prefix)
        """
        def emit(handed_ms: Optional[float]) -> None:
            try:
                published = self._publish(frame.image.header, result, info, config, wanted,
                                          prefix=output_key(camera, '') if camera else '',
                                          stages=stages)
            except FRAME_ERRORS as exc:
                stats.drop('output_error')
                stats.error(f'building or publishing outputs failed: {exc}')
                where = f'camera {camera}: ' if camera else ''
                self.get_logger().error(f'{where}building or publishing outputs failed: {exc}',
                                        throttle_duration_sec=5.0)
                return
            done = time.monotonic()
            stats.frame_out(infer_ms, (done - frame.received) * 1000.0, published,
                            (done - taken) * 1000.0 if handed_ms is None else handed_ms, stages)
        outputs = self._outputs
        if outputs is None:
            emit(None)
            return
        outputs.wait_for_room()
        handed_ms = (time.monotonic() - taken) * 1000.0
        try:
            outputs.submit(lambda: emit(handed_ms))
        except RuntimeError:  # closed under a worker that outlived its join: publish here
            emit(handed_ms)

    def _output_failed(self, exc: BaseException) -> None:
        self._stats.error(f'output thread: {exc}')
        self.get_logger().error(f'output thread: unexpected {type(exc).__name__}: {exc}',
                                throttle_duration_sec=5.0)

    def _publish(self, header: Any, result: 'pipeline.FrameDepth', info: Optional[Any],
                 config: NodeConfig, wanted: List[str], prefix: str = '',
                 stages: Optional[Dict[str, float]] = None) -> List[str]:
        """
        Build every wanted output first, then publish them all (never half a frame).

        :param prefix: key prefix of the publishers (``<camera>/`` with ``cameras``)
        :param stages: when given, receives the ms spent building (``build``) and publishing
            (``publish``) the outputs
        """
        start = time.perf_counter()
        fields = pipeline.output_fields(result, info, config.output_options(), wanted,
                                        cloud_buffer=self._cloud_buffer())
        messages = []
        for key in wanted:
            msg = _fill(_keeping_arrays(OUTPUT_TYPES[key]) if key == 'points'
                        else OUTPUT_TYPES[key](), fields[key])
            msg.header = header
            messages.append((key, msg))
        built = time.perf_counter()
        for key, msg in messages:
            self._publishers_by_key[prefix + key].publish(msg)
        if stages is not None:
            stages['build'] = (built - start) * 1000.0
            stages['publish'] = (time.perf_counter() - built) * 1000.0
        return wanted

    def runs_inline(self, entity: Any) -> bool:
        """
        Whether an entity's callback runs in the spinning thread (:class:`InputExecutor`).

        :param entity: a subscription, timer, guard condition or waitable of this node
        :return: True for the camera inputs' callbacks (short, frequent); False for the rest
        """
        return getattr(entity, 'callback_group', None) is self._inputs_group

    def _cloud_buffer(self) -> CloudBuffer:
        """Return the calling (worker) thread's point cloud buffer, reused across frames."""
        buffer = getattr(self._thread_buffers, 'cloud', None)
        if buffer is None:
            buffer = self._thread_buffers.cloud = CloudBuffer()
        return buffer

    # ----------------------------------------------------------------- diagnostics

    def _publish_diagnostics(self) -> None:
        # Under the lock: cleanup destroys the publishers under it too.
        with self._lock:
            self._publish_diagnostics_locked()

    def _publish_diagnostics_locked(self) -> None:
        config, estimator, pub = self._config, self._estimator, self._diagnostics_pub
        if config is None or estimator is None or pub is None:
            return
        info, spec = estimator.info, estimator.spec
        lo, hi = config.output_options().depth_range(spec.min_depth, spec.max_depth)
        static = [('engine', info.engine), ('provider', info.provider),
                  ('model', info.model_path), ('precision', info.precision),
                  ('output_kind', spec.output_kind),
                  ('depth_range_m', f'{lo:g}..{hi:g}' if spec.is_metric else 'relative'),
                  ('outputs_subscribed', ','.join(self._wanted_outputs()) or 'none')]
        if config.multi_camera:
            statuses = self._camera_statuses(static[:-1], info.provider)
        else:
            report = self._stats.report(static)
            statuses = [DiagnosticStatus(
                level=bytes([report.level]), name=f'{self.get_fully_qualified_name()}: depth',
                message=report.message, hardware_id=info.provider,
                values=[KeyValue(key=k, value=v) for k, v in report.values])]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        pub.publish(array)


class DepthNode(DepthNodeMixin, Node):
    """
    Metric monocular depth node (see the module docstring and docs/node.md).

    Configured and active from construction on.

    :param estimator_factory: builds the estimator from the configuration (tests inject fakes)
    :param kwargs: passed to ``rclpy.node.Node`` (context, namespace, parameter_overrides, ...)
    :raises NodeStartupError: for invalid parameters or a model that cannot be loaded
    """

    def __init__(self, estimator_factory: EstimatorFactory = create_estimator_for,
                 **kwargs: Any) -> None:
        Node.__init__(self, NODE_NAME, **kwargs)
        self._init_depth(estimator_factory)
        self.configure_depth()
        self.activate_depth()

    def shutdown_depth(self) -> None:
        """Stop processing (the frame in progress is published completely) and release all."""
        self.cleanup_depth()

    def destroy_node(self) -> None:
        """Stop the inference worker, then destroy the node."""
        self.cleanup_depth()
        super().destroy_node()


def _spin(executor: Executor, stop: threading.Event, failed: List[str]) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:
        pass
    except Exception as exc:  # a callback raised: stop the process, and say so
        failed.append(f'{type(exc).__name__}: {exc}')
    finally:
        stop.set()


def run(create_node: Callable[[], Any], args: Optional[List[str]] = None,
        started: Optional[Callable[[Any], None]] = None) -> int:
    """
    Spin a depth node until SIGINT or SIGTERM, then shut down cleanly.

    rclpy's own signal handlers are not installed: they would invalidate the context at once,
    under a frame being published.  The signal only sets a flag; then the executor stops (no
    new callbacks), the node's ``shutdown_depth`` finishes and publishes the frame in progress
    and releases everything, and only then is the node destroyed and rclpy shut down.

    :param create_node: builds the node (after ``rclpy.init``); may raise NodeStartupError
    :param args: command line (default ``sys.argv``)
    :param started: called with the node before spinning (e.g. the lifecycle autostart)
    :return: process exit code: 0 on a normal shutdown, 1 when the node could not start or a
        callback failed
    """
    stop = threading.Event()
    failed: List[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    profile = apply_fastdds_profile()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # Camera callbacks in the spinning thread, the rest (a model reload in the parameter
    # callback must not stop the subscriptions) in a side thread: see disdepth_ros.executor.
    node = None

    def inline(entity: Any) -> bool:
        runs_inline = getattr(node, 'runs_inline', None)
        return runs_inline is not None and runs_inline(entity)
    executor = InputExecutor(inline)
    code = 0
    try:
        node = create_node()
        if profile:
            node.get_logger().info(f'Fast DDS profile: {profile}')
        if started is not None and not stop.is_set():
            started(node)
        executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor, stop, failed),
                                   name='disdepth-spin', daemon=True)
        spinner.start()
        while not stop.wait(0.1):
            pass
        executor.stop_spinning()   # first out of spin, then shutdown (see stop_spinning)
        spinner.join()
        executor.shutdown()
        if failed:
            node.get_logger().fatal(f'stopping after an unexpected error: {failed[0]}')
            code = 1
    except NodeStartupError as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {exc}')
        print(f'{NODE_NAME}: cannot start: {exc}', file=sys.stderr)
        code = 1
    finally:
        executor.shutdown()
        if node is not None:
            node.shutdown_depth()
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def main(args: Optional[List[str]] = None) -> int:
    """
    Run the node until shutdown (entry point of ``disdepth_node``).

    :param args: command line (default ``sys.argv``), e.g. ``--ros-args -p model:=m.onnx``
    :return: process exit code: 0 on a normal shutdown, 1 when the node could not start
    """
    return run(DepthNode, args)


if __name__ == '__main__':
    sys.exit(main())
