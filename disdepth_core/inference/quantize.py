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
INT8 models for CPUs: ONNX Runtime static quantisation of a DisDepth ONNX file.

QDQ format, per-channel symmetric int8 weights, uint8 activations, calibrated (MinMax) on real
frames from an RGB-D folder (``<set>/rgb/*.png``, or any folder of images) or, without one, on
synthetic frames. The graph is first prepared with ``quant_pre_process`` (shape inference and ONNX
Runtime graph optimisations, e.g. Conv+BatchNorm folding). The adaptive-bins head (softmax over
bins, the probability-weighted sum of bin centres, the entropy) stays in float. The layer producing
the bin logits runs with int8 inputs and weights but a *float output*: quantising the logits
themselves made the bin probabilities coarse (with strongly peaked logits only 93 % of the pixels
agreed with fp32 within delta1), and the dequantisation of the N-channel output cost more than the
int8 product saved, while int8 inputs and weights with a float output made the 256-bin mobilenetv2
student at 480x640 about 6 % faster than a float layer (``tools/profile_head.py``: 70.5 vs 74.7 ms;
an int8 output: 81.3 ms), with the same drift on the real dev frames (``float_logits=True`` keeps
the layer in float). Nodes whose outputs are not 4-D feature maps (the bin-width MLP on the pooled
bottleneck, the bin edges and centres) stay in float as well: they set the depth scale of every
pixel, and quantising them moved a trained student's depth by 9 % (mean relative difference to fp32
on the real dev frames) against 1.3 % without. Everything else of the convolutional body is
quantised (``Conv`` and, so that activations stay in int8 between convolutions, ``Add``,
``Concat``, ``Resize``, pooling, the activations and the SiLU / squeeze-excitation / LG-Conv
attention ``Sigmoid`` and ``Mul``), which ran 1.2x faster than quantising the convolutions alone
(mobilenetv2 student, 480x640; EfficientNet-B0's INT8 speed-up at 480x640 was 1.05x without
``Sigmoid`` and ``Mul`` and 1.24x with them, in two ``make bench`` runs of 2026-11-25) and, on the
trained student, drifted less (1.3 % vs 2.8 % mean relative difference).

The result keeps the DisDepth metadata (``disdepth.precision = int8``) and runs on the
``onnxruntime`` engine like any other model.  :func:`quantize_int8` also reports how far the
INT8 output drifts from fp32 on the calibration frames (delta1 agreement, mean relative
difference).

Needs ``onnx`` and ``onnxruntime.quantization`` (imported when called); no torch.
"""

import json
from pathlib import Path
import shutil
import tempfile
import time
from typing import Any, cast, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from disdepth_core.inference.atomic import atomic_path
from disdepth_core.inference.onnx_engine import _ort
from disdepth_core.inference.onnx_engine import PRECISION_METADATA_KEY
from disdepth_core.modelspec import ModelSpec
from disdepth_core.modelspec import ONNX_METADATA_KEY
from disdepth_core.transforms import Preprocessing
from disdepth_core.transforms import read_rgb
from disdepth_core.transforms import to_network_input

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')
# Name tags of the nodes ``export.optimize_for_onnxruntime`` writes (kept in float here).
SOFTMAX_TAG = '/disdepth_softmax'
CHANNEL_SUM_TAG = '/disdepth_channel_sum'
QUANTIZED_OPS = ('Conv', 'MatMul', 'Gemm')
# The wider set: keeps activations in int8 between convolutions (fewer Quantize/Dequantize
# pairs around residual additions, concatenations, pooling and resizing, and around the SiLU
# and squeeze-excitation products of EfficientNet and the LG-Conv attention).
QUANTIZED_OPS_WIDE = QUANTIZED_OPS + ('Add', 'Concat', 'Resize', 'MaxPool', 'AveragePool',
                                      'GlobalAveragePool', 'Relu', 'Clip', 'LeakyRelu',
                                      'Sigmoid', 'Mul')


# --------------------------------------------------------------------------- calibration frames

def synthetic_frames(n: int, hw: Tuple[int, int] = (480, 640), seed: int = 0) -> List[np.ndarray]:
    """
    Procedural RGB frames (gradients, boxes, discs, texture noise) for calibration without data.

    :param n: number of frames
    :param hw: (height, width)
    :param seed: random seed
    :return: list of H x W x 3 uint8 RGB
    """
    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for _ in range(n):
        base = rng.uniform(40, 200, 3)
        slope = rng.uniform(-0.2, 0.2, (2, 3))
        img = base + yy[..., None] * slope[0] * 255 / h + xx[..., None] * slope[1] * 255 / w
        for _ in range(int(rng.integers(3, 9))):
            colour = rng.uniform(0, 255, 3)
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.5:
                x1 = x0 + int(rng.integers(w // 10, w // 2))
                y1 = y0 + int(rng.integers(h // 10, h // 2))
                img[y0:y1, x0:x1] = colour
            else:
                r = rng.integers(h // 20, h // 4)
                img[(yy - y0) ** 2 + (xx - x0) ** 2 < r * r] = colour
        img += rng.normal(0, 6, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def image_files(folder: Union[str, Path]) -> List[Path]:
    """
    Image files of an RGB-D folder (``rgb/``), of several sets (``*/rgb/``) or of a plain folder.

    :raises FileNotFoundError: when there are none
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f'calibration folder {folder} does not exist')
    for pattern in ('rgb/*', '*/rgb/*', '*'):
        files = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            return files
    raise FileNotFoundError(f'no images in {folder} (looked in rgb/, */rgb/ and the folder)')


