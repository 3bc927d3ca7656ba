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
NYU and KITTI Eigen loaders on tiny fixture trees in the standard (BTS) layouts.
"""

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from disdepth_core.data import build_dataset
from disdepth_core.data.kitti import KittiEigenDataset
from disdepth_core.data.nyu import NYUDataset
from disdepth_core.evaluation import evaluate
from disdepth_core.metrics import garg_crop_mask


def _write_rgb(path, h, w, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


def _write_u16(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), values.astype(np.uint16))


@pytest.fixture
def nyu_tree(tmp_path):
    root = tmp_path / 'nyu'
    rgb = _write_rgb(root / 'bathroom' / 'rgb_00045.png', 480, 640, 0)
    depth_mm = np.full((480, 640), 2500, np.uint16)
    depth_mm[:10] = 0
    _write_u16(root / 'bathroom' / 'sync_depth_00045.png', depth_mm)
    _write_rgb(root / 'kitchen' / 'rgb_00001.png', 480, 640, 1)
    _write_u16(root / 'kitchen' / 'sync_depth_00001.png', np.full((480, 640), 12000))
    split = tmp_path / 'nyu_test.txt'
    split.write_text('bathroom/rgb_00045.png bathroom/sync_depth_00045.png 518.8579\n\n'
                     '/kitchen/rgb_00001.png /kitchen/sync_depth_00001.png 500.0\n')
    return root, split, rgb


def test_nyu_test_layout(nyu_tree):
    root, split, rgb = nyu_tree
    ds = build_dataset('nyu', root=root, split_file=split)
    assert isinstance(ds, NYUDataset) and len(ds) == 2
    assert (ds.min_depth, ds.max_depth, ds.eval_crop) == (1e-3, 10.0, 'eigen')
    f = ds.load_frame(0)
    np.testing.assert_array_equal(f.rgb, rgb)
    assert f.depth[100, 100] == pytest.approx(2.5) and f.depth[0, 0] == 0
    assert (f.intrinsics.fx, f.intrinsics.cx, f.intrinsics.cy) == (518.8579, 325.5824, 253.7362)
    assert f.name == 'bathroom/rgb_00045.png'
    k2 = ds.load_frame(1).intrinsics  # focal column 500 -> fx 500, fy scaled alike
    assert k2.fx == 500.0 and k2.fy == pytest.approx(519.4696 * 500.0 / 518.8579)
    s = ds[1]  # 12 m lies beyond the 10 m cap: nothing valid
    assert not s['valid_mask'].any()


def test_nyu_train_mode_removes_border(nyu_tree):
    root, split, rgb = nyu_tree
    f = NYUDataset(root, split, mode='train').load_frame(0)
    assert f.rgb.shape == (427, 565, 3)
    np.testing.assert_array_equal(f.rgb, rgb[45:472, 43:608])
    assert f.intrinsics.cx == pytest.approx(325.5824 - 43)
    assert f.intrinsics.cy == pytest.approx(253.7362 - 45)
    assert f.offset == (45, 43) and f.full_hw == (480, 640)


def test_nyu_errors(tmp_path, nyu_tree):
    root, split, _ = nyu_tree
    with pytest.raises(ValueError, match='does not exist'):
        NYUDataset(root, tmp_path / 'nope.txt')
    bad = tmp_path / 'bad.txt'
    bad.write_text('only_one_field\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        NYUDataset(root, bad)
    bad.write_text('a.png b.png xx\n')
    with pytest.raises(ValueError, match='not a number'):
        NYUDataset(root, bad)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        NYUDataset(root, split, mode='val')
    bad.write_text('missing/rgb.png missing/depth.png\n')
    with pytest.raises(ValueError, match='cannot read'):
        NYUDataset(root, bad).load_frame(0)


CALIB = ('calib_time: 09-Jan-2012 13:57:47\n'
         'P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 '
         '7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 '
         '2.745884e-03\n')


@pytest.fixture
def kitti_tree(tmp_path):
    root, gt = tmp_path / 'raw', tmp_path / 'gt'
    drive = '2011_09_26/2011_09_26_drive_0002_sync'
    (root / '2011_09_26').mkdir(parents=True)
    (root / '2011_09_26' / 'calib_cam_to_cam.txt').write_text(CALIB)
    rgb = _write_rgb(root / drive / 'image_02' / 'data' / '0000000069.png', 375, 1242, 2)
    depth = np.zeros((375, 1242))
    depth[100:, :] = 20.0 * 256  # 20 m below row 100
    _write_u16(gt / '2011_09_26_drive_0002_sync' / 'proj_depth' / 'groundtruth' / 'image_02' /
               '0000000069.png', depth)
    split = tmp_path / 'eigen_test.txt'
    line = (f'{drive}/image_02/data/0000000069.png 2011_09_26_drive_0002_sync/proj_depth/'
            'groundtruth/image_02/0000000069.png 721.5377\n')
    split.write_text(line + f'{drive}/image_02/data/0000000070.png None 721.5377\n'
                     + line.replace('069', '071'))
    return root, gt, split, rgb


def test_kitti_eigen_layout(kitti_tree):
    root, gt, split, rgb = kitti_tree
    ds = build_dataset('kitti_eigen', root=root, split_file=split, gt_root=gt)
    assert isinstance(ds, KittiEigenDataset)
    assert len(ds) == 1 and ds.skipped == 2  # 'None' and a missing depth file
    assert (ds.max_depth, ds.eval_crop) == (80.0, 'garg')
    f = ds.load_frame(0)
    assert f.rgb.shape == (352, 1216, 3)  # KB crop: top 23, left 13
    np.testing.assert_array_equal(f.rgb, rgb[23:, 13:1229])
    assert f.intrinsics.fx == pytest.approx(721.5377)
    assert f.intrinsics.cx == pytest.approx(609.5593 - 13)
    assert f.intrinsics.cy == pytest.approx(172.854 - 23)
    assert f.depth[100, 10] == pytest.approx(20.0) and f.depth[0, 0] == 0.0
    assert f.offset == (23, 13) and f.full_hw == (375, 1242)
    full = KittiEigenDataset(root, split, gt, kb_crop=False).load_frame(0)
    assert full.rgb.shape == (375, 1242, 3)


def test_kitti_without_calib_uses_focal_and_centre(kitti_tree):
    root, gt, split, _ = kitti_tree
    (root / '2011_09_26' / 'calib_cam_to_cam.txt').unlink()
    k = KittiEigenDataset(root, split, gt, kb_crop=False).load_frame(0).intrinsics
    assert (k.fx, k.fy, k.cx, k.cy) == (721.5377, 721.5377, 620.5, 187.0)


def test_kitti_eval_uses_garg_crop_of_the_full_frame(kitti_tree):
    root, gt, split, _ = kitti_tree
    ds = KittiEigenDataset(root, split, gt)
    frame = ds.load_frame(0)
    outside = ~garg_crop_mask(375, 1242)[23:, 13:1229]

    @dataclass
    class _R:
        depth: np.ndarray
        confidence: None = None

    class Fake:
        """1.1 x gt inside the Garg crop, garbage outside it."""

        def predict(self, rgb, intrinsics):
            assert intrinsics == frame.intrinsics
            return _R(np.where(outside, 70.0, frame.depth * 1.1).astype(np.float32))

    result = evaluate(Fake(), ds)
    assert result['settings']['crop'] == 'garg' and result['settings']['max_depth'] == 80.0
    assert outside[frame.depth > 0].any()  # the crop really removes valid pixels
    assert result['metrics']['abs_rel'] == pytest.approx(0.1)
    assert evaluate(Fake(), ds, crop='none')['metrics']['abs_rel'] > 0.5
