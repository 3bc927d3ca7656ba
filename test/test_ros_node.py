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
The node in its own process over Fast DDS, fed real HoloLens frames with their intrinsics.

One node process (the deterministic ``fake`` engine, see ros_helpers) serves most tests of this
module; each test works with deltas of the node's /diagnostics so that tests stay independent.
Every wait has a timeout of at least 10 s and no test sleeps a fixed time.
"""

import math

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
sensor_msgs = pytest.importorskip('sensor_msgs.msg')
diagnostic_msgs = pytest.importorskip('diagnostic_msgs.msg')
domain_coordinator = pytest.importorskip('domain_coordinator')

import ros_helpers as rh  # noqa: E402  (after the skips: needs rclpy's message packages)

from disdepth_core import rosmsg as cv  # noqa: E402
from disdepth_core.geometry import CameraIntrinsics  # noqa: E402, I100

FRAME = 'hololens_optical'
TIMEOUT = 20.0
BASE = {'engine': 'fake', 'diagnostics_period': 0.5}

if not (rh.HOLOLENS / 'rgb').is_dir():
    pytest.skip(f'real frames not found at {rh.HOLOLENS}', allow_module_level=True)


@pytest.fixture(scope='module', autouse=True)
def shm_profile():
    """
    Give this process' own participants the shipped Fast DDS profile too.

    Fast DDS reads the file when the process creates its first participant, so this helps when
    no earlier test of the session created one; the node processes always get it.
    """
    from disdepth_ros.qos import fastdds_profile_path
    from disdepth_ros.qos import PROFILE_ENV
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENV, str(fastdds_profile_path()))
        yield


@pytest.fixture(scope='module')
def domain():
    with domain_coordinator.domain_id() as domain_id:
        yield domain_id


@pytest.fixture(scope='module')
def node(domain, tmp_path_factory):
    """The node under test (fake engine, default parameters plus a short diagnostics period)."""
    tmp = tmp_path_factory.mktemp('node')
    proc = rh.NodeProcess(tmp, rh.ros_env(domain, tmp), BASE)
    yield proc
    code = proc.stop()
    assert code == 0, proc.output()


@pytest.fixture
def ros(domain, node):
    harness = rh.RosHarness(domain)
    assert harness.wait_for_node('disdepth', TIMEOUT), node.output()
    yield harness
    harness.close()


class Camera:
    """Publishes HoloLens frames (bgr8, as stored) and their camera_info with unique stamps."""

    def __init__(self, ros: rh.RosHarness, info_scale: int = 1, encoding: str = 'bgr8',
                 base_ns: int = 1_700_000_000_000_000_000) -> None:
        self.ros = ros
        self.image_pub = ros.publisher(sensor_msgs.Image, 'image')
        self.info_pub = ros.publisher(sensor_msgs.CameraInfo, 'camera_info')
        self.frames = rh.hololens_frames(3)
        self.intr = rh.hololens_intrinsics()
        self.info_scale = info_scale
        self.encoding = encoding
        self.next_ns = base_ns
        self.sent = {}   # stamp -> (rgb, image msg)

    def wait_connected(self) -> None:
        ok = self.ros.spin_until(lambda: self.image_pub.get_subscription_count() > 0
                                 and self.info_pub.get_subscription_count() > 0, TIMEOUT)
        assert ok, 'the node did not subscribe to image and camera_info'

    def publish(self, info: bool = True, image: bool = True) -> int:
        stamp = self.next_ns
        self.next_ns += 33_000_000
        bgr = self.frames[len(self.sent) % len(self.frames)]
        array = bgr if self.encoding == 'bgr8' else np.ascontiguousarray(bgr[..., ::-1])
        msg = rh.make_image(array, self.encoding, stamp, FRAME)
        self.sent[stamp] = (np.ascontiguousarray(bgr[..., ::-1]), msg)
        if info:
            s = self.info_scale
            intr = self.intr.scaled(self.intr.width * s, self.intr.height * s)
            self.info_pub.publish(rh.make_camera_info(intr, stamp, FRAME))
        if image:
            self.image_pub.publish(msg)
        return stamp


class Outputs:
    """Collects every output of the node, by stamp."""

    TOPICS = {'depth': sensor_msgs.Image, 'depth/camera_info': sensor_msgs.CameraInfo,
              'points': sensor_msgs.PointCloud2, 'depth/confidence': sensor_msgs.Image,
              'depth/colorized': sensor_msgs.Image}

    def __init__(self, ros: rh.RosHarness, topics=None) -> None:
        self.ros = ros
        self.lists = {t: ros.subscribe(self.TOPICS[t], t) for t in (topics or self.TOPICS)}

    def wait_connected(self) -> None:
        subs = [self.ros._subs[t] for t in self.lists]
        assert self.ros.spin_until(lambda: all(s.get_publisher_count() > 0 for s in subs),
                                   TIMEOUT), 'outputs not matched'

    def complete(self, stamps) -> list:
        """Stamps (of ``stamps``) for which every collected topic has a message."""
        have = [{rh.stamp_ns(m) for m in msgs} for msgs in self.lists.values()]
        return [s for s in stamps if all(s in h for h in have)]

    def by_stamp(self, topic: str, stamp: int):
        return next(m for m in self.lists[topic] if rh.stamp_ns(m) == stamp)


class Diagnostics:
    """Latest /diagnostics values of the node."""

    def __init__(self, ros: rh.RosHarness) -> None:
        self.ros = ros
        self.msgs = ros.subscribe(diagnostic_msgs.DiagnosticArray, '/diagnostics')

    def latest(self, newer_than: int = 0, timeout: float = TIMEOUT) -> dict:
        start = len(self.msgs)
        ok = self.ros.spin_until(
            lambda: len(self.msgs) > max(start, newer_than)
            and rh.diagnostics_values(self.msgs[-1]) is not None, timeout)
        assert ok, 'no /diagnostics from the node'
        return rh.diagnostics_values(self.msgs[-1])

    def wait(self, predicate, timeout: float = TIMEOUT, every=None) -> dict:
        found = {}

        def check() -> bool:
            if self.msgs:
                values = rh.diagnostics_values(self.msgs[-1])
                if values is not None and predicate(values):
                    found.update(values)
                    return True
            return False
        assert self.ros.spin_until(check, timeout, every=every), \
            f'diagnostics never satisfied the condition; last: ' \
            f'{rh.diagnostics_values(self.msgs[-1]) if self.msgs else None}'
        return found


def _i(values: dict, key: str) -> int:
    return int(values[key])


def _set_parameters(ros: rh.RosHarness, **params):
    """Set node parameters through its service; return the SetParametersResult list."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    client = ros.node.create_client(SetParameters, '/disdepth/set_parameters')
    try:
        assert ros.spin_until(client.service_is_ready, TIMEOUT), 'no parameter service'
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in params.items()])
        future = client.call_async(request)
        assert ros.spin_until(future.done, TIMEOUT), 'set_parameters timed out'
        return future.result().results
    finally:
        ros.node.destroy_client(client)


