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
Several cameras through one model in one node (the ``cameras`` parameter), over Fast DDS.

The node process runs the fake engine (ros_helpers), which logs every network call, so the tests
see the batches; the test's participant plays the cameras.
"""

import contextlib
import json
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
sensor_msgs = pytest.importorskip('sensor_msgs.msg')
diagnostic_msgs = pytest.importorskip('diagnostic_msgs.msg')
domain_coordinator = pytest.importorskip('domain_coordinator')

import ros_helpers as rh  # noqa: E402  (after the skips: needs rclpy's message packages)

from disdepth_core import rosmsg as cv  # noqa: E402
from disdepth_core.geometry import CameraIntrinsics  # noqa: E402, I100
from disdepth_ros.multicam import FrameSlots  # noqa: E402
from disdepth_ros.multicam import group_by_size  # noqa: E402
from disdepth_ros.node_config import ConfigError  # noqa: E402
from disdepth_ros.node_config import NodeConfig  # noqa: E402
from disdepth_ros.pipeline import gate_depth  # noqa: E402
from disdepth_ros.qos import PROFILE_ENV  # noqa: E402
from disdepth_ros.sync import Frame  # noqa: E402

TIMEOUT = 20.0
CAMERAS = ['front', 'back', 'arm/left']
BASE = {'engine': 'fake', 'diagnostics_period': 0.5, 'cameras': CAMERAS}
W, H = 64, 48


@pytest.fixture(scope='module', autouse=True)
def shm_profile():
    """The test's own participants use the shipped profile (the node processes always do)."""
    from disdepth_ros.qos import fastdds_profile_path
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENV, str(fastdds_profile_path()))
        yield


@contextlib.contextmanager
def node_on(domain: int, tmp_path, params=None, **env):
    """A node process with the call log, and the test's participant; it must stop cleanly."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / 'calls.log'
    environment = rh.ros_env(domain, tmp_path, **{rh.CALL_LOG_ENV: str(log), **env})
    proc = rh.NodeProcess(tmp_path, environment, {**BASE, **(params or {})})
    harness = rh.RosHarness(domain)
    try:
        assert harness.wait_for_node('disdepth', TIMEOUT), proc.output()
        yield proc, harness, log
    finally:
        harness.close()
        assert proc.stop() == 0, proc.output()
        assert not rh.error_lines(proc.output()), proc.output()


def frame_of(index: int, width: int = W, height: int = H) -> np.ndarray:
    """A textured, never black RGB frame that differs per camera index."""
    v, u = np.mgrid[0:height, 0:width]
    return np.stack([(u * 4 + 30 * index) % 256, (v * 5) % 256,
                     np.full((height, width), 60 + 50 * index)], axis=-1).astype(np.uint8)


class Cameras:
    """The test's cameras: a publisher pair per name, each with its own image and focal length."""

    def __init__(self, ros: rh.RosHarness, names) -> None:
        self.ros = ros
        self.pubs = {n: (ros.publisher(sensor_msgs.Image, f'{n}/image'),
                         ros.publisher(sensor_msgs.CameraInfo, f'{n}/camera_info'))
                     for n in names}
        self.index = {n: i for i, n in enumerate(names)}
        self.sent = {n: [] for n in names}

    def intrinsics(self, name: str, width: int = W, height: int = H) -> CameraIntrinsics:
        return CameraIntrinsics.from_fov(40.0 + 15.0 * self.index[name], width, height)

    def publish(self, name: str, stamp: int, width: int = W, height: int = H) -> None:
        image_pub, info_pub = self.pubs[name]
        frame = f'{name.replace("/", "_")}_optical'
        info_pub.publish(rh.make_camera_info(self.intrinsics(name, width, height), stamp, frame))
        image_pub.publish(rh.make_image(frame_of(self.index[name], width, height), 'rgb8',
                                        stamp, frame))
        self.sent[name].append(stamp)

    def matched(self, topic_of) -> bool:
        """Whether the node subscribes every camera's topics."""
        return all(pub.get_subscription_count() > 0 for pair in self.pubs.values()
                   for pub in pair)


def expected_depth(index: int, fx: float, width: int = W, height: int = H) -> np.ndarray:
    """The fake engine's depth of camera ``index``'s frame, gated to the model's range."""
    depth, confidence = rh.fake_depth(frame_of(index, width, height), fx)
    return gate_depth(depth, confidence, rh.FAKE_SPEC.min_depth, rh.FAKE_SPEC.max_depth)


