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
Procedural RGB-D scenes with exact metric depth: a vectorised numpy ray caster.

Scenes are made of analytic primitives (a room = the inside of an axis-aligned box, a ground
plane, boxes rotated about the vertical axis, spheres), textured with procedural, multi-scale
patterns at fixed metric sizes (so texture carries scale cues), lit by Lambertian shading from
point or directional lights plus ambient light, with hard shadows.  Two presets:

* ``indoor``: a room of 3-10 m x 3-10 m x 2.4-3.5 m with furniture-like boxes and spheres, 1-2
  ceiling lights; the camera walks a smooth loop at 1.0-1.7 m height.
* ``street``: a ground plane with a road (lane markings) and pavements, building facades with
  windows, cars (two boxes each), poles and trees; sunlight; the camera drives along the road at
  ~1.65 m.  **Sky, and any surface farther than the preset's ``far`` (120 m), has depth 0
  (invalid)**; it is drawn as a sky gradient / distance fog so the image stays plausible.

Conventions: world frame z-up (metres); the camera pose is ``T_world_cam`` (4 x 4) of the optical
frame (x right, y down, z forward).  Rays are ``d = R @ [(u - cx) / fx, (v - cy) / fy, 1]`` so the
ray parameter ``t`` of a hit **is** its z-depth (not the ray length); depth is exact up to float64
rounding.  Pixel centres are at integer coordinates.  Everything is deterministic from a seed:
sequence ``s`` of seed ``S`` uses ``numpy.random.default_rng([S, s, preset])``.
"""

from dataclasses import dataclass, field
import functools
import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.geometry import CameraIntrinsics

Color = Tuple[float, float, float]
EPS = 1e-9
SHADOW_OFFSET = 2e-3

# ----------------------------------------------------------------------------- procedural noise


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice hash -> float32 in [0, 1)."""
    h = (ix.astype(np.int64).astype(np.uint32) * np.uint32(374761393)
         + iy.astype(np.int64).astype(np.uint32) * np.uint32(668265263)
         + np.uint32((seed * 2654435761) & 0xFFFFFFFF))
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h = h ^ (h >> np.uint32(16))
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """
    Smooth 2-D value noise in [0, 1) on a unit lattice.

    :param x: coordinates (any shape, float)
    :param y: coordinates (same shape)
    :param seed: noise seed
    :return: float32 noise of the same shape
    """
    fx = np.floor(x)
    fy = np.floor(y)
    tx = (x - fx).astype(np.float32)
    ty = (y - fy).astype(np.float32)
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    ix = fx.astype(np.int64)
    iy = fy.astype(np.int64)
    a = _hash2(ix, iy, seed)
    b = _hash2(ix + 1, iy, seed)
    c = _hash2(ix, iy + 1, seed)
    d = _hash2(ix + 1, iy + 1, seed)
    top = a + (b - a) * tx
    bottom = c + (d - c) * tx
    return top + (bottom - top) * ty


def fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    """
    Fractal sum of :func:`value_noise` octaves, normalised to [0, 1).

    :param x: coordinates
    :param y: coordinates
    :param seed: noise seed
    :param octaves: number of octaves (each at twice the frequency, half the amplitude)
    :return: float32 noise
    """
    total = np.zeros(np.shape(x), np.float32)
    amp, norm, freq = 1.0, 0.0, 1.0
    for i in range(octaves):
        total += np.float32(amp) * value_noise(x * freq, y * freq, seed + 101 * i)
        norm += amp
        amp *= 0.5
        freq *= 2.0
    return total / np.float32(norm)


# ----------------------------------------------------------------------------- materials

PatternFn = Callable[[np.ndarray, np.ndarray, 'Material'], Tuple[np.ndarray, np.ndarray]]
PATTERNS: Dict[str, PatternFn] = {}


def _pattern(name: str) -> Callable[[PatternFn], PatternFn]:
    def decorator(fn: PatternFn) -> PatternFn:
        PATTERNS[name] = fn
        return fn
    return decorator


def _ones(u: np.ndarray) -> np.ndarray:
    return np.ones(u.shape, np.float32)


