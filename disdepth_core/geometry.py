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
Camera geometry, pure numpy: intrinsics, their scaling under resize, and back-projection.

Conventions (REP 103 optical frame): x right, y down, z forward; depth is z along the optical axis
(not ray length), in metres.  Pixel centres sit at integer coordinates, so a resize by ``s`` maps
``c -> (c + 0.5) * s - 0.5`` and ``f -> f * s`` (the OpenCV / image_geometry convention).

**Camera-aware metric scale.**  A DisDepth model predicts depth for a *canonical* camera whose
focal length, in pixels of the network input, is ``canonical_focal``.  An object of size S at depth
Z spans ``f * S / Z`` pixels, so the same image seen through a camera of focal ``f_net`` (the real
focal after resizing the image to the network input) is at depth ``Z = Z_canonical * f_net / f_c``.
:func:`metric_scale` returns that factor; training divides the ground truth by it
(:func:`canonical_depth_scale`), so one model serves cameras with different intrinsics.
"""

from dataclasses import dataclass
import json
import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """
    Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    :param fx: focal length along x, pixels
    :param fy: focal length along y, pixels
    :param cx: principal point x, pixels
    :param cy: principal point y, pixels
    :param width: image width the intrinsics refer to
    :param height: image height the intrinsics refer to
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def validate(self) -> 'CameraIntrinsics':
        """
        Check that the intrinsics can be used for projection.

        :return: self, for chaining
        :raises ValueError: naming the offending value (NaN/inf, non-positive focal, bad size)
        """
        for name in ('fx', 'fy', 'cx', 'cy'):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f'camera intrinsics: {name} is {value}, not a finite number')
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f'camera intrinsics: focal lengths must be > 0, got fx={self.fx}, '
                             f'fy={self.fy} (an all-zero K means an uncalibrated camera)')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'camera intrinsics: image size must be > 0, got '
                             f'{self.width}x{self.height}')
        return self

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> 'CameraIntrinsics':
        """
        Build from a 3x3 K (or a row-major 9-vector, or the 3x4 / 12-vector P).

        :param k: intrinsic matrix (K or P layout)
        :param width: image width
        :param height: image height
        :return: the intrinsics (not validated)
        """
        arr = np.asarray(k, dtype=np.float64).reshape(-1)
        if arr.size == 9:
            m = arr.reshape(3, 3)
        elif arr.size == 12:
            m = arr.reshape(3, 4)[:, :3]
        else:
            raise ValueError(f'camera intrinsics: expected 9 (K) or 12 (P) values, got {arr.size}')
        return cls(float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]),
                   int(width), int(height))

    @classmethod
    def from_fov(cls, hfov_deg: float, width: int, height: int) -> 'CameraIntrinsics':
        """
        Build square-pixel intrinsics from a horizontal field of view, centred principal point.

        :param hfov_deg: horizontal field of view in degrees, in (0, 180)
        :param width: image width
        :param height: image height
        :return: the intrinsics
        """
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f'field of view must be in (0, 180) degrees, got {hfov_deg}')
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    def matrix(self) -> np.ndarray:
        """Return K as a 3x3 float64 array."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> 'CameraIntrinsics':
        """
        Intrinsics of the same camera after resizing the image to ``width`` x ``height``.

        :param width: new width
        :param height: new height
        :return: rescaled intrinsics (pixel-centre convention)
        """
        sx = width / self.width
        sy = height / self.height
        return CameraIntrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                                (self.cy + 0.5) * sy - 0.5, int(width), int(height))

    def cropped(self, left: int, top: int, width: int, height: int) -> 'CameraIntrinsics':
        """Intrinsics after cropping a ``width`` x ``height`` window at (``left``, ``top``)."""
        return CameraIntrinsics(self.fx, self.fy, self.cx - left, self.cy - top,
                                int(width), int(height))

    def to_dict(self) -> dict:
        """Return the RGB-D folder ``intrinsics.json`` representation."""
        return {'fx': self.fx, 'fy': self.fy, 'cx': self.cx, 'cy': self.cy,
                'width': self.width, 'height': self.height}


INTRINSICS_KEYS = ('fx', 'fy', 'cx', 'cy', 'width', 'height')
# What each intrinsics value must be: (check, description for messages).
_INTRINSICS_RULES = {
    'fx': ('positive', 'a focal length in pixels: a finite number > 0'),
    'fy': ('positive', 'a focal length in pixels: a finite number > 0'),
    'cx': ('finite', 'a principal point in pixels: a finite number'),
    'cy': ('finite', 'a principal point in pixels: a finite number'),
    'width': ('size', 'the image width in pixels: a whole number > 0'),
    'height': ('size', 'the image height in pixels: a whole number > 0'),
}


def _describe(value: Any) -> str:
    if value is None:
        return 'null'
    if isinstance(value, str):
        return f'the string {value!r}'
    return f'{value!r} ({type(value).__name__})'


def intrinsics_value(key: str, value: Any, where: str) -> float:
    """
    Check one intrinsics value read from a file (JSON value or CSV cell already parsed).

    :param key: one of :data:`INTRINSICS_KEYS`
    :param value: the value as read
    :param where: what to name in messages (file, row)
    :return: the value as a float (integral for ``width`` / ``height``)
    :raises ValueError: naming the key, the value and what is expected
    """
    rule, expected = _INTRINSICS_RULES[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and math.isfinite(value)
    if ok and rule == 'positive':
        ok = value > 0
    elif ok and rule == 'size':
        ok = value > 0 and float(value).is_integer()
    if not ok:
        raise ValueError(f'{where}: {key} is {_describe(value)}, expected {expected}')
    return float(value)


def intrinsics_from_values(values: Mapping[str, Any], where: str) -> CameraIntrinsics:
    """
    Build intrinsics from a mapping with the keys :data:`INTRINSICS_KEYS`, checking every value.

    :param values: key -> value (extra keys are ignored)
    :param where: what to name in messages
    :return: validated intrinsics
    :raises ValueError: for a missing key or an unusable value (which key, what value, what is
        expected)
    """
    missing = [k for k in INTRINSICS_KEYS if k not in values]
    if missing:
        raise ValueError(f'{where} lacks {", ".join(missing)}')
    v = {k: intrinsics_value(k, values[k], where) for k in INTRINSICS_KEYS}
    return CameraIntrinsics(v['fx'], v['fy'], v['cx'], v['cy'], int(v['width']),
                            int(v['height'])).validate()


def read_intrinsics_file(path: Union[str, Path]) -> Dict[str, Any]:
    """
    Read an ``intrinsics.json`` as a dict, without checking its values.

    :param path: the JSON file
    :return: the JSON object
    :raises ValueError: for a missing or unreadable file, invalid JSON, or a non-object
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f'{path}: cannot read the intrinsics file ({exc.strerror or exc})'
                         ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object with keys '
                         f'{", ".join(INTRINSICS_KEYS)}, got {type(data).__name__}')
    return data


