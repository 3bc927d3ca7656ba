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
Augmentation keeps image, depth and intrinsics consistent, and is deterministic.
"""

import cv2
import numpy as np
import pytest

from disdepth_core.data.augment import AugmentConfig
from disdepth_core.data.augment import Augmenter
from disdepth_core.data.augment import color_jitter
from disdepth_core.data.augment import flip_frame
from disdepth_core.data.augment import rotate_frame
from disdepth_core.data.base import Frame
from disdepth_core.data.synthetic import make_sequence
from disdepth_core.data.synthetic import render
from disdepth_core.data.synthetic import SyntheticDataset
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points


def _synthetic_frame():
    seq = make_sequence('indoor', seed=5, n_frames=3, height=60, width=80)
    out = seq.render(1, noise=False)
    return seq, Frame(out.rgb, out.depth, seq.intrinsics, 'f')


def test_flip_mirrors_points():
    _, frame = _synthetic_frame()
    flipped = flip_frame(frame)
    assert flipped.intrinsics.cx == pytest.approx(80 - 1 - frame.intrinsics.cx)
    a = depth_to_points(frame.depth, frame.intrinsics)
    b = depth_to_points(flipped.depth, flipped.intrinsics)[:, ::-1]
    np.testing.assert_allclose(b[..., 0], -a[..., 0], atol=1e-5)
    np.testing.assert_allclose(b[..., 1:], a[..., 1:], atol=1e-6)
    np.testing.assert_array_equal(flipped.rgb, frame.rgb[:, ::-1])


def test_scale_and_crop_match_a_rerender_with_the_new_intrinsics():
    seq, frame = _synthetic_frame()
    aug = Augmenter(AugmentConfig(crop_hw=(48, 64), scale_range=(1.3, 1.3), hflip_prob=0.0,
                                  rotate_deg=0.0, color_prob=0.0))
    out = aug(frame, np.random.default_rng(0))
    assert out.hw == (48, 64) and out.intrinsics.width == 64
    assert out.intrinsics.fx == pytest.approx(seq.intrinsics.fx * 104 / 80, rel=1e-6)
    # what a camera with the augmented K really sees, at the same pose
    truth = render(seq.scene, out.intrinsics, seq.poses[1]).depth
    rel = np.abs(out.depth - truth) / truth
    assert np.median(rel) < 0.01  # nearest resampling moves edges by < 1 px only
    assert np.mean(rel < 0.02) > 0.9


def test_rotation_is_about_the_principal_point():
    k = CameraIntrinsics(50.0, 50.0, 30.0, 20.0, 64, 48)
    depth = np.zeros((48, 64), np.float32)
    depth[20, 30] = 2.0    # at the principal point
    depth[20, 40] = 3.0    # 10 px to its right
    rgb = np.zeros((48, 64, 3), np.uint8)
    out = rotate_frame(Frame(rgb, depth, k, 'r'), 90.0)
    assert out.intrinsics == k
    assert out.depth[20, 30] == 2.0            # the principal point stays put
    ys, xs = np.nonzero(out.depth == 3.0)     # the other point turns by 90 deg around it
    assert len(ys) == 1 and np.hypot(ys[0] - 20, xs[0] - 30) == pytest.approx(10.0)
    assert (ys[0], xs[0]) == (10, 30)          # counter-clockwise on screen: right -> up
    assert np.count_nonzero(out.depth) == 2    # nearest: no blended depth values


def test_color_jitter():
    rgb = np.array([[[10, 100, 200]]], np.uint8)
    np.testing.assert_array_equal(color_jitter(rgb, 1.0, 1.0, (1.0, 1.0, 1.0)), rgb)
    np.testing.assert_array_equal(color_jitter(rgb, 1.0, 2.0, (1.0, 1.0, 1.0)),
                                  [[[20, 200, 255]]])
    g = color_jitter(rgb, 2.0, 1.0, (1.0, 0.5, 1.0))
    np.testing.assert_array_equal(g, [[[0, 20, 157]]])  # (x/255)^2*255; green halved


def test_augmenter_deterministic_and_epoch_dependent():
    aug = Augmenter(AugmentConfig(crop_hw=(40, 56), scale_range=(1.0, 1.2)))
    ds = SyntheticDataset('indoor', length=2, seed=1, height=48, width=64,
                          frames_per_sequence=2, augment=aug)
    a, b = ds[0], ds[0]
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['K'], b['K'])
    assert a['image'].shape == (3, 40, 56) and a['depth'].shape == (1, 40, 56)
    changed = False
    for epoch in range(1, 4):
        ds.set_epoch(epoch)
        c = ds[0]
        changed |= not np.array_equal(a['image'], c['image'])
    assert changed
    # K stays consistent with the image: principal point inside, focal >= the original
    k = a['K']
    assert 0 <= k[0, 2] < 56 and k[0, 0] >= ds.sequence(0).intrinsics.fx - 1e-4


def test_fixed_output_size_for_batching():
    ds = SyntheticDataset('street', length=1, height=50, width=70, size=(32, 64))
    s = ds[0]
    assert s['image'].shape == (3, 32, 64) and s['valid_mask'].shape == (1, 32, 64)
    assert s['K'][0, 0] == pytest.approx(ds.sequence(0).intrinsics.fx * 64 / 70, rel=1e-5)


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match='scale_range'):
        AugmentConfig(scale_range=(1.2, 1.0))
    with pytest.raises(ValueError, match='hflip_prob'):
        AugmentConfig(hflip_prob=1.5)
    assert AugmentConfig.kitti().crop_hw == (352, 704)
    assert AugmentConfig.nyu().brightness_range == (0.75, 1.25)
    # a crop larger than the image raises the scale instead of failing
    _, frame = _synthetic_frame()
    out = Augmenter(AugmentConfig(crop_hw=(90, 100)))(frame, np.random.default_rng(3))
    assert out.hw == (90, 100)
    assert cv2.countNonZero((out.depth > 0).astype(np.uint8)) > 0
