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

"""``disdepth node-bench --quick``: the node beside its engine, table and JSON checked."""

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from disdepth_ros import node_bench

domain_coordinator = pytest.importorskip('domain_coordinator')
pytest.importorskip('rclpy')


def _rows(markdown: str) -> list:
    lines = [line for line in markdown.splitlines() if line.startswith('| ')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    return [dict(zip(header, (c.strip() for c in line.strip('|').split('|'))))
            for line in lines[1:]]


def test_quick_node_bench_table(tmp_path: Path) -> None:
    md = tmp_path / 'benchmarks.md'
    md.write_text('# Benchmarks\n\nkept above\n\n<!-- node-bench:begin -->\nold\n'
                  '<!-- node-bench:end -->\n\nkept below\n')
    out = tmp_path / 'node_bench.json'
    with domain_coordinator.domain_id() as domain:
        env = dict(os.environ, ROS_LOG_DIR=str(tmp_path / 'log'))
        proc = subprocess.run(
            [sys.executable, '-m', 'disdepth_ros.cli', 'node-bench', '--quick', '--duration',
             '3', '--domain', str(domain), '--markdown', str(md), '--json', str(out)],
            env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    sizes = [f'{w}x{h}' for h, w in node_bench.QUICK_SIZES]
    assert [e['image'] for e in result['engine']] == sizes
    assert [(r['image'], r['rate_hz']) for r in result['node']] == \
        [(s, rate) for s in sizes for rate in node_bench.QUICK_RATES]
    engine = result['engine'][0]
    assert engine['engine_fps'] == pytest.approx(1000.0 / engine['engine_ms_mean'], rel=0.01)
    for row in result['node']:
        assert row['node_exit_code'] == 0
        # frames came out, never more than went in
        assert 0 < row['output_hz'] <= row['rate_hz'] * 1.05
        possible = min(row['rate_hz'], row['engine_fps'])
        assert row['delivered'] == pytest.approx(row['output_hz'] / possible, abs=1e-3)
        assert row['processing_over_engine'] == pytest.approx(
            row['processing_ms'] / row['engine_ms'], abs=0.01)
        # the inference thread's stages (decode, inference, gate) fit in its processing time;
        # build and publish run beside the next frame in the output thread (overlap_outputs,
        # the default), so processing is at most all the stages together
        stages = row['stages_ms']
        assert set(stages) == set(node_bench.STAGES)
        assert all(v is not None and v >= 0.0 for v in stages.values())
        worker = stages['decode'] + stages['inference'] + stages['gate']
        assert worker <= row['processing_ms'] * 1.1 + 1.0
        assert row['processing_ms'] <= sum(stages.values()) * 1.1 + 1.0
        assert stages['inference'] == pytest.approx(row['inference_ms'], abs=0.02)
        lat = row['latency_ms']
        assert 0 < lat['p50'] <= lat['p95'] <= lat['p99'] <= lat['max']
        assert row['node_cpu_percent'] > 0
    text = md.read_text()
    assert text.startswith('# Benchmarks\n\nkept above\n') and text.endswith('kept below\n')
    assert 'old' not in text and 'disdepth node-bench --quick' in text
    table = _rows(text)
    assert len(table) == len(result['node'])
    for cells, row in zip(table, result['node']):
        assert cells['camera'] == row['image']
        assert float(cells['camera Hz']) == row['rate_hz']
        assert float(cells['node out Hz']) == pytest.approx(row['output_hz'], abs=0.05)
        assert float(cells['engine fps']) == pytest.approx(row['engine_fps'], abs=0.05)
        assert cells['processing / engine'] == f'{row["processing_over_engine"]:.2f}x'


def test_node_bench_options_are_checked() -> None:
    with pytest.raises(ValueError, match='rates must be in'):
        node_bench.NodeBenchOptions(rates=(0.0,))
    with pytest.raises(ValueError, match='sizes must be'):
        node_bench.NodeBenchOptions(sizes=((4, 4),))
    with pytest.raises(ValueError, match='domain must be in 1..100'):
        node_bench.NodeBenchOptions(domain=0)
