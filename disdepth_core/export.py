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
``disdepth export``: a DisDepth torch model to a self-describing ONNX file.

The graph has one input ``image`` (float32 N x 3 x H x W, RGB in [0, 1]; ImageNet mean/std is
folded into the graph; N is fixed to 1 unless ``--dynamic-batch`` or ``--dynamic`` make it a
symbolic ``batch`` axis, which ``predict_batch`` needs) and the outputs ``depth`` (N x 1 x h x w,
canonical-camera metres) and ``confidence`` (N x 1 x h x w, 0..1).  The
:class:`~disdepth_core.modelspec.ModelSpec` JSON is stored in the metadata key ``disdepth.spec``
(plus readable keys: backbone, resolution, canonical focal length, depth range, preprocessing), so
an ONNX file is all the node needs.

The legacy TorchScript-based exporter is used (``dynamo=False``): the dynamo exporter needs
``onnxscript``.  Every export passes ``onnx.checker`` and, unless disabled, a parity check that
runs the file with ONNX Runtime (through the ``onnxruntime`` engine's own loader) against torch.
The file is written atomically (temporary file + rename).
"""

import dataclasses
from pathlib import Path
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
import warnings

import numpy as np
import torch
from torch import nn

from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.onnx_engine import PRECISION_METADATA_KEY
from disdepth_core.inference.quantize import CHANNEL_SUM_TAG
from disdepth_core.inference.quantize import SOFTMAX_TAG
from disdepth_core.inference.torch_engine import split_outputs
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_core.transforms import Preprocessing

DEFAULT_OPSET = 17
# Parity bound: |onnx - torch| <= PARITY_ATOL + PARITY_RTOL * max|torch| per output.
PARITY_ATOL = 1e-4
PARITY_RTOL = 1e-4


class ExportError(RuntimeError):
    """The export failed (the message says where: tracing, checker or parity)."""


class OnnxExportWrapper(nn.Module):
    """
    Expose a DisDepth model as ``image -> (depth, confidence)`` for tracing.

    :param model: a module returning ``DepthOutput`` (or a dict / tuple / tensor, see
        :func:`~disdepth_core.inference.torch_engine.split_outputs`)
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return ``(depth,)`` or ``(depth, confidence)``."""
        depth, confidence = split_outputs(self.model(image))
        return (depth,) if confidence is None else (depth, confidence)


def readable_metadata(spec: ModelSpec, export_hw: Tuple[int, int],
                      precision: str = 'fp32', dynamic_batch: bool = False) -> Dict[str, str]:
    """
    Metadata entries stored next to the spec JSON, for people and tools like Netron.

    :param spec: the model spec
    :param export_hw: graph input (height, width), or the training size for dynamic graphs
    :param precision: 'fp32' or 'int8'
    :param dynamic_batch: whether the batch axis is symbolic
    :return: key -> string value
    """
    return {
        ONNX_METADATA_KEY: spec.to_json(),
        'disdepth.name': spec.name,
        'disdepth.architecture': spec.architecture,
        'disdepth.backbone': spec.backbone,
        'disdepth.resolution': f'{spec.input_height}x{spec.input_width} (training, HxW)',
        'disdepth.export_resolution': ('dynamic (multiples of 32)' if spec.dynamic
                                       else f'{export_hw[0]}x{export_hw[1]}'),
        'disdepth.canonical_focal': f'{spec.canonical_focal:g} px (network-input pixels)',
        'disdepth.depth_range': f'{spec.min_depth:g}..{spec.max_depth:g} m',
        'disdepth.preprocessing': (
            f'input "image": {spec.input_format}; ImageNet normalisation mean={list(spec.mean)} '
            f'std={list(spec.std)} is inside the graph; metric depth = depth * '
            'f_net / canonical_focal (disdepth_core.geometry.metric_scale)'),
        'disdepth.outputs': ', '.join(spec.outputs),
        'disdepth.batch': 'dynamic' if dynamic_batch or spec.dynamic else '1',
        PRECISION_METADATA_KEY: precision,
    }


def set_metadata(model_proto: Any, entries: Dict[str, str]) -> None:
    """Replace (or add) ``metadata_props`` entries of an ONNX ModelProto."""
    keep = [p for p in model_proto.metadata_props if p.key not in entries]
    del model_proto.metadata_props[:]
    for prop in keep:
        model_proto.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in entries.items():
        model_proto.metadata_props.add(key=key, value=value)


def _opset(proto: Any) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ('', 'ai.onnx'))


def _shapes(proto: Any) -> Dict[str, List[Optional[int]]]:
    import onnx
    inferred = onnx.shape_inference.infer_shapes(proto)
    infos = (list(inferred.graph.value_info) + list(inferred.graph.input)
             + list(inferred.graph.output))
    return {vi.name: [d.dim_value if d.HasField('dim_value') else None
                      for d in vi.type.tensor_type.shape.dim]
            for vi in infos if vi.type.tensor_type.HasField('shape')}


def _int_constants(proto: Any) -> Dict[str, List[int]]:
    from onnx import numpy_helper
    values = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == 'Constant' and node.attribute and node.attribute[0].name == 'value':
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return {k: [int(x) for x in np.atleast_1d(v)] for k, v in values.items()
            if v.dtype.kind == 'i' and v.size <= 8}


def optimize_for_onnxruntime(proto: Any) -> Dict[str, int]:
    """
    Rewrite two patterns that ONNX Runtime's CPU kernels run slowly, in place.

    * ``Softmax`` over a non-last axis (the bin axis of N x bins x h x w probabilities): ONNX
      Runtime transposes internally, which dominated the student's run time at 480x640.  It is
      replaced by its definition ``exp(x - max(x)) / sum(exp(x - max(x)))`` along that axis.
    * ``ReduceSum`` over the channel axis of a 4-D tensor with a known channel count (expected
      depth and entropy over the bins): replaced by a 1x1 convolution with all-one weights, which
      runs as a GEMM.

    Both are exact up to float rounding; the export's parity check verifies the result.  The new
    nodes carry :data:`SOFTMAX_TAG` / :data:`CHANNEL_SUM_TAG` in their names so that INT8
    quantisation keeps them in float.

    :param proto: ONNX ModelProto
    :return: counts of rewritten ``Softmax`` and ``ReduceSum`` nodes
    """
    from onnx import helper
    from onnx import numpy_helper

    opset = _opset(proto)
    shapes = _shapes(proto)
    consts = _int_constants(proto)
    nodes: List[Any] = []
    counts = {'softmax': 0, 'reduce_sum': 0}
    for i, node in enumerate(proto.graph.node):
        shape = shapes.get(node.input[0]) if node.input else None
        base = f'{node.name or "node" + str(i)}'
        if node.op_type == 'Softmax' and shape:
            default = -1 if opset >= 13 else 1
            axis = next((a.i for a in node.attribute if a.name == 'axis'), default) % len(shape)
            if axis != len(shape) - 1:
                x, y, tag = node.input[0], node.output[0], f'{base}{SOFTMAX_TAG}'
                axes = f'{tag}/axes'
                proto.graph.initializer.append(
                    numpy_helper.from_array(np.array([axis], np.int64), axes))
                if opset >= 18:
                    nodes.append(helper.make_node('ReduceMax', [x, axes], [f'{tag}/max'],
                                                  keepdims=1, name=f'{tag}/max'))
                else:
                    nodes.append(helper.make_node('ReduceMax', [x], [f'{tag}/max'], axes=[axis],
                                                  keepdims=1, name=f'{tag}/max'))
                nodes += [
                    helper.make_node('Sub', [x, f'{tag}/max'], [f'{tag}/shift'],
                                     name=f'{tag}/sub'),
                    helper.make_node('Exp', [f'{tag}/shift'], [f'{tag}/exp'], name=f'{tag}/exp'),
                    helper.make_node('ReduceSum', [f'{tag}/exp', axes], [f'{tag}/sum'],
                                     keepdims=1, name=f'{tag}/sum'),
                    helper.make_node('Div', [f'{tag}/exp', f'{tag}/sum'], [y], name=f'{tag}/div'),
                ]
                shapes[f'{tag}/exp'] = shape
                consts[axes] = [axis]
                counts['softmax'] += 1
                continue
        nodes.append(node)
    rewritten: List[Any] = []
    for i, node in enumerate(nodes):
        shape = shapes.get(node.input[0]) if node.input else None
        keep = next((a.i for a in node.attribute if a.name == 'keepdims'), 1)
        sum_axes = consts.get(node.input[1]) if len(node.input) > 1 else None
        if (node.op_type == 'ReduceSum' and opset >= 13 and keep == 1 and sum_axes == [1]
                and shape and len(shape) == 4 and shape[1]):
            name = f'{node.name or "sum" + str(i)}{CHANNEL_SUM_TAG}'
            proto.graph.initializer.append(numpy_helper.from_array(
                np.ones((1, shape[1], 1, 1), np.float32), f'{name}/ones'))
            rewritten.append(helper.make_node('Conv', [node.input[0], f'{name}/ones'],
                                              [node.output[0]], kernel_shape=[1, 1], name=name))
            counts['reduce_sum'] += 1
            continue
        rewritten.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(rewritten)
    used = {name for node in rewritten for name in node.input}
    unused = [init for init in proto.graph.initializer if init.name not in used]
    for init in unused:
        proto.graph.initializer.remove(init)
    return counts


def _random_image(height: int, width: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=gen)


def parity(model: nn.Module, onnx_path: Union[str, Path],
           sizes: Sequence[Tuple[int, int]], batch: int = 1) -> Dict[str, float]:
    """
    Largest |ONNX Runtime - torch| per output over random images of the given sizes.

    The file is opened with the ``onnxruntime`` engine on the CPU, so this also proves that the
    engine accepts it.

    :param model: the torch model (eval mode)
    :param onnx_path: the exported file
    :param sizes: (height, width) inputs to compare
    :param batch: images per input (more than 1 needs a dynamic batch axis)
    :return: ``{'depth': err, 'confidence': err, 'depth_scale': max|torch depth|}``
    """
    from disdepth_core.inference.onnx_engine import _ort
    from disdepth_core.inference.onnx_engine import _ort_errors
    from disdepth_core.inference.onnx_engine import OnnxEstimator
    wrapper = OnnxExportWrapper(model).eval()
    errors: Dict[str, float] = {}
    for i, (h, w) in enumerate(sizes):
        engine = OnnxEstimator(onnx_path, device='cpu', input_size=(h, w))
        image = _random_image(h, w, seed=i, batch=batch)
        with torch.no_grad():
            ref = [t.float().numpy() for t in wrapper(image)]
        try:
            got = engine.forward(image.numpy())
        except _ort_errors(_ort()) as exc:
            hint = (' (not the traced size: some size handling in the model is not traceable, '
                    'export without --dynamic)' if i else '')
            if batch > 1:
                hint += (f' (batch {batch}, not the traced batch of 1: some batch handling in '
                         'the model is not traceable, export without --dynamic-batch)')
            raise ExportError(f'ONNX Runtime cannot run the exported graph at {h}x{w}{hint}: '
                              f'{str(exc).strip()[:300]}') from None
        for name, expected in zip(('depth', 'confidence'), ref):
            err = float(np.max(np.abs(got[name].astype(np.float64) - expected)))
            errors[name] = max(errors.get(name, 0.0), err)
            if name == 'depth':
                scale = float(np.max(np.abs(expected)))
                errors['depth_scale'] = max(errors.get('depth_scale', 0.0), scale)
    return errors


def export_onnx(model: nn.Module, spec: ModelSpec, path: Union[str, Path],
                height: Optional[int] = None, width: Optional[int] = None,
                opset: int = DEFAULT_OPSET, dynamic: bool = False, check: bool = True,
                optimize: bool = True, dynamic_batch: bool = False) -> Dict[str, Any]:
    """
    Export a DisDepth model to ONNX with its spec in the metadata.

    :param model: the torch model (put in eval mode here)
    :param spec: its ModelSpec (``dynamic`` and ``outputs`` are set from the export)
    :param path: output ``.onnx`` file (written atomically)
    :param height: graph input height (default: the spec's training height)
    :param width: graph input width (default: the spec's training width)
    :param opset: ONNX opset
    :param dynamic: make batch, height and width dynamic
    :param check: run the ONNX Runtime vs torch parity check
    :param optimize: apply :func:`optimize_for_onnxruntime`
    :param dynamic_batch: make the batch axis dynamic (height and width stay fixed), for
        ``predict_batch``; implied by ``dynamic``
    :return: report dict: ``path``, ``input_hw``, ``dynamic``, ``dynamic_batch``, ``opset``,
        ``outputs``,
        ``rewrites``,
        ``size_bytes``, ``export_s``, ``checker``, ``max_abs_err`` (per output),
        ``tolerance`` and ``parity`` ('passed' or 'skipped')
    :raises ExportError: tracing, checker or parity failure
    :raises ValueError: sizes that are not multiples of 32
    """
    import onnx

    path = Path(path)
    h = int(height or spec.input_height)
    w = int(width or spec.input_width)
    Preprocessing(h, w)  # validates: multiples of 32
    if not path.parent.is_dir():
        raise ValueError(f'output directory {path.parent} does not exist')
    model = model.eval()
    wrapper = OnnxExportWrapper(model).eval()
    dummy = _random_image(h, w)
    with torch.no_grad():
        outputs = wrapper(dummy)
    names = ['depth', 'confidence'][:len(outputs)]
    spec_out = dataclasses.replace(spec, dynamic=bool(dynamic), outputs=tuple(names))
    axes: Optional[Dict[str, Dict[int, str]]] = None
    batch_axis = bool(dynamic or dynamic_batch)
    if dynamic:
        axes = {n: {0: 'batch', 2: 'height' if n == 'image' else 'out_height',
                    3: 'width' if n == 'image' else 'out_width'} for n in ['image'] + names}
    elif batch_axis:
        axes = {n: {0: 'batch'} for n in ['image'] + names}
    t0 = time.perf_counter()
    with atomic_path(path, suffix='.onnx') as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                torch.onnx.export(wrapper, (dummy,), str(tmp), dynamo=False,
                                  opset_version=int(opset), input_names=['image'],
                                  output_names=names, dynamic_axes=axes,
                                  do_constant_folding=True)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ExportError(f'ONNX export (tracing) failed: {exc}') from exc
        proto = onnx.load(str(tmp))
        rewrites = optimize_for_onnxruntime(proto) if optimize else {}
        set_metadata(proto, readable_metadata(spec_out, (h, w), dynamic_batch=batch_axis))
        proto.producer_name = 'disdepth'
        proto.doc_string = (f'DisDepth {spec.architecture} ({spec.backbone}): RGB image -> '
                            'canonical-camera depth + confidence')
        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f'onnx.checker rejected the exported graph: {exc}') from exc
        onnx.save(proto, str(tmp))
        export_s = time.perf_counter() - t0
        report: Dict[str, Any] = {
            'path': str(path), 'input_hw': [h, w], 'dynamic': bool(dynamic),
            'dynamic_batch': batch_axis, 'opset': int(opset), 'outputs': names,
            'export_s': round(export_s, 3),
            'checker': 'passed', 'parity': 'skipped', 'max_abs_err': {}, 'tolerance': None,
            'rewrites': rewrites}
        if check:
            sizes = [(h, w)] + ([(h + 32, w + 64)] if dynamic else [])
            errors = parity(model, tmp, sizes)
            if batch_axis:
                # a batch of 3 images: proves the batch axis really is symbolic in the graph
                for name, err in parity(model, tmp, [(h, w)], batch=3).items():
                    errors[name] = max(errors.get(name, 0.0), err)
            scale = errors.pop('depth_scale')
            tol = {'depth': PARITY_ATOL + PARITY_RTOL * scale,
                   'confidence': PARITY_ATOL + PARITY_RTOL}
            report['max_abs_err'] = errors
            report['tolerance'] = {k: tol[k] for k in errors}
            bad = {k: v for k, v in errors.items() if not v <= tol[k]}
            if bad:
                raise ExportError(f'ONNX Runtime and torch disagree: max abs error {bad} '
                                  f'exceeds the bound {report["tolerance"]}')
            report['parity'] = 'passed'
        report['size_bytes'] = tmp.stat().st_size
    return report


# --------------------------------------------------------------------------- CLI
