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
The one graph harness: a node in its own process and domain, and a participant that talks to it.

* :func:`graph_env` is the environment of such a process: its own ``ROS_DOMAIN_ID``,
  localhost-only discovery, its own log directory and the shipped Fast DDS profile.
* :class:`NodeProcess` runs ``disdepth_node`` (or ``disdepth_lifecycle_node``) with a generated
  params file, its output in a log file; SIGINT / SIGTERM / SIGKILL to stop it.
* :class:`RosHarness` is the caller's side of the graph: an explicit rclpy context on the same
  domain, publishers, subscriptions that collect messages (or hand raw bytes to a callback), and
  waits with timeouts (never fixed sleeps).
* :func:`diagnostics_values` reads the node's status out of a ``/diagnostics`` message.

``disdepth demo``, ``tools/soak_node.py`` and the ROS tests all start and drive the node with it.
rclpy is imported only when a participant is created.
"""

from collections import defaultdict
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional


def graph_env(domain_id: int, log_dir: Path, **extra: str) -> Dict[str, str]:
    """
    Return the environment of a process on an isolated graph.

    :param domain_id: ROS_DOMAIN_ID
    :param log_dir: ROS_LOG_DIR
    :param extra: more variables (they win)
    :return: a copy of ``os.environ`` with the graph settings
    """
    from disdepth_ros.qos import fastdds_profile_path
    env = dict(os.environ)
    env.update({
        'ROS_DOMAIN_ID': str(domain_id),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOG_DIR': str(log_dir),
        'FASTDDS_DEFAULT_PROFILES_FILE': str(fastdds_profile_path()),
        'PYTHONUNBUFFERED': '1',
        'RCUTILS_COLORIZED_OUTPUT': '0',
    })
    env.pop('ROS_LOCALHOST_ONLY', None)
    env.update(extra)
    return env


def node_command(executable: str = 'disdepth_node') -> List[str]:
    """Command line of a node executable of this environment (``disdepth_node`` by default)."""
    script = Path(sys.executable).parent / executable
    if script.is_file():
        return [str(script)]
    module = {'disdepth_node': 'depth_node', 'disdepth_lifecycle_node': 'lifecycle_node'}
    return [sys.executable, '-m', f'disdepth_ros.{module[executable]}']


class NodeProcess:
    """
    ``disdepth_node`` in its own process, parameters from a generated params file.

    :param tmp_path: directory for the params file and the output log
    :param env: environment (see :func:`ros_env`)
    :param params: node parameters
    :param remaps: ``from:=to`` remapping rules
    :param command: the executable and its own options (default :func:`node_command`)
    """

    def __init__(self, tmp_path: Path, env: Dict[str, str], params: Dict[str, Any],
                 remaps: Optional[List[str]] = None,
                 command: Optional[List[str]] = None) -> None:
        import yaml
        self.params_file = tmp_path / 'params.yaml'
        self.params_file.write_text(yaml.safe_dump({'/**': {'ros__parameters': params}}))
        self.log_file = tmp_path / 'node.log'
        args = (command or node_command()) + ['--ros-args', '--params-file',
                                              str(self.params_file)]
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

    def interrupt(self) -> None:
        """Send SIGINT (as Ctrl-C would) without waiting."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

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
                  depth: int = 50, callback: Optional[Callable[[Any], None]] = None,
                  raw: bool = False) -> List[Any]:
        """
        Collect messages of ``topic`` into the returned list (``received[topic]``).

        :param msg_type: message class
        :param topic: topic name
        :param reliable: reliable (default) or best-effort QoS
        :param depth: history depth
        :param callback: called with each message instead of collecting it
        :param raw: deliver the serialised bytes instead of the message
        :return: the list messages are collected into (empty when ``callback`` is given)
        """
        from rclpy.qos import QoSProfile
        from rclpy.qos import ReliabilityPolicy
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        key = topic if reliable else topic + '#best_effort'
        self._subs[key] = self.node.create_subscription(
            msg_type, topic, callback or self.received[key].append, qos, raw=raw)
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
