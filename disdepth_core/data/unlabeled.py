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
Dataset ``unlabeled``: camera images without ground truth, for distillation (teacher only).

``root`` is either

* a **folder of images** (``.png`` / ``.jpg``; or an RGB-D-style folder whose images are in
  ``rgb/``), with the intrinsics from ``intrinsics`` (an ``intrinsics.json``), else
  ``<root>/intrinsics.json`` (with per-frame values from ``<root>/frames.csv`` as in the RGB-D
  folder format, :mod:`disdepth_core.data.rgbd_folder`), else ``fov`` (horizontal field of view
  in degrees); or
* a **rosbag2** (a bag directory with ``metadata.yaml``, or a bare ``.db3`` / ``.mcap`` file), read
  with ``rosbags``: the images of ``topic`` (``sensor_msgs/Image`` in a colour or grey encoding,
  or ``CompressedImage`` JPEG/PNG; when the bag has exactly one image topic it may be omitted),
  with the intrinsics of the ``camera_info_topic`` message whose header stamp is nearest to the
  image's (within ``sync_tolerance`` seconds; default topic: ``camera_info`` beside the image
  topic), else ``intrinsics`` / ``fov``.

Frames have ``depth=None``, so samples carry ``image``, ``K``, ``crop``, ``index`` and ``name``
but no ``depth`` / ``valid_mask`` (see :mod:`disdepth_core.data.base`); the training collate
marks them ``has_gt=False`` and the distillation stage supervises them with the teacher only.

Bag frames are indexed once at construction (one pass over the topic) and read back on demand
by log time, so a long recording is never held in memory; the bag reader is opened lazily in
each DataLoader worker process.  Example training entry::

    data:
      train:
        - name: unlabeled
          root: recordings/robot_front
          options: {topic: /front/image_raw, stride: 3}