@_pattern('plain')
def _plain(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    return np.zeros(u.shape, np.float32), _ones(u)


@_pattern('checker')
def _checker(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    w = (np.floor(u / m.scale) + np.floor(v / m.scale)) % 2
    return w.astype(np.float32), _ones(u)


@_pattern('stripes')
def _stripes(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    w = (np.floor(u / m.scale) % 2).astype(np.float32)
    return w, _ones(u)


@_pattern('noise')
def _noise(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    w = fbm(u / m.scale, v / m.scale, m.seed, octaves=4)
    return np.clip((w - 0.5) * 2.0 + 0.5, 0.0, 1.0), _ones(u)


@_pattern('wood')
def _wood(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    row = np.floor(v / m.scale)
    shift = _hash2(row, row * 0 + 7, m.seed) * 3.0
    wobble = 2.0 * fbm((u + shift) * 1.5, v * 4.0, m.seed + 3)
    grain = 0.5 + 0.5 * np.sin((v / m.scale * 9.0 + wobble) * 2 * np.pi)
    frac_v = v / m.scale - row
    plank = np.floor((u + shift * m.scale) / (4.0 * m.scale))
    w = 0.55 * grain.astype(np.float32)
    w = np.where((frac_v < 0.04) | (((u + shift * m.scale) / (4.0 * m.scale) - plank) < 0.01),
                 np.float32(1.0), w)
    tint = 0.85 + 0.3 * _hash2(row, plank, m.seed + 11)
    return w.astype(np.float32), tint.astype(np.float32)


@_pattern('tiles')
def _tiles(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    cu = u / m.scale
    cv = v / m.scale
    iu = np.floor(cu)
    iv = np.floor(cv)
    grout = ((cu - iu) < 0.05) | ((cv - iv) < 0.05)
    tint = 0.88 + 0.24 * _hash2(iu, iv, m.seed)
    return grout.astype(np.float32), tint.astype(np.float32)


@_pattern('bricks')
def _bricks(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    rows = v / (0.5 * m.scale)
    row = np.floor(rows)
    cols = u / m.scale + 0.5 * (row % 2)
    col = np.floor(cols)
    mortar = ((rows - row) < 0.1) | ((cols - col) < 0.05)
    tint = 0.8 + 0.4 * _hash2(col, row, m.seed)
    return mortar.astype(np.float32), tint.astype(np.float32)


@_pattern('windows')
def _windows(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    cu = u / m.scale
    cv = v / (1.2 * m.scale)
    iu = np.floor(cu)
    iv = np.floor(cv)
    fu = cu - iu
    fv = cv - iv
    window = (fu > 0.22) & (fu < 0.78) & (fv > 0.3) & (fv < 0.82) & (v > 0.8)
    lit = _hash2(iu, iv, m.seed)
    tint = np.where(window, 0.6 + 0.8 * lit, 0.92 + 0.16 * fbm(u * 0.5, v * 0.5, m.seed))
    return window.astype(np.float32), tint.astype(np.float32)


@_pattern('road')
def _road(u: np.ndarray, v: np.ndarray, m: 'Material') -> Tuple[np.ndarray, np.ndarray]:
    # u along the road (x), v across it (y); m.scale = lane width; markings are colour b.
    lane = v / m.scale
    k = np.round(lane)
    near_line = np.abs(lane - k) * m.scale < 0.07
    dashed = ((u / 3.0) % 2.0) < 1.0
    w = near_line & (dashed | (k == 0))
    tint = 0.85 + 0.3 * fbm(u * 0.8, v * 0.8, m.seed)
    return w.astype(np.float32), tint.astype(np.float32)


@dataclass(frozen=True)
class Material:
    """
    A procedural surface colour: ``lerp(color_a, color_b, w) * tint * detail``.

    :param pattern: a key of :data:`PATTERNS`
    :param color_a: linear RGB in [0, 1]
    :param color_b: linear RGB in [0, 1]
    :param scale: pattern period in metres
    :param seed: pattern seed
    :param detail: amplitude of a fine (5 cm) noise layer common to all materials
    """

    pattern: str
    color_a: Color
    color_b: Color = (0.0, 0.0, 0.0)
    scale: float = 1.0
    seed: int = 0
    detail: float = 0.2

    def albedo(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """
        Evaluate the colour at surface coordinates (metres).

        :param u: first surface coordinate, shape (M,)
        :param v: second surface coordinate, shape (M,)
        :return: (M, 3) float32 linear RGB
        """
        w, tint = PATTERNS[self.pattern](u, v, self)
        a = np.asarray(self.color_a, np.float32)
        b = np.asarray(self.color_b, np.float32)
        col = a[None] + (b - a)[None] * w[:, None]
        if self.detail > 0:
            fine = fbm(u / 0.05, v / 0.05, self.seed + 17, octaves=2)
            tint = tint * (1.0 - self.detail * 0.5 + self.detail * fine)
        return (col * tint[:, None]).astype(np.float32)


# ----------------------------------------------------------------------------- primitives


def _rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class Primitive:
    """A ray-traceable object: intersection, surface normal + albedo, bounding corners."""

    occluder = True

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Return the ray parameter of the first hit in front of ``o`` (inf for a miss)."""
        raise NotImplementedError

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return (unit normals facing the ray, albedo) at hit points ``p``."""
        raise NotImplementedError

    def corners(self) -> Optional[np.ndarray]:
        """Return 8 world points whose convex hull holds the object, or None if unbounded."""
        return None


@dataclass
class Room(Primitive):
    """
    The inside of an axis-aligned box [lo, hi] (camera inside): floor z = lo.z, ceiling z = hi.z.

    :param lo: min corner
    :param hi: max corner
    :param floor: floor material
    :param ceiling: ceiling material
    :param walls: wall materials for the x-lo, x-hi, y-lo and y-hi walls
    """

    lo: np.ndarray
    hi: np.ndarray
    floor: Material
    ceiling: Material
    walls: Tuple[Material, Material, Material, Material]
    occluder = False

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(d > 0, (self.hi - o) / d, (self.lo - o) / d)
        t = np.where(d == 0, np.inf, t)
        return t.min(axis=-1)

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """See :class:`Primitive`."""
        dist = np.stack([p[:, 0] - self.lo[0], self.hi[0] - p[:, 0], p[:, 1] - self.lo[1],
                         self.hi[1] - p[:, 1], p[:, 2] - self.lo[2], self.hi[2] - p[:, 2]], 1)
        face = np.argmin(np.abs(dist), axis=1)
        normals = np.zeros_like(p, dtype=np.float32)
        albedo = np.zeros(p.shape, np.float32)
        mats = (self.walls[0], self.walls[1], self.walls[2], self.walls[3], self.floor,
                self.ceiling)
        # surface coordinates per face: (axis of u, axis of v)
        uv_axes = ((1, 2), (1, 2), (0, 2), (0, 2), (0, 1), (0, 1))
        for f in range(6):
            sel = face == f
            if not sel.any():
                continue
            axis, sign = f // 2, (1.0 if f % 2 == 0 else -1.0)
            normals[sel, axis] = sign
            ua, va = uv_axes[f]
            albedo[sel] = mats[f].albedo(p[sel, ua], p[sel, va])
        return normals, albedo


@dataclass
class Ground(Primitive):
    """
    The infinite plane z = ``height`` seen from above; ``road`` material where |y| < road_half.

    :param height: plane height
    :param material: material outside the road
    :param road: road material (or None)
    :param road_half: half width of the road (metres)
    """

    height: float
    material: Material
    road: Optional[Material] = None
    road_half: float = 0.0
    occluder = False

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (self.height - o[..., 2]) / d[..., 2]
        return np.where((d[..., 2] < 0) & (o[..., 2] > self.height), t, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """See :class:`Primitive`."""
        normals = np.zeros(p.shape, np.float32)
        normals[:, 2] = 1.0
        albedo = self.material.albedo(p[:, 0], p[:, 1])
        if self.road is not None:
            on_road = np.abs(p[:, 1]) < self.road_half
            if on_road.any():
                albedo[on_road] = self.road.albedo(p[on_road, 0], p[on_road, 1])
        return normals, albedo


@dataclass
class Box(Primitive):
    """
    A box with half sizes ``half`` centred at ``center``, rotated by ``yaw`` about the z axis.

    Texture coordinates run along each face in metres (so patterns keep their metric size).

    :param center: centre (world)
    :param half: half extents along the box's own axes
    :param yaw: rotation about z, radians
    :param material: side material
    :param top: material of the top face (None: same as the sides)
    """

    center: np.ndarray
    half: np.ndarray
    yaw: float
    material: Material
    top: Optional[Material] = None

    def __post_init__(self) -> None:
        """Precompute the world->box rotation."""
        self.center = np.asarray(self.center, np.float64)
        self.half = np.asarray(self.half, np.float64)
        self.rot = _rot_z(self.yaw)  # box -> world

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        ol = (o - self.center) @ self.rot
        dl = d @ self.rot
        with np.errstate(divide='ignore', invalid='ignore'):
            t1 = (-self.half - ol) / dl
            t2 = (self.half - ol) / dl
        tnear = np.minimum(t1, t2).max(axis=-1)
        tfar = np.maximum(t1, t2).min(axis=-1)
        hit = (tnear <= tfar) & (tnear > 1e-6)
        return np.where(hit, tnear, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """See :class:`Primitive`."""
        pl = (p - self.center) @ self.rot
        rel = np.abs(pl) / self.half - 1.0
        axis = np.argmax(rel, axis=1)
        sign = np.sign(np.take_along_axis(pl, axis[:, None], 1))[:, 0]
        nl = np.zeros(p.shape, np.float64)
        nl[np.arange(len(p)), axis] = sign
        normals = (nl @ self.rot.T).astype(np.float32)
        albedo = np.zeros(p.shape, np.float32)
        corner = pl + self.half
        for a, (ua, va) in enumerate(((1, 2), (0, 2), (0, 1))):
            sel = axis == a
            if not sel.any():
                continue
            mat = self.top if (a == 2 and self.top is not None) else self.material
            albedo[sel] = mat.albedo(corner[sel, ua], corner[sel, va])
        return normals, albedo

    def corners(self) -> np.ndarray:
        """See :class:`Primitive`."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                         np.float64)
        return self.center + (signs * self.half) @ self.rot.T


@dataclass
class Sphere(Primitive):
    """
    A sphere.

    :param center: centre (world)
    :param radius: radius
    :param material: material (texture coordinates: longitude/latitude arc lengths)
    """

    center: np.ndarray
    radius: float
    material: Material

    def __post_init__(self) -> None:
        """Normalise the centre."""
        self.center = np.asarray(self.center, np.float64)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        oc = o - self.center
        a = np.einsum('...i,...i->...', d, d)
        b = np.einsum('...i,...i->...', d, oc)
        c = np.einsum('...i,...i->...', oc, oc) - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(invalid='ignore'):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > 1e-6), t, np.inf)

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """See :class:`Primitive`."""
        n = (p - self.center) / self.radius
        lon = np.arctan2(n[:, 1], n[:, 0]) * self.radius
        lat = np.arcsin(np.clip(n[:, 2], -1.0, 1.0)) * self.radius
        return n.astype(np.float32), self.material.albedo(lon, lat)

    def corners(self) -> np.ndarray:
        """See :class:`Primitive`."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                         np.float64)
        return self.center + signs * self.radius


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


@functools.lru_cache(maxsize=8)
def _camera_rays(intrinsics: CameraIntrinsics) -> np.ndarray:
    """Camera-frame ray directions with unit z: H x W x 3 float64."""
    u = (np.arange(intrinsics.width, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(intrinsics.height, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    rays = np.empty((intrinsics.height, intrinsics.width, 3), np.float64)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    rays.setflags(write=False)
    return rays


def _screen_rect(corners: Optional[np.ndarray], pose: np.ndarray,
                 k: CameraIntrinsics) -> Optional[Tuple[int, int, int, int]]:
    """Return the pixel rectangle (v0, v1, u0, u1) holding a convex hull's projection, or None."""
    if corners is None:
        return (0, k.height, 0, k.width)
    pc = (corners - pose[:3, 3]) @ pose[:3, :3]
    z = pc[:, 2]
    if np.all(z <= 0):
        return None
    if np.any(z <= 1e-3):
        return (0, k.height, 0, k.width)
    u = k.fx * pc[:, 0] / z + k.cx
    v = k.fy * pc[:, 1] / z + k.cy
    u0 = max(0, int(math.floor(u.min())))
    u1 = min(k.width, int(math.ceil(u.max())) + 1)
    v0 = max(0, int(math.floor(v.min())))
    v1 = min(k.height, int(math.ceil(v.max())) + 1)
    if u0 >= u1 or v0 >= v1:
        return None
    return (v0, v1, u0, u1)


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
    pose = np.asarray(pose, np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise ValueError(f'camera pose must be a finite 4x4 matrix, got shape {pose.shape}')
    rot = pose[:3, :3]
    origin = pose[:3, 3]
    rays = _camera_rays(k) @ rot.T  # H x W x 3 world directions, unit camera z
    h, w = k.height, k.width
    best_t = np.full((h, w), np.inf)
    best_id = np.full((h, w), -1, np.int32)
    rects: List[Optional[Tuple[int, int, int, int]]] = []
    for i, prim in enumerate(scene.primitives):
        rect = _screen_rect(prim.corners(), pose, k)
        rects.append(rect)
        if rect is None:
            continue
        v0, v1, u0, u1 = rect
        t = prim.intersect(origin, rays[v0:v1, u0:u1])
        sub_t = best_t[v0:v1, u0:u1]
        closer = t < sub_t
        sub_t[closer] = t[closer]
        best_id[v0:v1, u0:u1][closer] = i

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


# ----------------------------------------------------------------------------- cameras


def look_pose(position: Sequence[float], yaw: float, pitch: float = 0.0,
              roll: float = 0.0) -> np.ndarray:
    """
    ``T_world_cam`` of an optical frame at ``position`` looking along ``yaw`` / ``pitch``.

    :param position: camera centre (world, z-up)
    :param yaw: heading about z (0 = looking along +x), radians
    :param pitch: elevation (positive looks up), radians
    :param roll: rotation about the optical axis, radians
    :return: 4 x 4 float64 pose
    """
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    z = np.array([cy * cp, sy * cp, sp])
    x = np.array([sy, -cy, 0.0])
    y = np.cross(z, x)
    cr, sr = math.cos(roll), math.sin(roll)
    x, y = cr * x + sr * y, -sr * x + cr * y
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, np.asarray(position, float)
    return pose


def random_intrinsics(rng: np.random.Generator, height: int, width: int,
                      hfov_range: Tuple[float, float]) -> CameraIntrinsics:
    """
    Square-pixel intrinsics with a random horizontal FOV and a slightly off-centre principal point.

    :param rng: random generator
    :param height: image height
    :param width: image width
    :param hfov_range: (min, max) horizontal FOV in degrees
    :return: the intrinsics
    """
    hfov = float(rng.uniform(*hfov_range))
    base = CameraIntrinsics.from_fov(hfov, width, height)
    dx, dy = rng.uniform(-0.015, 0.015, 2)
    return CameraIntrinsics(base.fx, base.fy, base.cx + dx * width, base.cy + dy * height,
                            width, height)


# ----------------------------------------------------------------------------- presets


def _pastel(rng: np.random.Generator, lo: float = 0.35, hi: float = 0.85) -> Color:
    base = rng.uniform(lo, hi)
    return tuple(float(np.clip(base * rng.uniform(0.75, 1.2), 0.02, 0.98)) for _ in range(3))


def _material(rng: np.random.Generator, choices: Sequence[str], scale: Tuple[float, float],
              lo: float = 0.35, hi: float = 0.85) -> Material:
    pattern = str(rng.choice(list(choices)))
    a = _pastel(rng, lo, hi)
    b = tuple(float(c * rng.uniform(0.35, 0.75)) for c in a)
    return Material(pattern, a, b, float(rng.uniform(*scale)), int(rng.integers(1 << 30)),
                    float(rng.uniform(0.1, 0.3)))


def _smooth_path(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    """Sum of two random low-frequency sines, in [-1, 1] (n samples)."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for harmonic, amp in ((1.0, 0.7), (2.3, 0.3)):
        phase = rng.uniform(0, 2 * np.pi)
        out += amp * np.sin(2 * np.pi * harmonic * t / period + phase)
    return out


def _footprint_clear(center: np.ndarray, half: np.ndarray, yaw: float, points: np.ndarray,
                     margin: float) -> bool:
    """Return True if no xy point lies within ``margin`` of the rotated rectangle."""
    rel = (points[:, :2] - center[:2]) @ _rot_z(yaw)[:2, :2]
    inside = np.all(np.abs(rel) < half[:2] + margin, axis=1)
    return not inside.any()


def make_indoor_scene(rng: np.random.Generator, n_frames: int
                      ) -> Tuple[Scene, List[np.ndarray]]:
    """
    Make a random room with furniture and a smooth camera loop.

    :param rng: random generator
    :param n_frames: number of camera poses
    :return: (scene, poses)
    """
    size = np.array([rng.uniform(3.0, 10.0), rng.uniform(3.0, 10.0), rng.uniform(2.4, 3.5)])
    lo, hi = np.zeros(3), size
    floor = _material(rng, ('wood', 'tiles', 'checker', 'noise', 'stripes'), (0.15, 0.6))
    ceiling = _material(rng, ('plain', 'noise', 'tiles'), (0.4, 1.2), 0.7, 0.95)
    walls = tuple(_material(rng, ('plain', 'noise', 'stripes', 'bricks', 'tiles'), (0.1, 0.5),
                            0.4, 0.9) for _ in range(4))
    room = Room(lo, hi, floor, ceiling, walls)

    # camera path first, objects avoid it
    cam_h = rng.uniform(1.0, 1.7)
    margin = 0.6
    centre = size[:2] / 2
    amp = np.maximum(size[:2] / 2 - margin, 0.05) * rng.uniform(0.3, 0.9, 2)
    period = rng.uniform(60, 160)
    px = centre[0] + amp[0] * _smooth_path(rng, n_frames, period)
    py = centre[1] + amp[1] * _smooth_path(rng, n_frames, period)
    yaw0 = rng.uniform(0, 2 * np.pi)
    yaw = yaw0 + rng.uniform(0.5, 1.5) * _smooth_path(rng, n_frames, period * 0.8)
    yaw += np.linspace(0, rng.uniform(-1.5, 1.5) * np.pi, n_frames)
    pitch = np.radians(rng.uniform(-20, 0) + 6 * _smooth_path(rng, n_frames, period * 0.6))
    roll = np.radians(2.0 * _smooth_path(rng, n_frames, period * 0.5))
    positions = np.stack([px, py, np.full(n_frames, cam_h)], 1)
    poses = [look_pose(positions[i], yaw[i], pitch[i], roll[i]) for i in range(n_frames)]

    prims: List[Primitive] = [room]
    boxes: List[Box] = []
    for _ in range(int(rng.integers(3, 9))):
        for _attempt in range(12):
            half = np.array([rng.uniform(0.15, 0.8), rng.uniform(0.15, 0.8),
                             rng.uniform(0.15, 1.0)])
            yaw_b = 0.0 if rng.random() < 0.5 else rng.uniform(0, np.pi)
            radius = np.hypot(half[0], half[1])
            if np.any(size[:2] - 2 * radius - 0.05 <= 0):
                continue
            c = np.array([rng.uniform(radius + 0.02, size[0] - radius - 0.02),
                          rng.uniform(radius + 0.02, size[1] - radius - 0.02), half[2]])
            if not _footprint_clear(c, half, yaw_b, positions, 0.45):
                continue
            if any(np.hypot(*(c[:2] - b.center[:2])) < radius + np.hypot(*b.half[:2])
                   for b in boxes):
                continue
            mat = _material(rng, ('plain', 'noise', 'wood', 'stripes', 'checker'), (0.05, 0.3))
            top = _material(rng, ('plain', 'noise', 'wood'), (0.05, 0.3))
            box = Box(c, half, yaw_b, mat, top)
            boxes.append(box)
            break
    prims += boxes
    for _ in range(int(rng.integers(0, 4))):
        r = rng.uniform(0.12, 0.45)
        if boxes and rng.random() < 0.5:
            b = boxes[int(rng.integers(len(boxes)))]
            c = np.array([b.center[0], b.center[1], 2 * b.half[2] + r])
        else:
            c = np.array([rng.uniform(r, size[0] - r), rng.uniform(r, size[1] - r), r])
        if np.min(np.linalg.norm(positions - c, axis=1)) < r + 0.5:
            continue
        mat = _material(rng, ('plain', 'checker', 'stripes', 'noise'), (0.05, 0.2))
        prims.append(Sphere(c, r, mat))
    lights = []
    for _ in range(int(rng.integers(1, 3))):
        pos = (rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1], size[2] - 0.25)
        lights.append(Light('point', tuple(float(x) for x in pos), float(rng.uniform(0.8, 1.4)),
                            _pastel(rng, 0.85, 1.0), float(rng.uniform(3.0, 7.0))))
    scene = Scene(prims, lights, ambient=float(rng.uniform(0.15, 0.35)), far=20.0,
                  preset='indoor', notes={'room_x': float(size[0]), 'room_y': float(size[1]),
                                          'room_z': float(size[2])})
    return scene, poses


def make_street_scene(rng: np.random.Generator, n_frames: int
                      ) -> Tuple[Scene, List[np.ndarray]]:
    """
    Make a random street with facades, cars, poles and trees, and a camera driving along it.

    :param rng: random generator
    :param n_frames: number of camera poses
    :return: (scene, poses)
    """
    lane = rng.uniform(3.0, 3.7)
    n_lanes = int(rng.integers(1, 3))  # per direction
    road_half = lane * n_lanes
    pavement = rng.uniform(2.0, 4.5)
    speed = rng.uniform(0.4, 1.2)  # metres per frame
    length = speed * n_frames
    far = 120.0

    road = Material('road', _pastel(rng, 0.12, 0.22), (0.85, 0.85, 0.8), lane,
                    int(rng.integers(1 << 30)), 0.25)
    side = _material(rng, ('tiles', 'bricks', 'noise'), (0.3, 0.8), 0.35, 0.65)
    prims: List[Primitive] = [Ground(0.0, side, road, road_half)]

    # camera: right-hand lane, slight weave, small yaw/pitch oscillation
    cx = np.arange(n_frames) * speed
    cy = -lane * (n_lanes - 0.5) + 0.3 * _smooth_path(rng, n_frames, 120)
    positions = np.stack([cx, cy, np.full(n_frames, rng.uniform(1.5, 1.8))], 1)
    yaw = np.radians(3.0 * _smooth_path(rng, n_frames, 90) + rng.uniform(-4, 4))
    pitch = np.radians(rng.uniform(-4, 1) + 1.0 * _smooth_path(rng, n_frames, 70))
    roll = np.radians(0.8 * _smooth_path(rng, n_frames, 50))
    poses = [look_pose(positions[i], yaw[i], pitch[i], roll[i]) for i in range(n_frames)]

    x_end = length + far + 20.0
    for sgn in (-1.0, 1.0):
        x = -30.0
        while x < x_end:
            width = rng.uniform(8.0, 25.0)
            depth = rng.uniform(8.0, 20.0)
            height = rng.uniform(5.0, 30.0)
            setback = rng.uniform(0.0, 1.5)
            y = sgn * (road_half + pavement + setback + depth / 2)
            facade = Material('windows', _pastel(rng, 0.3, 0.8), _pastel(rng, 0.05, 0.2),
                              float(rng.uniform(2.5, 4.0)), int(rng.integers(1 << 30)), 0.15)
            prims.append(Box(np.array([x + width / 2, y, height / 2]),
                             np.array([width / 2, depth / 2, height / 2]), 0.0, facade))
            x += width + (rng.uniform(1.0, 6.0) if rng.random() < 0.3 else 0.0)
    # cars: parked at the kerb, in the opposite lanes, and ahead in the camera's lane
    n_cars = int(rng.integers(4, 12))
    for _ in range(n_cars):
        kind = rng.random()
        if kind < 0.5:
            y = float(rng.choice([-1.0, 1.0])) * (road_half - 1.1)
            x = rng.uniform(0, length + 60)
            yaw_c = rng.uniform(-0.05, 0.05) + (0.0 if y < 0 else np.pi)
        elif kind < 0.8:
            y = lane * (rng.integers(0, n_lanes) + 0.5)
            x = rng.uniform(0, length + 80)
            yaw_c = np.pi + rng.uniform(-0.05, 0.05)
        else:
            y = -lane * (n_lanes - 0.5)
            x = length + rng.uniform(8, 40)
            yaw_c = rng.uniform(-0.05, 0.05)
        body_half = np.array([rng.uniform(1.9, 2.4), rng.uniform(0.85, 1.0),
                              rng.uniform(0.35, 0.5)])
        centre = np.array([x, y, 0.25 + body_half[2]])
        if not _footprint_clear(centre, body_half, yaw_c, positions, 0.8):
            continue
        paint = _material(rng, ('plain', 'noise'), (0.5, 1.5), 0.05, 0.9)
        prims.append(Box(centre, body_half, yaw_c, paint))
        cabin_half = np.array([body_half[0] * rng.uniform(0.45, 0.6), body_half[1] * 0.9,
                               rng.uniform(0.25, 0.35)])
        cabin_c = centre + np.array([0, 0, body_half[2] + cabin_half[2]])
        prims.append(Box(cabin_c, cabin_half, yaw_c,
                         Material('plain', (0.08, 0.1, 0.12), detail=0.1)))
    # poles and trees on the pavements
    for _ in range(int(rng.integers(4, 14))):
        sgn = float(rng.choice([-1.0, 1.0]))
        x = rng.uniform(-10, length + far)
        y = sgn * (road_half + rng.uniform(0.5, 1.2))
        if rng.random() < 0.5:
            hgt = rng.uniform(3.0, 7.0)
            prims.append(Box(np.array([x, y, hgt / 2]), np.array([0.08, 0.08, hgt / 2]), 0.0,
                             Material('plain', _pastel(rng, 0.2, 0.5), detail=0.1)))
        else:
            trunk = rng.uniform(1.5, 3.0)
            prims.append(Box(np.array([x, y, trunk / 2]), np.array([0.15, 0.15, trunk / 2]),
                             0.0, Material('noise', (0.25, 0.17, 0.1), (0.12, 0.08, 0.05),
                                           0.2, int(rng.integers(1 << 30)))))
            r = rng.uniform(1.0, 2.2)
            prims.append(Sphere(np.array([x, y, trunk + r * 0.8]), r,
                                Material('noise', (0.15, 0.4, 0.12), (0.05, 0.2, 0.05), 0.4,
                                         int(rng.integers(1 << 30)))))
    elev = np.radians(rng.uniform(25, 65))
    azim = rng.uniform(0, 2 * np.pi)
    sun = (math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev))
    lights = [Light('directional', sun, float(rng.uniform(0.9, 1.3)), (1.0, 0.97, 0.9))]
    scene = Scene(prims, lights, ambient=float(rng.uniform(0.25, 0.4)),
                  sky_top=(0.25, 0.45, 0.85), sky_horizon=(0.75, 0.82, 0.9), far=far,
                  fog=float(rng.uniform(150, 400)), preset='street',
                  notes={'road_half_width': float(road_half), 'speed_m_per_frame': speed})
    return scene, poses


PRESETS: Dict[str, Callable[[np.random.Generator, int], Tuple[Scene, List[np.ndarray]]]] = {
    'indoor': make_indoor_scene,
    'street': make_street_scene,
}
PRESET_HFOV: Dict[str, Tuple[float, float]] = {'indoor': (50.0, 80.0), 'street': (60.0, 95.0)}
PRESET_FAR: Dict[str, float] = {'indoor': 20.0, 'street': 120.0}
_PRESET_CODE = {'indoor': 1, 'street': 2}


@dataclass
class SyntheticSequence:
    """
    One scene, one camera and a smooth trajectory; frames are rendered on demand.

    :param scene: the scene
    :param intrinsics: the camera (shared by every frame)
    :param poses: ``T_world_cam`` per frame
    :param seed: generator seed
    :param index: sequence index
    """

    scene: Scene
    intrinsics: CameraIntrinsics
    poses: List[np.ndarray]
    seed: int
    index: int

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.poses)

    def render(self, frame: int, noise: bool = True) -> RenderResult:
        """
        Render frame ``frame`` (deterministic).

        :param frame: frame index in the sequence
        :param noise: add sensor noise (seeded by seed, sequence, frame)
        :return: the render
        """
        rng = np.random.default_rng([self.seed, self.index, frame, 7]) if noise else None
        return render(self.scene, self.intrinsics, self.poses[frame], rng)


def make_sequence(preset: str = 'indoor', seed: int = 0, index: int = 0, n_frames: int = 100,
                  height: int = 240, width: int = 320, hfov: Optional[float] = None,
                  intrinsics: Optional[CameraIntrinsics] = None) -> SyntheticSequence:
    """
    Build sequence ``index`` of a seed: a random scene of ``preset``, a camera and a trajectory.

    :param preset: 'indoor' or 'street'
    :param seed: generator seed
    :param index: sequence number (each gives a different scene)
    :param n_frames: trajectory length
    :param height: image height
    :param width: image width
    :param hfov: fixed horizontal FOV in degrees (None: random in the preset's range)
    :param intrinsics: fixed camera (overrides height, width and hfov)
    :return: the sequence
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown synthetic preset {preset!r}; choose from '
                         f'{", ".join(sorted(PRESETS))}')
    if n_frames < 1:
        raise ValueError(f'a sequence needs at least one frame, got {n_frames}')
    if height < 8 or width < 8:
        raise ValueError(f'image size {width}x{height} is too small (min 8x8)')
    rng = np.random.default_rng([int(seed), int(index), _PRESET_CODE[preset]])
    if intrinsics is None:
        rng_k = np.random.default_rng([int(seed), int(index), _PRESET_CODE[preset], 99])
        lo_hi = PRESET_HFOV[preset] if hfov is None else (float(hfov), float(hfov))
        intrinsics = random_intrinsics(rng_k, int(height), int(width), lo_hi)
    scene, poses = PRESETS[preset](rng, int(n_frames))
    return SyntheticSequence(scene, intrinsics.validate(), poses, int(seed), int(index))


@register_dataset('synthetic')
class SyntheticDataset(DepthDataset):
    """
    Synthetic frames rendered on the fly (dataset ``synthetic``).

    Frame ``i`` is frame ``i % frames_per_sequence`` of sequence ``i // frames_per_sequence``
    (see :func:`make_sequence`).

    ``max_depth`` is the preset's ``far`` (indoor 20 m, street 120 m); sky is invalid (0).

    :param preset: 'indoor' or 'street'
    :param length: number of frames
    :param seed: scene seed (also seeds augmentation)
    :param height: image height
    :param width: image width
    :param frames_per_sequence: frames per scene
    :param hfov: fixed horizontal FOV (None: random per sequence)
    :param first_sequence: offset of the sequence numbers (for disjoint train/val splits)
    :param augment: see :class:`DepthDataset`
    :param size: see :class:`DepthDataset`
    """

    def __init__(self, preset: str = 'indoor', length: int = 1000, seed: int = 0,
                 height: int = 240, width: int = 320, frames_per_sequence: int = 50,
                 hfov: Optional[float] = None, first_sequence: int = 0, augment: Any = None,
                 size: Optional[Tuple[int, int]] = None) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        if preset not in PRESETS:
            raise ValueError(f'unknown synthetic preset {preset!r}; choose from '
                             f'{", ".join(sorted(PRESETS))}')
        if length < 0 or frames_per_sequence < 1:
            raise ValueError('length must be >= 0 and frames_per_sequence >= 1')
        self.preset = preset
        self.length = int(length)
        self.height, self.width = int(height), int(width)
        self.frames_per_sequence = int(frames_per_sequence)
        self.hfov = hfov
        self.first_sequence = int(first_sequence)
        self.max_depth = PRESET_FAR[preset]
        self._cache: Dict[int, SyntheticSequence] = {}

    def __len__(self) -> int:
        """Return the number of frames."""
        return self.length

    def sequence(self, index: int) -> SyntheticSequence:
        """Return (and cache) sequence ``index``."""
        seq = self._cache.get(index)
        if seq is None:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            seq = make_sequence(self.preset, self.seed, index, self.frames_per_sequence,
                                self.height, self.width, self.hfov)
            self._cache[index] = seq
        return seq

    def load_frame(self, index: int) -> Frame:
        """Render frame ``index``; see :class:`DepthDataset`."""
        s, f = divmod(index, self.frames_per_sequence)
        seq = self.sequence(self.first_sequence + s)
        out = seq.render(f)
        return Frame(rgb=out.rgb, depth=out.depth, intrinsics=seq.intrinsics,
                     name=f'{self.preset}-{self.seed}-{self.first_sequence + s:04d}-{f:04d}')
