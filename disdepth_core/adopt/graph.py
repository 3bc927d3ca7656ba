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
Rewrite a foreign depth network's ONNX graph into the DisDepth model contract.

The result has one input ``image`` (float32 N x 3 x H x W, RGB in [0, 1]) and one output ``depth``
(float32 N x 1 x h x w).  Only what the contract needs is added around the original graph:
channel reordering (BGR networks), the normalisation ``(x - mean) / std``, a transpose for NHWC
networks, casts for float16 networks, and an ``Unsqueeze`` for N x h x w outputs.  Other outputs
are removed (ONNX Runtime then skips the work only they need).  Nothing inside the network is
touched; tensors called ``image`` or ``depth`` inside it are renamed out of the way.
"""

from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper
from onnx import TensorProto

INPUT = 'image'
OUTPUT = 'depth'
FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16)
Dim = Union[int, str, None]


class GraphError(ValueError):
    """The graph cannot be adopted; the message says why."""


@dataclass(frozen=True)
class ImageInput:
    """
    The image input of a foreign graph.

    :param name: its name
    :param layout: 'NCHW' or 'NHWC'
    :param batch: fixed batch size, or None when symbolic
    :param hw: (height, width), each an int when fixed or None when symbolic
    :param dtype: ONNX element type (float or float16)
    :param dims: the batch and spatial dimensions as written in the graph (int or symbol)
    """

    name: str
    layout: str
    batch: Optional[int]
    hw: Tuple[Optional[int], Optional[int]]
    dtype: int
    dims: Tuple[Dim, Dim, Dim]

    @property
    def static_hw(self) -> Optional[Tuple[int, int]]:
        """(height, width) when both are fixed, else None."""
        h, w = self.hw
        return (h, w) if h is not None and w is not None else None


def _dims(value_info: Any) -> List[Dim]:
    shape = value_info.type.tensor_type.shape
    out: List[Dim] = []
    for d in shape.dim:
        if d.HasField('dim_value') and d.dim_value > 0:
            out.append(int(d.dim_value))
        elif d.HasField('dim_param') and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _fixed(d: Dim) -> Optional[int]:
    return d if isinstance(d, int) else None


def describe(value_info: Any) -> str:
    """``name [d0, d1, ...] type`` of a graph input or output."""
    dims = ['?' if d is None else str(d) for d in _dims(value_info)]
    elem = TensorProto.DataType.Name(value_info.type.tensor_type.elem_type)
    return f'{value_info.name} [{", ".join(dims)}] {elem.lower()}'


def real_inputs(model: Any) -> List[Any]:
    """Graph inputs that are not initializers (old exporters list weights as inputs too)."""
    weights = {init.name for init in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in weights]


def find_image_input(model: Any) -> ImageInput:
    """
    Find the graph's one image-like input: float, rank 4, 3 channels (NCHW or NHWC).

    :raises GraphError: no such input, several inputs, or a fixed batch other than 1
    """
    inputs = real_inputs(model)
    described = ', '.join(describe(i) for i in inputs) or 'none'
    if len(inputs) != 1:
        raise GraphError(f'the graph has {len(inputs)} inputs ({described}); a depth network '
                         'to adopt takes exactly one image input')
    vi = inputs[0]
    dims = _dims(vi)
    elem = vi.type.tensor_type.elem_type
    if elem not in FLOAT_TYPES or len(dims) != 4 or 3 not in (dims[1], dims[3]):
        raise GraphError(f'the graph has no image-like input: {described} (expected a float '
                         'tensor N x 3 x H x W or N x H x W x 3)')
    layout = 'NCHW' if dims[1] == 3 else 'NHWC'
    h, w = (dims[2], dims[3]) if layout == 'NCHW' else (dims[1], dims[2])
    batch = _fixed(dims[0])
    if batch not in (None, 1):
        raise GraphError(f'input {describe(vi)} has a fixed batch of {batch}; adopt needs '
                         'batch 1 or a dynamic batch')
    return ImageInput(vi.name, layout, batch, (_fixed(h), _fixed(w)), elem, (dims[0], h, w))


def choose_output(model: Any, wanted: Optional[str], preferred: Sequence[str]) -> Any:
    """
    Choose the output that holds depth.

    ``wanted``, else the first of ``preferred`` present, else the only output.

    :raises GraphError: when ``wanted`` is missing, or several outputs and none chosen
    """
    outputs = list(model.graph.output)
    names = [o.name for o in outputs]
    described = ', '.join(describe(o) for o in outputs) or 'none'
    if wanted is not None:
        if wanted not in names:
            raise GraphError(f'the graph has no output {wanted!r}; its outputs: {described}')
        return outputs[names.index(wanted)]
    for name in preferred:
        if name in names:
            return outputs[names.index(name)]
    if len(outputs) == 1:
        return outputs[0]
    raise GraphError(f'the graph has {len(outputs)} outputs ({described}) and none was named: '
                     'pass --output NAME')


def _graphs(graph: Any) -> Iterator[Any]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _graphs(sub)


def used_names(model: Any) -> set:
    """Every tensor name of the graph and its subgraphs."""
    names = set()
    for g in _graphs(model.graph):
        for node in g.node:
            names.update(node.input)
            names.update(node.output)
        names.update(i.name for i in g.input)
        names.update(o.name for o in g.output)
        names.update(i.name for i in g.initializer)
        names.update(v.name for v in g.value_info)
    names.discard('')
    return names


def rename_tensor(model: Any, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in the graph and its subgraphs."""
    for g in _graphs(model.graph):
        for node in g.node:
            for seq in (node.input, node.output):
                for k, name in enumerate(seq):
                    if name == old:
                        seq[k] = new
        for items in (g.input, g.output, g.value_info, g.initializer):
            for item in items:
                if item.name == old:
                    item.name = new


