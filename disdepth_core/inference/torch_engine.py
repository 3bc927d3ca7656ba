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
The ``torch`` engine: DisDepth checkpoints (``<stem>.safetensors`` + ``<stem>.json``) in PyTorch.

Eager by default, ``compile=True`` wraps the model in ``torch.compile`` (the first frames then
take longer while it compiles).  ``device='auto'`` picks CUDA when ``torch.cuda`` has a device,
otherwise the CPU; an explicit ``'cuda'`` without a GPU raises
:class:`~disdepth_core.inference.base.EngineUnavailableError`.  ``precision='fp16'`` or
``'bf16'`` runs the network under autocast (outputs are returned as float32).

On a CPU shared with other busy processes (other ROS nodes, other users), run with
``OMP_WAIT_POLICY=PASSIVE`` in the environment (it must be set before torch loads): with the
default busy-waiting OpenMP workers, a 2-core machine with one core taken by another process ran
the mobilenetv2 student at 256x320 in 3.0 s instead of 0.16 s (docs/benchmarks.md).

This module imports torch; the inference package only imports it when a torch estimator is built.
"""

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import EngineUnavailableError
from disdepth_core.inference.base import ModelLoadError
from disdepth_core.inference.postprocess import predict_with
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import Preprocessing

LOG = logging.getLogger('disdepth')

PRECISIONS: Dict[str, Optional[torch.dtype]] = {'fp32': None, 'fp16': torch.float16,
                                                'bf16': torch.bfloat16}


def split_outputs(out: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """
    Depth and confidence from a model output.

    Accepts a ``DepthOutput`` (attributes ``depth`` / ``confidence``), a dict with those keys,
    a ``(depth, confidence)`` tuple or a bare depth tensor.

    :param out: the model output
    :return: (depth N x 1 x h x w, confidence N x 1 x h x w or None)
    :raises TypeError: for anything else
    """
    if isinstance(out, torch.Tensor):
        return out, None
    if isinstance(out, dict):
        return out['depth'], out.get('confidence')
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 else None)
    if hasattr(out, 'depth'):
        return out.depth, getattr(out, 'confidence', None)
    raise TypeError(f'cannot find depth in a model output of type {type(out).__name__}')


def resolve_device(device: str) -> torch.device:
    """
    Return the torch device for ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    :raises EngineUnavailableError: CUDA requested but not available
    :raises ValueError: an unknown device string
    """
    text = (device or 'auto').strip().lower()
    if text == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if text == 'gpu':
        text = 'cuda'
    if text == 'cpu':
        return torch.device('cpu')
    if text == 'cuda' or (text.startswith('cuda:') and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise EngineUnavailableError(f'device {device!r}: torch has no CUDA device here '
                                         f'(torch {torch.__version__}); use device auto or cpu')
        index = int(text[5:]) if ':' in text else 0
        if index >= torch.cuda.device_count():
            raise EngineUnavailableError(f'device {device!r}: only {torch.cuda.device_count()} '
                                         'CUDA device(s) present')
        return torch.device('cuda', index)
    raise ValueError(f'unknown device {device!r} for torch; use auto, cpu, cuda or cuda:N')


class TorchEstimator:
    """
    A DisDepth torch model as a ``DepthEstimator``.

    :param model: the network (``image -> DepthOutput``)
    :param spec: its ModelSpec
    :param device: 'auto', 'cpu', 'cuda' or 'cuda:N'
    :param precision: 'fp32', 'fp16' or 'bf16' (autocast)
    :param compile: wrap the model in ``torch.compile``
    :param compile_mode: ``torch.compile`` mode (None: its default)
    :param input_size: network (height, width), multiples of 32 (default: the training size)
    :param threads: ``torch.set_num_threads`` (process-wide; None leaves it)
    :param model_path: shown in :attr:`info`
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, device: str = 'auto',
                 precision: str = 'fp32', compile: bool = False,  # noqa: A002
                 compile_mode: Optional[str] = None,
                 input_size: Optional[Sequence[int]] = None, threads: Optional[int] = None,
                 model_path: str = '<in memory>') -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got '
                             f'{precision!r}')
        self.device = resolve_device(device)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.spec = spec
        hw = (spec.input_height, spec.input_width) if input_size is None else input_size
        self.net_hw: Tuple[int, int] = (int(hw[0]), int(hw[1]))
        self._prep = Preprocessing(self.net_hw[0], self.net_hw[1], tuple(spec.mean),
                                   tuple(spec.std), spec.input_multiple)
        self._dtype = PRECISIONS[precision]
        self.model = model.eval().to(self.device)
        for param in self.model.parameters():
            param.requires_grad_(False)
        self._net = torch.compile(self.model, mode=compile_mode) if compile else self.model
        where = str(self.device)
        if self.device.type == 'cuda':
            where += f' ({torch.cuda.get_device_name(self.device)})'
        notes = 'torch.compile' if compile else 'eager'
        self.info = EngineInfo(engine='torch', provider=where, model_path=str(model_path),
                               precision=precision, notes=notes)
        LOG.info('torch runs %s on %s (%s, %s, %dx%d input)', Path(model_path).name, where,
                 precision, notes, self.net_hw[0], self.net_hw[1])

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], device: str = 'auto',
                        **options: Any) -> 'TorchEstimator':
        """
        Load a checkpoint with ``disdepth_core.checkpoint.load_checkpoint``.

        :param path: ``<stem>.safetensors`` or ``<stem>.json``
        :param device: see the class
        :param options: other constructor options
        :raises ModelLoadError: when the checkpoint cannot be loaded
        """
        from disdepth_core.checkpoint import load_checkpoint
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f'checkpoint {path} does not exist')
        try:
            model, spec, _ = load_checkpoint(path)
        except ModelLoadError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(f'{path}: cannot load the checkpoint: {exc}') from None
        return cls(model, spec, device=device, model_path=str(path), **options)

    def forward(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Run the network on a prepared input.

        :param x: N x 3 x H x W float32 in [0, 1]
        :return: ``depth`` and, when the model has one, ``confidence`` (float32 numpy)
        """
        image = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            if self._dtype is None:
                out = self._net(image)
            else:
                with torch.autocast(self.device.type, dtype=self._dtype):
                    out = self._net(image)
            depth, confidence = split_outputs(out)
            result = {'depth': depth.float().cpu().numpy()}
            if confidence is not None:
                result['confidence'] = confidence.float().cpu().numpy()
        return result

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """
        Predict metric depth for one RGB image (see ``DepthEstimator.predict``).

        :param rgb: H x W x 3 uint8 RGB
        :param intrinsics: intrinsics of ``rgb``
        :return: depth (metres, NaN invalid) and confidence at H x W
        """
        return predict_with(self.forward, rgb, intrinsics, self._prep, self.spec, self.net_hw)
