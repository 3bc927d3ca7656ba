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
* :func:`ros_env` is the graph harness's environment (:mod:`disdepth_ros.harness`: the node in
  its own process and domain, localhost-only discovery, the shipped Fast DDS profile) plus the
  fake engine; :class:`NodeProcess` and :class:`RosHarness` are the harness's own, used as the
  demo and the soak tool use them.
* :func:`camera_main` (``python ros_helpers.py camera ...``) is a camera driver in its own
  process, with the QoS and Fast DDS set-up a test chooses (e.g. reliable without our profile,
  as most drivers run); :class:`CameraProcess` starts it and reads what it sent.
"""

import argparse
import contextlib
import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from disdepth_core import rosmsg
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import ModelLoadError
from disdepth_core.modelspec import ModelSpec
from disdepth_ros.harness import diagnostics_values  # noqa: F401 - rh.diagnostics_values
from disdepth_ros.harness import graph_env
from disdepth_ros.harness import node_command  # noqa: F401 - rh.node_command
from disdepth_ros.harness import NodeProcess  # noqa: F401 - rh.NodeProcess
from disdepth_ros.harness import RosHarness  # noqa: F401 - rh.RosHarness

# the one stamp reader (the tests call rh.stamp_ns)
stamp_ns = rosmsg.stamp_ns

TEST_DIR = Path(__file__).resolve().parent
REPO_ROOT = TEST_DIR.parent
HOLOLENS = REPO_ROOT.parent / 'shared' / 'data' / 'real' / 'hololens_dvmvs'

FAKE_SPEC = ModelSpec(name='fake', architecture='student', backbone='none', input_height=64,
                      input_width=64, canonical_focal=500.0, min_depth=0.1, max_depth=10.0)
FAKE_FOCAL = 500.0
DELAY_ENV = 'DISDEPTH_FAKE_DELAY_S'
# A file the fake engine appends one line per network call to: ``predict 1`` or ``batch N``.
CALL_LOG_ENV = 'DISDEPTH_FAKE_CALL_LOG'


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
    Each network call (``predict``, ``predict_batch``) is appended to the file named by
    ``DISDEPTH_FAKE_CALL_LOG`` when it is set (:func:`read_call_log`).

    :param model_path: reported model path
    :param delay_s: seconds each network call sleeps (simulates a slow model; a batch costs one
        delay, as a batched network call on an accelerator roughly does)
    :param offset: metres added to every depth
    :param max_batch: images per call (1: like an ONNX model with a fixed batch axis; None:
        any number)
    """

    def __init__(self, model_path: str, delay_s: float = 0.0, offset: float = 0.0,
                 max_batch: Optional[int] = None) -> None:
        self.spec = FAKE_SPEC
        self.info = EngineInfo(engine='fake', provider='FakeCPU', model_path=model_path)
        self.delay_s = delay_s
        self.offset = offset
        self.max_batch = max_batch
        self._call_log = os.environ.get(CALL_LOG_ENV, '')

    def _log_call(self, kind: str, count: int) -> None:
        if self._call_log:
            with open(self._call_log, 'a') as f:
                f.write(f'{kind} {count}\n')

    def _check(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> None:
        if rgb.shape[:2] != (intrinsics.height, intrinsics.width):
            raise ValueError(f'intrinsics are for {intrinsics.width}x{intrinsics.height}, image '
                             f'is {rgb.shape[1]}x{rgb.shape[0]}')
        if not rgb.any():
            raise RuntimeError('fake engine: an all-black image (simulated inference failure)')

    def predict_batch(self, rgbs: List[np.ndarray],
                      intrinsics: List[CameraIntrinsics]) -> List[DepthResult]:
        """Predict several images of one size in one call (one delay for the batch)."""
        if self.max_batch is not None and len(rgbs) > self.max_batch:
            raise ValueError(f'fake engine takes {self.max_batch} image per call, got '
                             f'{len(rgbs)}')
        if len(rgbs) != len(intrinsics) or len({r.shape for r in rgbs}) > 1:
            raise ValueError('fake engine: a batch needs one intrinsics per image, one size')
        for rgb, k in zip(rgbs, intrinsics):
            self._check(rgb, k)
        start = time.perf_counter()
        self._log_call('batch', len(rgbs))
        if self.delay_s:
            time.sleep(self.delay_s)
        ms = (time.perf_counter() - start) * 1000.0
        return [DepthResult(*fake_depth(rgb, k.fx, self.offset), {'infer': ms})
                for rgb, k in zip(rgbs, intrinsics)]

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """Predict the fake depth; raise ValueError for mismatching intrinsics."""
        self._check(rgb, intrinsics)
        start = time.perf_counter()
        self._log_call('predict', 1)
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
    file ``{"delay_s": ..., "offset": ..., "max_batch": ...}``: a missing file or invalid JSON
    raises ModelLoadError like a real engine does.
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
    max_batch = data.get('max_batch')
    return FakeEstimator(str(path), float(data.get('delay_s', delay)),
                         float(data.get('offset', 0.0)),
                         None if max_batch is None else int(max_batch))


def read_call_log(path: Path) -> List[tuple]:
    """Read the fake engine's call log: one (kind, image count) per network call."""
    if not path.is_file():
        return []
    return [(kind, int(n)) for kind, n in
            (line.split() for line in path.read_text().splitlines() if line.strip())]


def ros_env(domain_id: int, log_dir: Path, **extra: str) -> Dict[str, str]:
    """
    Environment of a node process under test: the graph harness's, plus the fake engine.

    :param domain_id: ROS_DOMAIN_ID (1..100)
    :param log_dir: ROS_LOG_DIR
    :param extra: more variables
    :return: the environment
    """
    pythonpath = os.pathsep.join(filter(None, [str(TEST_DIR), os.environ.get('PYTHONPATH')]))
    return graph_env(domain_id, log_dir, **{'PYTHONPATH': pythonpath,
                                            'DISDEPTH_EXTRA_ENGINES':
                                            'fake=ros_helpers:make_fake_estimator', **extra})


@contextlib.contextmanager
def node_and_harness(domain: int, tmp_path: Path, params: Dict[str, Any],
                     remaps: Optional[List[str]] = None, check_errors: bool = False,
                     timeout: float = 30.0, **env: str) -> Iterator[Tuple[Any, Any]]:
    """
    Start a node under test and the test's participant; on exit the node must stop with 0.

    :param domain: ROS domain
    :param tmp_path: the node's directory (params file, log)
    :param params: node parameters
    :param remaps: remapping rules
    :param check_errors: also require a log without ERROR lines
    :param timeout: seconds to wait for the node in the graph
    :param env: more environment variables of the node
    :return: (NodeProcess, RosHarness)
    """
    proc = NodeProcess(tmp_path, ros_env(domain, tmp_path, **env), params, remaps=remaps)
    harness = RosHarness(domain)
    try:
        assert harness.wait_for_node('disdepth', timeout), proc.output()
        yield proc, harness
    finally:
        harness.close()
        assert proc.stop() == 0, proc.output()
        if check_errors:
            assert not error_lines(proc.output()), proc.output()


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

    from disdepth_core.rosmsg import numpy_to_image_fields
    msg = rosmsg.fill_message(Image(), numpy_to_image_fields(array, encoding))
    set_header(msg, stamp_ns, frame_id)
    return msg


def make_camera_info(intr: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
    """Build an rclpy CameraInfo (K and P from ``intr``, no distortion)."""
    from sensor_msgs.msg import CameraInfo

    from disdepth_core.rosmsg import intrinsics_to_camera_info_fields
    msg = rosmsg.fill_message(CameraInfo(), intrinsics_to_camera_info_fields(intr))
    set_header(msg, stamp_ns, frame_id)
    return msg


def set_header(msg: Any, stamp_ns: int, frame_id: str) -> None:
    """Set ``msg.header`` stamp (from nanoseconds) and frame."""
    msg.header.stamp.sec = stamp_ns // 1_000_000_000
    msg.header.stamp.nanosec = stamp_ns % 1_000_000_000
    msg.header.frame_id = frame_id


def error_lines(log: str) -> List[str]:
    """Lines of a node's output that report an error (ROS ERROR/FATAL logs, tracebacks)."""
    return [line for line in log.splitlines()
            if '[ERROR]' in line or '[FATAL]' in line or 'Traceback' in line]


# ------------------------------------------------------------------------------------------------
# A camera driver in its own process.


class CameraProcess:
    """
    :func:`camera_main` in its own process; :meth:`result` reads what it sent.

    :param tmp_path: directory for its report and log
    :param env: environment (see :func:`ros_env`; drop ``FASTDDS_DEFAULT_PROFILES_FILE`` for a
        driver without our profile)
    :param options: command-line options of :func:`camera_main` (without dashes)
    """

    def __init__(self, tmp_path: Path, env: Dict[str, str], **options: Any) -> None:
        self.report = tmp_path / f'camera_{time.monotonic_ns()}.json'
        self.log_file = self.report.with_suffix('.log')
        args = [sys.executable, str(Path(__file__).resolve()), 'camera', '--report',
                str(self.report)]
        for key, value in options.items():
            args += [f'--{key.replace("_", "-")}', str(value)]
        self._log = open(self.log_file, 'wb')
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def done(self) -> bool:
        """Whether the process has exited."""
        return self.proc.poll() is not None

    def result(self, timeout: float = 60.0) -> Dict[str, Any]:
        """Wait for the end; return its report (``stamps``, ``first_publish``, ``qos``)."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self._log.close()
        log = self.log_file.read_text(errors='replace')
        assert code == 0, f'camera process failed ({code}):\n{log}'
        return json.loads(self.report.read_text())

    def kill(self) -> None:
        """End the process if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15.0)
        self._log.close()


def _camera_frame(width: int, height: int, index: int) -> np.ndarray:
    """Make a textured RGB test frame that changes from frame to frame (never all black)."""
    v, u = np.mgrid[0:height, 0:width]
    r = (u * 255 // max(width - 1, 1)).astype(np.uint8)
    g = (v * 255 // max(height - 1, 1)).astype(np.uint8)
    b = np.full((height, width), (40 + 20 * index) % 256, np.uint8)
    return np.ascontiguousarray(np.stack([r, g, b], axis=-1))


def camera_main(argv: Optional[List[str]] = None) -> int:
    """
    Publish ``--frames`` rgb8 images and camera infos at ``--rate`` Hz, then report.

    Waits (up to ``--wait``) for a subscriber of the image topic before the first frame, keeps
    spinning ``--linger`` seconds after the last one (reliable repairs), and writes
    ``{"stamps": [...], "first_publish": monotonic seconds, "qos": ...}`` to ``--report``.
    """
    parser = argparse.ArgumentParser(prog='ros_helpers.py camera')
    parser.add_argument('--report', required=True)
    parser.add_argument('--reliability', choices=('reliable', 'best_effort'),
                        default='reliable')
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--frames', type=int, default=20)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--wait', type=float, default=30.0)
    parser.add_argument('--linger', type=float, default=1.0)
    parser.add_argument('--base-ns', type=int, default=1_900_000_000_000_000_000)
    args = parser.parse_args(argv)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('camera_driver')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE
                     if args.reliability == 'reliable' else ReliabilityPolicy.BEST_EFFORT)
    image_pub = node.create_publisher(Image, 'image', qos)
    info_pub = node.create_publisher(CameraInfo, 'camera_info', qos)
    deadline = time.monotonic() + args.wait
    while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
    intr = CameraIntrinsics.from_fov(60.0, args.width, args.height)
    frames = [_camera_frame(args.width, args.height, i) for i in range(4)]
    stamps, first = [], None
    period = 1.0 / args.rate
    next_time = time.monotonic()
    for i in range(args.frames):
        while time.monotonic() < next_time:
            executor.spin_once(timeout_sec=max(0.0, min(0.01, next_time - time.monotonic())))
        stamp = args.base_ns + i * int(period * 1e9)
        info_pub.publish(make_camera_info(intr, stamp, 'camera_optical'))
        image_pub.publish(make_image(frames[i % len(frames)], 'rgb8', stamp, 'camera_optical'))
        if first is None:
            first = time.monotonic()
        stamps.append(stamp)
        next_time += period
    end = time.monotonic() + args.linger
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)
    Path(args.report).write_text(json.dumps({
        'stamps': stamps, 'first_publish': first, 'qos': args.reliability,
        'profile': os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE', '')}))
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    commands = {'camera': camera_main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(f'usage: {sys.argv[0]} {{{",".join(commands)}}} [options]')
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
