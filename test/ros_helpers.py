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
Shared helpers of the ROS tests: a deterministic fake engine, the node process, a test-side ROS.

* :func:`make_fake_estimator` is the ``fake`` engine.  The node process loads it through
  ``DISDEPTH_EXTRA_ENGINES=fake=ros_helpers:make_fake_estimator`` (with this directory on
  ``PYTHONPATH``).  Its depth is a closed-form function of the pixel colour and the focal length
  (:func:`fake_depth`), so a test can predict every published value exactly.
* :class:`NodeProcess` runs ``disdepth_node`` in its own process with an isolated domain,
  localhost-only discovery, a temporary log directory and the shipped Fast DDS profile.
* :class:`RosHarness` is the test's side of the graph: an explicit rclpy context on the same
  domain, subscriptions that collect messages, and waits with timeouts (never fixed sleeps).
"""

from collections import defaultdict
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import ModelLoadError
from disdepth_core.modelspec import ModelSpec

TEST_DIR = Path(__file__).resolve().parent
REPO_ROOT = TEST_DIR.parent
HOLOLENS = REPO_ROOT.parent / 'shared' / 'data' / 'real' / 'hololens_dvmvs'

FAKE_SPEC = ModelSpec(name='fake', architecture='student', backbone='none', input_height=64,
                      input_width=64, canonical_focal=500.0, min_depth=0.1, max_depth=10.0)
FAKE_FOCAL = 500.0
DELAY_ENV = 'DISDEPTH_FAKE_DELAY_S'


def fake_depth(rgb: np.ndarray, fx: float, offset: float = 0.0) -> tuple:
    """
    Depth and confidence the fake engine predicts for an RGB image.

    Depth grows with a weighted grey level (R, G and B weighted differently, so a channel swap
    shows) and with the focal length (as metric depth does); the top-left 2 x 2 pixels are
    invalid (NaN).

    :param rgb: H x W x 3 uint8 RGB
    :param fx: focal length x of the image, pixels
    :param offset: metres added (lets a test tell two fake models apart)
    :return: (depth H x W float32 metres, confidence H x W float32 in [0, 1])
    """
    c = rgb.astype(np.float32)
    grey = np.float32(0.5) * c[..., 0] + np.float32(0.3) * c[..., 1] + np.float32(0.2) * c[..., 2]
    depth = (np.float32(0.5) + grey * np.float32(4.0 / 255.0) + np.float32(offset)) \
        * np.float32(fx / FAKE_FOCAL)
    depth = depth.astype(np.float32)
    depth[:2, :2] = np.nan
    confidence = (grey / np.float32(255.0)).astype(np.float32)
    return depth, confidence


class FakeEstimator:
    """
    A deterministic DepthEstimator (see :func:`fake_depth`), optionally slow.

    It fails (RuntimeError) on an all-black image, so tests can provoke an inference error.

    :param model_path: reported model path
    :param delay_s: seconds each prediction sleeps (simulates a slow model)
    :param offset: metres added to every depth
    """

    def __init__(self, model_path: str, delay_s: float = 0.0, offset: float = 0.0) -> None:
        self.spec = FAKE_SPEC
        self.info = EngineInfo(engine='fake', provider='FakeCPU', model_path=model_path)
        self.delay_s = delay_s
        self.offset = offset

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """Predict the fake depth; raise ValueError for mismatching intrinsics."""
        if rgb.shape[:2] != (intrinsics.height, intrinsics.width):
            raise ValueError(f'intrinsics are for {intrinsics.width}x{intrinsics.height}, image '
                             f'is {rgb.shape[1]}x{rgb.shape[0]}')
        if not rgb.any():
            raise RuntimeError('fake engine: an all-black image (simulated inference failure)')
        start = time.perf_counter()
        if self.delay_s:
            time.sleep(self.delay_s)
        depth, confidence = fake_depth(rgb, intrinsics.fx, self.offset)
        return DepthResult(depth, confidence,
                           {'infer': (time.perf_counter() - start) * 1000.0})


def make_fake_estimator(model: Optional[str], device: str = 'auto',
                        **options: Any) -> FakeEstimator:
    """
    Build the fake engine.

    ``model`` None means defaults (delay from ``DISDEPTH_FAKE_DELAY_S``); otherwise it is a JSON
    file ``{"delay_s": ..., "offset": ...}``: a missing file or invalid JSON raises
    ModelLoadError like a real engine does.
    """
    delay = float(os.environ.get(DELAY_ENV, '0') or 0)
    if model is None:
        return FakeEstimator('fake://default', delay)
    path = Path(model)
    if not path.is_file():
        raise ModelLoadError(f'model file {path} does not exist')
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f'{path} is corrupt (not a fake model JSON): {exc}') from None
    return FakeEstimator(str(path), float(data.get('delay_s', delay)),
                         float(data.get('offset', 0.0)))


def ros_env(domain_id: int, log_dir: Path, **extra: str) -> Dict[str, str]:
    """
    Environment of a node process: isolated domain, localhost, temp logs, SHM profile, fake engine.

    :param domain_id: ROS_DOMAIN_ID (1..100)
    :param log_dir: ROS_LOG_DIR
    :param extra: more variables
    :return: the environment
    """
    from disdepth_ros.qos import fastdds_profile_path
    env = dict(os.environ)
    env.update({
        'ROS_DOMAIN_ID': str(domain_id),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOG_DIR': str(log_dir),
        'FASTDDS_DEFAULT_PROFILES_FILE': str(fastdds_profile_path()),
        'PYTHONPATH': os.pathsep.join(filter(None, [str(TEST_DIR), env.get('PYTHONPATH')])),
        'DISDEPTH_EXTRA_ENGINES': 'fake=ros_helpers:make_fake_estimator',
        'PYTHONUNBUFFERED': '1',
        'RCUTILS_COLORIZED_OUTPUT': '0',
    })
    env.pop('ROS_LOCALHOST_ONLY', None)
    env.update(extra)
    return env


def node_command() -> List[str]:
    """Command line of the node executable of this environment."""
    script = Path(sys.executable).parent / 'disdepth_node'
    if script.is_file():
        return [str(script)]
    return [sys.executable, '-m', 'disdepth_ros.depth_node']


class NodeProcess:
    """
    ``disdepth_node`` in its own process, parameters from a generated params file.

    :param tmp_path: directory for the params file and the output log
    :param env: environment (see :func:`ros_env`)
    :param params: node parameters
    :param remaps: ``from:=to`` remapping rules
    """

    def __init__(self, tmp_path: Path, env: Dict[str, str], params: Dict[str, Any],
                 remaps: Optional[List[str]] = None) -> None:
        import yaml
        self.params_file = tmp_path / 'params.yaml'
        self.params_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': params}}))
        self.log_file = tmp_path / 'node.log'
        args = node_command() + ['--ros-args', '--params-file', str(self.params_file)]
        for rule in remaps or []:
            args += ['-r', rule]
        self._log = open(self.log_file, 'wb')
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_file.read_text(errors='replace')

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit by itself and return its exit code."""
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def rss_mb(self) -> float:
        """Resident memory of the process in MiB (Linux)."""
        for line in Path(f'/proc/{self.proc.pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError('no VmRSS line')

    def stop(self, timeout: float = 15.0) -> int:
        """Stop with SIGINT (as Ctrl-C would) and return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self._log.close()
        return self.proc.returncode


class RosHarness:
    """
    The test's own ROS participant on the node's domain.

    :param domain_id: ROS domain
    :param name: node name
    """

    def __init__(self, domain_id: int, name: str = 'disdepth_test') -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: Dict[str, List[Any]] = defaultdict(list)
        self._subs: Dict[str, Any] = {}

    def subscribe(self, msg_type: type, topic: str, reliable: bool = True,
                  depth: int = 50) -> List[Any]:
        """Collect messages of ``topic`` into the returned list (``received[topic]``)."""
        from rclpy.qos import QoSProfile
        from rclpy.qos import ReliabilityPolicy
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        key = topic if reliable else topic + '#best_effort'
        self._subs[key] = self.node.create_subscription(
            msg_type, topic, self.received[key].append, qos)
        return self.received[key]

    def publisher(self, msg_type: type, topic: str, reliable: bool = True) -> Any:
        """Make a publisher; reliable by default, which serves best-effort subscribers too."""
        from rclpy.qos import QoSProfile
        from rclpy.qos import ReliabilityPolicy
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        return self.node.create_publisher(msg_type, topic, qos)

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0,
                   every: Optional[Callable[[], None]] = None, period: float = 0.2) -> bool:
        """
        Spin until ``predicate()`` holds or ``timeout`` passes.

        :param predicate: condition to wait for
        :param timeout: seconds
        :param every: called every ``period`` seconds while waiting (e.g. publish a frame)
        :param period: seconds between ``every`` calls
        :return: whether the predicate held
        """
        deadline = time.monotonic() + timeout
        next_call = time.monotonic()
        while time.monotonic() < deadline:
            if every is not None and time.monotonic() >= next_call:
                every()
                next_call = time.monotonic() + period
            self.executor.spin_once(timeout_sec=0.02)
            if predicate():
                return True
        return predicate()

    def wait_for_node(self, name: str = 'disdepth', timeout: float = 20.0) -> bool:
        """Wait until a node called ``name`` is in the graph."""
        return self.spin_until(
            lambda: name in [n for n, _ in self.node.get_node_names_and_namespaces()], timeout)

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def diagnostics_values(array: Any, name_part: str = 'disdepth') -> Optional[Dict[str, str]]:
    """Key/values (plus 'level', 'message') of the first status whose name has ``name_part``."""
    for status in array.status:
        if name_part in status.name:
            values = {kv.key: kv.value for kv in status.values}
            values['level'] = str(status.level[0] if isinstance(status.level, bytes)
                                  else int(status.level))
            values['message'] = status.message
            values['hardware_id'] = status.hardware_id
            return values
    return None


def hololens_frames(count: int = 3) -> List[np.ndarray]:
    """Load the first ``count`` HoloLens RGB frames as H x W x 3 uint8 BGR (as stored)."""
    import cv2
    paths = sorted((HOLOLENS / 'rgb').glob('*.png'))[:count]
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]


def hololens_intrinsics() -> CameraIntrinsics:
    """Intrinsics of the HoloLens frames."""
    from disdepth_core.geometry import load_intrinsics_json
    return load_intrinsics_json(HOLOLENS / 'intrinsics.json')


def make_image(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """Build an rclpy Image of ``array`` with the given stamp and frame."""
    from sensor_msgs.msg import Image

    from disdepth_ros.conversions import numpy_to_image_fields
    msg = Image()
    for key, value in numpy_to_image_fields(array, encoding).items():
        setattr(msg, key, value)
    set_header(msg, stamp_ns, frame_id)
    return msg


def make_camera_info(intr: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
    """Build an rclpy CameraInfo (K and P from ``intr``, no distortion)."""
    from sensor_msgs.msg import CameraInfo

    from disdepth_ros.conversions import intrinsics_to_camera_info_fields
    msg = CameraInfo()
    for key, value in intrinsics_to_camera_info_fields(intr).items():
        if key == 'roi':
            continue
        setattr(msg, key, value)
    set_header(msg, stamp_ns, frame_id)
    return msg


def set_header(msg: Any, stamp_ns: int, frame_id: str) -> None:
    """Set ``msg.header`` stamp (from nanoseconds) and frame."""
    msg.header.stamp.sec = stamp_ns // 1_000_000_000
    msg.header.stamp.nanosec = stamp_ns % 1_000_000_000
    msg.header.frame_id = frame_id


def stamp_ns(msg: Any) -> int:
    """Nanoseconds of ``msg.header.stamp``."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
