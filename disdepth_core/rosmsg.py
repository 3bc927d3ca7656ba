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
Message <-> numpy conversions: Image, CompressedImage, CameraInfo and PointCloud2, pure numpy.

Messages are duck-typed: anything with the ROS 2 field names works, so the same functions serve
rclpy messages (the node) and ``rosbags`` messages (the bag tools).  Nothing here imports rclpy.
Functions that *produce* messages return plain dicts of field values; the caller copies them into
a message of its own type (``for k, v in fields.items(): setattr(msg, k, v)``).

Conventions (REP 118 / REP 117, depth_image_proc):

* depth ``32FC1`` is metres with NaN invalid; depth ``16UC1`` is millimetres with 0 invalid;
* point clouds are organised (height x width of the depth image), little-endian, ``is_dense``
  false, NaN for invalid points, and use the depth_image_proc layout: ``x y z`` float32 at
  0/4/8 with ``point_step`` 16, plus ``rgb`` packed as float32 at 16 with ``point_step`` 32;
* camera intrinsics come from ``P`` when it is usable (as image_geometry does), else ``K``;
  rescaling follows the pixel-centre convention of :mod:`disdepth_core.geometry`;
* a ``CompressedImage`` on a colour topic holds a JPEG or PNG file (image_transport's
  ``compressed`` transport); it is decoded with OpenCV, imported only when one is decoded.
"""

import array
from bisect import bisect_left
import math
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from disdepth_core.geometry import CameraIntrinsics

# encoding -> (numpy dtype, channels)
ENCODINGS: Dict[str, Tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4),
    'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '8UC1': (np.dtype(np.uint8), 1),
    '8UC3': (np.dtype(np.uint8), 3),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}

# Encodings image_to_rgb accepts, and which channels of the decoded array are R, G, B.
_RGB_CHANNELS: Dict[str, Tuple[int, int, int]] = {
    'rgb8': (0, 1, 2),
    'rgba8': (0, 1, 2),
    'bgr8': (2, 1, 0),
    'bgra8': (2, 1, 0),
    '8UC3': (2, 1, 0),  # OpenCV's default channel order
}

DEPTH_ENCODINGS = ('32FC1', '16UC1')

# File signatures of the compressed formats a colour CompressedImage may hold.
COMPRESSED_SIGNATURES: Dict[str, bytes] = {
    'jpeg': b'\xff\xd8\xff',
    'png': b'\x89PNG\r\n\x1a\n',
}

# sensor_msgs/PointField datatype constant for float32.
POINTFIELD_FLOAT32 = 7

_LITTLE_ENDIAN = sys.byteorder == 'little'


class ConversionError(ValueError):
    """A message cannot be converted; the message names the field and the problem."""


def _data_buffer(data: Any) -> np.ndarray:
    """Return message ``data`` (bytes, array.array, list or ndarray) as a flat uint8 array."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else \
            np.frombuffer(data.tobytes(), np.uint8)
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    try:
        return np.frombuffer(memoryview(data).cast('B'), np.uint8)
    except TypeError as exc:
        raise ConversionError(f'image data of type {type(data).__name__} is not a byte buffer: '
                              f'{exc}') from None


def image_to_numpy(msg: Any) -> np.ndarray:
    """
    Decode a sensor_msgs/Image into an array of its native dtype and channels.

    Handles row padding (``step`` larger than a row) and big-endian data.  The result is a
    native-endian, C-contiguous copy that does not alias the message.

    :param msg: an Image-like object (height, width, encoding, is_bigendian, step, data)
    :return: H x W (one channel) or H x W x C array
    :raises ConversionError: for an unsupported encoding, an empty image, or a ``step`` /
        ``data`` length that does not fit the size and encoding
    """
    encoding = str(msg.encoding)
    if encoding not in ENCODINGS:
        raise ConversionError(f'unsupported image encoding {encoding!r}; supported: '
                              f'{", ".join(ENCODINGS)}')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ConversionError(f'image is empty ({width}x{height}, encoding {encoding})')
    dtype, channels = ENCODINGS[encoding]
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError(f'image step {step} is smaller than one row of {width} x '
                              f'{encoding} pixels ({row_bytes} bytes)')
    buf = _data_buffer(msg.data)
    if buf.size != step * height:
        raise ConversionError(f'image data has {buf.size} bytes but step x height = {step} x '
                              f'{height} = {step * height} ({width}x{height} {encoding})')
    rows = buf.reshape(height, step)[:, :row_bytes]
    if dtype.itemsize > 1:
        big = bool(msg.is_bigendian)
        wire = dtype.newbyteorder('>' if big else '<')
        out = np.empty((height, width * channels), dtype)
        out[...] = np.ascontiguousarray(rows).view(wire)
    else:
        out = np.array(rows, dtype=np.uint8, copy=True)
    return out.reshape((height, width) if channels == 1 else (height, width, channels))


