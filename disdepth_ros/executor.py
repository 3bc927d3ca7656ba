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
The node's executor: input callbacks in the spinning thread, the rest in one side thread.

rclpy's ``MultiThreadedExecutor`` hands every callback to a thread pool: per camera message the
spinning thread builds its wait set three times (the message, then the two wake-ups the pool
thread sends when it has taken and finished it) and three threads pass the GIL around.  Measured
on the node's input side (30 Hz 640x480 images + camera_info, no output subscriber, 2-core VM):
6.4 - 6.9 ms of CPU per frame, against 3.3 ms when the callbacks run where the wait returned.
The node still needs a second thread: a parameter change that reloads the model (seconds) must
not stop the camera input.  So :class:`InputExecutor` runs the callbacks that ``inline`` selects
(the camera's subscriptions, its QoS re-checks and events) in the spinning thread, and every
other callback (parameter and lifecycle services, the diagnostics timer) in one side thread, in
arrival order; an exception raised by either stops :meth:`spin` like rclpy's executors do.
"""

from concurrent.futures import ThreadPoolExecutor
import threading
from typing import Any, Callable, List, Optional, Union

from rclpy.context import Context
from rclpy.executors import ConditionReachedException
from rclpy.executors import Executor
from rclpy.executors import ShutdownException
from rclpy.executors import TimeoutException
from rclpy.executors import TimeoutObject
from rclpy.task import Future


class InputExecutor(Executor):
    """
    Run the callbacks ``inline`` selects in the spinning thread, the others in a side thread.

    :param inline: whether a ready entity's callback runs in the spinning thread
    :param context: the rclpy context (default: the global one)
    """

    def __init__(self, inline: Callable[[Any], bool], *,
                 context: Optional[Context] = None) -> None:
        super().__init__(context=context)
        self._inline = inline
        self._side = ThreadPoolExecutor(1, thread_name_prefix='disdepth-side')
        self._pending: List[Any] = []
        self._stop_spinning = threading.Event()

    def spin(self) -> None:
        """Run callbacks until :meth:`stop_spinning`, shutdown or the end of the context."""
        while self._context.ok() and not self._is_shutdown and not self._stop_spinning.is_set():
            # the condition ends a wait that no callback would end (an idle, finalized node)
            self._spin_once_impl(None, self._stop_spinning.is_set)

    def stop_spinning(self) -> None:
        """
        Make :meth:`spin` return after the callback in progress; nothing is destroyed.

        Join the spinning thread, then call :meth:`shutdown`: rclpy's ``Executor.shutdown``
        destroys its guard condition at once, and a thread still inside ``spin`` then fails with
        ``InvalidHandle`` (seen once in test/test_ros_shutdown.py, where a node is interrupted
        under load eight times per run).
        """
        self._stop_spinning.set()
        self.wake()

    def _spin_once_impl(self, timeout_sec: Optional[Union[float, TimeoutObject]] = None,
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            handler, entity, _node = self.wait_for_ready_callbacks(timeout_sec, None,
                                                                   wait_condition)
        except (ShutdownException, TimeoutException, ConditionReachedException):
            pass
        else:
            if entity is not None and self._inline(entity):
                handler()
                exception = handler.exception()
                if exception is not None:
                    raise exception
            else:
                self._side.submit(handler)
                self._pending.append(handler)
        for task in [t for t in self._pending if t.done()]:
            self._pending.remove(task)
            task.result()   # raise what a side callback raised

    def spin_once(self, timeout_sec: Optional[float] = None) -> None:
        """
        Wait for one ready callback and run it (inline) or hand it to the side thread.

        :param timeout_sec: seconds to wait; None or negative: forever, 0: do not wait
        """
        self._spin_once_impl(timeout_sec)

    def spin_once_until_future_complete(
            self, future: Future[Any],
            timeout_sec: Optional[Union[float, TimeoutObject]] = None) -> None:
        """
        Like :meth:`spin_once`, returning early when ``future`` completes.

        :param future: the future to wait for
        :param timeout_sec: seconds to wait at most
        """
        future.add_done_callback(lambda _f: self.wake())
        self._spin_once_impl(timeout_sec, future.done)

    def _spin_once_until_future_complete(
            self, future: Future[Any],
            timeout_sec: Optional[Union[float, TimeoutObject]] = None) -> None:
        self._spin_once_impl(timeout_sec, future.done)

    def shutdown(self, timeout_sec: Optional[float] = None) -> bool:
        """
        Stop spinning and wait for the side thread's callback in progress.

        :param timeout_sec: seconds to wait for the callbacks in progress (None: no limit)
        :return: whether everything stopped within the timeout
        """
        done = super().shutdown(timeout_sec)
        self._side.shutdown(wait=True)
        return done
