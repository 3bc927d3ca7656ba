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
``disdepth adopt`` on structural replicas of each family (random weights, real conventions).

The closed-form graph (:func:`adopt_replicas.closed_form_onnx`) makes every step checkable by
number: colour order, normalisation, resizing and metric scaling of what the tools publish.
"""

from pathlib import Path

import adopt_replicas as replicas
import numpy as np
import pytest

from disdepth_core.adopt import adopt
from disdepth_core.adopt import AdoptError
from disdepth_core.adopt import AdoptOptions
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import metric_scale
from disdepth_core.inference import create_estimator
from disdepth_core.metrics import align_disparity
from disdepth_core.transforms import resize_depth
from disdepth_core.transforms import resize_image
from disdepth_ros import cli

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

MEAN = (0.3, 0.4, 0.5)
STD = (0.2, 0.25, 0.5)


def quiet(_: str) -> None:
    """Swallow progress lines."""


def closed_form_expected(rgb: np.ndarray, net_hw, channel_rgb: int, gain: float, offset: float,
                         mean=MEAN, std=STD) -> np.ndarray:
    """What an adopted closed-form model predicts, at the image size, before metric scaling."""
    small = resize_image(rgb, net_hw).astype(np.float32) / np.float32(255.0)
    x = (small[..., channel_rgb] - np.float32(mean[channel_rgb])) / np.float32(std[channel_rgb])
    return resize_depth(offset + gain * x, rgb.shape[:2])


def test_generic_canonical_model_publishes_the_formula_through_infer(tmp_path: Path) -> None:
    # A BGR network whose depth follows its first input channel (= blue).
    src = replicas.closed_form_onnx(tmp_path / 'net.onnx', input_name='input.1',
                                    output_name='out', hw=(64, 96), channel=0, gain=2.0,
                                    offset=5.0, extra_outputs=['normals'])
    target = tmp_path / 'adopted.onnx'
    rc = cli.main(['adopt', str(src), str(target), '--family', 'generic', '--bgr',
                   '--mean', ','.join(map(str, MEAN[::-1])), '--std',
                   ','.join(map(str, STD[::-1])), '--output', 'out', '--kind',
                   'canonical_metric', '--canonical-focal', '120', '--min-depth', '0.5',
                   '--max-depth', '50'])
    assert rc == 0
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (128, 192, 3), dtype=np.uint8)
    import cv2
    cv2.imwrite(str(tmp_path / 'frame.png'), rgb[..., ::-1])
    fx = 150.0
    rc = cli.main(['infer', str(tmp_path / 'frame.png'), '--out', str(tmp_path / 'out'),
                   '--model', str(target), '--fx', str(fx), '--fy', str(fx), '--cx', '95.5',
                   '--cy', '63.5'])
    assert rc == 0
    got = np.load(tmp_path / 'out' / 'frame.npy')
    # BGR network: its first channel is the image's blue (RGB index 2), with the BGR mean/std
    k = CameraIntrinsics(fx, fx, 95.5, 63.5, 192, 128)
    scale = metric_scale(120.0, k, (64, 96))
    assert np.isclose(scale, 150.0 * 0.5 / 120.0)
    expected = np.clip(closed_form_expected(rgb, (64, 96), 2, 2.0, 5.0) * np.float32(scale),
                       0.5, 50.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert got.max() - got.min() > 1.0   # the formula really varies across the image


def test_metric3d_replica_picks_its_depth_output_and_canonical_focal(tmp_path: Path) -> None:
    src = replicas.closed_form_onnx(tmp_path / 'metric3d_vit_small.onnx',
                                    input_name='pixel_values', output_name='predicted_depth',
                                    hw=(70, 126), channel=1, gain=1.0, offset=20.0, rank=4,
                                    extra_outputs=['predicted_normal', 'normal_confidence'])
    spec = adopt(src, tmp_path / 'm3d.onnx', AdoptOptions('metric3d'), quiet)
    assert (spec.output_kind, spec.canonical_focal, spec.input_multiple) == (
        'canonical_metric', 1000.0, 14)
    est = create_estimator(tmp_path / 'm3d.onnx')
    rgb = np.full((140, 252, 3), 128, np.uint8)
    k = CameraIntrinsics(2000.0, 2000.0, 125.5, 69.5, 252, 140)   # f at 126 wide: 1000
    depth = est.predict(rgb, k).depth
    x = (128 / 255 - 0.456) / 0.224
    np.testing.assert_allclose(depth, 20.0 + x, rtol=1e-5)
    k2 = CameraIntrinsics(1000.0, 1000.0, 125.5, 69.5, 252, 140)  # half the focal: half depth
    np.testing.assert_allclose(est.predict(rgb, k2).depth, (20.0 + x) / 2, rtol=1e-5)


@pytest.mark.parametrize('family,focal', [('da3-metric', 300.0), ('midas', None)])
def test_dynamic_graphs_take_the_family_size_or_the_option(tmp_path: Path, family: str,
                                                           focal) -> None:
    src = replicas.closed_form_onnx(tmp_path / 'net.onnx', input_name='0', output_name='797',
                                    hw=('height', 'width'), channel=0)
    spec = adopt(src, tmp_path / 'a.onnx', AdoptOptions(family), quiet)
    default = {'da3-metric': (504, 504), 'midas': (384, 384)}[family]
    assert spec.dynamic and (spec.input_height, spec.input_width) == default
    size = (70, 98) if family == 'da3-metric' else (64, 96)
    spec = adopt(src, tmp_path / 'b.onnx', AdoptOptions(family, input_size=size), quiet)
    assert (spec.input_height, spec.input_width) == size
    assert spec.canonical_focal == (focal or 0.0)
    est = create_estimator(tmp_path / 'b.onnx')
    assert est.net_hw == size
    rgb = np.random.default_rng(0).integers(0, 256, (size[0] * 2, size[1] * 2, 3), np.uint8)
    k = CameraIntrinsics(600.0, 600.0, size[1] - 0.5, size[0] - 0.5, size[1] * 2, size[0] * 2)
    result = est.predict(rgb, k)
    base = closed_form_expected(rgb, size, 0, 2.0, 1.0, (0.485, 0.456, 0.406),
                                (0.229, 0.224, 0.225))
    if family == 'da3-metric':   # x focal at the network size / 300
        expected = np.clip(base * np.float32(300.0 / 300.0), spec.min_depth, spec.max_depth)
        np.testing.assert_allclose(result.depth, expected, rtol=1e-5, atol=1e-5)
        assert result.kind == 'metric'
    else:                        # relative: as the network says, unclipped, not metres
        np.testing.assert_allclose(result.depth, base, rtol=1e-5, atol=1e-5)
        assert result.kind == 'relative_disparity' and not result.is_metric
        assert result.depth.min() < 0   # unclipped: normalised values go negative


@pytest.mark.slow
def test_community_depth_anything_export_matches_the_original(tmp_path: Path) -> None:
    torch = pytest.importorskip('torch')
    pytest.importorskip('transformers')
    model = replicas.tiny_depth_anything()
    # Depth-Anything-ONNX style: input "image" (normalised), output "depth" (N x h x w)
    src = replicas.export_community(model, tmp_path / 'depth_anything_v2_vits.onnx', (70, 98))
    spec = adopt(src, tmp_path / 'da.onnx', AdoptOptions('depth-anything-v2'), quiet)
    assert spec.output_kind == 'relative_disparity' and spec.input_multiple == 14
    est = create_estimator(tmp_path / 'da.onnx')
    x = np.random.default_rng(0).random((1, 3, 70, 98), dtype=np.float32)
    got = est.forward(x)['depth']
    assert got.shape == (1, 1, 70, 98)
    np.testing.assert_allclose(got[:, 0], replicas.run_normalised(model, x), rtol=1e-4,
                               atol=1e-5)
    assert torch is not None


def test_metric_depth_anything_needs_its_scene(tmp_path: Path) -> None:
    src = replicas.closed_form_onnx(tmp_path / 'net.onnx', hw=(70, 98))
    with pytest.raises(AdoptError, match='--scene indoor'):
        adopt(src, tmp_path / 'a.onnx', AdoptOptions('depth-anything-v2-metric'), quiet)
    assert not (tmp_path / 'a.onnx').exists()
    named = replicas.closed_form_onnx(
        tmp_path / 'depth_anything_v2_metric_hypersim_vits.onnx', hw=(70, 98))
    lines = []
    spec = adopt(named, tmp_path / 'a.onnx', AdoptOptions('depth-anything-v2-metric'),
                 lines.append)
    assert spec.max_depth == 20.0 and spec.output_kind == 'metric'
    assert any('indoor checkpoint' in line for line in lines)
    spec = adopt(src, tmp_path / 'b.onnx', AdoptOptions('depth-anything-v2-metric',
                                                        scene='outdoor'), quiet)
    assert spec.max_depth == 80.0


def _hf_parity(folder: Path, target: Path, options: AdoptOptions, model, hw) -> object:
    spec = adopt(folder, target, options, quiet)
    est = create_estimator(target)
    x = np.random.default_rng(2).random((1, 3, hw[0], hw[1]), dtype=np.float32)
    np.testing.assert_allclose(est.forward(x)['depth'][:, 0], replicas.run_normalised(
        model, x), rtol=1e-4, atol=1e-5)
    return spec


@pytest.mark.slow
def test_hugging_face_folders_are_exported_with_their_conventions(tmp_path: Path) -> None:
    pytest.importorskip('torch')
    pytest.importorskip('transformers')
    relative = replicas.tiny_depth_anything()
    spec = _hf_parity(replicas.save_folder(relative, tmp_path / 'da'), tmp_path / 'da.onnx',
                      AdoptOptions('hf', input_size=(70, 98)), relative, (70, 98))
    assert spec.output_kind == 'relative_disparity' and not spec.dynamic  # traced sizes
    metric = replicas.tiny_depth_anything(metric=True, max_depth=20.0, seed=1)
    spec = _hf_parity(replicas.save_folder(metric, tmp_path / 'dam'), tmp_path / 'dam.onnx',
                      AdoptOptions('hf', input_size=(70, 98)), metric, (70, 98))
    assert (spec.output_kind, spec.max_depth) == ('metric', 20.0)
    glpn = replicas.tiny_glpn(max_depth=10.0)
    folder = replicas.save_folder(glpn, tmp_path / 'glpn', mean=(0.5, 0.5, 0.5),
                                  std=(0.5, 0.5, 0.5))
    spec = adopt(folder, tmp_path / 'glpn.onnx', AdoptOptions('hf', input_size=(64, 96)),
                 quiet)
    assert (spec.output_kind, spec.max_depth, spec.dynamic) == ('metric', 10.0, True)
    est = create_estimator(tmp_path / 'glpn.onnx', input_size=(96, 128))   # another size
    x = np.random.default_rng(3).random((1, 3, 96, 128), dtype=np.float32)
    np.testing.assert_allclose(est.forward(x)['depth'][:, 0], replicas.run_normalised(
        glpn, x, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), rtol=1e-4, atol=1e-5)


def _refused(tmp_path: Path, source: Path, options: AdoptOptions, match: str) -> None:
    target = tmp_path / 'out.onnx'
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(AdoptError, match=match):
        adopt(source, target, options, quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == before   # nothing written or left


def test_bad_input_is_refused_clearly_and_writes_nothing(tmp_path: Path) -> None:
    junk = tmp_path / 'junk.onnx'
    junk.write_bytes(b'\x00not a protobuf\xff' * 10)
    _refused(tmp_path, junk, AdoptOptions('midas'), 'is not an ONNX file')
    mono = replicas.closed_form_onnx(tmp_path / 'mono.onnx', input_channels=1, channel=0)
    _refused(tmp_path, mono, AdoptOptions('midas'), 'no image-like input')
    several = replicas.closed_form_onnx(tmp_path / 'several.onnx', extra_outputs=['b'])
    _refused(tmp_path, several, AdoptOptions('generic', mean=MEAN, std=STD, kind='metric',
                                             min_depth=0.1, max_depth=10.0),
             'none was named: pass --output NAME')
    _refused(tmp_path, several, AdoptOptions('generic', mean=MEAN, std=STD, kind='metric',
                                             min_depth=0.1, max_depth=10.0, output='nope'),
             "no output 'nope'")
    fixed = replicas.closed_form_onnx(tmp_path / 'fixed.onnx', hw=(64, 96))
    _refused(tmp_path, fixed, AdoptOptions('depth-anything-v2'), 'multiples of 14')
    _refused(tmp_path, fixed, AdoptOptions('midas', input_size=(96, 128)),
             'fixed input size 64x96')
    _refused(tmp_path, fixed, AdoptOptions('generic', std=STD, kind='metric'), '--mean')
    _refused(tmp_path, fixed, AdoptOptions('generic', mean=MEAN, std=STD,
                                           kind='canonical_metric', min_depth=0.1,
                                           max_depth=9.0), '--canonical-focal')
    _refused(tmp_path, fixed, AdoptOptions('midas', mean=MEAN), 'fixes --mean')
    _refused(tmp_path, fixed, AdoptOptions('midas', max_depth=10.0), 'no unit')
    _refused(tmp_path, fixed, AdoptOptions('generic', mean=MEAN, std=(0.2, 0.0, 0.1),
                                           kind='relative_disparity'), 'must be > 0')
    _refused(tmp_path, tmp_path / 'missing.onnx', AdoptOptions('midas'), 'does not exist')
    _refused(tmp_path, tmp_path, AdoptOptions('midas'), 'needs --family hf')
    _refused(tmp_path, tmp_path, AdoptOptions('hf'), 'no config.json')
    dynamic = replicas.closed_form_onnx(tmp_path / 'dyn.onnx', hw=('h', 'w'))
    _refused(tmp_path, dynamic, AdoptOptions('generic', mean=MEAN, std=STD,
                                             kind='relative_disparity'),
             'pass --input-size')
    adopted = tmp_path / 'ok.onnx'
    adopt(fixed, adopted, AdoptOptions('midas'), quiet)
    _refused(tmp_path, adopted, AdoptOptions('midas'), 'already a DisDepth model')


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    fixed = replicas.closed_form_onnx(tmp_path / 'fixed.onnx', hw=(64, 96))
    assert cli.main(['adopt', str(fixed), str(tmp_path / 'o.onnx'), '--family', 'generic']) == 1
    err = capsys.readouterr().err
    assert err.startswith('disdepth adopt: error: family generic needs --kind, --mean, --std')
    assert 'Traceback' not in err and not (tmp_path / 'o.onnx').exists()


def test_relative_models_are_aligned_in_disparity_for_evaluation() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 8.0, (24, 32))
    disparity = 3.0 / gt + 2.0   # any positive affine map of the true inverse depth
    mask = np.ones_like(gt, bool)
    mask[:3] = False
    np.testing.assert_allclose(align_disparity(disparity, gt, mask), gt, rtol=1e-5)
    noisy = align_disparity(disparity + rng.normal(0, 0.05, gt.shape), gt, mask)
    assert 0.0 < np.nanmean(np.abs(noisy - gt) / gt) < 0.2


def test_bag_refuses_a_relative_model_unless_asked_and_then_writes_depth_relative(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip('rosbags')
    from test_tool_bag import as_float_image
    from test_tool_bag import frame_rgb
    from test_tool_bag import read_bag
    from test_tool_bag import write_bag
    src = replicas.closed_form_onnx(tmp_path / 'midas.onnx', hw=(64, 96), channel=1)
    model = tmp_path / 'midas_adopted.onnx'
    adopt(src, model, AdoptOptions('midas'), quiet)
    bag = write_bag(tmp_path / 'in', 'sqlite3', frames=2)
    args = ['bag', str(bag), str(tmp_path / 'out'), '--image-topic', '/cam/image_raw',
            '--model', str(model), '--quiet']
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert 'predicts relative disparity' in err and '--relative-output' in err
    assert not (tmp_path / 'out').exists()
    assert cli.main(args + ['--points', '--relative-output']) == 1
    assert 'without points' in capsys.readouterr().err
    assert cli.main(args + ['--depth-encoding', '16UC1', '--relative-output']) == 1
    assert 'relative output has no unit' in capsys.readouterr().err
    assert cli.main(args + ['--relative-output']) == 0, capsys.readouterr().err
    out = read_bag(tmp_path / 'out')
    assert '/cam/depth' not in out and '/cam/points' not in out
    assert len(out['/cam/depth/relative']) == 2
    rgb = frame_rgb(0)
    expected = closed_form_expected(rgb, (64, 96), 1, 2.0, 1.0, (0.485, 0.456, 0.406),
                                    (0.229, 0.224, 0.225))
    np.testing.assert_allclose(as_float_image(out['/cam/depth/relative'][0][1]), expected,
                               rtol=1e-5, atol=1e-5)
    # and a metric model asked for a relative output is refused the other way round
    metric = tmp_path / 'metric.onnx'
    adopt(src, metric, AdoptOptions('generic', mean=MEAN, std=STD, kind='metric',
                                    min_depth=0.1, max_depth=10.0), quiet)
    args[6] = str(metric)
    assert cli.main(args[:2] + [str(tmp_path / 'out2')] + args[3:] + ['--relative-output']) == 1
    assert 'predicts metric depth' in capsys.readouterr().err


def test_eval_of_a_relative_model_reports_aligned_metrics(tmp_path: Path) -> None:
    from disdepth_core.evaluation import evaluate
    from disdepth_core.evaluation import format_table
    src = replicas.closed_form_onnx(tmp_path / 'midas.onnx', hw=(64, 96), channel=0,
                                    gain=1.0, offset=10.0)
    adopt(src, tmp_path / 'rel.onnx', AdoptOptions('midas'), quiet)
    est = create_estimator(tmp_path / 'rel.onnx')

    class Frames:
        """Two frames whose true inverse depth is an affine map of the red channel."""

        augment = None
        size = None
        max_depth = 10.0

        def __len__(self) -> int:
            return 2

        def get_frame(self, i: int):
            from disdepth_core.data.base import Frame
            rgb = np.zeros((64, 96, 3), np.uint8)
            rgb[..., 0] = np.linspace(20 + 10 * i, 230, 96, dtype=np.uint8)[None, :]
            disp = 10.0 + (rgb[..., 0] / 255.0 - 0.485) / 0.229
            depth = (1.0 / (0.02 * disp + 0.05)).astype(np.float32)
            return Frame(rgb=rgb, depth=depth, intrinsics=CameraIntrinsics.from_fov(
                60.0, 96, 64), name=f'f{i}')

    result = evaluate(est, Frames())
    assert result['settings']['alignment'].startswith('least-squares')
    assert result['metrics']['abs_rel'] < 1e-4 and result['metrics']['d1'] == 1.0
    assert 'relative model' in format_table(result)


@pytest.mark.slow
def test_speed_table_of_the_adopted_replica_runs(tmp_path: Path) -> None:
    pytest.importorskip('transformers')
    import importlib.util
    from conftest import REPO_ROOT
    spec = importlib.util.spec_from_file_location('bench_adopted',
                                                  REPO_ROOT / 'tools' / 'bench_adopted.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    md = tmp_path / 'bench.md'
    md.write_text('# Benchmarks\n\nkept\n')
    assert tool.main(['--tiny', '--backbones', 'mobilenetv2', '--warmup', '0', '--iters', '2',
                      '--markdown', str(md), '--json', str(tmp_path / 'b.json')]) == 0
    text = md.read_text()
    assert 'kept' in text and tool.MARK_BEGIN in text
    rows = [line for line in text.splitlines() if line.startswith('| ')][1:]
    names = [r.split(' | ')[0] for r in rows]
    assert names == ['| depth-anything-v2 ViT-S (adopted)', '| mobilenetv2']
    import json
    records = json.loads((tmp_path / 'b.json').read_text())['records']
    assert all(r['p50_ms'] > 0 for r in records) and records[0]['vs_adopted'] == 1.0


def test_eval_of_a_relative_depth_model_aligns_its_inverse(tmp_path: Path) -> None:
    from disdepth_core.data.base import Frame
    from disdepth_core.evaluation import evaluate
    src = replicas.closed_form_onnx(tmp_path / 'net.onnx', hw=(64, 96), channel=0, gain=1.0,
                                    offset=10.0)
    adopt(src, tmp_path / 'reld.onnx', AdoptOptions('generic', mean=MEAN, std=STD,
                                                    kind='relative_depth'), quiet)
    est = create_estimator(tmp_path / 'reld.onnx')
    assert est.spec.output_kind == 'relative_depth'

    class Frames:
        """One frame whose true inverse depth is affine in the inverse of the model's output."""

        augment = None
        size = None
        max_depth = 20.0

        def __len__(self) -> int:
            return 1

        def get_frame(self, i: int) -> Frame:
            rgb = np.zeros((64, 96, 3), np.uint8)
            rgb[..., 0] = np.linspace(0, 255, 96, dtype=np.uint8)[None, :]
            pred = 10.0 + (rgb[..., 0] / 255.0 - MEAN[0]) / STD[0]
            depth = (1.0 / (0.5 / pred + 0.02)).astype(np.float32)
            return Frame(rgb=rgb, depth=depth, intrinsics=CameraIntrinsics.from_fov(
                60.0, 96, 64), name='f')

    result = evaluate(est, Frames())
    assert result['metrics']['abs_rel'] < 1e-4
