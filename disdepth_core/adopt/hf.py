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
``disdepth adopt --family hf``: export a local Hugging Face ``transformers`` depth model to ONNX.

The folder (``config.json`` + weights, as ``save_pretrained`` writes it; nothing is downloaded)
is loaded with ``AutoModelForDepthEstimation``.  The export takes ``image`` (RGB in [0, 1]) and
applies the folder's ``preprocessor_config.json`` normalisation inside the graph, then calls the
model with ``pixel_values`` and returns ``predicted_depth`` as ``depth`` (N x 1 x h x w).  It is
exported with a dynamic input size first; when ONNX Runtime's output does not follow a second
input size (models whose traced graph fixes interpolation sizes), it is exported again at the
fixed size.  ONNX Runtime is checked against torch before anything is written.

What the output means comes from the model type (:data:`HF_TYPES`); ``--kind`` overrides it (a
DPT fine-tuned for metric depth, say).
"""

from dataclasses import dataclass
import json
from pathlib import Path
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple
import warnings

import numpy as np

from disdepth_core.adopt import AdoptError
from disdepth_core.adopt import AdoptOptions
from disdepth_core.adopt import Conventions
from disdepth_core.adopt import network_size
from disdepth_core.adopt.families import RELATIVE_RANGE
from disdepth_core.modelspec import METRIC_OUTPUT_KINDS
from disdepth_core.modelspec import OUTPUT_KINDS

# Largest ONNX Runtime vs torch difference accepted, relative to the output's magnitude.
PARITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class HFType:
    """
    Conventions of one ``transformers`` model type.

    :param kind: output kind, or a function of the model config returning it
    :param multiple: input sides must be multiples of this
    :param default_size: (height, width) when the preprocessor config names none
    :param max_depth: config attribute holding the metric range end (metric kinds), if any
    :param source: where the convention is documented
    """

    kind: Any
    multiple: int
    default_size: Tuple[int, int]
    max_depth: Optional[str] = None
    source: str = ''


def _depth_anything_kind(config: Any) -> str:
    kind = getattr(config, 'depth_estimation_type', 'relative')
    return 'metric' if kind == 'metric' else 'relative_disparity'


HF_TYPES: Dict[str, HFType] = {
    'depth_anything': HFType(_depth_anything_kind, 14, (518, 518), 'max_depth',
                             'transformers DepthAnythingConfig: depth_estimation_type '
                             '(relative | metric) and max_depth'),
    'dpt': HFType('relative_disparity', 32, (384, 384), None,
                  'transformers DPT (the MiDaS 3.0 checkpoints Intel/dpt-*: relative inverse '
                  'depth); --kind for metric fine-tunes'),
    'glpn': HFType('metric', 32, (480, 640), 'max_depth',
                   'transformers GLPNConfig.max_depth (vinvino02/glpn-nyu: 10 m, -kitti: 80 m)'),
    'zoedepth': HFType('metric', 32, (384, 512), None,
                       'transformers ZoeDepth (metric, range in bin_configurations)'),
}


def _config(folder: Path) -> Dict[str, Any]:
    path = folder / 'config.json'
    if not path.is_file():
        raise AdoptError(f'{folder} is not a Hugging Face model folder: it has no config.json '
                         '(save one with model.save_pretrained(folder))')
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AdoptError(f'{path}: invalid JSON ({exc})') from None
    if not isinstance(data, dict) or not isinstance(data.get('model_type'), str):
        raise AdoptError(f'{path}: no "model_type" entry')
    return data


def _zoe_max_depth(config: Any) -> Optional[float]:
    bins = getattr(config, 'bin_configurations', None) or []
    values = [b.get('max_depth') for b in bins if isinstance(b, dict)]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return max(numbers) if numbers and len(numbers) == len(values) else None


def _preprocessor_size(folder: Path) -> Optional[Tuple[int, int]]:
    path = folder / 'preprocessor_config.json'
    if not path.is_file():
        return None
    try:
        size = json.loads(path.read_text()).get('size')
    except (json.JSONDecodeError, AttributeError):
        return None
    if isinstance(size, dict) and isinstance(size.get('height'), int) \
            and isinstance(size.get('width'), int):
        return int(size['height']), int(size['width'])
    return None


def hf_conventions(folder: Path, config: Any, options: AdoptOptions) -> Conventions:
    """
    Conventions of a loaded ``transformers`` model.

    :raises AdoptError: unknown model type, options that do not fit
    """
    from disdepth_core.models.hf_teacher import read_normalisation
    model_type = getattr(config, 'model_type', '?')
    if model_type not in HF_TYPES:
        raise AdoptError(f'{folder}: model type {model_type!r} is not one adopt knows '
                         f'({", ".join(sorted(HF_TYPES))}); export it to ONNX yourself and use '
                         '--family generic')
    for flag, value in (('--mean', options.mean), ('--std', options.std),
                        ('--bgr', options.bgr or None), ('--output', options.output),
                        ('--scene', options.scene)):
        if value is not None:
            raise AdoptError(f"{flag} does not apply to --family hf: the folder's "
                             'preprocessor_config.json and config.json say it')
    hf = HF_TYPES[model_type]
    kind = options.kind or (hf.kind(config) if callable(hf.kind) else hf.kind)
    if kind not in OUTPUT_KINDS:
        raise AdoptError(f'--kind {kind!r} is not one of {", ".join(OUTPUT_KINDS)}')
    try:
        mean, std = read_normalisation(folder)
    except ValueError as exc:
        raise AdoptError(str(exc)) from None
    focal = options.canonical_focal or 0.0
    if kind == 'canonical_metric' and not focal > 0:
        raise AdoptError('--kind canonical_metric needs --canonical-focal F')
    if kind in METRIC_OUTPUT_KINDS:
        known = getattr(config, hf.max_depth, None) if hf.max_depth else None
        if model_type == 'zoedepth':
            known = _zoe_max_depth(config)
        max_depth = options.max_depth if options.max_depth is not None else known
        min_depth = options.min_depth if options.min_depth is not None else 1e-3
        if not isinstance(max_depth, (int, float)) or not 0 < min_depth < max_depth:
            raise AdoptError(f'{folder}: the config does not say the depth range; pass '
                             '--max-depth M (and --min-depth M)')
    else:
        if options.min_depth is not None or options.max_depth is not None:
            raise AdoptError(f'--min-depth / --max-depth do not apply to {kind} outputs')
        min_depth, max_depth = RELATIVE_RANGE
    multiple = hf.multiple
    default = _preprocessor_size(folder) or hf.default_size
    m0, m1, m2 = (float(v) for v in mean)
    s0, s1, s2 = (float(v) for v in std)
    return Conventions(family='hf', kind=kind, mean=(m0, m1, m2), std=(s0, s1, s2),
                       multiple=multiple,
                       canonical_focal=float(focal), min_depth=float(min_depth),
                       max_depth=float(max_depth), default_size=default,
                       source=f'{model_type}: {hf.source}')


def _contract_module(net: Any, mean: Tuple[float, ...], std: Tuple[float, ...]) -> Any:
    import torch
    from torch import nn

    class Contract(nn.Module):
        """``image`` RGB [0, 1] -> normalised ``pixel_values`` -> ``predicted_depth`` N1hw."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1))
            self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1))

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            depth = self.net(pixel_values=(image - self.mean) / self.std).predicted_depth
            return depth.unsqueeze(1) if depth.dim() == 3 else depth

    return Contract().eval()


