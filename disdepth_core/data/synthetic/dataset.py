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

"""Sequences (one scene, one camera, a trajectory) and the ``synthetic`` dataset."""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.data.synthetic.cameras import random_intrinsics
from disdepth_core.data.synthetic.sampling import PRESET_CODE
from disdepth_core.data.synthetic.sampling import PRESET_FAR
from disdepth_core.data.synthetic.sampling import PRESET_HFOV
from disdepth_core.data.synthetic.sampling import PRESETS
from disdepth_core.data.synthetic.shading import render
from disdepth_core.data.synthetic.shading import RenderResult
from disdepth_core.data.synthetic.shading import Scene
from disdepth_core.geometry import CameraIntrinsics


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
    rng = np.random.default_rng([int(seed), int(index), PRESET_CODE[preset]])
    if intrinsics is None:
        rng_k = np.random.default_rng([int(seed), int(index), PRESET_CODE[preset], 99])
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
