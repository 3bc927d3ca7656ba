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
Dataset ``kitti_eigen``: KITTI raw images with the annotated depth, in the BTS / AdaBins layout.

A split file (``kitti_eigen_train_files_with_gt.txt`` / ``kitti_eigen_test_files_with_gt.txt``)
lists ``rgb_path depth_path focal`` per line, e.g. ``2011_09_26/2011_09_26_drive_0002_sync/
image_02/data/0000000069.png 2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/
0000000069.png 721.5377``; RGB paths are relative to ``root`` (the raw data), depth paths to
``gt_root`` (default ``root``).  Entries whose depth is ``None`` or missing are skipped (BTS's
``has_valid_depth``; 652 of the 697 Eigen test frames remain); their count is in ``skipped``.
Depth PNGs are uint16 with ``depth = value / 256``, 0 = invalid.

Intrinsics come from ``<root>/<date>/calib_cam_to_cam.txt`` (``P_rect_02`` for image_02,
``P_rect_03`` for image_03) when present; otherwise fx = fy = the list's focal and the principal
point is the image centre (an approximation; say so in results).  With ``kb_crop=True`` (default)
frames are cut to the KITTI benchmark window 352 x 1216 (bottom-centred) and K shifted; the crop
bookkeeping keeps evaluation's Garg crop on the full frame.  Caps: 1e-3 - 80 m.
"""

from pathlib import Path
import re
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from disdepth_core.data.base import crop_frame
from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.nyu import join_list_path
from disdepth_core.data.nyu import read_split_file
from disdepth_core.data.registry import register_dataset
from disdepth_core.data.rgbd_folder import read_depth
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.metrics import kb_crop_box
from disdepth_core.transforms import read_rgb

_DATE = re.compile(r'(\d{4}_\d{2}_\d{2})')
_CAMERA = re.compile(r'image_0([0-3])')


def read_kitti_calib(path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """
    Read a KITTI ``calib_cam_to_cam.txt`` (``key: numbers`` lines) into arrays.

    :param path: the calibration file
    :return: key -> float64 array (non-numeric entries are skipped)
    """
    out: Dict[str, np.ndarray] = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition(':')
        if not sep:
            continue
        try:
            out[key.strip()] = np.array([float(x) for x in value.split()], np.float64)
        except ValueError:
            continue
    return out


@register_dataset('kitti_eigen')
class KittiEigenDataset(DepthDataset):
    """
    KITTI Eigen-split frames from a BTS-style split file (see the module docstring).

    :param root: KITTI raw root (RGB paths and calibration are relative to it)
    :param split_file: the list file
    :param gt_root: root of the depth paths (default ``root``)
    :param kb_crop: cut frames to the 352 x 1216 benchmark window
    :param augment: see :class:`DepthDataset`
    :param size: see :class:`DepthDataset`
    :param seed: see :class:`DepthDataset`
    :param max_frames: use only the first N usable entries
    """

    min_depth = 1e-3
    max_depth = 80.0
    eval_crop = 'garg'

    def __init__(self, root: Union[str, Path], split_file: Union[str, Path],
                 gt_root: Optional[Union[str, Path]] = None, kb_crop: bool = True,
                 augment: Any = None, size: Optional[Tuple[int, int]] = None, seed: int = 0,
                 max_frames: Optional[int] = None) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        self.root = Path(root)
        self.gt_root = Path(gt_root) if gt_root is not None else self.root
        self.kb_crop = kb_crop
        self.entries: List[Tuple[str, str, Optional[float]]] = []
        self.skipped = 0
        for rgb_rel, depth_rel, focal in read_split_file(split_file):
            if depth_rel == 'None' or not join_list_path(self.gt_root, depth_rel).is_file():
                self.skipped += 1
                continue
            self.entries.append((rgb_rel, depth_rel, focal))
        if max_frames is not None:
            self.entries = self.entries[:max(0, int(max_frames))]
        self._calib: Dict[str, Optional[Dict[str, np.ndarray]]] = {}

    def __len__(self) -> int:
        """Return the number of usable frames."""
        return len(self.entries)

    def _intrinsics(self, rgb_rel: str, focal: Optional[float], w: int,
                    h: int) -> CameraIntrinsics:
        date = _DATE.search(rgb_rel)
        cam = _CAMERA.search(rgb_rel)
        if date is not None:
            key = date.group(1)
            if key not in self._calib:
                path = self.root / key / 'calib_cam_to_cam.txt'
                self._calib[key] = read_kitti_calib(path) if path.is_file() else None
            calib = self._calib[key]
            p_key = f'P_rect_0{cam.group(1) if cam else "2"}'
            if calib is not None and p_key in calib and calib[p_key].size == 12:
                return CameraIntrinsics.from_matrix(calib[p_key], w, h).validate()
        if focal is None:
            raise ValueError(f'{rgb_rel}: no calib_cam_to_cam.txt under {self.root} and no '
                             'focal column in the split file')
        return CameraIntrinsics(focal, focal, (w - 1) / 2.0, (h - 1) / 2.0, w, h)

    def load_frame(self, index: int) -> Frame:
        """Read frame ``index``; see :class:`DepthDataset`."""
        rgb_rel, depth_rel, focal = self.entries[index]
        rgb = read_rgb(join_list_path(self.root, rgb_rel))
        depth_path = join_list_path(self.gt_root, depth_rel)
        depth = read_depth(depth_path, png_scale=256.0)
        h, w = rgb.shape[:2]
        if depth.shape != (h, w):
            raise ValueError(f'{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} but the '
                             f'image is {w}x{h}')
        frame = Frame(rgb=rgb, depth=depth, intrinsics=self._intrinsics(rgb_rel, focal, w, h),
                      name=Path(rgb_rel).as_posix())
        if self.kb_crop:
            top, left, ch, cw = kb_crop_box(h, w)
            frame = crop_frame(frame, top, left, ch, cw)
        return frame
