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
The managed node ``disdepth_lifecycle_node`` in its own process, driven over DDS.

Transitions go through its ``change_state`` / ``get_state`` services, as a lifecycle manager
(Nav2's, or ``ros2 lifecycle set``) would send them.  The fake engine (ros_helpers) makes every
published depth predictable.
"""

import subprocess

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
sensor_msgs = pytest.importorskip('sensor_msgs.msg')
lifecycle_msgs = pytest.importorskip('lifecycle_msgs.srv')
domain_coordinator = pytest.importorskip('domain_coordinator')

import ros_helpers as rh  # noqa: E402  (after the skips: needs rclpy's message packages)

from disdepth_core import rosmsg as cv  # noqa: E402
from disdepth_core.geometry import CameraIntrinsics  # noqa: E402, I100
from disdepth_ros.qos import PROFILE_ENV  # noqa: E402

TIMEOUT = 20.0
BASE = {'engine': 'fake', 'diagnostics_period': 0.5}
INTR = CameraIntrinsics.from_fov(10.0, 64, 48)   # depth stays inside the fake range


@pytest.fixture(scope='module', autouse=True)
def shm_profile():
    """The test's own participants use the shipped profile (the node processes always do)."""
    from disdepth_ros.qos import fastdds_profile_path
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PROFILE_ENV, str(fastdds_profile_path()))
        yield


class Lifecycle:
    """Client of the node's lifecycle services."""

    def __init__(self, ros: rh.RosHarness, node: str = '/disdepth') -> None:
        self.ros = ros
        self.change = ros.node.create_client(lifecycle_msgs.ChangeState, f'{node}/change_state')
        self.get = ros.node.create_client(lifecycle_msgs.GetState, f'{node}/get_state')
        assert ros.spin_until(lambda: self.change.service_is_ready()
                              and self.get.service_is_ready(), TIMEOUT), 'no lifecycle services'

    def _call(self, client, request):
        future = client.call_async(request)
        assert self.ros.spin_until(future.done, TIMEOUT), 'lifecycle service timed out'
        return future.result()

    def state(self) -> str:
        return self._call(self.get, lifecycle_msgs.GetState.Request()).current_state.label

    def transition(self, label: str) -> bool:
        from lifecycle_msgs.msg import Transition
        request = lifecycle_msgs.ChangeState.Request(transition=Transition(label=label))
        return self._call(self.change, request).success


def _set_parameters(ros: rh.RosHarness, **params) -> list:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    client = ros.node.create_client(SetParameters, '/disdepth/set_parameters')
    try:
        assert ros.spin_until(client.service_is_ready, TIMEOUT), 'no parameter service'
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in params.items()]))
        assert ros.spin_until(future.done, TIMEOUT), 'set_parameters timed out'
        return future.result().results
    finally:
        ros.node.destroy_client(client)


def _endpoints(ros: rh.RosHarness) -> tuple:
    """(node's publishers of /depth, node's subscriptions of /image), counted."""
    pubs = [i for i in ros.node.get_publishers_info_by_topic('/depth')
            if i.node_name == 'disdepth']
    subs = [i for i in ros.node.get_subscriptions_info_by_topic('/image')
            if i.node_name == 'disdepth']
    return len(pubs), len(subs)


class Camera:
    """Small rgb8 frames with camera infos, unique stamps."""

    def __init__(self, ros: rh.RosHarness) -> None:
        self.image_pub = ros.publisher(sensor_msgs.Image, 'image')
        self.info_pub = ros.publisher(sensor_msgs.CameraInfo, 'camera_info')
        self.sent = {}

    def publish(self) -> int:
        stamp = 1_970_000_000_000_000_000 + len(self.sent) * 40_000_000
        rgb = rh._camera_frame(INTR.width, INTR.height, len(self.sent))
        self.info_pub.publish(rh.make_camera_info(INTR, stamp, 'cam'))
        self.image_pub.publish(rh.make_image(rgb, 'rgb8', stamp, 'cam'))
        self.sent[stamp] = rgb
        return stamp


def _depth_flows(ros, camera, depth, timeout=TIMEOUT) -> int:
    """Publish until a depth of a frame sent from now on arrives; check it; return its stamp."""
    first = len(camera.sent)
    fresh = []

    def arrived() -> bool:
        stamps = list(camera.sent)[first:]
        fresh[:] = [m for m in depth if rh.stamp_ns(m) in stamps]
        return bool(fresh)
    assert ros.spin_until(arrived, timeout, every=camera.publish), 'no depth'
    msg = fresh[0]
    want = rh.fake_depth(camera.sent[rh.stamp_ns(msg)], INTR.fx)[0]
    np.testing.assert_array_equal(cv.image_to_numpy(msg), want)
    return rh.stamp_ns(msg)


def _no_depth(ros, camera, depth, seconds=1.5) -> None:
    """Publish for ``seconds``: none of these frames may come back."""
    first = len(camera.sent)
    ros.spin_until(lambda: False, seconds, every=camera.publish)
    ros.spin_until(lambda: False, 0.5)
    new = set(list(camera.sent)[first:])
    assert len(new) >= 3 and not any(rh.stamp_ns(m) in new for m in depth)