def subscribe_depth(ros: rh.RosHarness, names) -> dict:
    return {n: ros.subscribe(sensor_msgs.Image, f'{n}/depth') for n in names}


def wait_matched(ros, cameras: Cameras, outputs: dict) -> None:
    assert ros.spin_until(lambda: cameras.matched(None), TIMEOUT), 'cameras not subscribed'
    subs = list(ros._subs.values())
    assert ros.spin_until(lambda: all(s.get_publisher_count() > 0 for s in subs), TIMEOUT)


def camera_status(msgs: list, name: str):
    for msg in reversed(msgs):
        values = rh.diagnostics_values(msg, f'depth {name}')
        if values is not None:
            return values
    return None


# ------------------------------------------------------------------------------------------------
# Pure parts


def test_camera_names_are_validated():
    assert NodeConfig.from_values({'cameras': ['front', 'arm/left']}).cameras == \
        ('front', 'arm/left')
    assert not NodeConfig.from_values({}).multi_camera
    for bad in ('front cam', '2nd', 'a//b', '/abs', 'tail/', '', 'x-y'):
        with pytest.raises(ConfigError, match=f'cameras: {bad!r} is not a valid ROS name'):
            NodeConfig.from_values({'cameras': ['front', bad]})
    with pytest.raises(ConfigError, match='cameras: front listed more than once'):
        NodeConfig.from_values({'cameras': ['front', 'front']})
    with pytest.raises(ConfigError, match='cameras must be a list of strings'):
        NodeConfig.from_values({'cameras': 'front'})


def test_group_by_size_keeps_order_and_limit():
    items = [('a', (2, 3)), ('b', (4, 5)), ('c', (2, 3)), ('d', (2, 3))]
    groups = group_by_size(items, lambda it: it[1])
    assert [[name for name, _ in g] for g in groups] == [['a', 'c', 'd'], ['b']]
    groups = group_by_size(items, lambda it: it[1], limit=2)
    assert [[name for name, _ in g] for g in groups] == [['a', 'c'], ['d'], ['b']]
    assert [[n for n, _ in g] for g in group_by_size(items, lambda it: it[1], 1)] == \
        [['a'], ['c'], ['d'], ['b']]


def test_frame_slots_gather_supersede_and_close():
    slots = FrameSlots(['a', 'b', 'c'])
    f1, f2, f3 = (Frame(i, None, 0.0) for i in range(3))
    assert not slots.put('a', f1)
    assert slots.put('a', f2)           # replaced an unprocessed frame
    assert not slots.put('b', f3)
    start = time.monotonic()
    got = slots.take_all(timeout=1.0, gather=0.2)   # 'c' is missing: waits the gather time
    waited = time.monotonic() - start
    assert got == {'a': f2, 'b': f3} and 0.15 <= waited < 1.0, (got, waited)
    assert slots.take_all(timeout=0.05) == {}
    # all cameras ready: no gather wait
    for name in 'abc':
        slots.put(name, f1)
    start = time.monotonic()
    assert list(slots.take_all(timeout=1.0, gather=5.0)) == ['a', 'b', 'c']
    assert time.monotonic() - start < 1.0
    # close wakes a waiting worker
    result = []
    waiter = threading.Thread(target=lambda: result.append(slots.take_all(timeout=10.0)))
    waiter.start()
    time.sleep(0.1)
    slots.close()
    waiter.join(5.0)
    assert result == [{}] and slots.closed


# ------------------------------------------------------------------------------------------------
# Over DDS


