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
take longer while it compiles).  ``device='auto'`` picks CUDA when ``torch.cuda`` has a device
that initialises, otherwise the CPU, and says why in ``info.notes``; an explicit ``'cuda'``
without a GPU raises :class:`~disdepth_core.inference.base.EngineUnavailableError`.

Options for a GPU (all of them also run on the CPU, which is how they are tested):

* ``precision='fp16'`` or ``'bf16'``: ``low_precision='autocast'`` (default) runs the network
  under autocast; ``'weights'`` converts the weights and the input to that dtype.  Either way
  the bins head computes the bin centres, the softmax and the expected-depth sum in float32
  (:mod:`disdepth_core.models.bins`), and outputs are returned as float32.
* ``channels_last=True``: weights and input in NHWC memory format (faster convolutions on
  tensor cores).
* ``cuda_graphs=True``: the network call is captured in a CUDA graph per input shape (batch
  size) after a warm-up on a side stream, and replayed with static input and output buffers.
  On a CPU it is a no-op, and ``info.notes`` says so; a capture that fails turns it off with
  the reason in ``info.notes``.  Not combinable with ``compile`` (use
  ``compile_mode='reduce-overhead'`` for graphs inside ``torch.compile``).
* ``device_processing=True``: pre- and post-processing on the model's device: the uint8
  H x W x 3 images are uploaded (through page-locked memory on CUDA), resized there with
  OpenCV's rules as :mod:`disdepth_core.transforms` applies them (:func:`resize_rule`,
  :func:`resize_matrix`: area averaging when shrinking, bilinear with half-pixel centres when
  growing), rounded to grey levels and scaled; the depth is resized back, scaled for each
  camera, clipped and masked there, and only the final maps are copied back.  The network input
  is within one grey level of the CPU path's (OpenCV quantises its bilinear weights and rounds
  some halves differently), the post-processing equal to float rounding; this path needs no
  OpenCV.

``predict_batch`` runs several images of one size in one network call.

On a CPU shared with other busy processes (other ROS nodes, other users), run with
``OMP_WAIT_POLICY=PASSIVE`` in the environment (it must be set before torch loads): with the
default busy-waiting OpenMP workers, a 2-core machine with one core taken by another process ran
the mobilenetv2 student at 256x320 in 3.0 s instead of 0.16 s (docs/benchmarks.md).

