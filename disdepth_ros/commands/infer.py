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
``disdepth infer``: metric depth for image files.

For every ``IMAGE`` it writes ``<stem>.npy`` (float32 metric depth in metres at the image
resolution, NaN where invalid) and ``<stem>.png`` (colourised, near = red, with a legend showing
the metric range) into ``--out``.  Both are written atomically.  A relative model (``disdepth
adopt`` of a relative family) writes its unitless disparity (larger = nearer) instead, and says
so; its PNG has no legend.

Camera intrinsics, in order of preference:

* ``--intrinsics intrinsics.json`` (the RGB-D folder format: fx, fy, cx, cy, width, height;
  rescaled when the image has another size with the same aspect ratio);
* ``--fx --fy --cx --cy`` (pixels of the image as given);
* ``--fov DEG`` (horizontal field of view, centred principal point);
* none: a warning, and the model's own canonical camera field of view is assumed (the field of
  view for which the model's prediction needs no rescaling, see :func:`default_fov_deg`).  Metric
  depth is then only as right as that guess.  Models whose output does not depend on the camera
  (``metric`` and relative kinds) need intrinsics only for consistency checks; they get
  :data:`DEFAULT_FOV_DEG` without a warning.
"""

import argparse
import logging
import math
from pathlib import Path
import sys
from typing import List, Optional

import cv2
import numpy as np

from disdepth_core.colorize import colorize_depth
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import load_intrinsics_json
from disdepth_core.inference import create_estimator
from disdepth_core.inference import ENGINES
from disdepth_core.inference import EngineUnavailableError
from disdepth_core.inference import ModelLoadError
from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.atomic import atomic_write_bytes
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import read_rgb

LOG = logging.getLogger('disdepth')
# Relative aspect-ratio difference tolerated when rescaling intrinsics.json to an image.
ASPECT_TOLERANCE = 0.01
DEFAULT_FOV_DEG = 60.0


def default_fov_deg(spec: ModelSpec) -> float:
    """
    Horizontal field of view of the model's canonical camera at its training size.

    An image taken with this field of view gets a metric scale of about 1 (no correction).

    :param spec: the model spec
    :return: degrees (:data:`DEFAULT_FOV_DEG` for models without a canonical camera)
    """
    if spec.output_kind != 'canonical_metric' or spec.canonical_focal <= 0:
        return DEFAULT_FOV_DEG
    return math.degrees(2.0 * math.atan(0.5 * spec.input_width / spec.canonical_focal))


def save_npy(path: Path, array: np.ndarray) -> None:
    """Write a ``.npy`` file atomically."""
    with atomic_path(path, suffix='.npy') as tmp:
        np.save(tmp, array)


def save_png(path: Path, bgr: np.ndarray) -> None:
    """Write a PNG atomically."""
    ok, buf = cv2.imencode('.png', bgr)
    if not ok:
        raise OSError(f'cannot encode {path} as PNG')
    atomic_write_bytes(path, buf.tobytes())


def intrinsics_for(args: argparse.Namespace, width: int, height: int, spec: ModelSpec,
                   file_k: Optional[CameraIntrinsics]) -> CameraIntrinsics:
    """
    Intrinsics of one image from the command-line options.

    :param args: parsed options
    :param width: image width
    :param height: image height
    :param spec: the model spec (for the default field of view)
    :param file_k: intrinsics loaded from ``--intrinsics`` (or None)
    :return: validated intrinsics for a ``width`` x ``height`` image
    :raises ValueError: when the intrinsics do not fit the image
    """
    if file_k is not None:
        if (file_k.width, file_k.height) == (width, height):
            return file_k
        aspect_k = file_k.width / file_k.height
        if abs(width / height - aspect_k) > ASPECT_TOLERANCE * aspect_k:
            raise ValueError(f'{args.intrinsics} is for {file_k.width}x{file_k.height} images, '
                             f'which cannot be rescaled to {width}x{height} (aspect ratio '
                             'differs)')
        return file_k.scaled(width, height)
    if args.fx is not None:
        return CameraIntrinsics(args.fx, args.fy, args.cx, args.cy, width, height).validate()
    fov = args.fov if args.fov is not None else default_fov_deg(spec)
    return CameraIntrinsics.from_fov(fov, width, height)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``disdepth infer`` options."""
    parser.add_argument('images', nargs='+', metavar='IMAGE', help='image files (PNG, JPEG...)')
    parser.add_argument('--out', required=True, help='output directory (created if needed)')
    parser.add_argument('--model', default=None,
                        help='.onnx file or checkpoint (.safetensors/.json); default: the '
                             'packaged model')
    parser.add_argument('--engine', default='auto', choices=['auto'] + sorted(ENGINES),
                        help='inference engine (auto: onnxruntime for .onnx, torch for '
                             'checkpoints)')
    parser.add_argument('--device', default='auto',
                        help='auto, cpu, cuda, cuda:N or tensorrt (onnxruntime)')
    cam = parser.add_mutually_exclusive_group()
    cam.add_argument('--intrinsics', default=None,
                     help='intrinsics.json (RGB-D folder format: fx, fy, cx, cy, width, height)')
    cam.add_argument('--fx', type=float, default=None,
                     help='focal length x in pixels (with --fy --cx --cy)')
    cam.add_argument('--fov', type=float, default=None,
                     help='horizontal field of view in degrees (centred principal point)')
    parser.add_argument('--fy', type=float, default=None, help='focal length y in pixels')
    parser.add_argument('--cx', type=float, default=None, help='principal point x in pixels')
    parser.add_argument('--cy', type=float, default=None, help='principal point y in pixels')
    parser.add_argument('--range', nargs=2, type=float, default=None, metavar=('MIN', 'MAX'),
                        help='colour range in metres for the PNGs (default: per image, 2nd..98th '
                             'percentile)')
    parser.add_argument('--input-size', default=None, metavar='HxW',
                        help='network input size for models exported with --dynamic')


