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
Training data plumbing: datasets from the registry by name, mixes, sampling, batching, targets.

* :func:`build_mix` turns the ``data.train`` / ``data.val`` entries of a :class:`TrainConfig` into
  datasets (frame selection, repeats) and per-frame sampling weights.
* :class:`MixSampler` shuffles (or draws by weight) deterministically per epoch and splits the
  order between DDP ranks, so every rank sees different frames and the order survives a resume.
* :func:`collate` batches dict samples, including mixes of labelled and unlabelled frames, and
  the teacher-label samples of ``label_distill`` (:mod:`.teacher_labels`: the teacher's map in
  the depth slot, ground truth for the metric anchor in ``anchor_depth``).
* :func:`canonical_targets` is *the* place where metric ground truth becomes the training target
  of the canonical camera (``gt * canonical_depth_scale(canonical_focal, K, net_hw)``).
"""

import math
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import numpy as np
import torch
from torch.utils.data import ConcatDataset
from torch.utils.data import Dataset
from torch.utils.data import Sampler
from torch.utils.data import Subset

from disdepth_core.data.registry import build_dataset
from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.geometry import canonical_depth_scale
from disdepth_core.training.config import DataConfig
from disdepth_core.training.config import DatasetEntry
from disdepth_core.training.config import parse_select

# Optional per-entry dataset wrapper of a stage: (dataset, entry) -> dataset (e.g. teacher labels).
DatasetWrap = Callable[[Dataset, DatasetEntry], Dataset]


def make_augmenter(options: Dict[str, Any]) -> Any:
    """
    Build the training augmentation from ``AugmentConfig`` values.

    :param options: fields of :class:`disdepth_core.data.augment.AugmentConfig`
    :return: a callable ``(frame, rng) -> frame``
    :raises ValueError: for unknown fields or bad values
    """
    from disdepth_core.config import from_dict
    from disdepth_core.data.augment import AugmentConfig
    from disdepth_core.data.augment import Augmenter
    return Augmenter(from_dict(AugmentConfig, options, 'augment'))


def _init_args(cls: Type[Any]) -> Sequence[str]:
    import inspect
    return list(inspect.signature(cls.__init__).parameters)


def build_entry(entry: DatasetEntry, hw: Tuple[int, int], train: bool, seed: int,
                augment: Optional[Dict[str, Any]], max_depth: Optional[float],
                wrap: Optional[DatasetWrap] = None) -> Dataset:
    """
    Construct one dataset of a mix and apply its frame selection (repeats are applied by the mix).

    :param entry: the config entry
    :param hw: network input (height, width); every sample is resized to it
    :param train: training set (augmentation on if ``entry.augment``) or validation set
    :param seed: augmentation seed
    :param augment: ``Augmenter`` options (None: no augmentation)
    :param max_depth: ``valid_mask`` cap passed to datasets that accept ``max_depth``
    :param wrap: applied to the constructed dataset before the frame selection, or None
    :return: the dataset (a ``Subset`` when ``entry.select`` is set)
    :raises ValueError: naming the entry when construction fails or selects nothing
    """
    kwargs: Dict[str, Any] = dict(entry.options)
    if entry.root:
        kwargs.setdefault('root', entry.root)
    kwargs.setdefault('size', hw)
    kwargs.setdefault('seed', seed)
    if train and entry.augment and augment is not None:
        kwargs.setdefault('augment', make_augmenter({**augment, **entry.augment_options}))
    try:
        from disdepth_core.data.registry import get_dataset_class
        accepted = _init_args(get_dataset_class(entry.name))
        if max_depth is not None and 'max_depth' in accepted and 'max_depth' not in kwargs:
            kwargs['max_depth'] = max_depth
        dataset = build_dataset(entry.name, **kwargs)
    except (TypeError, ValueError, FileNotFoundError) as exc:
        raise ValueError(f'dataset {entry.name!r} (root {entry.root!r}): {exc}') from None
    if wrap is not None:
        dataset = wrap(dataset, entry)
    sel = parse_select(entry.select)
    if sel != slice(None):
        indices = list(range(len(dataset)))[sel]
        if not indices:
            raise ValueError(f'dataset {entry.name!r} (root {entry.root!r}): selection '
                             f'{entry.select!r} keeps none of its {len(dataset)} frames')
        dataset = Subset(dataset, indices)
    if len(dataset) == 0:
        raise ValueError(f'dataset {entry.name!r} (root {entry.root!r}) has no frames')
    return dataset


class Mix(ConcatDataset):
    """
    Concatenation of the datasets of a mix (each repeated ``repeats`` times), with weights.

    :param parts: (dataset, repeats, weight) per entry
    """

    def __init__(self, parts: Sequence[Tuple[Dataset, int, float]]) -> None:
        datasets: List[Dataset] = []
        weights: List[float] = []
        for dataset, repeats, weight in parts:
            datasets += [dataset] * repeats
            weights += [weight] * (len(dataset) * repeats)
        super().__init__(datasets)
        self.parts = list(parts)
        self.weights = torch.tensor(weights, dtype=torch.float64)

    @property
    def uniform(self) -> bool:
        """Whether every frame has the same sampling weight."""
        return bool((self.weights == self.weights[0]).all())

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to datasets with per-epoch augmentation streams."""
        for dataset, _, _ in self.parts:
            base = dataset.dataset if isinstance(dataset, Subset) else dataset
            if hasattr(base, 'set_epoch'):
                base.set_epoch(epoch)


