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
Structural replicas of community depth networks (random weights, real conventions) for tests.

* :func:`closed_form_onnx`: a hand-made graph whose depth has a closed form in its input,
  ``depth = offset + gain * x[:, channel]`` (x = what the network receives), with any input
  name, layout, size and extra outputs; what the adopted model publishes can be computed exactly.
* :func:`tiny_depth_anything` / :func:`tiny_dpt` / :func:`tiny_glpn`: ``transformers`` models
  with the architecture of Depth Anything (V2), DPT and GLPN at toy width, saved as local folders
  (``save_pretrained`` + ``preprocessor_config.json``) or exported to ONNX with the input and
  output names the community exports use.
"""

import json
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper
from onnx import TensorProto

Dim = Union[int, str]


def closed_form_onnx(path: Path, input_name: str = 'x', output_name: str = 'out',
                     hw: Tuple[Dim, Dim] = (64, 96), layout: str = 'NCHW', channel: int = 0,
                     gain: float = 2.0, offset: float = 1.0, rank: int = 3,
                     extra_outputs: Sequence[str] = (), input_channels: int = 3,
                     opset: int = 17) -> Path:
    """
    Write ``out = offset + gain * x[:, channel]`` (N x h x w, or N x 1 x h x w for rank 4).

    :param path: the .onnx file
    :param input_name: graph input name
    :param output_name: depth output name
    :param hw: input height and width (ints, or names for dynamic sizes)
    :param layout: 'NCHW' or 'NHWC'
    :param channel: which input channel the depth follows
    :param gain: the factor
    :param offset: the constant
    :param rank: 3 (N x h x w) or 4 (N x 1 x h x w)
    :param extra_outputs: names of more outputs (copies of the depth, shaped N x 3 x h x w)
    :param input_channels: channels of the input (3; anything else is not an image)
    :param opset: default-domain opset
    :return: ``path``
    """
    h, w = hw
    axis = 1 if layout == 'NCHW' else 3
    shape = [1, input_channels, h, w] if layout == 'NCHW' else [1, h, w, input_channels]
    inits = [numpy_helper.from_array(np.array([channel], np.int64), 'idx'),
             numpy_helper.from_array(np.array(gain, np.float32), 'gain'),
             numpy_helper.from_array(np.array(offset, np.float32), 'offset')]
    nodes = [helper.make_node('Gather', [input_name, 'idx'], ['picked'], axis=axis)]
    picked = 'picked'
    if layout == 'NHWC':
        nodes.append(helper.make_node('Transpose', ['picked'], ['picked_nchw'],
                                      perm=[0, 3, 1, 2]))
        picked = 'picked_nchw'
    nodes += [helper.make_node('Mul', [picked, 'gain'], ['scaled']),
              helper.make_node('Add', ['scaled', 'offset'], ['depth4'])]
    if rank == 3:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), 'axes'))
        nodes.append(helper.make_node('Squeeze', ['depth4', 'axes'], [output_name]))
        out_shape = [1, h, w]
    else:
        nodes.append(helper.make_node('Identity', ['depth4'], [output_name]))
        out_shape = [1, 1, h, w]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)]
    for name in extra_outputs:
        nodes.append(helper.make_node('Concat', ['depth4', 'depth4', 'depth4'], [name], axis=1))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, h, w]))
    graph = helper.make_graph(nodes, 'closed_form',
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                             shape)], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path


def _save_preprocessor(folder: Path, mean: Sequence[float], std: Sequence[float],
                       size: Optional[Tuple[int, int]]) -> None:
    data = {'do_normalize': True, 'image_mean': list(mean), 'image_std': list(std),
            'do_rescale': True, 'rescale_factor': 1 / 255}
    if size is not None:
        data['size'] = {'height': size[0], 'width': size[1]}
    (folder / 'preprocessor_config.json').write_text(json.dumps(data))


def tiny_depth_anything(metric: bool = False, max_depth: float = 20.0, seed: int = 0):
    """Build a random-weight Depth Anything (V2 layout) with a 4-layer DINOv2 of width 32."""
    import torch
    from transformers import DepthAnythingConfig
    from transformers import DepthAnythingForDepthEstimation
    from transformers import Dinov2Config
    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            intermediate_size=64, patch_size=14, image_size=56,
                            out_features=['stage1', 'stage2', 'stage3', 'stage4'],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                                 neck_hidden_sizes=[8, 16, 24, 32], fusion_hidden_size=16,
                                 head_hidden_size=8, patch_size=14,
                                 depth_estimation_type='metric' if metric else 'relative',
                                 max_depth=int(max_depth))
    return DepthAnythingForDepthEstimation(config).eval()


def tiny_glpn(max_depth: float = 10.0, seed: int = 0):
    """Build a random-weight GLPN (metric, NYU-style) at toy width."""
    import torch
    from transformers import GLPNConfig
    from transformers import GLPNForDepthEstimation
    torch.manual_seed(seed)
    config = GLPNConfig(num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1],
                        hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                        mlp_ratios=[2, 2, 2, 2], decoder_hidden_size=16, max_depth=int(max_depth))
    return GLPNForDepthEstimation(config).eval()


def save_folder(model, folder: Path, mean: Sequence[float] = (0.485, 0.456, 0.406),
                std: Sequence[float] = (0.229, 0.224, 0.225),
                size: Optional[Tuple[int, int]] = None) -> Path:
    """``save_pretrained`` plus a ``preprocessor_config.json``, as the hub folders have."""
    model.save_pretrained(str(folder))
    _save_preprocessor(folder, mean, std, size)
    return folder


def export_community(model, path: Path, hw: Tuple[int, int], input_name: str = 'image',
                     output_name: str = 'depth', rank: int = 3) -> Path:
    """
    Export like the community ONNX files: normalised input, ``(N, h, w)`` depth by default.

    :param model: a transformers depth model
    :param path: the .onnx file
    :param hw: fixed input size
    :param input_name: input name (``image`` as Depth-Anything-ONNX, ``pixel_values`` as the
        onnx-community exports)
    :param output_name: output name (``depth`` / ``predicted_depth``)
    :param rank: 3 or 4 (N x 1 x h x w)
    :return: ``path``
    """
    import torch

    class Net(torch.nn.Module):

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            depth = self.model(pixel_values=x).predicted_depth
            return depth.unsqueeze(1) if rank == 4 else depth

    with torch.no_grad():
        torch.onnx.export(Net().eval(), (torch.rand(1, 3, *hw),), str(path),
                          input_names=[input_name], output_names=[output_name],
                          opset_version=17, dynamo=False)
    return path


def run_normalised(model, rgb01: np.ndarray, mean: Sequence[float] = (0.485, 0.456, 0.406),
                   std: Sequence[float] = (0.229, 0.224, 0.225)) -> np.ndarray:
    """Run the original network on an N x 3 x H x W RGB [0, 1] batch (-> N x h x w)."""
    import torch
    x = (torch.from_numpy(rgb01) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std).view(1, 3, 1, 1)
    with torch.no_grad():
        return model(pixel_values=x.float()).predicted_depth.numpy()
