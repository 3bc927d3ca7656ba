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
Frame plumbing of the node: image/camera_info stamp matching and the latest-frame slot.

* :class:`StampMatcher` pairs each image with the camera_info of the nearest stamp within a
  tolerance (approximate-time matching of two streams, bounded queues), tolerating either message
  arriving first and stamps that jump back (a restarted publisher, a looping bag).
* :class:`LatestFrameSlot` hands frames from the subscription callbacks to the inference worker
  with a latest-frame policy: one slot; a new frame replaces an unprocessed one, which is counted
  as dropped.  Latency stays at most one inference behind and memory does not grow.

Pure Python, thread-safe, no rclpy.
"""

from collections import deque
from dataclasses import dataclass
import threading
from typing import Any, Deque, List, Optional, Tuple

# A stamp this much older than the newest one seen means the source restarted: start over.
JUMP_BACK_NS = 1_000_000_000


@dataclass
class Frame:
    """
    An image on its way to inference.

    :param image: the Image message
    :param info: the matched CameraInfo, or None when fallback intrinsics are to be used
    :param received: monotonic time the image arrived (seconds)
    """

    image: Any
    info: Optional[Any]
    received: float


@dataclass
class MatchResult:
    """
    What one call to :class:`StampMatcher` produced.

    :param matched: (image, info) pairs, oldest first
    :param dropped: images given up on (queue overflow, no camera_info can match any more)
    """

    matched: List[Tuple[Any, Any]]
    dropped: int = 0


class StampMatcher:
    """
    Approximate-time matching of images with camera infos.

    :param tolerance_ns: largest stamp difference that still matches
    :param queue_size: camera infos kept, and images kept waiting for their camera_info
    """

    def __init__(self, tolerance_ns: int, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError(f'queue_size must be >= 1, got {queue_size}')
        self.tolerance_ns = int(tolerance_ns)
        self.queue_size = int(queue_size)
        self._lock = threading.Lock()
        self._infos: Deque[Tuple[int, Any]] = deque(maxlen=self.queue_size)
        self._images: Deque[Tuple[int, Any]] = deque()
        self._newest: Optional[int] = None

    def reconfigure(self, tolerance_ns: int, queue_size: int) -> None:
        """Change the tolerance and queue size (keeps the newest entries)."""
        with self._lock:
            self.tolerance_ns = int(tolerance_ns)
            self.queue_size = int(queue_size)
            self._infos = deque(self._infos, maxlen=self.queue_size)

    def _check_jump(self, stamp: int) -> int:
        """Reset when time jumps back; return the number of images dropped by the reset."""
        dropped = 0
        if self._newest is not None and stamp < self._newest - JUMP_BACK_NS:
            dropped = len(self._images)
            self._images.clear()
            self._infos.clear()
            self._newest = stamp
        self._newest = stamp if self._newest is None else max(self._newest, stamp)
        return dropped

    def _best_info(self, stamp: int) -> Optional[Any]:
        best, best_diff = None, None
        for info_stamp, info in self._infos:
            diff = abs(info_stamp - stamp)
            if diff <= self.tolerance_ns and (best_diff is None or diff < best_diff):
                best, best_diff = info, diff
        return best

    def add_image(self, image: Any, stamp_ns: int) -> MatchResult:
        """
        Offer an image.

        :param image: the image message
        :param stamp_ns: its stamp
        :return: the image matched now, or nothing (it waits, or is dropped when no buffered
            or future camera_info can match it)
        """
        with self._lock:
            dropped = self._check_jump(stamp_ns)
            info = self._best_info(stamp_ns)
            if info is not None:
                return MatchResult([(image, info)], dropped)
            newest_info = self._infos[-1][0] if self._infos else None
            if newest_info is not None and newest_info > stamp_ns + self.tolerance_ns:
                return MatchResult([], dropped + 1)   # its camera_info went by already
            self._images.append((stamp_ns, image))
            while len(self._images) > self.queue_size:
                self._images.popleft()
                dropped += 1
            return MatchResult([], dropped)

    def add_info(self, info: Any, stamp_ns: int) -> MatchResult:
        """
        Offer a camera_info; images waiting for it are matched.

        :param info: the CameraInfo message
        :param stamp_ns: its stamp
        :return: images matched now; waiting images older than any possible match are dropped
        """
        with self._lock:
            dropped = self._check_jump(stamp_ns)
            self._infos.append((stamp_ns, info))
            matched: List[Tuple[Any, Any]] = []
            waiting: Deque[Tuple[int, Any]] = deque()
            for image_stamp, image in self._images:
                best = self._best_info(image_stamp)
                if best is not None:
                    matched.append((image, best))
                elif image_stamp + self.tolerance_ns < stamp_ns:
                    dropped += 1
                else:
                    waiting.append((image_stamp, image))
            self._images = waiting
            return MatchResult(matched, dropped)

    def pending(self) -> int:
        """Count the images waiting for a camera_info."""
        with self._lock:
            return len(self._images)

    def take_pending(self) -> List[Any]:
        """Remove and return the waiting images (oldest first)."""
        with self._lock:
            images = [image for _, image in self._images]
            self._images.clear()
            return images


class LatestFrameSlot:
    """A one-frame mailbox between the callbacks and the worker (latest-frame policy)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self._closed = False

    def put(self, frame: Frame) -> bool:
        """
        Offer a frame.

        :param frame: the new frame
        :return: True when it replaced a frame that was never processed (a drop)
        """
        with self._cond:
            replaced = self._frame is not None
            self._frame = frame
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """
        Wait for a frame and remove it.

        :param timeout: seconds to wait (None = until a frame arrives or the slot closes)
        :return: the frame, or None on timeout or when closed
        """
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        """Wake the worker for shutdown; later ``take`` calls return None at once."""
        with self._cond:
            self._closed = True
            self._frame = None
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        with self._cond:
            return self._closed
