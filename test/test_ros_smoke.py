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

"""Smoke test: real rclpy publisher and subscriber exchange an Image across processes."""

import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
domain_coordinator = pytest.importorskip('domain_coordinator')

PUBLISHER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('smoke_publisher')
    pub = node.create_publisher(Image, 'smoke_image', 10)
    deadline = time.monotonic() + 30.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    img = np.arange(48 * 64 * 3, dtype=np.uint32).astype(np.uint8).reshape(48, 64, 3)
    for i in range(200):
        msg = Image(height=48, width=64, encoding='rgb8', step=64 * 3, data=img.tobytes())
        msg.header.frame_id = f'frame_{i}'
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        time.sleep(0.05)
    node.destroy_node()
    rclpy.try_shutdown()
""")


def test_image_crosses_processes_on_isolated_domain() -> None:
    from sensor_msgs.msg import Image
    with domain_coordinator.domain_id() as domain:
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                   ROS_LOG_DIR=os.environ.get('ROS_LOG_DIR', tempfile.mkdtemp()))
        pub = subprocess.Popen([sys.executable, '-c', PUBLISHER], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain)
        received = []
        try:
            node = rclpy.create_node('smoke_subscriber', context=context)
            node.create_subscription(Image, 'smoke_image', received.append, 10)
            executor = rclpy.executors.SingleThreadedExecutor(context=context)
            executor.add_node(node)
            deadline = time.monotonic() + 40.0
            while len(received) < 3 and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
                assert pub.poll() is None or received, pub.stderr.read().decode()
        finally:
            pub.kill()
            pub.wait()
            rclpy.try_shutdown(context=context)
    assert len(received) >= 3, 'no Image arrived from the publisher process'
    msg = received[-1]
    assert (msg.height, msg.width, msg.encoding, msg.step) == (48, 64, 'rgb8', 192)
    expected = np.arange(48 * 64 * 3, dtype=np.uint32).astype(np.uint8)
    assert np.array_equal(np.frombuffer(bytes(msg.data), np.uint8), expected)
    assert msg.header.frame_id.startswith('frame_')
