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

"""Scene sampling: the ``indoor`` and ``street`` presets (random scene + camera trajectory)."""

import math
from typing import Callable, cast, Dict, List, Sequence, Tuple

import numpy as np

from disdepth_core.data.synthetic.cameras import look_pose
from disdepth_core.data.synthetic.geometry import Box
from disdepth_core.data.synthetic.geometry import Ground
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.geometry import Room
from disdepth_core.data.synthetic.geometry import rot_z
from disdepth_core.data.synthetic.geometry import Sphere
from disdepth_core.data.synthetic.shading import Light
from disdepth_core.data.synthetic.shading import Scene
from disdepth_core.data.synthetic.textures import Color
from disdepth_core.data.synthetic.textures import Material

# ----------------------------------------------------------------------------- presets


def pastel(rng: np.random.Generator, lo: float = 0.35, hi: float = 0.85) -> Color:
    """Return a random desaturated colour of brightness ``lo``..``hi`` (linear RGB)."""
    base = rng.uniform(lo, hi)
    return cast(Color, tuple(float(np.clip(base * rng.uniform(0.75, 1.2), 0.02, 0.98))
                             for _ in range(3)))


def random_material(rng: np.random.Generator, choices: Sequence[str],
                    scale: Tuple[float, float], lo: float = 0.35, hi: float = 0.85) -> Material:
    """Return a random procedural material: a pattern of ``choices`` at a period in ``scale``."""
    pattern = str(rng.choice(list(choices)))
    a = pastel(rng, lo, hi)
    b = cast(Color, tuple(float(c * rng.uniform(0.35, 0.75)) for c in a))
    return Material(pattern, a, b, float(rng.uniform(*scale)), int(rng.integers(1 << 30)),
                    float(rng.uniform(0.1, 0.3)))


def smooth_path(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    """Sum of two random low-frequency sines, in [-1, 1] (n samples)."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for harmonic, amp in ((1.0, 0.7), (2.3, 0.3)):
        phase = rng.uniform(0, 2 * np.pi)
        out += amp * np.sin(2 * np.pi * harmonic * t / period + phase)
    return out


def footprint_clear(center: np.ndarray, half: np.ndarray, yaw: float, points: np.ndarray,
                    margin: float) -> bool:
    """Return True if no xy point lies within ``margin`` of the rotated rectangle."""
    rel = (points[:, :2] - center[:2]) @ rot_z(yaw)[:2, :2]
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
    floor = random_material(rng, ('wood', 'tiles', 'checker', 'noise', 'stripes'), (0.15, 0.6))
    ceiling = random_material(rng, ('plain', 'noise', 'tiles'), (0.4, 1.2), 0.7, 0.95)
    walls = cast(Tuple[Material, Material, Material, Material],
                 tuple(random_material(rng, ('plain', 'noise', 'stripes', 'bricks', 'tiles'),
                                       (0.1, 0.5), 0.4, 0.9) for _ in range(4)))
    room = Room(lo, hi, floor, ceiling, walls)

    # camera path first, objects avoid it
    cam_h = rng.uniform(1.0, 1.7)
    margin = 0.6
    centre = size[:2] / 2
    amp = np.maximum(size[:2] / 2 - margin, 0.05) * rng.uniform(0.3, 0.9, 2)
    period = rng.uniform(60, 160)
    px = centre[0] + amp[0] * smooth_path(rng, n_frames, period)
    py = centre[1] + amp[1] * smooth_path(rng, n_frames, period)
    yaw0 = rng.uniform(0, 2 * np.pi)
    yaw = yaw0 + rng.uniform(0.5, 1.5) * smooth_path(rng, n_frames, period * 0.8)
    yaw += np.linspace(0, rng.uniform(-1.5, 1.5) * np.pi, n_frames)
    pitch = np.radians(rng.uniform(-20, 0) + 6 * smooth_path(rng, n_frames, period * 0.6))
    roll = np.radians(2.0 * smooth_path(rng, n_frames, period * 0.5))
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
            if not footprint_clear(c, half, yaw_b, positions, 0.45):
                continue
            if any(np.hypot(*(c[:2] - b.center[:2])) < radius + np.hypot(*b.half[:2])
                   for b in boxes):
                continue
            mat = random_material(rng, ('plain', 'noise', 'wood', 'stripes', 'checker'),
                                  (0.05, 0.3))
            top = random_material(rng, ('plain', 'noise', 'wood'), (0.05, 0.3))
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
        mat = random_material(rng, ('plain', 'checker', 'stripes', 'noise'), (0.05, 0.2))
        prims.append(Sphere(c, r, mat))
    lights = []
    for _ in range(int(rng.integers(1, 3))):
        pos = (rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1], size[2] - 0.25)
        lights.append(Light('point', cast(Tuple[float, float, float],
                                          tuple(float(x) for x in pos)),
                            float(rng.uniform(0.8, 1.4)),
                            pastel(rng, 0.85, 1.0), float(rng.uniform(3.0, 7.0))))
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

    road = Material('road', pastel(rng, 0.12, 0.22), (0.85, 0.85, 0.8), lane,
                    int(rng.integers(1 << 30)), 0.25)
    side = random_material(rng, ('tiles', 'bricks', 'noise'), (0.3, 0.8), 0.35, 0.65)
    prims: List[Primitive] = [Ground(0.0, side, road, road_half)]

    # camera: right-hand lane, slight weave, small yaw/pitch oscillation
    cx = np.arange(n_frames) * speed
    cy = -lane * (n_lanes - 0.5) + 0.3 * smooth_path(rng, n_frames, 120)
    positions = np.stack([cx, cy, np.full(n_frames, rng.uniform(1.5, 1.8))], 1)
    yaw = np.radians(3.0 * smooth_path(rng, n_frames, 90) + rng.uniform(-4, 4))
    pitch = np.radians(rng.uniform(-4, 1) + 1.0 * smooth_path(rng, n_frames, 70))
    roll = np.radians(0.8 * smooth_path(rng, n_frames, 50))
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
            facade = Material('windows', pastel(rng, 0.3, 0.8), pastel(rng, 0.05, 0.2),
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
        if not footprint_clear(centre, body_half, yaw_c, positions, 0.8):
            continue
        paint = random_material(rng, ('plain', 'noise'), (0.5, 1.5), 0.05, 0.9)
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
                             Material('plain', pastel(rng, 0.2, 0.5), detail=0.1)))
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
PRESET_CODE = {'indoor': 1, 'street': 2}
