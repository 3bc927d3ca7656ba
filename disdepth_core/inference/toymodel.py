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
A toy DisDepth ONNX model for tests and demos of the inference plumbing (no torch needed).

``depth = offset + gain * avgpool2x2(mean over RGB)`` in canonical metres at half resolution and
``confidence = avgpool2x2(mean over RGB)``: brighter is farther, so a test can predict the exact
output.  Built with ``onnx.helper`` (``onnx`` is imported when called); the file carries real
DisDepth metadata unless asked not to, so every engine and tool accepts it.
"""

from pathlib import Path
from typing import Optional, Union

from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY

TOY_SPEC = ModelSpec(name='toy', architecture='student', backbone='toy', input_height=64,
                     input_width=96, canonical_focal=100.0, min_depth=0.1, max_depth=10.0,
                     extra={'note': 'toy model: depth = 0.5 + 4 * brightness'})
TOY_OFFSET = 0.5
TOY_GAIN = 4.0


def write_toy_onnx(path: Union[str, Path], spec: Optional[ModelSpec] = TOY_SPEC,
                   dynamic: bool = False, channels: int = 3, input_name: str = 'image',
                   opset: int = 17, exact_spec: bool = False) -> Path:
    """
    Write the toy model.

    :param path: output ``.onnx`` file
    :param spec: metadata to embed (None: no DisDepth metadata at all); its input size is the
        graph's size unless ``dynamic``
    :param dynamic: symbolic batch, height and width
    :param channels: input channels (3 for a valid model; other values make a broken one)
    :param input_name: graph input name ('image' for a valid model)
    :param opset: ONNX opset
    :param exact_spec: embed ``spec`` as given (default: its ``dynamic`` follows the graph)
    :return: the path
    """
    import onnx
    from onnx import helper
    from onnx import TensorProto

    base = spec or TOY_SPEC
    if dynamic:
        in_shape = ['batch', channels, 'height', 'width']
        out_shape = ['batch', 1, 'out_height', 'out_width']
    else:
        in_shape = [1, channels, base.input_height, base.input_width]
        out_shape = [1, 1, base.input_height // 2, base.input_width // 2]
    nodes = [
        helper.make_node('ReduceMean', [input_name], ['grey'], axes=[1], keepdims=1),
        helper.make_node('AveragePool', ['grey'], ['confidence'], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node('Mul', ['confidence', 'gain'], ['scaled']),
        helper.make_node('Add', ['scaled', 'offset'], ['depth']),
    ]
    graph = helper.make_graph(
        nodes, 'disdepth_toy',
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info('depth', TensorProto.FLOAT, out_shape),
         helper.make_tensor_value_info('confidence', TensorProto.FLOAT, out_shape)],
        initializer=[helper.make_tensor('gain', TensorProto.FLOAT, [], [TOY_GAIN]),
                     helper.make_tensor('offset', TensorProto.FLOAT, [], [TOY_OFFSET])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='disdepth-toy')
    model.ir_version = 8
    if spec is not None:
        from dataclasses import replace
        entry = model.metadata_props.add()
        entry.key = ONNX_METADATA_KEY
        entry.value = (spec if exact_spec else replace(spec, dynamic=dynamic)).to_json()
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path
