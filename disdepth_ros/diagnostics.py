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
Run-time statistics of the depth node and their ``/diagnostics`` representation.

:class:`NodeStats` is thread-safe (the subscription callbacks, the inference worker and the
diagnostics timer all touch it) and bounded (fixed-size windows).  :meth:`NodeStats.report`
returns a :class:`Report` (level, message, key/value pairs); the node copies it into a
``diagnostic_msgs/DiagnosticStatus``.  Pure Python + numpy: no rclpy.

Every frame that enters the node ends in exactly one place: published (``frames_out``) or
dropped with a reason (``dropped.<reason>``), so ``frames_in`` = ``frames_out`` + dropped +
in flight.
"""

from collections import deque
from dataclasses import dataclass
import threading
import time
from typing import Callable, Deque, Dict, List, Mapping, Optional, Tuple

import numpy as np

# Diagnostic levels (diagnostic_msgs/DiagnosticStatus).
OK, WARN, ERROR = 0, 1, 2

# Drop reasons, and what each means (also documented in docs/node.md).
DROP_REASONS: Dict[str, str] = {
    'superseded': 'a newer frame arrived before inference was free (latest-frame policy)',
    'no_subscribers': 'no subscriber on any output, inference skipped',
    'no_camera_info': 'no matching camera_info and no fallback intrinsics',
    'bad_image': 'undecodable image (encoding, size, step/data length)',
    'bad_camera_info': 'unusable camera_info (zero/NaN intrinsics, bad size) and no fallback',
    'inference_error': 'the estimator failed on the frame',
    'output_error': 'building or publishing an output failed',
}
# Reasons that indicate a problem with the input or the model (the rest are normal operation).
PROBLEM_REASONS = ('no_camera_info', 'bad_image', 'bad_camera_info', 'inference_error',
                   'output_error')

WINDOW = 200          # samples kept for timing statistics
RATE_WINDOW_S = 5.0   # seconds over which rates are measured


@dataclass(frozen=True)
class Report:
    """
    One diagnostics report.

    :param level: OK, WARN or ERROR
    :param message: one-line summary
    :param values: ordered (key, value) pairs, values as strings
    """

    level: int
    message: str
    values: List[Tuple[str, str]]


def _rate(stamps: Deque[float], now: float) -> float:
    """Mean rate of the events of the last RATE_WINDOW_S seconds (0 when fewer than two)."""
    recent = [t for t in stamps if now - t <= RATE_WINDOW_S]
    if len(recent) < 2:
        return 0.0
    span = recent[-1] - recent[0]
    return (len(recent) - 1) / span if span > 0 else 0.0


def _mean_p95(samples: Deque[float]) -> Tuple[float, float]:
    if not samples:
        return (0.0, 0.0)
    arr = np.fromiter(samples, dtype=np.float64)
    return float(arr.mean()), float(np.percentile(arr, 95))


class NodeStats:
    """
    Thread-safe counters, rates and timing windows of the node.

    :param clock: monotonic clock in seconds (injectable for tests)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.dropped: Dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.published: Dict[str, int] = {}
        self._in_times: Deque[float] = deque(maxlen=WINDOW)
        self._out_times: Deque[float] = deque(maxlen=WINDOW)
        self._infer_ms: Deque[float] = deque(maxlen=WINDOW)
        self._latency_ms: Deque[float] = deque(maxlen=WINDOW)
        self._processing_ms: Deque[float] = deque(maxlen=WINDOW)
        self._stage_ms: Dict[str, Deque[float]] = {}
        self._last_error = ''
        self._last_error_time: Optional[float] = None
        self._problems_at_last_report = 0
        self._out_at_last_report = 0
        self._notes: Dict[str, str] = {}

    def frame_in(self) -> None:
        """Count an incoming image."""
        with self._lock:
            self.frames_in += 1
            self._in_times.append(self._clock())

    def drop(self, reason: str, count: int = 1) -> None:
        """
        Count dropped frames.

        :param reason: a key of :data:`DROP_REASONS`
        :param count: how many
        """
        if reason not in DROP_REASONS:
            raise ValueError(f'unknown drop reason {reason!r}')
        with self._lock:
            self.dropped[reason] += count

    def frame_out(self, infer_ms: float, latency_ms: float, outputs: List[str],
                  processing_ms: Optional[float] = None,
                  stages_ms: Optional[Mapping[str, float]] = None) -> None:
        """
        Count a processed frame.

        :param infer_ms: estimator time for it
        :param latency_ms: time from its arrival to the end of publishing
        :param outputs: names of the outputs published for it
        :param processing_ms: time from leaving the queue to the end of publishing (decode,
            inference, outputs); ``latency_ms`` minus this is the time it waited
        :param stages_ms: the parts of ``processing_ms`` by stage (e.g. decode, inference,
            build, publish), reported as ``stage_ms_mean.<stage>``
        """
        with self._lock:
            for stage, ms in (stages_ms or {}).items():
                window = self._stage_ms.get(stage)
                if window is None:
                    window = self._stage_ms[stage] = deque(maxlen=WINDOW)
                window.append(float(ms))
            self.frames_out += 1
            self._out_times.append(self._clock())
            self._infer_ms.append(float(infer_ms))
            self._latency_ms.append(float(latency_ms))
            self._processing_ms.append(float(infer_ms if processing_ms is None
                                             else processing_ms))
            for name in outputs:
                self.published[name] = self.published.get(name, 0) + 1

    def error(self, message: str) -> None:
        """Record the most recent error; it is shown until a newer one replaces it."""
        with self._lock:
            self._last_error = message
            self._last_error_time = self._clock()

    def note(self, key: str, value: str) -> None:
        """Set a free-form key shown in every report (e.g. the intrinsics source)."""
        with self._lock:
            self._notes[key] = value

    @property
    def last_error(self) -> str:
        """The most recent error message ('' when none)."""
        with self._lock:
            return self._last_error

    def report(self, static: Optional[List[Tuple[str, str]]] = None) -> Report:
        """
        Summarise the current state.

        WARN when frames were dropped for a problem reason since the previous report, ERROR
        when frames arrive but none was published since the previous report because of such
        problems.

        :param static: leading (key, value) pairs, e.g. engine and provider
        :return: the report
        """
        with self._lock:
            now = self._clock()
            in_hz, out_hz = _rate(self._in_times, now), _rate(self._out_times, now)
            infer_mean, infer_p95 = _mean_p95(self._infer_ms)
            lat_mean, lat_p95 = _mean_p95(self._latency_ms)
            proc_mean, proc_p95 = _mean_p95(self._processing_ms)
            problems = sum(self.dropped[r] for r in PROBLEM_REASONS)
            new_problems = problems - self._problems_at_last_report
            new_out = self.frames_out - self._out_at_last_report
            self._problems_at_last_report = problems
            self._out_at_last_report = self.frames_out
            values = list(static or [])
            values += [
                ('inference_ms_mean', f'{infer_mean:.2f}'),
                ('inference_ms_p95', f'{infer_p95:.2f}'),
                ('latency_ms_mean', f'{lat_mean:.2f}'),
                ('latency_ms_p95', f'{lat_p95:.2f}'),
                ('processing_ms_mean', f'{proc_mean:.2f}'),
                ('processing_ms_p95', f'{proc_p95:.2f}'),
            ]
            values += [(f'stage_ms_mean.{stage}', f'{_mean_p95(window)[0]:.2f}')
                       for stage, window in self._stage_ms.items()]
            values += [
                ('input_hz', f'{in_hz:.2f}'),
                ('output_hz', f'{out_hz:.2f}'),
                ('frames_in', str(self.frames_in)),
                ('frames_out', str(self.frames_out)),
                ('dropped_total', str(sum(self.dropped.values()))),
            ]
            values += [(f'dropped.{r}', str(n)) for r, n in self.dropped.items()]
            values += [(f'published.{k}', str(n)) for k, n in sorted(self.published.items())]
            values += sorted(self._notes.items())
            values.append(('last_error', self._last_error))
            if new_problems and not new_out:
                level, message = ERROR, f'no output: {new_problems} frame(s) dropped ' \
                                        f'({self._last_error or "see dropped.*"})'
            elif new_problems:
                level, message = WARN, f'{new_problems} frame(s) dropped since last report ' \
                                       f'({self._last_error or "see dropped.*"})'
            else:
                level, message = OK, f'{out_hz:.1f} Hz out, {in_hz:.1f} Hz in'
            return Report(level, message, values)
