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
``v2`` scene sampling: furnished rooms, corridors and open-plan spaces, and a ``v2`` street.

Indoor layouts (:data:`LAYOUTS`): a ``room`` (3-8 m x 3-8 m x 2.4-3.2 m), a ``corridor`` (8-18 m
long, 1.5-2.6 m wide) or an ``open_plan`` space (8-16 m x 6-12 m x 2.7-3.6 m with pillars and
partitions).  Walls carry doors, windows, pictures, skirting and (corridors) hand rails; the
floor carries tables with chairs, sofas, shelves full of books, cabinets, lamps and plants, with
clutter on the tables and cabinets (:mod:`disdepth_core.data.synthetic.furniture`).  Materials
mix procedural patterns with patches of real photographs (:class:`Palette`), so neither the
texture nor its scale tells the depth.  Light: 1-4 ceiling lights with visible panels and soft
shadows, lamps, an optional sun through the windows, low ambient light with ambient occlusion.
The camera is floor-level (robot vacuum), robot-height or eye-level, with a realistic pitch.
"""

import math
from typing import Callable, cast, Dict, List, Optional, Sequence, Tuple

import numpy as np

from disdepth_core.data.synthetic.cameras import look_pose
from disdepth_core.data.synthetic.furniture import chair
from disdepth_core.data.synthetic.furniture import clutter
from disdepth_core.data.synthetic.furniture import FLOOR_ITEMS
from disdepth_core.data.synthetic.furniture import Item
from disdepth_core.data.synthetic.furniture import partition
from disdepth_core.data.synthetic.furniture import pillar
from disdepth_core.data.synthetic.furniture import Placement
from disdepth_core.data.synthetic.furniture import rail
from disdepth_core.data.synthetic.furniture import table
from disdepth_core.data.synthetic.furniture import WALL_ITEMS
from disdepth_core.data.synthetic.geometry import Box
from disdepth_core.data.synthetic.geometry import Cylinder
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.geometry import Room
from disdepth_core.data.synthetic.geometry import rot_z
from disdepth_core.data.synthetic.geometry import Sphere
from disdepth_core.data.synthetic.photos import EMPTY_BANK
from disdepth_core.data.synthetic.photos import PhotoBank
from disdepth_core.data.synthetic.photos import random_patch
from disdepth_core.data.synthetic.sampling import footprint_clear
from disdepth_core.data.synthetic.sampling import make_street_scene
from disdepth_core.data.synthetic.sampling import random_material
from disdepth_core.data.synthetic.sampling import smooth_path
from disdepth_core.data.synthetic.shading import Light
from disdepth_core.data.synthetic.shading import Scene
from disdepth_core.data.synthetic.textures import Albedo
from disdepth_core.data.synthetic.textures import Color
from disdepth_core.data.synthetic.textures import Material
from disdepth_core.data.synthetic.textures import PATTERNS

LAYOUTS: Dict[str, float] = {'room': 0.45, 'corridor': 0.2, 'open_plan': 0.35}
# camera classes: (probability, height range m, pitch range deg)
CAMERAS: Dict[str, Tuple[float, Tuple[float, float], Tuple[float, float]]] = {
    'floor': (0.25, (0.08, 0.35), (-6.0, 10.0)),
    'robot': (0.3, (0.35, 0.95), (-18.0, 4.0)),
    'eye': (0.45, (1.35, 1.8), (-32.0, 3.0)),
}
# role -> (procedural patterns, pattern period range m, brightness range, photo width range m)
ROLES: Dict[str, Tuple[Sequence[str], Tuple[float, float], Tuple[float, float],
                       Tuple[float, float]]] = {
    'floor': (('wood', 'tiles', 'checker', 'noise', 'stripes', 'plain'), (0.1, 1.0),
              (0.12, 0.7), (0.5, 4.0)),
    'wall': (('plain', 'noise', 'stripes', 'bricks', 'tiles', 'wood'), (0.1, 1.2), (0.3, 0.92),
             (0.6, 5.0)),
    'ceiling': (('plain', 'noise', 'tiles'), (0.3, 1.2), (0.55, 0.95), (0.8, 4.0)),
    'wood': (('wood', 'noise', 'plain', 'stripes'), (0.03, 0.3), (0.15, 0.75), (0.2, 1.5)),
    'paint': (('plain', 'noise', 'checker', 'stripes', 'tiles'), (0.05, 0.4), (0.15, 0.95),
              (0.2, 1.5)),
    'metal': (('plain', 'noise'), (0.02, 0.2), (0.08, 0.8), (0.1, 0.6)),
    'fabric': (('noise', 'checker', 'stripes', 'plain', 'tiles'), (0.02, 0.2), (0.08, 0.8),
               (0.2, 1.2)),
    'object': (tuple(sorted(PATTERNS)), (0.01, 0.1), (0.05, 0.95), (0.05, 0.4)),
    'books': (('stripes',), (0.012, 0.05), (0.1, 0.8), (0.1, 0.6)),
    'dark': (('plain', 'noise'), (0.02, 0.2), (0.02, 0.12), (0.1, 0.5)),
    'pane': (('noise', 'plain'), (0.3, 2.0), (0.5, 0.95), (0.5, 3.0)),
    'picture': (tuple(sorted(PATTERNS)), (0.02, 0.3), (0.1, 0.9), (0.25, 1.2)),
    'lampshade': (('plain', 'noise'), (0.02, 0.1), (0.6, 0.95), (0.2, 0.6)),
    'plant': (('noise',), (0.03, 0.15), (0.1, 0.4), (0.2, 0.8)),
    'pot': (('plain', 'noise', 'stripes'), (0.02, 0.1), (0.2, 0.8), (0.1, 0.5)),
}
_PHOTO_BIAS = {'picture': 0.95, 'pane': 0.5, 'ceiling': 0.4, 'lampshade': 0.2, 'books': 0.6,
               'plant': 0.3, 'dark': 0.2}


def _colour(rng: np.random.Generator, lo: float, hi: float) -> Color:
    """Return a random colour of brightness lo..hi: mostly muted, sometimes saturated."""
    base = rng.uniform(lo, hi)
    sat = rng.uniform(0.0, 0.25) if rng.random() < 0.75 else rng.uniform(0.3, 0.8)
    hue = rng.uniform(0, 2 * math.pi)
    rgb = [base * (1.0 + sat * math.cos(hue - k * 2 * math.pi / 3)) for k in range(3)]
    return tuple(float(np.clip(c, 0.01, 0.98)) for c in rgb)  # type: ignore[return-value]


class Palette:
    """
    Materials by role ('floor', 'wall', 'wood', ...): procedural or a photo patch.

    :param rng: random generator (consumed as materials are drawn)
    :param bank: photographs (empty: procedural only)
    :param photo_prob: probability that a material is a photo patch (per role it is biased:
        pictures are nearly always photographs)
    """

    def __init__(self, rng: np.random.Generator, bank: PhotoBank, photo_prob: float) -> None:
        """Keep the generator, bank and mixing probability."""
        self.rng = rng
        self.bank = bank
        self.photo_prob = float(photo_prob) if len(bank) else 0.0

    def __call__(self, role: str) -> Albedo:
        """Return a new material for ``role``."""
        rng = self.rng
        patterns, period, bright, photo_width = ROLES[role]
        if self.photo_prob <= 0:
            p = 0.0
        elif role == 'picture':
            p = _PHOTO_BIAS[role]
        elif role in _PHOTO_BIAS:  # capped: few photographic lampshades, plants, ...
            p = min(_PHOTO_BIAS[role], 1.2 * self.photo_prob)
        else:
            p = self.photo_prob
        if p > 0 and rng.random() < p:
            return random_patch(rng, self.bank, photo_width)
        if role == 'books':
            a = _colour(rng, *bright)
            b = _colour(rng, *bright)
            return Material('stripes', a, b, float(rng.uniform(*period)),
                            int(rng.integers(1 << 30)), float(rng.uniform(0.1, 0.3)))
        if role == 'plant':
            g = rng.uniform(*bright)
            return Material('noise', (g * 0.45, g, g * 0.3), (g * 0.2, g * 0.5, g * 0.15),
                            float(rng.uniform(*period)), int(rng.integers(1 << 30)), 0.3)
        if role == 'pane':
            sky = _colour(rng, *bright)
            return Material(str(rng.choice(list(patterns))), sky,
                            tuple(c * 0.6 for c in sky),  # type: ignore[arg-type]
                            float(rng.uniform(*period)), int(rng.integers(1 << 30)), 0.1)
        m = random_material(rng, patterns, period, *bright)
        if rng.random() < 0.5:  # recolour: v1 colours are pastel; real rooms are not only that
            a = _colour(rng, *bright)
            b = cast(Color, tuple(float(c * rng.uniform(0.35, 0.8)) for c in a))
            m = Material(m.pattern, a, b, m.scale, m.seed, m.detail)
        return m


def _translate(item: Item, delta: np.ndarray) -> Item:
    """Move every part, light and surface of ``item`` by ``delta`` (x, y, z)."""
    for part in item.parts:
        if isinstance(part, (Box, Cylinder, Sphere)):
            part.center = part.center + delta
    item.center = item.center + delta[:2]
    item.lights = [Light(li.kind, cast(Tuple[float, float, float],
                                       tuple(float(v) for v in np.asarray(li.vector) + delta)),
                         li.intensity, li.color, li.falloff, li.radius) for li in item.lights]
    for s in item.surfaces:
        s.center = s.center + delta
    return item


def _overlap(a: Item, b: Item, margin: float = 0.05) -> bool:
    """Separating-axis test of two footprints (rotated rectangles grown by ``margin``)."""
    ca, cb = a.center[:2], b.center[:2]
    ra, rb = rot_z(a.yaw)[:2, :2], rot_z(b.yaw)[:2, :2]
    ha, hb = a.half[:2] + margin, b.half[:2] + margin
    d = cb - ca
    for axis in (ra[:, 0], ra[:, 1], rb[:, 0], rb[:, 1]):
        pa = abs(ha[0] * (ra[:, 0] @ axis)) + abs(ha[1] * (ra[:, 1] @ axis))
        pb = abs(hb[0] * (rb[:, 0] @ axis)) + abs(hb[1] * (rb[:, 1] @ axis))
        if abs(d @ axis) > pa + pb:
            return False
    return True


class _Layout:
    """Placement bookkeeping: room size, camera path, placed items and wall occupancy."""

    def __init__(self, size: np.ndarray, path: np.ndarray) -> None:
        """Start with an empty room."""
        self.size = size
        self.path = path
        self.items: List[Item] = []
        self.low: Dict[int, List[Tuple[float, float]]] = {w: [] for w in range(4)}
        self.high: Dict[int, List[Tuple[float, float]]] = {w: [] for w in range(4)}

    def wall(self, w: int, s: float) -> Tuple[np.ndarray, float, float]:
        """Return (point on wall ``w`` at ``s`` along it, yaw facing inwards, wall length)."""
        x, y = self.size[0], self.size[1]
        if w == 0:
            return np.array([s, 0.0, 0.0]), 0.0, x
        if w == 1:
            return np.array([x - s, y, 0.0]), math.pi, x
        if w == 2:
            return np.array([0.0, y - s, 0.0]), -math.pi / 2, y
        return np.array([x, s, 0.0]), math.pi / 2, y

    def wall_length(self, w: int) -> float:
        """Return the length of wall ``w``."""
        return float(self.size[0] if w in (0, 1) else self.size[1])

    def free_on_wall(self, rng: np.random.Generator, w: int, half: float,
                     rows: Sequence[Dict[int, List[Tuple[float, float]]]]) -> Optional[float]:
        """Return a position along wall ``w`` where an item of half width ``half`` fits."""
        length = self.wall_length(w)
        if length < 2 * half + 0.3:
            return None
        for _ in range(8):
            s = rng.uniform(half + 0.15, length - half - 0.15)
            if all(s + half + 0.05 < a or s - half - 0.05 > b for row in rows
                   for a, b in row[w]):
                return float(s)
        return None

    def fits(self, item: Item, margin: float = 0.45) -> bool:
        """Return True if ``item`` is inside the room, off the camera path and overlaps nothing."""
        corners = np.array([[sx, sy] for sx in (-1, 1) for sy in (-1, 1)]) * item.half[:2]
        world = item.center + corners @ rot_z(item.yaw)[:2, :2].T
        if np.any(world < 0.02) or np.any(world > self.size[:2] - 0.02):
            return False
        if not footprint_clear(np.append(item.center, 0.0), item.half, item.yaw, self.path,
                               margin):
            return False
        return not any(_overlap(item, other) for other in self.items if other.half[1] > 0)


def _camera_path(rng: np.random.Generator, layout: str, size: np.ndarray,
                 n_frames: int) -> Tuple[np.ndarray, List[np.ndarray], str]:
    """Draw the camera class and a smooth trajectory; return (positions, poses, class)."""
    names = list(CAMERAS)
    cls = str(rng.choice(names, p=[CAMERAS[n][0] for n in names]))
    _, (h0, h1), (p0, p1) = CAMERAS[cls]
    height = rng.uniform(h0, h1)
    period = rng.uniform(60, 160)
    if layout == 'corridor':
        speed = rng.uniform(0.02, 0.08)
        direction = 1.0 if rng.random() < 0.7 else -1.0
        x_start = rng.uniform(0.6, max(0.7, size[0] - 0.6 - speed * n_frames))
        xs = x_start + speed * np.arange(n_frames)
        if direction < 0:
            xs = size[0] - xs
        xs = np.clip(xs, 0.5, size[0] - 0.5)
        ys = size[1] / 2 + (size[1] / 2 - 0.45) * 0.6 * smooth_path(rng, n_frames, period)
        yaw0 = 0.0 if direction > 0 else math.pi
        yaw = yaw0 + math.radians(rng.uniform(-25, 25)) + 0.35 * smooth_path(rng, n_frames,
                                                                             period * 0.8)
    else:
        margin = 0.6
        centre = size[:2] / 2
        amp = np.maximum(size[:2] / 2 - margin, 0.05) * rng.uniform(0.3, 0.9, 2)
        xs = centre[0] + amp[0] * smooth_path(rng, n_frames, period)
        ys = centre[1] + amp[1] * smooth_path(rng, n_frames, period)
        yaw = (rng.uniform(0, 2 * np.pi) + rng.uniform(0.5, 1.5) * smooth_path(
            rng, n_frames, period * 0.8) + np.linspace(0, rng.uniform(-1.5, 1.5) * np.pi,
                                                       n_frames))
    pitch = np.radians(rng.uniform(p0, p1) + 4.0 * smooth_path(rng, n_frames, period * 0.6))
    roll = np.radians((1.0 if cls == 'eye' else 0.5) * smooth_path(rng, n_frames, period * 0.5))
    z = height + (0.02 if cls != 'eye' else 0.04) * smooth_path(rng, n_frames, period * 0.3)
    positions = np.stack([xs, ys, z], 1)
    poses = [look_pose(positions[i], yaw[i], pitch[i], roll[i]) for i in range(n_frames)]
    return positions, poses, cls


def _place_on_wall(rng: np.random.Generator, lay: _Layout, build: Callable[..., Item],
                   mat: Palette, rows: Sequence[str], against: bool, *args: object
                   ) -> Optional[Item]:
    """Build an item at a free spot of a random wall (``against``: its back to the wall)."""
    for _ in range(4):
        w = int(rng.integers(4))
        # build first at the wall origin to learn its size, then find a slot and move it
        point, yaw, _ = lay.wall(w, 0.0)
        item = build(rng, mat, Placement(point, yaw), *args)
        half = float(item.half[0])
        occupancy = [lay.low if r == 'low' else lay.high for r in rows]
        s = lay.free_on_wall(rng, w, half, occupancy)
        if s is None:
            continue
        target, _, _ = lay.wall(w, s)
        inward = rot_z(yaw)[:, 1]
        delta = target - point + (inward * (item.half[1] + 0.025) if against else 0.0)
        item = _translate(item, delta)
        if against and not lay.fits(item, 0.4):
            continue
        for row in occupancy:
            row[w].append((s - half, s + half))
        return item
    return None


def _table_group(rng: np.random.Generator, lay: _Layout, mat: Palette) -> List[Item]:
    """Place a free-standing table with chairs around it."""
    for _ in range(6):
        c = np.append(rng.uniform(0.6, lay.size[:2] - 0.6), 0.0)
        yaw = 0.0 if rng.random() < 0.6 else rng.uniform(0, math.pi)
        t = table(rng, mat, Placement(c, yaw))
        if not lay.fits(t):
            continue
        group = [t]
        lay.items.append(t)
        for side in (-1.0, 1.0):
            for _ in range(int(rng.integers(0, 3))):
                x = rng.uniform(-t.half[0] * 0.7, t.half[0] * 0.7)
                pos = Placement(c, yaw).point((x, side * (t.half[1] + rng.uniform(0.12, 0.3)),
                                               0.0))
                ch = chair(rng, mat, Placement(pos, yaw + (math.pi if side > 0 else 0.0)
                                               + rng.uniform(-0.4, 0.4)))
                if lay.fits(ch, 0.35):
                    lay.items.append(ch)
                    group.append(ch)
        return group
    return []


def _free_item(rng: np.random.Generator, lay: _Layout, mat: Palette, kind: str,
               *args: object) -> Optional[Item]:
    """Place a free-standing item of ``kind`` at a random spot that fits."""
    builders: Dict[str, Callable[..., Item]] = {'pillar': pillar, 'partition': partition}
    build = builders.get(kind) or FLOOR_ITEMS[kind]
    for _ in range(6):
        c = np.append(rng.uniform(0.4, lay.size[:2] - 0.4), 0.0)
        yaw = 0.0 if rng.random() < 0.5 else rng.uniform(0, 2 * math.pi)
        item = build(rng, mat, Placement(c, yaw), *args)
        if lay.fits(item, 0.4):
            lay.items.append(item)
            return item
    return None


def make_indoor_scene_v2(rng: np.random.Generator, n_frames: int,
                         photos: PhotoBank = EMPTY_BANK) -> Tuple[Scene, List[np.ndarray]]:
    """
    Make a random furnished interior and a camera trajectory (see the module docstring).

    :param rng: random generator
    :param n_frames: number of camera poses
    :param photos: photographs for textures (empty: procedural textures only)
    :return: (scene, poses)
    """
    names = list(LAYOUTS)
    layout = str(rng.choice(names, p=[LAYOUTS[n] for n in names]))
    if layout == 'room':
        size = np.array([rng.uniform(3.0, 8.0), rng.uniform(3.0, 8.0), rng.uniform(2.4, 3.2)])
    elif layout == 'corridor':
        size = np.array([rng.uniform(8.0, 18.0), rng.uniform(1.5, 2.6), rng.uniform(2.4, 3.0)])
    else:
        size = np.array([rng.uniform(8.0, 16.0), rng.uniform(6.0, 12.0),
                         rng.uniform(2.7, 3.6)])
    mat = Palette(rng, photos, rng.uniform(0.3, 0.8))
    wall = mat('wall')
    walls = tuple(wall if rng.random() < 0.6 else mat('wall') for _ in range(4))
    room = Room(np.zeros(3), size, mat('floor'), mat('ceiling'), walls)  # type: ignore[arg-type]
    path, poses, cam = _camera_path(rng, layout, size, n_frames)
    lay = _Layout(size, path)
    wall_items: List[Item] = []

    def on_wall(kind: str, n: int, rows: Sequence[str], against: bool = False) -> None:
        for _ in range(n):
            builder = WALL_ITEMS.get(kind) or FLOOR_ITEMS[kind]
            item = _place_on_wall(rng, lay, builder, mat, rows, against)
            if item is not None:
                (lay.items if against else wall_items).append(item)

    n_doors = {'room': (0, 3), 'corridor': (2, 7), 'open_plan': (1, 4)}[layout]
    n_windows = {'room': (0, 4), 'corridor': (0, 2), 'open_plan': (1, 6)}[layout]
    on_wall('door', int(rng.integers(*n_doors)), ('low', 'high'))
    on_wall('window', int(rng.integers(*n_windows)), ('high',))
    on_wall('picture', int(rng.integers(0, 4)), ('high',))
    n_against = {'room': (1, 5), 'corridor': (0, 3), 'open_plan': (2, 7)}[layout]
    for _ in range(int(rng.integers(*n_against))):
        kind = str(rng.choice(['shelf', 'cabinet', 'sofa', 'plant'], p=[0.4, 0.35, 0.15, 0.1]))
        if layout == 'corridor' and kind == 'sofa':
            kind = 'cabinet'
        on_wall(kind, 1, ('low',), against=True)
    if layout == 'corridor':
        for w in (0, 1):
            if rng.random() < 0.35:
                length = lay.wall_length(w) * rng.uniform(0.4, 0.9)
                item = _place_on_wall(rng, lay, rail, mat, ('low',), False, length)
                if item is not None:
                    wall_items.append(item)
    free: List[str] = []
    if layout == 'room':
        free += ['table'] * int(rng.integers(0, 3)) + ['coffee_table'] * int(rng.integers(0, 2))
        free += ['lamp'] * int(rng.random() < 0.4) + ['plant'] * int(rng.integers(0, 2))
        free += ['chair'] * int(rng.integers(0, 2))
    elif layout == 'open_plan':
        free += ['table'] * int(rng.integers(1, 5)) + ['pillar'] * int(rng.integers(0, 5))
        free += ['partition'] * int(rng.integers(0, 4)) + ['plant'] * int(rng.integers(0, 3))
        free += ['lamp'] * int(rng.random() < 0.3) + ['sofa'] * int(rng.random() < 0.4)
    else:
        free += ['plant'] * int(rng.random() < 0.3)
    for kind in free:
        if kind == 'table':
            _table_group(rng, lay, mat)
        elif kind in ('pillar', 'partition'):
            _free_item(rng, lay, mat, kind, float(size[2]))
        else:
            _free_item(rng, lay, mat, kind)
    items = lay.items + wall_items
    for item in list(items):
        for surf in item.surfaces:
            items += clutter(rng, mat, surf, 4 if item.kind == 'table' else 3)

    prims: List[Primitive] = [room]
    kinds = ['room']
    skirt_h, skirt_d = rng.uniform(0.05, 0.12), rng.uniform(0.008, 0.02)
    skirt = mat('paint') if rng.random() < 0.7 else wall
    if rng.random() < 0.75:
        for w in range(4):
            point, yaw, length = lay.wall(w, 0.0)
            p = Placement(point, yaw)
            prims.append(p.box((length / 2, skirt_d / 2, skirt_h / 2),
                               (length / 2, skirt_d / 2, skirt_h / 2), skirt))
            kinds.append('skirting')
    for item in items:
        prims += item.parts
        kinds += [item.kind] * len(item.parts)
    flush = {id(part) for item in wall_items for part in item.parts}
    for part, kind in zip(prims, kinds):
        if id(part) in flush or kind == 'skirting':
            part.occluder = False  # flush with a wall: a shadow sliver not worth its cost

    # light: ceiling lights (visible panels), lamps, maybe sun through the windows
    n_ceiling = {'room': (1, 3), 'corridor': (2, 5), 'open_plan': (2, 5)}[layout]
    temp = rng.uniform(0.0, 1.0)  # 0 warm .. 1 cool, shared by the ceiling lights
    base_col = (1.0, 0.82 + 0.16 * temp, 0.62 + 0.36 * temp)
    lights: List[Light] = []
    n_l = int(rng.integers(*n_ceiling))
    if layout == 'corridor':
        xs = (np.arange(n_l) + 0.5) / n_l * size[0]
        spots = [(x, size[1] / 2) for x in xs]
    else:
        spots = [(rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1])
                 for _ in range(n_l)]
    panel = Material('plain', (0.95, 0.95, 0.92), detail=0.02)
    for x, y in spots:
        radius = rng.uniform(0.05, 0.3)
        lights.append(Light('point', (float(x), float(y), float(size[2] - 0.12)),
                            float(rng.uniform(0.5, 1.2)),
                            cast(Color, tuple(float(c * rng.uniform(0.95, 1.05))
                                              for c in base_col)),
                            float(rng.uniform(2.5, 7.0)), float(radius)))
        shape = Box(np.array([x, y, size[2] - 0.015]), np.array([radius + 0.1, radius + 0.1,
                                                                 0.015]),
                    0.0 if rng.random() < 0.7 else rng.uniform(0, math.pi), panel,
                    emission=float(rng.uniform(2.0, 4.0)))
        shape.occluder = False
        prims.append(shape)
        kinds.append('ceiling_light')
    for item in items:
        lights += item.lights
    strongest = sorted(range(len(lights)), key=lambda i: -lights[i].intensity)[:3]
    lights = [li if i in strongest else Light(li.kind, li.vector, li.intensity, li.color,
                                              li.falloff, li.radius, False)
              for i, li in enumerate(lights)]
    windows = [i for i in wall_items if i.kind == 'window']
    if windows and rng.random() < 0.6:
        window = windows[int(rng.integers(len(windows)))]
        inward = rot_z(window.yaw)[:, 1]
        elev = math.radians(rng.uniform(15, 55))
        sun = -inward * math.cos(elev) + np.array([0.0, 0.0, math.sin(elev)])
        lights.append(Light('directional',
                            cast(Tuple[float, float, float],
                                 tuple(float(v) for v in sun / np.linalg.norm(sun))),
                            float(rng.uniform(0.2, 0.8)), (1.0, 0.96, 0.88)))
    scene = Scene(prims, lights, ambient=float(rng.uniform(0.05, 0.28)), far=20.0,
                  preset='indoor', shadow_samples=3, ao=float(rng.uniform(0.5, 1.0)),
                  kinds=kinds,
                  notes={'room_x': float(size[0]), 'room_y': float(size[1]),
                         'room_z': float(size[2]),
                         'camera_height': float(np.mean(path[:, 2])),
                         'primitives': float(len(prims))})
    scene.notes[f'layout_{layout}'] = 1.0
    scene.notes[f'camera_{cam}'] = 1.0
    return scene, poses


def make_street_scene_v2(rng: np.random.Generator, n_frames: int,
                         photos: PhotoBank = EMPTY_BANK) -> Tuple[Scene, List[np.ndarray]]:
    """
    Make the ``v1`` street geometry with ``v2`` light: ambient occlusion (and the ``v2`` camera).

    :param rng: random generator
    :param n_frames: number of camera poses
    :param photos: unused (the street keeps its procedural facades)
    :return: (scene, poses)
    """
    scene, poses = make_street_scene(rng, n_frames)
    scene.ao = float(rng.uniform(0.3, 0.8))
    scene.ao_radius = 1.0
    scene.ambient *= float(rng.uniform(0.6, 1.0))
    return scene, poses


SCENES_V2: Dict[str, Callable[[np.random.Generator, int, PhotoBank],
                              Tuple[Scene, List[np.ndarray]]]] = {
    'indoor': make_indoor_scene_v2,
    'street': make_street_scene_v2,
}
