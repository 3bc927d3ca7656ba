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
Ray-traceable primitives and the first-hit ray cast.

Each primitive intersects world rays (:meth:`Primitive.intersect` returns the ray parameter of
the first hit), gives unit normals and albedo at hit points, and bounds itself with 8 corners so
the caster can restrict it to its screen rectangle.  Camera rays have unit z in the camera frame,
so the ray parameter of a hit **is** its z-depth.
"""

from dataclasses import dataclass
import functools
import math
from typing import Optional, Sequence, Tuple

import numpy as np

from disdepth_core.data.synthetic.textures import Albedo
from disdepth_core.geometry import CameraIntrinsics

# ----------------------------------------------------------------------------- primitives


def rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class Primitive:
    """
    A ray-traceable object: intersection, surface normal + albedo, bounding corners.

    ``occluder``: casts shadows; ``emission``: light the surface emits (times its albedo).
    """

    occluder = True
    emission = 0.0

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
    floor: Albedo
    ceiling: Albedo
    walls: Tuple[Albedo, Albedo, Albedo, Albedo]
    occluder = False

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        with np.errstate(divide='ignore', invalid='ignore'):
            t = np.where(d > 0, (self.hi - o) / d, (self.lo - o) / d)
        t = np.where(d == 0, np.inf, t)
        return np.minimum(np.minimum(t[..., 0], t[..., 1]), t[..., 2])

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
    material: Albedo
    road: Optional[Albedo] = None
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
    :param emission: emitted light (times the albedo; 0: none)
    """

    center: np.ndarray
    half: np.ndarray
    yaw: float
    material: Albedo
    top: Optional[Albedo] = None
    emission: float = 0.0

    def __post_init__(self) -> None:
        """Precompute the world->box rotation."""
        self.center = np.asarray(self.center, np.float64)
        self.half = np.asarray(self.half, np.float64)
        self.rot = rot_z(self.yaw)  # box -> world

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        ol = (o - self.center) @ self.rot
        dl = d @ self.rot
        with np.errstate(divide='ignore', invalid='ignore'):
            t1 = (-self.half - ol) / dl
            t2 = (self.half - ol) / dl
        lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
        # explicit 3-way max / min: exact like .max(axis=-1), far faster on a short last axis
        tnear = np.maximum(np.maximum(lo[..., 0], lo[..., 1]), lo[..., 2])
        tfar = np.minimum(np.minimum(hi[..., 0], hi[..., 1]), hi[..., 2])
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
    material: Albedo

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


@dataclass
class Cylinder(Primitive):
    """
    A closed vertical cylinder: axis through ``center`` (x, y), from ``center`` z up by ``height``.

    Texture coordinates: arc length and height on the side, world x / y on the caps.

    :param center: centre of the bottom cap (world)
    :param radius: radius
    :param height: height (> 0)
    :param material: side material
    :param top: material of the caps (None: same as the side)
    :param emission: emitted light (times the albedo; 0: none)
    """

    center: np.ndarray
    radius: float
    height: float
    material: Albedo
    top: Optional[Albedo] = None
    emission: float = 0.0

    def __post_init__(self) -> None:
        """Normalise the centre."""
        self.center = np.asarray(self.center, np.float64)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        """See :class:`Primitive`."""
        ox = o[..., 0] - self.center[0]
        oy = o[..., 1] - self.center[1]
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        z0, z1 = self.center[2], self.center[2] + self.height
        a = dx * dx + dy * dy
        b = ox * dx + oy * dy
        c = ox * ox + oy * oy - self.radius ** 2
        disc = b * b - a * c
        with np.errstate(invalid='ignore', divide='ignore'):
            t_side = (-b - np.sqrt(disc)) / a
            z_side = o[..., 2] + t_side * dz
            side_ok = (disc >= 0) & (a > 0) & (t_side > 1e-6) & (z_side >= z0) & (z_side <= z1)
            best = np.where(side_ok, t_side, np.inf)
            for zc in (z0, z1):
                t_cap = (zc - o[..., 2]) / dz
                px = ox + t_cap * dx
                py = oy + t_cap * dy
                cap_ok = (dz != 0) & (t_cap > 1e-6) & (px * px + py * py <= self.radius ** 2)
                best = np.where(cap_ok & (t_cap < best), t_cap, best)
        return best

    def surface(self, p: np.ndarray, d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """See :class:`Primitive`."""
        rel = p - self.center
        rho = np.hypot(rel[:, 0], rel[:, 1])
        d_side = np.abs(rho - self.radius)
        d_bottom = np.abs(rel[:, 2])
        d_top = np.abs(rel[:, 2] - self.height)
        part = np.argmin(np.stack([d_side, d_bottom, d_top], 1), axis=1)
        normals = np.zeros(p.shape, np.float32)
        side = part == 0
        safe = np.maximum(rho, 1e-12)
        normals[side, 0] = rel[side, 0] / safe[side]
        normals[side, 1] = rel[side, 1] / safe[side]
        normals[part == 1, 2] = -1.0
        normals[part == 2, 2] = 1.0
        albedo = np.zeros(p.shape, np.float32)
        if side.any():
            arc = np.arctan2(rel[side, 1], rel[side, 0]) * self.radius
            albedo[side] = self.material.albedo(arc, rel[side, 2])
        caps = ~side
        if caps.any():
            mat = self.top if self.top is not None else self.material
            albedo[caps] = mat.albedo(p[caps, 0], p[caps, 1])
        return normals, albedo

    def corners(self) -> np.ndarray:
        """See :class:`Primitive`."""
        r, h = self.radius, self.height
        return self.center + np.array([[sx * r, sy * r, sz * h] for sx in (-1, 1)
                                       for sy in (-1, 1) for sz in (0, 1)], np.float64)


# ----------------------------------------------------------------------------- ray casting


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


def cast(primitives: Sequence[Primitive], intrinsics: CameraIntrinsics, pose: np.ndarray
         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """
    Cast one ray per pixel and keep the first hit over all primitives.

    :param primitives: the objects; a hit's id is its index here
    :param intrinsics: validated camera intrinsics (their width/height set the image size)
    :param pose: 4 x 4 ``T_world_cam`` of the optical frame
    :return: (camera centre (3,), world rays H x W x 3 with unit camera z, ray parameter = z-depth
        of the first hit H x W (inf: no hit), primitive id H x W int32 (-1: no hit))
    """
    k = intrinsics
    pose = np.asarray(pose, np.float64)
    if pose.shape != (4, 4) or not np.all(np.isfinite(pose)):
        raise ValueError(f'camera pose must be a finite 4x4 matrix, got shape {pose.shape}')
    rot = pose[:3, :3]
    origin = pose[:3, 3]
    rays = _camera_rays(k) @ rot.T  # H x W x 3 world directions, unit camera z
    h, w = k.height, k.width
    best_t = np.full((h, w), np.inf)
    best_id = np.full((h, w), -1, np.int32)
    for i, prim in enumerate(primitives):
        rect = _screen_rect(prim.corners(), pose, k)
        if rect is None:
            continue
        v0, v1, u0, u1 = rect
        t = prim.intersect(origin, rays[v0:v1, u0:u1])
        sub_t = best_t[v0:v1, u0:u1]
        closer = t < sub_t
        sub_t[closer] = t[closer]
        best_id[v0:v1, u0:u1][closer] = i
    return origin, rays, best_t, best_id
