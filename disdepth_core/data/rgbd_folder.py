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
The RGB-D folder format: reader (dataset ``rgbd_folder``) and atomic writer.

Layout (the project's interchange format, see ``../shared/data/README.md``)::

    <set>/rgb/NNNN.png        8-bit colour (cv2 reads BGR; converted to RGB here)
    <set>/depth/NNNN.png      uint16 millimetres, 0 = invalid
       or <set>/depth/NNNN.npy  float32 metres, 0 = invalid (for depth beyond 65.5 m)
    <set>/intrinsics.json     {"fx", "fy", "cx", "cy", "width", "height", ...notes}
    <set>/frames.csv          optional: index -> original file, poses, ...

Depth is z along the optical axis of the RGB camera, registered to the RGB pixel grid.  A root
without ``intrinsics.json`` whose sub-folders are RGB-D folders (what ``disdepth synth
--vary-intrinsics`` writes) is read as their concatenation, in sorted order.

**Per-frame intrinsics.**  When the camera changes from frame to frame (zoom, crops, a dataset
that stores intrinsics per image), ``frames.csv`` may carry any of the columns ``fx``, ``fy``,
``cx``, ``cy``, ``width``, ``height``.  A non-empty cell overrides ``intrinsics.json`` for that
frame; ``intrinsics.json`` then holds the values shared by all frames, and leaves the per-frame
ones ``null`` (or out).  Every frame must end up with all six values, each checked as in
:func:`~disdepth_core.geometry.load_intrinsics_json`; problems are reported when the folder is
opened, naming the frame, the key and the value.
"""

import csv
import json
import os
from pathlib import Path
import shutil
import tempfile
from types import TracebackType
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

import cv2
import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import intrinsics_from_values
from disdepth_core.geometry import INTRINSICS_KEYS
from disdepth_core.geometry import read_intrinsics_file
from disdepth_core.transforms import check_rgb
from disdepth_core.transforms import read_rgb

RGB_SUFFIXES = ('.png', '.jpg', '.jpeg')
PNG_MAX_DEPTH_M = 65.535


def read_depth(path: Union[str, Path], png_scale: float = 1000.0) -> np.ndarray:
    """
    Read a depth map in metres: uint16 PNG divided by ``png_scale``, or a float32 .npy (metres).

    Zero, negative and non-finite values become 0 (invalid).

    :param path: depth file (.png or .npy)
    :param png_scale: PNG units per metre (1000 for mm; 256 for KITTI)
    :return: H x W float32 metres
    :raises ValueError: for an unreadable file or the wrong type/shape
    """
    path = Path(path)
    if path.suffix == '.npy':
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f'{path}: cannot read the depth array ({exc})') from None
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2 or arr.dtype.kind != 'f':
            raise ValueError(f'{path}: .npy depth must be a 2-D float array in metres, got '
                             f'{arr.dtype} {arr.shape}')
        depth = arr.astype(np.float32)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f'{path}: cannot read the depth image (missing or not an image)')
        if raw.ndim != 2 or raw.dtype != np.uint16:
            raise ValueError(f'{path}: depth PNG must be single-channel uint16, got {raw.dtype} '
                             f'with shape {raw.shape}')
        depth = raw.astype(np.float32) / np.float32(png_scale)
    with np.errstate(invalid='ignore'):
        bad = ~np.isfinite(depth) | (depth <= 0)
    depth[bad] = 0.0
    return depth


def _find_depth(depth_dir: Path, stem: str) -> Path:
    for suffix in ('.png', '.npy'):
        candidate = depth_dir / (stem + suffix)
        if candidate.is_file():
            return candidate
    raise ValueError(f'{depth_dir}: no depth file {stem}.png or {stem}.npy for rgb/{stem}')


def read_frames_csv(path: Path) -> Dict[str, Dict[str, str]]:
    """
    Read an optional ``frames.csv`` (header with an ``index`` column) as rows by index.

    :param path: the file (absent: no rows)
    :return: index -> row
    :raises ValueError: for a file without an ``index`` column
    """
    if not path.is_file():
        return {}
    with path.open(newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or 'index' not in reader.fieldnames:
            raise ValueError(f'{path}: frames.csv must have a header with an "index" column')
        return {row['index']: row for row in reader}


def is_rgbd_folder(path: Union[str, Path]) -> bool:
    """Return True if ``path`` has ``intrinsics.json`` and an ``rgb/`` folder."""
    path = Path(path)
    return (path / 'intrinsics.json').is_file() and (path / 'rgb').is_dir()


def _csv_value(cell: str) -> Any:
    """Return a frames.csv cell as a number when it reads as one, else its text (refused later)."""
    try:
        return float(cell)
    except ValueError:
        return cell.strip()


def folder_intrinsics(json_path: Path, rows: Dict[str, Dict[str, str]],
                      stems: Sequence[str]) -> Dict[str, CameraIntrinsics]:
    """
    Intrinsics of every frame of an RGB-D folder: ``intrinsics.json`` + per-frame frames.csv.

    :param json_path: the folder's ``intrinsics.json``
    :param rows: frames.csv rows by index (see :func:`read_frames_csv`)
    :param stems: the frames
    :return: frame stem -> validated intrinsics
    :raises ValueError: naming the file, the frame, the key and the value at fault
    """
    shared = read_intrinsics_file(json_path)
    columns = sorted({k for row in rows.values() for k, v in row.items()
                      if k in INTRINSICS_KEYS and v not in (None, '')})
    if not columns:
        nulls = [k for k in INTRINSICS_KEYS if k in shared and shared[k] is None]
        hint = (f' (if the intrinsics change from frame to frame, give {", ".join(nulls)} per '
                'frame in frames.csv columns of the same names)' if nulls else '')
        try:
            k = intrinsics_from_values(shared, str(json_path))
        except ValueError as exc:
            raise ValueError(f'{exc}{hint}') from None
        return {stem: k for stem in stems}
    csv_path = json_path.parent / 'frames.csv'
    out = {}
    for stem in stems:
        row = rows.get(stem, {})
        values = {k: v for k, v in shared.items() if k in INTRINSICS_KEYS and v is not None}
        values.update({k: _csv_value(row[k]) for k in columns if row.get(k) not in (None, '')})
        where = f'{csv_path} frame {stem} (with {json_path.name})'
        out[stem] = intrinsics_from_values(values, where)
    return out


class _Folder:
    """One RGB-D folder: per-frame intrinsics and the (rgb, depth) file pairs."""

    def __init__(self, root: Path, require_depth: bool) -> None:
        self.root = root
        rgb_dir = root / 'rgb'
        self.rgb_paths: Dict[str, Path] = {
            p.stem: p for p in rgb_dir.iterdir() if p.suffix.lower() in RGB_SUFFIXES
            and p.is_file()}
        if not self.rgb_paths:
            raise ValueError(f'{rgb_dir}: no .png/.jpg images')
        self.stems = sorted(self.rgb_paths)
        stems = self.stems
        depth_dir = root / 'depth'
        if require_depth and not depth_dir.is_dir():
            raise ValueError(f'{root}: no depth/ folder (not an RGB-D folder)')
        self.depth_paths: Dict[str, Optional[Path]] = {
            s: (_find_depth(depth_dir, s) if depth_dir.is_dir() else None) for s in stems}
        self.rows = read_frames_csv(root / 'frames.csv')
        self.intrinsics = folder_intrinsics(root / 'intrinsics.json', self.rows, stems)


@register_dataset('rgbd_folder')
class RGBDFolderDataset(DepthDataset):
    """
    Frames of one RGB-D folder (or of every RGB-D sub-folder of ``root``).

    Default caps: ``min_depth`` 1e-3 m; ``max_depth`` None (training keeps all valid depth;
    ``disdepth eval`` then uses the model's ``spec.max_depth``, or 10 m).  No standard crop.

    :param root: the folder
    :param augment: see :class:`DepthDataset`
    :param size: see :class:`DepthDataset`
    :param seed: see :class:`DepthDataset`
    :param max_depth: cap for ``valid_mask`` (None: none)
    :param max_frames: use only the first N frames (None: all)
    """

    eval_crop = None

    def __init__(self, root: Union[str, Path], augment: Any = None,
                 size: Optional[Tuple[int, int]] = None, seed: int = 0,
                 max_depth: Optional[float] = None, max_frames: Optional[int] = None) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        self.root = Path(root)
        if max_depth is not None:
            self.max_depth = float(max_depth)
        if not self.root.is_dir():
            raise ValueError(f'RGB-D folder {self.root} does not exist')
        if is_rgbd_folder(self.root):
            dirs = [self.root]
        else:
            dirs = sorted(p for p in self.root.iterdir() if is_rgbd_folder(p))
            if not dirs:
                raise ValueError(f'{self.root} is not an RGB-D folder (needs intrinsics.json and '
                                 'rgb/, depth/) and has no RGB-D sub-folders')
        self.folders = [_Folder(d, require_depth=True) for d in dirs]
        self.items: List[Tuple[int, str]] = [(i, s) for i, f in enumerate(self.folders)
                                             for s in f.stems]
        if max_frames is not None:
            self.items = self.items[:max(0, int(max_frames))]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.items)

    def frame_info(self, index: int) -> Dict[str, str]:
        """Return the ``frames.csv`` row of frame ``index`` (empty when there is none)."""
        folder_index, stem = self.items[self._check_index(index)]
        return dict(self.folders[folder_index].rows.get(stem, {}))

    def load_frame(self, index: int) -> Frame:
        """Read frame ``index``; see :class:`DepthDataset`."""
        folder_index, stem = self.items[index]
        folder = self.folders[folder_index]
        rgb = read_rgb(folder.rgb_paths[stem])
        depth_path = folder.depth_paths[stem]
        depth = read_depth(depth_path) if depth_path is not None else None
        k = folder.intrinsics[stem]
        if rgb.shape[:2] != (k.height, k.width):
            raise ValueError(f'{folder.rgb_paths[stem]}: image is {rgb.shape[1]}x{rgb.shape[0]} '
                             f'but its intrinsics say {k.width}x{k.height}')
        if depth is not None and depth.shape != rgb.shape[:2]:
            raise ValueError(f'{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} but the '
                             f'image is {rgb.shape[1]}x{rgb.shape[0]}')
        name = stem if len(self.folders) == 1 else f'{folder.root.name}/{stem}'
        return Frame(rgb=rgb, depth=depth, intrinsics=k, name=name)


def encode_depth_png(depth: np.ndarray) -> np.ndarray:
    """
    Metres -> uint16 millimetres (rounded); invalid (<= 0, NaN, inf) -> 0.

    :param depth: H x W float metres
    :return: H x W uint16
    :raises ValueError: if a valid value exceeds 65.535 m (use .npy then)
    """
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    if valid.any() and depth[valid].max() > PNG_MAX_DEPTH_M:
        raise ValueError(f'depth up to {depth[valid].max():.2f} m does not fit a uint16 mm PNG '
                         f'(max {PNG_MAX_DEPTH_M} m); write .npy depth instead')
    return np.where(valid, np.rint(np.where(valid, depth, 0.0) * 1000.0), 0).astype(np.uint16)


def _replace_dir(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` to ``final`` (replacing it if ``overwrite``) with renames only."""
    backup = None
    if final.exists():
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        elif not overwrite:
            raise FileExistsError(f'{final} already exists (pass overwrite=True / --overwrite)')
        else:
            backup = Path(tempfile.mkdtemp(prefix=f'.{final.name}.old-', dir=final.parent))
            backup.rmdir()
            os.replace(final, backup)
    os.replace(tmp, final)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def make_temp_dir(final: Union[str, Path]) -> Path:
    """
    Create an empty temporary directory beside ``final`` (same file system, so rename is atomic).

    :param final: the directory that will eventually be created
    :return: the temporary directory
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f'.{final.name}.tmp-', dir=final.parent))


def commit_dir(tmp: Union[str, Path], final: Union[str, Path], overwrite: bool = False) -> None:
    """
    Atomically publish a directory written by :func:`make_temp_dir`.

    :param tmp: the finished temporary directory
    :param final: destination
    :param overwrite: replace an existing non-empty destination
    """
    _replace_dir(Path(tmp), Path(final), overwrite)


class RGBDFolderWriter:
    """
    Write an RGB-D folder atomically.

    Everything goes into a temporary sibling directory that is renamed to ``path`` by
    :meth:`close` (an exception inside ``with`` removes it instead).

    Usage::

        with RGBDFolderWriter(out, intrinsics, depth_format='png') as w:
            w.add(rgb, depth, pose='...')

    :param path: destination folder
    :param intrinsics: camera of every frame (one intrinsics.json per folder)
    :param depth_format: 'png' (uint16 mm; <= 65.535 m) or 'npy' (float32 metres)
    :param overwrite: replace an existing non-empty ``path``
    :param notes: extra keys stored in intrinsics.json (e.g. generator settings)
    :param atomic: False writes straight into ``path`` (for sub-folders of an already temporary
        parent)
    """

    def __init__(self, path: Union[str, Path], intrinsics: CameraIntrinsics,
                 depth_format: str = 'png', overwrite: bool = False,
                 notes: Optional[Dict[str, Any]] = None, atomic: bool = True) -> None:
        if depth_format not in ('png', 'npy'):
            raise ValueError(f"depth_format must be 'png' or 'npy', got {depth_format!r}")
        self.path = Path(path)
        self.intrinsics = intrinsics.validate()
        self.depth_format = depth_format
        self.overwrite = overwrite
        self.notes = dict(notes or {})
        self.atomic = atomic
        if atomic:
            if self.path.exists() and not overwrite and not (
                    self.path.is_dir() and not any(self.path.iterdir())):
                raise FileExistsError(f'{self.path} already exists (use overwrite)')
            self.tmp = make_temp_dir(self.path)
        else:
            self.path.mkdir(parents=True, exist_ok=overwrite)
            self.tmp = self.path
        (self.tmp / 'rgb').mkdir()
        (self.tmp / 'depth').mkdir()
        self.rows: List[Dict[str, Any]] = []
        self.columns: List[str] = ['index']
        self.closed = False

    def __len__(self) -> int:
        """Return the number of frames written so far."""
        return len(self.rows)

    def add(self, rgb: np.ndarray, depth: np.ndarray, **fields: Any) -> str:
        """
        Append one frame.

        :param rgb: H x W x 3 uint8 RGB at the intrinsics' size
        :param depth: H x W float metres (0 / NaN = invalid)
        :param fields: extra frames.csv columns for this frame (str()-converted)
        :return: the frame's index string (NNNN)
        """
        if self.closed:
            raise RuntimeError('RGBDFolderWriter is closed')
        check_rgb(rgb)
        k = self.intrinsics
        if rgb.shape[:2] != (k.height, k.width):
            raise ValueError(f'image is {rgb.shape[1]}x{rgb.shape[0]} but the folder intrinsics '
                             f'are {k.width}x{k.height}')
        if np.shape(depth) != rgb.shape[:2]:
            raise ValueError(f'depth shape {np.shape(depth)} does not match the image '
                             f'{rgb.shape[:2]}')
        stem = f'{len(self.rows):04d}'
        if not cv2.imwrite(str(self.tmp / 'rgb' / f'{stem}.png'),
                           cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f'cannot write {self.tmp / "rgb" / stem}.png')
        if self.depth_format == 'png':
            if not cv2.imwrite(str(self.tmp / 'depth' / f'{stem}.png'), encode_depth_png(depth)):
                raise OSError(f'cannot write {self.tmp / "depth" / stem}.png')
        else:
            d = np.asarray(depth, dtype=np.float32)
            with np.errstate(invalid='ignore'):
                d = np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0)).astype(np.float32)
            np.save(self.tmp / 'depth' / f'{stem}.npy', d, allow_pickle=False)
        row = {'index': stem}
        for key, value in fields.items():
            if key not in self.columns:
                self.columns.append(key)
            row[key] = value
        self.rows.append(row)
        return stem

    def close(self) -> Path:
        """
        Write intrinsics.json and frames.csv and publish the folder.

        :return: the final path
        """
        if self.closed:
            return self.path
        fmt = ('depth/NNNN.png uint16, millimetres, 0 = invalid' if self.depth_format == 'png'
               else 'depth/NNNN.npy float32, metres, 0 = invalid')
        info = {**self.intrinsics.to_dict(), 'depth_format': fmt, **self.notes}
        (self.tmp / 'intrinsics.json').write_text(json.dumps(info, indent=2) + '\n')
        with (self.tmp / 'frames.csv').open('w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, restval='')
            writer.writeheader()
            for row in self.rows:
                writer.writerow(row)
        self.closed = True
        if self.atomic:
            _replace_dir(self.tmp, self.path, self.overwrite)
        return self.path

    def abort(self) -> None:
        """Discard everything written (only for atomic writers; otherwise leaves the files)."""
        self.closed = True
        if self.atomic:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> 'RGBDFolderWriter':
        """Enter the context."""
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        """Publish on success, discard on error."""
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_rgbd_folder(path: Union[str, Path], intrinsics: CameraIntrinsics,
                      frames: Sequence[Tuple[np.ndarray, np.ndarray]],
                      depth_format: str = 'png', overwrite: bool = False,
                      notes: Optional[Dict[str, Any]] = None) -> Path:
    """
    Write a list of (rgb, depth) pairs as an RGB-D folder, atomically.

    :param path: destination
    :param intrinsics: shared intrinsics
    :param frames: (rgb uint8 HxWx3, depth float metres HxW) pairs
    :param depth_format: 'png' or 'npy'
    :param overwrite: replace an existing folder
    :param notes: extra intrinsics.json keys
    :return: the final path
    """
    with RGBDFolderWriter(path, intrinsics, depth_format, overwrite, notes) as writer:
        for rgb, depth in frames:
            writer.add(rgb, depth)
    return writer.path
