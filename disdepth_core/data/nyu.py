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
Dataset ``nyu``: NYU Depth v2 in the BTS / AdaBins layout.

A split file lists one frame per line: ``rgb_path depth_path [focal]``, paths relative to ``root``
(RGB) and ``gt_root`` (depth; default ``root``), a leading ``/`` allowed, e.g. the BTS lists
``nyudepthv2_train_files_with_gt.txt`` (``/kitchen_0028a/rgb_00045.jpg
/kitchen_0028a/sync_depth_00045.png 518.8579``) and ``nyudepthv2_test_files_with_gt.txt`` for the
official 654 test images (``bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579``).
Depth PNGs are uint16 millimetres (``/ 1000``), 0 = invalid.

Intrinsics: the standard NYU Kinect calibration for 640 x 480 (fx 518.8579, fy 519.4696,
cx 325.5824, cy 253.7362), with fx from the list's focal column when present (fy scaled alike),
rescaled if an image has another size.  ``mode='train'`` removes the white border of the
official images (rows 45:472, cols 43:608, as BTS/AdaBins do) before augmentation;
``mode='test'`` keeps the full frame and evaluation applies the Eigen crop (45:471, 41:601).
Caps: 1e-3 - 10 m.
"""

from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from disdepth_core.data.base import crop_frame
from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.data.rgbd_folder import read_depth
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.transforms import read_rgb

NYU_INTRINSICS = CameraIntrinsics(518.8579, 519.4696, 325.5824, 253.7362, 640, 480)
NYU_BORDER_CROP = (45, 43, 427, 565)  # top, left, height, width: rows 45:472, cols 43:608


def read_split_file(path: Union[str, Path], min_fields: int = 2
                    ) -> List[Tuple[str, str, Optional[float]]]:
    """
    Parse a BTS-style list: ``rgb_path depth_path [focal]`` per line (blank lines skipped).

    :param path: the list file
    :param min_fields: fields required per line
    :return: (rgb, depth, focal or None) per line
    :raises ValueError: naming the file and line of a malformed entry
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f'split file {path} does not exist')
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < min_fields:
            raise ValueError(f'{path}:{number}: expected "rgb_path depth_path [focal]", got '
                             f'{line!r}')
        focal = None
        if len(fields) >= 3:
            try:
                focal = float(fields[2])
            except ValueError:
                raise ValueError(f'{path}:{number}: focal {fields[2]!r} is not a number') \
                    from None
        entries.append((fields[0], fields[1], focal))
    if not entries:
        raise ValueError(f'split file {path} lists no frames')
    return entries


def join_list_path(root: Path, relative: str) -> Path:
    """Join a list entry (which may start with '/') to its root."""
    return root / relative.lstrip('/')


@register_dataset('nyu')
class NYUDataset(DepthDataset):
    """
    NYU Depth v2 frames from a BTS-style split file (see the module docstring).

    :param root: folder the RGB paths are relative to
    :param split_file: the list file
    :param gt_root: folder the depth paths are relative to (default ``root``)
    :param mode: 'train' (remove the white border) or 'test' (full frame)
    :param augment: see :class:`DepthDataset`
    :param size: see :class:`DepthDataset`
    :param seed: see :class:`DepthDataset`
    :param max_frames: use only the first N entries
    """

    min_depth = 1e-3
    max_depth = 10.0
    eval_crop = 'eigen'

    def __init__(self, root: Union[str, Path], split_file: Union[str, Path],
                 gt_root: Optional[Union[str, Path]] = None, mode: str = 'test',
                 augment: Any = None, size: Optional[Tuple[int, int]] = None, seed: int = 0,
                 max_frames: Optional[int] = None) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        if mode not in ('train', 'test'):
            raise ValueError(f"nyu mode must be 'train' or 'test', got {mode!r}")
        self.root = Path(root)
        self.gt_root = Path(gt_root) if gt_root is not None else self.root
        self.mode = mode
        self.entries = read_split_file(split_file)
        if max_frames is not None:
            self.entries = self.entries[:max(0, int(max_frames))]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.entries)

    def load_frame(self, index: int) -> Frame:
        """Read frame ``index``; see :class:`DepthDataset`."""
        rgb_rel, depth_rel, focal = self.entries[index]
        rgb = read_rgb(join_list_path(self.root, rgb_rel))
        depth_path = join_list_path(self.gt_root, depth_rel)
        depth = read_depth(depth_path, png_scale=1000.0)
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f'{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} but the '
                             f'image is {rgb.shape[1]}x{rgb.shape[0]}')
        k = NYU_INTRINSICS
        if focal is not None:
            ratio = focal / k.fx
            k = CameraIntrinsics(focal, k.fy * ratio, k.cx, k.cy, k.width, k.height)
        h, w = rgb.shape[:2]
        if (h, w) != (k.height, k.width):
            k = k.scaled(w, h)
        frame = Frame(rgb=rgb, depth=depth, intrinsics=k, name=Path(rgb_rel).as_posix())
        if self.mode == 'train':
            top, left, ch, cw = NYU_BORDER_CROP
            sy, sx = h / 480.0, w / 640.0
            frame = crop_frame(frame, int(round(top * sy)), int(round(left * sx)),
                               int(round(ch * sy)), int(round(cw * sx)))
        return frame
