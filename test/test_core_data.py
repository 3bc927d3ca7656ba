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
Tests of the dataset registry, the sample format and the RGB-D folder reader/writer.
"""

import json

import cv2
import numpy as np
import pytest

from disdepth_core.data import build_dataset
from disdepth_core.data import dataset_names
from disdepth_core.data.base import crop_frame
from disdepth_core.data.base import Frame
from disdepth_core.data.base import image_to_rgb
from disdepth_core.data.base import intrinsics_from_sample
from disdepth_core.data.base import resize_frame
from disdepth_core.data.rgbd_folder import encode_depth_png
from disdepth_core.data.rgbd_folder import RGBDFolderDataset
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.data.rgbd_folder import write_rgbd_folder
from disdepth_core.geometry import CameraIntrinsics

K = CameraIntrinsics(50.0, 52.0, 15.5, 11.0, 32, 24)


def _frame_pair(seed: int = 0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, (24, 32)).astype(np.float32)
    depth[0, :4] = 0.0
    depth[1, 0] = np.nan
    return rgb, depth


def test_registry_knows_builtin_datasets():
    assert {'rgbd_folder', 'nyu', 'kitti_eigen', 'synthetic', 'unlabeled'} <= set(
        dataset_names())
    with pytest.raises(ValueError, match='unknown dataset'):
        build_dataset('nope')


def test_writer_roundtrip_png_and_npy(tmp_path):
    rgb, depth = _frame_pair()
    for fmt, atol in (('png', 5.01e-4), ('npy', 0.0)):
        out = write_rgbd_folder(tmp_path / fmt, K, [(rgb, depth), (rgb[::-1].copy(), depth)],
                                depth_format=fmt)
        ds = build_dataset('rgbd_folder', root=out)
        assert len(ds) == 2
        frame = ds.load_frame(0)
        np.testing.assert_array_equal(frame.rgb, rgb)  # BGR on disk, RGB in memory
        assert frame.intrinsics == K
        ok = np.isfinite(depth) & (depth > 0)
        np.testing.assert_allclose(frame.depth[ok], depth[ok], atol=atol)
        assert np.all(frame.depth[~ok] == 0)
        s = ds[1]
        np.testing.assert_allclose(s['image'], rgb[::-1].transpose(2, 0, 1) / 255.0, atol=1e-7)
        assert s['valid_mask'].shape == (1, 24, 32) and s['valid_mask'].sum() == ok.sum()
        assert np.all(s['depth'][~s['valid_mask']] == 0)
        np.testing.assert_array_equal(image_to_rgb(s['image']), rgb[::-1])
        assert intrinsics_from_sample(s) == K
        info = json.loads((out / 'intrinsics.json').read_text())
        assert fmt in info['depth_format']


def test_reader_converts_bgr_and_uses_mm(tmp_path):
    root = tmp_path / 'set'
    (root / 'rgb').mkdir(parents=True)
    (root / 'depth').mkdir()
    bgr = np.zeros((24, 32, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR order
    cv2.imwrite(str(root / 'rgb' / '0000.png'), bgr)
    cv2.imwrite(str(root / 'depth' / '0000.png'), np.full((24, 32), 1234, np.uint16))
    (root / 'intrinsics.json').write_text(json.dumps({**K.to_dict(), 'note': 'x'}))
    frame = RGBDFolderDataset(root).load_frame(0)
    assert frame.rgb[0, 0].tolist() == [200, 0, 0]
    assert frame.depth[3, 3] == pytest.approx(1.234)


def test_reader_errors_name_the_problem(tmp_path):
    rgb, depth = _frame_pair()
    out = write_rgbd_folder(tmp_path / 'a', K, [(rgb, depth)])
    (out / 'depth' / '0000.png').unlink()
    with pytest.raises(ValueError, match='no depth file 0000'):
        RGBDFolderDataset(out)
    cv2.imwrite(str(out / 'depth' / '0000.png'), np.zeros((24, 32), np.uint8))
    with pytest.raises(ValueError, match='uint16'):
        RGBDFolderDataset(out).load_frame(0)
    cv2.imwrite(str(out / 'depth' / '0000.png'), np.zeros((20, 32), np.uint16))
    with pytest.raises(ValueError, match='depth is 32x20'):
        RGBDFolderDataset(out).load_frame(0)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='not an RGB-D folder'):
        RGBDFolderDataset(tmp_path / 'empty')
    with pytest.raises(ValueError, match='does not exist'):
        RGBDFolderDataset(tmp_path / 'missing')
    with pytest.raises(IndexError):
        RGBDFolderDataset(out)[5]


def test_writer_is_atomic_and_checks_input(tmp_path):
    rgb, depth = _frame_pair()
    target = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with RGBDFolderWriter(target, K) as w:
            w.add(rgb, depth)
            raise RuntimeError('interrupted')
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with RGBDFolderWriter(target, K) as w:
        with pytest.raises(ValueError, match='image is 16x24'):
            w.add(rgb[:, :16].copy(), depth[:, :16])
        with pytest.raises(ValueError, match='65.535'):
            w.add(rgb, depth * 10)
        w.add(rgb, depth, pose='1 2 3')
    assert (target / 'frames.csv').read_text().splitlines() == ['index,pose', '0000,1 2 3']
    with pytest.raises(FileExistsError):
        RGBDFolderWriter(target, K)
    write_rgbd_folder(target, K, [(rgb, depth)] * 2, overwrite=True)
    assert len(RGBDFolderDataset(target)) == 2
    assert encode_depth_png(np.array([[0.0004, 1.0006, -1.0]])).tolist() == [[0, 1001, 0]]


def test_crop_and_resize_keep_intrinsics_consistent():
    rgb, depth = _frame_pair()
    frame = Frame(rgb, np.nan_to_num(depth), K, 'f')
    c = crop_frame(frame, 4, 6, 16, 20)
    assert c.intrinsics.cx == pytest.approx(K.cx - 6) and c.intrinsics.width == 20
    assert c.offset == (4, 6) and c.full_hw == (24, 32)
    np.testing.assert_array_equal(c.depth, frame.depth[4:20, 6:26])
    r = resize_frame(frame, (12, 16))
    assert r.intrinsics.fx == pytest.approx(25.0) and r.intrinsics.cx == pytest.approx(7.5)
    # nearest resize keeps only original depth values
    assert set(np.unique(r.depth)) <= set(np.unique(frame.depth))
    with pytest.raises(ValueError, match='does not fit'):
        crop_frame(frame, 10, 0, 20, 10)


def test_reads_shared_real_sets(shared_data):
    holo = RGBDFolderDataset(shared_data / 'real' / 'hololens_dvmvs')
    assert len(holo) == 42
    s = holo[0]
    assert s['image'].shape == (3, 360, 540)
    valid = s['depth'][s['valid_mask']]
    assert 0.4 < valid.min() and valid.max() < 7.5 and 0.35 < s['valid_mask'].mean() < 0.9
    assert 'original_rgb' in holo.frame_info(0)
    kitti = RGBDFolderDataset(shared_data / 'real' / 'kitti_raw_sfnd')
    d = kitti.load_frame(3).depth
    assert d.shape == (375, 1242) and 2.0 < d[d > 0].min() and d.max() < 80.0
    assert 0.01 < (d > 0).mean() < 0.1