def test_cameras_get_their_own_outputs_in_batches(tmp_path):
    """Three cameras, identical stamps: each gets its own depth, headers, values; batched."""
    with domain_coordinator.domain_id() as domain, \
            node_on(domain, tmp_path, {}, **{rh.DELAY_ENV: '0.05'}) as (proc, ros, log):
        depth = subscribe_depth(ros, CAMERAS)
        infos = {n: ros.subscribe(sensor_msgs.CameraInfo, f'{n}/depth/camera_info')
                 for n in CAMERAS}
        clouds = {n: ros.subscribe(sensor_msgs.PointCloud2, f'{n}/points') for n in CAMERAS}
        diagnostics = ros.subscribe(diagnostic_msgs.DiagnosticArray, '/diagnostics')
        cameras = Cameras(ros, CAMERAS)
        wait_matched(ros, cameras, depth)
        names = [n for n, _ in ros.node.get_topic_names_and_types()]
        assert '/depth' not in names and '/image' not in names, names
        stamps = iter(range(1_800_000_000_000_000_000, 1_900_000_000_000_000_000, 100_000_000))

        def tick():
            stamp = next(stamps)
            for name in CAMERAS:            # the same stamp on every camera (legal)
                cameras.publish(name, stamp)
        assert ros.spin_until(lambda: all(len(depth[n]) >= 5 for n in CAMERAS), TIMEOUT,
                              every=tick, period=0.1), {n: len(d) for n, d in depth.items()}
        ros.spin_until(lambda: False, 0.5)
        for index, name in enumerate(CAMERAS):
            frame = f'{name.replace("/", "_")}_optical'
            msg = depth[name][-1]
            assert msg.header.frame_id == frame
            assert rh.stamp_ns(msg) in cameras.sent[name]
            intr = cameras.intrinsics(name)
            want = expected_depth(index, intr.fx)
            np.testing.assert_allclose(cv.image_to_numpy(msg), want, rtol=1e-6, equal_nan=True)
            info = [m for m in infos[name] if rh.stamp_ns(m) == rh.stamp_ns(msg)][0]
            assert info.header.frame_id == frame
            assert cv.camera_info_to_intrinsics(info) == intr
            cloud = [m for m in clouds[name] if rh.stamp_ns(m) == rh.stamp_ns(msg)][0]
            xyz = cv.pointcloud2_to_xyz(cloud)
            np.testing.assert_allclose(xyz[..., 2], want, rtol=1e-5, equal_nan=True)
        # identical stamps: every camera got the same stamps out
        common = set.intersection(*({rh.stamp_ns(m) for m in depth[n]} for n in CAMERAS))
        assert len(common) >= 3, common
        calls = rh.read_call_log(log)
        batches = [n for kind, n in calls if kind == 'batch']
        assert batches and max(batches) >= 2, calls
        assert sum(n >= 2 for n in batches) >= 3, calls
        # per-camera diagnostics
        assert ros.spin_until(lambda: all(camera_status(diagnostics, n) for n in CAMERAS),
                              TIMEOUT)
        for name in CAMERAS:
            values = camera_status(diagnostics, name)
            assert values['camera'] == name
            assert values['image_topic'] == f'/{name}/image'
            assert int(values['frames_out']) >= 5 and values['level'] == '0', values
            assert values['resolution_changes'] == '0'
            assert values['input_qos.image'].startswith('reliable'), values


def test_a_camera_that_stops_does_not_stall_the_others(tmp_path):
    with domain_coordinator.domain_id() as domain, \
            node_on(domain, tmp_path) as (proc, ros, log):
        depth = subscribe_depth(ros, CAMERAS)
        diagnostics = ros.subscribe(diagnostic_msgs.DiagnosticArray, '/diagnostics')
        cameras = Cameras(ros, CAMERAS)
        wait_matched(ros, cameras, depth)
        stamp = [1_700_000_000_000_000_000]
        live = list(CAMERAS)

        def tick():
            stamp[0] += 100_000_000
            for name in live:
                cameras.publish(name, stamp[0])
        assert ros.spin_until(lambda: all(len(depth[n]) >= 3 for n in CAMERAS), TIMEOUT,
                              every=tick, period=0.1)
        live.remove('back')                 # 'back' stops (its last frame may still come out)
        ros.spin_until(lambda: False, 0.5, every=tick, period=0.1)
        before = {n: len(depth[n]) for n in CAMERAS}
        start = time.monotonic()
        assert ros.spin_until(lambda: all(len(depth[n]) >= before[n] + 10
                                          for n in ('front', 'arm/left')), TIMEOUT,
                              every=tick, period=0.1), {n: len(d) for n, d in depth.items()}
        rate = 10 / (time.monotonic() - start)
        ros.spin_until(lambda: False, 0.5)
        assert len(depth['back']) == before['back']
        assert rate > 4.0, rate             # sent at 10 Hz: the others keep their rate

        def back_idle():
            values = camera_status(diagnostics, 'back')
            front = camera_status(diagnostics, 'front')
            return (values is not None and front is not None
                    and int(front['frames_out']) >= before['front'] + 10
                    and float(values['input_hz']) == 0.0)
        assert ros.spin_until(back_idle, TIMEOUT)
        assert int(camera_status(diagnostics, 'back')['frames_out']) == before['back']


