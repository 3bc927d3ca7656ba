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
Scenes, lights and shading: Lambertian point / directional lights, hard shadows, sky and fog.

:func:`render` casts the camera rays (:func:`disdepth_core.data.synthetic.geometry.cast`),
shades every hit and applies the camera response (gamma 2.2, Gaussian sensor noise).
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from disdepth_core.data.synthetic.geometry import cast
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.textures import Color
from disdepth_core.geometry import CameraIntrinsics

SHADOW_OFFSET = 2e-3


@dataclass(frozen=True)
class Light:
    """
    A light: ``kind`` 'point' (at ``position``) or 'directional' (``direction`` towards the light).

    :param kind: 'point' or 'directional'
    :param vector: position (point) or unit direction towards the light (directional)
    :param intensity: scalar intensity
    :param color: linear RGB tint
    :param falloff: distance (m) at which a point light is at half intensity
    """

    kind: str
    vector: Tuple[float, float, float]
    intensity: float = 1.0
    color: Color = (1.0, 1.0, 1.0)
    falloff: float = 6.0


@dataclass
class Scene:
    """
    Everything needed to render: primitives, lights, ambient, sky and the valid-depth range.

    :param primitives: objects (room / ground / boxes / spheres)
    :param lights: lights
    :param ambient: ambient light level
    :param sky_top: sky colour at the zenith (linear RGB)
    :param sky_horizon: sky colour at the horizon
    :param far: hits farther than this (metres of z-depth) are invalid (depth 0) and fogged
    :param fog: fog distance (metres; None: no fog)
    :param preset: preset name
    """

    primitives: List[Primitive]
    lights: List[Light]
    ambient: float = 0.3
    sky_top: Color = (0.35, 0.55, 0.9)
    sky_horizon: Color = (0.8, 0.85, 0.9)
    far: float = 1e9
    fog: Optional[float] = None
    preset: str = 'custom'
    bounds_min_z: float = 0.0
    notes: Dict[str, float] = field(default_factory=dict)


@dataclass
class RenderResult:
    """
    One rendered view.

    :param rgb: H x W x 3 uint8 RGB
    :param depth: H x W float32 z-depth in metres, 0 = invalid (sky / beyond ``far``)
    :param object_id: H x W int32 index into ``scene.primitives`` (-1 = sky)
    """

    rgb: np.ndarray
    depth: np.ndarray
    object_id: np.ndarray


def _shadow_bounds(prim: Primitive, light: Light, floor_z: float
                   ) -> Optional[Tuple[float, float, float, float]]:
    """World xy box that holds every point ``prim`` can shadow from ``light``; None: unbounded."""
    c = prim.corners()
    if c is None:
        return None
    if light.kind == 'directional':
        lv = np.asarray(light.vector, np.float64)
        if lv[2] <= 1e-3:
            return None
        proj = c - lv[None] * ((c[:, 2] - floor_z) / lv[2])[:, None]
    else:
        s = np.asarray(light.vector, np.float64)
        if s[2] <= c[:, 2].max() + 1e-3:
            return None
        f = (s[2] - floor_z) / (s[2] - c[:, 2])
        proj = s[None] + (c - s[None]) * f[:, None]
    pts = np.concatenate([c, proj])
    return (pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())


