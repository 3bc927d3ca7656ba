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
Package a trained student as the default model shipped in ``disdepth_core/assets``.

Re-saves the checkpoint as ``disdepth_default.safetensors`` + ``.json`` (spec renamed, provenance
and measured accuracy in ``spec.extra``) and exports ``disdepth_default.onnx`` with
``disdepth export`` (which checks ONNX Runtime against torch), e.g.
``tools/experiment_package.py out/experiment/distill_attentive/final --results
out/experiment/results/results.json --model-key distill_attentive``.
"""

import argparse
from dataclasses import replace
import json
from pathlib import Path
import sys
from typing import Any, Dict, List, Optional

ASSETS = Path(__file__).resolve().parents[1] / 'disdepth_core' / 'assets'


def main(argv: Optional[List[str]] = None) -> int:
    """Package the model; return the exit status."""
    parser = argparse.ArgumentParser(description='package the default model')
    parser.add_argument('checkpoint', help='student checkpoint stem or .safetensors')
    parser.add_argument('--results', type=Path, default=None,
                        help='results.json of tools/experiment_eval.py (accuracy provenance)')
    parser.add_argument('--model-key', default=None, help='name of the model in results.json')
    parser.add_argument('--name', default='disdepth-default-indoor-mbv2')
    parser.add_argument('--assets', type=Path, default=ASSETS)
    parser.add_argument('--stem', default='disdepth_default')
    args = parser.parse_args(argv)

    from disdepth_core.checkpoint import load_checkpoint
    from disdepth_core.checkpoint import save_checkpoint
    from disdepth_ros.cli import main as disdepth
    model, spec, meta = load_checkpoint(args.checkpoint)
    if spec.architecture != 'student':
        print(f'experiment_package: {args.checkpoint} is a {spec.architecture}, not a student',
              file=sys.stderr)
        return 2
    extra: Dict[str, Any] = dict(spec.extra)
    extra['recipe'] = ('tools/run_experiment.sh (configs: disdepth_core/configs/'
                       'indoor_experiment.yaml); see docs/experiments.md and docs/model_card.md')
    extra['source_checkpoint'] = str(args.checkpoint)
    if args.results is not None and args.model_key:
        results = json.loads(args.results.read_text())
        sets = results['models'][args.model_key]['sets']
        extra['accuracy'] = {s: {'metrics': r['metrics'],
                                 'metrics_median_scaled': r['metrics_median_scaled'],
                                 'frames': r['n_images'], 'settings': r['settings']}
                             for s, r in sets.items()}
    new_spec = replace(spec, name=args.name, extra=extra)
    stem = args.assets / args.stem
    save_checkpoint(stem, model, new_spec, model.config, train_config=meta.get('train'),
                    extra=meta.get('extra'))
    rc = disdepth(['export', str(stem) + '.safetensors', str(stem) + '.onnx'])
    if rc:
        print(f'experiment_package: disdepth export failed ({rc})', file=sys.stderr)
        return rc
    for suffix in ('.safetensors', '.json', '.onnx'):
        path = Path(str(stem) + suffix)
        print(f'{path} {path.stat().st_size / 1e6:.2f} MB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