def _node_reliability(ros: rh.RosHarness, topic: str) -> list:
    """Reliability of each subscription the node has on ``topic``."""
    return [i.qos_profile.reliability for i in ros.node.get_subscriptions_info_by_topic(topic)
            if i.node_name == 'disdepth']


def _run_until_outputs(ros, camera, outputs, count: int = 2, **publish_kwargs) -> list:
    """Publish frames every 0.2 s until ``count`` of them came back on every output."""
    first = camera.next_ns
    ok = ros.spin_until(
        lambda: len(outputs.complete([s for s in camera.sent if s >= first])) >= count,
        TIMEOUT, every=lambda: camera.publish(**publish_kwargs), period=0.25)
    assert ok, 'outputs did not arrive'
    return outputs.complete([s for s in camera.sent if s >= first])


# ------------------------------------------------------------------------------------------------


def test_no_inference_without_subscribers(ros, node):
    diag = Diagnostics(ros)
    camera = Camera(ros)
    camera.wait_connected()
    before = diag.latest()
    after = diag.wait(lambda v: _i(v, 'frames_in') >= _i(before, 'frames_in') + 3,
                      every=camera.publish)
    assert _i(after, 'frames_out') == _i(before, 'frames_out')
    assert _i(after, 'dropped.no_subscribers') >= _i(before, 'dropped.no_subscribers') + 3
    assert after['outputs_subscribed'] == 'none'


