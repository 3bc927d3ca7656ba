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

"""Camera geometry: intrinsics, their scaling, camera-aware metric scale, back-projection."""

import math

import numpy as np
import pytest

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import canonical_depth_scale
from disdepth_core.geometry import depth_to_points
from disdepth_core.geometry import metric_scale
from disdepth_core.geometry import network_focal

K = CameraIntrinsics(fx=500.0, fy=480.0, cx=319.5, cy=239.5, width=640, height=480)


def test_from_matrix_accepts_k_and_p() -> None:
    k = K.matrix()
    p = np.hstack([k, np.zeros((3, 1))])
    assert CameraIntrinsics.from_matrix(k, 640, 480) == K
    assert CameraIntrinsics.from_matrix(p.reshape(-1), 640, 480) == K
    with pytest.raises(ValueError, match='9 .* 12'):
        CameraIntrinsics.from_matrix(np.ones(5), 640, 480)


@pytest.mark.parametrize('bad, message', [
    ({'fx': math.nan}, 'fx is nan'),
    ({'cy': math.inf}, 'cy is inf'),
    ({'fx': 0.0, 'fy': 0.0}, 'uncalibrated'),
    ({'fy': -1.0}, 'must be > 0'),
    ({'width': 0}, 'image size'),
])
def test_validate_names_the_problem(bad: dict, message: str) -> None:
    values = {**K.__dict__, **bad}
    with pytest.raises(ValueError, match=message):
        CameraIntrinsics(**values).validate()


def test_scaling_keeps_pixel_centres() -> None:
    half = K.scaled(320, 240)
    assert (half.fx, half.fy) == (250.0, 240.0)
    # The centre of the image stays the centre: (319.5 + 0.5) / 2 - 0.5 = 159.5.
    assert (half.cx, half.cy) == (159.5, 119.5)
    back = half.scaled(640, 480)
    assert np.allclose(back.matrix(), K.matrix())
    # A 3-D point projects to corresponding pixels before and after the resize.
    x, y, z = 0.3, -0.2, 2.0
    u, v = K.fx * x / z + K.cx, K.fy * y / z + K.cy
    u2, v2 = half.fx * x / z + half.cx, half.fy * y / z + half.cy
    assert u2 == pytest.approx((u + 0.5) * 0.5 - 0.5)
    assert v2 == pytest.approx((v + 0.5) * 0.5 - 0.5)


def test_crop_moves_principal_point() -> None:
    c = K.cropped(41, 45, 560, 426)
    assert (c.cx, c.cy, c.width, c.height) == (K.cx - 41, K.cy - 45, 560, 426)


def test_from_fov() -> None:
    k = CameraIntrinsics.from_fov(90.0, 640, 480)
    assert k.fx == pytest.approx(320.0) and k.fy == pytest.approx(320.0)
    with pytest.raises(ValueError, match='field of view'):
        CameraIntrinsics.from_fov(180.0, 640, 480)


def test_metric_scale_follows_focal_length() -> None:
    # Network 240x320 from a 480x640 image: the focal halves.
    assert network_focal(K, (240, 320)) == pytest.approx((250.0 + 240.0) / 2)
    s = metric_scale(245.0, K, (240, 320))
    assert s == pytest.approx(1.0)
    # A camera with twice the focal length sees the same image at twice the depth.
    k2 = CameraIntrinsics(1000.0, 960.0, 319.5, 239.5, 640, 480)
    assert metric_scale(245.0, k2, (240, 320)) == pytest.approx(2.0)
    assert canonical_depth_scale(245.0, k2, (240, 320)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        metric_scale(0.0, K, (240, 320))


def test_metric_scale_is_invariant_to_input_resolution_of_the_same_camera() -> None:
    # The same camera delivering 640x480 or 1280x960 frames: the network input is the same
    # picture, so the scale must be the same.
    big = K.scaled(1280, 960)
    assert metric_scale(300.0, big, (240, 320)) == pytest.approx(metric_scale(300.0, K,
                                                                              (240, 320)))


def test_depth_to_points_matches_per_pixel_back_projection() -> None:
    k = CameraIntrinsics(50.0, 55.0, 15.2, 11.7, 32, 24)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, (24, 32)).astype(np.float32)
    depth[3, 4] = 0.0
    depth[5, 6] = np.nan
    depth[7, 8] = np.inf
    pts = depth_to_points(depth, k)
    for v in range(24):
        for u in range(32):
            z = depth[v, u]
            if not (np.isfinite(z) and z > 0):
                assert np.isnan(pts[v, u]).all()
                continue
            expected = [(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z]
            assert np.allclose(pts[v, u], expected, rtol=1e-6)


def test_depth_to_points_stride_and_size_check() -> None:
    k = CameraIntrinsics(50.0, 50.0, 16.0, 12.0, 32, 24)
    depth = np.full((24, 32), 2.0, np.float32)
    pts = depth_to_points(depth, k, stride=5)
    assert pts.shape == (5, 7, 3)
    assert pts[1, 2, 0] == pytest.approx((10 - 16.0) / 50.0 * 2.0)
    assert pts[1, 2, 1] == pytest.approx((5 - 12.0) / 50.0 * 2.0)
    with pytest.raises(ValueError, match='intrinsics are for'):
        depth_to_points(np.ones((10, 10), np.float32), k)