def _fail(message: str, code: int = 2) -> int:
    print(f'disdepth infer: error: {message}', file=sys.stderr)
    return code


def _check_args(args: argparse.Namespace) -> Optional[str]:
    pinhole = [args.fy, args.cx, args.cy]
    if args.fx is None and any(v is not None for v in pinhole):
        return '--fy, --cx and --cy need --fx'
    if args.fx is not None and any(v is None for v in pinhole):
        return '--fx needs --fy, --cx and --cy too'
    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        return f'image file(s) not found: {", ".join(missing)}'
    stems = [Path(p).stem for p in args.images]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        return f'several images share the name(s) {", ".join(dupes)}: outputs would collide'
    if args.range is not None and not 0 <= args.range[0] < args.range[1]:
        return f'--range needs 0 <= MIN < MAX, got {args.range[0]} {args.range[1]}'
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``disdepth infer``."""
    problem = _check_args(args)
    if problem:
        return _fail(problem)
    file_k = None
    if args.intrinsics is not None:
        try:
            file_k = load_intrinsics_json(args.intrinsics)
        except (OSError, ValueError) as exc:
            return _fail(f'cannot use --intrinsics {args.intrinsics}: {exc}')
    options = {}
    if args.input_size:
        try:
            h, w = (int(v) for v in args.input_size.lower().split('x'))
        except ValueError:
            return _fail(f'--input-size must look like 480x640, got {args.input_size!r}')
        options['input_size'] = (h, w)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format='%(name)s: %(message)s')
    if LOG.level == logging.NOTSET:
        LOG.setLevel(logging.INFO)
    try:
        estimator = create_estimator(args.model, engine=args.engine, device=args.device,
                                     **options)
    except (ModelLoadError, EngineUnavailableError, ValueError) as exc:
        return _fail(str(exc), 1)
    if file_k is None and args.fx is None and args.fov is None \
            and estimator.spec.output_kind == 'canonical_metric':
        LOG.warning('no camera intrinsics given (--intrinsics, --fx/--fy/--cx/--cy or --fov): '
                    "assuming the model's canonical horizontal field of view of %.1f deg; "
                    'metric depth is only right for such a camera',
                    default_fov_deg(estimator.spec))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures: List[str] = []
    for name in args.images:
        try:
            rgb = read_rgb(name)
        except ValueError as exc:
            failures.append(name)
            print(f'disdepth infer: error: {exc}', file=sys.stderr)
            continue
        h, w = rgb.shape[:2]
        try:
            k = intrinsics_for(args, w, h, estimator.spec, file_k)
            result = estimator.predict(rgb, k)
        except ValueError as exc:
            failures.append(name)
            print(f'disdepth infer: error: {name}: {exc}', file=sys.stderr)
            continue
        stem = Path(name).stem
        lo, hi = args.range if args.range is not None else (None, None)
        save_npy(out_dir / f'{stem}.npy', result.depth.astype(np.float32))
        valid = np.isfinite(result.depth)
        if result.is_metric:
            picture = colorize_depth(result.depth, lo, hi, legend=True)
            what = 'depth'
            unit = ' m'
        elif result.kind == 'relative_depth':
            picture = colorize_depth(result.depth, legend=False)
            what = 'relative depth (no unit, larger = farther)'
            unit = ''
        else:
            # near = red as for depth: colour the disparity reversed (kept > 0), no legend
            disp = result.depth
            if valid.any():
                top, span_d = np.nanmax(disp), np.nanmax(disp) - np.nanmin(disp)
                disp = top - disp + max(1e-6, 0.01 * float(span_d))
            picture = colorize_depth(disp, legend=False)
            what = 'relative disparity (no unit, larger = nearer)'
            unit = ''
        save_png(out_dir / f'{stem}.png', picture)
        span = (f'{np.nanmin(result.depth):.2f}..{np.nanmax(result.depth):.2f}{unit}'
                if valid.any() else 'no valid values')
        print(f'{name}: {w}x{h}, {what} {span}, {result.timings_ms.get("infer", 0.0):.1f} ms '
              f'-> {out_dir / stem}.npy, .png')
    if failures:
        print(f'disdepth infer: {len(failures)} of {len(args.images)} image(s) failed',
              file=sys.stderr)
        return 1
    return 0
