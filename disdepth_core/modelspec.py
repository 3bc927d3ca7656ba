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
``ModelSpec``: everything a consumer needs to run a DisDepth model, stored with every model file.

It travels as JSON in the ONNX metadata (key :data:`ONNX_METADATA_KEY`) and as the ``spec`` entry
of the checkpoint's JSON sidecar, so the node, ``disdepth infer`` and ``disdepth eval`` need no
other file.  Pure Python: no torch, no onnx.
"""

from dataclasses import asdict, dataclass, field, fields
import json
from typing import Any, Dict, Tuple

from disdepth_core.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

ONNX_METADATA_KEY = 'disdepth.spec'
SPEC_VERSION = 2

# What a model's ``depth`` output means (ModelSpec.output_kind):
#   canonical_metric: metres for a camera of focal ``canonical_focal`` (network-input pixels);
#       scaled with the live camera's intrinsics (``geometry.metric_scale``).  Our students.
#   metric: metres for whatever camera took the image; used as it is.
#   relative_disparity: affine-invariant inverse depth (larger = nearer, no unit); never metres.
#   relative_depth: positive depth-like values whose inverse is affine-invariant disparity
#       (larger = farther, no unit): a student distilled from a relative teacher without a
#       metric anchor; never metres.
OUTPUT_KINDS = ('canonical_metric', 'metric', 'relative_disparity', 'relative_depth')
RELATIVE_OUTPUT_KINDS = ('relative_disparity', 'relative_depth')
METRIC_OUTPUT_KINDS = ('canonical_metric', 'metric')


@dataclass(frozen=True)
class ModelSpec:
    """
    Metadata of a trained DisDepth depth model.

    :param name: a human-readable model name
    :param architecture: 'student' or 'teacher'
    :param backbone: backbone registry name (e.g. 'mobilenetv2')
    :param input_height: network input height it was trained at
    :param input_width: network input width it was trained at
    :param canonical_focal: focal length (network-input pixels) the depth output refers to
    :param min_depth: lower end of the depth range, metres
    :param max_depth: upper end of the depth range, metres
    :param mean: ImageNet mean applied inside the model
    :param std: ImageNet std applied inside the model
    :param input_format: always 'RGB float32 NCHW in [0,1]'
    :param outputs: output names in order
    :param dynamic: whether the ONNX graph accepts other input sizes (multiples of
        ``input_multiple``)
    :param output_kind: what ``depth`` means, one of :data:`OUTPUT_KINDS`
    :param input_multiple: input sides must be multiples of this (32 for our students, 14 for
        DINOv2-based networks)
    :param extra: free-form provenance (training command, data, metrics)
    """

    name: str
    architecture: str
    backbone: str
    input_height: int
    input_width: int
    canonical_focal: float
    min_depth: float
    max_depth: float
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    input_format: str = 'RGB float32 NCHW in [0,1]'
    outputs: Tuple[str, ...] = ('depth', 'confidence')
    dynamic: bool = False
    output_kind: str = 'canonical_metric'
    input_multiple: int = 32
    extra: Dict[str, Any] = field(default_factory=dict)
    version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        """Check the fields that consumers branch on."""
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f'model spec: output_kind {self.output_kind!r} is not one of '
                             f'{", ".join(OUTPUT_KINDS)}')
        if isinstance(self.input_multiple, bool) or not isinstance(self.input_multiple, int) \
                or self.input_multiple < 1:
            raise ValueError(f'model spec: input_multiple must be a positive integer, got '
                             f'{self.input_multiple!r}')

    @property
    def is_metric(self) -> bool:
        """Whether ``depth`` is metres (directly or through the canonical camera)."""
        return self.output_kind in METRIC_OUTPUT_KINDS

    @property
    def preprocessing(self) -> Preprocessing:
        """Preprocessing at the training resolution."""
        return Preprocessing(self.input_height, self.input_width, self.mean, self.std,
                             self.input_multiple)

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'ModelSpec':
        """
        Build from a dict, rejecting unknown keys and missing required ones.

        :raises ValueError: naming the problem
        """
        version = data.get('version', SPEC_VERSION)
        if isinstance(version, int) and version > SPEC_VERSION:
            raise ValueError(f'model spec version {version} is newer than this disdepth '
                             f'({SPEC_VERSION}); upgrade disdepth_ros')
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'model spec: unknown keys {unknown}')
        try:
            spec = cls(**data)
        except TypeError as exc:
            raise ValueError(f'model spec: {exc}') from None
        return ModelSpec(**{**data, 'mean': tuple(spec.mean), 'std': tuple(spec.std),
                            'outputs': tuple(spec.outputs)})

    @classmethod
    def from_json(cls, text: str) -> 'ModelSpec':
        """Parse a JSON string written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f'model spec is not valid JSON: {exc}') from None
        if not isinstance(data, dict):
            raise ValueError('model spec must be a JSON object')
        return cls.from_dict(data)