def _export(module: Any, hw: Tuple[int, int], path: Path, opset: int, dynamic: bool) -> None:
    import torch
    x = torch.rand(1, 3, hw[0], hw[1])
    axes = {'image': {0: 'N', 2: 'H', 3: 'W'}, 'depth': {0: 'N', 2: 'h', 3: 'w'}}
    # The tracer's warnings are about what the size check after the export decides.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(module, (x,), str(path), input_names=['image'], output_names=['depth'],
                          dynamic_axes=axes if dynamic else None, opset_version=opset,
                          dynamo=False)


def _compare(module: Any, path: Path, hw: Tuple[int, int]) -> Tuple[bool, float]:
    """Whether ONNX Runtime's output has torch's shape at ``hw``, and the largest difference."""
    import onnxruntime as ort
    import torch
    x = torch.rand(1, 3, hw[0], hw[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = module(x).numpy()
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    got = sess.run(['depth'], {'image': x.numpy()})[0]
    if got.shape != ref.shape:
        return False, float('inf')
    scale = max(1.0, float(np.abs(ref).max()))
    return True, float(np.abs(got - ref).max()) / scale


def export_hf(folder: Path, options: AdoptOptions, log: Callable[[str], None]
              ) -> Tuple[Any, Conventions, Tuple[int, int], bool, str]:
    """
    Export a local ``transformers`` depth model to an ONNX ModelProto in the DisDepth contract.

    :param folder: the model folder
    :param options: adopt options
    :param log: progress printer
    :return: (ModelProto, conventions, network size, dynamic size, description of the original)
    :raises AdoptError: naming the problem
    """
    if not folder.is_dir():
        raise AdoptError(f'--family hf takes a Hugging Face model folder; {folder} is a file')
    data = _config(folder)
    try:
        import onnx
        from transformers import AutoModelForDepthEstimation
    except ImportError as exc:
        raise AdoptError(f'--family hf needs transformers, torch and onnx ({exc}); install the '
                         'train extra: pip install "disdepth_ros[train]"') from None
    try:
        net = AutoModelForDepthEstimation.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise AdoptError(f'{folder}: transformers cannot load it ({exc})') from None
    net = net.float().eval()
    conv = hf_conventions(folder, net.config, options)
    hw = network_size(None, conv, options.input_size)
    module = _contract_module(net, conv.mean, conv.std)
    other = (hw[0] + 2 * conv.multiple, hw[1] + 2 * conv.multiple)
    with tempfile.TemporaryDirectory(prefix='disdepth-adopt-') as tmp:
        path = Path(tmp) / 'model.onnx'
        log(f'disdepth adopt: exporting {folder.name} ({data["model_type"]}) at {hw[0]}x{hw[1]} '
            f'(opset {options.opset}) ...')
        _export(module, hw, path, options.opset, dynamic=True)
        same, _ = _compare(module, path, other)
        dynamic = same
        if not same:
            log('disdepth adopt: the traced graph fixes its sizes; exporting at the fixed size '
                f'{hw[0]}x{hw[1]}')
            _export(module, hw, path, options.opset, dynamic=False)
        ok, diff = _compare(module, path, hw)
        if not ok or diff > PARITY_TOLERANCE:
            raise AdoptError(f'{folder}: ONNX Runtime disagrees with torch (largest relative '
                             f'difference {diff:.2e} > {PARITY_TOLERANCE:g})')
        log(f'disdepth adopt: ONNX Runtime matches torch (largest relative difference '
            f'{diff:.1e}); size {"dynamic" if dynamic else "fixed"}')
        model = onnx.load(str(path))
    return model, conv, hw, dynamic, f'{folder.name} ({data["model_type"]}): pixel_values -> ' \
                                     'predicted_depth'