def test_resolution_changing_camera_is_counted_and_the_others_unaffected(tmp_path):
    sizes = [(64, 48), (80, 60), (48, 32)]
    with domain_coordinator.domain_id() as domain, \
            node_on(domain, tmp_path, {'cameras': ['front', 'odd']}) as (proc, ros, log):
        depth = subscribe_depth(ros, ['front', 'odd'])
        diagnostics = ros.subscribe(diagnostic_msgs.DiagnosticArray, '/diagnostics')
        cameras = Cameras(ros, ['front', 'odd'])
        wait_matched(ros, cameras, depth)
        count = [0]
        size_of = {}

        def tick():
            count[0] += 1
            stamp = 1_600_000_000_000_000_000 + count[0] * 100_000_000
            cameras.publish('front', stamp)
            w, h = sizes[count[0] % len(sizes)]
            size_of[stamp] = (w, h)
            cameras.publish('odd', stamp, w, h)
        assert ros.spin_until(lambda: len(depth['front']) >= 8 and len(depth['odd']) >= 8,
                              TIMEOUT, every=tick, period=0.1)
        for msg in depth['odd']:
            w, h = size_of[rh.stamp_ns(msg)]
            assert (msg.width, msg.height) == (w, h)
            want = expected_depth(1, cameras.intrinsics('odd', w, h).fx, w, h)
            np.testing.assert_allclose(cv.image_to_numpy(msg), want, rtol=1e-6, equal_nan=True)
        assert all((m.width, m.height) == (W, H) for m in depth['front'])

        def counted():
            odd, front = camera_status(diagnostics, 'odd'), camera_status(diagnostics, 'front')
            return odd is not None and int(odd['resolution_changes']) >= 7 \
                and front['resolution_changes'] == '0'
        assert ros.spin_until(counted, TIMEOUT), camera_status(diagnostics, 'odd')
        out = proc.output()
        assert 'camera odd changed resolution from' in out, out
        # throttled: far fewer warnings than changes
        assert out.count('camera odd changed resolution') <= 3, out
        # frames of different sizes never share a batch
        calls = rh.read_call_log(log)
        assert calls and all(n <= 2 for _, n in calls), calls


def test_fixed_batch_model_runs_one_by_one_with_one_warning(tmp_path):
    model = tmp_path / 'fixed.json'
    tmp_path.mkdir(parents=True, exist_ok=True)
    model.write_text(json.dumps({'max_batch': 1, 'delay_s': 0.05}))
    with domain_coordinator.domain_id() as domain, \
            node_on(domain, tmp_path, {'cameras': ['front', 'back'],
                                       'model': str(model)}) as (proc, ros, log):
        depth = subscribe_depth(ros, ['front', 'back'])
        cameras = Cameras(ros, ['front', 'back'])
        wait_matched(ros, cameras, depth)
        stamp = [1_500_000_000_000_000_000]

        def tick():
            stamp[0] += 100_000_000
            cameras.publish('front', stamp[0])
            cameras.publish('back', stamp[0])
        assert ros.spin_until(lambda: len(depth['front']) >= 5 and len(depth['back']) >= 5,
                              TIMEOUT, every=tick, period=0.1)
        calls = rh.read_call_log(log)
        assert calls and set(calls) == {('predict', 1)}, calls
        out = proc.output()
        assert out.count('takes one image per call') == 1, out
        assert 'disdepth export CHECKPOINT OUT.onnx --dynamic-batch' in out


def test_invalid_camera_name_is_refused_at_start(tmp_path):
    with domain_coordinator.domain_id() as domain:
        proc = rh.NodeProcess(tmp_path, rh.ros_env(domain, tmp_path),
                              {**BASE, 'cameras': ['front', 'rear cam']})
        code = proc.wait_exit(timeout=60.0)
        out = proc.output()
    assert code == 1, out
    assert "cannot start: invalid parameters: cameras: 'rear cam' is not a valid ROS name" in out
