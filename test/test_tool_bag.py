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

"""``disdepth bag``: bag -> bag on small sqlite3 and mcap bags written by the test itself."""

import os
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import depth_to_points
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.modelspec import ModelSpec
from disdepth_core.rosmsg import pointcloud2_to_xyz
from disdepth_ros import bag
from disdepth_ros import cli
from disdepth_ros import pipeline
from disdepth_ros.pipeline import OutputOptions

TS = get_typestore(Stores.ROS2_KILTED)
H, W = 64, 96
FX, FY, CX, CY = 80.0, 78.0, 47.5, 31.5
T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000


class FakeEstimator:
    """Deterministic stand-in: depth depends on every pixel and on the focal length."""

    def __init__(self) -> None:
        self.spec = ModelSpec(name='fake', architecture='student', backbone='none',
                              input_height=32, input_width=32, canonical_focal=100.0,
                              min_depth=0.1, max_depth=20.0)
        self.info = EngineInfo(engine='fake', provider='cpu', model_path='')
        self.calls = 0

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        assert rgb.dtype == np.uint8 and rgb.shape[2] == 3
        assert (intrinsics.width, intrinsics.height) == (rgb.shape[1], rgb.shape[0])
        self.calls += 1
        depth = (0.5 + rgb[..., 0].astype(np.float32) / 64.0 + rgb[..., 2] / 512.0) \
            * np.float32(intrinsics.fx / 100.0)
        depth[0, 0] = np.nan
        conf = (rgb[..., 1].astype(np.float32) / 255.0)
        conf[0, 0] = 0.0
        return DepthResult(depth.astype(np.float32), conf, {'infer': 1.0})