def image_to_rgb(msg: Any) -> np.ndarray:
    """
    Decode a colour or grey sensor_msgs/Image into H x W x 3 uint8 RGB.

    ``bgr8``/``bgra8``/``8UC3`` (OpenCV order) are swapped, alpha is dropped, ``mono8``/``8UC1``
    are replicated to three channels and ``mono16`` is scaled to 8 bits (``v >> 8``).

    :param msg: an Image-like object
    :return: H x W x 3 uint8, RGB order, C-contiguous
    :raises ConversionError: for depth encodings (``16UC1``, ``32FC1``) and everything
        :func:`image_to_numpy` rejects
    """
    encoding = str(msg.encoding)
    if encoding in ('16UC1', '32FC1'):
        raise ConversionError(f'image encoding {encoding!r} is a depth/data encoding, not a '
                              'colour image; the node needs rgb8, bgr8, rgba8, bgra8, mono8 or '
                              'mono16')
    arr = image_to_numpy(msg)
    if encoding in _RGB_CHANNELS:
        # ``arr`` is already a fresh C-contiguous copy: rgb8 is returned as it is, and the other
        # orders are copied one channel at a time (numpy's fancy indexing on a last axis of 3
        # is about ten times slower).
        order = _RGB_CHANNELS[encoding]
        if order == (0, 1, 2) and arr.shape[2] == 3:
            return arr
        out = np.empty(arr.shape[:2] + (3,), np.uint8)
        for dst, src in enumerate(order):
            out[..., dst] = arr[..., src]
        return out
    if encoding == 'mono16':
        arr = (arr >> 8).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2))


def is_compressed_image(msg: Any) -> bool:
    """Whether ``msg`` looks like a ``sensor_msgs/CompressedImage`` (``format`` + ``data``)."""
    return hasattr(msg, 'format') and not hasattr(msg, 'encoding')


def _source_encoding(fmt: str) -> str:
    """
    Return the original encoding named by an image_transport format string, or ''.

    image_transport writes ``'<encoding>; <jpeg|png> compressed <target>'`` (``compressed``)
    and ``'<encoding>; compressedDepth <png|rvl>'``; other publishers often write just
    ``'jpeg'`` or ``'png'``.
    """
    head, sep, _ = fmt.partition(';')
    return head.strip() if sep else ''


def compressed_image_to_rgb(msg: Any) -> np.ndarray:
    """
    Decode a colour sensor_msgs/CompressedImage (JPEG or PNG) into H x W x 3 uint8 RGB.

    Grey images are replicated to three channels, alpha is dropped, 16-bit colour or ``mono16``
    PNGs are scaled to 8 bits (``v >> 8``).  Depth payloads are refused: the
    ``compressedDepth`` transport, a format naming a depth encoding (``16UC1``, ``32FC1``), and
    a 16-bit single-channel PNG whose format does not say ``mono16``.

    :param msg: a CompressedImage-like object (``format``, ``data``)
    :return: H x W x 3 uint8, RGB order, C-contiguous
    :raises ConversionError: for a depth payload, no data, data that is neither JPEG nor PNG,
        or data that cannot be decoded (corrupt or truncated)
    """
    fmt = str(msg.format)
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ConversionError(f'compressed image format {fmt!r} is a compressedDepth (depth) '
                              "image, not a colour image: subscribe the colour image's "
                              'image/compressed topic')
    source = _source_encoding(fmt)
    if source in DEPTH_ENCODINGS:
        raise ConversionError(f'compressed image format {fmt!r} carries a {source} depth image, '
                              'not a colour image')
    buf = _data_buffer(msg.data)
    if buf.size == 0:
        raise ConversionError(f'compressed image ({fmt!r}) has no data')
    head = buf[:8].tobytes()
    kind = next((k for k, sig in COMPRESSED_SIGNATURES.items() if head.startswith(sig)), None)
    if kind is None:
        raise ConversionError(f'compressed image ({fmt!r}, {buf.size} bytes) is neither JPEG nor '
                              f'PNG (starts with {head.hex()})')
    import cv2
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ConversionError(f'compressed image ({fmt!r}, {buf.size} bytes) is a corrupt or '
                              f'truncated {kind.upper()} file')
    if decoded.dtype == np.uint16:
        if decoded.ndim == 2 and source != 'mono16':
            raise ConversionError(f'compressed image ({fmt!r}) is a 16-bit single-channel PNG, '
                                  'i.e. a depth image, not a colour image (a mono16 camera '
                                  "must say 'mono16; png compressed' in format)")
        decoded = (decoded >> 8).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        raise ConversionError(f'compressed image ({fmt!r}) decodes to {decoded.dtype} pixels; '
                              'a colour image needs 8 or 16 bits per channel')
    if decoded.ndim == 2:
        return np.ascontiguousarray(np.repeat(decoded[..., None], 3, axis=2))
    # OpenCV decodes to BGR or BGRA.
    return np.ascontiguousarray(decoded[..., 2::-1])