def test_all_outputs_on_real_frames(ros, node):
    camera = Camera(ros)
    outputs = Outputs(ros)
    camera.wait_connected()
    outputs.wait_connected()
    stamps = _run_until_outputs(ros, camera, outputs, count=2)
    intr = camera.intr
    for stamp in stamps:
        rgb, sent = camera.sent[stamp]
        h, w = rgb.shape[:2]
        want_depth, want_conf = rh.fake_depth(rgb, intr.fx)
        # depth: 32FC1 metres, same header, values within the model range, NaN invalid
        depth_msg = outputs.by_stamp('depth', stamp)
        assert depth_msg.header == sent.header
        assert (depth_msg.encoding, depth_msg.height, depth_msg.width) == ('32FC1', h, w)
        depth = cv.image_to_numpy(depth_msg)
        np.testing.assert_array_equal(depth, want_depth)
        valid = depth[np.isfinite(depth)]
        assert valid.size > 0.9 * depth.size
        assert valid.min() >= rh.FAKE_SPEC.min_depth and valid.max() <= rh.FAKE_SPEC.max_depth
        assert np.isnan(depth[0, 0])
        # camera info of the depth: same intrinsics and size
        info = outputs.by_stamp('depth/camera_info', stamp)
        assert info.header == sent.header and (info.width, info.height) == (w, h)
        assert cv.camera_info_to_intrinsics(info) == intr
        # confidence
        conf_msg = outputs.by_stamp('depth/confidence', stamp)
        assert conf_msg.header == sent.header and conf_msg.encoding == '32FC1'
        np.testing.assert_array_equal(cv.image_to_numpy(conf_msg), want_conf)
        # colourised: bgr8, same size, black where invalid
        col = outputs.by_stamp('depth/colorized', stamp)
        assert col.header == sent.header and col.encoding == 'bgr8'
        col_arr = cv.image_to_numpy(col)
        assert col_arr.shape == (h, w, 3) and col_arr[0, 0].tolist() == [0, 0, 0]
        # organised cloud, depth_image_proc layout, z == depth, colours of the input
        cloud = outputs.by_stamp('points', stamp)
        assert cloud.header == sent.header
        assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (
            h, w, 32, 32 * w)
        assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
            ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 16, 7, 1)]
        assert cloud.is_dense is False and cloud.is_bigendian is False
        xyz = cv.pointcloud2_to_xyz(cloud)
        packed = np.frombuffer(bytes(cloud.data), '<u4').reshape(h, w, 8)[..., 4]
        rng = np.random.default_rng(0)
        for v, u in zip(rng.integers(2, h, 50), rng.integers(2, w, 50)):
            z = depth[v, u]
            assert xyz[v, u, 2] == z
            assert xyz[v, u, 0] == pytest.approx((u - intr.cx) / intr.fx * z, rel=1e-5)
            assert xyz[v, u, 1] == pytest.approx((v - intr.cy) / intr.fy * z, rel=1e-5)
            r, g, b = (int(c) for c in rgb[v, u])
            assert packed[v, u] == (r << 16) | (g << 8) | b
        assert np.isnan(xyz[0, 0]).all()
    # the output thread publishes frames in the order they came
    for topic in ('depth', 'points'):
        got = [rh.stamp_ns(m) for m in outputs.lists[topic]]
        assert got == sorted(got), topic


def test_camera_info_of_another_resolution_is_rescaled(ros, node):
    camera = Camera(ros, info_scale=2, encoding='rgb8', base_ns=1_700_000_100_000_000_000)
    outputs = Outputs(ros, ['depth', 'depth/camera_info'])
    camera.wait_connected()
    outputs.wait_connected()
    stamps = _run_until_outputs(ros, camera, outputs, count=1)
    rgb, _ = camera.sent[stamps[0]]
    info = outputs.by_stamp('depth/camera_info', stamps[0])
    assert (info.width, info.height) == (540, 360)
    got = cv.camera_info_to_intrinsics(info)
    for name in ('fx', 'fy', 'cx', 'cy'):
        assert getattr(got, name) == pytest.approx(getattr(camera.intr, name), abs=1e-9)
    assert list(info.p[:3]) == pytest.approx(list(info.k[:3]))
    depth = cv.image_to_numpy(outputs.by_stamp('depth', stamps[0]))
    np.testing.assert_allclose(depth, rh.fake_depth(rgb, got.fx)[0], rtol=1e-6)