def render(scene: Scene, intrinsics: CameraIntrinsics, pose: np.ndarray,
           noise_rng: Optional[np.random.Generator] = None, noise_sigma: float = 1.5
           ) -> RenderResult:
    """
    Ray-cast one view.

    :param scene: the scene
    :param intrinsics: camera intrinsics (their width/height set the image size)
    :param pose: 4 x 4 ``T_world_cam`` of the optical frame
    :param noise_rng: generator for sensor noise (None: no noise)
    :param noise_sigma: Gaussian noise std in 8-bit levels
    :return: image, exact z-depth (0 = invalid) and object ids
    """
    k = intrinsics.validate()
    origin, rays, best_t, best_id = cast(scene.primitives, k, pose)

    hit = np.isfinite(best_t)
    depth = np.where(hit & (best_t <= scene.far), best_t, 0.0).astype(np.float32)

    # sky gradient for every pixel (cheap), then shading for hits
    dirs = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    elev = np.clip(dirs[..., 2], 0.0, 1.0).astype(np.float32)[..., None]
    sky = (np.asarray(scene.sky_horizon, np.float32) * (1.0 - elev)
           + np.asarray(scene.sky_top, np.float32) * elev)
    color = sky.copy()

    idx = np.nonzero(hit.ravel())[0]
    if idx.size:
        flat_id = best_id.ravel()[idx]
        flat_d = rays.reshape(-1, 3)[idx]
        flat_t = best_t.ravel()[idx]
        points = origin[None] + flat_d * flat_t[:, None]
        normals = np.zeros((idx.size, 3), np.float32)
        albedo = np.zeros((idx.size, 3), np.float32)
        for i in np.unique(flat_id):
            sel = flat_id == i
            n_i, a_i = scene.primitives[i].surface(points[sel], flat_d[sel])
            normals[sel] = n_i
            albedo[sel] = a_i
        # normals face the camera
        facing = np.einsum('ij,ij->i', normals, flat_d.astype(np.float32)) > 0
        normals[facing] *= -1.0
        light_sum = np.full((idx.size, 3), scene.ambient, np.float32)
        occluders = [p for p in scene.primitives if p.occluder]
        start = points + normals.astype(np.float64) * SHADOW_OFFSET
        for light in scene.lights:
            if light.kind == 'directional':
                to_light = np.broadcast_to(np.asarray(light.vector, np.float64), points.shape)
                t_max = np.full(idx.size, np.inf)
                atten = np.ones(idx.size, np.float32)
            else:
                to_light = np.asarray(light.vector, np.float64)[None] - start
                t_max = np.ones(idx.size)
                dist = np.linalg.norm(to_light, axis=1)
                atten = (1.0 / (1.0 + (dist / light.falloff) ** 2)).astype(np.float32)
            unit = to_light / np.linalg.norm(to_light, axis=1, keepdims=True)
            ndotl = np.maximum(np.einsum('ij,ij->i', normals, unit.astype(np.float32)), 0.0)
            lit = ndotl > 0
            for occ in occluders:
                bounds = _shadow_bounds(occ, light, scene.bounds_min_z)
                cand = lit.copy()
                if bounds is not None:
                    x0, x1, y0, y1 = bounds
                    cand &= ((points[:, 0] >= x0) & (points[:, 0] <= x1)
                             & (points[:, 1] >= y0) & (points[:, 1] <= y1))
                ci = np.nonzero(cand)[0]
                if ci.size == 0:
                    continue
                ts = occ.intersect(start[ci], to_light[ci])
                lit[ci[ts < t_max[ci]]] = False
            gain = (light.intensity * ndotl * atten * lit).astype(np.float32)
            light_sum += gain[:, None] * np.asarray(light.color, np.float32)[None]
        shaded = albedo * light_sum
        if scene.fog is not None:
            fog = np.exp(-flat_t / scene.fog).astype(np.float32)[:, None]
            shaded = shaded * fog + sky.reshape(-1, 3)[idx] * (1.0 - fog)
        beyond = flat_t > scene.far
        if beyond.any():
            shaded[beyond] = sky.reshape(-1, 3)[idx[beyond]]
        color.reshape(-1, 3)[idx] = shaded

    srgb = np.power(np.clip(color, 0.0, 1.0), 1.0 / 2.2) * 255.0
    if noise_rng is not None and noise_sigma > 0:
        srgb = srgb + noise_rng.normal(0.0, noise_sigma, srgb.shape).astype(np.float32)
    rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)
    return RenderResult(rgb=rgb, depth=depth, object_id=np.where(hit, best_id, -1))
