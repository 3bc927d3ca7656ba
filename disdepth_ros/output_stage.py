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
The node's output thread: a frame's messages are built and published while the next is inferred.

The inference worker hands each finished frame's output job to :class:`OutputStage`; one thread
runs the jobs in the order they were handed over.  At most ``capacity`` jobs wait while one runs:
beyond that :meth:`OutputStage.wait_for_room` blocks the worker (back-pressure), so a finished
frame is never dropped here and memory stays bounded.  :meth:`OutputStage.close` runs every job
already handed over before the thread ends (a clean shutdown publishes the frame in progress).
"""

from collections import deque
import threading
from typing import Callable, Deque, Optional

Job = Callable[[], None]


class OutputStage:
    """
    One thread that runs output jobs in order, overlapped with the caller's next frame.

    :param capacity: jobs that may wait while one runs (>= 1)
    :param on_error: called with an exception a job raised (the thread keeps running); jobs
        are expected to handle their own frame errors, so this is the last line only
    :param name: the thread's name
    """

    def __init__(self, capacity: int = 1, on_error: Optional[Callable[[BaseException], None]]
                 = None, name: str = 'disdepth-output') -> None:
        if capacity < 1:
            raise ValueError(f'OutputStage capacity must be >= 1, not {capacity}')
        self._capacity = int(capacity)
        self._on_error = on_error
        self._jobs: Deque[Job] = deque()
        self._running = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The output thread."""
        return self._thread

    def wait_for_room(self, timeout: Optional[float] = None) -> bool:
        """
        Block while ``capacity`` jobs are waiting.

        :param timeout: seconds (None = as long as it takes)
        :return: True when a job can be handed over without waiting (False on timeout or when
            the stage is closed)
        """
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._closed or len(self._jobs) < self._capacity, timeout)
            return bool(ok) and not self._closed

    def submit(self, job: Job) -> None:
        """
        Hand a job over (waits for room first).

        :param job: the frame's output work
        :raises RuntimeError: when the stage is closed
        """
        with self._cond:
            self._cond.wait_for(lambda: self._closed or len(self._jobs) < self._capacity)
            if self._closed:
                raise RuntimeError('the output stage is closed')
            self._jobs.append(job)
            self._cond.notify_all()

    def idle(self) -> bool:
        """Whether no job is waiting or running."""
        with self._cond:
            return not self._jobs and not self._running

    def drain(self, timeout: Optional[float] = None) -> bool:
        """
        Wait until every job handed over so far has run.

        :param timeout: seconds (None = as long as it takes)
        :return: True when drained
        """
        with self._cond:
            return bool(self._cond.wait_for(lambda: not self._jobs and not self._running,
                                            timeout))

    def close(self, timeout: Optional[float] = None) -> bool:
        """
        Run the jobs already handed over, then stop the thread; later submits are refused.

        :param timeout: seconds to wait for them (None = as long as it takes)
        :return: True when every job ran and the thread ended
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is threading.current_thread():
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs or self._closed)
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._running = True
                self._cond.notify_all()
            try:
                job()
            except Exception as exc:  # a job's own errors are handled inside it
                if self._on_error is not None:
                    self._on_error(exc)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