def calibration_images(source: Optional[Union[str, Path]], n: int,
                       seed: int = 0) -> Tuple[List[np.ndarray], str]:
    """
    Up to ``n`` RGB frames, evenly spaced over the folder, or synthetic ones.

    :param source: folder (see :func:`image_files`) or None for synthetic frames
    :param n: number of frames
    :param seed: seed of the synthetic frames
    :return: (frames, a description for the report)
    """
    if n < 1:
        raise ValueError(f'need at least one calibration frame, got {n}')
    if source is None:
        return synthetic_frames(n, seed=seed), f'{n} synthetic frames'
    files = image_files(source)
    picks = np.unique(np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int))
    return [read_rgb(files[i]) for i in picks], f'{len(picks)} frames from {source}'


class FrameReader:
    """
    ONNX Runtime ``CalibrationDataReader`` over prepared network inputs.

    :param inputs: list of 1 x 3 x H x W float32 arrays
    :param name: graph input name
    """

    def __init__(self, inputs: Sequence[np.ndarray], name: str = 'image') -> None:
        self._inputs = list(inputs)
        self._name = name
        self._iter: Iterator[np.ndarray] = iter(self._inputs)

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        """Return the next feed dict, or None at the end."""
        x = next(self._iter, None)
        return None if x is None else {self._name: x}

    def rewind(self) -> None:
        """Start again from the first frame."""
        self._iter = iter(self._inputs)

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self._inputs)


# --------------------------------------------------------------------------- drift

def depth_agreement(reference: np.ndarray, other: np.ndarray) -> Dict[str, float]:
    """
    How closely two depth predictions agree (fp32 vs int8).

    :param reference: depth array (any shape)
    :param other: depth array of the same shape
    :return: ``delta1`` (share of pixels with max(r/o, o/r) < 1.25), ``abs_rel``
        (mean |o - r| / r) and ``max_abs`` over pixels where both are finite and > 0
    """
    ref = np.asarray(reference, np.float64).ravel()
    oth = np.asarray(other, np.float64).ravel()
    ok = np.isfinite(ref) & np.isfinite(oth) & (ref > 0) & (oth > 0)
    if not ok.any():
        return {'delta1': 0.0, 'abs_rel': float('inf'), 'max_abs': float('inf')}
    ref, oth = ref[ok], oth[ok]
    ratio = np.maximum(ref / oth, oth / ref)
    return {'delta1': float(np.mean(ratio < 1.25)),
            'abs_rel': float(np.mean(np.abs(oth - ref) / ref)),
            'max_abs': float(np.max(np.abs(oth - ref)))}


# --------------------------------------------------------------------------- quantisation

# Ops walked through backwards from a Softmax to find the layer that makes the bin logits.
_PASS_THROUGH = ('Transpose', 'Reshape', 'Add', 'Mul', 'Div', 'Sub', 'Identity', 'Cast')