def _bad_image(kind: str, stamp: int):
    msg = rh.make_image(np.zeros((8, 8, 3), np.uint8), 'rgb8', stamp, FRAME)
    if kind == 'encoding':
        msg.encoding = 'yuv422'
    elif kind == 'zero':
        msg.height, msg.width, msg.step, msg.data = 0, 0, 0, b''
    elif kind == 'step':
        msg.step = 30
    return msg


def test_bad_input_is_counted_and_survived(ros, node):
    camera = Camera(ros, base_ns=1_700_000_200_000_000_000)
    outputs = Outputs(ros, ['depth'])
    diag = Diagnostics(ros)
    camera.wait_connected()
    outputs.wait_connected()
    before = diag.latest()
    for kind in ('encoding', 'zero', 'step'):
        def send(kind=kind):
            stamp = camera.publish(image=False)
            camera.image_pub.publish(_bad_image(kind, stamp))
        after = diag.wait(lambda v: _i(v, 'dropped.bad_image') > _i(before, 'dropped.bad_image'),
                          every=send)
        before = after
    assert 'step' in after['last_error']
    # NaN and zero intrinsics: dropped as bad camera_info (no fallback configured)
    for bad in (math.nan, 0.0):
        def send_bad_info(bad=bad):
            stamp = camera.publish(info=False)
            info = rh.make_camera_info(camera.intr, stamp, FRAME)
            info.k = [bad] * 9
            info.p = [bad] * 12
            camera.info_pub.publish(info)
        after = diag.wait(
            lambda v: _i(v, 'dropped.bad_camera_info') > _i(before, 'dropped.bad_camera_info'),
            every=send_bad_info)
        before = after
    assert 'camera' in after['last_error']
    assert int(after['level']) >= 1
    # the engine fails on a frame: counted, the node goes on

    def send_black() -> None:
        stamp = camera.publish(image=False, info=False)
        camera.info_pub.publish(rh.make_camera_info(CameraIntrinsics.from_fov(60.0, 8, 8),
                                                    stamp, FRAME))
        camera.image_pub.publish(rh.make_image(np.zeros((8, 8, 3), np.uint8), 'rgb8', stamp,
                                               FRAME))
    after = diag.wait(
        lambda v: _i(v, 'dropped.inference_error') > _i(before, 'dropped.inference_error'),
        every=send_black)
    assert 'all-black' in after['last_error']
    # ... and good frames still go through
    _run_until_outputs(ros, camera, outputs, count=1)
    assert node.proc.poll() is None


def test_missing_camera_info_is_counted(ros, node):
    camera = Camera(ros, base_ns=1_700_000_300_000_000_000)
    outputs = Outputs(ros, ['depth'])
    diag = Diagnostics(ros)
    camera.wait_connected()
    outputs.wait_connected()
    before = diag.latest()
    after = diag.wait(
        lambda v: _i(v, 'dropped.no_camera_info') >= _i(before, 'dropped.no_camera_info') + 3,
        every=lambda: camera.publish(info=False), timeout=30.0)
    assert _i(after, 'frames_out') == _i(before, 'frames_out')
    assert 'waiting for camera_info on /camera_info' in node.output()


def test_publisher_restart_and_time_jump(ros, node, domain):
    outputs = Outputs(ros, ['depth'])
    outputs.wait_connected()
    first = rh.RosHarness(domain, 'camera_a')
    try:
        camera = Camera(first, base_ns=1_800_000_000_000_000_000)
        camera.wait_connected()
        assert ros.spin_until(lambda: any(rh.stamp_ns(m) in camera.sent
                                          for m in outputs.lists['depth']),
                              TIMEOUT, every=lambda: (camera.publish(), first.executor
                                                      .spin_once(timeout_sec=0)))
    finally:
        first.close()
    # a new camera process whose clock starts earlier (a restarted driver or a looping bag)
    second = rh.RosHarness(domain, 'camera_b')
    try:
        camera = Camera(second, base_ns=1_750_000_000_000_000_000)
        camera.wait_connected()
        assert ros.spin_until(lambda: any(rh.stamp_ns(m) in camera.sent
                                          for m in outputs.lists['depth']),
                              TIMEOUT, every=lambda: (camera.publish(), second.executor
                                                      .spin_once(timeout_sec=0)))
    finally:
        second.close()


