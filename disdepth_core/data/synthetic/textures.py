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
Procedural surface colour: lattice value noise, fractal noise and metric-size patterns.

A :class:`Material` is ``lerp(color_a, color_b, w) * tint * detail`` where a registered pattern
(:data:`PATTERNS`) gives ``w`` and ``tint`` from surface coordinates in metres, so every pattern
keeps its metric size on screen.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Protocol, Tuple

import numpy as np

Color = Tuple[float, float, float]


class Albedo(Protocol):
    """Anything that colours a surface: :class:`Material`, a photo patch, ..."""

    def albedo(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Return (M, 3) float32 linear RGB at surface coordinates ``u``, ``v`` (metres)."""

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
