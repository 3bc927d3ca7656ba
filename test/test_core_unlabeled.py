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

"""The ``unlabeled`` dataset: image folders and rosbag2 image topics without ground truth."""

import json
from pathlib import Path
import pickle

import cv2
import numpy as np
import pytest

from disdepth_core.data.registry import build_dataset
from disdepth_core.data.unlabeled import UnlabeledDataset
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.rosmsg import message_to_rgb

H, W = 48, 64
FX, FY, CX, CY = 50.0, 52.0, 31.5, 23.5
T0 = 1_700_000_000_000_000_000


def rgb_of(i: int) -> np.ndarray:
    return np.random.default_rng(100 + i).integers(0, 256, (H, W, 3), dtype=np.uint8)


def write_folder(root: Path, n: int = 4, intrinsics: bool = True) -> Path:
    (root / 'rgb').mkdir(parents=True)
    for i in range(n):
        assert cv2.imwrite(str(root / 'rgb' / f'{i:04d}.png'), rgb_of(i)[..., ::-1])
    if intrinsics:
        (root / 'intrinsics.json').write_text(json.dumps(
            {'fx': FX, 'fy': FY, 'cx': CX, 'cy': CY, 'width': W, 'height': H}))
    return root


def write_bag(path: Path, storage: str = 'sqlite3', n: int = 5, info: bool = True,
              extra_image_topic: bool = False, encoding: str = 'bgr8') -> Path:
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore
    from rosbags.typesys import Stores
    ts = get_typestore(Stores.ROS2_KILTED)
    t = ts.types

    def header(stamp: int) -> object:
        return t['std_msgs/msg/Header'](stamp=t['builtin_interfaces/msg/Time'](
            sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id='cam')

    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        ci = w.add_connection('/cam/image', 'sensor_msgs/msg/Image', typestore=ts)
        cc = w.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo',
                              typestore=ts) if info else None
        cx = w.add_connection('/other/image', 'sensor_msgs/msg/Image',
                              typestore=ts) if extra_image_topic else None
        for i in range(n):
            stamp = T0 + i * 50_000_000
            rgb = rgb_of(i)
            data = rgb[..., ::-1] if encoding == 'bgr8' else rgb
            img = t['sensor_msgs/msg/Image'](header=header(stamp), height=H, width=W,
                                             encoding=encoding, is_bigendian=0, step=W * 3,
                                             data=np.ascontiguousarray(data).reshape(-1))
            # Same log time for every topic of a frame: reading back must pick the right one.
            w.write(ci, stamp, ts.serialize_cdr(img, 'sensor_msgs/msg/Image'))
            if cx is not None:
                w.write(cx, stamp, ts.serialize_cdr(img, 'sensor_msgs/msg/Image'))
            if cc is not None:
                k = np.array([FX * (1 + i), 0, CX, 0, FY, CY, 0, 0, 1.0])
                p = np.array([FX * (1 + i), 0, CX, 0, 0, FY, CY, 0, 0, 0, 1.0, 0])
                msg = t['sensor_msgs/msg/CameraInfo'](
                    header=header(stamp + 1_000_000), height=H, width=W,
                    distortion_model='plumb_bob', d=np.zeros(5), k=k, r=np.eye(3).reshape(-1),
                    p=p, binning_x=0, binning_y=0, roi=t['sensor_msgs/msg/RegionOfInterest'](
                        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
                w.write(cc, stamp, ts.serialize_cdr(msg, 'sensor_msgs/msg/CameraInfo'))
    return path


def test_folder_samples_have_no_ground_truth(tmp_path: Path) -> None:
    root = write_folder(tmp_path / 'imgs', n=4)
    ds = build_dataset('unlabeled', root=str(root))
    assert isinstance(ds, UnlabeledDataset) and len(ds) == 4
    sample = ds[2]
    assert set(sample) == {'image', 'K', 'crop', 'index', 'name'}
    assert sample['image'].shape == (3, H, W) and sample['image'].dtype == np.float32
    np.testing.assert_array_equal(np.rint(sample['image'].transpose(1, 2, 0) * 255), rgb_of(2))
    np.testing.assert_allclose(sample['K'], [[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    assert sample['name'] == '0002'
    # Resizing to the network size scales K with the image.
    small = UnlabeledDataset(root, size=(24, 32))
    k = CameraIntrinsics(FX, FY, CX, CY, W, H).scaled(32, 24)
    np.testing.assert_allclose(small[0]['K'], k.matrix(), rtol=1e-6)
    assert small[0]['image'].shape == (3, 24, 32)
    assert len(UnlabeledDataset(root, stride=2)) == 2
    assert len(UnlabeledDataset(root, max_frames=3)) == 3


def test_folder_without_intrinsics_needs_fov(tmp_path: Path) -> None:
    root = write_folder(tmp_path / 'imgs', n=2, intrinsics=False)
    with pytest.raises(ValueError, match='intrinsics.json.*fov'):
        UnlabeledDataset(root)
    ds = UnlabeledDataset(root / 'rgb', fov=90.0)
    np.testing.assert_allclose(ds[0]['K'][0, 0], W / 2.0)
    with pytest.raises(ValueError, match='no .png/.jpg'):
        UnlabeledDataset(tmp_path, fov=60.0)
    with pytest.raises(ValueError, match='not a rosbag2'):
        UnlabeledDataset(root, fov=60.0, topic='/cam/image')


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_frames_intrinsics_and_pickling(tmp_path: Path, storage: str) -> None:
    pytest.importorskip('rosbags')
    bag = write_bag(tmp_path / 'bag', storage, n=5, extra_image_topic=True)
    ds = UnlabeledDataset(bag, topic='/cam/image')
    assert len(ds) == 5
    for i in range(5):
        frame = ds.load_frame(i)
        assert frame.depth is None
        np.testing.assert_array_equal(frame.rgb, rgb_of(i))
        # Each frame gets the camera info with the nearest stamp (fx differs per frame).
        assert frame.intrinsics.fx == pytest.approx(FX * (1 + i))
    assert 'depth' not in ds[0] and 'valid_mask' not in ds[0]
    # Picklable for DataLoader workers; the copy reopens the bag itself.
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.load_frame(3).rgb, rgb_of(3))
    strided = UnlabeledDataset(bag, topic='/cam/image', stride=2)
    assert len(strided) == 3
    np.testing.assert_array_equal(strided.load_frame(2).rgb, rgb_of(4))
    # A bare storage file works too.
    data_file = next(p for p in bag.iterdir() if p.suffix in ('.db3', '.mcap'))
    assert len(UnlabeledDataset(data_file, topic='/cam/image')) == 5


def test_bag_errors_and_fallbacks(tmp_path: Path) -> None:
    pytest.importorskip('rosbags')
    two = write_bag(tmp_path / 'two', extra_image_topic=True, n=1)
    with pytest.raises(ValueError, match="image topics \\['/cam/image', '/other/image'\\]"):
        UnlabeledDataset(two)
    with pytest.raises(ValueError, match="'/nope' is not in bag.*/cam/camera_info"):
        UnlabeledDataset(two, topic='/nope')
    bare = write_bag(tmp_path / 'bare', info=False, n=2, encoding='rgb8')
    with pytest.raises(ValueError, match='no camera info within'):
        UnlabeledDataset(bare)
    ds = UnlabeledDataset(bare, fov=60.0)
    np.testing.assert_allclose(ds.load_frame(1).intrinsics.fx,
                               CameraIntrinsics.from_fov(60.0, W, H).fx)
    np.testing.assert_array_equal(ds.load_frame(1).rgb, rgb_of(1))
    # Camera infos 1 ms off the images are rejected with a zero tolerance.
    with pytest.raises(ValueError, match='no camera info within 0.0 s'):
        UnlabeledDataset(write_bag(tmp_path / 'b3', n=1), sync_tolerance=0.0)


def test_collate_marks_unlabeled_frames(tmp_path: Path) -> None:
    pytest.importorskip('torch')
    from disdepth_core.training.data import collate
    ds = UnlabeledDataset(write_folder(tmp_path / 'imgs', n=2), size=(32, 32))
    batch = collate([ds[0], ds[1]])
    assert batch['has_gt'].tolist() == [False, False]
    assert not bool(batch['valid_mask'].any())
    assert tuple(batch['image'].shape) == (2, 3, 32, 32)


def test_bag_images_decode_with_the_one_codec() -> None:
    class Msg:
        pass

    rgb = rgb_of(0)
    m = Msg()
    m.height, m.width, m.is_bigendian = H, W, 0
    m.encoding, m.step = 'rgba8', W * 4 + 8
    rows = np.zeros((H, W * 4 + 8), np.uint8)
    rows[:, :W * 4] = np.concatenate([rgb, np.full((H, W, 1), 7, np.uint8)], 2).reshape(H, -1)
    m.data = rows.reshape(-1)
    np.testing.assert_array_equal(message_to_rgb(m), rgb)
    m.encoding, m.step = 'mono16', W * 2
    m.data = np.full((H, W), 0x1234, '>u2').view(np.uint8).reshape(-1)
    m.is_bigendian = 1
    assert (message_to_rgb(m) == 0x12).all()
    m.encoding = '32FC1'
    with pytest.raises(ValueError, match="image encoding '32FC1' is a depth/data encoding"):
        message_to_rgb(m)
    c = Msg()
    c.format = 'jpeg'
    ok, jpg = cv2.imencode('.png', rgb[..., ::-1])
    c.data = jpg.reshape(-1)
    np.testing.assert_array_equal(message_to_rgb(c), rgb)
    c.data = np.zeros(10, np.uint8)
    with pytest.raises(ValueError, match='neither JPEG nor PNG'):
        message_to_rgb(c)
