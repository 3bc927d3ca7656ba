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
QoS settings of the node's topics and the shipped Fast DDS transport profile.

QoS is described by a small frozen :class:`QosSettings` (reliability, durability, depth) that the
node builds from its ``qos.<topic>.*`` parameters; :func:`to_qos_profile` turns it into an rclpy
``QoSProfile`` (rclpy is imported only there).

Outputs are **reliable** and volatile, which both RViz (reliable or best effort) and ``ros2 bag
record`` receive: a reliable publisher serves reliable and best-effort subscribers, a best-effort
one cannot serve a reliable subscriber.  Inputs default to ``auto`` reliability, the way ``ros2
bag record`` adapts: :func:`choose_reliability` picks reliable when every publisher of the topic
offers reliable and best effort otherwise (REP 2003's sensor-data profile is best effort).  A
reliable subscription matters for large images from a publisher without our Fast DDS profile:
best effort then loses most fragmented frames, reliable repairs them.

:func:`fastdds_profile_path` locates ``resources/fastdds_shm.xml``, the Fast DDS profile with a
16 MB shared-memory segment that makes large images and point clouds arrive reliably and quickly
(Fast DDS' default 512 KB segments drop most messages above that size under best effort).
"""

from dataclasses import dataclass
from importlib import resources
import os
from pathlib import Path
from typing import Any, Dict, List, MutableMapping, Optional, Sequence, Tuple

RELIABILITIES = ('reliable', 'best_effort')
# Reliability of an input: a fixed one, or 'auto' (follow the publishers).
AUTO = 'auto'
INPUT_RELIABILITIES = RELIABILITIES + (AUTO,)
DURABILITIES = ('volatile', 'transient_local')

PROFILE_ENV = 'FASTDDS_DEFAULT_PROFILES_FILE'
OPT_OUT_ENV = 'DISDEPTH_NO_FASTDDS_PROFILE'
PROFILE_RESOURCE = 'fastdds_shm.xml'


@dataclass(frozen=True)
class QosSettings:
    """
    QoS of one topic.

    :param reliability: 'reliable' or 'best_effort'
    :param durability: 'volatile' or 'transient_local'
    :param depth: history depth (KEEP_LAST), >= 1
    """

    reliability: str = 'reliable'
    durability: str = 'volatile'
    depth: int = 1

    def problems(self, name: str, adaptive: bool = False) -> List[str]:
        """
        Describe what is wrong with these settings.

        :param name: the topic key, used in the messages
        :param adaptive: whether ``auto`` reliability is allowed (subscriptions only)
        :return: list of messages (empty when valid)
        """
        out = []
        allowed = INPUT_RELIABILITIES if adaptive else RELIABILITIES
        if self.reliability not in allowed:
            out.append(f'qos.{name}.reliability must be one of {", ".join(allowed)}, got '
                       f'{self.reliability!r}')
        if self.durability not in DURABILITIES:
            out.append(f'qos.{name}.durability must be one of {", ".join(DURABILITIES)}, got '
                       f'{self.durability!r}')
        if int(self.depth) < 1:
            out.append(f'qos.{name}.depth must be >= 1, got {self.depth}')
        return out


# The sensor-data profile (REP 2003).
SENSOR_DATA = QosSettings('best_effort', 'volatile', 5)
# Input topics: the sensor-data depth, reliability adapted to the publishers.
ADAPTIVE_INPUT = QosSettings(AUTO, 'volatile', 5)
# Output topics: reliable so that RViz and ros2 bag receive them whatever their setting.
RELIABLE_OUTPUT = QosSettings('reliable', 'volatile', 2)

# topic key -> default settings (keys name the ``qos.<key>.*`` parameters).
DEFAULT_QOS: Dict[str, QosSettings] = {
    'image': ADAPTIVE_INPUT,
    'camera_info': ADAPTIVE_INPUT,
    'depth': RELIABLE_OUTPUT,
    'depth_camera_info': RELIABLE_OUTPUT,
    'points': RELIABLE_OUTPUT,
    'confidence': RELIABLE_OUTPUT,
    'colorized': RELIABLE_OUTPUT,
}
# The subscriptions (the keys whose reliability may be 'auto').
INPUT_KEYS = ('image', 'camera_info')


def choose_reliability(offered: Sequence[str]) -> Tuple[str, str]:
    """
    Pick an ``auto`` subscription's reliability from what the topic's publishers offer.

    Reliable when every publisher offers reliable (it then repairs lost fragments of large
    messages); best effort as soon as one publisher offers only best effort (a reliable
    subscription would not match it) and while there is no publisher yet (best effort matches
    any publisher).

    :param offered: the reliability of each current publisher (``'reliable'``,
        ``'best_effort'``, or anything else for an unknown policy, treated as best effort)
    :return: (``'reliable'`` or ``'best_effort'``, the reason in words)
    """
    if not offered:
        return 'best_effort', 'no publisher yet (best effort matches any publisher)'
    count = len(offered)
    weak = sum(1 for r in offered if r != 'reliable')
    if not weak:
        return 'reliable', f'every publisher ({count}) offers reliable'
    return 'best_effort', f'{weak} of {count} publisher(s) offer only best effort'


def to_qos_profile(settings: QosSettings, reliability: Optional[str] = None) -> Any:
    """
    Build the rclpy ``QoSProfile`` (KEEP_LAST history) for ``settings``.

    :param settings: validated settings
    :param reliability: the reliability to use in place of ``settings.reliability``; required
        when that is ``auto`` (see :func:`choose_reliability`)
    :return: an ``rclpy.qos.QoSProfile``
    :raises ValueError: for ``auto`` without a chosen reliability
    """
    from rclpy.qos import DurabilityPolicy
    from rclpy.qos import HistoryPolicy
    from rclpy.qos import QoSProfile
    from rclpy.qos import ReliabilityPolicy
    chosen = reliability or settings.reliability
    if chosen not in RELIABILITIES:
        raise ValueError(f'QoS reliability must be one of {", ".join(RELIABILITIES)} here, got '
                         f'{chosen!r} (an auto subscription needs choose_reliability first)')
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(settings.depth),
        reliability=(ReliabilityPolicy.RELIABLE if chosen == 'reliable'
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if settings.durability == 'transient_local'
                    else DurabilityPolicy.VOLATILE))


def fastdds_profile_path() -> Path:
    """
    Path of the shipped Fast DDS profile (16 MB shared-memory segment, 4 MB UDP buffers).

    :return: path to ``disdepth_ros/resources/fastdds_shm.xml``
    :raises FileNotFoundError: when the package data is missing (a broken install)
    """
    ref = resources.files('disdepth_ros').joinpath('resources', PROFILE_RESOURCE)
    if not ref.is_file():
        raise FileNotFoundError(f'the Fast DDS profile disdepth_ros/resources/{PROFILE_RESOURCE} '
                                'is missing: reinstall disdepth_ros')
    return Path(str(ref))


def apply_fastdds_profile(env: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """
    Point ``FASTDDS_DEFAULT_PROFILES_FILE`` at the shipped profile unless one is already set.

    Must run before the first ``rclpy.init()`` of the process (Fast DDS reads the file once).
    Nothing is changed when the variable is already set, when ``DISDEPTH_NO_FASTDDS_PROFILE`` is
    set to anything but ``0`` (the opt-out), or when another RMW than Fast DDS is selected.

    :param env: the environment to modify (default ``os.environ``)
    :return: the profile path now in effect, or None when none is
    """
    env = os.environ if env is None else env
    if PROFILE_ENV in env:
        return env[PROFILE_ENV] or None
    if env.get(OPT_OUT_ENV, '0') not in ('', '0'):
        return None
    rmw = env.get('RMW_IMPLEMENTATION', '')
    if rmw and not rmw.startswith('rmw_fastrtps'):
        return None
    path = str(fastdds_profile_path())
    env[PROFILE_ENV] = path
    return path