def _fresh(taken: set, base: str) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f'{base}_{k}'
    taken.add(name)
    return name


def opset_version(model: Any) -> int:
    """Return the default-domain opset of the model."""
    for op in model.opset_import:
        if op.domain in ('', 'ai.onnx'):
            return int(op.version)
    raise GraphError('the model imports no default-domain opset')


def wrap(model: Any, image: ImageInput, output: Any, mean: Sequence[float],
         std: Sequence[float], bgr: bool) -> Any:
    """
    Put the DisDepth contract around a foreign graph (in place).

    :param model: the ONNX ModelProto
    :param image: its image input (from :func:`find_image_input`)
    :param output: the graph output that holds depth (from :func:`choose_output`)
    :param mean: per-channel mean of RGB in [0, 1] the network expects subtracted
    :param std: per-channel std of RGB in [0, 1] the network expects divided by
    :param bgr: whether the network expects BGR channel order
    :return: the same ModelProto, rewritten
    :raises GraphError: when the output is not N x h x w or N x 1 x h x w
    """
    graph = model.graph
    out_dims = _dims(output)
    out_elem = output.type.tensor_type.elem_type
    if out_elem not in FLOAT_TYPES:
        raise GraphError(f'output {describe(output)} is not a float tensor')
    if len(out_dims) not in (3, 4) or (len(out_dims) == 4 and out_dims[1] not in (1, None)):
        raise GraphError(f'output {describe(output)} is not a depth map (expected N x h x w or '
                         'N x 1 x h x w)')
    opset = opset_version(model)
    taken = used_names(model)
    net_in = _fresh(taken, 'adopt_network_input')
    rename_tensor(model, image.name, net_in)
    raw_out = output.name
    if raw_out in (INPUT, OUTPUT):
        raw_out = _fresh(taken, 'adopt_network_output')
        rename_tensor(model, output.name, raw_out)
    now = used_names(model)
    for name in (INPUT, OUTPUT):
        if name in now:
            rename_tensor(model, name, _fresh(taken, f'adopt_inner_{name}'))

    def const(base: str, array: np.ndarray) -> str:
        name = _fresh(taken, base)
        graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    nodes: List[Any] = []
    x = INPUT
    if bgr:
        y = _fresh(taken, 'adopt_bgr')
        nodes.append(helper.make_node('Gather', [x, const('adopt_bgr_order',
                                                          np.array([2, 1, 0], np.int64))],
                                      [y], axis=1))
        x = y
    mean_a = np.asarray(mean, np.float32).reshape(1, 3, 1, 1)
    std_a = np.asarray(std, np.float32).reshape(1, 3, 1, 1)
    if np.any(mean_a != 0.0):
        y = _fresh(taken, 'adopt_centred')
        nodes.append(helper.make_node('Sub', [x, const('adopt_mean', mean_a)], [y]))
        x = y
    if np.any(std_a != 1.0):
        y = _fresh(taken, 'adopt_normalised')
        nodes.append(helper.make_node('Div', [x, const('adopt_std', std_a)], [y]))
        x = y
    if image.layout == 'NHWC':
        y = _fresh(taken, 'adopt_nhwc')
        nodes.append(helper.make_node('Transpose', [x], [y], perm=[0, 2, 3, 1]))
        x = y
    if image.dtype == TensorProto.FLOAT16:
        y = _fresh(taken, 'adopt_half')
        nodes.append(helper.make_node('Cast', [x], [y], to=TensorProto.FLOAT16))
        x = y
    nodes.append(helper.make_node('Identity', [x], [net_in]))

    post: List[Any] = []
    y = raw_out
    if out_elem == TensorProto.FLOAT16:
        z = _fresh(taken, 'adopt_depth_float')
        post.append(helper.make_node('Cast', [y], [z], to=TensorProto.FLOAT))
        y = z
    if len(out_dims) == 3:
        if opset >= 13:
            post.append(helper.make_node('Unsqueeze', [y, const('adopt_axes',
                                                                np.array([1], np.int64))],
                                         [OUTPUT]))
        else:
            post.append(helper.make_node('Unsqueeze', [y], [OUTPUT], axes=[1]))
        depth_dims = [out_dims[0], 1, out_dims[1], out_dims[2]]
    else:
        post.append(helper.make_node('Identity', [y], [OUTPUT]))
        depth_dims = [out_dims[0], 1, out_dims[2], out_dims[3]]

    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old_nodes + post)
    weights = {init.name for init in graph.initializer}
    kept_inputs = [i for i in graph.input if i.name in weights]
    del graph.input[:]
    batch, h, w = image.dims
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.FLOAT,
                                                     [batch or 'N', 3, h or 'H', w or 'W']))
    graph.input.extend(kept_inputs)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(
        OUTPUT, TensorProto.FLOAT, [d if d is not None else f'depth_{k}'
                                    for k, d in enumerate(depth_dims)]))
    return model
