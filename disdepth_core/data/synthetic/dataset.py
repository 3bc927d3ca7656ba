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
Sequences (one scene, one camera, a trajectory) and the ``synthetic`` dataset.

Two scene versions (:data:`SCENE_VERSIONS`): ``v1``, the original rooms of boxes and spheres and
streets (frozen: the same seed gives the same frames), and ``v2``
(:mod:`disdepth_core.data.synthetic.interiors`): furnished rooms, corridors and open-plan
spaces, photo textures, soft shadows, ambient occlusion and a camera with exposure, white
balance, blur, vignetting, noise and JPEG (:mod:`disdepth_core.data.synthetic.imaging`).
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.data.synthetic.cameras import random_intrinsics
from disdepth_core.data.synthetic.imaging import CameraResponse
from disdepth_core.data.synthetic.imaging import develop
from disdepth_core.data.synthetic.imaging import sample_response
from disdepth_core.data.synthetic.interiors import SCENES_V2
from disdepth_core.data.synthetic.photos import load_photo_bank
from disdepth_core.data.synthetic.sampling import PRESET_CODE
from disdepth_core.data.synthetic.sampling import PRESET_FAR
from disdepth_core.data.synthetic.sampling import PRESET_HFOV
from disdepth_core.data.synthetic.sampling import PRESETS
from disdepth_core.data.synthetic.shading import render
from disdepth_core.data.synthetic.shading import RenderResult
from disdepth_core.data.synthetic.shading import Scene
from disdepth_core.data.synthetic.shading import shade
from disdepth_core.geometry import CameraIntrinsics

SCENE_VERSIONS: Tuple[str, ...] = ('v1', 'v2')
_VERSION_CODE = {'v2': 2002}


@dataclass
class SyntheticSequence:
    """
    One scene, one camera and a smooth trajectory; frames are rendered on demand.

    :param scene: the scene
    :param intrinsics: the camera (shared by every frame)
    :param poses: ``T_world_cam`` per frame
    :param seed: generator seed
    :param index: sequence index
    :param response: the ``v2`` camera response (None: the ``v1`` one, gamma + Gaussian noise)
    :param scenes: scene version
    """

    scene: Scene
    intrinsics: CameraIntrinsics
    poses: List[np.ndarray]
    seed: int
    index: int
    response: Optional[CameraResponse] = None
    scenes: str = 'v1'

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.poses)

    def render(self, frame: int, noise: bool = True) -> RenderResult:
        """
        Render frame ``frame`` (deterministic).

        :param frame: frame index in the sequence
        :param noise: add sensor noise (seeded by seed, sequence, frame); for ``v2`` also the
            other random image flaws (exposure flicker, motion blur, JPEG)
        :return: the render
        """
        if self.response is None:
            rng = np.random.default_rng([self.seed, self.index, frame, 7]) if noise else None
            return render(self.scene, self.intrinsics, self.poses[frame], rng)
        out = shade(self.scene, self.intrinsics, self.poses[frame])
        rng = (np.random.default_rng([self.seed, self.index, frame, 7, _VERSION_CODE[
            self.scenes]]) if noise else None)
        return RenderResult(rgb=develop(out.color, self.response, rng), depth=out.depth,
                            object_id=out.object_id)


def check_scene_options(preset: str, scenes: str, photos: Sequence[str]) -> None:
    """
    Refuse an unknown preset or scene version, and photos with ``v1`` scenes.

    :param preset: 'indoor' or 'street'
    :param scenes: 'v1' or 'v2'
    :param photos: photo sources
    :raises ValueError: naming the bad value and the choices
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown synthetic preset {preset!r}; choose from '
                         f'{", ".join(sorted(PRESETS))}')
    if scenes not in SCENE_VERSIONS:
        raise ValueError(f'unknown scene version {scenes!r}; choose from '
                         f'{", ".join(SCENE_VERSIONS)}')
    if photos and scenes == 'v1':
        raise ValueError('photo textures are a v2 feature: v1 scenes stay as they were (use '
                         'scenes v2)')


def make_sequence(preset: str = 'indoor', seed: int = 0, index: int = 0, n_frames: int = 100,
                  height: int = 240, width: int = 320, hfov: Optional[float] = None,
                  intrinsics: Optional[CameraIntrinsics] = None, scenes: str = 'v1',
                  photos: Sequence[str] = ()) -> SyntheticSequence:
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
    :param scenes: scene version, 'v1' or 'v2' (see the module docstring)
    :param photos: photo texture sources for ``v2`` (see
        :mod:`disdepth_core.data.synthetic.photos`)
    :return: the sequence
    """
    check_scene_options(preset, scenes, photos)
    if n_frames < 1:
        raise ValueError(f'a sequence needs at least one frame, got {n_frames}')
    if height < 8 or width < 8:
        raise ValueError(f'image size {width}x{height} is too small (min 8x8)')
    rng = np.random.default_rng([int(seed), int(index), PRESET_CODE[preset]])
    if intrinsics is None:
        rng_k = np.random.default_rng([int(seed), int(index), PRESET_CODE[preset], 99])
        lo_hi = PRESET_HFOV[preset] if hfov is None else (float(hfov), float(hfov))
        intrinsics = random_intrinsics(rng_k, int(height), int(width), lo_hi)
    if scenes == 'v1':
        scene, poses = PRESETS[preset](rng, int(n_frames))
        return SyntheticSequence(scene, intrinsics.validate(), poses, int(seed), int(index))
    code = [int(seed), int(index), PRESET_CODE[preset], _VERSION_CODE[scenes]]
    bank = load_photo_bank(tuple(str(p) for p in photos))
    scene, poses = SCENES_V2[preset](np.random.default_rng(code), int(n_frames), bank)
    response = sample_response(np.random.default_rng(code + [5]))
    return SyntheticSequence(scene, intrinsics.validate(), poses, int(seed), int(index),
                             response, scenes)


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
    :param scenes: scene version, 'v1' (default: the original scenes) or 'v2'
    :param photos: photo texture sources for ``v2`` scenes
    """

    def __init__(self, preset: str = 'indoor', length: int = 1000, seed: int = 0,
                 height: int = 240, width: int = 320, frames_per_sequence: int = 50,
                 hfov: Optional[float] = None, first_sequence: int = 0, augment: Any = None,
                 size: Optional[Tuple[int, int]] = None, scenes: str = 'v1',
                 photos: Sequence[str] = ()) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        check_scene_options(preset, scenes, photos)
        self.scenes = scenes
        self.photos = tuple(str(p) for p in photos)
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
                                self.height, self.width, self.hfov, scenes=self.scenes,
                                photos=self.photos)
            self._cache[index] = seq
        return seq

    def load_frame(self, index: int) -> Frame:
        """Render frame ``index``; see :class:`DepthDataset`."""
        s, f = divmod(index, self.frames_per_sequence)
        seq = self.sequence(self.first_sequence + s)
        out = seq.render(f)
        tag = self.preset if self.scenes == 'v1' else f'{self.preset}-{self.scenes}'
        return Frame(rgb=out.rgb, depth=out.depth, intrinsics=seq.intrinsics,
                     name=f'{tag}-{self.seed}-{self.first_sequence + s:04d}-{f:04d}')
