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

Two scene versions, chosen with ``scenes='v1'`` (the default) or ``'v2'`` wherever a sequence is
made (:func:`make_sequence`, the ``synthetic`` dataset, ``disdepth synth --scenes``).  ``v1`` is
frozen (the same seed gives the same frames, bit for bit) and described here; ``v2`` is in
:mod:`~disdepth_core.data.synthetic.interiors`.

``v1`` scenes are made of analytic primitives (a room = the inside of an axis-aligned box, a ground
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

Modules: :mod:`~disdepth_core.data.synthetic.textures` (noise, patterns, materials),
:mod:`~disdepth_core.data.synthetic.geometry` (primitives, the first-hit ray cast),
:mod:`~disdepth_core.data.synthetic.shading` (lights, scenes, :func:`render`),
:mod:`~disdepth_core.data.synthetic.cameras` (poses, intrinsics),
:mod:`~disdepth_core.data.synthetic.sampling` (the ``v1`` presets: random scenes and
trajectories), :mod:`~disdepth_core.data.synthetic.interiors` and
:mod:`~disdepth_core.data.synthetic.furniture` (``v2`` scenes and their compound objects),
:mod:`~disdepth_core.data.synthetic.photos` (photographic textures),
:mod:`~disdepth_core.data.synthetic.imaging` (the ``v2`` camera),
:mod:`~disdepth_core.data.synthetic.dataset` (sequences, the ``synthetic`` dataset).
"""

from disdepth_core.data.synthetic.cameras import look_pose
from disdepth_core.data.synthetic.cameras import random_intrinsics
from disdepth_core.data.synthetic.dataset import make_sequence
from disdepth_core.data.synthetic.dataset import SCENE_VERSIONS
from disdepth_core.data.synthetic.dataset import SyntheticDataset
from disdepth_core.data.synthetic.dataset import SyntheticSequence
from disdepth_core.data.synthetic.geometry import Box
from disdepth_core.data.synthetic.geometry import cast
from disdepth_core.data.synthetic.geometry import Cylinder
from disdepth_core.data.synthetic.geometry import Ground
from disdepth_core.data.synthetic.geometry import Primitive
from disdepth_core.data.synthetic.geometry import Room
from disdepth_core.data.synthetic.geometry import Sphere
from disdepth_core.data.synthetic.sampling import make_indoor_scene
from disdepth_core.data.synthetic.sampling import make_street_scene
from disdepth_core.data.synthetic.sampling import PRESET_FAR
from disdepth_core.data.synthetic.sampling import PRESET_HFOV
from disdepth_core.data.synthetic.sampling import PRESETS
from disdepth_core.data.synthetic.shading import Light
from disdepth_core.data.synthetic.shading import render
from disdepth_core.data.synthetic.shading import RenderResult
from disdepth_core.data.synthetic.shading import Scene
from disdepth_core.data.synthetic.shading import shade
from disdepth_core.data.synthetic.textures import fbm
from disdepth_core.data.synthetic.textures import Material
from disdepth_core.data.synthetic.textures import PATTERNS
from disdepth_core.data.synthetic.textures import value_noise

__all__ = ['Box', 'Cylinder', 'Ground', 'Light', 'Material', 'PATTERNS', 'PRESETS',
           'PRESET_FAR', 'PRESET_HFOV', 'Primitive', 'RenderResult', 'Room', 'SCENE_VERSIONS',
           'Scene', 'Sphere', 'SyntheticDataset', 'SyntheticSequence', 'cast', 'fbm',
           'look_pose', 'make_indoor_scene', 'make_sequence', 'make_street_scene',
           'random_intrinsics', 'render', 'shade', 'value_noise']