def _softmaxes(model: Any) -> List[Any]:
    return [node for node in model.graph.node
            if node.op_type == 'Softmax' or (node.op_type == 'ReduceMax'
                                             and SOFTMAX_TAG in node.name)]


def logits_nodes(model: Any) -> List[str]:
    """
    Names of the layers producing the inputs of every softmax (the bin logits).

    :param model: an ONNX ModelProto
    :return: node names
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    names = []
    for node in _softmaxes(model):
        current = producer.get(node.input[0])
        while current is not None and current.op_type in _PASS_THROUGH:
            current = producer.get(current.input[0])
        if current is not None and current.op_type in QUANTIZED_OPS and current.name:
            names.append(current.name)
    return sorted(set(names))


def head_nodes(model: Any) -> List[str]:
    """
    Names of the nodes of the bins head that must stay in float.

    These are the softmax over the bins and everything computed from it (probabilities,
    expected depth, entropy) and the channel sums ``export.optimize_for_onnxruntime`` writes as
    1x1 convolutions (sums of probabilities).  The layer producing the bin logits is not among
    them (:func:`logits_nodes`).

    :param model: an ONNX ModelProto
    :return: node names to exclude from quantisation
    """
    names = [node.name for node in model.graph.node if CHANNEL_SUM_TAG in node.name]
    for node in _softmaxes(model):
        names += _descendants(model, node)
    return sorted(set(names))


def non_spatial_nodes(model: Any) -> List[str]:
    """
    Names of the nodes whose output is not a 4-D feature map (vectors, scalars, bin edges).

    Quantising them gains no speed, and in a DisDepth student they compute the bin widths and
    centres from the pooled bottleneck, which set the depth scale of every pixel: int8 there
    moved the depth of a trained student by several per cent.

    :param model: an ONNX ModelProto
    :return: node names
    """
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model)
    rank = {vi.name: len(vi.type.tensor_type.shape.dim)
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output)
            if vi.type.tensor_type.HasField('shape')}
    return [node.name for node in model.graph.node
            if node.name and node.output and rank.get(node.output[0], 4) != 4]


def _descendants(model: Any, start: Any) -> List[str]:
    """Names of all nodes that consume, directly or not, the outputs of ``start``."""
    consumers: Dict[str, List[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    seen: Dict[str, Any] = {}
    stack = list(start.output)
    while stack:
        for node in consumers.get(stack.pop(), []):
            if node.name and node.name not in seen:
                seen[node.name] = node
                stack.extend(node.output)
    return list(seen)


def _graph_input_hw(model: Any) -> Optional[Tuple[int, int]]:
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4 and dims[2].dim_value > 0 and dims[3].dim_value > 0:
        return int(dims[2].dim_value), int(dims[3].dim_value)
    return None


def _session(path: Union[str, Path], threads: Optional[int]) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), sess_options=opts, providers=['CPUExecutionProvider'])


def quantize_int8(fp32_path: Union[str, Path], out_path: Union[str, Path],
                  calib_dir: Optional[Union[str, Path]] = None, n_frames: int = 16,
                  per_channel: bool = True, input_size: Optional[Sequence[int]] = None,
                  op_types: Sequence[str] = QUANTIZED_OPS_WIDE, threads: Optional[int] = None,
                  seed: int = 0, keep_head_float: bool = True,
                  float_logits: bool = False) -> Dict[str, Any]:
    """
    Quantise a DisDepth fp32 ONNX file to INT8 (static, QDQ, per-channel) for CPUs.

    :param fp32_path: the fp32 model (from ``disdepth export``)
    :param out_path: where to write the INT8 model (atomically)
    :param calib_dir: RGB-D folder or image folder for calibration; None: synthetic frames
    :param n_frames: number of calibration frames
    :param per_channel: per-output-channel weight scales
    :param input_size: calibration network size for dynamic models (default: training size)
    :param op_types: operator types to quantise
    :param threads: ONNX Runtime threads for calibration and the drift check
    :param seed: seed of the synthetic frames
    :param keep_head_float: keep the bins head in float (:func:`head_nodes`) and the
        non-spatial nodes (:func:`non_spatial_nodes`)
    :param float_logits: keep the bin-logits layer entirely in float too; by default it runs
        with int8 inputs and weights and a float output
    :return: report: ``path``, ``calibration``, ``input_hw``, ``size_bytes``,
        ``fp32_size_bytes``, ``quantize_s`` and ``drift`` (:func:`depth_agreement` of the
        INT8 depth vs the fp32 depth over the calibration frames)
    :raises ValueError: for a file without DisDepth metadata
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, out_path = Path(fp32_path), Path(out_path)
    proto = onnx.load(str(fp32_path))
    meta = {p.key: p.value for p in proto.metadata_props}
    if ONNX_METADATA_KEY not in meta:
        raise ValueError(f'{fp32_path} is not a DisDepth model (no {ONNX_METADATA_KEY!r} '
                         'metadata); export it with `disdepth export` first')
    if meta.get(PRECISION_METADATA_KEY, 'fp32') != 'fp32':
        raise ValueError(f'{fp32_path} is already {meta[PRECISION_METADATA_KEY]}; quantise the '
                         'fp32 export')
    spec = ModelSpec.from_json(meta[ONNX_METADATA_KEY])
    hw = _graph_input_hw(proto) or (tuple(input_size) if input_size else
                                    (spec.input_height, spec.input_width))
    # ModelSpec declares mean and std as three floats; tuple() only loses the length
    prep = Preprocessing(int(hw[0]), int(hw[1]),
                         cast(Tuple[float, float, float], tuple(spec.mean)),
                         cast(Tuple[float, float, float], tuple(spec.std)), spec.input_multiple)
    frames, described = calibration_images(calib_dir, n_frames, seed)
    inputs = [to_network_input(f, prep) for f in frames]
    del proto
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix='disdepth-int8-') as tmp:
        pre = Path(tmp) / 'pre.onnx'
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        staged = Path(tmp) / 'int8.onnx'
        prepared = onnx.load(str(pre))
        keep_float: List[str] = []
        if keep_head_float:
            keep = set(head_nodes(prepared)) | set(non_spatial_nodes(prepared))
            # the logit layer's output is 2-D after pre-processing (a fused Gemm), so the
            # non-spatial rule catches it too: decide it here, explicitly
            logits = set(logits_nodes(prepared))
            keep_float = sorted(keep | logits if float_logits else keep - logits)
        # matrix products keep a float output: the bin logits go straight into the float
        # softmax (an int8 output would make the probabilities coarse, and its dequantisation
        # costs more than the int8 product saves)
        extra = {'OpTypesToExcludeOutputQuantization': ['MatMul', 'Gemm']}
        quantize_static(str(pre), str(staged), FrameReader(inputs),
                        quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types),
                        nodes_to_exclude=keep_float,
                        per_channel=per_channel, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        calibration_providers=['CPUExecutionProvider'], extra_options=extra)
        quantized = onnx.load(str(staged))
        entries = dict(meta)
        entries[PRECISION_METADATA_KEY] = 'int8'
        entries['disdepth.calibration'] = json.dumps(
            {'frames': described, 'method': 'MinMax', 'format': 'QDQ',
             'per_channel': per_channel, 'ops': list(op_types), 'input_hw': list(hw),
             'float_outputs': extra['OpTypesToExcludeOutputQuantization'],
             'float_nodes': keep_float})
        del quantized.metadata_props[:]
        for key, value in entries.items():
            quantized.metadata_props.add(key=key, value=value)
        final = Path(tmp) / 'final.onnx'
        onnx.save(quantized, str(final))
        quantize_s = time.perf_counter() - t0
        drift = _drift(fp32_path, final, inputs, threads)
        with atomic_path(out_path) as staged_out:
            shutil.copyfile(final, staged_out)
    return {'path': str(out_path), 'calibration': described, 'input_hw': list(hw),
            'size_bytes': out_path.stat().st_size, 'fp32_size_bytes': fp32_path.stat().st_size,
            'quantize_s': round(quantize_s, 2), 'drift': drift}


def _drift(fp32_path: Path, int8_path: Path, inputs: Sequence[np.ndarray],
           threads: Optional[int]) -> Dict[str, float]:
    ref_sess = _session(fp32_path, threads)
    q_sess = _session(int8_path, threads)
    ref = [ref_sess.run(['depth'], {'image': x})[0] for x in inputs]
    got = [q_sess.run(['depth'], {'image': x})[0] for x in inputs]
    return depth_agreement(np.stack(ref), np.stack(got))
