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
Evaluate several checkpoints on several RGB-D sets and write one table (the experiment's).

Each model goes through the same estimator path as ``disdepth eval`` (torch engine on the CPU,
the standard metrics per image, averaged over images, metric and median-scaled); a set may be a
slice of an RGB-D folder (held-out frames of a sequence) and may name its protocol, e.g.
``--set 'hololens_test=../shared/data/real/hololens_dvmvs[30:]'`` (frames 30 onwards, default
protocol) or ``--set 'kitti_raw=../shared/data/real/kitti_raw_sfnd@kitti'`` (80 m caps, Garg
crop); models are ``--model NAME=CHECKPOINT``, and ``--constant NAME=METRES`` adds the
yardstick every model must beat: the same depth for every pixel of every frame (e.g. the median
training depth), evaluated by the same code.

Writes ``results.json`` (everything) and ``results.md`` (the tables) into ``--out``.
"""

import argparse
import json
from pathlib import Path
import re
import sys
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from disdepth_core.data.registry import build_dataset
from disdepth_core.evaluation import evaluate
from disdepth_core.inference.atomic import atomic_write_text
from disdepth_core.training.config import parse_select

SET_PATTERN = re.compile(r'^(?P<label>[\w.-]+)=(?P<path>[^\[@]+)(\[(?P<sel>[-\d:]*)\])?'
                         r'(@(?P<protocol>\w+))?$')
SHOWN = ('abs_rel', 'rmse', 'd1')


class ConstantDepth:
    """
    The constant-depth yardstick: predicts ``metres`` everywhere, whatever the image.

    :param metres: the depth (> 0)
    """

    def __init__(self, metres: float) -> None:
        if not metres > 0:
            raise ValueError(f'a constant depth must be > 0 m, got {metres}')
        self.metres = float(metres)

    def predict(self, rgb: Any, intrinsics: Any) -> Any:
        """Return ``metres`` at every pixel of ``rgb``."""
        return SimpleNamespace(depth=np.full(rgb.shape[:2], self.metres, np.float32))


class FrameSubset:
    """
    Selected frames of a dataset, with the attributes :func:`evaluation.evaluate` reads.

    :param dataset: the full dataset (no augmentation, no resize)
    :param indices: frame indices to keep
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)
        self.augment = None
        self.size = None
        self.min_depth = dataset.min_depth
        self.max_depth = dataset.max_depth
        self.eval_crop = dataset.eval_crop

    def __len__(self) -> int:
        """Return the number of selected frames."""
        return len(self.indices)

    def get_frame(self, index: int) -> Any:
        """Return selected frame ``index``."""
        return self.dataset.get_frame(self.indices[index])


def parse_set(text: str) -> Tuple[str, Path, str, str]:
    """
    Parse ``label=path[start:stop]@protocol`` (selection and protocol optional).

    :param text: the set description
    :return: (label, path, selection, protocol)
    :raises ValueError: for a malformed description
    """
    m = SET_PATTERN.match(text)
    if not m:
        raise ValueError(f'--set {text!r}: expected label=path[start:stop]@protocol')
    return (m['label'], Path(m['path']), m['sel'] or '', m['protocol'] or 'auto')


def load_set(path: Path, select: str) -> Any:
    """Build the RGB-D folder dataset of a set and apply its frame selection."""
    dataset = build_dataset('rgbd_folder', root=path)
    indices = list(range(len(dataset)))[parse_select(select)]
    if not indices:
        raise ValueError(f'{path}[{select}] selects no frame')
    return FrameSubset(dataset, indices)


def count_parameters(model_path: str) -> Optional[float]:
    """Parameters (millions) of a checkpoint's model, or None if it cannot be loaded."""
    from disdepth_core.checkpoint import load_checkpoint
    model, _, _ = load_checkpoint(model_path)
    return sum(p.numel() for p in model.parameters()) / 1e6


