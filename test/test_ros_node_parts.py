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
The node's parts without a ROS graph: configuration, stamp matching, latest-frame slot, stats.

Plus the node class in-process (explicit context, isolated domain) for what needs rclpy but no
traffic: parameter declarations, the params file, start-up validation, the engine plug-in hook.
"""

import math
import threading

import numpy as np
import pytest

from disdepth_core.geometry import CameraIntrinsics
from disdepth_ros import diagnostics
from disdepth_ros.node_config import ConfigError
from disdepth_ros.node_config import DEFAULTS
from disdepth_ros.node_config import NodeConfig
from disdepth_ros.node_config import PARAMETERS
from disdepth_ros.pipeline import gate_depth
from disdepth_ros.sync import Frame
from disdepth_ros.sync import LatestFrameSlot
from disdepth_ros.sync import StampMatcher

MS = 1_000_000


def test_defaults_are_valid_and_outputs_reliable():
    config = NodeConfig.from_values({})
    assert config.depth_encoding == '32FC1' and config.point_stride == 1
    assert config.image_transport == 'raw'
    # inputs adapt to their publishers; outputs are reliable
    assert config.qos['image'].reliability == config.qos['camera_info'].reliability == 'auto'
    assert config.qos['image'].depth == 5
    assert all(config.qos[k].reliability == 'reliable'
               for k in ('depth', 'depth_camera_info', 'points', 'confidence', 'colorized'))
    assert not config.has_fallback and config.fallback_intrinsics(64, 48) is None
    assert config.output_options().depth_range(0.1, 10.0) == (0.1, 10.0)
    assert all(spec.description for spec in PARAMETERS)


@pytest.mark.parametrize('values,message', [
    ({'point_stride': 0}, 'point_stride must be >= 1'),
    ({'min_depth': 5.0, 'max_depth': 2.0}, 'min_depth (5.0) must be < max_depth'),
    ({'min_confidence': 1.5}, 'min_confidence must be in [0, 1]'),
    ({'depth_encoding': 'mono8'}, 'depth_encoding must be one of 32FC1, 16UC1'),
    ({'colormap': 'rainbowish'}, 'colormap must be one of'),
    ({'input_height': 100, 'input_width': 96}, 'input_height must be 0 or a positive multiple'),
    ({'input_height': 64}, 'both be 0'),
    ({'fallback_hfov_deg': 190.0}, 'fallback_hfov_deg must be 0 (unset) or in (0, 180)'),
    ({'qos.points.reliability': 'sometimes'}, 'qos.points.reliability must be one of'),
    ({'qos.points.reliability': 'auto'},
     'qos.points.reliability must be one of reliable, best_effort, got'),
    ({'qos.image.reliability': 'sometimes'},
     'qos.image.reliability must be one of reliable, best_effort, auto'),
    ({'image_transport': 'theora'},
     "image_transport must be one of raw, compressed, got 'theora'"),
    ({'qos.depth.depth': 0}, 'qos.depth.depth must be >= 1'),
    ({'max_depth': math.nan}, 'max_depth must be a finite number'),
    ({'point_stride': 1.5}, 'point_stride must be a int'),
    ({'no_such_thing': 1}, "unknown parameter 'no_such_thing'"),
])
def test_invalid_values_are_named(values, message):
    with pytest.raises(ConfigError, match='invalid parameters') as info:
        NodeConfig.from_values(values)
    assert message in str(info.value)


def test_choose_reliability_follows_the_publishers():
    from disdepth_ros.qos import choose_reliability
    assert choose_reliability([]) == (
        'best_effort', 'no publisher yet (best effort matches any publisher)')
    assert choose_reliability(['reliable']) == ('reliable', 'every publisher (1) offers reliable')
    assert choose_reliability(['reliable'] * 3)[0] == 'reliable'
    assert choose_reliability(['reliable', 'best_effort']) == (
        'best_effort', '1 of 2 publisher(s) offer only best effort')
    # an unknown policy cannot be trusted to be reliable
    assert choose_reliability(['reliable', 'unknown', 'best_effort'])[1] == \
        '2 of 3 publisher(s) offer only best effort'


def test_qos_profile_needs_a_choice_for_auto():
    pytest.importorskip('rclpy')
    from rclpy.qos import ReliabilityPolicy

    from disdepth_ros.qos import ADAPTIVE_INPUT
    from disdepth_ros.qos import to_qos_profile
    with pytest.raises(ValueError, match='choose_reliability first'):
        to_qos_profile(ADAPTIVE_INPUT)
    profile = to_qos_profile(ADAPTIVE_INPUT, 'reliable')
    assert profile.reliability == ReliabilityPolicy.RELIABLE and profile.depth == 5
    assert to_qos_profile(ADAPTIVE_INPUT, 'best_effort').reliability == \
        ReliabilityPolicy.BEST_EFFORT


def test_image_transports_have_a_message_type():
    pytest.importorskip('rclpy')
    from disdepth_ros.camera_input import IMAGE_TYPES
    from disdepth_ros.node_config import IMAGE_TRANSPORTS
    assert set(IMAGE_TYPES) == set(IMAGE_TRANSPORTS)
    assert IMAGE_TYPES['compressed'].__name__ == 'CompressedImage'
    assert IMAGE_TRANSPORTS['compressed'] == '/compressed'


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        NodeConfig.from_values({'point_stride': 0, 'min_confidence': -1.0})
    assert 'point_stride' in str(info.value) and 'min_confidence' in str(info.value)


def test_integer_accepted_for_float_parameters():
    config = NodeConfig.from_values({'max_depth': 20, 'fallback_hfov_deg': 90})
    assert config.max_depth == 20.0 and isinstance(config.max_depth, float)


def test_fallback_intrinsics():
    fov = NodeConfig.from_values({'fallback_hfov_deg': 90.0})
    assert fov.fallback_intrinsics(100, 50) == CameraIntrinsics.from_fov(90.0, 100, 50)
    explicit = NodeConfig.from_values({'fallback_fx': 500.0, 'fallback_cx': 320.0,
                                       'fallback_cy': 240.0, 'fallback_width': 640,
                                       'fallback_height': 480, 'fallback_hfov_deg': 10.0})
    got = explicit.fallback_intrinsics(320, 240)   # rescaled to the incoming image
    assert got == CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480).scaled(320, 240)
    same = explicit.fallback_intrinsics(640, 480)
    assert (same.fx, same.fy, same.cx, same.cy) == (500.0, 500.0, 320.0, 240.0)


def test_gate_depth():
    depth = np.array([[0.05, 0.5, 5.0], [np.nan, 12.0, 1.0]], np.float32)
    conf = np.array([[1.0, 1.0, 0.2], [1.0, 1.0, 0.9]], np.float32)
    out = gate_depth(depth, conf, 0.1, 10.0)
    assert np.isnan(out[0, 0]) and out[0, 1] == np.float32(0.5) and np.isnan(out[1, 1])
    assert np.isnan(out[1, 0]) and out[0, 2] == np.float32(5.0)
    out = gate_depth(depth, conf, 0.1, 10.0, min_confidence=0.5)
    assert np.isnan(out[0, 2]) and out[1, 2] == np.float32(1.0)
    assert out.dtype == np.float32 and depth[0, 0] == np.float32(0.05)   # input untouched


def test_gate_depth_keeps_values_clipped_to_the_float32_bounds():
    # float32(0.7) < 0.7 and float32(0.3) > 0.3: a depth clipped to the range in float32 must
    # stay valid whatever float type the bounds come in.
    lo, hi = np.float64(0.7), np.float64(0.3) + 9.0
    depth = np.array([[lo, hi, 0.69]], np.float32)
    assert depth[0, 0] < lo
    out = gate_depth(depth, np.ones_like(depth), lo, hi)
    assert out[0, 0] == np.float32(0.7) and out[0, 1] == np.float32(hi) and np.isnan(out[0, 2])


def test_matcher_exact_and_either_order():
    m = StampMatcher(tolerance_ns=5 * MS, queue_size=4)
    assert m.add_info('info1', 100 * MS).matched == []
    assert m.add_image('img1', 100 * MS).matched == [('img1', 'info1')]
    # image first, its info a moment later
    assert m.add_image('img2', 133 * MS).matched == []
    assert m.pending() == 1
    assert m.add_info('info2', 135 * MS).matched == [('img2', 'info2')]
    assert m.pending() == 0


def test_matcher_picks_the_nearest_stamp_within_tolerance():
    m = StampMatcher(tolerance_ns=10 * MS, queue_size=4)
    m.add_info('a', 100 * MS)
    m.add_info('b', 108 * MS)
    assert m.add_image('img', 106 * MS).matched == [('img', 'b')]
    assert m.add_image('far', 150 * MS).matched == []


def test_matcher_drops_what_can_no_longer_match_and_bounds_queues():
    m = StampMatcher(tolerance_ns=1 * MS, queue_size=3)
    for i in range(5):
        result = m.add_image(f'img{i}', (100 + i * 33) * MS)
        assert result.dropped == (1 if i >= 3 else 0)
    assert m.pending() == 3
    result = m.add_info('late', 300 * MS)   # newer than every waiting image
    assert result.matched == [] and result.dropped == 3 and m.pending() == 0
    # an image older than the newest info cannot match any more
    assert m.add_image('old', 250 * MS).dropped == 1


def test_matcher_resets_when_time_jumps_back():
    m = StampMatcher(tolerance_ns=1 * MS, queue_size=3)
    m.add_info('i1', 100_000 * MS)
    m.add_image('waiting', 100_033 * MS)
    result = m.add_image('restarted', 5_000 * MS)   # a restarted publisher / looping bag
    assert result.dropped == 1
    assert m.add_info('i2', 5_000 * MS).matched == [('restarted', 'i2')]


def test_latest_frame_slot_keeps_only_the_newest():
    slot = LatestFrameSlot()
    frames = [Frame(image=i, info=None, received=0.0) for i in range(5)]
    replaced = [slot.put(f) for f in frames]
    assert replaced == [False, True, True, True, True]
    assert slot.take(timeout=0.1).image == 4
    assert slot.take(timeout=0.01) is None
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=10.0)))
    worker.start()
    slot.put(frames[0])
    worker.join(10.0)
    assert got[0].image == 0
    slot.close()
    assert slot.take(timeout=10.0) is None and slot.closed


def test_stats_report_and_levels():
    now = [0.0]
    stats = diagnostics.NodeStats(clock=lambda: now[0])
    for i in range(11):
        now[0] = i * 0.1
        stats.frame_in()
    for i in range(5):
        now[0] = 1.0 + i * 0.2
        stats.frame_out(20.0 + i, 30.0, ['depth', 'points'])
    stats.drop('superseded', 6)
    report = stats.report([('engine', 'fake')])
    values = dict(report.values)
    assert report.level == diagnostics.OK and values['engine'] == 'fake'
    assert values['frames_in'] == '11' and values['frames_out'] == '5'
    assert values['dropped.superseded'] == '6' and values['dropped_total'] == '6'
    assert values['published.depth'] == '5'
    assert float(values['input_hz']) == pytest.approx(10.0)
    assert float(values['output_hz']) == pytest.approx(5.0)
    assert float(values['inference_ms_mean']) == pytest.approx(22.0)
    assert float(values['inference_ms_p95']) == pytest.approx(np.percentile([20, 21, 22, 23,
                                                                             24], 95))
    stats.drop('bad_image')
    stats.error('bad image: unsupported image encoding')
    report = stats.report()
    assert report.level == diagnostics.ERROR and 'unsupported' in report.message
    stats.drop('bad_image')
    stats.frame_out(1.0, 1.0, ['depth'])
    assert stats.report().level == diagnostics.WARN
    assert stats.report().level == diagnostics.OK
    with pytest.raises(ValueError, match='unknown drop reason'):
        stats.drop('bored')


# ------------------------------------------------------------------------------------------------
# The node class in-process.


@pytest.fixture
def context():
    rclpy = pytest.importorskip('rclpy')
    domain_coordinator = pytest.importorskip('domain_coordinator')
    with domain_coordinator.domain_id() as domain:
        ctx = rclpy.Context()
        rclpy.init(context=ctx, domain_id=domain)
        yield ctx
        rclpy.try_shutdown(context=ctx)


def _fake_factory(config):
    import ros_helpers
    return ros_helpers.make_fake_estimator(config.model or None)


def test_node_declares_documented_parameters_from_the_params_file(context, repo_root):
    from disdepth_ros.depth_node import DepthNode
    node = DepthNode(estimator_factory=_fake_factory, context=context, cli_args=[
        '--ros-args', '--params-file', str(repo_root / 'config' / 'disdepth.yaml'),
        '-p', 'point_stride:=2', '-p', 'max_depth:=20'])
    try:
        assert node.get_name() == 'disdepth'
        assert node.config.point_stride == 2 and node.config.max_depth == 20.0
        for spec in PARAMETERS:
            descriptor = node.describe_parameter(spec.name)
            assert descriptor.description == spec.description
            assert descriptor.read_only == (not spec.live)
        assert {n: node.get_parameter(n).value for n in DEFAULTS if n not in (
            'point_stride', 'max_depth')} == {n: v for n, v in DEFAULTS.items() if n not in (
                'point_stride', 'max_depth')}
        topics = {name for name, _ in node.get_publisher_names_and_types_by_node(
            'disdepth', '/')}
        assert {'/depth', '/depth/camera_info', '/points', '/depth/confidence',
                '/depth/colorized', '/diagnostics'} <= topics
    finally:
        node.destroy_node()


def test_node_refuses_to_start_with_invalid_parameters(context):
    from disdepth_ros.depth_node import DepthNode
    from disdepth_ros.depth_node import NodeStartupError
    with pytest.raises(NodeStartupError, match='point_stride must be >= 1'):
        DepthNode(estimator_factory=_fake_factory, context=context,
                  cli_args=['--ros-args', '-p', 'point_stride:=0'])


def test_node_startup_error_names_the_model(context, tmp_path):
    from disdepth_ros.depth_node import DepthNode
    from disdepth_ros.depth_node import NodeStartupError
    missing = tmp_path / 'm.json'
    with pytest.raises(NodeStartupError, match=f'cannot load {missing}.*does not exist'):
        DepthNode(estimator_factory=_fake_factory, context=context,
                  cli_args=['--ros-args', '-p', f'model:={missing}'])


def test_the_node_uses_the_core_engine_plugins(monkeypatch):
    pytest.importorskip('rclpy')
    from disdepth_core import inference
    from disdepth_ros import depth_node
    env = {inference.ENGINE_PLUGINS_ENV: 'fake=ros_helpers:make_fake_estimator, x=a.b:c'}
    assert inference.engine_plugins(env) == {'fake': ('ros_helpers', 'make_fake_estimator'),
                                             'x': ('a.b', 'c')}
    monkeypatch.setenv(inference.ENGINE_PLUGINS_ENV, 'fake=ros_helpers:make_fake_estimator')
    estimator = depth_node.create_estimator_for(NodeConfig.from_values({'engine': 'fake'}))
    assert estimator.info.engine == 'fake'


def test_relative_models_are_refused_unless_asked_and_then_publish_depth_relative(context):
    pytest.importorskip('rclpy')
    from dataclasses import replace
    from disdepth_ros.depth_node import DepthNode
    from disdepth_ros.depth_node import NodeStartupError
    import ros_helpers as rh

    def relative_factory(config):
        est = rh.make_fake_estimator(None)
        est.spec = replace(est.spec, output_kind='relative_disparity')
        return est

    with pytest.raises(NodeStartupError, match='predicts relative disparity.*relative_output'):
        DepthNode(estimator_factory=relative_factory, context=context)
    node = DepthNode(estimator_factory=relative_factory, context=context,
                     cli_args=['--ros-args', '-p', 'relative_output:=true'])
    try:
        topics = {pub.topic_name for pub in node._publishers_by_key.values()}
        assert topics == {'/depth/relative', '/depth/camera_info', '/depth/confidence'}
    finally:
        node.destroy_node()
    with pytest.raises(NodeStartupError, match='predicts metric depth'):
        DepthNode(estimator_factory=_fake_factory, context=context,
                  cli_args=['--ros-args', '-p', 'relative_output:=true'])
    with pytest.raises(NodeStartupError, match='relative output has no unit'):
        DepthNode(estimator_factory=relative_factory, context=context,
                  cli_args=['--ros-args', '-p', 'relative_output:=true', '-p',
                            'depth_encoding:=16UC1'])


def test_lifecycle_node_shares_the_parameters_and_refuses_wrong_order(context):
    pytest.importorskip('lifecycle_msgs')
    from lifecycle_msgs.msg import Transition
    from rclpy.lifecycle import TransitionCallbackReturn

    from rclpy.parameter import Parameter

    from disdepth_ros.lifecycle_node import LifecycleDepthNode
    node = LifecycleDepthNode(estimator_factory=_fake_factory, context=context,
                              cli_args=['--ros-args', '-p', 'point_stride:=0'])
    try:
        assert node.get_name() == 'disdepth' and node.state == 'unconfigured'
        for spec in PARAMETERS:
            descriptor = node.describe_parameter(spec.name)
            assert descriptor.description == spec.description
            assert descriptor.read_only == (not spec.live)
        assert node.config is None and node.estimator is None
        assert node.refusal(Transition.TRANSITION_ACTIVATE) == (
            f'transition {Transition.TRANSITION_ACTIVATE} refused: not possible from state '
            "'unconfigured' (possible: configure, shutdown)")
        assert node.refusal(0, 'configure') is None
        # invalid parameters: configure fails, nothing is kept; fixed, it succeeds
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.state == 'unconfigured' and node.estimator is None
        node.set_parameters([Parameter('point_stride', value=2)])
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.state == 'inactive' and node.config.point_stride == 2
        estimator = node.estimator
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS and node.active
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert not node.active and node.estimator is estimator   # the model stays loaded
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert node.state == 'unconfigured' and node.estimator is None
        assert node.trigger_shutdown() == TransitionCallbackReturn.SUCCESS
        assert node.state == 'finalized'
    finally:
        node.destroy_node()


def test_the_input_executor_stops_spinning_before_it_is_shut_down(context):
    """stop_spinning, join, shutdown: the spinning thread never meets a destroyed guard."""
    from rclpy.node import Node

    from disdepth_ros.executor import InputExecutor
    node = Node('executor_probe', context=context)
    ticks = []
    node.create_timer(0.001, lambda: ticks.append(1))
    try:
        for _ in range(20):   # the failure was a rare race: go through it several times
            executor = InputExecutor(lambda entity: True, context=context)
            executor.add_node(node)
            failures = []

            def spin(executor=executor, failures=failures) -> None:
                try:
                    executor.spin()
                except Exception as exc:  # what the node's run() would report as fatal
                    failures.append(exc)
            thread = threading.Thread(target=spin)
            thread.start()
            while not ticks:
                threading.Event().wait(0.001)
            executor.stop_spinning()
            thread.join(5.0)
            assert not thread.is_alive(), 'spin did not return after stop_spinning'
            assert executor.shutdown(timeout_sec=5.0)
            assert failures == []
            ticks.clear()
        # a node with nothing to do (a finalized lifecycle node): no callback ends the wait
        idle = Node('executor_idle', context=context)
        executor = InputExecutor(lambda entity: True, context=context)
        executor.add_node(idle)
        thread = threading.Thread(target=executor.spin)
        thread.start()
        threading.Event().wait(0.2)
        executor.stop_spinning()
        thread.join(5.0)
        assert not thread.is_alive(), 'spin of an idle node did not return after stop_spinning'
        assert executor.shutdown(timeout_sec=5.0)
        idle.destroy_node()
    finally:
        node.destroy_node()