def test_runtime_parameters(ros, node):
    camera = Camera(ros, base_ns=1_700_000_400_000_000_000)
    outputs = Outputs(ros, ['depth', 'points'])
    camera.wait_connected()
    outputs.wait_connected()
    results = _set_parameters(ros, point_stride=3, depth_encoding='16UC1', points_rgb=False,
                              max_depth=2.0, min_confidence=0.1)
    assert all(r.successful for r in results), [r.reason for r in results]
    try:
        stamps = _run_until_outputs(ros, camera, outputs, count=1)
        depth_msg = outputs.by_stamp('depth', stamps[-1])
        cloud = outputs.by_stamp('points', stamps[-1])
        assert depth_msg.encoding == '16UC1'
        assert (cloud.height, cloud.width, cloud.point_step) == (120, 180, 16)
        mm = cv.image_to_numpy(depth_msg)
        xyz = cv.pointcloud2_to_xyz(cloud)
        rgb, _ = camera.sent[stamps[-1]]
        want, confidence = rh.fake_depth(rgb, camera.intr.fx)
        gated = (want > 2.0) | (confidence < 0.1)
        assert gated.any() and (~gated).any()
        # gated pixels are invalid in the depth image (0 mm) and the cloud (NaN) alike
        assert (mm[gated] == 0).all() and (mm[~gated & np.isfinite(want)] > 0).all()
        assert mm.max() <= 2000
        assert np.isnan(xyz[..., 2][gated[::3, ::3]]).all()
        valid = ~np.isnan(xyz[..., 2])
        np.testing.assert_allclose(xyz[..., 2][valid] * 1000, mm[::3, ::3][valid], atol=0.5)
        # invalid and read-only values are refused with a reason, the old value stays
        bad = _set_parameters(ros, point_stride=0)
        assert not bad[0].successful and 'point_stride' in bad[0].reason
        ro = _set_parameters(ros, **{'qos.depth.depth': 5})
        assert not ro[0].successful
    finally:
        _set_parameters(ros, point_stride=1, depth_encoding='32FC1', points_rgb=True,
                        max_depth=0.0, min_confidence=0.0)


def test_model_reload(ros, node, tmp_path):
    camera = Camera(ros, base_ns=1_700_000_500_000_000_000)
    outputs = Outputs(ros, ['depth'])
    diag = Diagnostics(ros)
    camera.wait_connected()
    outputs.wait_connected()
    # a model that cannot load: refused, the old model keeps serving, the error is reported
    missing = tmp_path / 'missing.json'
    result = _set_parameters(ros, model=str(missing))[0]
    assert not result.successful and 'still serving' in result.reason
    assert str(missing) in result.reason
    corrupt = tmp_path / 'corrupt.json'
    corrupt.write_bytes(b'\x00\x01 not a model')
    result = _set_parameters(ros, model=str(corrupt))[0]
    assert not result.successful and 'corrupt' in result.reason
    values = diag.latest()
    assert 'corrupt' in values['last_error'] and values['model'] == 'fake://default'
    stamps = _run_until_outputs(ros, camera, outputs, count=1)
    rgb, _ = camera.sent[stamps[-1]]
    depth = cv.image_to_numpy(outputs.by_stamp('depth', stamps[-1]))
    np.testing.assert_array_equal(depth, rh.fake_depth(rgb, camera.intr.fx)[0])
    # a good model: loaded without restarting, its output is served
    good = tmp_path / 'good.json'
    good.write_text('{"offset": 1.0}')
    try:
        assert _set_parameters(ros, model=str(good))[0].successful
        stamps = _run_until_outputs(ros, camera, outputs, count=1)
        rgb, _ = camera.sent[stamps[-1]]
        depth = cv.image_to_numpy(outputs.by_stamp('depth', stamps[-1]))
        np.testing.assert_allclose(depth, rh.fake_depth(rgb, camera.intr.fx, 1.0)[0],
                                   rtol=1e-6)
        assert diag.latest()['model'] == str(good)
    finally:
        assert _set_parameters(ros, model='')[0].successful


