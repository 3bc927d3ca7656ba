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

"""Camera poses (optical frame in a z-up world) and random intrinsics."""

import math
from typing import Sequence, Tuple

import numpy as np

from disdepth_core.geometry import CameraIntrinsics

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
