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

"""``disdepth infer`` end to end on a tiny exported model and on the toy ONNX model."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from disdepth_core.inference.toymodel import TOY_GAIN
from disdepth_core.inference.toymodel import TOY_OFFSET
from disdepth_core.inference.toymodel import TOY_SPEC
from disdepth_core.inference.toymodel import write_toy_onnx
from disdepth_ros.cli import main
from disdepth_ros.commands.infer import default_fov_deg

pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')


@pytest.fixture
def images(tmp_path) -> list:
    paths = []
    for i, (h, w) in enumerate(((128, 192), (96, 144))):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, w // 2:] = 255
        path = tmp_path / f'frame{i}.png'
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def test_writes_metric_npy_and_png_per_image(tmp_path, images) -> None:
    model = write_toy_onnx(tmp_path / 'toy.onnx')
    k = {'fx': 150.0, 'fy': 150.0, 'cx': 95.5, 'cy': 63.5, 'width': 192, 'height': 128}
    (tmp_path / 'intrinsics.json').write_text(json.dumps(k))
    out = tmp_path / 'out'
    rc = main(['infer', *images, '--out', str(out), '--model', str(model),
               '--intrinsics', str(tmp_path / 'intrinsics.json')])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ['frame0.npy', 'frame0.png', 'frame1.npy',
                                                     'frame1.png']
    depth = np.load(out / 'frame0.npy')
    assert depth.shape == (128, 192) and depth.dtype == np.float32
    # f = 150 at 192 px -> 75 px at the 96 px network width; canonical f 100: scale 0.75
    np.testing.assert_allclose(depth[:, :80], TOY_OFFSET * 0.75, rtol=1e-5)
    np.testing.assert_allclose(depth[:, 112:], (TOY_OFFSET + TOY_GAIN) * 0.75, rtol=1e-5)
    # the second image has the same aspect ratio: intrinsics.json is rescaled, same scale
    np.testing.assert_allclose(np.load(out / 'frame1.npy')[:, -10:],
                               (TOY_OFFSET + TOY_GAIN) * 0.75, rtol=1e-5)
    png = cv2.imread(str(out / 'frame0.png'))
    assert png.shape == (128, 192, 3)


def test_pinhole_options_and_default_fov(tmp_path, images, capsys, caplog) -> None:
    model = str(write_toy_onnx(tmp_path / 'toy.onnx'))
    out = tmp_path / 'o'
    assert main(['infer', images[0], '--out', str(out), '--model', model, '--fx', '300',
                 '--fy', '300', '--cx', '95.5', '--cy', '63.5', '--range', '0', '5']) == 0
    # f = 300 at 192 px -> 150 at 96 px: scale 1.5
    np.testing.assert_allclose(np.load(out / 'frame0.npy')[:, :80], TOY_OFFSET * 1.5, rtol=1e-5)
    with caplog.at_level('WARNING', logger='disdepth'):
        assert main(['infer', images[0], '--out', str(out), '--model', model]) == 0
    assert 'no camera intrinsics given' in caplog.text
    assert f'{default_fov_deg(TOY_SPEC):.1f} deg' in caplog.text
    # the canonical field of view means no correction at the training aspect ratio
    np.testing.assert_allclose(np.load(out / 'frame0.npy')[:, :80], TOY_OFFSET, rtol=1e-4)


def test_clear_errors(tmp_path, images, capsys) -> None:
    model = str(write_toy_onnx(tmp_path / 'toy.onnx'))
    out = str(tmp_path / 'o')
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    assert main(['infer', images[0], str(broken), '--out', out, '--model', model,
                 '--fov', '60']) == 1
    err = capsys.readouterr().err
    assert 'cannot read image' in err and 'broken.png' in err and '1 of 2' in err
    assert (Path(out) / 'frame0.npy').is_file() and not (Path(out) / 'broken.npy').exists()
    assert main(['infer', str(tmp_path / 'missing.png'), '--out', out, '--model', model]) == 2
    assert 'not found' in capsys.readouterr().err
    assert main(['infer', images[0], '--out', out, '--model', model, '--fx', '100']) == 2
    assert '--fx needs --fy' in capsys.readouterr().err
    assert main(['infer', images[0], '--out', out, '--model', str(tmp_path / 'no.onnx')]) == 1
    assert 'does not exist' in capsys.readouterr().err
    (tmp_path / 'k.json').write_text(json.dumps({'fx': 100, 'fy': 100, 'cx': 50, 'cy': 50,
                                                 'width': 100, 'height': 100}))
    assert main(['infer', images[0], '--out', out, '--model', model, '--intrinsics',
                 str(tmp_path / 'k.json')]) == 1
    assert 'aspect ratio' in capsys.readouterr().err
    leftovers = [p.name for p in Path(out).iterdir() if p.name.startswith('.')]
    assert leftovers == []


def test_exported_student_end_to_end(tmp_path, images) -> None:
    torch = pytest.importorskip('torch')
    from disdepth_core.export import export_onnx
    from disdepth_core.models import build_student
    from disdepth_core.models import StudentConfig
    from disdepth_core.modelspec import ModelSpec
    torch.set_num_threads(1)
    cfg = StudentConfig(n_bins=16, decoder_width=32, decoder_min_width=8, bins_hidden=32)
    spec = ModelSpec('s', 'student', 'mobilenetv2', 64, 96, cfg.canonical_focal, cfg.min_depth,
                     cfg.max_depth)
    export_onnx(build_student(cfg), spec, tmp_path / 's.onnx')
    out = tmp_path / 'o'
    assert main(['infer', images[1], '--out', str(out), '--model', str(tmp_path / 's.onnx'),
                 '--fov', '70']) == 0
    depth = np.load(out / 'frame1.npy')
    assert depth.shape == (96, 144) and np.isfinite(depth).all()
    assert depth.min() >= cfg.min_depth and depth.max() <= cfg.max_depth
