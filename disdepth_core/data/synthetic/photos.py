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
Photographic textures: patches of real photographs mapped onto surfaces at a random metric size.

Photographs come from *sources* named by the user; nothing is stored in the repository and the
images are read when a generator first needs them:

* ``skimage``: the CC0 / public-domain photographs bundled with the scikit-image wheel
  (:data:`SKIMAGE_PHOTOS`; ``pip install scikit-image``; the package is located, not imported);
* ``PATH`` of an RGB-D folder (``rgb/`` + ``intrinsics.json``, or a parent of such folders),
  optionally with a frame selection in dataset order, ``PATH[0:30]`` (the same frames as a
  training config's ``select: '0:30'``);
* ``PATH`` of any other folder: every ``.png`` / ``.jpg`` below it, in sorted order (for example
  a desktop wallpaper package's photographs).

Use only images you may train on, and never frames you evaluate on.  Images are converted to
linear RGB (gamma 2.2, as the renderer's camera response) and shrunk to at most
:data:`MAX_SIDE` pixels.
"""

from dataclasses import dataclass, field
import functools
import importlib.util
from pathlib import Path
import re
from typing import cast, List, Tuple

import cv2
import numpy as np

from disdepth_core.data.synthetic.textures import Color
from disdepth_core.data.synthetic.textures import fbm

MAX_SIDE = 384
# scikit-image's bundled photographs with the licence its data module states for each.
SKIMAGE_PHOTOS: Tuple[Tuple[str, str], ...] = (
    ('astronaut.png', 'public domain (NASA)'),
    ('brick.png', 'CC0 (CC0Textures Bricks25)'),
    ('camera.png', 'CC0 (Lav Varshney)'),
    ('chelsea.png', 'CC0 (Stefan van der Walt)'),
    ('coffee.png', 'CC0 (Rachel Michetti)'),
    ('coins.png', 'no known copyright restrictions (Brooklyn Museum)'),
    ('grass.png', 'CC0 (DeviantArt linolafett, Grass 01)'),
    ('gravel.png', 'CC0 (CC0Textures Gravel04)'),
    ('rocket.jpg', 'public domain (SpaceX)'),
    ('text.png', 'public domain (Wikipedia, Corner.png)'),
)
_SELECTION = re.compile(r'^(?P<path>.*)\[(?P<select>[^\[\]]*)\]$')


@dataclass(frozen=True, eq=False)
class PhotoBank:
    """
    Photographs in linear RGB, ready to cut patches from.

    :param images: H x W x 3 float32 linear RGB images in [0, 1]
    :param names: a name per image (source and file)
    :param sources: the source specifications the bank was loaded from
    """

    images: Tuple[np.ndarray, ...]
    names: Tuple[str, ...]
    sources: Tuple[str, ...] = ()

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.images)


EMPTY_BANK = PhotoBank((), ())


def _to_linear(bgr: np.ndarray, path: Path, max_side: int) -> np.ndarray:
    if bgr.dtype != np.uint8:
        raise ValueError(f'{path}: photo textures must be 8-bit images, got {bgr.dtype}')
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    elif bgr.shape[2] == 4:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
    h, w = bgr.shape[:2]
    if min(h, w) < 16:
        raise ValueError(f'{path}: a photo texture needs at least 16 x 16 pixels, got {w}x{h}')
    scale = max_side / max(h, w)
    if scale < 1.0:
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    rgb = bgr[..., ::-1].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(np.power(rgb, np.float32(2.2)))


def _read(path: Path, max_side: int) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise ValueError(f'{path}: cannot read the image (missing or not an image file)')
    return _to_linear(bgr, path, max_side)


def skimage_photo_paths() -> List[Path]:
    """
    Return the paths of :data:`SKIMAGE_PHOTOS` in the installed scikit-image.

    :raises ValueError: if scikit-image is not installed or lacks one of the files
    """
    spec = importlib.util.find_spec('skimage')
    if spec is None or not spec.submodule_search_locations:
        raise ValueError('photo source "skimage" needs scikit-image (pip install scikit-image)')
    data = Path(list(spec.submodule_search_locations)[0]) / 'data'
    paths = [data / name for name, _ in SKIMAGE_PHOTOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f'photo source "skimage": {data} lacks {", ".join(missing)}')
    return paths


def _rgbd_photo_paths(root: Path, select: str) -> List[Path]:
    from disdepth_core.data.rgbd_folder import RGBDFolderDataset
    ds = RGBDFolderDataset(root)
    paths = [ds.folders[f].rgb_paths[stem] for f, stem in ds.items]
    if select:
        # the training configs' frame selection syntax (a lazy import: it pulls in torch)
        from disdepth_core.training.config import parse_select
        paths = paths[parse_select(select)]
    return paths


def source_paths(spec: str) -> List[Path]:
    """
    Resolve one photo source specification (see the module docstring) to image files.

    :param spec: ``skimage``, ``PATH`` or ``PATH[start:stop]``
    :return: the image files, in a fixed order
    :raises ValueError: for a source that does not exist, has no images or a bad selection
    """
    from disdepth_core.data.rgbd_folder import is_rgbd_folder
    from disdepth_core.data.rgbd_folder import RGB_SUFFIXES
    spec = str(spec).strip()
    if spec == 'skimage':
        return skimage_photo_paths()
    m = _SELECTION.match(spec)
    path, select = (Path(m['path']), m['select']) if m else (Path(spec), '')
    if not path.is_dir():
        raise ValueError(f'photo source {spec!r}: {path} is not a folder (expected "skimage", '
                         'an RGB-D folder or a folder of images)')
    rgbd = is_rgbd_folder(path) or any(is_rgbd_folder(p) for p in path.iterdir())
    if rgbd:
        paths = _rgbd_photo_paths(path, select)
    elif select:
        raise ValueError(f'photo source {spec!r}: a frame selection needs an RGB-D folder')
    else:
        paths = sorted(p for p in path.rglob('*') if p.suffix.lower() in RGB_SUFFIXES
                       and p.is_file())
    if not paths:
        raise ValueError(f'photo source {spec!r}: no .png/.jpg images selected')
    return paths


@functools.lru_cache(maxsize=4)
def load_photo_bank(sources: Tuple[str, ...], max_side: int = MAX_SIDE) -> PhotoBank:
    """
    Load every image of ``sources`` (cached: each set of sources is read once per process).

    :param sources: source specifications (see the module docstring); empty: an empty bank
    :param max_side: images are shrunk to at most this many pixels on their long side
    :return: the bank
    """
    images: List[np.ndarray] = []
    names: List[str] = []
    for spec in sources:
        for p in source_paths(spec):
            images.append(_read(p, int(max_side)))
            names.append(f'{spec}:{p.name}')
    return PhotoBank(tuple(images), tuple(names), tuple(sources))


@dataclass(frozen=True, eq=False)
class PhotoMaterial:
    """
    A rectangular patch of a photograph, tiled (mirrored) over a surface at a metric size.

    :param image: H x W x 3 float32 linear RGB (a view into a :class:`PhotoBank` image)
    :param name: the photograph's name
    :param width_m: the patch's width on the surface in metres (its height keeps the aspect)
    :param angle: rotation of the patch on the surface, radians
    :param offset: patch position on the surface, metres
    :param tint: linear RGB gain
    :param seed: seed of the fine detail layer
    :param detail: amplitude of the fine (5 cm) noise layer, as :class:`Material`
    """

    image: np.ndarray = field(repr=False)
    name: str
    width_m: float
    angle: float = 0.0
    offset: Tuple[float, float] = (0.0, 0.0)
    tint: Color = (1.0, 1.0, 1.0)
    seed: int = 0
    detail: float = 0.0

    def albedo(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """
        Evaluate the colour at surface coordinates (metres), bilinear, mirrored repeat.

        :param u: first surface coordinate, shape (M,)
        :param v: second surface coordinate, shape (M,) (up on walls: image rows run down)
        :return: (M, 3) float32 linear RGB
        """
        h, w = self.image.shape[:2]
        c, s = np.cos(self.angle), np.sin(self.angle)
        uu = c * u - s * v + self.offset[0]
        vv = s * u + c * v + self.offset[1]
        px = uu * ((w - 1) / self.width_m)
        py = -vv * ((w - 1) / self.width_m)
        x = _mirror(px, w - 1)
        y = _mirror(py, h - 1)
        x0 = np.minimum(np.floor(x).astype(np.int64), w - 2)
        y0 = np.minimum(np.floor(y).astype(np.int64), h - 2)
        fx = (x - x0).astype(np.float32)[:, None]
        fy = (y - y0).astype(np.float32)[:, None]
        img = self.image
        top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
        bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
        col = top * (1 - fy) + bottom * fy
        col = col * np.asarray(self.tint, np.float32)[None]
        if self.detail > 0:
            fine = fbm(u / 0.05, v / 0.05, self.seed + 17, octaves=2)
            col = col * (1.0 - self.detail * 0.5 + self.detail * fine)[:, None]
        return col.astype(np.float32)


def _mirror(x: np.ndarray, n: int) -> np.ndarray:
    """Fold coordinates into [0, n] by mirrored repetition (period 2n)."""
    r = np.mod(x, 2.0 * n)
    return np.where(r > n, 2.0 * n - r, r)


def random_patch(rng: np.random.Generator, bank: PhotoBank, width_range: Tuple[float, float],
                 tint_spread: float = 0.15) -> PhotoMaterial:
    """
    Cut a random patch (15-100 % of a side) from a random photograph of ``bank``.

    :param rng: random generator
    :param bank: a non-empty photo bank
    :param width_range: (min, max) metric width of the patch on the surface
    :param tint_spread: relative spread of the random colour tint
    :return: the material
    """
    if not len(bank):
        raise ValueError('cannot cut a photo patch from an empty photo bank')
    i = int(rng.integers(len(bank)))
    img = bank.images[i]
    h, w = img.shape[:2]
    frac = rng.uniform(0.15, 1.0)
    ph = max(8, int(round(h * frac)))
    pw = max(8, int(round(w * min(1.0, frac * rng.uniform(0.7, 1.4)))))
    y0 = int(rng.integers(0, h - ph + 1))
    x0 = int(rng.integers(0, w - pw + 1))
    patch = img[y0:y0 + ph, x0:x0 + pw]
    gain = rng.uniform(0.7, 1.25)
    tint = cast(Color, tuple(float(gain * rng.uniform(1 - tint_spread, 1 + tint_spread))
                             for _ in range(3)))
    angle = 0.0 if rng.random() < 0.7 else float(rng.choice([0.5, 1.0, 1.5])) * np.pi
    return PhotoMaterial(patch, bank.names[i], float(rng.uniform(*width_range)), angle,
                         (float(rng.uniform(0, 5)), float(rng.uniform(0, 5))), tint,
                         int(rng.integers(1 << 30)), float(rng.uniform(0.0, 0.15)))
