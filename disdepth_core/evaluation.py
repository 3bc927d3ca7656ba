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
``disdepth eval``: the standard depth protocol on an RGB-D folder, NYU or KITTI Eigen.

Every frame goes through the estimator interface (:func:`disdepth_core.inference.create_estimator`:
RGB uint8 + intrinsics in, metric depth at the image size out), so a torch checkpoint, an ONNX
file and the packaged default model are measured the same way the node runs them.  Metrics
(:mod:`disdepth_core.metrics`) are computed per image and averaged over images; both the metric
(unscaled) numbers and the median-scaled numbers are reported.

Depth caps and crops (``--protocol auto`` picks by dataset; explicit ``--min-depth``,
``--max-depth`` and ``--crop`` override):

============  ==========  =========================================  ============================
protocol      min depth   max depth                                  crop
============  ==========  =========================================  ============================
``nyu``       1e-3 m      10 m                                       ``eigen`` (45:471, 41:601)
``kitti``     1e-3 m      80 m                                       ``garg`` (on the full frame)
``plain``     1e-3 m      the model's ``spec.max_depth`` (else 10)   none
============  ==========  =========================================  ============================

``auto`` = ``nyu`` for ``--dataset nyu``, ``kitti`` for ``kitti_eigen``, ``plain`` for
``rgbd_folder``.  For ``../shared/data/real/kitti_raw_sfnd`` (an RGB-D folder of raw KITTI
frames) use ``--protocol kitti``; for ``hololens_dvmvs`` the default ``plain``.
:func:`evaluate` is the reusable core (training's validation calls it with its own estimator).
"""

from dataclasses import dataclass
import json
import math
from pathlib import Path
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.metrics import align_disparity
from disdepth_core.metrics import compute_metrics
from disdepth_core.metrics import crop_mask
from disdepth_core.metrics import CROPS
from disdepth_core.metrics import evaluation_mask
from disdepth_core.metrics import METRIC_KEYS
from disdepth_core.metrics import MetricAccumulator
from disdepth_core.metrics import NoValidPixelsError


@dataclass(frozen=True)
class Protocol:
    """
    Evaluation caps and crop.

    :param min_depth: lower limit (m)
    :param max_depth: upper limit (m); None = from the model spec (else 10 m)
    :param crop: crop name (a key of :data:`disdepth_core.metrics.CROPS`)
    """

    min_depth: float
    max_depth: Optional[float]
    crop: str


PROTOCOLS: Dict[str, Protocol] = {
    'nyu': Protocol(1e-3, 10.0, 'eigen'),
    'kitti': Protocol(1e-3, 80.0, 'garg'),
    'plain': Protocol(1e-3, None, 'none'),
}
DATASET_PROTOCOL: Dict[str, str] = {'nyu': 'nyu', 'kitti_eigen': 'kitti', 'rgbd_folder': 'plain',
                                    'synthetic': 'plain'}
DEFAULT_MAX_DEPTH = 10.0


def resolve_protocol(dataset: Any, spec: Any = None, protocol: str = 'auto',
                     min_depth: Optional[float] = None, max_depth: Optional[float] = None,
                     crop: Optional[str] = None) -> Protocol:
    """
    Work out the caps and crop from the protocol name, the dataset, the model and overrides.

    :param dataset: the dataset (its ``eval_crop`` / ``max_depth`` inform ``auto``)
    :param spec: the model's ``ModelSpec`` (or None)
    :param protocol: 'auto', 'nyu', 'kitti' or 'plain'
    :param min_depth: override
    :param max_depth: override
    :param crop: override ('auto' / None = from the protocol)
    :return: a fully specified protocol
    """
    if protocol == 'auto':
        if getattr(dataset, 'eval_crop', None) == 'eigen':
            base = PROTOCOLS['nyu']
        elif getattr(dataset, 'eval_crop', None) == 'garg':
            base = PROTOCOLS['kitti']
        else:
            base = Protocol(1e-3, getattr(dataset, 'max_depth', None), 'none')
    elif protocol in PROTOCOLS:
        base = PROTOCOLS[protocol]
    else:
        raise ValueError(f'unknown evaluation protocol {protocol!r}; choose auto, '
                         f'{", ".join(PROTOCOLS)}')
    lo = base.min_depth if min_depth is None else float(min_depth)
    hi = base.max_depth if max_depth is None else float(max_depth)
    if hi is None:
        spec_max = getattr(spec, 'max_depth', None)
        hi = float(spec_max) if spec_max else DEFAULT_MAX_DEPTH
    name = base.crop if crop in (None, 'auto') else crop
    if name not in CROPS:
        raise ValueError(f'unknown crop {name!r}; choose from {", ".join(CROPS)}')
    if not 0 < lo < hi:
        raise ValueError(f'need 0 < min depth < max depth, got {lo} and {hi}')
    return Protocol(lo, hi, name)


def flip_intrinsics(k: CameraIntrinsics) -> CameraIntrinsics:
    """Return the intrinsics of the left-right mirrored image (``cx' = W - 1 - cx``)."""
    return CameraIntrinsics(k.fx, k.fy, k.width - 1 - k.cx, k.cy, k.width, k.height)


def predict_depth(estimator: Any, rgb: np.ndarray, intrinsics: CameraIntrinsics,
                  flip_tta: bool = False) -> np.ndarray:
    """
    Predict metric depth for one image, optionally averaged with the mirrored image's prediction.

    :param estimator: a ``DepthEstimator``
    :param rgb: H x W x 3 uint8 RGB
    :param intrinsics: intrinsics of ``rgb``
    :param flip_tta: average with the flipped prediction (where only one is finite, use it)
    :return: H x W float32 metres (NaN = no prediction)
    """
    depth = np.asarray(estimator.predict(rgb, intrinsics).depth, np.float32)
    if not flip_tta:
        return depth
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    flipped = np.asarray(estimator.predict(mirrored, flip_intrinsics(intrinsics)).depth,
                         np.float32)[:, ::-1]
    a_ok, b_ok = np.isfinite(depth), np.isfinite(flipped)
    both = np.where(a_ok & b_ok, 0.5 * (depth + flipped), np.where(a_ok, depth, flipped))
    return both.astype(np.float32)


def _frame_crop(frame: Frame, name: str) -> np.ndarray:
    h, w = frame.hw
    return crop_mask(name, h, w, frame.offset, frame.full_hw)


def evaluate(estimator: Any, dataset: DepthDataset, protocol: str = 'auto',
             min_depth: Optional[float] = None, max_depth: Optional[float] = None,
             crop: Optional[str] = None, flip_tta: bool = False,
             max_frames: Optional[int] = None, progress: bool = False,
             keep_per_image: bool = True) -> Dict[str, Any]:
    """
    Evaluate an estimator on a dataset under the standard protocol.

    :param estimator: anything with ``predict(rgb, intrinsics) -> result.depth`` (and optionally
        ``spec`` / ``info``)
    :param dataset: a dataset without augmentation or resizing
    :param protocol: see :func:`resolve_protocol`
    :param min_depth: override
    :param max_depth: override
    :param crop: override
    :param flip_tta: average with the prediction of the mirrored image
    :param max_frames: evaluate only the first N frames
    :param progress: show a tqdm bar
    :param keep_per_image: include per-image metrics in the result
    :return: ``{'metrics', 'metrics_median_scaled', 'n_images', 'n_skipped', 'settings',
        'per_image', 'predict_ms'}``; metric dicts use :data:`METRIC_KEYS`
    """
    if getattr(dataset, 'augment', None) is not None or getattr(dataset, 'size', None):
        raise ValueError('evaluation needs the dataset without augmentation or resizing '
                         '(ground truth stays at its original resolution)')
    spec = getattr(estimator, 'spec', None)
    relative = spec is not None and not getattr(spec, 'is_metric', True)
    relative_kind = getattr(spec, 'output_kind', '')
    if relative:
        # a relative model's range is a placeholder: the dataset or the caller says the range
        spec = None
    prot = resolve_protocol(dataset, spec, protocol, min_depth, max_depth, crop)
    n = len(dataset) if max_frames is None else min(len(dataset), max(0, int(max_frames)))
    cap = float(prot.max_depth or DEFAULT_MAX_DEPTH)   # resolve_protocol always sets it
    metric_acc, scaled_acc = MetricAccumulator(), MetricAccumulator()
    per_image: List[Dict[str, Any]] = []
    skipped: List[str] = []
    predict_s = 0.0
    indices = range(n)
    if progress:
        try:
            from tqdm import tqdm
            indices = tqdm(indices, desc='eval', unit='img', file=sys.stderr)
        except ImportError:  # pragma: no cover - tqdm is a dependency, but optional here
            pass
    for i in indices:
        frame = dataset.get_frame(i)
        if frame.depth is None:
            raise ValueError(f'frame {frame.name!r} has no ground truth; cannot evaluate')
        mask = _frame_crop(frame, prot.crop)
        start = time.perf_counter()
        pred = predict_depth(estimator, frame.rgb, frame.intrinsics, flip_tta)
        predict_s += time.perf_counter() - start
        try:
            if relative:
                if relative_kind == 'relative_depth':   # its inverse is the disparity
                    with np.errstate(divide='ignore', invalid='ignore'):
                        pred = np.where(pred > 0, 1.0 / pred, np.nan).astype(np.float32)
                pred = align_disparity(pred, frame.depth, mask & evaluation_mask(
                    frame.depth, prot.min_depth, cap))
            m = compute_metrics(frame.depth, pred, prot.min_depth, cap, mask)
            ms = compute_metrics(frame.depth, pred, prot.min_depth, cap, mask,
                                 median_scale=True)
        except NoValidPixelsError:
            skipped.append(frame.name)
            continue
        metric_acc.update(m)
        scaled_acc.update(ms)
        if keep_per_image:
            per_image.append({'name': frame.name, **m, 'median_scale': ms['scale']})
    info = getattr(estimator, 'info', None)
    return {
        'metrics': metric_acc.mean(),
        'metrics_median_scaled': scaled_acc.mean(),
        'n_images': metric_acc.count,
        'n_skipped': len(skipped),
        'skipped': skipped,
        'predict_ms': 1000.0 * predict_s / max(n, 1),
        'settings': {'min_depth': prot.min_depth, 'max_depth': prot.max_depth,
                     'crop': prot.crop, 'flip_tta': bool(flip_tta), 'frames': n,
                     'dataset': type(dataset).__name__,
                     'alignment': ('least-squares scale and shift in disparity per image '
                                   '(relative model)' if relative else 'none'),
                     'model': getattr(info, 'model_path', None),
                     'engine': getattr(info, 'engine', None),
                     'provider': getattr(info, 'provider', None),
                     'model_name': getattr(getattr(estimator, 'spec', None), 'name', None)},
        'per_image': per_image,
    }


def format_table(result: Dict[str, Any], median_first: bool = False) -> str:
    """
    Render the metric rows of an :func:`evaluate` result as a fixed-width table.

    :param result: the result dict
    :param median_first: put the median-scaled row first
    :return: the table text
    """
    rows: List[Tuple[str, Dict[str, float]]] = [('metric', result['metrics']),
                                                ('median-scaled',
                                                 result['metrics_median_scaled'])]
    if median_first:
        rows.reverse()
    header = f'{"":14s}' + ''.join(f'{k:>9s}' for k in METRIC_KEYS)
    lines = [header]
    for label, metrics in rows:
        if not metrics:
            continue
        lines.append(f'{label:14s}' + ''.join(f'{metrics[k]:9.4f}' for k in METRIC_KEYS))
    s = result['settings']
    lines.append(f'{result["n_images"]} images ({result["n_skipped"]} without valid depth), '
                 f'depth {s["min_depth"]:g}-{s["max_depth"]:g} m, crop {s["crop"]}, '
                 f'flip TTA {"on" if s["flip_tta"] else "off"}, '
                 f'{result["predict_ms"]:.1f} ms/frame')
    if s.get('alignment', 'none') != 'none':
        lines.append(f'relative model: {s["alignment"]} before the metrics (shape only, no '
                     'metric scale)')
    return '\n'.join(lines)


def write_json_atomic(path: Path, data: Any) -> None:
    """
    Write JSON via a temporary file in the same folder and an atomic rename.

    :param path: destination
    :param data: JSON-serialisable data (non-finite floats become null)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    atomic_write_text(path, json.dumps(clean(data), indent=2) + '\n')
