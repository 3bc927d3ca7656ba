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
``disdepth demo --quick`` end to end (the real node over real DDS), and the PLY writer.

The demo runs with the packaged default model when the package ships one, else with the toy ONNX
model (accuracy numbers are then meaningless but must be finite).
"""

import json
import math
import os
from pathlib import Path
import subprocess
import sys
import textwrap
from typing import Optional

import cv2
import numpy as np
import pytest

from disdepth_core.pointcloud_io import read_ply
from disdepth_core.pointcloud_io import write_ply

N_FRAMES = 8
H, W = 96, 128
DISDEPTH = [sys.executable, '-m', 'disdepth_ros.cli']


def test_ply_round_trip_skips_invalid_points(tmp_path: Path) -> None:
    xyz = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3) / 7.0
    xyz[0, 0] = np.nan
    xyz[2, 3, 2] = np.inf
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    keep = np.isfinite(xyz).all(-1).reshape(-1)
    for binary in (True, False):
        path = tmp_path / f'c{int(binary)}.ply'
        assert write_ply(path, xyz, rgb, binary=binary, comment='metres') == 18
        header = path.read_bytes().split(b'end_header\n')[0].decode()
        assert 'element vertex 18' in header and 'property uchar red' in header
        back_xyz, back_rgb = read_ply(path)
        np.testing.assert_allclose(back_xyz, xyz.reshape(-1, 3)[keep], rtol=1e-6)
        np.testing.assert_array_equal(back_rgb, rgb.reshape(-1, 3)[keep])
    assert write_ply(tmp_path / 'plain.ply', xyz.reshape(-1, 3)) == 18
    assert read_ply(tmp_path / 'plain.ply')[1] is None
    with pytest.raises(ValueError, match='colours must be uint8'):
        write_ply(tmp_path / 'bad.ply', xyz, rgb.astype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['c0.ply', 'c1.ply', 'plain.ply']


def _packaged_model() -> Optional[Path]:
    from disdepth_core.assets import packaged_model_paths
    return packaged_model_paths()['onnx']


@pytest.fixture(scope='module')
def model_args(tmp_path_factory: pytest.TempPathFactory) -> list:
    """``--model`` arguments: none with a packaged model, else the toy ONNX model."""
    if _packaged_model() is not None:
        return []
    pytest.importorskip('onnx')
    from disdepth_core.inference.toymodel import write_toy_onnx
    return ['--model', str(write_toy_onnx(tmp_path_factory.mktemp('model') / 'toy.onnx'))]


def _env(**extra: str) -> dict:
    env = dict(os.environ)
    env.setdefault('ROS_LOG_DIR', os.environ.get('ROS_LOG_DIR', '/tmp'))
    env.update(extra)
    return env


def test_quick_demo_outputs_are_consistent(tmp_path: Path, model_args: list) -> None:
    pytest.importorskip('rclpy')
    pytest.importorskip('domain_coordinator')
    from rosbags.highlevel import AnyReader
    from disdepth_core.rosmsg import image_to_numpy
    from disdepth_core.rosmsg import pointcloud2_to_xyz
    out = tmp_path / 'demo'
    proc = subprocess.run(DISDEPTH + ['demo', '--quick', '--out', str(out)] + model_args,
                          capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'look at:' in proc.stdout and str(out / 'strip.png') in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ['bag', 'cloud.ply', 'node.log',
                                                     'strip.png', 'summary.json', 'summary.md']
    assert [p.name for p in tmp_path.iterdir()] == ['demo']  # no partial output left over
    s = json.loads((out / 'summary.json').read_text())
    # The demo publishes each frame after the node's outputs for the previous one arrived, so
    # however loaded the machine, every frame gets through and nothing is superseded.
    assert s['frames_in'] == N_FRAMES and s['frames_out'] == N_FRAMES and s['dropped'] == 0
    assert set(s['outputs'].values()) == {N_FRAMES}, s['outputs']
    assert 'previous' in s['sequence']['pacing']
    for key in ('abs_rel', 'rmse', 'd1'):
        assert math.isfinite(s['accuracy'][key]), s['accuracy']
    assert 0.0 <= s['accuracy']['d1'] <= 1.0 and s['accuracy']['frames'] == N_FRAMES
    assert 0.0 < s['latency_ms']['p50'] <= s['latency_ms']['p95'] < 10_000.0
    assert s['node_diagnostics']['frames_out'] == str(N_FRAMES)

    # The bag: inputs and every output, one message per frame, stamps and frame ids kept.
    with AnyReader([out / 'bag']) as reader:
        by_topic: dict = {}
        for conn, _, raw in reader.messages(connections=reader.connections):
            by_topic.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    for topic in ('/demo/image', '/demo/camera_info', '/demo/depth', '/demo/depth/camera_info',
                  '/demo/points', '/demo/depth/confidence', '/demo/depth/colorized'):
        assert len(by_topic[topic]) == N_FRAMES, topic
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in by_topic['/demo/image']]
    depth = by_topic['/demo/depth']
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in depth] == stamps
    assert {m.header.frame_id for m in depth} == {by_topic['/demo/image'][0].header.frame_id}
    d = image_to_numpy(depth[0])
    assert depth[0].encoding == '32FC1' and d.shape == (H, W) and np.isfinite(d).mean() > 0.5

    # strip.png: one row per shown frame, three columns (input | depth | ground truth).
    strip = cv2.imread(str(out / 'strip.png'), cv2.IMREAD_COLOR)
    assert strip is not None and strip.shape[1] == 3 * W + 8
    rows = len(s['files']['strip_frames'])
    assert rows == 4 and strip.shape[0] > rows * H
    left = cv2.cvtColor(strip[-H:, :W], cv2.COLOR_BGR2RGB)
    last = by_topic['/demo/image'][s['files']['strip_frames'][-1]]
    np.testing.assert_array_equal(left, image_to_numpy(last))

    # cloud.ply: the finite points of the node's cloud for the recorded frame.
    header = (out / 'cloud.ply').read_bytes().split(b'end_header\n')[0].decode()
    assert f'element vertex {s["files"]["ply_points"]}' in header
    xyz, rgb = read_ply(out / 'cloud.ply')
    cloud = by_topic['/demo/points'][s['files']['ply_frame']]
    expected = pointcloud2_to_xyz(cloud).reshape(-1, 3)
    expected = expected[np.isfinite(expected).all(axis=1)]
    assert xyz.shape[0] == expected.shape[0] == s['files']['ply_points'] > 0
    np.testing.assert_allclose(xyz, expected)
    assert rgb is not None and rgb.shape == xyz.shape
    assert (out / 'summary.md').read_text().startswith('# disdepth demo')

    # The same frames through `disdepth bag` (offline) give the node's depth: one pipeline.
    offline = tmp_path / 'offline'
    proc = subprocess.run(DISDEPTH + ['bag', str(out / 'bag'), str(offline), '--image-topic',
                                      '/demo/image', '--namespace', '/offline', '--quiet']
                          + model_args, capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr
    with AnyReader([offline]) as reader:
        conns = [c for c in reader.connections if c.topic == '/offline/depth']
        again = [reader.deserialize(raw, c.msgtype)
                 for c, _, raw in reader.messages(connections=conns)]
    assert len(again) == N_FRAMES
    for live, off in zip(depth, again):
        assert off.header.stamp == live.header.stamp
        np.testing.assert_allclose(image_to_numpy(off), image_to_numpy(live), rtol=1e-5,
                                   atol=1e-6)


FAILING_ENGINE = textwrap.dedent("""
    from disdepth_core.inference.base import EngineInfo
    from disdepth_core.modelspec import ModelSpec


    class Failing:
        spec = ModelSpec('failing', 'student', 'none', 64, 64, 100.0, 0.1, 10.0)
        info = EngineInfo('failing', 'cpu', '')

        def predict(self, rgb, intrinsics):
            raise RuntimeError('this engine always fails')


    def create(model, device='auto', **options):
        return Failing()
""")


def test_demo_fails_clearly_when_the_node_publishes_nothing(
        tmp_path: Path, model_args: list) -> None:
    pytest.importorskip('rclpy')
    pytest.importorskip('domain_coordinator')
    (tmp_path / 'failing_engine.py').write_text(FAILING_ENGINE)
    out = tmp_path / 'demo'
    model = model_args or ['--model', str(_packaged_model())]
    env = _env(DISDEPTH_EXTRA_ENGINES='failing=failing_engine:create',
               PYTHONDONTWRITEBYTECODE='1',
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run(DISDEPTH + ['demo', '--quick', '--frames', '3', '--engine', 'failing',
                                      '--out', str(out)] + model,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'the node published no depth for any of the 3 frames' in proc.stderr
    assert 'this engine always fails' in proc.stderr  # the node's own reason is shown
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / 'failing_engine.py']
