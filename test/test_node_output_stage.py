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

"""The node's output thread: order, back-pressure, draining on close, failures contained."""

import threading
from typing import List

import pytest

from disdepth_ros.output_stage import OutputStage


def test_jobs_run_in_order_on_the_output_thread() -> None:
    stage = OutputStage(capacity=1)
    ran: List[int] = []
    threads = set()

    def job(i: int) -> None:
        ran.append(i)
        threads.add(threading.current_thread().name)
    for i in range(50):
        stage.submit(lambda i=i: job(i))
    assert stage.drain(timeout=5.0)
    assert ran == list(range(50))
    assert threads == {'disdepth-output'}
    assert stage.idle()
    assert stage.close(timeout=5.0)
    assert not stage.thread.is_alive()


def test_back_pressure_bounds_the_queue() -> None:
    stage = OutputStage(capacity=1)
    release = threading.Event()
    started = threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5.0)
    stage.submit(slow)
    assert started.wait(5.0)           # running: the queue is empty again
    assert stage.wait_for_room(timeout=0.0)
    stage.submit(lambda: None)         # one waits while one runs
    assert not stage.wait_for_room(timeout=0.1)
    assert not stage.idle()
    release.set()
    assert stage.wait_for_room(timeout=5.0)
    assert stage.drain(timeout=5.0)
    stage.close(timeout=5.0)


def test_close_runs_what_was_handed_over_then_refuses() -> None:
    stage = OutputStage(capacity=3)
    gate = threading.Event()
    ran: List[str] = []
    stage.submit(lambda: (gate.wait(5.0), ran.append('a')))
    stage.submit(lambda: ran.append('b'))
    stage.submit(lambda: ran.append('c'))
    closer = threading.Thread(target=stage.close, kwargs={'timeout': 5.0})
    closer.start()
    gate.set()
    closer.join(5.0)
    assert ran == ['a', 'b', 'c']
    assert not stage.thread.is_alive()
    with pytest.raises(RuntimeError, match='closed'):
        stage.submit(lambda: None)
    assert not stage.wait_for_room(timeout=0.0)


def test_a_failing_job_is_reported_and_the_thread_goes_on() -> None:
    errors: List[BaseException] = []
    stage = OutputStage(on_error=errors.append)
    ran: List[int] = []

    def bad() -> None:
        raise ValueError('broken message')
    stage.submit(bad)
    stage.submit(lambda: ran.append(1))
    assert stage.drain(timeout=5.0)
    assert ran == [1]
    assert [str(e) for e in errors] == ['broken message']
    stage.close(timeout=5.0)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match='capacity must be >= 1'):
        OutputStage(capacity=0)
