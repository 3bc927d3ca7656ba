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
Tests of the procedural scene generator: exact depth, determinism, presets and ``disdepth synth``.
"""

import csv
import math

import numpy as np
import pytest

from disdepth_core.data.rgbd_folder import RGBDFolderDataset
from disdepth_core.data.synthetic import Box
from disdepth_core.data.synthetic import Light
from disdepth_core.data.synthetic import look_pose
from disdepth_core.data.synthetic import make_sequence
from disdepth_core.data.synthetic import Material
from disdepth_core.data.synthetic import render
from disdepth_core.data.synthetic import Room
from disdepth_core.data.synthetic import Scene
from disdepth_core.data.synthetic import Sphere
from disdepth_core.data.synthetic import SyntheticDataset
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_ros import cli

GREY = Material('checker', (0.6, 0.6, 0.6), (0.3, 0.3, 0.3), 0.25)
K = CameraIntrinsics(70.0, 72.0, 40.3, 29.6, 80, 60)


def _analytic_plane_depth(k, pose, normal, offset):
    """
    z-depth of the plane ``normal . X = offset`` per pixel, via ray *length* then projection.

    This takes a different route from the renderer (unit rays, distance along the ray, then the
    component along the optical axis), so it checks that depth is z and not the ray length.
    """
    u, v = np.meshgrid(np.arange(k.width, dtype=np.float64), np.arange(k.height,
                                                                       dtype=np.float64))
    cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1)
    cam /= np.linalg.norm(cam, axis=-1, keepdims=True)
    world = cam @ pose[:3, :3].T
    o = pose[:3, 3]
    with np.errstate(divide='ignore'):
        length = (offset - normal @ o) / (world @ normal)
    points = o + world * length[..., None]
    return (points - o) @ pose[:3, 2], length


def test_room_depth_is_exact_z_depth():
    lo, hi = np.zeros(3), np.array([6.0, 4.0, 2.8])
    room = Room(lo, hi, GREY, GREY, (GREY, GREY, GREY, GREY))
    scene = Scene([room], [Light('point', (3.0, 2.0, 2.5))], ambient=0.3)
    pose = look_pose((2.0, 1.5, 1.3), yaw=0.4, pitch=-0.3, roll=0.05)
    out = render(scene, K, pose)
    # analytic: nearest positive hit over the 6 planes
    candidates = []
    for axis in range(3):
        n = np.zeros(3)
        n[axis] = 1.0
        for off in (lo[axis], hi[axis]):
            z, length = _analytic_plane_depth(K, pose, n, off)
            candidates.append(np.where(length > 0, z, np.inf))
    expected = np.min(np.stack(candidates), 0)
    assert np.all(out.depth > 0)
    np.testing.assert_allclose(out.depth, expected, rtol=1e-5)
    # depth is z, not ray length: off-centre pixels differ from the ray length
    _, length = _analytic_plane_depth(K, pose, np.array([0.0, 0.0, 1.0]), 0.0)
    floor = np.isclose(expected, _analytic_plane_depth(K, pose, np.array([0.0, 0.0, 1.0]),
                                                       0.0)[0])
    assert floor.sum() > 100
    assert np.max(np.abs(length[floor] - out.depth[floor]) / out.depth[floor]) > 0.05


def test_box_face_depth_is_constant_z():
    room = Room(np.array([-20.0, -20.0, -5.0]), np.array([20.0, 20.0, 5.0]), GREY, GREY,
                (GREY, GREY, GREY, GREY))
    box = Box(np.array([3.5, 0.0, 0.0]), np.array([0.5, 1.0, 0.8]), 0.0, GREY)
    scene = Scene([room, box], [Light('directional', (0.3, 0.2, 0.9))])
    pose = look_pose((0.0, 0.0, 0.0), yaw=0.0)
    out = render(scene, K, pose)
    on_box = out.object_id == 1
    # the front face x = 3 is fronto-parallel at z = 3 m: every box pixel has depth 3
    assert on_box.sum() > 200
    np.testing.assert_allclose(out.depth[on_box], 3.0, rtol=1e-6)
    # projected extent: y in [-1, 1] at 3 m -> u = cx +- fx / 3
    cols = np.nonzero(on_box.any(0))[0]
    assert cols.min() == math.ceil(K.cx - K.fx / 3.0)
    assert cols.max() == math.floor(K.cx + K.fx / 3.0)

    # a box rotated by 30 degrees about z: its visible face is the plane n . X = c
    yaw = math.radians(30.0)
    rbox = Box(np.array([4.0, 0.3, 0.0]), np.array([0.6, 0.6, 0.8]), yaw, GREY)
    out = render(Scene([room, rbox], []), K, pose)
    on_box = out.object_id == 1
    n_face = np.array([-math.cos(yaw), -math.sin(yaw), 0.0])  # face towards the camera
    c = n_face @ rbox.center + 0.6
    expected, _ = _analytic_plane_depth(K, pose, n_face, c)
    pts = depth_to_points(out.depth, K) @ pose[:3, :3].T + pose[:3, 3]
    on_face = on_box & np.isclose(pts @ n_face, c, atol=1e-6)
    assert on_face.sum() > 100
    np.testing.assert_allclose(out.depth[on_face], expected[on_face], rtol=1e-5)


def test_sphere_depth_at_centre():
    room = Room(np.array([-20.0, -20.0, -5.0]), np.array([20.0, 20.0, 5.0]), GREY, GREY,
                (GREY, GREY, GREY, GREY))
    k = CameraIntrinsics(60.0, 60.0, 20.0, 15.0, 41, 31)
    scene = Scene([room, Sphere(np.array([5.0, 0.0, 0.0]), 1.25, GREY)], [])
    out = render(scene, k, look_pose((0.0, 0.0, 0.0), yaw=0.0))
    assert out.object_id[15, 20] == 1
    assert out.depth[15, 20] == pytest.approx(3.75, rel=1e-6)


def test_generator_is_deterministic_and_seed_dependent():
    a = make_sequence('indoor', seed=3, index=1, n_frames=5, height=48, width=64)
    b = make_sequence('indoor', seed=3, index=1, n_frames=5, height=48, width=64)
    c = make_sequence('indoor', seed=4, index=1, n_frames=5, height=48, width=64)
    ra, rb, rc = a.render(2), b.render(2), c.render(2)
    assert a.intrinsics == b.intrinsics
    np.testing.assert_array_equal(ra.rgb, rb.rgb)
    np.testing.assert_array_equal(ra.depth, rb.depth)
    assert not np.array_equal(ra.depth, rc.depth)
    # consecutive frames move smoothly: small pose change, images differ
    d_pos = [np.linalg.norm(a.poses[i + 1][:3, 3] - a.poses[i][:3, 3]) for i in range(4)]
    assert max(d_pos) < 0.5
    assert not np.array_equal(a.render(0).rgb, a.render(1).rgb)


@pytest.mark.parametrize('preset,lo,hi', [('indoor', 0.2, 20.0), ('street', 0.5, 120.0)])
def test_presets_depth_range_and_validity(preset, lo, hi):
    seq = make_sequence(preset, seed=0, index=0, n_frames=10, height=60, width=80)
    hfov = math.degrees(2 * math.atan(0.5 * 80 / seq.intrinsics.fx))
    assert {'indoor': 50.0, 'street': 60.0}[preset] <= hfov <= {'indoor': 80, 'street': 95}[
        preset]
    out = seq.render(5)
    valid = out.depth > 0
    assert out.rgb.shape == (60, 80, 3) and out.rgb.dtype == np.uint8
    assert lo < out.depth[valid].min() and out.depth[valid].max() <= hi
    if preset == 'indoor':
        assert valid.all()  # closed room
    else:
        # sky (top rows) is invalid, the road (bottom rows) valid
        assert (~valid[:30]).sum() > 20 and valid[-1].all()
        assert np.all(out.depth[out.object_id == -1] == 0)


def test_fixed_fov_and_errors():
    seq = make_sequence('street', seed=1, n_frames=2, height=40, width=80, hfov=90.0)
    assert seq.intrinsics.fx == pytest.approx(40.0)
    with pytest.raises(ValueError, match='unknown synthetic preset'):
        make_sequence('forest')
    with pytest.raises(ValueError, match='at least one frame'):
        make_sequence('indoor', n_frames=0)


def test_synthetic_dataset_samples():
    ds = SyntheticDataset('indoor', length=6, seed=2, height=48, width=64,
                          frames_per_sequence=3)
    s = ds[4]
    assert s['image'].shape == (3, 48, 64) and s['image'].dtype == np.float32
    assert s['depth'].shape == (1, 48, 64) and s['valid_mask'].all()
    seq = make_sequence('indoor', 2, 1, 3, 48, 64)
    np.testing.assert_allclose(s['K'], seq.intrinsics.matrix(), rtol=1e-6)
    np.testing.assert_array_equal(s['depth'][0], seq.render(1).depth)
    assert ds[0]['name'] != ds[3]['name']


def test_synth_cli_writes_readable_folder(tmp_path):
    out = tmp_path / 'indoor'
    assert cli.main(['synth', str(out), '--frames', '5', '--sequences', '2', '--height', '48',
                     '--width', '64', '--seed', '7']) == 0
    ds = RGBDFolderDataset(out)
    assert len(ds) == 5
    with (out / 'frames.csv').open() as f:
        rows = list(csv.DictReader(f))
    assert [r['sequence'] for r in rows] == ['0', '0', '0', '1', '1']
    # depth PNG holds the render to the millimetre; shared camera across sequences
    seq1 = make_sequence('indoor', 7, 1, 2, 48, 64,
                         intrinsics=make_sequence('indoor', 7, 0, 3, 48, 64).intrinsics)
    frame = ds.load_frame(4)
    assert frame.intrinsics.fx == pytest.approx(seq1.intrinsics.fx)
    np.testing.assert_allclose(frame.depth, seq1.render(1).depth, atol=5.1e-4)
    np.testing.assert_array_equal(frame.rgb, seq1.render(1).rgb)
    # poses in frames.csv + depth + intrinsics back-project the floor onto z = 0
    pose = np.array([float(x) for x in rows[4]['pose_cam_to_world_row_major_4x4'].split()])
    pose = pose.reshape(4, 4)
    pts = depth_to_points(frame.depth, frame.intrinsics).reshape(-1, 3) @ pose[:3, :3].T
    pts += pose[:3, 3]
    assert pts[:, 2].min() > -0.005  # nothing below the floor
    assert (np.abs(pts[:, 2]) < 0.003).sum() > 200  # the floor pixels sit on z = 0
    # refuses to overwrite
    assert cli.main(['synth', str(out), '--frames', '1', '--height', '48', '--width', '64']) == 2


def test_synth_cli_vary_intrinsics_street(tmp_path):
    out = tmp_path / 'street'
    assert cli.main(['synth', str(out), '--frames', '4', '--sequences', '2', '--preset',
                     'street', '--vary-intrinsics', '--height', '40', '--width', '64']) == 0
    assert sorted(p.name for p in out.iterdir()) == ['seq_0000', 'seq_0001']
    assert (out / 'seq_0000' / 'depth' / '0000.npy').is_file()
    ds = RGBDFolderDataset(out)
    assert len(ds) == 4
    assert ds.load_frame(0).intrinsics != ds.load_frame(2).intrinsics
    assert ds.load_frame(0).depth.max() > 30.0
    assert not list(tmp_path.glob('.street.tmp-*'))
