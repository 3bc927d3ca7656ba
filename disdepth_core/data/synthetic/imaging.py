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
The ``v2`` camera: linear scene colour -> an 8-bit image with a real camera's flaws.

In order: auto exposure (log-average luminance to a random key, plus a per-sequence bias and a
per-frame flicker), white-balance error (per-channel gains), vignetting, optical blur (defocus
Gaussian and a per-frame motion-blur line), signal-dependent sensor noise (shot noise in linear
light, read noise in 8-bit levels), a random gamma and S-curve, and JPEG compression.  Everything
is image-side: depth never changes.  A :class:`CameraResponse` is drawn once per sequence
(:func:`sample_response`); each frame draws its own jitter from its own generator.
"""

from dataclasses import dataclass
import math
from typing import cast, Optional, Tuple

import cv2
import numpy as np

from disdepth_core.data.synthetic.textures import Color


@dataclass(frozen=True)
class CameraResponse:
    """
    One camera's image pipeline (drawn per sequence).

    :param key: auto-exposure target for the log-average linear luminance
    :param bias_stops: exposure bias in stops (over- / under-exposure of this camera)
    :param flicker_stops: std of the per-frame exposure change, stops
    :param wb_gains: linear RGB gains of the white-balance error
    :param gamma: display gamma of the tone curve
    :param contrast: blend towards a smooth S-curve, 0..1
    :param vignette: relative light loss at the image corners, 0..1
    :param defocus_px: std of the defocus blur, pixels at 320 px width (0: sharp)
    :param motion_px: maximum motion-blur length per frame, pixels at 320 px width
    :param shot_noise: shot-noise scale (variance = shot_noise * linear value)
    :param read_noise: read-noise std, 8-bit levels
    :param jpeg_quality: JPEG quality (None: no compression)
    """

    key: float = 0.18
    bias_stops: float = 0.0
    flicker_stops: float = 0.0
    wb_gains: Color = (1.0, 1.0, 1.0)
    gamma: float = 2.2
    contrast: float = 0.0
    vignette: float = 0.0
    defocus_px: float = 0.0
    motion_px: float = 0.0
    shot_noise: float = 0.0
    read_noise: float = 0.0
    jpeg_quality: Optional[int] = None


def sample_response(rng: np.random.Generator) -> CameraResponse:
    """
    Draw a random camera: the ranges of consumer, robot and head-mounted cameras.

    :param rng: random generator
    :return: the response
    """
    warm = rng.uniform(-1.0, 1.0)  # white-balance error along the blue-amber axis
    tint = rng.uniform(-0.06, 0.06)  # and along green-magenta
    wb = (float(1.0 + 0.18 * warm), float(1.0 + tint), float(1.0 - 0.18 * warm))
    return CameraResponse(
        key=float(math.exp(rng.uniform(math.log(0.1), math.log(0.3)))),
        bias_stops=float(rng.normal(0.0, 0.35)),
        flicker_stops=float(rng.uniform(0.0, 0.12)),
        wb_gains=wb,
        gamma=float(rng.uniform(1.9, 2.5)),
        contrast=float(rng.uniform(0.0, 0.45)),
        vignette=float(rng.uniform(0.0, 0.45)),
        defocus_px=float(rng.uniform(0.0, 0.9)) if rng.random() < 0.6 else 0.0,
        motion_px=float(rng.uniform(0.0, 5.0)) if rng.random() < 0.4 else 0.0,
        shot_noise=float(math.exp(rng.uniform(math.log(2e-4), math.log(6e-3)))),
        read_noise=float(rng.uniform(0.3, 2.5)),
        jpeg_quality=int(rng.integers(35, 96)) if rng.random() < 0.6 else None,
    )


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    """Return a normalised line kernel of ``length`` pixels at ``angle`` radians."""
    size = int(math.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    n = max(2, int(math.ceil(length * 2)))
    for s in np.linspace(-length / 2, length / 2, n):
        x = c + s * math.cos(angle)
        y = c + s * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                            (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                k[y0 + dy, x0 + dx] += wgt
    return k / k.sum()


def vignette_gain(hw: Tuple[int, int], strength: float) -> np.ndarray:
    """
    Radial light fall-off ``1 / (1 + a r^2)^2`` with ``r`` = 1 at the corners.

    :param hw: image size
    :param strength: light lost at the corners (0..1)
    :return: H x W float32 gain (1 at the centre)
    """
    h, w = hw
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2.0
    a = (1.0 / math.sqrt(max(1.0 - strength, 1e-3))) - 1.0  # corner gain = 1 - strength
    return (1.0 / (1.0 + a * r2) ** 2).astype(np.float32)


def develop(color: np.ndarray, response: CameraResponse,
            rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """
    Turn linear scene colour into an 8-bit RGB image through ``response``.

    :param color: H x W x 3 float32 linear RGB (any range)
    :param response: the camera
    :param rng: per-frame generator for the random parts (exposure flicker, motion blur, noise,
        JPEG); None gives the clean image of the same camera (exposure, white balance,
        vignetting, defocus and tone curve only)
    :return: H x W x 3 uint8 RGB
    """
    img = np.asarray(color, np.float32)
    h, w = img.shape[:2]
    lum = img @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    log_avg = float(np.exp(np.mean(np.log(1e-4 + np.maximum(lum, 0.0)))))
    stops = response.bias_stops
    if rng is not None and response.flicker_stops > 0:
        stops += float(rng.normal(0.0, response.flicker_stops))
    gain = float(np.clip(response.key / log_avg * 2.0 ** stops, 0.05, 20.0))
    img = img * (np.asarray(response.wb_gains, np.float32) * np.float32(gain))[None, None]
    if response.vignette > 0:
        img = img * vignette_gain((h, w), response.vignette)[..., None]
    px = w / 320.0
    if response.defocus_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), response.defocus_px * px)
    if rng is not None and response.motion_px > 0:
        length = float(rng.uniform(0.0, response.motion_px)) * px
        if length >= 1.0:
            kernel = _motion_kernel(length, float(rng.uniform(0.0, math.pi)))
            img = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    img = np.clip(img, 0.0, 1.0)
    if rng is not None and response.shot_noise > 0:
        sigma = np.sqrt(response.shot_noise * img)
        img = np.clip(img + sigma * rng.standard_normal(img.shape, np.float32), 0.0, 1.0)
    out = np.power(img, np.float32(1.0 / response.gamma))
    if response.contrast > 0:
        out = (1.0 - response.contrast) * out + response.contrast * (out * out * (3 - 2 * out))
    out = out * np.float32(255.0)
    if rng is not None and response.read_noise > 0:
        out = out + np.float32(response.read_noise) * rng.standard_normal(out.shape, np.float32)
    rgb = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if rng is not None and response.jpeg_quality is not None:
        quality = int(np.clip(response.jpeg_quality + rng.integers(-5, 6), 20, 98))
        ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError('JPEG encoding of a synthetic frame failed')
        # the buffer was just encoded, so it decodes (imdecode is None only for bad data)
        decoded = cast(np.ndarray, cv2.imdecode(buf, cv2.IMREAD_COLOR))
        rgb = np.ascontiguousarray(decoded[..., ::-1])
    return rgb
