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
Scenes, lights and shading: Lambertian point / directional lights, shadows, sky and fog.

:func:`shade` casts the camera rays (:func:`disdepth_core.data.synthetic.geometry.cast`) and
shades every hit in linear RGB; :func:`render` adds the ``v1`` camera response (gamma 2.2,
Gaussian sensor noise), :mod:`disdepth_core.data.synthetic.imaging` the ``v2`` one.

Options that ``v1`` scenes leave off (their defaults give the ``v1`` images bit for bit): point
lights with a ``radius`` cast soft shadows when ``Scene.shadow_samples`` > 1 (visibility averaged
over that many points of the light's disc, rotated per pixel, so penumbrae dither instead of
banding); ``Scene.ao`` > 0 darkens the ambient term by a screen-space ambient occlusion estimate
(hemisphere obscurance from the neighbouring pixels' exact 3-D points, after McGuire et al.'s
"Alchemy" estimator); a primitive's ``emission`` adds ``albedo * emission`` (window panes, lamp
shades).  None of them touches depth.
"""

from dataclasses import dataclass, field
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from disdepth_core.data.synthetic.geometry import cast
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.textures import _hash2
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
    :param radius: radius (m) of a point light's horizontal disc, for soft shadows
    :param shadows: cast shadows (False: light reaches every surface facing it)
    """

    kind: str
    vector: Tuple[float, float, float]
    intensity: float = 1.0
    color: Color = (1.0, 1.0, 1.0)
    falloff: float = 6.0
    radius: float = 0.0
    shadows: bool = True