def message_to_rgb(msg: Any) -> np.ndarray:
    """
    Decode an Image or CompressedImage message (rclpy or ``rosbags``) into H x W x 3 uint8 RGB.

    :param msg: an Image-like (see :func:`image_to_rgb`) or CompressedImage-like object (see
        :func:`compressed_image_to_rgb`)
    :return: H x W x 3 uint8, RGB order
    :raises ConversionError: for an unsupported encoding, a depth payload or undecodable data
    """
    if is_compressed_image(msg):
        return compressed_image_to_rgb(msg)
    return image_to_rgb(msg)


def stamp_ns(stamp_or_header: Any) -> int:
    """
    Nanoseconds of a ``builtin_interfaces/Time``, or of a header's / message's stamp.

    :param stamp_or_header: a Time (``sec``, ``nanosec``), a Header, or a message with a header
    :return: integer nanoseconds
    """
    obj = stamp_or_header
    obj = getattr(obj, 'header', obj)
    obj = getattr(obj, 'stamp', obj)
    return int(obj.sec) * 1_000_000_000 + int(obj.nanosec)


def nearest_stamp(stamps: Sequence[int], stamp: int) -> Tuple[Optional[int], Optional[int]]:
    """
    Find the stamp nearest to ``stamp`` in a sorted list.

    The offline counterpart (bags) of the node's live matcher, ``disdepth_ros.sync.StampMatcher``.

    :param stamps: stamps in ns, sorted ascending
    :param stamp: the stamp to match, ns
    :return: (index of the nearest, its |offset| in ns), or (None, None) for an empty list
    """
    if not stamps:
        return None, None
    i = bisect_left(stamps, stamp)
    best = min((j for j in (i - 1, i) if 0 <= j < len(stamps)),
               key=lambda j: abs(stamps[j] - stamp))
    return best, abs(stamps[best] - stamp)


def fill_message(msg: Any, fields: Mapping[str, Any],
                 point_field: Optional[Callable[..., Any]] = None) -> Any:
    """
    Copy a field dict of this module into a mutable message (rclpy's), in place.

    ``roi`` (a dict) is copied into ``msg.roi``; ``fields`` (a PointCloud2's ``(name, offset,
    datatype, count)`` tuples) become ``point_field(name=..., offset=..., datatype=...,
    count=...)`` objects; everything else is set as it is.

    :param msg: the message (e.g. a fresh ``sensor_msgs.msg.Image()``)
    :param fields: from :func:`numpy_to_image_fields`, :func:`depth_to_image_fields`,
        :func:`intrinsics_to_camera_info_fields`, :func:`scaled_camera_info_fields` or
        :func:`pointcloud2_fields`
    :param point_field: the PointField class (needed for clouds only)
    :return: ``msg``
    :raises ConversionError: a cloud without ``point_field``
    """
    for key, value in fields.items():
        if key == 'roi':
            for roi_key, roi_value in value.items():
                setattr(msg.roi, roi_key, roi_value)
        elif key == 'fields':
            if point_field is None:
                raise ConversionError('filling a PointCloud2 needs the PointField class')
            msg.fields = [point_field(name=n, offset=o, datatype=d, count=c)
                          for n, o, d, c in value]
        else:
            setattr(msg, key, value)
    return msg