def test_diagnostics_content(ros, node):
    camera = Camera(ros, base_ns=1_700_000_600_000_000_000)
    outputs = Outputs(ros, ['depth'])
    diag = Diagnostics(ros)
    camera.wait_connected()
    outputs.wait_connected()
    before = diag.latest()
    values = diag.wait(lambda v: float(v['output_hz']) > 0 and float(v['input_hz']) > 0
                       and _i(v, 'published.depth') > _i(before, 'published.depth') + 2,
                       every=camera.publish)
    # only depth has a subscriber: no other output is computed
    for output in ('points', 'colorized', 'confidence', 'depth_camera_info'):
        key = f'published.{output}'
        assert values.get(key, '0') == before.get(key, '0'), key
    assert values['outputs_subscribed'] == 'depth'
    assert values['engine'] == 'fake' and values['provider'] == 'FakeCPU'
    assert values['hardware_id'] == 'FakeCPU'
    assert float(values['inference_ms_mean']) >= 0 and float(values['inference_ms_p95']) >= \
        float(values['inference_ms_mean']) * 0.5
    assert values['depth_range_m'] == '0.1..10'
    assert float(values['latency_ms_mean']) >= float(values['processing_ms_mean']) >= \
        float(values['inference_ms_mean'])
    for key in ('latency_ms_mean', 'latency_ms_p95', 'processing_ms_p95', 'frames_in',
                'frames_out', 'dropped_total', 'dropped.superseded', 'dropped.no_camera_info',
                'dropped.bad_image', 'dropped.inference_error', 'last_error', 'published.depth'):
        assert key in values, key
    total = sum(int(v) for k, v in values.items() if k.startswith('dropped.'))
    assert int(values['dropped_total']) == total
    # every frame that came in is published, dropped with a reason, or still in flight
    assert 0 <= _i(values, 'frames_in') - _i(values, 'frames_out') - total <= 2


def test_qos_serves_reliable_and_best_effort_subscribers(ros, node):
    camera = Camera(ros, base_ns=1_700_000_700_000_000_000)
    reliable = ros.subscribe(sensor_msgs.Image, 'depth', reliable=True)
    best_effort = ros.subscribe(sensor_msgs.PointCloud2, 'points', reliable=False)
    camera.wait_connected()
    infos = ros.node.get_publishers_info_by_topic('/depth')
    assert ros.spin_until(lambda: ros.node.get_publishers_info_by_topic('/points'), TIMEOUT)
    from rclpy.qos import ReliabilityPolicy
    infos = ros.node.get_publishers_info_by_topic('/depth') + \
        ros.node.get_publishers_info_by_topic('/points')
    assert infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
    # the camera publishes reliable, so the node's 'auto' image subscription is reliable too
    assert ros.spin_until(lambda: _node_reliability(ros, '/image') == [
        ReliabilityPolicy.RELIABLE], TIMEOUT), _node_reliability(ros, '/image')
    first = camera.next_ns
    assert ros.spin_until(
        lambda: any(rh.stamp_ns(m) >= first for m in reliable)
        and any(rh.stamp_ns(m) >= first for m in best_effort), TIMEOUT, every=camera.publish)


# ------------------------------------------------------------------------------------------------
# Separate node processes: fallback intrinsics, overload, start-up failures.


def _own_node(domain, tmp_path, params, **env):
    return rh.node_and_harness(domain, tmp_path, {**BASE, **params}, timeout=TIMEOUT, **env)


def test_runs_without_camera_info_on_fallback_fov(tmp_path):
    with domain_coordinator.domain_id() as domain:
        with _own_node(domain, tmp_path, {'fallback_hfov_deg': 60.0}) as (proc, ros):
            camera = Camera(ros)
            outputs = Outputs(ros, ['depth', 'depth/camera_info'])
            camera.wait_connected()
            outputs.wait_connected()
            stamps = _run_until_outputs(ros, camera, outputs, count=2, info=False)
            want = CameraIntrinsics.from_fov(60.0, 540, 360)
            for stamp in stamps:
                info = outputs.by_stamp('depth/camera_info', stamp)
                assert cv.camera_info_to_intrinsics(info) == want
                rgb, _ = camera.sent[stamp]
                np.testing.assert_array_equal(
                    cv.image_to_numpy(outputs.by_stamp('depth', stamp)),
                    rh.fake_depth(rgb, want.fx)[0])
            assert proc.output().count('using the fallback intrinsics') == 1


