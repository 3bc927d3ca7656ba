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
One camera input of the node: its subscriptions, their adaptive QoS, stamp matching, intrinsics.

:class:`CameraInput` holds everything that belongs to one camera (image and camera_info
subscriptions, the :class:`~disdepth_ros.sync.StampMatcher`, when camera_info last arrived,
whether fallback intrinsics are in use) and hands matched frames to the node through a callback,
so that a node can own several of them.

:class:`AdaptiveSubscription` is one subscription whose reliability is either fixed by its
``qos.<key>.reliability`` parameter or ``auto``: chosen from the publishers of the topic
(:func:`disdepth_ros.qos.choose_reliability`) and re-checked when the set of publishers changes.
Changes are noticed through the subscription's *matched* and *incompatible QoS* events (a
publisher appeared or left), with a timer as a backstop.  When the choice changes the new
subscription is made before the old one is broken: both run until the new one has matched every
publisher (or :data:`RETIRE_AFTER_S` passed), and a message that arrives on both is delivered
once (by stamp), so the frames sent while the publisher discovers the new subscription are not
lost.
"""

from collections import deque
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import CompressedImage
from sensor_msgs.msg import Image

from disdepth_core.rosmsg import stamp_ns
from disdepth_ros.diagnostics import NodeStats
from disdepth_ros.node_config import IMAGE_TRANSPORTS
from disdepth_ros.node_config import NodeConfig
from disdepth_ros.qos import AUTO
from disdepth_ros.qos import choose_reliability
from disdepth_ros.qos import QosSettings
from disdepth_ros.qos import to_qos_profile
from disdepth_ros.sync import Frame
from disdepth_ros.sync import MatchResult
from disdepth_ros.sync import StampMatcher

# image_transport value -> message type of the subscribed image topic.
IMAGE_TYPES: Dict[str, type] = {'raw': Image, 'compressed': CompressedImage}

# Seconds between re-checks of the publishers of an ``auto`` subscription (events come first).
QOS_RECHECK_S = 1.0
# Seconds a replaced subscription is kept at most while its successor matches the publishers.
RETIRE_AFTER_S = 3.0
# Stamps remembered to deliver a message once while two subscriptions overlap.
OVERLAP_STAMPS = 64

_POLICY_NAMES = {ReliabilityPolicy.RELIABLE: 'reliable',
                 ReliabilityPolicy.BEST_EFFORT: 'best_effort'}


def reliability_name(policy: Any) -> str:
    """Return ``'reliable'``, ``'best_effort'`` or ``'unknown'`` for an rclpy reliability."""
    return _POLICY_NAMES.get(policy, 'unknown')


class AdaptiveSubscription:
    """
    A subscription with fixed or ``auto`` reliability (see the module docstring).

    Not thread-safe by itself: the owner serialises :meth:`start`, :meth:`refresh` and
    :meth:`stop` (they also run in the owner's mutually exclusive callback group).

    :param node: the node that owns the subscription
    :param msg_type: message type
    :param topic: fully resolved topic name
    :param settings: QoS settings; ``reliability`` may be ``auto``
    :param callback: message callback
    :param callback_group: group of the message callback, the events and the re-checks
    :param wake: called (from a middleware event) when the publishers may have changed
    :param key: the ``qos.<key>`` name, used in messages
    """

    def __init__(self, node: Node, msg_type: type, topic: str, settings: QosSettings,
                 callback: Callable[[Any], None], callback_group: CallbackGroup,
                 wake: Callable[[], None], key: str) -> None:
        self._node = node
        self.msg_type = msg_type
        self.topic = topic
        self.settings = settings
        self._callback = callback
        self._group = callback_group
        self._wake = wake
        self.key = key
        self.reliability: Optional[str] = None
        self.reason = ''
        self._subscription: Any = None
        self._retiring: Any = None
        self._retire_at = 0.0
        self._seen: Deque[int] = deque(maxlen=OVERLAP_STAMPS)

    @property
    def adaptive(self) -> bool:
        """Whether the reliability follows the publishers."""
        return self.settings.reliability == AUTO

    @property
    def subscribed(self) -> bool:
        """Whether the subscription exists."""
        return self._subscription is not None

    def offered(self) -> List[str]:
        """Reliability offered by each current publisher of the topic."""
        return [reliability_name(info.qos_profile.reliability)
                for info in self._node.get_publishers_info_by_topic(self.topic)]

    def describe(self) -> str:
        """Describe the reliability in use and why: ``reliable (auto: every publisher ...)``."""
        return f'{self.reliability} ({self.reason})' if self.subscribed else 'not subscribed'

    def refresh(self) -> bool:
        """
        Subscribe, or re-check the publishers and resubscribe when the choice changes.

        :return: whether the subscription was (re)created
        """
        if self.adaptive:
            choice, why = choose_reliability(self.offered())
            reason = f'auto: {why}'
        else:
            choice, reason = self.settings.reliability, f'qos.{self.key}.reliability'
        if self.subscribed and choice == self.reliability:
            if reason != self.reason:
                self.reason = reason
                self._node.get_logger().info(f'staying {choice} on {self.topic} ({reason})')
            self._retire_when_matched()
            return False
        previous = self.reliability if self.subscribed else None
        self._destroy(self._retiring)
        self._retiring, self._retire_at = self._subscription, time.monotonic() + RETIRE_AFTER_S
        events = None
        if self.adaptive:
            events = SubscriptionEventCallbacks(matched=self._on_event,
                                                incompatible_qos=self._on_event)
        self._subscription = self._node.create_subscription(
            self.msg_type, self.topic, self._deliver, to_qos_profile(self.settings, choice),
            callback_group=self._group, event_callbacks=events)
        self.reliability, self.reason = choice, reason
        if previous is None:
            self._node.get_logger().info(f'subscribed to {self.topic} ({self.msg_type.__name__}) '
                                         f'{choice} ({reason})')
        else:
            self._node.get_logger().info(f'resubscribed to {self.topic} {choice} instead of '
                                         f'{previous} ({reason})')
        return True

    def _retire_when_matched(self) -> None:
        """Drop the replaced subscription once its successor has every publisher (or late)."""
        if self._retiring is None:
            return
        matched = self._subscription.get_publisher_count()
        if matched >= len(self.offered()) or time.monotonic() >= self._retire_at:
            self._destroy(self._retiring)
            self._retiring = None
            self._seen.clear()

    def _deliver(self, msg: Any) -> None:
        if self._retiring is not None:   # two subscriptions: each message once
            stamp = stamp_ns(msg.header.stamp)
            if stamp in self._seen:
                return
            self._seen.append(stamp)
        self._callback(msg)

    def _on_event(self, _status: Any) -> None:
        self._wake()

    def _destroy(self, subscription: Any) -> None:
        if subscription is not None:
            self._node.destroy_subscription(subscription)

    def stop(self) -> None:
        """Destroy the subscription (and one being replaced)."""
        self._destroy(self._retiring)
        self._destroy(self._subscription)
        self._subscription = self._retiring = None
        self.reliability = None
        self._seen.clear()


class CameraInput:
    """
    One camera: ``image`` (or ``image/compressed``) and ``camera_info`` in, matched frames out.

    :param node: the node that owns the subscriptions
    :param config: the node configuration in effect (see :meth:`reconfigure`)
    :param stats: the statistics frames and drops are counted in
    :param offer: receives each frame ready for inference
    :param wanted: returns the outputs that have subscribers (empty: frames are not kept)
    :param callback_group: mutually exclusive group of the subscriptions of this camera
    :param prefix: topic prefix of this camera ('' = the node's ``image`` and ``camera_info``)
    """

    def __init__(self, node: Node, config: NodeConfig, stats: NodeStats,
                 offer: Callable[[Frame], None], wanted: Callable[[], List[str]],
                 callback_group: CallbackGroup, prefix: str = '') -> None:
        self._node = node
        self._config = config
        self._stats = stats
        self._offer = offer
        self._wanted = wanted
        self._group = callback_group
        self.prefix = prefix
        base = node.resolve_topic_name(self._relative('image'))
        self.image_topic = base + IMAGE_TRANSPORTS[config.image_transport]
        self.info_topic = node.resolve_topic_name(self._relative('camera_info'))
        self._matcher = StampMatcher(int(config.sync_tolerance * 1e9), config.sync_queue_size)
        self._lock = threading.Lock()
        self._active = False
        self._last_info_time: Optional[float] = None
        self._started = 0.0
        self._fallback_active = False
        self._wake_guard: Any = None
        self._timer: Any = None
        self._subscriptions = (
            AdaptiveSubscription(node, IMAGE_TYPES[config.image_transport], self.image_topic,
                                 config.qos['image'], self._on_image, callback_group,
                                 self._wake, 'image'),
            AdaptiveSubscription(node, CameraInfo, self.info_topic, config.qos['camera_info'],
                                 self._on_camera_info, callback_group, self._wake,
                                 'camera_info'),
        )

    def _relative(self, name: str) -> str:
        return f'{self.prefix}/{name}' if self.prefix else name

    # ----------------------------------------------------------------- life cycle

    def start(self) -> None:
        """Subscribe (and start re-checking the publishers of ``auto`` subscriptions)."""
        with self._lock:
            self._active = True
            self._started = time.monotonic()
            if any(s.adaptive for s in self._subscriptions):
                self._wake_guard = self._node.create_guard_condition(
                    self.refresh_qos, callback_group=self._group)
                self._timer = self._node.create_timer(QOS_RECHECK_S, self.refresh_qos,
                                                      callback_group=self._group)
            for sub in self._subscriptions:
                sub.refresh()
            self._note_qos()

    def stop(self) -> None:
        """Unsubscribe; frames already handed over are not affected."""
        with self._lock:
            self._active = False
            for sub in self._subscriptions:
                sub.stop()
            if self._timer is not None:
                self._node.destroy_timer(self._timer)
                self._timer = None
            if self._wake_guard is not None:
                self._node.destroy_guard_condition(self._wake_guard)
                self._wake_guard = None
            self._matcher.take_pending()

    def _wake(self) -> None:
        guard = self._wake_guard
        if guard is not None:
            guard.trigger()

    def refresh_qos(self) -> None:
        """Re-check the publishers of the ``auto`` subscriptions (timer, events)."""
        with self._lock:
            if not self._active:
                return
            for sub in self._subscriptions:
                if sub.adaptive:
                    sub.refresh()
            self._note_qos()

    def _note_qos(self) -> None:
        for sub in self._subscriptions:
            self._stats.note(f'input_qos.{sub.key}', sub.describe())

    def reconfigure(self, config: NodeConfig) -> None:
        """Take new live parameters (stamp matching, camera_info timeout, fallback)."""
        self._config = config
        self._matcher.reconfigure(int(config.sync_tolerance * 1e9), config.sync_queue_size)

    def qos(self) -> List[Tuple[str, str, str]]:
        """(key, reliability, reason) of each subscription ('' while not subscribed)."""
        with self._lock:
            return [(s.key, s.reliability or '', s.reason) for s in self._subscriptions]

    # ----------------------------------------------------------------- callbacks

    def _take_matches(self, result: MatchResult) -> None:
        if result.dropped:
            self._stats.drop('no_camera_info', result.dropped)
        for (image, received), info in result.matched:
            self._offer(Frame(image, info, received))

    def _on_image(self, msg: Any) -> None:
        with self._lock:
            if self._active:
                self._handle_image(msg)

    def _handle_image(self, msg: Any) -> None:
        now = time.monotonic()
        self._stats.frame_in()
        if not self._wanted():
            self._stats.drop('no_subscribers')
            return
        config = self._config
        info_fresh = (self._last_info_time is not None
                      and now - self._last_info_time <= config.camera_info_timeout)
        if config.has_fallback and not info_fresh:
            if not self._fallback_active:
                self._fallback_active = True
                self._stats.note('intrinsics', 'fallback parameters')
                self._node.get_logger().warning(
                    f'no camera_info on {self.info_topic} for {config.camera_info_timeout:g} s: '
                    'using the fallback intrinsics from the parameters until it arrives')
            stale = self._matcher.take_pending()
            if stale:
                self._stats.drop('no_camera_info', len(stale))
            self._offer(Frame(msg, None, now))
            return
        self._take_matches(self._matcher.add_image((msg, now), stamp_ns(msg.header.stamp)))
        if not info_fresh and now - self._started > config.camera_info_timeout:
            self._node.get_logger().warning(
                f'waiting for camera_info on {self.info_topic} (none for '
                f'{config.camera_info_timeout:g} s); images are dropped. Set fallback_hfov_deg '
                'or fallback_fx to run without camera_info', throttle_duration_sec=5.0)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._lock:
            if not self._active:
                return
            self._last_info_time = time.monotonic()
            if self._fallback_active:
                self._fallback_active = False
                self._stats.note('intrinsics', 'camera_info')
                self._node.get_logger().info('camera_info arrived: using it instead of the '
                                             'fallback intrinsics')
            self._take_matches(self._matcher.add_info(msg, stamp_ns(msg.header.stamp)))