def numpy_to_image_fields(arr: np.ndarray, encoding: str) -> Dict[str, Any]:
    """
    Image message fields for an array (little-endian, rows without padding).

    :param arr: H x W or H x W x C array whose dtype and channels match ``encoding``
    :param encoding: one of :data:`ENCODINGS`
    :return: dict with height, width, encoding, is_bigendian, step, data (bytes)
    :raises ConversionError: for an unsupported encoding or a mismatching array
    """
    if encoding not in ENCODINGS:
        raise ConversionError(f'unsupported image encoding {encoding!r}; supported: '
                              f'{", ".join(ENCODINGS)}')
    dtype, channels = ENCODINGS[encoding]
    arr = np.asarray(arr)
    shape_ok = (arr.ndim == 2 and channels == 1) or (arr.ndim == 3 and arr.shape[2] == channels)
    if not shape_ok:
        raise ConversionError(f'array of shape {arr.shape} does not fit encoding {encoding} '
                              f'({channels} channel(s))')
    if arr.dtype != dtype:
        raise ConversionError(f'array dtype {arr.dtype} does not fit encoding {encoding} '
                              f'(needs {dtype})')
    height, width = arr.shape[:2]
    if height == 0 or width == 0:
        raise ConversionError(f'cannot publish an empty image ({width}x{height})')
    data = np.ascontiguousarray(arr, dtype=dtype.newbyteorder('<')).tobytes()
    return {'height': int(height), 'width': int(width), 'encoding': encoding,
            'is_bigendian': 0, 'step': int(width * channels * dtype.itemsize), 'data': data}


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """
    Metres (NaN invalid) to 16UC1 millimetres (0 invalid, rounded, clipped to 65535).

    :param depth_m: H x W float depth in metres
    :return: H x W uint16
    """
    d = np.asarray(depth_m, dtype=np.float32)
    valid = np.isfinite(d) & (d > 0)
    mm = np.rint(np.where(valid, d, 0.0) * np.float32(1000.0))
    return np.clip(mm, 0, 65535).astype(np.uint16)


def depth_to_image_fields(depth_m: np.ndarray, encoding: str = '32FC1') -> Dict[str, Any]:
    """
    Image message fields for a metric depth map (REP 118).

    :param depth_m: H x W float depth in metres, NaN (or any non-finite / <= 0) invalid
    :param encoding: ``32FC1`` (metres, NaN invalid) or ``16UC1`` (millimetres, 0 invalid,
        values above 65.535 m clipped to 65535)
    :return: see :func:`numpy_to_image_fields`
    :raises ConversionError: for another encoding or a non-2-D array
    """
    d = np.asarray(depth_m)
    if d.ndim != 2:
        raise ConversionError(f'depth must be H x W, got shape {d.shape}')
    if encoding == '32FC1':
        return numpy_to_image_fields(d.astype(np.float32, copy=False), '32FC1')
    if encoding == '16UC1':
        return numpy_to_image_fields(depth_to_millimetres(d), '16UC1')
    raise ConversionError(f'unsupported depth encoding {encoding!r}; use 32FC1 (metres) or '
                          '16UC1 (millimetres)')


def _matrix_field(msg: Any, name: str, size: int) -> np.ndarray:
    value = getattr(msg, name.lower(), None)
    if value is None:
        value = getattr(msg, name.upper(), None)
    if value is None:
        raise ConversionError(f'camera info has no {name.upper()} field')
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != size:
        raise ConversionError(f'camera info {name.upper()} has {arr.size} values, expected '
                              f'{size}')
    return arr


def _usable(fx: float, fy: float, cx: float, cy: float) -> bool:
    return all(math.isfinite(v) for v in (fx, fy, cx, cy)) and fx > 0 and fy > 0