def test_one_thread_mode_gives_the_same_outputs(tmp_path):
    """``overlap_outputs: false``: build and publish on the inference thread, same messages."""
    with domain_coordinator.domain_id() as domain:
        with _own_node(domain, tmp_path, {'overlap_outputs': False}) as (proc, ros):
            camera = Camera(ros)
            outputs = Outputs(ros, ['depth', 'points'])
            camera.wait_connected()
            outputs.wait_connected()
            stamps = _run_until_outputs(ros, camera, outputs, count=2)
            for stamp in stamps:
                rgb, sent = camera.sent[stamp]
                depth_msg = outputs.by_stamp('depth', stamp)
                assert depth_msg.header == sent.header
                depth = cv.image_to_numpy(depth_msg)
                np.testing.assert_array_equal(depth, rh.fake_depth(rgb, camera.intr.fx)[0])
                xyz = cv.pointcloud2_to_xyz(outputs.by_stamp('points', stamp))
                np.testing.assert_array_equal(xyz[..., 2], depth)


def test_overload_drops_old_frames_with_bounded_latency_and_memory(tmp_path):
    delay = 0.2
    with domain_coordinator.domain_id() as domain:
        with _own_node(domain, tmp_path, {}, DISDEPTH_FAKE_DELAY_S=str(delay)) as (proc, ros):
            camera = Camera(ros)
            outputs = Outputs(ros, ['depth'])
            diag = Diagnostics(ros)
            camera.wait_connected()
            outputs.wait_connected()
            _run_until_outputs(ros, camera, outputs, count=1)   # warm up
            rss_before = proc.rss_mb()
            # the baseline must be a report with no frame in flight (frames_in counted, not yet
            # published), else every difference below is off by one
            before = diag.wait(lambda v: _i(v, 'frames_out') >= 1 and _i(v, 'frames_in') - _i(
                v, 'frames_out') - _i(v, 'dropped_total') == 0)
            import time
            sent_at, received_at = {}, {}
            depth_msgs = outputs.lists['depth']

            def send() -> None:
                sent_at[camera.publish()] = time.monotonic()

            def note_arrivals() -> bool:
                for m in depth_msgs:
                    received_at.setdefault(rh.stamp_ns(m), time.monotonic())
                return False
            # 4x faster than inference (20 Hz against 5 Hz) for 4 s
            ros.spin_until(note_arrivals, 4.0, every=send, period=delay / 4)
            ros.spin_until(lambda: note_arrivals() or False, 1.0)
            burst = [s for s in received_at if s in sent_at]
            values = diag.wait(lambda v: _i(v, 'frames_in') - _i(v, 'frames_out') - _i(
                v, 'dropped_total') == 0)
            frames_in, frames_out, superseded = (
                _i(values, k) - _i(before, k)
                for k in ('frames_in', 'frames_out', 'dropped.superseded'))
            assert len(sent_at) >= 30 and frames_in >= 20, (len(sent_at), frames_in)
            assert 5 <= len(burst) <= frames_out <= 4.0 / delay + 3, (len(burst), frames_out)
            # every frame that was not published is counted; the latest-frame policy drops most
            # of them (a loaded machine may also lose a few to stamp matching), none is an error
            lost = frames_in - frames_out
            assert lost >= superseded >= frames_in // 3, values
            assert superseded + sum(_i(values, f'dropped.{r}') - _i(before, f'dropped.{r}')
                                    for r in ('no_camera_info',)) == lost, values
            # bounded: about one inference behind (a queue would reach 60 x 0.2 s = 12 s)
            latencies = [received_at[s] - sent_at[s] for s in burst]
            assert max(latencies) < 2 * delay + 1.0, latencies
            assert proc.rss_mb() - rss_before < 40.0


def _start_fails(domain, tmp_path, params, **env) -> str:
    proc = rh.NodeProcess(tmp_path, rh.ros_env(domain, tmp_path, **env), {**BASE, **params})
    code = proc.wait_exit(timeout=60.0)
    assert code == 1, proc.output()
    return proc.output()


def test_start_fails_clearly(tmp_path):
    with domain_coordinator.domain_id() as domain:
        out = _start_fails(domain, tmp_path, {'point_stride': 0, 'min_confidence': 2.0})
        assert 'point_stride must be >= 1' in out and 'min_confidence' in out
        missing = tmp_path / 'nope.json'
        out = _start_fails(domain, tmp_path, {'engine': 'fake', 'model': str(missing)})
        assert f'model file {missing} does not exist' in out