def build_mix(entries: Sequence[DatasetEntry], data: DataConfig, train: bool,
              max_depth: Optional[float], wrap: Optional[DatasetWrap] = None) -> Mix:
    """
    Build the training mix (or one validation set when given a single entry).

    :param entries: the dataset entries
    :param data: the data section (size, seed, augmentation)
    :param train: training (augmentation, repeats) or validation
    :param max_depth: ground-truth cap for ``valid_mask``
    :param wrap: per-entry dataset wrapper (see :func:`build_entry`), or None
    :return: the mix
    :raises ValueError: for an empty list
    """
    if not entries:
        raise ValueError('no datasets configured (data.train is empty)' if train
                         else 'no validation datasets given')
    augment = dict(data.augment) if train and data.augment is not None else None
    parts = [(build_entry(e, data.hw, train, data.seed, augment, max_depth, wrap),
              e.repeats if train else 1, e.weight) for e in entries]
    return Mix(parts)


class MixSampler(Sampler):
    """
    Deterministic per-epoch order of a :class:`Mix`, split between DDP ranks.

    Uniform weights: a permutation (or the identity with ``shuffle=False``).  Otherwise frames are
    drawn with replacement in proportion to their weights.  The order depends only on
    ``(seed, epoch)``, so every rank computes the same order and takes every ``world``-th frame,
    padded to equal length (as ``DistributedSampler`` does).

    :param weights: per-frame weights
    :param shuffle: shuffle (training) or keep the order (validation)
    :param seed: base seed
    :param rank: this process's rank
    :param world_size: number of processes
    """

    def __init__(self, weights: torch.Tensor, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        self.weights = weights.double()
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = int(rank)
        self.world = int(world_size)
        self.epoch = 0
        self.skip_next = 0
        n = int(weights.numel())
        self.per_rank = int(math.ceil(n / self.world))

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch``."""
        self.epoch = int(epoch)

    def order(self) -> List[int]:
        """Return the full (all ranks) order of this epoch, padded to a multiple of the world."""
        n = int(self.weights.numel())
        gen = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        if not self.shuffle:
            idx = list(range(n))
        elif bool((self.weights == self.weights[0]).all()):
            idx = torch.randperm(n, generator=gen).tolist()
        else:
            idx = torch.multinomial(self.weights, n, replacement=True, generator=gen).tolist()
        total = self.per_rank * self.world
        while len(idx) < total:
            idx += idx[:total - len(idx)]
        return idx

    def __iter__(self) -> Iterator[int]:
        """Yield this rank's indices (minus ``skip_next`` leading ones, once: resume)."""
        mine = self.order()[self.rank::self.world]
        skip, self.skip_next = self.skip_next, 0
        return iter(mine[skip:])

    def __len__(self) -> int:
        """Return the number of indices per rank."""
        return self.per_rank


def collate(samples: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """
    Batch dict samples into tensors; frames without ground truth get zero depth and no valid pixel.

    :param samples: dict samples (numpy arrays) from the datasets
    :return: batch with ``image`` (B x 3 x H x W), ``depth`` / ``valid_mask`` (B x 1 x H x W),
        ``K`` (B x 3 x 3), ``has_gt`` (B bool), ``name`` (list) and ``index`` (B); when samples
        carry them, ``depth_source`` (list: what the depth slot holds, e.g. ``'teacher'``) and
        ``anchor_depth`` / ``anchor_valid`` (B x 1 x H x W ground truth beside a teacher map,
        zero / False for frames without) with ``has_anchor`` (B bool)
    :raises ValueError: if the samples do not share one image size
    """
    if not samples:
        raise ValueError('collate: empty batch')
    shapes = {tuple(np.shape(s['image'])) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f'collate: samples have different image sizes {sorted(shapes)} (set '
                         'data.input_height/input_width so every dataset is resized)')
    images = torch.stack([torch.as_tensor(np.asarray(s['image']), dtype=torch.float32)
                          for s in samples])
    b, _, h, w = images.shape
    depth = torch.zeros(b, 1, h, w)
    valid = torch.zeros(b, 1, h, w, dtype=torch.bool)
    has_gt = torch.zeros(b, dtype=torch.bool)
    for i, s in enumerate(samples):
        if s.get('depth') is not None:
            depth[i] = torch.as_tensor(np.asarray(s['depth'], dtype=np.float32)).reshape(1, h, w)
            mask = s.get('valid_mask')
            mask = (depth[i] > 0) if mask is None else \
                torch.as_tensor(np.asarray(mask, dtype=bool)).reshape(1, h, w)
            valid[i] = mask & (depth[i] > 0)
            has_gt[i] = True
    k = torch.stack([torch.as_tensor(np.asarray(s['K'], dtype=np.float32)) for s in samples])
    batch = {'image': images, 'depth': depth, 'valid_mask': valid, 'K': k, 'has_gt': has_gt,
             'name': [str(s.get('name', '')) for s in samples],
             'index': torch.as_tensor([int(s.get('index', -1)) for s in samples])}
    if any('depth_source' in s for s in samples):
        batch['depth_source'] = [str(s.get('depth_source', 'ground_truth' if s.get('depth')
                                           is not None else 'none')) for s in samples]
    if any('anchor_depth' in s for s in samples):
        anchor = torch.zeros(b, 1, h, w)
        anchor_valid = torch.zeros(b, 1, h, w, dtype=torch.bool)
        for i, s in enumerate(samples):
            if s.get('anchor_depth') is not None:
                anchor[i] = torch.as_tensor(np.asarray(s['anchor_depth'], dtype=np.float32)
                                            ).reshape(1, h, w)
                anchor_valid[i] = torch.as_tensor(np.asarray(s['anchor_valid'], dtype=bool)
                                                  ).reshape(1, h, w) & (anchor[i] > 0)
        batch['anchor_depth'] = anchor
        batch['anchor_valid'] = anchor_valid
        batch['has_anchor'] = anchor_valid.flatten(1).any(1)
    return batch


def canonical_scales(k: torch.Tensor, net_hw: Tuple[int, int],
                     canonical_focal: float) -> torch.Tensor:
    """
    Per-image factor from metric depth to canonical-camera depth.

    :param k: B x 3 x 3 intrinsics of the network-input images (already resized to ``net_hw``)
    :param net_hw: (height, width) of the network input
    :param canonical_focal: the model's canonical focal length
    :return: B float32 factors ``canonical_depth_scale(canonical_focal, K, net_hw)``
    """
    h, w = net_hw
    scales = []
    for mat in k.detach().to('cpu', torch.float64).numpy():
        intr = CameraIntrinsics.from_matrix(mat, w, h).validate()
        scales.append(canonical_depth_scale(canonical_focal, intr, net_hw))
    return torch.tensor(scales, dtype=torch.float32)


def canonical_targets(batch: Dict[str, Any], canonical_focal: float) -> torch.Tensor:
    """
    Training targets of the canonical camera: ``gt * canonical_depth_scale(f_c, K, net_hw)``.

    :param batch: a batch from :func:`collate` (``depth``, ``K``, ``image``)
    :param canonical_focal: the model's canonical focal length
    :return: B x 1 x H x W targets (0 where invalid), on the device of ``batch['depth']``
    """
    h, w = batch['image'].shape[-2:]
    s = canonical_scales(batch['K'], (int(h), int(w)), canonical_focal)
    return batch['depth'] * s.to(batch['depth'].device).view(-1, 1, 1, 1)
