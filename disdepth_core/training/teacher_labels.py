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
Teacher labels of ``label_distill``: a teacher's depth per frame, computed once, cached on disk.

**What is computed.**  For every training frame, the teacher ONNX file's prediction on the
*un-augmented* frame, stored at the *frame's own resolution*: the teacher runs at its network
input size (the size in its ``ModelSpec``, or ``label_distill.teacher_input_size`` for a graph
with a dynamic input) through ``create_estimator(...).predict(rgb, K)``, which resizes its
output bilinearly back to the frame.  The map is metres for a metric teacher
(``canonical_metric`` outputs scaled with the frame's own intrinsics, ``metric`` as they are) and
the teacher's disparity for a ``relative_disparity`` one.

Storing at the frame's resolution keeps the labels valid when the training resolution or the
augmentation change, and lets every geometric augmentation act on the map exactly as on the
image: :class:`TeacherLabelDataset` puts the map into the frame's depth slot and runs the
dataset's own :meth:`~disdepth_core.data.base.DepthDataset.transform_frame` (scale, rotation,
crop, flip, resize; depth-like nearest sampling, pixels rotated in from outside invalid), so the
map follows the image pixel for pixel, and a metric map becomes canonical-camera targets with the
augmented intrinsics like ground truth (:func:`disdepth_core.training.data.canonical_targets`).

**Storage and precision.**  One ``.npy`` per frame, H x W, NaN where the teacher gave no value.

* ``float16`` (the default, half the disk): metric maps as metres, rounding error at most
  2^-11 of the value (0.05 %: 4 mm at 8 m, 4 cm at 80 m), far below any teacher's error;
  relative maps normalised per frame to [0, 1] over their finite pixels first
  (``(d - min) / (max - min)``, an increasing affine map, which the scale-and-shift-invariant
  loss does not see), then rounded: error at most 2^-12 of the frame's disparity range.
* ``float32``: metric maps as computed; relative maps normalised the same way.

**Layout and keys.**  ::

    <cache_dir>/<teacher sha256, 16 hex>-<H>x<W>-<f16|f32>/teacher.json    what made them
    <cache_dir>/<teacher ...>/<dataset>-<id>/<frame name>-<frame digest>.npy

keyed by the teacher file's SHA-256 and network input size (a changed file is a new folder),
the storage type, the dataset (registry name and resolved root), the frame name and a digest of
the frame's pixels and intrinsics (a re-recorded frame under the same name, or new intrinsics,
gets a new label instead of a stale one).