def load_intrinsics_json(path: Union[str, Path]) -> CameraIntrinsics:
    """
    Read an RGB-D folder ``intrinsics.json`` (keys fx, fy, cx, cy, width, height; others ignored).

    Every value must be a JSON number: ``fx``/``fy`` > 0, ``cx``/``cy`` finite, ``width``/
    ``height`` whole numbers > 0.  ``null``, strings, booleans, lists, NaN, zero or negative
    values are refused with a message that names the key, the value and what is expected.

    :param path: the JSON file
    :return: validated intrinsics
    :raises ValueError: if the file cannot be read, a key is missing or a value is unusable
    """
    data = read_intrinsics_file(path)
    return intrinsics_from_values(data, f'{path}')


def network_focal(intrinsics: CameraIntrinsics, net_hw: Tuple[int, int]) -> float:
    """
    Mean focal length, in network-input pixels, after resizing the image to ``net_hw``.

    :param intrinsics: intrinsics of the original image
    :param net_hw: (height, width) of the network input
    :return: ``(fx * W_net / W + fy * H_net / H) / 2``
    """
    h, w = net_hw
    return 0.5 * (intrinsics.fx * w / intrinsics.width + intrinsics.fy * h / intrinsics.height)


def metric_scale(canonical_focal: float, intrinsics: CameraIntrinsics,
                 net_hw: Tuple[int, int]) -> float:
    """
    Factor that turns a canonical-camera prediction into metric depth for this camera.

    :param canonical_focal: the model's canonical focal length (network-input pixels)
    :param intrinsics: intrinsics of the original image
    :param net_hw: (height, width) the image was resized to for the network
    :return: ``f_net / canonical_focal``; multiply the prediction by it
    """
    if canonical_focal <= 0:
        raise ValueError(f'canonical focal length must be > 0, got {canonical_focal}')
    return network_focal(intrinsics, net_hw) / canonical_focal