@dataclass
class Scene:
    """
    Everything needed to render: primitives, lights, ambient, sky and the valid-depth range.

    :param primitives: objects (room / ground / boxes / spheres / ...)
    :param lights: lights
    :param ambient: ambient light level
    :param sky_top: sky colour at the zenith (linear RGB)
    :param sky_horizon: sky colour at the horizon
    :param far: hits farther than this (metres of z-depth) are invalid (depth 0) and fogged
    :param fog: fog distance (metres; None: no fog)
    :param preset: preset name
    :param bounds_min_z: lowest surface height (shadow culling projects onto it)
    :param notes: numbers describing the scene (written to the output folder)
    :param shadow_samples: visibility samples per point light with a radius (1: hard shadows)
    :param ao: strength of the screen-space ambient occlusion (0: none)
    :param ao_radius: metric radius of the ambient occlusion (metres)
    :param kinds: a name per primitive (what it is part of: 'table', 'chair', ...), or empty
    :param cache: shadow bounds per (primitive, light), filled by :func:`shade` (the scene is
        static: change it only before the first render)
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
    shadow_samples: int = 1
    ao: float = 0.0
    ao_radius: float = 0.35
    kinds: List[str] = field(default_factory=list)
    cache: Dict[Tuple[int, int], Optional[Tuple[float, float, float, float]]] = field(
        default_factory=dict, repr=False, compare=False)


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


@dataclass
class Shaded:
    """
    One shaded view before the camera response.

    :param color: H x W x 3 float32 linear RGB (not clipped)
    :param depth: H x W float32 z-depth in metres, 0 = invalid
    :param object_id: H x W int32 primitive index (-1 = no hit)
    """

    color: np.ndarray
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


def _area_bounds(prim: Primitive, light: Light, floor_z: float
                 ) -> Optional[Tuple[float, float, float, float]]:
    """:func:`_shadow_bounds` for every position of a disc light (its bounding square)."""
    if light.kind != 'point' or light.radius <= 0:
        return _shadow_bounds(prim, light, floor_z)
    x, y, z = light.vector
    boxes = []
    for dx in (-light.radius, light.radius):
        for dy in (-light.radius, light.radius):
            b = _shadow_bounds(prim, Light('point', (x + dx, y + dy, z)), floor_z)
            if b is None:
                return None
            boxes.append(b)
    arr = np.array(boxes)
    return (arr[:, 0].min(), arr[:, 1].max(), arr[:, 2].min(), arr[:, 3].max())


class _Candidates:
    """Points sorted by x, to find those inside an xy box without scanning all of them."""

    def __init__(self, points: np.ndarray) -> None:
        """Sort the points once."""
        self.points = points
        self.order = np.argsort(points[:, 0], kind='stable')
        self.xs = points[self.order, 0]

    def inside(self, bounds: Optional[Tuple[float, float, float, float]],
               mask: np.ndarray) -> np.ndarray:
        """Return the ascending indices of points inside ``bounds`` (None: all) where ``mask``."""
        if bounds is None:
            return np.nonzero(mask)[0]
        x0, x1, y0, y1 = bounds
        lo = np.searchsorted(self.xs, x0, 'left')
        hi = np.searchsorted(self.xs, x1, 'right')
        sub = self.order[lo:hi]
        y = self.points[sub, 1]
        sub = sub[(y >= y0) & (y <= y1) & mask[sub]]
        return np.sort(sub)


def _visible(occluders: List[Primitive], bounds: List[Optional[Tuple[float, float, float, float]]],
             finder: _Candidates, start: np.ndarray, to_light: np.ndarray, t_max: np.ndarray,
             lit: np.ndarray) -> np.ndarray:
    """Clear ``lit`` where an occluder blocks the segment ``start + t * to_light``, t < t_max."""
    for occ, box in zip(occluders, bounds):
        ci = finder.inside(box, lit)
        if ci.size == 0:
            continue
        ts = occ.intersect(start[ci], to_light[ci])
        lit[ci[ts < t_max[ci]]] = False
    return lit


def _disc_offsets(n_points: int, samples: int, radius: float) -> np.ndarray:
    """Per-point, per-sample xy offsets on a disc: a spiral rotated by a per-point hash angle."""
    j = np.arange(samples, dtype=np.float64)
    r = radius * np.sqrt((j + 0.5) / samples)
    phi = j * (math.pi * (3.0 - math.sqrt(5.0)))
    idx = np.arange(n_points)
    rot = _hash2(idx, idx // 7919, 4242).astype(np.float64) * (2 * math.pi)
    ang = phi[None, :] + rot[:, None]
    return np.stack([r[None, :] * np.cos(ang), r[None, :] * np.sin(ang)], -1)


def ambient_occlusion(points: np.ndarray, normals: np.ndarray, valid: np.ndarray,
                      radius_m: float, fx: float) -> np.ndarray:
    """
    Screen-space ambient occlusion from exact per-pixel 3-D points and normals.

    For 8 directions at 2 pixel distances (about ``radius_m`` at the pixel's depth and half of
    it), a neighbour ``q`` of point ``p`` with normal ``n`` obscures ``max(0, n . v) / |v|``
    (``v = q - p``), weighted down beyond ``radius_m``; the mean obscurance ``o`` gives
    ``1 - o``.

    :param points: H x W x 3 float points (camera or world frame), anything where not ``valid``
    :param normals: H x W x 3 unit normals facing the camera, same frame
    :param valid: H x W bool, pixels with a surface
    :param radius_m: metric radius of the effect
    :param fx: focal length in pixels (converts the radius to pixels)
    :return: H x W float32 in [0, 1] (1: unoccluded)
    """
    h, w = valid.shape
    pts = np.where(valid[..., None], points, np.nan).astype(np.float32)
    nrm = normals.astype(np.float32)
    z = np.linalg.norm(pts, axis=-1)
    med = float(np.nanmedian(z)) if np.isfinite(z).any() else 1.0
    total = np.zeros((h, w), np.float32)
    count = np.zeros((h, w), np.float32)
    r2 = np.float32(radius_m * radius_m)
    for frac in (1.0, 0.4):
        step = max(1, int(round(frac * radius_m * fx / max(med, 1e-3))))
        for k in range(8):
            a = k * math.pi / 4 + (0.0 if frac == 1.0 else math.pi / 8)
            dy, dx = int(round(step * math.sin(a))), int(round(step * math.cos(a)))
            if dx == 0 and dy == 0:
                continue
            shifted = np.full_like(pts, np.nan)
            ys = slice(max(0, -dy), h - max(0, dy))
            yd = slice(max(0, dy), h - max(0, -dy))
            xs = slice(max(0, -dx), w - max(0, dx))
            xd = slice(max(0, dx), w - max(0, -dx))
            shifted[yd, xd] = pts[ys, xs]
            v = shifted - pts
            d2 = np.einsum('ijk,ijk->ij', v, v)
            ok = np.isfinite(d2) & (d2 > 1e-10)
            d2 = np.where(ok, d2, 1.0)
            dot = np.where(ok, np.einsum('ijk,ijk->ij', np.nan_to_num(v), nrm), 0.0)
            o = np.maximum(dot, 0.0) / np.sqrt(d2) * (r2 / (r2 + d2))
            total += np.where(ok, o, 0.0).astype(np.float32)
            count += ok
    occl = total / np.maximum(count, 1.0)
    return np.clip(1.0 - occl, 0.0, 1.0).astype(np.float32)


def shade(scene: Scene, intrinsics: CameraIntrinsics, pose: np.ndarray) -> Shaded:
    """
    Ray-cast and shade one view in linear RGB.

    :param scene: the scene
    :param intrinsics: camera intrinsics (their width/height set the image size)
    :param pose: 4 x 4 ``T_world_cam`` of the optical frame
    :return: linear colour, exact z-depth (0 = invalid) and object ids
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
        emission = None
        for i in np.unique(flat_id):
            sel = flat_id == i
            prim = scene.primitives[i]
            n_i, a_i = prim.surface(points[sel], flat_d[sel])
            normals[sel] = n_i
            albedo[sel] = a_i
            if prim.emission > 0:
                if emission is None:
                    emission = np.zeros(idx.size, np.float32)
                emission[sel] = prim.emission
        # normals face the camera
        facing = np.einsum('ij,ij->i', normals, flat_d.astype(np.float32)) > 0
        normals[facing] *= -1.0
        light_sum = np.full((idx.size, 3), scene.ambient, np.float32)
        if scene.ao > 0:
            h, w = hit.shape
            full_p = np.zeros((h * w, 3))
            full_n = np.zeros((h * w, 3), np.float32)
            full_p[idx] = points
            full_n[idx] = normals
            ao = ambient_occlusion(full_p.reshape(h, w, 3), full_n.reshape(h, w, 3), hit,
                                   scene.ao_radius, k.fx).ravel()[idx]
            light_sum *= (1.0 - scene.ao * (1.0 - ao))[:, None]
        occ_ids = [i for i, p in enumerate(scene.primitives) if p.occluder]
        occluders = [scene.primitives[i] for i in occ_ids]
        start = points + normals.astype(np.float64) * SHADOW_OFFSET
        finder = _Candidates(points)
        for li, light in enumerate(scene.lights):
            key = (-1, li)
            if key not in scene.cache:
                scene.cache[key] = None
                for i in occ_ids:
                    scene.cache[(i, li)] = _area_bounds(scene.primitives[i], light,
                                                        scene.bounds_min_z)
            bounds = [scene.cache[(i, li)] for i in occ_ids]
            soft = (light.kind == 'point' and light.radius > 0 and scene.shadow_samples > 1)
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
            if not light.shadows:
                gain = (light.intensity * ndotl * atten * lit).astype(np.float32)
            elif not soft:
                lit = _visible(occluders, bounds, finder, start, to_light, t_max, lit)
                gain = (light.intensity * ndotl * atten * lit).astype(np.float32)
            else:
                n_s = int(scene.shadow_samples)
                offsets = _disc_offsets(idx.size, n_s, light.radius)
                vis = np.zeros(idx.size, np.float32)
                for j in range(n_s):
                    target = np.asarray(light.vector, np.float64)[None].repeat(idx.size, 0)
                    target[:, :2] += offsets[:, j]
                    vis += _visible(occluders, bounds, finder, start, target - start, t_max,
                                    lit.copy())
                gain = (light.intensity * ndotl * atten * (vis / n_s)).astype(np.float32)
            light_sum += gain[:, None] * np.asarray(light.color, np.float32)[None]
        shaded = albedo * light_sum
        if emission is not None:
            shaded += albedo * emission[:, None]
        if scene.fog is not None:
            fog = np.exp(-flat_t / scene.fog).astype(np.float32)[:, None]
            shaded = shaded * fog + sky.reshape(-1, 3)[idx] * (1.0 - fog)
        beyond = flat_t > scene.far
        if beyond.any():
            shaded[beyond] = sky.reshape(-1, 3)[idx[beyond]]
        color.reshape(-1, 3)[idx] = shaded
    return Shaded(color=color, depth=depth, object_id=np.where(hit, best_id, -1))


def render(scene: Scene, intrinsics: CameraIntrinsics, pose: np.ndarray,
           noise_rng: Optional[np.random.Generator] = None, noise_sigma: float = 1.5
           ) -> RenderResult:
    """
    Ray-cast one view with the ``v1`` camera response.

    :param scene: the scene
    :param intrinsics: camera intrinsics (their width/height set the image size)
    :param pose: 4 x 4 ``T_world_cam`` of the optical frame
    :param noise_rng: generator for sensor noise (None: no noise)
    :param noise_sigma: Gaussian noise std in 8-bit levels
    :return: image, exact z-depth (0 = invalid) and object ids
    """
    out = shade(scene, intrinsics, pose)
    srgb = np.power(np.clip(out.color, 0.0, 1.0), 1.0 / 2.2) * 255.0
    if noise_rng is not None and noise_sigma > 0:
        srgb = srgb + noise_rng.normal(0.0, noise_sigma, srgb.shape).astype(np.float32)
    rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8)
    return RenderResult(rgb=rgb, depth=out.depth, object_id=out.object_id)