def camera_info_to_intrinsics(msg: Any) -> CameraIntrinsics:
    """
    Pinhole intrinsics of a sensor_msgs/CameraInfo (``P`` when usable, else ``K``).

    :param msg: a CameraInfo-like object (width, height, k, p)
    :return: validated intrinsics for msg.width x msg.height
    :raises ConversionError: for a zero size, wrong-size K/P, or when neither P nor K holds
        finite, positive focal lengths (an uncalibrated camera)
    """
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise ConversionError(f'camera info has an empty image size ({width}x{height})')
    k = _matrix_field(msg, 'k', 9)
    p = _matrix_field(msg, 'p', 12)
    for name, (fx, fy, cx, cy) in (('P', (p[0], p[5], p[2], p[6])),
                                   ('K', (k[0], k[4], k[2], k[5]))):
        if _usable(fx, fy, cx, cy):
            try:
                return CameraIntrinsics(float(fx), float(fy), float(cx), float(cy),
                                        width, height).validate()
            except ValueError as exc:
                raise ConversionError(f'camera info {name}: {exc}') from None
    raise ConversionError(f'camera info has no usable intrinsics: P = {p.tolist()}, '
                          f'K = {k.tolist()} (zero, NaN or negative focal lengths: an '
                          'uncalibrated camera)')


def _scale_rows(values: np.ndarray, ncols: int, sx: float, sy: float) -> List[float]:
    m = values.reshape(3, ncols).copy()
    m[0, 0] *= sx
    m[0, 2] = (m[0, 2] + 0.5) * sx - 0.5
    m[1, 1] *= sy
    m[1, 2] = (m[1, 2] + 0.5) * sy - 0.5
    if ncols == 4:
        m[0, 3] *= sx
        m[1, 3] *= sy
    return [float(v) for v in m.reshape(-1)]


def scaled_camera_info_fields(msg: Any, width: int, height: int) -> Dict[str, Any]:
    """
    Fields of a CameraInfo describing the same camera at ``width`` x ``height`` pixels.

    K and P are scaled with the pixel-centre convention (``f * s``, ``(c + 0.5) * s - 0.5``),
    D, R and the distortion model are kept, binning is reset (the published image is the
    reference) and a non-empty ROI is scaled.  Keys use the ROS 2 field names (lower case).

    :param msg: the input CameraInfo-like object
    :param width: published width
    :param height: published height
    :return: dict with width, height, k, p, d, r, distortion_model, binning_x, binning_y, roi
        (roi is a dict of x_offset, y_offset, height, width, do_rectify)
    :raises ConversionError: for a zero target or source size or malformed K/P
    """
    src_w, src_h = int(msg.width), int(msg.height)
    if src_w <= 0 or src_h <= 0:
        raise ConversionError(f'camera info has an empty image size ({src_w}x{src_h})')
    if width <= 0 or height <= 0:
        raise ConversionError(f'cannot scale camera info to {width}x{height}')
    sx, sy = width / src_w, height / src_h
    k = _matrix_field(msg, 'k', 9)
    p = _matrix_field(msg, 'p', 12)
    r = _matrix_field(msg, 'r', 9)
    d = np.asarray(getattr(msg, 'd', []), dtype=np.float64).reshape(-1)
    roi = getattr(msg, 'roi', None)
    roi_fields = {'x_offset': 0, 'y_offset': 0, 'height': 0, 'width': 0, 'do_rectify': False}
    if roi is not None:
        roi_fields = {'x_offset': int(roi.x_offset), 'y_offset': int(roi.y_offset),
                      'height': int(roi.height), 'width': int(roi.width),
                      'do_rectify': bool(roi.do_rectify)}
        if (sx, sy) != (1.0, 1.0) and (roi_fields['width'] or roi_fields['height']):
            roi_fields.update(x_offset=int(round(roi_fields['x_offset'] * sx)),
                              y_offset=int(round(roi_fields['y_offset'] * sy)),
                              width=int(round(roi_fields['width'] * sx)),
                              height=int(round(roi_fields['height'] * sy)))
    same = (sx, sy) == (1.0, 1.0)
    return {
        'width': int(width),
        'height': int(height),
        'distortion_model': str(getattr(msg, 'distortion_model', '')),
        'd': [float(v) for v in d],
        'k': [float(v) for v in k] if same else _scale_rows(k, 3, sx, sy),
        'r': [float(v) for v in r],
        'p': [float(v) for v in p] if same else _scale_rows(p, 4, sx, sy),
        'binning_x': int(getattr(msg, 'binning_x', 0)) if same else 0,
        'binning_y': int(getattr(msg, 'binning_y', 0)) if same else 0,
        'roi': roi_fields,
    }