def canonical_depth_scale(canonical_focal: float, intrinsics: CameraIntrinsics,
                          net_hw: Tuple[int, int]) -> float:
    """Return the inverse of :func:`metric_scale` (ground truth times it = training target)."""
    return 1.0 / metric_scale(canonical_focal, intrinsics, net_hw)


# Rows back-projected per block by depth_to_points (640-pixel rows of a 32-byte cloud: 320 KB).
POINT_BLOCK_ROWS = 16


def ray_grid(intrinsics: CameraIntrinsics, stride: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """
    Per-pixel ray slopes ``(u - cx) / fx`` and ``(v - cy) / fy`` (float32), optionally decimated.

    :param intrinsics: intrinsics of the depth image
    :param stride: keep every ``stride``-th row and column, starting at 0
    :return: (rx, ry), each of shape (ceil(H / stride), ceil(W / stride))
    """
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    u = np.arange(0, intrinsics.width, stride, dtype=np.float64)
    v = np.arange(0, intrinsics.height, stride, dtype=np.float64)
    rx = ((u - intrinsics.cx) / intrinsics.fx).astype(np.float32)
    ry = ((v - intrinsics.cy) / intrinsics.fy).astype(np.float32)
    return np.broadcast_to(rx[None, :], (v.size, u.size)), np.broadcast_to(ry[:, None],
                                                                           (v.size, u.size))


def depth_to_points(depth: np.ndarray, intrinsics: CameraIntrinsics,
                    stride: int = 1, out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Back-project a depth image into an organised xyz array (optical frame, metres).

    Invalid depth (NaN, inf, <= 0) gives NaN points.  With ``out`` the points are written into
    it (e.g. the x, y, z words of a point cloud buffer, a strided view) instead of a new array;
    the values are the same bits either way.

    :param depth: (H, W) float depth in metres, same size as the intrinsics
    :param intrinsics: intrinsics of the depth image
    :param stride: integer decimation
    :param out: optional float32 array of the result's shape to write into
    :return: (ceil(H/stride), ceil(W/stride), 3) float32 (``out`` when given)
    :raises ValueError: for a depth of another size than the intrinsics, or an ``out`` of the
        wrong shape or dtype
    """
    if depth.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(f'depth is {depth.shape[1]}x{depth.shape[0]} but intrinsics are for '
                         f'{intrinsics.width}x{intrinsics.height}')
    z = np.asarray(depth[::stride, ::stride], dtype=np.float32)
    z = np.where(np.isfinite(z) & (z > 0), z, np.float32(np.nan))
    rx, ry = ray_grid(intrinsics, stride)
    if out is None:
        out = np.empty(z.shape + (3,), np.float32)
    elif out.shape != z.shape + (3,) or out.dtype != np.float32:
        raise ValueError(f'out must be a {z.shape + (3,)} float32 array, got {out.shape} '
                         f'{out.dtype}')
    # In blocks of rows that stay in the cache: the three strided passes over a point cloud
    # buffer (x, y, z are 4 of its 16 or 32 bytes per point) then cost one pass over memory.
    for top in range(0, z.shape[0], POINT_BLOCK_ROWS):
        rows = slice(top, top + POINT_BLOCK_ROWS)
        block, zb = out[rows], z[rows]
        np.multiply(rx[rows], zb, out=block[..., 0])
        np.multiply(ry[rows], zb, out=block[..., 1])
        block[..., 2] = zb
    return out