# ------------------------------------------------------------------------------------------------
# The real inference engine (ONNX Runtime) in the node process.


def _toy_model(tmp_path, **kwargs):
    toymodel = pytest.importorskip('disdepth_core.inference.toymodel')
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    return toymodel, toymodel.write_toy_onnx(tmp_path / 'toy.onnx', **kwargs)


def test_real_onnxruntime_engine_on_real_frames(tmp_path):
    toymodel, model = _toy_model(tmp_path)
    from disdepth_core.geometry import metric_scale
    spec = toymodel.TOY_SPEC
    with domain_coordinator.domain_id() as domain:
        params = {'engine': 'auto', 'model': str(model), 'device': 'cpu'}
        with _own_node(domain, tmp_path, params) as (proc, ros):
            camera = Camera(ros)
            outputs = Outputs(ros, ['depth', 'points'])
            diag = Diagnostics(ros)
            camera.wait_connected()
            outputs.wait_connected()
            stamps = _run_until_outputs(ros, camera, outputs, count=1)
            rgb, sent = camera.sent[stamps[0]]
            depth_msg = outputs.by_stamp('depth', stamps[0])
            assert depth_msg.header == sent.header and depth_msg.encoding == '32FC1'
            depth = cv.image_to_numpy(depth_msg)
            assert depth.shape == rgb.shape[:2]
            valid = depth[np.isfinite(depth)]
            assert valid.size > 0.95 * depth.size
            assert spec.min_depth <= valid.min() and valid.max() <= spec.max_depth
            # the toy model: canonical depth 0.5 + 4 * brightness, times the camera's scale
            scale = metric_scale(spec.canonical_focal, camera.intr,
                                 (spec.input_height, spec.input_width))
            expected = (toymodel.TOY_OFFSET + toymodel.TOY_GAIN * rgb.mean() / 255.0) * scale
            assert float(valid.mean()) == pytest.approx(expected, rel=0.05)
            xyz = cv.pointcloud2_to_xyz(outputs.by_stamp('points', stamps[0]))
            np.testing.assert_array_equal(xyz[..., 2], depth)
            values = diag.latest()
            assert values['engine'] == 'onnxruntime'
            assert values['provider'] == 'CPUExecutionProvider'
            assert values['model'] == str(model)
            # a broken model on reload: refused, the toy model keeps serving
            corrupt = tmp_path / 'corrupt.onnx'
            corrupt.write_bytes(b'\x08\x07 not a protobuf' * 20)
            result = _set_parameters(ros, model=str(corrupt))[0]
            assert not result.successful and 'still serving' in result.reason
            _run_until_outputs(ros, camera, outputs, count=1)


def test_start_fails_clearly_for_broken_onnx_models(tmp_path):
    toymodel, _ = _toy_model(tmp_path)
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes(b'\x08\x07 not a protobuf' * 20)
    grey = toymodel.write_toy_onnx(tmp_path / 'grey.onnx', channels=1)
    with domain_coordinator.domain_id() as domain:
        for model, message in ((tmp_path / 'missing.onnx', 'does not exist'),
                               (corrupt, 'cannot load'),
                               (grey, 'N x 3 x H x W')):
            out = _start_fails(domain, tmp_path, {'engine': 'auto', 'model': str(model)})
            assert 'cannot start' in out and str(model) in out and message in out, out


def test_packaged_default_model(tmp_path):
    from disdepth_core.assets import packaged_model_paths
    if packaged_model_paths()['onnx'] is None:
        pytest.skip('no packaged default model in disdepth_core/assets yet')
    pytest.importorskip('onnxruntime')
    with domain_coordinator.domain_id() as domain:
        with _own_node(domain, tmp_path, {'engine': 'auto', 'model': ''}) as (proc, ros):
            camera = Camera(ros)
            outputs = Outputs(ros, ['depth'])
            diag = Diagnostics(ros)
            camera.wait_connected()
            outputs.wait_connected()
            stamps = _run_until_outputs(ros, camera, outputs, count=1)
            depth = cv.image_to_numpy(outputs.by_stamp('depth', stamps[0]))
            valid = depth[np.isfinite(depth)]
            lo, hi = (float(x) for x in diag.latest()['depth_range_m'].split('..'))
            assert valid.size > 0.5 * depth.size
            assert lo <= valid.min() and valid.max() <= hi