This module imports torch; the inference package only imports it when a torch estimator is built.
"""

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, cast, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from disdepth_core.geometry import CameraIntrinsics
from disdepth_core.inference.base import DepthResult
from disdepth_core.inference.base import EngineInfo
from disdepth_core.inference.base import EngineUnavailableError
from disdepth_core.inference.base import ModelLoadError
from disdepth_core.inference.postprocess import OUTPUT_SCALING
from disdepth_core.inference.postprocess import predict_batch_with
from disdepth_core.inference.postprocess import predict_with
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import Preprocessing

LOG = logging.getLogger('disdepth')

PRECISIONS: Dict[str, Optional[torch.dtype]] = {'fp32': None, 'fp16': torch.float16,
                                                'bf16': torch.bfloat16}
# How a reduced precision is applied: autocast, or weights (and input) converted to it.
LOW_PRECISION_MODES = ('autocast', 'weights')
# Warm-up calls on a side stream before a CUDA graph is captured.
GRAPH_WARMUP = 3

Maps = Tuple[torch.Tensor, Optional[torch.Tensor]]


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


# --------------------------------------------------------------------------- devices

def probe_cuda(index: int = 0) -> None:
    """
    Initialise CUDA device ``index`` with one small allocation.

    :raises RuntimeError: when the device does not work (driver, memory, ...)
    """
    torch.zeros(1, device=torch.device('cuda', index))


def choose_device(device: str) -> Tuple[torch.device, str]:
    """
    Return the torch device for ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``, with a note.

    ``'auto'`` falls back to the CPU when CUDA is missing or does not initialise; the note says
    why (empty when nothing was skipped).

    :raises EngineUnavailableError: CUDA requested but not available
    :raises ValueError: an unknown device string
    """
    text = (device or 'auto').strip().lower()
    if text == 'auto':
        if not torch.cuda.is_available():
            build = (f'a CUDA {torch.version.cuda} build' if torch.version.cuda
                     else 'a CPU-only build')
            return torch.device('cpu'), (f'device auto: no usable CUDA device for torch '
                                         f'{torch.__version__} ({build}): running on the CPU')
        try:
            probe_cuda(0)
        except RuntimeError as exc:
            return torch.device('cpu'), (f'device auto: CUDA did not initialise '
                                         f'({str(exc).strip()[:200]}): running on the CPU')
        return torch.device('cuda', 0), ''
    if text == 'gpu':
        text = 'cuda'
    if text == 'cpu':
        return torch.device('cpu'), ''
    if text == 'cuda' or (text.startswith('cuda:') and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise EngineUnavailableError(f'device {device!r}: torch has no CUDA device here '
                                         f'(torch {torch.__version__}); use device auto or cpu')
        index = int(text[5:]) if ':' in text else 0
        if index >= torch.cuda.device_count():
            raise EngineUnavailableError(f'device {device!r}: only {torch.cuda.device_count()} '
                                         'CUDA device(s) present')
        return torch.device('cuda', index), ''
    raise ValueError(f'unknown device {device!r} for torch; use auto, cpu, cuda or cuda:N')


def resolve_device(device: str) -> torch.device:
    """
    Return the torch device for ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    :raises EngineUnavailableError: CUDA requested but not available
    :raises ValueError: an unknown device string
    """
    return choose_device(device)[0]


# --------------------------------------------------------------------------- device processing

# OpenCV's rule for one axis: 'area' (box average, INTER_AREA when no side grows), 'linear'
# (INTER_LINEAR, half-pixel centres) or 'area_grow' (INTER_AREA's two-tap rule when one side
# shrinks and the other grows).
RESIZE_RULES = ('area', 'linear', 'area_grow')


def resize_rule(src_hw: Tuple[int, int], dst_hw: Tuple[int, int]) -> str:
    """
    Name the rule that :func:`disdepth_core.transforms.resize_image` applies to both axes.

    :param src_hw: image (height, width)
    :param dst_hw: target (height, width)
    :return: a key of :data:`RESIZE_RULES`
    """
    shrink = dst_hw[0] < src_hw[0] or dst_hw[1] < src_hw[1]
    grow = dst_hw[0] > src_hw[0] or dst_hw[1] > src_hw[1]
    if not shrink:
        return 'linear'
    return 'area_grow' if grow else 'area'


def resize_matrix(src: int, dst: int, rule: str = 'linear') -> np.ndarray:
    """
    Build the dst x src matrix that resizes one axis as OpenCV does; rows sum to 1.

    * ``'area'``: each output pixel averages the input over its footprint ``[d * s, (d + 1) *
      s)`` (``s = src / dst``), partly covered pixels weighted by their coverage.
    * ``'linear'``: two taps around the source position ``(d + 0.5) * s - 0.5``.
    * ``'area_grow'``: two taps at ``floor(d * s)`` and the next pixel, the second weighted by
      the fractional part of ``(d + 1) - (floor(d * s) + 1) / s`` (0 when not positive).

    Source positions outside the image are clamped to its border pixels.

    :param src: input length
    :param dst: output length
    :param rule: a key of :data:`RESIZE_RULES`
    :return: float64 weights
    :raises ValueError: for an empty axis or an unknown rule
    """
    if src < 1 or dst < 1:
        raise ValueError(f'cannot resize an axis of {src} pixels to {dst}')
    if rule not in RESIZE_RULES:
        raise ValueError(f'resize rule must be one of {RESIZE_RULES}, got {rule!r}')
    scale = src / dst
    out = np.arange(dst)
    if rule == 'area':
        lo = out * scale
        hi = np.minimum(lo + scale, src)
        pixels = np.arange(src)
        cover = (np.minimum(pixels[None, :] + 1, hi[:, None])
                 - np.maximum(pixels[None, :], lo[:, None]))
        return np.clip(cover, 0.0, None) / (hi - lo)[:, None]
    if rule == 'linear':
        pos = (out + 0.5) * scale - 0.5
        x0 = np.floor(pos).astype(np.int64)
        frac = pos - x0
    else:
        x0 = np.floor(out * scale).astype(np.int64)
        frac = (out + 1) - (x0 + 1) / scale
        frac = np.where(frac <= 0, 0.0, frac - np.floor(frac))
    frac[x0 < 0] = 0.0
    x0 = np.clip(x0, 0, src - 1)
    frac[x0 >= src - 1] = 0.0
    weights = np.zeros((dst, src), np.float64)
    np.add.at(weights, (out, x0), 1.0 - frac)
    np.add.at(weights, (out, np.minimum(x0 + 1, src - 1)), frac)
    return weights


class DeviceStages:
    """
    Pre- and post-processing of a batch on a torch device (``device_processing=True``).

    Its :meth:`prepare` and :meth:`finish` take the places of the CPU stages of
    :func:`~disdepth_core.inference.postprocess.predict_batch_with`.

    :param device: where to run
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._matrices: Dict[Tuple[int, int, str], torch.Tensor] = {}
        self._pinned = device.type == 'cuda'

    def _matrix(self, src: int, dst: int, rule: str) -> torch.Tensor:
        key = (src, dst, rule)
        if key not in self._matrices:
            self._matrices[key] = torch.from_numpy(resize_matrix(src, dst, rule)).to(
                self.device, torch.float32)
        return self._matrices[key]

    def _host(self, shape: Tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Allocate a host tensor, page-locked on CUDA (fast asynchronous copies) if possible."""
        if self._pinned:
            try:
                return torch.empty(shape, dtype=dtype, pin_memory=True)
            except RuntimeError:  # no page-locked memory here: ordinary memory
                self._pinned = False
        return torch.empty(shape, dtype=dtype)

    def upload(self, rgbs: Sequence[np.ndarray]) -> torch.Tensor:
        """Copy N H x W x 3 uint8 images to the device as one N x H x W x 3 tensor."""
        h, w = rgbs[0].shape[:2]
        if self.device.type == 'cpu':
            return torch.from_numpy(np.stack(rgbs))
        host = self._host((len(rgbs), h, w, 3), torch.uint8)
        view = host.numpy()
        for i, rgb in enumerate(rgbs):
            view[i] = rgb
        return host.to(self.device, non_blocking=True)

    def prepare(self, rgbs: Sequence[np.ndarray], prep: Preprocessing) -> torch.Tensor:
        """
        Compute the network input of a batch on the device.

        :param rgbs: checked H x W x 3 uint8 RGB images of one size
        :param prep: the model's preprocessing
        :return: N x 3 x H_net x W_net float32 in [0, 1] on the device
        """
        images = self.upload(rgbs).permute(0, 3, 1, 2).float()
        h, w = images.shape[-2:]
        if (h, w) != prep.hw:
            rule = resize_rule((h, w), prep.hw)
            rows = self._matrix(h, prep.height, rule)
            cols = self._matrix(w, prep.width, rule)
            images = torch.matmul(torch.matmul(rows, images), cols.t())
            # back to grey levels like OpenCV's uint8 output: its 2x area path rounds halves
            # up, its other paths to even
            if rule == 'area' and (h, w) == (2 * prep.height, 2 * prep.width):
                images = images.add_(0.5 + 1e-4).floor_()
            else:
                images = images.round_()
            images = images.clamp_(0.0, 255.0)
        return (images * (1.0 / 255.0)).contiguous()

    def finish(self, out: Dict[str, Any], spec: ModelSpec,
               intrinsics: Sequence[CameraIntrinsics], net_hw: Tuple[int, int],
               image_hw: Tuple[int, int]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """
        Metric depth and confidence of a batch on the device, copied back once.

        The same steps as :func:`~disdepth_core.inference.postprocess.finish_batch`: bilinear
        resize to the image, the camera's metric scale, clipping to the model's range for
        metric kinds, NaN where not finite; confidence resized, in [0, 1], 0 where depth is
        NaN (1 everywhere for a model without confidence).

        :param out: ``depth`` (N x 1 x h x w tensor) and optional ``confidence``
        :return: (depth maps, confidence maps), H x W float32 numpy each
        """
        n = len(intrinsics)
        depth = out['depth']
        if depth.dim() != 4 or depth.shape[1] != 1 or depth.shape[0] != n:
            raise ValueError(f'model output depth has shape {tuple(depth.shape)}, expected '
                             f'{n} x 1 x h x w')
        scale_of, clip = OUTPUT_SCALING[spec.output_kind]
        scales = torch.tensor([scale_of(spec, k, net_hw) for k in intrinsics],
                              dtype=torch.float32, device=depth.device).view(n, 1, 1, 1)
        depth = self._resize(depth.float(), image_hw) * scales
        finite = torch.isfinite(depth)
        if clip:
            depth = depth.clamp(float(np.float32(spec.min_depth)),
                                float(np.float32(spec.max_depth)))
        depth = torch.where(finite, depth, torch.full_like(depth, float('nan')))
        conf = out.get('confidence')
        if conf is None:
            conf = torch.ones_like(depth)
        else:
            conf = torch.nan_to_num(self._resize(conf.float(), image_hw), nan=0.0, posinf=1.0,
                                    neginf=0.0).clamp(0.0, 1.0)
        conf = torch.where(torch.isnan(depth), torch.zeros_like(conf), conf)
        maps = torch.cat([depth, conf], dim=1)  # N x 2 x H x W
        if self.device.type == 'cpu':
            host = maps.contiguous()
        else:
            host = self._host(tuple(maps.shape), torch.float32)
            host.copy_(maps, non_blocking=True)
            torch.cuda.current_stream(self.device).synchronize()
        arr = host.numpy()
        return [arr[i, 0] for i in range(n)], [arr[i, 1] for i in range(n)]

    @staticmethod
    def _resize(maps: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        if tuple(maps.shape[-2:]) == tuple(hw):
            return maps
        return F.interpolate(maps, size=tuple(hw), mode='bilinear', align_corners=False)


# --------------------------------------------------------------------------- CUDA graphs

class GraphCaptureError(RuntimeError):
    """A CUDA graph could not be captured (the message says why)."""


def cuda_graphs_unsupported(device: torch.device) -> str:
    """Why CUDA graphs cannot run on ``device`` ('' when they can)."""
    if device.type != 'cuda':
        return f'CUDA graphs need a CUDA device (running on {device})'
    return ''


def capture_cuda_graph(fn: Callable[[torch.Tensor], Maps], static_in: torch.Tensor,
                       device: torch.device, warmup: int = GRAPH_WARMUP
                       ) -> Tuple[Any, Maps]:
    """
    Warm ``fn`` up on a side stream, then capture one call of it in a CUDA graph.

    :param fn: the network call (no host synchronisation inside)
    :param static_in: the input buffer the graph reads
    :param device: its CUDA device
    :param warmup: calls before the capture (cuDNN autotuning, lazy initialisation)
    :return: (``torch.cuda.CUDAGraph``, the output buffers the graph writes)
    """
    side = torch.cuda.Stream(device=device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn(static_in)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = fn(static_in)
    return graph, outputs


class CudaGraphRunner:
    """
    Replays a captured network call per input shape, with static input and output buffers.

    The outputs it returns are the graph's buffers: read them before the next call.

    :param fn: the network call
    :param device: the CUDA device
    :param warmup: warm-up calls before each capture
    :param capture: the capture function (default :func:`capture_cuda_graph`)
    """

    def __init__(self, fn: Callable[[torch.Tensor], Maps], device: torch.device,
                 warmup: int = GRAPH_WARMUP,
                 capture: Optional[Callable[..., Tuple[Any, Maps]]] = None) -> None:
        self._fn = fn
        self._device = device
        self._warmup = int(warmup)
        self._capture = capture or capture_cuda_graph
        self._graphs: Dict[Tuple[Any, ...], Tuple[torch.Tensor, Any, Maps]] = {}

    @property
    def shapes(self) -> List[Tuple[int, ...]]:
        """Input shapes captured so far."""
        return [key[0] for key in self._graphs]

    def __call__(self, x: torch.Tensor) -> Maps:
        """
        Run the graph for ``x``'s shape (captured on first use).

        :raises GraphCaptureError: when the capture fails
        """
        key = (tuple(x.shape), x.dtype, tuple(x.stride()))
        entry = self._graphs.get(key)
        if entry is None:
            static_in = x.clone()
            try:
                graph, outputs = self._capture(self._fn, static_in, self._device, self._warmup)
            except RuntimeError as exc:
                raise GraphCaptureError(f'CUDA graph capture failed for input '
                                        f'{tuple(x.shape)}: {str(exc).strip()[:200]}') from exc
            entry = (static_in, graph, outputs)
            self._graphs[key] = entry
        static_in, graph, outputs = entry
        static_in.copy_(x)
        graph.replay()
        return outputs


# --------------------------------------------------------------------------- the estimator

class TorchEstimator:
    """
    A DisDepth torch model as a ``DepthEstimator``.

    :param model: the network (``image -> DepthOutput``); moved, converted and frozen in place
    :param spec: its ModelSpec
    :param device: 'auto', 'cpu', 'cuda' or 'cuda:N'
    :param precision: 'fp32', 'fp16' or 'bf16'
    :param compile: wrap the model in ``torch.compile``
    :param compile_mode: ``torch.compile`` mode (None: its default)
    :param input_size: network (height, width), multiples of 32 (default: the training size)
    :param threads: ``torch.set_num_threads`` (process-wide; None leaves it)
    :param model_path: shown in :attr:`info`
    :param low_precision: for fp16 / bf16: ``'autocast'`` or ``'weights'`` (converted weights)
    :param channels_last: NHWC memory format for weights and input
    :param cuda_graphs: capture and replay the network call per input shape (CUDA only; a
        no-op reported in ``info.notes`` elsewhere)
    :param device_processing: pre- and post-processing on the model's device
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, device: str = 'auto',
                 precision: str = 'fp32', compile: bool = False,  # noqa: A002
                 compile_mode: Optional[str] = None,
                 input_size: Optional[Sequence[int]] = None, threads: Optional[int] = None,
                 model_path: str = '<in memory>', low_precision: str = 'autocast',
                 channels_last: bool = False, cuda_graphs: bool = False,
                 device_processing: bool = False) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got '
                             f'{precision!r}')
        if low_precision not in LOW_PRECISION_MODES:
            raise ValueError(f'low_precision must be one of {", ".join(LOW_PRECISION_MODES)}, '
                             f'got {low_precision!r}')
        if cuda_graphs and compile:
            raise ValueError('cuda_graphs and compile do not combine: use cuda_graphs alone, or '
                             "compile with compile_mode='reduce-overhead' (CUDA graphs inside "
                             'torch.compile)')
        self.device, device_note = choose_device(device)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.spec = spec
        hw = (spec.input_height, spec.input_width) if input_size is None else input_size
        self.net_hw: Tuple[int, int] = (int(hw[0]), int(hw[1]))
        # ModelSpec declares mean and std as three floats; tuple() only loses the length
        self._prep = Preprocessing(self.net_hw[0], self.net_hw[1],
                                   cast(Tuple[float, float, float], tuple(spec.mean)),
                                   cast(Tuple[float, float, float], tuple(spec.std)),
                                   spec.input_multiple)
        dtype = PRECISIONS[precision]
        # autocast dtype (None: none) and the dtype of weights and input
        self._autocast = dtype if low_precision == 'autocast' else None
        self._input_dtype = dtype if dtype is not None and low_precision == 'weights' \
            else torch.float32
        self.channels_last = bool(channels_last)
        self.model = model.eval().to(self.device)
        for param in self.model.parameters():
            param.requires_grad_(False)
        if self._input_dtype != torch.float32:
            self.model.to(self._input_dtype)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._net = torch.compile(self.model, mode=compile_mode) if compile else self.model
        self._stages = DeviceStages(self.device) if device_processing else None
        notes = ['torch.compile' if compile else 'eager']
        if dtype is not None:
            notes.append(f'{precision} {low_precision}')
        if self.channels_last:
            notes.append('channels_last')
        self._graphs: Optional[CudaGraphRunner] = None
        if cuda_graphs:
            why = cuda_graphs_unsupported(self.device)
            if why:
                notes.append(f'cuda_graphs off: {why}')
            else:
                self._graphs = CudaGraphRunner(self._eager, self.device)
                notes.append('cuda graphs (captured per batch size)')
        if device_processing:
            notes.append(f'pre/post-processing on {self.device}')
        if device_note:
            notes.append(device_note)
        where = str(self.device)
        if self.device.type == 'cuda':
            where += f' ({torch.cuda.get_device_name(self.device)})'
        self.info = EngineInfo(engine='torch', provider=where, model_path=str(model_path),
                               precision=precision, notes='; '.join(notes))
        LOG.info('torch runs %s on %s (%s, %dx%d input)', Path(model_path).name, where,
                 self.info.notes, self.net_hw[0], self.net_hw[1])

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

    # -- the network call

    def _eager(self, image: torch.Tensor) -> Maps:
        """Run the network eagerly on a prepared device tensor: float32 depth, confidence."""
        amp = (torch.autocast(self.device.type, dtype=self._autocast, cache_enabled=False)
               if self._autocast is not None else contextlib.nullcontext())
        with amp:
            depth, confidence = split_outputs(self._net(image))
        return depth.float(), (None if confidence is None else confidence.float())

    def _run(self, image: torch.Tensor) -> Maps:
        """
        Run the network on a float32 N x 3 x H x W device tensor, inside inference mode.

        With CUDA graphs the returned tensors are the graph's buffers (valid until the next
        call).
        """
        image = image.to(self._input_dtype)
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        if self._graphs is not None:
            try:
                return self._graphs(image)
            except GraphCaptureError as exc:
                self._graphs = None
                self.info = dataclasses.replace(
                    self.info, notes=self.info.notes.replace(
                        'cuda graphs (captured per batch size)', f'cuda_graphs off: {exc}'))
                LOG.warning('torch: %s; running eagerly', exc)
        return self._eager(image)

    def forward(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Run the network on a prepared input.

        :param x: N x 3 x H x W float32 in [0, 1]
        :return: ``depth`` and, when the model has one, ``confidence`` (float32 numpy)
        """
        image = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            depth, confidence = self._run(image)
            result = {'depth': depth.cpu().numpy()}
            if confidence is not None:
                result['confidence'] = confidence.cpu().numpy()
        return result

    def _forward_on_device(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run the network for the device path: the tensors stay on the device."""
        depth, confidence = self._run(image)
        out = {'depth': depth}
        if confidence is not None:
            out['confidence'] = confidence
        if self.device.type == 'cuda':  # the stage timings then measure the work itself
            torch.cuda.current_stream(self.device).synchronize()
        return out

    # -- DepthEstimator

    def predict(self, rgb: np.ndarray, intrinsics: CameraIntrinsics) -> DepthResult:
        """
        Predict metric depth for one RGB image (see ``DepthEstimator.predict``).

        :param rgb: H x W x 3 uint8 RGB
        :param intrinsics: intrinsics of ``rgb``
        :return: depth (metres, NaN invalid) and confidence at H x W
        """
        if self._stages is not None:
            return self.predict_batch([rgb], [intrinsics])[0]
        return predict_with(self.forward, rgb, intrinsics, self._prep, self.spec, self.net_hw)

    def predict_batch(self, rgbs: Sequence[np.ndarray],
                      intrinsics: Sequence[CameraIntrinsics]) -> List[DepthResult]:
        """
        Predict several images of one size in one network call (see ``DepthEstimator``).

        :param rgbs: H x W x 3 uint8 RGB images, all of one size
        :param intrinsics: one CameraIntrinsics per image
        :return: one DepthResult per image
        """
        if self._stages is None:
            return predict_batch_with(self.forward, rgbs, intrinsics, self._prep, self.spec,
                                      self.net_hw)
        with torch.inference_mode():
            return predict_batch_with(self._forward_on_device, rgbs, intrinsics, self._prep,
                                      self.spec, self.net_hw, prepare=self._stages.prepare,
                                      finish=self._stages.finish)
