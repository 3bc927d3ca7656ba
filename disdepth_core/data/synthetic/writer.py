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
Procedural scenes written as an RGB-D folder (what ``disdepth synth`` runs).

One ``intrinsics.json`` per folder is the format, so by default every sequence of a run shares one
camera (random in the preset's FOV range, or ``--hfov``) and all frames go into one folder, with
``sequence``, ``frame`` and ``pose_cam_to_world_row_major_4x4`` (optical frame -> z-up world) in
``frames.csv``.  ``--vary-intrinsics`` instead draws a camera per sequence and writes one RGB-D
sub-folder per sequence (``seq_0000`` ...); ``rgbd_folder`` reads such a parent folder as the
concatenation of its sub-folders.  Depth is uint16 mm PNG when the preset's far limit fits
(indoor), else float32 metres ``.npy`` (street).  The output appears atomically.

``--scenes v1`` (the default) writes the original scenes, frame for frame; ``--scenes v2`` the
furnished interiors with photo textures (``--photos SRC``, repeatable: ``skimage``, an RGB-D
folder with an optional frame selection such as ``PATH[0:30]``, or a folder of images) and the
``v2`` camera (see :mod:`disdepth_core.data.synthetic`).
"""

import math
from pathlib import Path
import shutil
from typing import cast, List, Optional, Sequence

import numpy as np

from disdepth_core.data.rgbd_folder import commit_dir
from disdepth_core.data.rgbd_folder import make_temp_dir
from disdepth_core.data.rgbd_folder import PNG_MAX_DEPTH_M
from disdepth_core.data.rgbd_folder import RGBDFolderWriter
from disdepth_core.data.synthetic import make_sequence
from disdepth_core.data.synthetic import PRESET_FAR
from disdepth_core.data.synthetic.dataset import check_scene_options


def _pose_text(pose: np.ndarray) -> str:
    return ' '.join(f'{v:.6f}' for v in np.asarray(pose).reshape(-1))


def split_frames(total: int, sequences: int) -> List[int]:
    """
    Split ``total`` frames into ``sequences`` nearly equal parts (earlier ones get the extra).

    :param total: number of frames
    :param sequences: number of sequences
    :return: frames per sequence
    """
    base, extra = divmod(total, sequences)
    return [base + (1 if i < extra else 0) for i in range(sequences)]


def generate(out: Path, frames: int, preset: str = 'indoor', seed: int = 0, height: int = 240,
             width: int = 320, sequences: int = 1, hfov: Optional[float] = None,
             vary_intrinsics: bool = False, depth_format: str = 'auto', noise: bool = True,
             overwrite: bool = False, scenes: str = 'v1', photos: Sequence[str] = ()) -> Path:
    """
    Generate and write a synthetic RGB-D folder (the work behind ``disdepth synth``).

    :param out: destination folder
    :param frames: total frames (>= 1)
    :param preset: 'indoor' or 'street'
    :param seed: seed
    :param height: image height
    :param width: image width
    :param sequences: number of scenes (1 <= sequences <= frames)
    :param hfov: fixed horizontal FOV in degrees, or None
    :param vary_intrinsics: one camera and sub-folder per sequence
    :param depth_format: 'auto', 'png' or 'npy'
    :param noise: add sensor noise to the images
    :param overwrite: replace an existing folder
    :param scenes: scene version, 'v1' or 'v2'
    :param photos: photo texture sources (``v2`` only)
    :return: the written folder
    """
    check_scene_options(preset, scenes, photos)
    if frames < 1:
        raise ValueError(f'--frames must be >= 1, got {frames}')
    if not 1 <= sequences <= frames:
        raise ValueError(f'--sequences must be between 1 and --frames ({frames}), got '
                         f'{sequences}')
    if depth_format == 'auto':
        depth_format = 'png' if PRESET_FAR[preset] <= PNG_MAX_DEPTH_M else 'npy'
    if depth_format == 'png' and PRESET_FAR[preset] > PNG_MAX_DEPTH_M:
        raise ValueError(f'preset {preset} has depth up to {PRESET_FAR[preset]} m, more than a '
                         'uint16 mm PNG holds; use --depth-format npy')
    out = Path(out)
    if out.exists() and not overwrite and not (out.is_dir() and not any(out.iterdir())):
        raise FileExistsError(f'{out} already exists (use --overwrite)')
    counts = split_frames(frames, sequences)
    tag = preset if scenes == 'v1' else f'{preset}-{scenes}'
    notes = {'generator': 'disdepth synth', 'preset': preset, 'seed': seed,
             'sequences': sequences, 'far_m': PRESET_FAR[preset],
             'depth_note': 'exact ray-cast z-depth; sky and surfaces beyond far_m are 0',
             'pose_note': 'pose_cam_to_world_row_major_4x4: optical frame -> world (z up)',
             'scenes': scenes, 'photos': [str(p) for p in photos]}
    tmp = make_temp_dir(out)
    try:
        shared_k = None
        writer = None
        index = 0
        for s, n in enumerate(counts):
            seq = make_sequence(preset, seed, s, n, height, width, hfov,
                                intrinsics=None if vary_intrinsics else shared_k,
                                scenes=scenes, photos=photos)
            if vary_intrinsics or writer is None:
                if writer is not None:
                    writer.close()
                target = tmp / f'seq_{s:04d}' if vary_intrinsics else tmp
                writer = RGBDFolderWriter(target, seq.intrinsics, depth_format, overwrite=True,
                                          notes={**notes, 'hfov_deg': math.degrees(
                                              2 * math.atan(0.5 * width / seq.intrinsics.fx))},
                                          atomic=False)
                shared_k = seq.intrinsics
            for f in range(n):
                r = seq.render(f, noise=noise)
                writer.add(r.rgb, r.depth, sequence=s, frame=f,
                           name=f'{tag}-{seed}-{s:04d}-{f:04d}',
                           pose_cam_to_world_row_major_4x4=_pose_text(seq.poses[f]))
                index += 1
        cast(RGBDFolderWriter, writer).close()   # sequences >= 1: the loop opened one
        commit_dir(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