def markdown(results: Dict[str, Any], sets: List[str], models: List[str]) -> str:
    """Render the result tables (metric and median-scaled)."""
    lines: List[str] = []
    for key, title in (('metrics', 'Metric depth (no scaling)'),
                       ('metrics_median_scaled', 'Median-scaled (scale ambiguity removed)')):
        lines += [f'**{title}** (abs_rel / rmse m / d1)', '']
        lines.append('| model | params (M) | ' + ' | '.join(sets) + ' |')
        lines.append('|---|---:|' + '---|' * len(sets))
        for name in models:
            entry = results['models'][name]
            cells = []
            for s in sets:
                r = entry['sets'].get(s)
                if r is None or not r.get(key):
                    cells.append('n/a')
                    continue
                m = r[key]
                cells.append(' / '.join(f'{m[k]:.3f}' for k in SHOWN))
            params = entry.get('params_m')
            lines.append(f'| {name} | {params:.2f} | ' + ' | '.join(cells) + ' |'
                         if params is not None else f'| {name} | | ' + ' | '.join(cells) + ' |')
        lines.append('')
    lines.append('Frames per set: ' + ', '.join(
        f'{s} {results["sets"][s]["frames"]} ({results["sets"][s]["protocol"]}, '
        f'max {results["sets"][s]["max_depth"]} m)' for s in sets))
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    """Run the evaluation; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', action='append', default=[], metavar='NAME=CHECKPOINT')
    parser.add_argument('--constant', action='append', default=[], metavar='NAME=METRES',
                        help='a constant-depth yardstick row (repeatable)')
    parser.add_argument('--set', action='append', required=True, dest='sets',
                        metavar='LABEL=PATH[SEL]@PROTOCOL')
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--threads', type=int, default=0)
    args = parser.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    from disdepth_core.inference import create_estimator
    models: List[Tuple[str, Union[str, ConstantDepth]]] = []   # name, checkpoint or constant
    for item in args.model:
        name, sep, path = item.partition('=')
        if not sep:
            parser.error(f'--model {item!r}: expected NAME=CHECKPOINT')
        if not path.endswith(('.safetensors', '.json', '.onnx')):
            path += '.safetensors'
        models.append((name, path))
    for item in args.constant:
        name, sep, value = item.partition('=')
        if not sep or not name:
            parser.error(f'--constant {item!r}: expected NAME=METRES')
        try:
            models.append((name, ConstantDepth(float(value))))
        except ValueError as exc:
            parser.error(f'--constant {item!r}: expected NAME=METRES ({exc})')
    if not models:
        parser.error('give at least one --model or --constant')
    try:
        sets = [parse_set(s) for s in args.sets]
        data = {label: load_set(path, sel) for label, path, sel, _ in sets}
    except ValueError as exc:
        print(f'experiment_eval: {exc}', file=sys.stderr)
        return 2
    results: Dict[str, Any] = {'models': {}, 'sets': {}}
    for name, path in models:
        entry: Dict[str, Any]
        estimator: Any
        if isinstance(path, ConstantDepth):
            estimator = path
            entry = {'constant_m': estimator.metres, 'params_m': None, 'sets': {}}
        else:
            estimator = create_estimator(path, engine='torch', device='cpu')
            entry = {'checkpoint': path, 'params_m': count_parameters(path),
                     'spec': {'name': estimator.spec.name,
                              'input': [estimator.spec.input_height,
                                        estimator.spec.input_width],
                              'canonical_focal': estimator.spec.canonical_focal},
                     'sets': {}}
        for label, path_, sel, protocol in sets:
            r = evaluate(estimator, data[label], protocol=protocol, keep_per_image=False)
            r.pop('per_image', None)
            entry['sets'][label] = r
            results['sets'][label] = {'path': str(path_), 'select': sel, 'protocol': protocol,
                                      'frames': r['n_images'],
                                      'max_depth': r['settings']['max_depth']}
            m = r['metrics']
            shown = ' '.join(f'{k} {m.get(k, float("nan")):.4f}' for k in SHOWN)
            print(f'{name:18s} {label:16s} {shown}', flush=True)
        results['models'][name] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    labels = [s[0] for s in sets]
    names = [m[0] for m in models]
    for fname, text in (('results.json', json.dumps(results, indent=1, default=str)),
                        ('results.md', markdown(results, labels, names))):
        atomic_write_text(args.out / fname, text)
    print((args.out / 'results.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