def intrinsics_to_camera_info_fields(intrinsics: CameraIntrinsics) -> Dict[str, Any]:
    """
    Fields of a CameraInfo for an ideal pinhole camera (no distortion, P = [K | 0]).

    Used when the node runs on fallback intrinsics instead of a received CameraInfo.

    :param intrinsics: the intrinsics of the published image
    :return: same keys as :func:`scaled_camera_info_fields`
    """
    k = intrinsics.matrix()
    p = np.zeros((3, 4))
    p[:, :3] = k
    return {
        'width': int(intrinsics.width),
        'height': int(intrinsics.height),
        'distortion_model': 'plumb_bob',
        'd': [0.0] * 5,
        'k': [float(v) for v in k.reshape(-1)],
        'r': [float(v) for v in np.eye(3).reshape(-1)],
        'p': [float(v) for v in p.reshape(-1)],
        'binning_x': 0,
        'binning_y': 0,
        'roi': {'x_offset': 0, 'y_offset': 0, 'height': 0, 'width': 0, 'do_rectify': False},
    }


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Pack H x W x 3 uint8 RGB into uint32 ``0x00RRGGBB`` (the PCL / depth_image_proc layout).

    :param rgb: H x W x 3 uint8, RGB order
    :return: H x W uint32
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ConversionError(f'colours must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}')
    packed = rgb[..., 0].astype(np.uint32) << 16
    packed |= rgb[..., 1].astype(np.uint32) << 8
    packed |= rgb[..., 2]
    return packed


def pointcloud2_layout(colour: bool) -> Tuple[List[Tuple[str, int, int, int]], int]:
    """
    Fields and ``point_step`` of the organised cloud (depth_image_proc's layout).

    :param colour: with the ``rgb`` field
    :return: (list of (name, offset, datatype, count), point_step in bytes)
    """
    fields = [('x', 0, POINTFIELD_FLOAT32, 1), ('y', 4, POINTFIELD_FLOAT32, 1),
              ('z', 8, POINTFIELD_FLOAT32, 1)]
    if colour:
        fields.append(('rgb', 16, POINTFIELD_FLOAT32, 1))
    return fields, 32 if colour else 16


