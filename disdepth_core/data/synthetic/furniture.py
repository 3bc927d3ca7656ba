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
Compound objects for the ``v2`` interiors: furniture, wall fittings and clutter.

Every builder takes a random generator, a material source ``mat(role)`` and a placement (the
item's origin on the floor or on a surface, and its yaw) and returns an :class:`Item`: its
primitives, its floor footprint, its lights and the surfaces that can carry clutter.  Item
frame: x along the item's width, +y towards its front (into the room for wall items), z up.

:data:`FLOOR_ITEMS` and :data:`WALL_ITEMS` are the registries the scene sampler draws from.
"""

from dataclasses import dataclass, field
import math
from typing import Callable, cast, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from disdepth_core.data.synthetic.geometry import Box
from disdepth_core.data.synthetic.geometry import Cylinder
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.geometry import rot_z
from disdepth_core.data.synthetic.geometry import Sphere
from disdepth_core.data.synthetic.shading import Light
from disdepth_core.data.synthetic.textures import Albedo

MaterialFn = Callable[[str], Albedo]
WARM: Tuple[float, float, float] = (1.0, 0.78, 0.55)


@dataclass
class Surface:
    """
    A horizontal rectangle that can carry clutter.

    :param center: centre of the rectangle (world, on the surface)
    :param half: half extents (x, y) in the item frame
    :param yaw: the item's yaw
    :param clearance: free height above it (metres)
    """

    center: np.ndarray
    half: np.ndarray
    yaw: float
    clearance: float = 0.5


@dataclass
class Item:
    """
    A compound object.

    :param kind: what it is ('table', 'chair', ...)
    :param parts: its primitives
    :param center: footprint centre (world x, y)
    :param half: footprint half extents in the item frame (0 for wall fittings)
    :param yaw: rotation about z
    :param lights: lights it carries (lamps)
    :param surfaces: surfaces for clutter
    """

    kind: str
    parts: List[Primitive]
    center: np.ndarray
    half: np.ndarray
    yaw: float
    lights: List[Light] = field(default_factory=list)
    surfaces: List[Surface] = field(default_factory=list)


class Placement:
    """Item frame -> world: an origin and a yaw about z."""

    def __init__(self, origin: Union[Sequence[float], np.ndarray], yaw: float) -> None:
        """Store the origin (world x, y, z) and yaw."""
        self.origin = np.asarray(origin, np.float64)
        self.yaw = float(yaw)
        self.rot = rot_z(self.yaw)

    def point(self, local: Union[Sequence[float], np.ndarray]) -> np.ndarray:
        """Return the world point of an item-frame point."""
        return self.origin + self.rot @ np.asarray(local, np.float64)

    def box(self, center: Union[Sequence[float], np.ndarray],
            half: Union[Sequence[float], np.ndarray], mat: Albedo,
            top: Optional[Albedo] = None, emission: float = 0.0) -> Box:
        """Return a box given in the item frame."""
        return Box(self.point(center), np.asarray(half, np.float64), self.yaw, mat, top,
                   emission)

    def cylinder(self, bottom: Sequence[float], radius: float, height: float, mat: Albedo,
                 top: Optional[Albedo] = None, emission: float = 0.0) -> Cylinder:
        """Return a vertical cylinder whose bottom centre is given in the item frame."""
        return Cylinder(self.point(bottom), float(radius), float(height), mat, top, emission)

    def item(self, kind: str, parts: List[Primitive], half: Sequence[float],
             **kwargs: object) -> Item:
        """Wrap parts into an :class:`Item` at this placement."""
        return Item(kind, parts, self.origin[:2].copy(), np.asarray(half, np.float64),
                    self.yaw, **kwargs)  # type: ignore[arg-type]


def _legs(p: Placement, rng: np.random.Generator, mat: Albedo, hx: float, hy: float,
          height: float, inset: float) -> List[Primitive]:
    """Four legs at the corners of a (2 hx) x (2 hy) rectangle: round or square, thin."""
    size = rng.uniform(0.012, 0.035)
    round_legs = rng.random() < 0.45
    parts: List[Primitive] = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (hx - inset), sy * (hy - inset)
            if round_legs:
                parts.append(p.cylinder((x, y, 0.0), size, height, mat))
            else:
                parts.append(p.box((x, y, height / 2), (size, size, height / 2), mat))
    return parts


def table(rng: np.random.Generator, mat: MaterialFn, p: Placement,
          low: bool = False) -> Item:
    """Build a table or a low coffee table: a top on four thin legs."""
    hx, hy = rng.uniform(0.35, 0.9), rng.uniform(0.25, 0.5)
    if low:
        hx, hy = hx * 0.8, hy * 0.9
    h = rng.uniform(0.35, 0.5) if low else rng.uniform(0.68, 0.78)
    t = rng.uniform(0.02, 0.05)
    wood = mat('wood')
    parts: List[Primitive] = [p.box((0, 0, h - t / 2), (hx, hy, t / 2), mat('paint'), wood)]
    parts += _legs(p, rng, mat('metal') if rng.random() < 0.4 else wood, hx, hy, h - t,
                   rng.uniform(0.03, 0.1))
    top = Surface(p.point((0, 0, h)), np.array([hx, hy]), p.yaw, 0.6)
    return p.item('coffee_table' if low else 'table', parts, (hx, hy), surfaces=[top])


def chair(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a chair: a seat on four thin legs, two back posts and a back panel (back at -y)."""
    s = rng.uniform(0.19, 0.25)
    h = rng.uniform(0.42, 0.48)
    t = rng.uniform(0.025, 0.06)
    frame = mat('metal') if rng.random() < 0.5 else mat('wood')
    seat = mat('fabric')
    parts: List[Primitive] = [p.box((0, 0, h - t / 2), (s, s, t / 2), seat)]
    parts += _legs(p, rng, frame, s, s, h - t, 0.02)
    back_h = rng.uniform(0.3, 0.5)
    post = rng.uniform(0.01, 0.02)
    for sx in (-1, 1):
        parts.append(p.box((sx * (s - 0.02), -s + 0.015, h + back_h / 2),
                           (post, post, back_h / 2), frame))
    panel_h = rng.uniform(0.12, back_h * 0.8)
    parts.append(p.box((0, -s + 0.015, h + back_h - panel_h / 2), (s, 0.015, panel_h / 2),
                       seat))
    return p.item('chair', parts, (s, s))


def sofa(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a sofa: base, back, two arms and seat cushions (back at -y)."""
    hx, hy = rng.uniform(0.7, 1.2), rng.uniform(0.4, 0.5)
    seat_h, back_h, arm_w = rng.uniform(0.38, 0.45), rng.uniform(0.75, 0.95), rng.uniform(
        0.08, 0.18)
    fabric = mat('fabric')
    base_h = seat_h - 0.12
    parts: List[Primitive] = [
        p.box((0, 0, base_h / 2), (hx, hy, base_h / 2), fabric),
        p.box((0, -hy + 0.1, back_h / 2), (hx, 0.1, back_h / 2), fabric),
    ]
    arm_h = rng.uniform(0.55, 0.68)
    for sx in (-1, 1):
        parts.append(p.box((sx * (hx - arm_w), 0, arm_h / 2), (arm_w, hy, arm_h / 2), fabric))
    n = int(rng.integers(1, 4))
    inner = hx - 2 * arm_w
    cushion = mat('fabric') if rng.random() < 0.5 else fabric
    for i in range(n):
        cx = -inner + (2 * i + 1) * inner / n
        parts.append(p.box((cx, 0.1, base_h + 0.06), (inner / n - 0.01, hy - 0.22, 0.06),
                           cushion))
    return p.item('sofa', parts, (hx, hy))


def shelf(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a bookcase: sides, boards, a back panel, blocks of books and a few objects."""
    hx, hy, h = rng.uniform(0.3, 0.8), rng.uniform(0.13, 0.2), rng.uniform(0.8, 2.2)
    t = rng.uniform(0.009, 0.015)
    wood = mat('wood')
    parts: List[Primitive] = [p.box((sx * (hx - t), 0, h / 2), (t, hy, h / 2), wood)
                              for sx in (-1, 1)]
    parts.append(p.box((0, -hy + 0.005, h / 2), (hx - 2 * t, 0.005, h / 2), mat('paint')))
    n = max(2, int(round(h / rng.uniform(0.3, 0.42))))
    levels = np.linspace(0.05, h - t, n + 1)
    for z in levels:
        parts.append(p.box((0, 0, z), (hx - 2 * t, hy, t), wood))
    for z0, z1 in zip(levels[:-1], levels[1:]):
        gap = z1 - z0 - 2 * t
        x = -hx + 2 * t
        while x < hx - 2 * t - 0.05 and gap > 0.1:
            if rng.random() < 0.65:  # a block of books: one box striped like spines
                w = min(rng.uniform(0.1, 0.5), hx - 2 * t - x)
                bh = rng.uniform(0.55, 0.95) * gap
                bd = rng.uniform(0.6, 0.95) * hy
                parts.append(p.box((x + w / 2, hy - bd, z0 + t + bh / 2), (w / 2, bd, bh / 2),
                                   mat('books')))
                x += w + rng.uniform(0.0, 0.08)
            else:
                r = min(rng.uniform(0.03, 0.08), hy * 0.8)
                oh = rng.uniform(0.3, 0.9) * gap
                if rng.random() < 0.5:
                    parts.append(p.cylinder((x + r, 0, z0 + t), r, oh, mat('object')))
                else:
                    parts.append(p.box((x + r, 0, z0 + t + oh / 2), (r, r, oh / 2),
                                       mat('object')))
                x += 2 * r + rng.uniform(0.05, 0.2)
    return p.item('shelf', parts, (hx, hy))


def cabinet(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a low or tall cabinet: body, door or drawer fronts with handles, a plinth."""
    tall = rng.random() < 0.3
    hx, hy = rng.uniform(0.3, 0.8), rng.uniform(0.18, 0.3)
    h = rng.uniform(1.6, 2.1) if tall else rng.uniform(0.6, 1.0)
    body, front, metal = mat('paint'), mat('wood') if rng.random() < 0.5 else mat('paint'), \
        mat('metal')
    plinth = rng.uniform(0.04, 0.1)
    parts: List[Primitive] = [p.box((0, -0.01, plinth + (h - plinth) / 2),
                                    (hx, hy - 0.01, (h - plinth) / 2), body, mat('wood')),
                              p.box((0, -0.04, plinth / 2), (hx - 0.02, hy - 0.04, plinth / 2),
                                    mat('dark'))]
    gap = 0.004
    if rng.random() < 0.5 and not tall:  # drawers
        n = int(rng.integers(2, 5))
        fh = (h - plinth) / n
        for i in range(n):
            zc = plinth + (i + 0.5) * fh
            parts.append(p.box((0, hy, zc), (hx - gap, 0.01, fh / 2 - gap), front))
            parts.append(p.box((0, hy + 0.02, zc + fh * 0.25), (min(0.08, hx * 0.4), 0.01,
                                                                0.008), metal))
    else:  # doors
        n = int(rng.integers(1, 3)) if hx < 0.5 else int(rng.integers(2, 4))
        fw = 2 * hx / n
        for i in range(n):
            xc = -hx + (i + 0.5) * fw
            zc = plinth + (h - plinth) / 2
            parts.append(p.box((xc, hy, zc), (fw / 2 - gap, 0.01, (h - plinth) / 2 - gap),
                               front))
            side = 1 if i % 2 == 0 else -1
            hz = zc if not tall else plinth + 0.45 * (h - plinth)
            parts.append(p.box((xc + side * (fw / 2 - 0.05), hy + 0.02, hz),
                               (0.008, 0.01, min(0.08, (h - plinth) * 0.15)), metal))
    surfaces = [] if tall else [Surface(p.point((0, 0, h)), np.array([hx, hy]), p.yaw, 0.6)]
    return p.item('cabinet', parts, (hx, hy + 0.02), surfaces=surfaces)


def floor_lamp(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a floor lamp: a disc base, a thin pole and a glowing shade with a light inside."""
    metal = mat('metal')
    pole_h = rng.uniform(1.2, 1.6)
    shade_r, shade_h = rng.uniform(0.12, 0.22), rng.uniform(0.18, 0.3)
    parts: List[Primitive] = [
        p.cylinder((0, 0, 0), rng.uniform(0.12, 0.18), rng.uniform(0.015, 0.04), metal),
        p.cylinder((0, 0, 0), rng.uniform(0.008, 0.018), pole_h, metal),
    ]
    shade = p.cylinder((0, 0, pole_h), shade_r, shade_h, mat('lampshade'),
                       emission=float(rng.uniform(0.4, 1.2)))
    shade.occluder = False  # the bulb inside lights the room through it
    parts.append(shade)
    light = Light('point', cast(Tuple[float, float, float],
                                tuple(float(v) for v in p.point((0, 0, pole_h + shade_h / 2)))),
                  float(rng.uniform(0.25, 0.6)), WARM, float(rng.uniform(1.5, 3.0)),
                  float(shade_r * 0.5))
    return p.item('lamp', parts, (0.18, 0.18), lights=[light])


def plant(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a potted plant: a cylindrical pot and a round crown."""
    r, h = rng.uniform(0.1, 0.2), rng.uniform(0.2, 0.45)
    crown = rng.uniform(0.18, 0.45)
    parts: List[Primitive] = [p.cylinder((0, 0, 0), r, h, mat('pot')),
                              Sphere(p.point((0, 0, h + crown * 0.8)), crown, mat('plant'))]
    return p.item('plant', parts, (max(r, crown), max(r, crown)))


def pillar(rng: np.random.Generator, mat: MaterialFn, p: Placement, height: float) -> Item:
    """Build a floor-to-ceiling pillar, square or round."""
    r = rng.uniform(0.15, 0.35)
    m = mat('wall')
    if rng.random() < 0.5:
        part: Primitive = p.box((0, 0, height / 2), (r, r, height / 2), m)
    else:
        part = p.cylinder((0, 0, 0), r, height, m)
    return p.item('pillar', [part], (r, r))


def partition(rng: np.random.Generator, mat: MaterialFn, p: Placement, height: float) -> Item:
    """Build a free-standing partition wall (office screen or a wall stub)."""
    hx, t = rng.uniform(0.6, 2.0), rng.uniform(0.03, 0.08)
    h = height if rng.random() < 0.4 else rng.uniform(1.2, 2.0)
    return p.item('partition', [p.box((0, 0, h / 2), (hx, t, h / 2), mat('wall'))], (hx, t))


def clutter(rng: np.random.Generator, mat: MaterialFn, surface: Surface,
            max_items: int = 4) -> List[Item]:
    """
    Scatter small objects on a surface: book piles, boxes, cups, bottles, balls and monitors.

    :param rng: random generator
    :param mat: material source
    :param surface: where
    :param max_items: at most this many objects
    :return: one item per object
    """
    items: List[Item] = []
    taken: List[Tuple[float, float, float]] = []
    hx, hy = surface.half
    for _ in range(int(rng.integers(0, max_items + 1))):
        kind = str(rng.choice(['books', 'box', 'cup', 'bottle', 'ball', 'monitor'],
                              p=[0.25, 0.2, 0.2, 0.15, 0.1, 0.1]))
        r = {'books': 0.15, 'box': 0.12, 'cup': 0.05, 'bottle': 0.05, 'ball': 0.08,
             'monitor': 0.3}[kind]
        if hx < r + 0.02 or hy < min(r, 0.12) + 0.02:
            continue
        lx = rng.uniform(-hx + r, hx - r)
        ly = rng.uniform(-hy + min(r, 0.12), hy - min(r, 0.12))
        if any(math.hypot(lx - x, ly - y) < r + q for x, y, q in taken):
            continue
        taken.append((lx, ly, r))
        base = Placement(Placement(surface.center, surface.yaw).point((lx, ly, 0.0)),
                         surface.yaw + rng.uniform(-0.6, 0.6))
        parts: List[Primitive] = []
        if kind == 'books':
            z = 0.0
            for _ in range(int(rng.integers(1, 4))):
                th = rng.uniform(0.015, 0.05)
                parts.append(base.box((0, 0, z + th / 2), (rng.uniform(0.08, 0.15),
                                                           rng.uniform(0.06, 0.11), th / 2),
                                      mat('object')))
                z += th
        elif kind == 'box':
            s = rng.uniform(0.03, 0.12, 3)
            s[2] = min(s[2], surface.clearance / 2)
            parts.append(base.box((0, 0, s[2]), s, mat('object')))
        elif kind == 'cup':
            parts.append(base.cylinder((0, 0, 0), rng.uniform(0.03, 0.05),
                                       rng.uniform(0.07, 0.12), mat('object')))
        elif kind == 'bottle':
            br, bh = rng.uniform(0.025, 0.045), rng.uniform(0.15, 0.28)
            parts.append(base.cylinder((0, 0, 0), br, bh, mat('object')))
            parts.append(base.cylinder((0, 0, bh), br * 0.35, rng.uniform(0.04, 0.08),
                                       mat('object')))
        elif kind == 'ball':
            br = rng.uniform(0.03, 0.08)
            parts.append(Sphere(base.point((0, 0, br)), br, mat('object')))
        else:
            sw, sh = rng.uniform(0.22, 0.3), rng.uniform(0.14, 0.2)
            dark = mat('dark')
            parts.append(base.box((0, 0, 0.008), (0.09, 0.07, 0.008), dark))
            parts.append(base.box((0, -0.03, 0.1), (0.02, 0.01, 0.1), dark))
            parts.append(base.box((0, -0.015, 0.1 + sh * 0.8), (sw, 0.012, sh), dark,
                                  emission=float(rng.uniform(0.0, 0.25))))
        items.append(base.item(kind, parts, (r, r)))
    return items


# ----------------------------------------------------------------------------- wall fittings


def door(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a door in a wall: a leaf a little proud of the wall, a frame and a lever handle."""
    hw, h = rng.uniform(0.4, 0.5), rng.uniform(2.0, 2.12)
    proud = rng.uniform(0.005, 0.03)
    leaf = mat('wood') if rng.random() < 0.6 else mat('paint')
    fw, fp = rng.uniform(0.03, 0.08), proud + rng.uniform(0.005, 0.02)
    frame = mat('paint')
    parts: List[Primitive] = [p.box((0, proud - 0.02, h / 2), (hw, 0.02, h / 2), leaf)]
    for sx in (-1, 1):
        parts.append(p.box((sx * (hw + fw), fp - 0.02, (h + fw) / 2), (fw, 0.02, (h + fw) / 2),
                           frame))
    parts.append(p.box((0, fp - 0.02, h + fw / 2), (hw + 2 * fw, 0.02, fw / 2), frame))
    side = float(rng.choice([-1.0, 1.0]))
    parts.append(p.box((side * (hw - 0.12), proud + 0.05, 1.0), (0.065, 0.01, 0.01),
                       mat('metal')))
    parts.append(p.box((side * (hw - 0.07), proud + 0.025, 1.0), (0.012, 0.025, 0.012),
                       mat('metal')))
    return p.item('door', parts, (hw + 2 * fw, 0.0))


def window(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a window: a bright pane (the outside), a frame, mullions and a sill."""
    hw, hh = rng.uniform(0.4, 1.0), rng.uniform(0.45, 0.75)
    sill_z = rng.uniform(0.7, 1.0)
    zc = sill_z + hh
    pane = p.box((0, 0.0, zc), (hw, 0.01, hh), mat('pane'), emission=float(rng.uniform(1.0,
                                                                                       3.0)))
    pane.occluder = False
    frame = mat('paint')
    fw, fd = rng.uniform(0.03, 0.07), rng.uniform(0.03, 0.08)
    parts: List[Primitive] = [pane]
    for sx in (-1, 1):
        parts.append(p.box((sx * (hw + fw), fd / 2, zc), (fw, fd / 2, hh + 2 * fw), frame))
    for sz in (-1, 1):
        parts.append(p.box((0, fd / 2, zc + sz * (hh + fw)), (hw, fd / 2, fw), frame))
    bar = rng.uniform(0.012, 0.03)
    for _ in range(int(rng.integers(0, 3))):
        if rng.random() < 0.5:
            x = rng.uniform(-hw * 0.6, hw * 0.6)
            parts.append(p.box((x, fd / 2, zc), (bar, fd / 2, hh), frame))
        else:
            z = zc + rng.uniform(-hh * 0.6, hh * 0.6)
            parts.append(p.box((0, fd / 2, z), (hw, fd / 2, bar), frame))
    sd = rng.uniform(0.06, 0.14)
    parts.append(p.box((0, sd, sill_z - fw - 0.015), (hw + 2 * fw + 0.04, sd, 0.015),
                       mat('paint')))
    return p.item('window', parts, (hw + 2 * fw, 0.0))


def picture(rng: np.random.Generator, mat: MaterialFn, p: Placement) -> Item:
    """Build a framed picture on a wall: a photograph where there are any, else a pattern."""
    hw, hh = rng.uniform(0.15, 0.6), rng.uniform(0.12, 0.45)
    zc = rng.uniform(1.2, 1.7)
    depth = rng.uniform(0.01, 0.03)
    fw = rng.uniform(0.01, 0.04)
    parts: List[Primitive] = [p.box((0, depth / 2, zc), (hw, depth / 2, hh), mat('picture'))]
    frame = mat('dark') if rng.random() < 0.5 else mat('wood')
    for sx in (-1, 1):
        parts.append(p.box((sx * (hw + fw), depth / 2 + 0.003, zc), (fw, depth / 2 + 0.003,
                                                                     hh + 2 * fw), frame))
    for sz in (-1, 1):
        parts.append(p.box((0, depth / 2 + 0.003, zc + sz * (hh + fw)), (hw, depth / 2 + 0.003,
                                                                         fw), frame))
    return p.item('picture', parts, (hw + 2 * fw, 0.0))


def rail(rng: np.random.Generator, mat: MaterialFn, p: Placement, length: float) -> Item:
    """Build a hand rail along a wall: a thin bar on brackets."""
    z = rng.uniform(0.85, 1.0)
    s = rng.uniform(0.012, 0.025)
    metal = mat('metal')
    off = rng.uniform(0.05, 0.08)
    parts: List[Primitive] = [p.box((0, off, z), (length / 2, s, s), metal)]
    n = max(2, int(length / 1.2))
    for x in np.linspace(-length / 2 + 0.2, length / 2 - 0.2, n):
        parts.append(p.box((x, off / 2, z - s), (0.008, off / 2, 0.008), metal))
    return p.item('rail', parts, (length / 2, 0.0))


FloorBuilder = Callable[[np.random.Generator, MaterialFn, Placement], Item]
FLOOR_ITEMS: Dict[str, FloorBuilder] = {
    'table': table,
    'coffee_table': lambda rng, mat, p: table(rng, mat, p, low=True),
    'chair': chair,
    'sofa': sofa,
    'shelf': shelf,
    'cabinet': cabinet,
    'lamp': floor_lamp,
    'plant': plant,
}
WALL_ITEMS: Dict[str, FloorBuilder] = {'door': door, 'window': window, 'picture': picture}
