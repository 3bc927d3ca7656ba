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
Tests of the ``v2`` scenes: exact depth, determinism, new content, photos, light and the camera.
"""

import collections
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from disdepth_core.data.rgbd_folder import RGBDFolderDataset
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.data.synthetic import Box
from disdepth_core.data.synthetic import Light
from disdepth_core.data.synthetic import look_pose
from disdepth_core.data.synthetic import make_sequence
from disdepth_core.data.synthetic import Material
from disdepth_core.data.synthetic import render
from disdepth_core.data.synthetic import Room
from disdepth_core.data.synthetic import Scene
from disdepth_core.data.synthetic import SyntheticDataset
from disdepth_core.data.synthetic.geometry import Cylinder
from disdepth_core.data.synthetic.imaging import CameraResponse
from disdepth_core.data.synthetic.imaging import develop
from disdepth_core.data.synthetic.interiors import CAMERAS
from disdepth_core.data.synthetic.photos import load_photo_bank
from disdepth_core.data.synthetic.photos import PhotoMaterial
from disdepth_core.data.synthetic.photos import source_paths
from disdepth_core.data.synthetic.shading import shade
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_ros import cli

GREY = Material('plain', (0.6, 0.6, 0.6), detail=0.0)
K = CameraIntrinsics(70.0, 72.0, 40.3, 29.6, 80, 60)
BIG_ROOM = Room(np.array([-20.0, -20.0, -5.0]), np.array([20.0, 20.0, 5.0]), GREY, GREY,
                (GREY, GREY, GREY, GREY))
FURNITURE = {'table', 'chair', 'shelf', 'cabinet', 'door', 'window', 'sofa', 'picture'}


def _world_points(depth, k, pose):
    return depth_to_points(depth, k) @ pose[:3, :3].T + pose[:3, 3]


def test_cylinder_depth_is_exact():
    cyl = Cylinder(np.array([4.0, 0.5, -1.0]), 0.6, 2.0, GREY)
    pose = look_pose((0.0, 0.0, 0.0), yaw=0.0)
    out = render(Scene([BIG_ROOM, cyl], []), K, pose)
    on = out.object_id == 1
    assert on.sum() > 150
    # every cylinder pixel back-projects onto the side (radius 0.6) or a cap, within the height
    p = _world_points(out.depth, K, pose)[on]
    rho = np.hypot(p[:, 0] - 4.0, p[:, 1] - 0.5)
    on_side = np.abs(rho - 0.6) < 1e-5
    on_cap = (np.abs(p[:, 2] + 1.0) < 1e-5) | (np.abs(p[:, 2] - 1.0) < 1e-5)
    assert np.all(on_side | on_cap) and on_side.mean() > 0.9
    assert p[:, 2].min() >= -1.0 - 1e-6 and p[:, 2].max() <= 1.0 + 1e-6
    # the pixel row through the axis: analytic ray / circle intersection, via the ray length
    row = int(round(K.cy))
    u = np.arange(K.width, dtype=np.float64)
    ray = np.stack([(u - K.cx) / K.fx, np.full_like(u, (row - K.cy) / K.fy), np.ones_like(u)], 1)
    unit = ray / np.linalg.norm(ray, axis=1, keepdims=True)
    world = unit @ pose[:3, :3].T
    dx, dy = world[:, 0], world[:, 1]
    b = -(4.0 * dx + 0.5 * dy)
    c = 4.0 ** 2 + 0.5 ** 2 - 0.36
    a = dx * dx + dy * dy
    disc = b * b - a * c
    length = (-b - np.sqrt(np.maximum(disc, 0))) / a
    z = length * unit[:, 2]
    hit = (disc > 0) & on[row]
    assert hit.sum() > 10
    np.testing.assert_allclose(out.depth[row][hit], z[hit], rtol=1e-6)


def test_cylinder_top_cap_seen_from_above():
    cyl = Cylinder(np.array([0.0, 0.0, -3.0]), 1.5, 1.0, GREY)  # top cap at z = -2
    pose = look_pose((0.0, 0.0, 0.0), yaw=0.0, pitch=-math.pi / 2)  # looking straight down
    out = render(Scene([BIG_ROOM, cyl], []), K, pose)
    centre = out.object_id == 1
    assert centre[30, 40]
    # fronto-parallel cap 2 m below the camera: constant z-depth 2
    p = _world_points(out.depth, K, pose)[centre]
    cap = np.abs(p[:, 2] + 2.0) < 1e-6
    assert cap.mean() > 0.95
    np.testing.assert_allclose(out.depth[centre][cap], 2.0, rtol=1e-6)


def _on_surface(scene, depth, object_id, k, pose):
    """Per pixel, the distance of its back-projected point to the primitive it hit."""
    pts = _world_points(depth, k, pose)
    err = np.zeros(depth.shape)
    for i in np.unique(object_id[object_id >= 0]):
        prim = scene.primitives[i]
        sel = object_id == i
        p = pts[sel]
        if isinstance(prim, Room):
            d = np.min(np.abs(np.concatenate([p - prim.lo, prim.hi - p], 1)), axis=1)
        elif isinstance(prim, Box):
            local = np.abs((p - prim.center) @ prim.rot) - prim.half
            d = np.abs(np.max(local, axis=1))
        elif isinstance(prim, Cylinder):
            rel = p - prim.center
            rho = np.hypot(rel[:, 0], rel[:, 1]) - prim.radius
            zin = np.maximum(-rel[:, 2], rel[:, 2] - prim.height)
            d = np.abs(np.maximum(rho, zin))
        else:  # sphere
            d = np.abs(np.linalg.norm(p - prim.center, axis=1) - prim.radius)
        err[sel] = d
    return err


@pytest.mark.parametrize('index', [0, 1, 2, 3])
def test_v2_depth_is_exact_z_on_every_surface(index):
    seq = make_sequence('indoor', seed=11, index=index, n_frames=3, height=48, width=64,
                        scenes='v2')
    out = seq.render(1)
    assert out.depth.dtype == np.float32 and np.all(out.depth > 0)  # closed interiors
    err = _on_surface(seq.scene, out.depth.astype(np.float64), out.object_id, seq.intrinsics,
                      seq.poses[1])
    # float32 depth: a few micrometres per metre
    assert np.all(err <= 2e-6 * out.depth + 1e-6)
    # image-side effects never change depth
    np.testing.assert_array_equal(seq.render(1, noise=False).depth, out.depth)


def test_v2_is_deterministic_seed_dependent_and_not_v1():
    a = make_sequence('indoor', seed=3, index=2, n_frames=4, height=48, width=64, scenes='v2')
    b = make_sequence('indoor', seed=3, index=2, n_frames=4, height=48, width=64, scenes='v2')
    c = make_sequence('indoor', seed=4, index=2, n_frames=4, height=48, width=64, scenes='v2')
    v1 = make_sequence('indoor', seed=3, index=2, n_frames=4, height=48, width=64)
    ra, rb, rc = a.render(2), b.render(2), c.render(2)
    np.testing.assert_array_equal(ra.rgb, rb.rgb)
    np.testing.assert_array_equal(ra.depth, rb.depth)
    assert not np.array_equal(ra.depth, rc.depth)
    assert not np.array_equal(ra.depth, v1.render(2).depth)
    assert a.intrinsics == v1.intrinsics  # the same camera draw as v1
    assert not np.array_equal(a.render(1).rgb, a.render(2).rgb)


def test_v2_scenes_have_the_new_content():
    kinds_seen = collections.Counter()
    layouts, cams = set(), set()
    covered = []
    for index in range(14):
        seq = make_sequence('indoor', seed=5, index=index, n_frames=2, height=40, width=56,
                            scenes='v2')
        scene = seq.scene
        assert len(scene.kinds) == len(scene.primitives)
        kinds_seen.update(set(scene.kinds))
        layouts |= {k for k, v in scene.notes.items() if k.startswith('layout_') and v}
        cam = [k[7:] for k in scene.notes if k.startswith('camera_') and k != 'camera_height']
        cams |= set(cam)
        lo, hi = CAMERAS[cam[0]][1]
        assert lo - 0.05 <= scene.notes['camera_height'] <= hi + 0.05
        # pitch within the class range (+ the 4 degree sway)
        pitch = math.degrees(math.asin(seq.poses[0][2, 2]))
        p0, p1 = CAMERAS[cam[0]][2]
        assert p0 - 4.5 <= pitch <= p1 + 4.5
        assert len(scene.lights) >= 1 and scene.ao > 0 and scene.shadow_samples > 1
        ids = seq.render(0, noise=False).object_id
        covered.append(np.mean([scene.kinds[i] != 'room' for i in ids.ravel()]))
    assert FURNITURE <= set(kinds_seen), kinds_seen
    assert {'layout_room', 'layout_corridor', 'layout_open_plan'} == layouts
    assert cams == set(CAMERAS)
    assert np.mean(covered) > 0.1  # objects fill a real part of the view, not just walls


def test_v2_street_keeps_sky_invalid():
    seq = make_sequence('street', seed=0, index=0, n_frames=3, height=40, width=64,
                        scenes='v2')
    out = seq.render(1)
    assert np.all(out.depth[out.object_id == -1] == 0)
    assert (out.depth == 0).sum() > 20 and out.depth.max() > 20.0


def test_soft_shadows_have_a_penumbra():
    room = Room(np.zeros(3), np.array([6.0, 6.0, 3.0]), GREY, GREY, (GREY, GREY, GREY, GREY))
    blocker = Box(np.array([3.0, 3.0, 1.0]), np.array([0.4, 0.4, 0.05]), 0.0, GREY)
    k = CameraIntrinsics(60.0, 60.0, 39.5, 29.5, 80, 60)
    pose = look_pose((3.0, 3.0, 2.6), yaw=0.0, pitch=-math.pi / 2 + 1e-3)
    fractions = {}
    for radius, samples in ((0.0, 1), (0.5, 8)):
        light = Light('point', (4.5, 3.0, 2.9), 1.0, falloff=100.0, radius=radius)
        lit = shade(Scene([room, blocker], [light], ambient=0.0, shadow_samples=samples), k,
                    pose)
        free = shade(Scene([room], [light], ambient=0.0, shadow_samples=samples), k, pose)
        floor = (lit.object_id == 0) & (lit.depth > 2.5)
        fractions[radius] = lit.color[..., 0][floor] / free.color[..., 0][floor]
    hard, soft = fractions[0.0], fractions[0.5]
    # hard shadows: fully lit or black; soft: many floor pixels in between (the penumbra)
    assert np.all((hard < 1e-6) | (hard > 1 - 1e-6)) and (hard < 1e-6).sum() > 50
    assert np.mean((soft > 0.05) & (soft < 0.95)) > 0.1
    assert soft.max() <= 1 + 1e-6


def test_ambient_occlusion_darkens_corners_only():
    room = Room(np.zeros(3), np.array([4.0, 4.0, 3.0]), GREY, GREY, (GREY, GREY, GREY, GREY))
    k = CameraIntrinsics(30.0, 30.0, 39.5, 29.5, 80, 60)  # wide: floor, walls and corners
    pose = look_pose((1.5, 1.5, 1.5), yaw=0.8, pitch=-0.4)
    plain = shade(Scene([room], [], ambient=0.5), k, pose).color[..., 0]
    occluded = shade(Scene([room], [], ambient=0.5, ao=1.0), k, pose).color[..., 0]
    ratio = occluded / plain
    out = render(Scene([room], []), k, pose)
    pts = _world_points(out.depth.astype(np.float64), k, pose)
    to_edge = np.sort(np.abs(np.concatenate([pts, 4.0 - pts[..., :2], 3.0 - pts[..., 2:]],
                                            -1)), -1)[..., 1]  # 2nd nearest plane
    near = to_edge < 0.1
    far = to_edge > 0.6
    assert near.sum() > 20 and far.sum() > 200
    assert ratio[near].mean() < 0.9
    assert ratio[far].mean() > 0.98
    np.testing.assert_array_less(ratio, 1.0 + 1e-6)


def test_camera_response_effects():
    rng = np.random.default_rng(0)
    color = (0.05 + 0.3 * rng.random((48, 64, 3))).astype(np.float32)
    neutral = CameraResponse()
    base = develop(color, neutral)
    # auto exposure: a brighter scene gives (nearly) the same image
    np.testing.assert_allclose(develop(color * 3.0, neutral).astype(int), base.astype(int),
                               atol=1)
    # white balance: a warm error raises red over blue
    warm = develop(color, CameraResponse(wb_gains=(1.2, 1.0, 0.8)))
    assert warm[..., 0].mean() > base[..., 0].mean() + 5
    assert warm[..., 2].mean() < base[..., 2].mean() - 5
    # vignetting: corners darker than the centre, relative to the neutral camera
    vig = develop(color, CameraResponse(vignette=0.5)).astype(float) / np.maximum(base, 1)
    assert vig[:6, :6].mean() < 0.85 * vig[20:28, 28:36].mean()
    # noise, blur and JPEG are per-frame and seeded
    noisy = CameraResponse(shot_noise=3e-3, read_noise=2.0, motion_px=4.0, jpeg_quality=50)
    a = develop(color, noisy, np.random.default_rng(1))
    b = develop(color, noisy, np.random.default_rng(1))
    c = develop(color, noisy, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a.astype(int) - develop(color, noisy).astype(int)).mean() > 1.0
    assert a.dtype == np.uint8 and a.shape == color.shape


def _write_images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.full((20, 30, 3), 40 * i + 10, np.uint8)
        img[:, :15, 0] = 250  # BGR: blue
        cv2.imwrite(str(folder / f'img{i}.png'), img)


def test_photo_sources_and_patches(tmp_path, monkeypatch):
    _write_images(tmp_path / 'pics' / 'sub', 3)
    (tmp_path / 'pics' / 'empty').mkdir()
    names = [p.name for p in source_paths(str(tmp_path / 'pics'))]
    assert names == ['img0.png', 'img1.png', 'img2.png']
    # an RGB-D folder with a frame selection: exactly those frames, in dataset order
    k = CameraIntrinsics(20.0, 20.0, 14.5, 9.5, 30, 20)
    writer = RGBDFolderWriter(tmp_path / 'rgbd', k, 'png')
    for i in range(5):
        writer.add(np.full((20, 30, 3), 50 * i, np.uint8), np.full((20, 30), 1.0, np.float32))
    writer.close()
    picked = source_paths(f'{tmp_path / "rgbd"}[1:3]')
    ds = RGBDFolderDataset(tmp_path / 'rgbd')
    assert [p.stem for p in picked] == [ds.items[1][1], ds.items[2][1]]
    bank = load_photo_bank((str(tmp_path / 'pics'),))
    assert len(bank) == 3 and bank.images[0].dtype == np.float32
    # linear RGB of an 8-bit value v: (v / 255) ** 2.2
    assert bank.images[1][0, 20, 2] == pytest.approx((50 / 255) ** 2.2, rel=1e-5)
    # a patch maps pixel columns to metres and repeats mirrored
    mat = PhotoMaterial(bank.images[0], 'x', width_m=2.9)  # 30 px wide -> 0.1 m per pixel
    u = np.array([0.05, 2.0, 2.9 + 0.45])
    v = np.zeros(3)
    col = mat.albedo(u, v)
    assert col[0, 2] == pytest.approx((250 / 255) ** 2.2, rel=1e-4)  # left half is blue
    assert col[1, 2] == pytest.approx((10 / 255) ** 2.2, rel=1e-4)  # right half is dark
    np.testing.assert_allclose(col[2], mat.albedo(np.array([2.9 - 0.45]), v[:1])[0],
                               rtol=1e-5)  # mirrored beyond the edge
    for bad, match in ((str(tmp_path / 'none'), 'is not a folder'),
                       (f'{tmp_path / "pics"}[0:2]', 'needs an RGB-D folder'),
                       (str(tmp_path / 'pics' / 'empty'), 'no .png/.jpg')):
        with pytest.raises(ValueError, match=match):
            source_paths(bad)
    monkeypatch.setattr('importlib.util.find_spec', lambda name: None)
    with pytest.raises(ValueError, match='pip install scikit-image'):
        source_paths('skimage')


def test_v2_with_photos_uses_them(tmp_path):
    _write_images(tmp_path / 'pics', 2)
    seq = make_sequence('indoor', seed=2, index=0, n_frames=2, height=40, width=56,
                        scenes='v2', photos=[str(tmp_path / 'pics')])
    mats = []
    for prim in seq.scene.primitives:
        mats += [getattr(prim, a, None) for a in ('material', 'top', 'floor', 'ceiling')]
        mats += list(getattr(prim, 'walls', ()))
    photos = [m for m in mats if isinstance(m, PhotoMaterial)]
    procedural = [m for m in mats if isinstance(m, Material)]
    assert photos and procedural  # mixed
    assert {m.name.split(':')[-1] for m in photos} <= {'img0.png', 'img1.png'}


def test_options_are_checked():
    with pytest.raises(ValueError, match='unknown scene version'):
        make_sequence('indoor', scenes='v3')
    with pytest.raises(ValueError, match='v2 feature'):
        make_sequence('indoor', photos=['skimage'])
    with pytest.raises(ValueError, match='unknown scene version'):
        SyntheticDataset('indoor', scenes='v0')


def test_dataset_and_cli_v2(tmp_path):
    ds = SyntheticDataset('indoor', length=4, seed=1, height=40, width=56,
                          frames_per_sequence=2, scenes='v2')
    s = ds[3]
    assert s['name'] == 'indoor-v2-1-0001-0001'
    seq = make_sequence('indoor', 1, 1, 2, 40, 56, scenes='v2')
    np.testing.assert_array_equal(s['depth'][0], seq.render(1).depth)
    _write_images(tmp_path / 'pics', 2)
    out = tmp_path / 'v2'
    assert cli.main(['synth', str(out), '--frames', '3', '--height', '40', '--width', '56',
                     '--scenes', 'v2', '--photos', str(tmp_path / 'pics'), '--seed', '4']) == 0
    notes = json.loads((out / 'intrinsics.json').read_text())
    assert notes['scenes'] == 'v2' and notes['photos'] == [str(tmp_path / 'pics')]
    frame = RGBDFolderDataset(out).load_frame(2)
    ref = make_sequence('indoor', 4, 0, 3, 40, 56, scenes='v2',
                        photos=[str(tmp_path / 'pics')]).render(2)
    np.testing.assert_allclose(frame.depth, ref.depth, atol=5.1e-4)
    np.testing.assert_array_equal(frame.rgb, ref.rgb)
    assert cli.main(['synth', str(tmp_path / 'bad'), '--frames', '1', '--photos',
                     str(tmp_path / 'pics')]) == 2
    assert not (tmp_path / 'bad').exists()
