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

"""``disdepth bench`` on test-sized models: records, ratios, accuracy rows and the reports."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from disdepth_core.bench import add_ratios
from disdepth_core.bench import MARK_BEGIN
from disdepth_core.bench import MARK_END
from disdepth_core.bench import parse_sizes
from disdepth_core.bench import target_lines
from disdepth_core.inference.toymodel import TOY_GAIN
from disdepth_core.inference.toymodel import TOY_OFFSET
from disdepth_core.inference.toymodel import write_toy_onnx
from disdepth_ros.cli import main

pytest.importorskip('onnxruntime.quantization')
pytest.importorskip('torch')

REQUIRED = {'engine', 'provider', 'model', 'height', 'width', 'batch', 'p50_ms', 'p95_ms',
            'fps', 'params', 'gflops'}


def toy_rgbd_folder(root: Path, n: int = 4) -> Path:
    """Frames whose ground truth is exactly what the toy model predicts (scale 1)."""
    (root / 'rgb').mkdir(parents=True)
    (root / 'depth').mkdir()
    levels = (10, 90, 250, 160)  # even frames calibrate INT8 (they span the range), odd: eval
    for i in range(n):
        grey = np.full((64, 96), levels[i % 4], np.uint8)  # uniform: exact after resizing
        rgb = np.repeat(grey[..., None], 3, axis=2)
        cv2.imwrite(str(root / 'rgb' / f'{i:04d}.png'), rgb)
        depth_m = TOY_OFFSET + TOY_GAIN * grey.astype(np.float32) / 255.0
        cv2.imwrite(str(root / 'depth' / f'{i:04d}.png'), (depth_m * 1000).round().astype(
            np.uint16))
    k = {'fx': 100.0, 'fy': 100.0, 'cx': 47.5, 'cy': 31.5, 'width': 96, 'height': 64}
    (root / 'intrinsics.json').write_text(json.dumps(k))
    return root


@pytest.mark.slow
def test_bench_end_to_end(tmp_path) -> None:
    data = toy_rgbd_folder(tmp_path / 'data')
    model = write_toy_onnx(tmp_path / 'toy.onnx')
    md = tmp_path / 'bench.md'
    md.write_text(f'# My notes\n\nkept above\n\n{MARK_BEGIN}\nold\n{MARK_END}\n\nkept below\n')
    rc = main(['bench', '--tiny', '--backbones', 'mobilenetv2', '--teacher', '--sizes', '60x80',
               '--engines', 'torch,onnxruntime,onnxruntime-int8', '--warmup', '0', '--iters',
               '2', '--threads', '1', '--calib-frames', '2', '--model', str(model),
               '--accuracy-data', str(data), '--json', str(tmp_path / 'b.json'),
               '--markdown', str(md)])
    assert rc == 0
    records = json.loads((tmp_path / 'b.json').read_text())
    timed = [r for r in records if r.get('kind') != 'accuracy']
    assert len(timed) == 5  # 2 models x 3 engines, no INT8 teacher
    for r in timed:
        assert REQUIRED <= set(r) and r['n_bins'] == 16
        assert (r['height'], r['width'], r['net_height'], r['net_width']) == (60, 80, 64, 64)
        assert 0 < r['p50_ms'] <= r['p95_ms'] and r['fps'] > 0 and r['batch'] == 1
        assert r['params'] > 0 and r['gflops'] > 0
    by = {(r['model'], r['engine']): r for r in timed}
    ort, torch_row = by[('mobilenetv2', 'onnxruntime')], by[('mobilenetv2', 'torch')]
    assert ort['provider'] == 'CPUExecutionProvider' and torch_row['provider'] == 'cpu'
    assert ort['vs_torch'] == pytest.approx(torch_row['p50_ms'] / ort['p50_ms'])
    int8 = by[('mobilenetv2', 'onnxruntime-int8')]
    assert int8['precision'] == 'int8'
    assert int8['vs_fp32'] == pytest.approx(ort['p50_ms'] / int8['p50_ms'])
    assert 0.9 <= int8['int8_vs_fp32_delta1'] <= 1.0
    teacher = by[('teacher-vit-s', 'torch')]
    assert torch_row['vs_teacher'] == pytest.approx(teacher['p50_ms'] / torch_row['p50_ms'])
    assert torch_row['vs_teachers'] == {'teacher-vit-s': torch_row['vs_teacher']}
    assert 'vs_teacher' not in teacher
    acc = [r for r in records if r.get('kind') == 'accuracy']
    assert [r['engine'] for r in acc] == ['onnxruntime', 'onnxruntime-int8']
    assert acc[0]['delta1'] == pytest.approx(1.0) and acc[0]['frames'] == 2
    assert abs(acc[1]['delta1_change']) <= 0.01
    text = md.read_text()
    assert text.startswith('# My notes\n\nkept above') and text.rstrip().endswith('kept below')
    assert 'old' not in text.split(MARK_BEGIN)[1]
    assert 'Machine:' in text and 'disdepth bench' not in text.split(MARK_BEGIN)[0]
    assert 'Peak reference' in text
    assert '| mobilenetv2 | 16 | 60x80 | 64x64 | onnxruntime |' in text
    assert 'INT8 delta1 change on real frames' in text


def test_ratios_and_sizes() -> None:
    rows = [{'model': 'm', 'kind': 'student', 'height': 1, 'width': 2, 'engine': e, 'p50_ms': p}
            for e, p in (('torch', 30.0), ('onnxruntime', 10.0), ('onnxruntime-int8', 5.0))]
    for name, p50 in (('teacher-vit-s', 100.0), ('teacher-vit-l', 400.0)):
        rows.append({'model': name, 'kind': 'teacher', 'height': 1, 'width': 2,
                     'engine': 'onnxruntime', 'p50_ms': p50})
    add_ratios(rows)
    assert rows[1]['vs_torch'] == 3.0 and rows[2]['vs_fp32'] == 2.0
    assert rows[1]['vs_teacher'] == 10.0 and 'vs_teacher' not in rows[0]
    assert rows[1]['vs_teachers'] == {'teacher-vit-s': 10.0, 'teacher-vit-l': 40.0}
    lines = [t for t in target_lines(rows) if 'student vs' in t]
    assert lines == ['student vs teacher-vit-s, m 1x2 onnxruntime: 10.0x (target 8x: met)',
                     'student vs teacher-vit-l, m 1x2 onnxruntime: 40.0x (target 8x: met)']
    assert parse_sizes('240x320, 480X640') == [(240, 320), (480, 640)]
    with pytest.raises(ValueError, match='480x640'):
        parse_sizes('480*640')


def test_unknown_teacher_preset_is_a_clear_error(capsys) -> None:
    assert main(['bench', '--teacher', 'vit-s,swin-l', '--backbones', 'mobilenetv2',
                 '--sizes', '64x64', '--iters', '1']) == 2
    err = capsys.readouterr().err
    assert 'swin-l' in err and 'vit-l' in err


def test_bad_engine_is_a_clear_error(capsys) -> None:
    assert main(['bench', '--engines', 'tensorflow', '--backbones', 'mobilenetv2',
                 '--sizes', '64x64', '--iters', '1']) == 2
    assert 'unknown engine' in capsys.readouterr().err