class CloudBuffer:
    """
    Storage of an organised PointCloud2 in its final byte layout, reused from frame to frame.

    :meth:`points` hands out the cloud as H x W x words float32 (``words`` = ``point_step`` /
    4): the x, y, z words (``[..., :3]``) and the rgb word (``[..., 4]``, see
    :meth:`store_rgb`) are written in place, the padding words are zero and stay zero (they are
    never written).  :meth:`fields` gives the PointCloud2 fields with ``data`` as the buffer's
    ``array.array`` itself (no copy; rclpy messages keep it as it is when their field checks
    are on, and the middleware copies it when the message is published).  So the data of one
    frame is valid until the next :meth:`points` call: publish (or copy) it before that.  A
    buffer belongs to one thread.
    """

    def __init__(self) -> None:
        self._data = array.array('B')
        self._key: Tuple[int, int, bool] = (0, 0, False)
        self._words: Optional[np.ndarray] = None
        self._colours: Optional[np.ndarray] = None

    def points(self, height: int, width: int, colour: bool) -> np.ndarray:
        """
        Make room for a ``height`` x ``width`` cloud and return its words to fill in.

        :param height: rows
        :param width: points per row
        :param colour: with the rgb field (``point_step`` 32, else 16)
        :return: height x width x (8 or 4) little-endian float32 view of the buffer
        """
        key = (int(height), int(width), bool(colour))
        if key != self._key or self._words is None:
            _, point_step = pointcloud2_layout(colour)
            # A new zeroed buffer (the old one may still be referenced by a message).
            self._data = array.array('B', bytes(key[0] * key[1] * point_step))
            self._words = np.frombuffer(self._data, dtype='<f4').reshape(
                key[0], key[1], point_step // 4)
            self._key = key
        return self._words

    def store_rgb(self, rgb: np.ndarray) -> None:
        """
        Write the ``rgb`` word of every point (uint32 ``0x00RRGGBB``, bytes B, G, R, 0).

        :param rgb: H x W x 3 uint8 RGB of the size given to :meth:`points` (colour on)
        :raises ConversionError: for colours of another size or type, or a cloud without rgb
        """
        height, width, colour = self._key
        if not colour or self._words is None:
            raise ConversionError('store_rgb needs a cloud with the rgb field (points(..., '
                                  'colour=True) first)')
        rgb = np.asarray(rgb)
        if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
            raise ConversionError(f'colours must be {height} x {width} x 3 uint8 like the '
                                  f'points, got colours {rgb.shape} {rgb.dtype}')
        if self._colours is None or self._colours.shape[:2] != (height, width):
            self._colours = np.zeros((height, width, 4), np.uint8)
        bgr0 = self._colours
        bgr0[..., 0] = rgb[..., 2]
        bgr0[..., 1] = rgb[..., 1]
        bgr0[..., 2] = rgb[..., 0]
        # One strided pass over the cloud: the 4 colour bytes of a point as one word.
        self._words.view(np.uint32)[..., 4] = bgr0.view(np.uint32)[..., 0]

    def fields(self) -> Dict[str, Any]:
        """
        PointCloud2 fields of the cloud filled in since :meth:`points` (see the class).

        :return: like :func:`pointcloud2_fields`, with ``data`` the buffer's ``array.array``
        """
        height, width, colour = self._key
        fields, point_step = pointcloud2_layout(colour)
        return {'height': height, 'width': width, 'fields': fields, 'is_bigendian': False,
                'point_step': point_step, 'row_step': point_step * width, 'data': self._data,
                'is_dense': False}


def pointcloud2_fields(xyz: np.ndarray, rgb: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """
    PointCloud2 fields for an organised cloud, bit-compatible with depth_image_proc.

    Layout: ``x``, ``y``, ``z`` float32 at offsets 0, 4, 8 and 4 zero bytes (``point_step``
    16); with colours, ``rgb`` (uint32 ``0x00RRGGBB`` stored as float32) at 16 and 12 zero bytes
    (``point_step`` 32).  Little-endian, ``is_dense`` false (NaN marks invalid points).  The
    node builds the same bytes in place with a :class:`CloudBuffer` (no xyz array, no copies).

    :param xyz: H x W x 3 float32 points in the optical frame (NaN invalid)
    :param rgb: optional H x W x 3 uint8 RGB colours of the same H x W
    :return: dict with height, width, fields (list of (name, offset, datatype, count) tuples),
        is_bigendian, point_step, row_step, data (bytes), is_dense
    :raises ConversionError: for mismatching shapes or dtypes
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise ConversionError(f'points must be H x W x 3, got shape {xyz.shape}')
    height, width = xyz.shape[:2]
    cloud = CloudBuffer()
    words = cloud.points(height, width, rgb is not None)
    if rgb is not None:
        cloud.store_rgb(rgb)
    words[..., :3] = xyz
    fields = cloud.fields()
    fields['data'] = fields['data'].tobytes()
    return fields


def pointcloud2_to_xyz(msg: Any) -> np.ndarray:
    """
    Read x, y, z of a float32 PointCloud2 back into H x W x 3 (for tests and tools).

    :param msg: a PointCloud2-like object with float32 x, y, z fields
    :return: H x W x 3 float32
    :raises ConversionError: when x, y or z is missing or not float32
    """
    offsets = {}
    for f in msg.fields:
        offsets[str(f.name)] = (int(f.offset), int(f.datatype))
    for name in ('x', 'y', 'z'):
        if name not in offsets or offsets[name][1] != POINTFIELD_FLOAT32:
            raise ConversionError(f'point cloud has no float32 field {name!r}')
    endian = '>' if bool(msg.is_bigendian) else '<'
    dt = np.dtype({'names': ['x', 'y', 'z'], 'formats': [endian + 'f4'] * 3,
                   'offsets': [offsets[n][0] for n in ('x', 'y', 'z')],
                   'itemsize': int(msg.point_step)})
    h, w = int(msg.height), int(msg.width)
    buf = _data_buffer(msg.data)
    if buf.size < int(msg.row_step) * h or int(msg.row_step) < w * int(msg.point_step):
        raise ConversionError(f'point cloud data has {buf.size} bytes, expected row_step x '
                              f'height = {int(msg.row_step) * h}')
    rows = buf[:int(msg.row_step) * h].reshape(h, int(msg.row_step))[:, :w * int(msg.point_step)]
    pts = np.ascontiguousarray(rows).view(dt).reshape(h, w)
    return np.stack([pts['x'], pts['y'], pts['z']], axis=-1).astype(np.float32)