def frame_rgb(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def header(stamp: int, frame_id: str) -> object:
    t = TS.types
    return t['std_msgs/msg/Header'](
        stamp=t['builtin_interfaces/msg/Time'](sec=stamp // 10**9, nanosec=stamp % 10**9),
        frame_id=frame_id)


def image_msg(i: int, stamp: int, encoding: str = 'rgb8') -> object:
    rgb = frame_rgb(i)
    data = rgb[..., ::-1] if encoding == 'bgr8' else rgb
    return TS.types['sensor_msgs/msg/Image'](
        header=header(stamp, f'cam_optical_{i}'), height=H, width=W, encoding=encoding,
        is_bigendian=0, step=W * 3, data=np.ascontiguousarray(data).reshape(-1))


def compressed_msg(i: int, stamp: int) -> object:
    ok, png = cv2.imencode('.png', frame_rgb(i)[..., ::-1])
    assert ok
    return TS.types['sensor_msgs/msg/CompressedImage'](
        header=header(stamp, f'cam_optical_{i}'), format='rgb8; png compressed bgr8',
        data=png.reshape(-1))


def info_msg(stamp: int, frame_id: str, scale: float = 1.0) -> object:
    t = TS.types
    k = np.array([FX, 0, CX, 0, FY, CY, 0, 0, 1.0])
    p = np.array([FX, 0, CX, 0, 0, FY, CY, 0, 0, 0, 1.0, 0])
    if scale != 1.0:
        k[[0, 2, 4, 5]] = [FX * scale, (CX + 0.5) * scale - 0.5, FY * scale,
                           (CY + 0.5) * scale - 0.5]
        p[[0, 2, 5, 6]] = [FX * scale, (CX + 0.5) * scale - 0.5, FY * scale,
                           (CY + 0.5) * scale - 0.5]
    return t['sensor_msgs/msg/CameraInfo'](
        header=header(stamp, frame_id), height=int(H * scale), width=int(W * scale),
        distortion_model='plumb_bob', d=np.array([0.01, -0.02, 0.0, 0.0, 0.0]), k=k,
        r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
        roi=t['sensor_msgs/msg/RegionOfInterest'](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def write_bag(path: Path, storage: str = 'sqlite3', frames: int = 5, *,
              info: bool = True, info_offset_ns: int = 0, encoding: str = 'rgb8',
              compressed: bool = False, info_scale: float = 1.0,
              image_topic: str = '/cam/image_raw') -> Path:
    """Write a small bag: images, camera infos and an unrelated String topic."""
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    img_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    string = TS.types['std_msgs/msg/String']
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_img = w.add_connection(image_topic, img_type, typestore=TS)
        c_info = w.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo',
                                  typestore=TS) if info else None
        c_txt = w.add_connection('/chatter', 'std_msgs/msg/String', typestore=TS)
        for i in range(frames):
            stamp = T0 + i * PERIOD
            log_t = stamp + 3_000_000
            msg = compressed_msg(i, stamp) if compressed else image_msg(i, stamp, encoding)
            w.write(c_img, log_t, TS.serialize_cdr(msg, img_type))
            if c_info is not None:
                w.write(c_info, log_t + 1000, TS.serialize_cdr(
                    info_msg(stamp + info_offset_ns, f'cam_optical_{i}', info_scale),
                    'sensor_msgs/msg/CameraInfo'))
            w.write(c_txt, log_t + 2000, TS.serialize_cdr(string(data=f'hello {i}'),
                                                          'std_msgs/msg/String'))
    return path


def read_bag(path: Path) -> Dict[str, List[Tuple[int, object, bytes]]]:
    """topic -> [(log time, message, raw bytes)] of a bag, read with rosbags."""
    out: Dict[str, List[Tuple[int, object, bytes]]] = {}
    with AnyReader([path], default_typestore=TS) as reader:
        for conn, t, raw in reader.messages(connections=reader.connections):
            out.setdefault(conn.topic, []).append(
                (t, reader.deserialize(raw, conn.msgtype), bytes(raw)))
    return out


def as_float_image(msg: object) -> np.ndarray:
    assert msg.encoding == '32FC1'
    return np.frombuffer(bytes(msg.data), '<f4').reshape(msg.height, msg.width)


def leftovers(parent: Path) -> List[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.endswith('.partial'))


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_to_bag_matches_direct_engine_output(tmp_path: Path, storage: str) -> None:
    src = write_bag(tmp_path / f'in_{storage}', storage, frames=5)
    dst = tmp_path / 'out'
    est = FakeEstimator()
    summary = bag.process_bag(src, dst, bag.BagOptions('/cam/image_raw', points=True,
                                                       progress=False), est, log=lambda s: None)
    assert summary.images == 5 and est.calls == 5
    assert summary.storage == storage
    assert summary.intrinsics_sources == {'exact': 5}
    assert summary.topics == {'depth': '/cam/depth',
                              'depth_camera_info': '/cam/depth/camera_info',
                              'confidence': '/cam/depth/confidence', 'points': '/cam/points'}
    assert leftovers(tmp_path) == []
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    assert (dst / f'out{suffix}').is_file() and (dst / 'metadata.yaml').is_file()

    before, after = read_bag(src), read_bag(dst)
    # Every input topic is copied unchanged (same log times, same bytes).
    for topic, msgs in before.items():
        assert [(t, raw) for t, _, raw in after[topic]] == [(t, raw) for t, _, raw in msgs]
    images = before['/cam/image_raw']
    ref = FakeEstimator()
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    for role in ('/cam/depth', '/cam/depth/camera_info', '/cam/depth/confidence',
                 '/cam/points'):
        assert len(after[role]) == len(images), role
        for (t_in, img, _), (t_out, msg, _) in zip(images, after[role]):
            assert t_out == t_in
            assert msg.header.frame_id == img.header.frame_id
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == \
                (img.header.stamp.sec, img.header.stamp.nanosec)
    for i, ((_, img, _), (_, depth, _), (_, conf, _), (_, info, _), (_, cloud, _)) in \
            enumerate(zip(images, after['/cam/depth'], after['/cam/depth/confidence'],
                          after['/cam/depth/camera_info'], after['/cam/points'])):
        expected = ref.predict(frame_rgb(i), k)
        np.testing.assert_array_equal(as_float_image(depth), expected.depth)
        np.testing.assert_array_equal(as_float_image(conf), expected.confidence)
        assert (info.width, info.height) == (W, H)
        np.testing.assert_allclose(info.k, [FX, 0, CX, 0, FY, CY, 0, 0, 1])
        np.testing.assert_allclose(info.d, [0.01, -0.02, 0, 0, 0])
        assert (cloud.height, cloud.width) == (H, W)
        assert [f.name for f in cloud.fields] == ['x', 'y', 'z', 'rgb']
        np.testing.assert_array_equal(pointcloud2_to_xyz(cloud),
                                      depth_to_points(expected.depth, k))
    # Output types carry definitions, so any reader can decode them without a type store.
    with AnyReader([dst]) as reader:
        types = {c.topic: (c.msgtype, c.msgdef.data != '', c.digest.startswith('RIHS01_'))
                 for c in reader.connections}
    assert types['/cam/depth'] == ('sensor_msgs/msg/Image', True, True)
    assert types['/cam/points'] == ('sensor_msgs/msg/PointCloud2', True, True)
    assert types['/cam/depth/camera_info'] == ('sensor_msgs/msg/CameraInfo', True, True)


def test_mcap_output_readable_by_mcap_ros2(tmp_path: Path) -> None:
    reader_mod = pytest.importorskip('mcap_ros2.reader')
    src = write_bag(tmp_path / 'in', 'sqlite3', frames=3)
    dst = tmp_path / 'out'
    bag.process_bag(src, dst, bag.BagOptions('/cam/image_raw', storage='mcap', points=True,
                                             progress=False), FakeEstimator(),
                    log=lambda s: None)
    counts: Dict[str, int] = {}
    depths = []
    for m in reader_mod.read_ros2_messages(str(dst / 'out.mcap')):
        counts[m.channel.topic] = counts.get(m.channel.topic, 0) + 1
        if m.channel.topic == '/cam/depth':
            msg = m.ros_msg
            depths.append(np.frombuffer(bytes(msg.data), '<f4').reshape(msg.height, msg.width))
    assert counts == {'/cam/image_raw': 3, '/cam/camera_info': 3, '/chatter': 3,
                      '/cam/depth': 3, '/cam/depth/camera_info': 3,
                      '/cam/depth/confidence': 3, '/cam/points': 3}
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    np.testing.assert_array_equal(depths[2], FakeEstimator().predict(frame_rgb(2), k).depth)


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_truncated_bag_gives_clear_error_and_no_output(tmp_path: Path, storage: str) -> None:
    src = write_bag(tmp_path / 'in', storage, frames=6)
    data = next(p for p in src.iterdir() if p.suffix in ('.db3', '.mcap'))
    os.truncate(data, data.stat().st_size // 2)
    dst = tmp_path / 'out'
    with pytest.raises(bag.BagError, match='truncated or corrupt'):
        bag.process_bag(src, dst, bag.BagOptions('/cam/image_raw', progress=False),
                        FakeEstimator(), log=lambda s: None)
    assert not dst.exists()
    assert leftovers(tmp_path) == []


def test_error_mid_bag_leaves_no_partial_output(tmp_path: Path) -> None:
    """An unsupported frame after good ones: clear error, nothing written."""
    src = tmp_path / 'in'
    with Writer(src, version=9) as w:
        c = w.add_connection('/cam/image_raw', 'sensor_msgs/msg/Image', typestore=TS)
        for i in range(3):
            msg = image_msg(i, T0 + i * PERIOD)
            if i == 2:
                msg.encoding = 'bayer_rggb8'
            w.write(c, T0 + i * PERIOD, TS.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
    dst = tmp_path / 'out'
    with pytest.raises(bag.BagError, match=r"frame 2 .*unsupported image encoding 'bayer_rggb8'"):
        bag.process_bag(src, dst, bag.BagOptions('/cam/image_raw', fov_deg=60.0,
                                                 progress=False),
                        FakeEstimator(), log=lambda s: None)
    assert not dst.exists() and leftovers(tmp_path) == []


def test_missing_topic_lists_the_topics_via_cli(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = write_bag(tmp_path / 'in', frames=1)
    rc = cli.main(['bag', str(src), str(tmp_path / 'out'), '--image-topic', '/camera/image',
                   '--quiet'])
    err = capsys.readouterr().err
    assert rc == 1
    assert "image topic '/camera/image' is not in" in err
    assert '/cam/image_raw (sensor_msgs/msg/Image)' in err and '/chatter' in err
    assert not (tmp_path / 'out').exists()


def test_existing_output_and_missing_input_are_refused(tmp_path: Path) -> None:
    src = write_bag(tmp_path / 'in', frames=1)
    (tmp_path / 'out').mkdir()
    opts = bag.BagOptions('/cam/image_raw', progress=False)
    with pytest.raises(bag.BagError, match='exists'):
        bag.process_bag(src, tmp_path / 'out', opts, FakeEstimator(), log=lambda s: None)
    with pytest.raises(bag.BagError, match='does not exist'):
        bag.process_bag(tmp_path / 'nope', tmp_path / 'out2', opts, FakeEstimator(),
                        log=lambda s: None)
    (tmp_path / 'notabag').mkdir()
    with pytest.raises(bag.BagError, match='no metadata.yaml'):
        bag.process_bag(tmp_path / 'notabag', tmp_path / 'out3', opts, FakeEstimator(),
                        log=lambda s: None)
    # --overwrite replaces the old output atomically.
    summary = bag.process_bag(src, tmp_path / 'out', bag.BagOptions(
        '/cam/image_raw', overwrite=True, progress=False), FakeEstimator(), log=lambda s: None)
    assert summary.images == 1 and 'out.db3' in os.listdir(tmp_path / 'out')


def test_camera_info_matching_nearest_fallback_and_error(tmp_path: Path) -> None:
    opts = bag.BagOptions('/cam/image_raw', progress=False)
    # Camera infos 2 ms off: matched as nearest; the depth camera info keeps the image stamp.
    src = write_bag(tmp_path / 'near', frames=3, info_offset_ns=2_000_000)
    s = bag.process_bag(src, tmp_path / 'o1', opts, FakeEstimator(), log=lambda s: None)
    assert s.intrinsics_sources == {'nearest': 3}
    out = read_bag(tmp_path / 'o1')
    for (_, img, _), (_, info, _) in zip(out['/cam/image_raw'], out['/cam/depth/camera_info']):
        assert info.header.stamp.nanosec == img.header.stamp.nanosec
    # Beyond the tolerance: a clear error naming the distance, and no output.
    with pytest.raises(bag.BagError, match=r'no camera info within 0.001 s .*0.002 s away'):
        bag.process_bag(src, tmp_path / 'o2', bag.BagOptions(
            '/cam/image_raw', sync_tolerance_s=0.001, progress=False), FakeEstimator(),
            log=lambda s: None)
    assert not (tmp_path / 'o2').exists()
    # No camera info at all: refused before any work, unless a fallback is given.
    bare = write_bag(tmp_path / 'bare', frames=2, info=False)
    with pytest.raises(bag.BagError, match='--fov / --intrinsics'):
        bag.process_bag(bare, tmp_path / 'o3', opts, FakeEstimator(), log=lambda s: None)
    s = bag.process_bag(bare, tmp_path / 'o3', bag.BagOptions(
        '/cam/image_raw', fov_deg=60.0, progress=False), FakeEstimator(), log=lambda s: None)
    assert s.intrinsics_sources == {'fallback': 2}
    info = read_bag(tmp_path / 'o3')['/cam/depth/camera_info'][0][1]
    k = CameraIntrinsics.from_fov(60.0, W, H)
    np.testing.assert_allclose(info.k, k.matrix().reshape(-1))
    # A camera info for twice the resolution is rescaled to the image.
    big = write_bag(tmp_path / 'big', frames=1, info_scale=2.0)
    bag.process_bag(big, tmp_path / 'o4', opts, FakeEstimator(), log=lambda s: None)
    info = read_bag(tmp_path / 'o4')['/cam/depth/camera_info'][0][1]
    assert (info.width, info.height) == (W, H)
    np.testing.assert_allclose(info.k, [FX, 0, CX, 0, FY, CY, 0, 0, 1], atol=1e-9)


def test_compressed_bgr_input_and_namespace(tmp_path: Path) -> None:
    src = write_bag(tmp_path / 'in', frames=2, compressed=True,
                    image_topic='/cam/image_raw/compressed')
    bag.process_bag(src, tmp_path / 'out', bag.BagOptions(
        '/cam/image_raw/compressed', namespace='robot/front',
        outputs=OutputOptions(depth_encoding='16UC1'), progress=False), FakeEstimator(),
        log=lambda s: None)
    out = read_bag(tmp_path / 'out')
    assert '/robot/front/depth' in out and '/robot/front/points' not in out
    depth = out['/robot/front/depth'][1][1]
    assert depth.encoding == '16UC1'
    mm = np.frombuffer(bytes(depth.data), '<u2').reshape(H, W)
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    expected = FakeEstimator().predict(frame_rgb(1), k).depth
    assert mm[0, 0] == 0
    np.testing.assert_array_equal(mm[1:], np.rint(expected[1:] * 1000).astype(np.uint16))
    # bgr8 input is decoded to the same RGB as rgb8.
    src = write_bag(tmp_path / 'bgr', frames=1, encoding='bgr8')
    bag.process_bag(src, tmp_path / 'out_bgr', bag.BagOptions('/cam/image_raw',
                                                              progress=False),
                    FakeEstimator(), log=lambda s: None)
    np.testing.assert_array_equal(as_float_image(read_bag(tmp_path / 'out_bgr')['/cam/depth']
                                                 [0][1]),
                                  FakeEstimator().predict(frame_rgb(0), k).depth)


def test_output_topic_clash_is_refused(tmp_path: Path) -> None:
    src = tmp_path / 'in'
    with Writer(src, version=9) as w:
        c = w.add_connection('/image', 'sensor_msgs/msg/Image', typestore=TS)
        d = w.add_connection('/depth', 'sensor_msgs/msg/Image', typestore=TS)
        w.write(c, T0, TS.serialize_cdr(image_msg(0, T0), 'sensor_msgs/msg/Image'))
        w.write(d, T0, TS.serialize_cdr(image_msg(0, T0), 'sensor_msgs/msg/Image'))
    with pytest.raises(bag.BagError, match='already has /depth.*--namespace'):
        bag.process_bag(src, tmp_path / 'out', bag.BagOptions('/image', fov_deg=70.0,
                                                              progress=False),
                        FakeEstimator(), log=lambda s: None)
    s = bag.process_bag(src, tmp_path / 'out', bag.BagOptions(
        '/image', fov_deg=70.0, namespace='/est', progress=False), FakeEstimator(),
        log=lambda s: None)
    assert s.topics['depth'] == '/est/depth'


def test_cli_with_the_onnx_engine_matches_the_direct_engine_output(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    from disdepth_core.inference import create_estimator
    from disdepth_core.inference.toymodel import write_toy_onnx
    model = write_toy_onnx(tmp_path / 'toy.onnx')
    src = write_bag(tmp_path / 'in', 'mcap', frames=3)
    rc = cli.main(['bag', str(src), str(tmp_path / 'out'), '--image-topic', '/cam/image_raw',
                   '--model', str(model), '--storage', 'sqlite3', '--points', '--quiet'])
    assert rc == 0, capsys.readouterr().err
    assert 'disdepth bag: wrote' in capsys.readouterr().out
    assert (tmp_path / 'out' / 'out.db3').is_file()
    out = read_bag(tmp_path / 'out')
    est = create_estimator(model)
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    assert len(out['/cam/depth']) == 3 and len(out['/cam/points']) == 3
    for i, (_, msg, _) in enumerate(out['/cam/depth']):
        expected = est.predict(frame_rgb(i), k)
        np.testing.assert_array_equal(as_float_image(msg), expected.depth)
        np.testing.assert_array_equal(as_float_image(out['/cam/depth/confidence'][i][1]),
                                      expected.confidence)


def test_depth_gating_matches_the_node_parameters(tmp_path: Path) -> None:
    src = write_bag(tmp_path / 'in', frames=2)
    bag.process_bag(src, tmp_path / 'out', bag.BagOptions(
        '/cam/image_raw', outputs=OutputOptions(min_confidence=0.5, max_depth=2.0),
        progress=False), FakeEstimator(), log=lambda s: None)
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    for i, (_, msg, _) in enumerate(read_bag(tmp_path / 'out')['/cam/depth']):
        ref = FakeEstimator().predict(frame_rgb(i), k)
        keep = (ref.confidence >= 0.5) & (ref.depth <= 2.0)
        got = as_float_image(msg)
        np.testing.assert_array_equal(got[keep], ref.depth[keep])
        assert np.isnan(got[~keep]).all() and 0 < keep.sum() < keep.size
    with pytest.raises(bag.BagError, match='must be < max_depth'):
        bag.process_bag(src, tmp_path / 'o2', bag.BagOptions(
            '/cam/image_raw', outputs=OutputOptions(min_depth=3.0, max_depth=2.0),
            progress=False), FakeEstimator())
    # validated in one place: what the node refuses, the bag refuses, with the same words
    from disdepth_ros.node_config import ConfigError
    from disdepth_ros.node_config import NodeConfig
    with pytest.raises(ConfigError, match=r'min_confidence must be in \[0, 1\], got 5'):
        NodeConfig.from_values({'min_confidence': 5.0})
    with pytest.raises(bag.BagError, match=r'min_confidence must be in \[0, 1\], got 5'):
        bag.process_bag(src, tmp_path / 'o3', bag.BagOptions(
            '/cam/image_raw', outputs=OutputOptions(min_confidence=5.0), progress=False),
            FakeEstimator())


def test_colorized_output_is_what_the_node_publishes(tmp_path: Path) -> None:
    from disdepth_ros.pipeline import colorized
    from disdepth_ros.pipeline import gate
    src = write_bag(tmp_path / 'in', frames=2)
    options = OutputOptions(colorized_min_depth=0.5, colorized_max_depth=4.0, colormap='jet')
    s = bag.process_bag(src, tmp_path / 'out', bag.BagOptions(
        '/cam/image_raw', colorized=True, outputs=options, progress=False), FakeEstimator(),
        log=lambda s: None)
    assert s.topics['colorized'] == '/cam/depth/colorized'
    k = CameraIntrinsics(FX, FY, CX, CY, W, H)
    est = FakeEstimator()
    for i, (_, msg, _) in enumerate(read_bag(tmp_path / 'out')['/cam/depth/colorized']):
        assert msg.encoding == 'bgr8'
        frame = pipeline.estimate(est, frame_rgb(i), k)
        expected = colorized(gate(frame, est.spec, options).depth, options)
        np.testing.assert_array_equal(np.frombuffer(bytes(msg.data), np.uint8).reshape(
            H, W, 3), expected)
