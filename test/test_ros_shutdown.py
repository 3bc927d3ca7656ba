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
Ctrl-C at any moment: the node process under load gets SIGINT at random moments.

Every run must end with exit code 0, no ERROR line and no traceback, and no half-published
frame: every stamp that came out on one output came out on all of them.  The moments are drawn
from a seeded generator (the seed is in every failure message) over the whole frame cycle: the
fake engine sleeps, so a signal lands in inference, in building the outputs or in publishing.
"""

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
sensor_msgs = pytest.importorskip('sensor_msgs.msg')
domain_coordinator = pytest.importorskip('domain_coordinator')

import ros_helpers as rh  # noqa: E402  (after the skips: needs rclpy's message packages)

from disdepth_core.geometry import CameraIntrinsics  # noqa: E402, I100
from disdepth_ros.qos import PROFILE_ENV  # noqa: E402

TIMEOUT = 20.0
SEED = 20261125
RUNS = 4
DELAY_S = 0.03
OUTPUTS = {'depth': sensor_msgs.Image, 'depth/camera_info': sensor_msgs.CameraInfo,
           'points': sensor_msgs.PointCloud2, 'depth/confidence': sensor_msgs.Image,
           'depth/colorized': sensor_msgs.Image}
# Deep enough output queues that a busy test process loses nothing that was published.
OUTPUT_KEYS = ('depth', 'depth_camera_info', 'points', 'confidence', 'colorized')
PARAMS = {'engine': 'fake', 'diagnostics_period': 0.2, 'point_stride': 2,
          **{f'qos.{key}.depth': 20 for key in OUTPUT_KEYS}}


@pytest.fixture(scope='module', autouse=True)
def shm_profile():
    """The test's own participants use the shipped profile (the node processes always do)."""
    from disdepth_ros.qos import fastdds_profile_path
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENV, str(fastdds_profile_path()))
        yield


def _interrupt_under_load(domain: int, tmp_path, wait_s: float, signals: int,
                          command=None) -> dict:
    """One run: frames at 20 Hz, SIGINT ``wait_s`` after outputs flow; return what came out."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = rh.NodeProcess(tmp_path, rh.ros_env(domain, tmp_path,
                                               DISDEPTH_FAKE_DELAY_S=str(DELAY_S)),
                          PARAMS, command=command)
    ros = rh.RosHarness(domain)
    try:
        assert ros.wait_for_node('disdepth', TIMEOUT), proc.output()
        lists = {topic: ros.subscribe(msg_type, topic, depth=200)
                 for topic, msg_type in OUTPUTS.items()}
        assert ros.spin_until(lambda: all(ros._subs[t].get_publisher_count() > 0
                                          for t in OUTPUTS), TIMEOUT), 'outputs not matched'
        image_pub = ros.publisher(sensor_msgs.Image, 'image')
        info_pub = ros.publisher(sensor_msgs.CameraInfo, 'camera_info')
        intr = CameraIntrinsics.from_fov(20.0, 160, 120)
        sent = []

        def publish() -> None:
            stamp = 1_980_000_000_000_000_000 + len(sent) * 50_000_000
            info_pub.publish(rh.make_camera_info(intr, stamp, 'cam'))
            image_pub.publish(rh.make_image(rh._camera_frame(160, 120, len(sent)), 'rgb8',
                                            stamp, 'cam'))
            sent.append(stamp)
        assert ros.spin_until(lambda: len(lists['depth']) >= 3, TIMEOUT, every=publish,
                              period=0.05), proc.output()
        ros.spin_until(lambda: False, wait_s, every=publish, period=0.05)
        for _ in range(signals):
            proc.interrupt()
            ros.spin_until(lambda: False, 0.05, every=publish, period=0.05)
        ros.spin_until(lambda: proc.proc.poll() is not None, TIMEOUT, every=publish,
                       period=0.05)
        ros.spin_until(lambda: False, 1.0)   # what is still on its way
        stamps = {topic: {rh.stamp_ns(m) for m in msgs} for topic, msgs in lists.items()}
    finally:
        ros.close()
        code = proc.stop()
    return {'code': code, 'log': proc.output(), 'stamps': stamps, 'sent': len(sent)}


@pytest.mark.parametrize('executable', ['disdepth_node', 'disdepth_lifecycle_node'])
def test_sigint_at_random_moments_under_load(tmp_path, executable):
    rng = np.random.default_rng(SEED)
    command = rh.node_command(executable)
    if executable == 'disdepth_lifecycle_node':
        command += ['--autostart']
    with domain_coordinator.domain_id() as domain:
        for run in range(RUNS):
            wait_s = float(rng.uniform(0.0, 1.0))
            signals = 1 if run % 2 == 0 else 3   # Ctrl-C pressed once, or hammered
            what = f'{executable} run {run} (seed {SEED}): SIGINT x{signals} after {wait_s:.3f} s'
            result = _interrupt_under_load(domain, tmp_path / f'run{run}', wait_s, signals,
                                           command)
            assert result['code'] == 0, f'{what}:\n{result["log"]}'
            assert not rh.error_lines(result['log']), f'{what}:\n{result["log"]}'
            stamps = result['stamps']
            union = set().union(*stamps.values())
            assert len(union) >= 3, what
            half = {topic: sorted(union - got) for topic, got in stamps.items() if union - got}
            assert not half, f'{what}: frames missing on some outputs: {half}'