"""

import os
from pathlib import Path
from typing import Any, cast, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.registry import register_dataset
from disdepth_core.data.rgbd_folder import folder_intrinsics
from disdepth_core.data.rgbd_folder import read_frames_csv
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import load_intrinsics_json
from disdepth_core.rosmsg import camera_info_to_intrinsics
from disdepth_core.rosmsg import ConversionError
from disdepth_core.rosmsg import message_to_rgb
from disdepth_core.rosmsg import nearest_stamp
from disdepth_core.rosmsg import stamp_ns
from disdepth_core.transforms import read_rgb

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
INFO_TYPE = 'sensor_msgs/msg/CameraInfo'


def is_bag(path: Union[str, Path]) -> bool:
    """Return True for a rosbag2 directory (``metadata.yaml``) or a ``.db3`` / ``.mcap`` file."""
    path = Path(path)
    if path.is_file():
        return path.suffix in ('.db3', '.mcap')
    return (path / 'metadata.yaml').is_file()


def _camera_info_intrinsics(msg: Any) -> CameraIntrinsics:
    try:
        return camera_info_to_intrinsics(msg)
    except ConversionError as exc:
        raise ValueError(f'{exc}; pass intrinsics or fov') from None


class _BagIndex:
    """
    The image frames of one topic of a bag: where to find them and their intrinsics.

    Picklable: the reader is opened lazily, once per process.
    """

    def __init__(self, path: Path, topic: Optional[str], camera_info_topic: Optional[str],
                 fallback: Optional[CameraIntrinsics], fov: Optional[float],
                 sync_tolerance: float) -> None:
        self.path = path
        reader = self._open()
        try:
            conns = reader.connections
            images = [c for c in conns if c.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)]
            if topic is None:
                topics = sorted({c.topic for c in images})
                if len(topics) != 1:
                    raise ValueError(f'bag {path} has image topics {topics or "(none)"}: choose '
                                     'one with the topic option')
                topic = topics[0]
            self.topic = topic
            topic_conns = [c for c in conns if c.topic == topic]
            if not topic_conns:
                listing = ', '.join(sorted({f'{c.topic} ({c.msgtype})' for c in conns}))
                raise ValueError(f'topic {topic!r} is not in bag {path}; its topics: {listing}')
            if topic_conns[0].msgtype not in (IMAGE_TYPE, COMPRESSED_TYPE):
                raise ValueError(f'topic {topic} has type {topic_conns[0].msgtype}, not an image')
            self.compressed = topic_conns[0].msgtype == COMPRESSED_TYPE
            infos = self._read_infos(reader, conns, camera_info_topic)
            # (log time, position among messages of that log time, intrinsics)
            self.frames: List[Tuple[int, int, CameraIntrinsics, str]] = []
            last_t, same = None, 0
            tol = int(round(sync_tolerance * 1e9))
            for conn, t, raw in reader.messages(connections=topic_conns):
                msg = reader.deserialize(raw, conn.msgtype)
                same = same + 1 if t == last_t else 0
                last_t = t
                stamp = stamp_ns(msg.header)
                k = self._match(infos, stamp, tol)
                if k is None:
                    k = fallback
                if k is None and fov is not None:
                    w, h = self._size(msg)
                    k = CameraIntrinsics.from_fov(fov, w, h)
                if k is None:
                    raise ValueError(f'bag {path}: image at stamp {stamp / 1e9:.6f} on {topic} '
                                     f'has no camera info within {sync_tolerance} s; set '
                                     'camera_info_topic, sync_tolerance, intrinsics or fov')
                self.frames.append((t, same, k, f'{stamp // 1_000_000_000}.'
                                                f'{stamp % 1_000_000_000:09d}'))
        finally:
            reader.close()
        self._reader: Any = None
        self._conns: List[Any] = []
        self._pid: Optional[int] = None

    def _open(self) -> Any:
        from rosbags.highlevel import AnyReader
        from rosbags.highlevel import AnyReaderError
        from rosbags.typesys import get_typestore
        from rosbags.typesys import Stores
        try:
            reader = AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_KILTED))
            reader.open()
        except AnyReaderError as exc:
            raise ValueError(f'cannot read bag {self.path}: {exc} (truncated or corrupt?)') \
                from None
        return reader

    def _read_infos(self, reader: Any, conns: Sequence[Any],
                    camera_info_topic: Optional[str]) -> Tuple[List[int], List[CameraIntrinsics]]:
        base = self.topic
        if self.compressed and base.endswith('/compressed'):
            base = base[:-len('/compressed')]
        wanted = camera_info_topic or base.rsplit('/', 1)[0] + '/camera_info'
        info_conns = [c for c in conns if c.topic == wanted and c.msgtype == INFO_TYPE]
        if camera_info_topic and not info_conns:
            raise ValueError(f'camera info topic {camera_info_topic!r} is not in bag {self.path}')
        items = []
        if info_conns:
            for conn, _, raw in reader.messages(connections=info_conns):
                msg = reader.deserialize(raw, conn.msgtype)
                items.append((stamp_ns(msg.header), _camera_info_intrinsics(msg)))
        items.sort(key=lambda x: x[0])
        return [s for s, _ in items], [k for _, k in items]

    @staticmethod
    def _match(infos: Tuple[List[int], List[CameraIntrinsics]], stamp: int,
               tol: int) -> Optional[CameraIntrinsics]:
        stamps, ks = infos
        j, offset = nearest_stamp(stamps, stamp)
        return ks[j] if j is not None and offset is not None and offset <= tol else None

    @staticmethod
    def _size(msg: Any) -> Tuple[int, int]:
        if hasattr(msg, 'encoding'):
            return int(msg.width), int(msg.height)
        rgb = message_to_rgb(msg)
        return rgb.shape[1], rgb.shape[0]

    def __getstate__(self) -> Dict[str, Any]:
        """Pickle without the open reader (DataLoader workers open their own)."""
        state = dict(self.__dict__)
        state['_reader'] = None
        state['_conns'] = []
        state['_pid'] = None
        return state

    def read(self, index: int) -> Tuple[np.ndarray, CameraIntrinsics, str]:
        """
        Read frame ``index``.

        :return: (rgb, intrinsics, name)
        """
        if self._reader is None or self._pid != os.getpid():
            self._reader = self._open()
            self._conns = [c for c in self._reader.connections if c.topic == self.topic]
            self._pid = os.getpid()
        t, position, k, name = self.frames[index]
        seen = 0
        for conn, _, raw in self._reader.messages(connections=self._conns, start=t, stop=t + 1):
            if seen == position:
                return message_to_rgb(self._reader.deserialize(raw, conn.msgtype)), k, name
            seen += 1
        raise ValueError(f'bag {self.path}: frame {index} of {self.topic} (log time {t}) could '
                         'not be read back (was the bag modified?)')


@register_dataset('unlabeled')
class UnlabeledDataset(DepthDataset):
    """
    Images without ground truth from a folder or a rosbag2 (see the module docstring).

    :param root: folder of images, or a rosbag2 directory / ``.db3`` / ``.mcap`` file
    :param augment: see :class:`DepthDataset`
    :param size: see :class:`DepthDataset`
    :param seed: see :class:`DepthDataset`
    :param topic: image topic of a bag (optional when the bag has one image topic)
    :param camera_info_topic: CameraInfo topic of a bag (default: ``camera_info`` beside it)
    :param intrinsics: an ``intrinsics.json`` (fallback for bags; rescaled to each image)
    :param fov: horizontal field of view in degrees (last resort)
    :param sync_tolerance: largest image / camera info stamp difference in a bag, seconds
    :param stride: keep every ``stride``-th frame (consecutive video frames are near duplicates)
    :param max_frames: keep at most this many frames (after ``stride``)
    """

    def __init__(self, root: Union[str, Path], augment: Any = None,
                 size: Optional[Tuple[int, int]] = None, seed: int = 0,
                 topic: Optional[str] = None, camera_info_topic: Optional[str] = None,
                 intrinsics: Optional[Union[str, Path]] = None, fov: Optional[float] = None,
                 sync_tolerance: float = 0.5, stride: int = 1,
                 max_frames: Optional[int] = None) -> None:
        super().__init__(augment=augment, size=size, seed=seed)
        self.root = Path(root)
        if not self.root.exists():
            raise ValueError(f'unlabeled data {self.root} does not exist')
        if int(stride) < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        if fov is not None and not 0.0 < float(fov) < 180.0:
            raise ValueError(f'fov must be in (0, 180) degrees, got {fov}')
        fallback = load_intrinsics_json(intrinsics) if intrinsics else None
        self.fov = None if fov is None else float(fov)
        self.bag: Optional[_BagIndex] = None
        self.paths: List[Path] = []
        self.frame_intrinsics: Dict[str, CameraIntrinsics] = {}
        if is_bag(self.root):
            self.bag = _BagIndex(self.root, topic, camera_info_topic, fallback, self.fov,
                                 float(sync_tolerance))
            self.items = list(range(len(self.bag.frames)))
        else:
            if topic is not None or camera_info_topic is not None:
                raise ValueError(f'{self.root} is not a rosbag2 (no metadata.yaml), so topic / '
                                 'camera_info_topic do not apply')
            folder = self.root / 'rgb' if (self.root / 'rgb').is_dir() else self.root
            self.paths = sorted(p for p in folder.iterdir()
                                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.paths:
                raise ValueError(f'{folder}: no .png/.jpg images')
            if fallback is None and (self.root / 'intrinsics.json').is_file():
                self.frame_intrinsics = folder_intrinsics(
                    self.root / 'intrinsics.json', read_frames_csv(self.root / 'frames.csv'),
                    [p.stem for p in self.paths])
            if fallback is None and not self.frame_intrinsics and self.fov is None:
                raise ValueError(f'{self.root}: no intrinsics.json; pass intrinsics (a JSON file) '
                                 'or fov (degrees)')
            self.items = list(range(len(self.paths)))
        self.fallback = fallback
        self.items = self.items[::int(stride)]
        if max_frames is not None:
            self.items = self.items[:max(0, int(max_frames))]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.items)

    def load_frame(self, index: int) -> Frame:
        """Read frame ``index`` (no depth); see :class:`DepthDataset`."""
        item = self.items[index]
        k: Optional[CameraIntrinsics]
        if self.bag is not None:
            rgb, k, name = self.bag.read(item)
        else:
            path = self.paths[item]
            rgb = read_rgb(path)
            name = path.stem
            k = self.frame_intrinsics.get(name, self.fallback)
            if k is None:   # no intrinsics.json: __init__ made sure that fov was given
                k = CameraIntrinsics.from_fov(cast(float, self.fov), rgb.shape[1], rgb.shape[0])
        h, w = rgb.shape[:2]
        if (k.width, k.height) != (w, h):
            k = k.scaled(w, h)
        return Frame(rgb=rgb, depth=None, intrinsics=k, name=name)
