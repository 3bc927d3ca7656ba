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
Point clouds to and from PLY files (pure numpy), for viewing in MeshLab, CloudCompare, Open3D.

:func:`write_ply` writes the finite points of an (organised or flat) xyz array, optionally
coloured, as binary little-endian (default) or ASCII PLY, atomically (temporary file + rename).
:func:`read_ply` reads back the files it writes (vertex x, y, z float and optional red, green,
blue uchar).
"""

from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from disdepth_core.inference.atomic import atomic_path

_PLY_TYPES = {'float': '<f4', 'float32': '<f4', 'double': '<f8', 'float64': '<f8',
              'uchar': 'u1', 'uint8': 'u1', 'char': 'i1', 'int8': 'i1', 'ushort': '<u2',
              'uint16': '<u2', 'short': '<i2', 'int16': '<i2', 'uint': '<u4', 'uint32': '<u4',
              'int': '<i4', 'int32': '<i4'}


def _flatten(xyz: np.ndarray, rgb: Optional[np.ndarray]
             ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    pts = np.asarray(xyz, dtype=np.float32)
    if pts.ndim < 2 or pts.shape[-1] != 3:
        raise ValueError(f'points must be N x 3 or H x W x 3, got shape {pts.shape}')
    pts = pts.reshape(-1, 3)
    cols = None
    if rgb is not None:
        cols = np.asarray(rgb)
        if cols.dtype != np.uint8 or cols.shape[-1] != 3 or cols.size != pts.size:
            raise ValueError(f"colours must be uint8 with the points' shape, got "
                             f'{cols.dtype} {cols.shape} for {pts.shape[0]} points')
        cols = cols.reshape(-1, 3)
    keep = np.isfinite(pts).all(axis=1)
    return pts[keep], (None if cols is None else cols[keep])


def write_ply(path: Union[str, Path], xyz: np.ndarray, rgb: Optional[np.ndarray] = None,
              binary: bool = True, comment: str = '') -> int:
    """
    Write the finite points of ``xyz`` (and their colours) to a PLY file.

    :param path: output file (written atomically)
    :param xyz: N x 3 or H x W x 3 float points (NaN / inf rows are skipped)
    :param rgb: matching N x 3 or H x W x 3 uint8 colours (RGB), or None
    :param binary: binary little-endian (default) or ASCII
    :param comment: a comment line for the header (e.g. units and frame)
    :return: the number of vertices written
    :raises ValueError: for mismatching shapes or dtypes
    """
    pts, cols = _flatten(xyz, rgb)
    n = int(pts.shape[0])
    lines = ['ply', f'format {"binary_little_endian" if binary else "ascii"} 1.0']
    for c in comment.splitlines():
        lines.append(f'comment {c}')
    lines += [f'element vertex {n}', 'property float x', 'property float y', 'property float z']
    fields = [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]
    if cols is not None:
        lines += ['property uchar red', 'property uchar green', 'property uchar blue']
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    lines.append('end_header')
    header = ('\n'.join(lines) + '\n').encode('ascii')
    rec = np.empty(n, dtype=np.dtype(fields))
    rec['x'], rec['y'], rec['z'] = pts[:, 0], pts[:, 1], pts[:, 2]
    if cols is not None:
        rec['red'], rec['green'], rec['blue'] = cols[:, 0], cols[:, 1], cols[:, 2]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix='.ply') as tmp, open(tmp, 'wb') as f:
        f.write(header)
        if binary:
            f.write(rec.tobytes())
        else:
            formats = ['%.7g'] * 3 + (['%d'] * 3 if cols is not None else [])
            table = np.column_stack([pts] + ([cols] if cols is not None else []))
            np.savetxt(f, table, fmt=formats)
    return n


def read_ply(path: Union[str, Path]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Read the vertices of a PLY file with x, y, z (and optional red, green, blue) properties.

    :param path: the file
    :return: (N x 3 float32 points, N x 3 uint8 colours or None)
    :raises ValueError: for a malformed header or unsupported format
    """
    data = Path(path).read_bytes()
    end = data.find(b'end_header\n')
    if not data.startswith(b'ply\n') or end < 0:
        raise ValueError(f'{path}: not a PLY file (no "ply" / "end_header")')
    header = data[:end].decode('ascii', errors='replace').splitlines()
    body = data[end + len(b'end_header\n'):]
    fmt, count, props, in_vertex = '', -1, [], False
    for line in header:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == 'format':
            fmt = parts[1]
        elif parts[0] == 'element':
            in_vertex = parts[1] == 'vertex'
            if in_vertex:
                count = int(parts[2])
        elif parts[0] == 'property' and in_vertex:
            if parts[1] == 'list' or parts[1] not in _PLY_TYPES:
                raise ValueError(f'{path}: unsupported vertex property {line!r}')
            props.append((parts[2], _PLY_TYPES[parts[1]]))
    if count < 0 or not props:
        raise ValueError(f'{path}: no vertex element')
    dtype = np.dtype(props)
    if fmt == 'binary_little_endian':
        if len(body) < count * dtype.itemsize:
            raise ValueError(f'{path}: truncated ({len(body)} bytes for {count} vertices)')
        rec = np.frombuffer(body[:count * dtype.itemsize], dtype=dtype)
    elif fmt == 'ascii':
        rows = body.decode('ascii').split('\n')[:count]
        rec = np.array([tuple(float(v) for v in r.split()) for r in rows],
                       dtype=[(name, '<f8') for name, _ in props])
        if rec.shape[0] != count:
            raise ValueError(f'{path}: expected {count} vertices, found {rec.shape[0]}')
    else:
        raise ValueError(f'{path}: unsupported PLY format {fmt!r}')
    names = dtype.names or ()
    if not {'x', 'y', 'z'} <= set(names):
        raise ValueError(f'{path}: vertices lack x, y, z')
    xyz = np.stack([rec['x'], rec['y'], rec['z']], axis=1).astype(np.float32)
    rgb = None
    if {'red', 'green', 'blue'} <= set(names):
        rgb = np.stack([rec['red'], rec['green'], rec['blue']], axis=1).astype(np.uint8)
    return xyz, rgb