def test_transitions_over_the_lifecycle_services(tmp_path):
    missing = tmp_path / 'missing.json'
    with domain_coordinator.domain_id() as domain:
        proc = rh.NodeProcess(tmp_path, rh.ros_env(domain, tmp_path),
                              {**BASE, 'point_stride': 0, 'model': str(missing)},
                              command=rh.node_command('disdepth_lifecycle_node'))
        ros = rh.RosHarness(domain)
        try:
            assert ros.wait_for_node('disdepth', TIMEOUT), proc.output()
            life = Lifecycle(ros)
            assert life.state() == 'unconfigured'
            assert _endpoints(ros) == (0, 0)
            # wrong order: refused, named, nothing changes
            assert not life.transition('activate')
            assert not life.transition('deactivate')
            assert life.state() == 'unconfigured'
            assert "transition 'activate' refused: not possible from state 'unconfigured' " \
                   '(possible: configure, shutdown)' in proc.output()
            # configure validates the parameters, then loads the model; failures keep it
            # unconfigured with the reason
            assert not life.transition('configure')
            assert life.state() == 'unconfigured'
            assert 'configure failed, staying unconfigured: invalid parameters: point_stride ' \
                   'must be >= 1' in proc.output()
            assert all(r.successful for r in _set_parameters(ros, point_stride=1))
            assert not life.transition('configure')
            assert f'configure failed, staying unconfigured: cannot load {missing}' in \
                proc.output() and 'does not exist' in proc.output()
            assert all(r.successful for r in _set_parameters(ros, model=''))
            assert life.transition('configure')
            assert life.state() == 'inactive'
            assert ros.spin_until(lambda: _endpoints(ros) == (1, 0), TIMEOUT), _endpoints(ros)
            assert proc.output().count('serving fake://default') == 1
            assert not life.transition('configure') and life.state() == 'inactive'
            # inactive: publishers exist, nothing is subscribed or processed
            camera = Camera(ros)
            depth = ros.subscribe(sensor_msgs.Image, 'depth')
            assert ros.spin_until(lambda: ros._subs['depth'].get_publisher_count() > 0, TIMEOUT)
            _no_depth(ros, camera, depth)
            # active: depth flows
            assert life.transition('activate') and life.state() == 'active'
            assert ros.spin_until(lambda: _endpoints(ros) == (1, 1), TIMEOUT), _endpoints(ros)
            _depth_flows(ros, camera, depth)
            assert not life.transition('cleanup') and life.state() == 'active'
            # deactivate: stops, the model stays loaded
            assert life.transition('deactivate') and life.state() == 'inactive'
            assert ros.spin_until(lambda: _endpoints(ros) == (1, 0), TIMEOUT), _endpoints(ros)
            _no_depth(ros, camera, depth)
            assert life.transition('activate')
            _depth_flows(ros, camera, depth)
            assert proc.output().count('serving fake://default') == 1, 'model reloaded'
            # cleanup releases the model and the publishers
            assert life.transition('deactivate') and life.transition('cleanup')
            assert life.state() == 'unconfigured'
            assert ros.spin_until(lambda: _endpoints(ros) == (0, 0), TIMEOUT), _endpoints(ros)
            # configure again loads again; shutdown releases everything from any state
            assert life.transition('configure') and life.transition('activate')
            _depth_flows(ros, camera, depth)
            assert proc.output().count('serving fake://default') == 2
            assert life.transition('shutdown') and life.state() == 'finalized'
            assert ros.spin_until(lambda: _endpoints(ros) == (0, 0), TIMEOUT), _endpoints(ros)
            assert not life.transition('configure')
        finally:
            ros.close()
            code = proc.stop()
        out = proc.output()
        assert code == 0, out
        errors = rh.error_lines(out)
        assert len(errors) == 2 and all('configure failed' in e for e in errors), errors


def test_autostart_and_sigint(tmp_path):
    with domain_coordinator.domain_id() as domain:
        proc = rh.NodeProcess(tmp_path, rh.ros_env(domain, tmp_path), BASE,
                              command=rh.node_command('disdepth_lifecycle_node')
                              + ['--autostart'])
        ros = rh.RosHarness(domain)
        try:
            assert ros.wait_for_node('disdepth', TIMEOUT), proc.output()
            life = Lifecycle(ros)
            assert ros.spin_until(lambda: life.state() == 'active', TIMEOUT), life.state()
            camera = Camera(ros)
            depth = ros.subscribe(sensor_msgs.Image, 'depth')
            _depth_flows(ros, camera, depth)
        finally:
            ros.close()
            code = proc.stop()
        assert code == 0, proc.output()
        assert not rh.error_lines(proc.output()), proc.output()


def test_unknown_option_is_refused():
    out = subprocess.run(rh.node_command('disdepth_lifecycle_node') + ['--autostrat'],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert 'unknown option(s) --autostrat' in out.stderr and '--autostart' in out.stderr
