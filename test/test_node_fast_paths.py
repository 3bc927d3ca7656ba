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
The node's fast per-frame paths give the same bits as the plain ones and as independent references.

The point cloud built in place in a reused :class:`~disdepth_core.rosmsg.CloudBuffer`
(``depth_to_points(..., out=...)`` writing into the cloud's x, y, z words), the colour swap of
``image_to_rgb`` and the rclpy message that keeps the cloud's ``array.array`` without a copy.
"""

import array
from types import SimpleNamespace

import numpy as np
import pytest

from disdepth_core import rosmsg as cv
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_ros import pipeline

sensor_msgs = pytest.importorskip('sensor_msgs.msg')


def _depth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    depth = rng.uniform(0.2, 9.0, (h, w)).astype(np.float32)
    depth[::3, ::5] = np.nan
    depth[1, 1], depth[2, 2], depth[0, 3] = -1.0, np.inf, 0.0
    return depth


def _reference_cloud(depth: np.ndarray, k: CameraIntrinsics, rgb, stride: int) -> bytes:
    """Pack the cloud with a structured dtype, point by point semantics (depth_image_proc)."""
    z = depth[::stride, ::stride].astype(np.float64)
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    valid = np.isfinite(z) & (z > 0)
    z = np.where(valid, z, np.nan).astype(np.float32)
    rx = ((u - k.cx) / k.fx).astype(np.float32)
    ry = ((v - k.cy) / k.fy).astype(np.float32)
    names, formats, offsets = ['x', 'y', 'z'], ['<f4'] * 3, [0, 4, 8]
    if rgb is not None:
        names, formats, offsets = names + ['rgb'], formats + ['<u4'], offsets + [16]
    dt = np.dtype({'names': names, 'formats': formats, 'offsets': offsets,
                   'itemsize': 32 if rgb is not None else 16})
    out = np.zeros(z.shape, dt)
    out['x'], out['y'], out['z'] = rx * z, ry * z, z
    if rgb is not None:
        c = rgb[::stride, ::stride].astype(np.uint32)
        out['rgb'] = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return out.tobytes()


def test_cloud_buffer_matches_reference_and_plain_path() -> None:
    rng = np.random.default_rng(3)
    buffer = cv.CloudBuffer()
    # several sizes, strides and colour settings through one buffer: reuse and resizing
    for h, w in ((48, 64), (33, 47), (48, 64), (120, 160)):
        k = CameraIntrinsics(0.9 * w, 0.8 * w, w / 2.0 - 0.3, h / 2.0 + 0.7, w, h)
        depth = _depth(rng, h, w)
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        frame = pipeline.FrameDepth(rgb, k, depth, np.ones_like(depth), {})
        for stride in (1, 2, 3):
            for colour in (True, False):
                plain = pipeline.points_fields(frame, stride, colour)
                fast = pipeline.points_fields(frame, stride, colour, buffer)
                assert isinstance(fast['data'], array.array)
                assert bytes(fast['data']) == plain['data']
                assert plain['data'] == _reference_cloud(depth, k, rgb if colour else None,
                                                         stride)
                assert {key: v for key, v in fast.items() if key != 'data'} == \
                    {key: v for key, v in plain.items() if key != 'data'}


def test_cloud_buffer_reuses_its_memory_and_keeps_padding_zero() -> None:
    rng = np.random.default_rng(4)
    buffer = cv.CloudBuffer()
    words = buffer.points(20, 30, True)
    first = buffer.fields()['data']
    for _ in range(3):
        words = buffer.points(20, 30, True)
        words[..., :3] = rng.normal(size=(20, 30, 3)).astype(np.float32)
        buffer.store_rgb(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
        data = buffer.fields()['data']
        assert data is first                       # same storage every frame
        raw = np.frombuffer(data, np.uint8).reshape(20, 30, 32)
        assert not raw[..., 12:16].any() and not raw[..., 19:32].any()
    with pytest.raises(cv.ConversionError, match='colours must be 20 x 30 x 3 uint8'):
        buffer.store_rgb(np.zeros((20, 31, 3), np.uint8))
    buffer.points(20, 30, False)
    with pytest.raises(cv.ConversionError, match='rgb field'):
        buffer.store_rgb(np.zeros((20, 30, 3), np.uint8))


def test_depth_to_points_into_a_strided_view_is_bit_identical() -> None:
    rng = np.random.default_rng(5)
    k = CameraIntrinsics(50.0, 55.0, 31.5, 20.25, 64, 41)
    depth = _depth(rng, 41, 64)
    for stride in (1, 2, 5):
        plain = depth_to_points(depth, k, stride)
        words = np.zeros(plain.shape[:2] + (8,), np.float32)
        got = depth_to_points(depth, k, stride, out=words[..., :3])
        assert got.base is words or np.shares_memory(got, words)
        assert plain.tobytes() == np.ascontiguousarray(words[..., :3]).tobytes()
        assert not words[..., 3:].any()
    with pytest.raises(ValueError, match=r'out must be a \(41, 64, 3\) float32 array'):
        depth_to_points(depth, k, out=np.zeros((41, 64, 3), np.float64))


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', '8UC3'])
def test_image_to_rgb_channel_orders(encoding) -> None:
    rng = np.random.default_rng(6)
    channels = 4 if encoding in ('rgba8', 'bgra8') else 3
    arr = rng.integers(0, 256, (7, 9, channels), dtype=np.uint8)
    msg = SimpleNamespace(**cv.numpy_to_image_fields(arr, encoding))
    rgb = cv.image_to_rgb(msg)
    expected = arr[..., :3] if encoding.startswith('rgb') else arr[..., 2::-1]
    assert rgb.flags['C_CONTIGUOUS'] and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, expected)
    rgb[...] = 0                                   # a copy: the message is untouched
    assert bytes(msg.data) == arr.tobytes()


def test_point_cloud_message_keeps_the_buffer() -> None:
    from disdepth_ros.depth_node import _fill
    from disdepth_ros.depth_node import _keeping_arrays
    buffer = cv.CloudBuffer()
    words = buffer.points(4, 5, True)
    words[..., :3] = 1.5
    buffer.store_rgb(np.full((4, 5, 3), 7, np.uint8))
    fields = buffer.fields()
    msg = _fill(_keeping_arrays(sensor_msgs.PointCloud2), fields)
    assert msg.data is fields['data']              # no 10 MB copy before publish
    plain = _fill(sensor_msgs.PointCloud2(), dict(fields, data=bytes(fields['data'])))
    assert plain == msg