**Robustness.**  Entries are written atomically (temporary file + rename), so an interrupted
fill leaves only complete entries and the next run continues where it stopped.  Every read is
checked (``.npy`` header, dtype, shape = the frame's, file size); a truncated, corrupt or
mismatched entry is recomputed and rewritten, never trusted.  :func:`fill_labels` computes the
missing labels before training (a tqdm bar; DDP ranks share the work); a label still missing
during training (a frame added meanwhile) is computed on the spot, on the CPU inside DataLoader
workers.
"""

from dataclasses import replace
import hashlib
import json
import os
from pathlib import Path
import re
from typing import Any, Callable, cast, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from disdepth_core.data.base import DepthDataset
from disdepth_core.data.base import Frame
from disdepth_core.data.base import frame_to_sample
from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.inference.onnx_engine import file_sha256
from disdepth_core.models.teacher import onnx_teacher_spec

CACHE_FORMAT = 1
MANIFEST = 'teacher.json'
DTYPE_TAGS = {'float16': 'f16', 'float32': 'f32'}
# Relative maps sit in [1, 2] in the depth slot (stored [0, 1] + 1): 0 marks pixels without a
# label (e.g. rotated in from outside the frame), so validity survives the augmentation.
RELATIVE_OFFSET = 1.0
RELATIVE_VALID_MIN = 0.5


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/disdepth/teacher_labels`` (``~/.cache/disdepth/teacher_labels``)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'disdepth' / 'teacher_labels'


def safe_name(name: str, limit: int = 96) -> str:
    """Return a file-name-safe version of a frame or dataset name."""
    text = re.sub(r'[^A-Za-z0-9._-]+', '_', str(name)).strip('._')
    return text[:limit] or 'frame'


def frame_digest(frame: Frame) -> str:
    """
    Digest of what a teacher label depends on: the frame's pixels and intrinsics.

    :param frame: the un-augmented frame
    :return: 16 hex characters
    """
    digest = hashlib.blake2b(digest_size=8)
    rgb = np.ascontiguousarray(frame.rgb)
    k = frame.intrinsics
    digest.update(np.asarray(rgb.shape, np.int64).tobytes())
    digest.update(np.asarray([k.fx, k.fy, k.cx, k.cy, k.width, k.height], np.float64).tobytes())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def dataset_identity(entry: Any) -> str:
    """
    Cache folder name of a training dataset: its registry name and resolved root.

    :param entry: a :class:`disdepth_core.training.config.DatasetEntry`
    :return: e.g. ``'unlabeled-3f2a9c01d4e5'``
    """
    root = entry.options.get('root', entry.root) if isinstance(entry.options, dict) \
        else entry.root
    resolved = str(Path(str(root)).expanduser().resolve()) if root else ''
    key = json.dumps({'name': entry.name, 'root': resolved}, sort_keys=True)
    return f'{safe_name(entry.name)}-{hashlib.blake2b(key.encode(), digest_size=6).hexdigest()}'


def _in_dataloader_worker() -> bool:
    try:
        from torch.utils.data import get_worker_info
    except ImportError:
        return False
    return get_worker_info() is not None


class TeacherLabels:
    """
    A teacher ONNX file and its label cache (see the module docstring).

    Picklable (DataLoader workers get a copy without the ONNX Runtime session, and open their
    own only if a label is missing).

    :param onnx_path: the teacher's DisDepth ONNX file
    :param cache_dir: cache root (empty: :func:`default_cache_dir`)
    :param dtype: 'float16' or 'float32' storage
    :param device: ONNX Runtime device ('auto': TensorRT -> CUDA -> CPU)
    :param input_size: network (height, width) for a dynamic teacher (None: its spec's size)
    :param threads: ONNX Runtime CPU threads (0: its default)
    :raises ValueError: naming the file for a missing / non-DisDepth teacher or a size it
        cannot take
    """

    def __init__(self, onnx_path: Union[str, Path], cache_dir: Union[str, Path] = '',
                 dtype: str = 'float16', device: str = 'auto',
                 input_size: Optional[Sequence[int]] = None, threads: int = 0) -> None:
        if dtype not in DTYPE_TAGS:
            raise ValueError(f'teacher label dtype must be one of {sorted(DTYPE_TAGS)}, got '
                             f'{dtype!r}')
        self.path = Path(onnx_path).expanduser().resolve()
        self.spec = onnx_teacher_spec(self.path)
        spec_hw = (int(self.spec.input_height), int(self.spec.input_width))
        hw = spec_hw if input_size is None else (int(input_size[0]), int(input_size[1]))
        if hw != spec_hw and not self.spec.dynamic:
            raise ValueError(f'teacher {self.path} has a fixed input size {spec_hw[0]}x'
                             f'{spec_hw[1]}; label_distill.teacher_input_size {hw[0]}x{hw[1]} '
                             'needs a teacher exported with a dynamic input size')
        m = self.spec.input_multiple
        if hw[0] % m or hw[1] % m:
            raise ValueError(f'teacher {self.path}: input size {hw[0]}x{hw[1]} is not a '
                             f'multiple of {m} (its input_multiple)')
        self.input_hw: Tuple[int, int] = hw
        self.relative = not self.spec.is_metric
        self.dtype = np.dtype(dtype)
        self.sha256 = file_sha256(self.path)
        base = Path(cache_dir).expanduser() if str(cache_dir) else default_cache_dir()
        self.root = base / f'{self.sha256[:16]}-{hw[0]}x{hw[1]}-{DTYPE_TAGS[dtype]}'
        self.device = device
        # used when ``device`` cannot run (set for a DDP rank's own GPU; None: raise)
        self.device_fallback: Optional[str] = None
        self.threads = int(threads)
        self.computed = 0
        self.hits = 0
        self._estimator: Any = None
        self._pid: Optional[int] = None

    def __getstate__(self) -> Dict[str, Any]:
        """Pickle without the ONNX Runtime session."""
        state = dict(self.__dict__)
        state['_estimator'] = None
        state['_pid'] = None
        return state

    # -- the teacher

    def estimator(self) -> Any:
        """Return the teacher's depth estimator, made on first use (CPU in DataLoader workers)."""
        if self._estimator is None or self._pid != os.getpid():
            # (a session inherited through fork is not used: its thread pool did not survive)
            from disdepth_core.inference import create_estimator
            options: Dict[str, Any] = {}
            if self.spec.dynamic:
                options['input_size'] = self.input_hw
            if self.threads:
                options['intra_op_threads'] = self.threads
            from disdepth_core.inference import EngineUnavailableError
            device = 'cpu' if _in_dataloader_worker() else self.device
            try:
                estimator = create_estimator(self.path, engine='onnxruntime', device=device,
                                             **options)
            except EngineUnavailableError:
                if self.device_fallback is None or device == self.device_fallback:
                    raise
                estimator = create_estimator(self.path, engine='onnxruntime',
                                             device=self.device_fallback, **options)
            net_hw = tuple(cast(Any, estimator).net_hw)   # an OnnxEstimator
            if net_hw != self.input_hw:
                raise ValueError(f'teacher {self.path} runs at {net_hw[0]}x{net_hw[1]}, not the '
                                 f'expected {self.input_hw[0]}x{self.input_hw[1]}')
            self._estimator = estimator
            self._pid = os.getpid()
        return self._estimator

    def predict(self, frame: Frame) -> np.ndarray:
        """
        Run the teacher on an un-augmented frame (no cache).

        :param frame: the frame
        :return: H x W float32 in the storage convention (metres, or relative disparity in
            [0, 1]), NaN where the teacher gave no value, rounded to the storage dtype
        """
        result = self.estimator().predict(frame.rgb, frame.intrinsics)
        value = np.asarray(result.depth, dtype=np.float32)
        if self.relative:
            value = normalise_relative(value)
        self.computed += 1
        return value.astype(self.dtype).astype(np.float32)

    def write_manifest(self) -> None:
        """Write ``teacher.json`` (what the labels of this folder are) atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        info = {'format': CACHE_FORMAT, 'teacher': str(self.path), 'sha256': self.sha256,
                'input_hw': list(self.input_hw), 'dtype': self.dtype.name,
                'output_kind': self.spec.output_kind,
                'stored': ('relative disparity, normalised per frame to [0, 1]' if self.relative
                           else 'metres at the frame resolution'),
                'spec': json.loads(self.spec.to_json())}
        atomic_write_text(self.root / MANIFEST, json.dumps(info, indent=1, sort_keys=True))

    # -- the cache

    def entry_path(self, dataset_id: str, frame: Frame) -> Path:
        """Where the label of ``frame`` lives."""
        return self.root / dataset_id / f'{safe_name(frame.name)}-{frame_digest(frame)}.npy'

    def read(self, path: Path, hw: Tuple[int, int]) -> Optional[np.ndarray]:
        """
        Read and check an entry.

        :param path: the ``.npy`` file
        :param hw: the frame's (height, width)
        :return: H x W float32, or None when the entry is missing, corrupt or mismatched
        """
        try:
            with open(path, 'rb') as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    return None
                if tuple(shape) != tuple(hw) or fortran or np.dtype(dtype) != self.dtype:
                    return None
                nbytes = int(np.prod(shape)) * self.dtype.itemsize
                if os.fstat(f.fileno()).st_size != f.tell() + nbytes:
                    return None
                data = f.read(nbytes)
        except (OSError, ValueError, EOFError):
            return None
        if len(data) != nbytes:
            return None
        return np.frombuffer(data, dtype=self.dtype).reshape(hw).astype(np.float32)

    def write(self, path: Path, value: np.ndarray) -> None:
        """Write an entry atomically (temporary file beside it, then rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix='.npy') as tmp:
            with open(tmp, 'wb') as f:
                np.save(f, np.ascontiguousarray(value, dtype=self.dtype))

    def get(self, dataset_id: str, frame: Frame) -> np.ndarray:
        """
        Return the teacher label of a frame: from the cache, or computed and stored.

        :param dataset_id: the dataset's cache folder (:func:`dataset_identity`)
        :param frame: the un-augmented frame
        :return: H x W float32 (metres, or relative disparity in [0, 1]), NaN invalid
        """
        path = self.entry_path(dataset_id, frame)
        value = self.read(path, frame.hw)
        if value is not None:
            self.hits += 1
            return value
        if not (self.root / MANIFEST).is_file():
            self.write_manifest()
        value = self.predict(frame)
        self.write(path, value)
        return value


def normalise_relative(disparity: np.ndarray) -> np.ndarray:
    """
    Map a relative disparity to [0, 1] over its finite pixels (an increasing affine map).

    :param disparity: H x W float32, NaN invalid
    :return: float32 of the same shape (all 0 for a constant map), NaN kept
    """
    out = np.full(disparity.shape, np.nan, np.float32)
    finite = np.isfinite(disparity)
    if not finite.any():
        return out
    values = disparity[finite].astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    out[finite] = ((values - lo) / (hi - lo)).astype(np.float32) if hi > lo else 0.0
    return out


class TeacherLabelDataset:
    """
    A dataset whose samples carry the teacher's map in the depth slot.

    Each item loads the un-augmented frame of ``base``, fetches its teacher label
    (:meth:`TeacherLabels.get`), puts it into the frame's depth slot and runs ``base``'s own
    augmentation and resize (:meth:`DepthDataset.transform_frame`), so map and image stay
    aligned.  Samples are those of :func:`disdepth_core.data.base.frame_to_sample` plus
    ``depth_source: 'teacher'``; ``depth`` is metres (metric teacher, valid within
    ``(base.min_depth, max_depth]``) or the relative map + 1 (values in [1, 2]; 0 and
    ``valid_mask`` False where there is no label).  With ``anchor``, frames that have ground
    truth also carry it, augmented identically, as ``anchor_depth`` / ``anchor_valid``.

    :param base: the dataset (any :class:`DepthDataset`, labelled or not)
    :param labels: the teacher and its cache
    :param dataset_id: cache folder of this dataset (:func:`dataset_identity`)
    :param anchor: also return the ground truth of labelled frames
    :param max_depth: cap of valid metric teacher depth (None: the teacher's own range)
    """

    def __init__(self, base: DepthDataset, labels: TeacherLabels, dataset_id: str,
                 anchor: bool = False, max_depth: Optional[float] = None) -> None:
        if not isinstance(base, DepthDataset):
            raise TypeError(f'teacher labels need a DepthDataset, got {type(base).__name__}')
        self.base = base
        self.labels = labels
        self.dataset_id = dataset_id
        self.anchor = bool(anchor)
        self.max_depth = max_depth

    def __len__(self) -> int:
        """Return the number of frames of the base dataset."""
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (forwarded to the base dataset)."""
        self.base.set_epoch(epoch)

    def label(self, index: int) -> Tuple[Frame, np.ndarray]:
        """
        Load a frame and its teacher label, computed and cached if needed.

        :param index: frame index
        :return: (the un-augmented frame, its H x W label)
        """
        frame = self.base.load_frame(index).check()
        return frame, self.labels.get(self.dataset_id, frame)

    def encode(self, label: np.ndarray) -> np.ndarray:
        """Return the label as a depth-slot map: 0 where there is none."""
        finite = np.isfinite(label)
        offset = np.float32(RELATIVE_OFFSET if self.labels.relative else 0.0)
        return np.where(finite, label + offset, np.float32(0.0)).astype(np.float32)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        """Return sample ``index`` with the teacher's map as ``depth`` (see the class doc)."""
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f'{type(self.base).__name__}: index {index} out of range for {n} '
                             'frames')
        index %= n
        frame, label = self.label(index)
        teacher_frame = self.base.transform_frame(replace(frame, depth=self.encode(label)),
                                                  index)
        if self.labels.relative:
            lo, hi = RELATIVE_VALID_MIN, None
        else:
            lo, hi = self.base.min_depth, self.max_depth
        sample = frame_to_sample(teacher_frame, index, lo, hi)
        sample['depth_source'] = 'teacher'
        if self.anchor and frame.depth is not None:
            truth = frame_to_sample(self.base.transform_frame(frame, index), index,
                                    self.base.min_depth, self.base.max_depth)
            sample['anchor_depth'] = truth['depth']
            sample['anchor_valid'] = truth['valid_mask']
        return sample


def teacher_agreement(depth: np.ndarray, label: np.ndarray, relative: bool,
                      residual: str = 'abs') -> Dict[str, float]:
    """
    How close a depth map is to a teacher's label (for held-out evaluation of a student).

    ``ssi``: the scale-and-shift-invariant error (:class:`disdepth_core.losses.
    ScaleShiftInvariantLoss`) between the disparity ``1 / depth`` and the teacher's disparity
    (its relative map, or ``1 / label`` for a metric teacher).  ``abs_rel_median`` (metric
    teachers only): ``mean(|d * median(label) / median(d) - label| / label)``.

    :param depth: H x W depth (metres, or any positive unit), NaN / <= 0 invalid
    :param label: H x W teacher label (:meth:`TeacherLabels.get`), NaN invalid
    :param relative: whether the label is relative disparity
    :param residual: SSI residual, 'abs' or 'squared'
    :return: the errors (NaN when no pixel is valid in both)
    """
    import torch

    from disdepth_core.losses import ScaleShiftInvariantLoss
    depth = np.asarray(depth, dtype=np.float64)
    label = np.asarray(label, dtype=np.float64)
    if depth.shape != label.shape:
        raise ValueError(f'depth {depth.shape} and teacher label {label.shape} differ in size')
    with np.errstate(invalid='ignore', divide='ignore'):
        valid = np.isfinite(depth) & (depth > 0) & np.isfinite(label)
        if not relative:
            valid &= label > 0
        target = label if relative else 1.0 / label
        out = {'ssi': float('nan')}
        if valid.sum() >= 4:
            ssi = ScaleShiftInvariantLoss(residual)(
                torch.from_numpy(np.where(valid, 1.0 / depth, 0.0))[None, None],
                torch.from_numpy(np.where(valid, target, np.nan))[None, None])
            if int(ssi['n_images']):
                out['ssi'] = float(ssi['loss'])
        if not relative:
            out['abs_rel_median'] = float('nan')
            if valid.any():
                d, t = depth[valid], label[valid]
                scaled = d * np.median(t) / np.median(d)
                out['abs_rel_median'] = float(np.mean(np.abs(scaled - t) / t))
    return out


def labelled_parts(mix: Any) -> List[Tuple[TeacherLabelDataset, List[int]]]:
    """
    Return the teacher-label datasets of a training mix and the frames it uses of each.

    :param mix: a :class:`disdepth_core.training.data.Mix` (``Subset`` selections unwrapped)
    :return: (dataset, sorted base indices) per distinct dataset
    """
    from torch.utils.data import Subset
    found: Dict[int, Tuple[TeacherLabelDataset, set]] = {}
    for dataset, _, _ in mix.parts:
        indices: Optional[Sequence[int]] = None
        if isinstance(dataset, Subset):
            dataset, indices = dataset.dataset, list(dataset.indices)
        if isinstance(dataset, TeacherLabelDataset):
            slot = found.setdefault(id(dataset), (dataset, set()))
            slot[1].update(range(len(dataset)) if indices is None else indices)
    return [(ds, sorted(idx)) for ds, idx in found.values()]


def fill_labels(parts: Sequence[Tuple[TeacherLabelDataset, Sequence[int]]], rank: int = 0,
                world_size: int = 1, progress: bool = False,
                log: Optional[Callable[[str], None]] = None) -> Dict[str, int]:
    """
    Compute every missing teacher label of the given frames (this rank's share).

    Resumable: complete entries of an earlier, interrupted fill are found and kept.

    :param parts: from :func:`labelled_parts`
    :param rank: this process's rank (frames ``rank::world_size`` are its share)
    :param world_size: number of processes
    :param progress: show a tqdm bar
    :param log: where to write a summary line (None: nowhere)
    :return: ``{'frames', 'cached', 'computed'}`` of this rank
    """
    from tqdm import tqdm
    items = [(dataset, i) for dataset, indices in parts for i in indices]
    mine = items[rank::max(1, world_size)]
    labels = {id(d.labels): d.labels for d, _ in parts}
    before = {k: (v.hits, v.computed) for k, v in labels.items()}
    for teacher in labels.values():
        teacher.write_manifest()
    bar = tqdm(mine, disable=not progress, desc='teacher labels', unit='frame', leave=False,
               dynamic_ncols=True)
    for dataset, index in bar:
        dataset.label(index)
    bar.close()
    hits = sum(v.hits - before[k][0] for k, v in labels.items())
    computed = sum(v.computed - before[k][1] for k, v in labels.items())
    stats = {'frames': len(mine), 'cached': hits, 'computed': computed}
    if log is not None:
        roots = ', '.join(str(v.root) for v in labels.values())
        log(f'teacher labels: {len(mine)} frames, {hits} cached, {computed} computed ({roots})')
    return stats
