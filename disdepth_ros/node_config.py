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
The node's parameters: one declaration table and a frozen, validated :class:`NodeConfig`.

:data:`PARAMETERS` lists every parameter once (name, default, description, and whether it can
change while the node runs); the node declares them from it, ``config/disdepth.yaml`` carries the
same defaults and docs/node.md documents them.  :meth:`NodeConfig.from_values` validates a full
set of values and raises :class:`ConfigError` listing every problem, both at start-up and for
live changes.  Pure Python: no rclpy.
"""

from dataclasses import dataclass
from dataclasses import fields
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from disdepth_core.geometry import CameraIntrinsics
from disdepth_ros.pipeline import COLORMAPS
from disdepth_ros.pipeline import OutputOptions
from disdepth_ros.qos import DEFAULT_QOS
from disdepth_ros.qos import INPUT_KEYS
from disdepth_ros.qos import QosSettings

# image_transport value -> suffix of the subscribed topic (image_transport's naming: the
# transport's topic lies below the resolved, remapped ``image`` topic).
IMAGE_TRANSPORTS: Dict[str, str] = {'raw': '', 'compressed': '/compressed'}
ENGINE_NAMES_HINT = 'auto, onnxruntime, torch'
# A camera name: a relative ROS name (tokens of letters, digits and underscores, not starting
# with a digit, joined by single slashes), so that ``<name>/image`` is a valid topic.
CAMERA_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')


class ConfigError(ValueError):
    """Invalid node parameters; the message lists each problem with the parameter name."""


@dataclass(frozen=True)
class ParamSpec:
    """
    Declaration of one node parameter.

    :param name: parameter name
    :param default: default value (its type is the parameter type)
    :param description: what it does, shown by ``ros2 param describe``
    :param live: can change while the node runs (False = read-only after start)
    :param reloads_model: changing it reloads the model (old one serves until the new one works)
    """

    name: str
    default: Any
    description: str
    live: bool = True
    reloads_model: bool = False


def _qos_specs() -> List[ParamSpec]:
    out = []
    for key, q in DEFAULT_QOS.items():
        topic = {'depth_camera_info': 'depth/camera_info', 'confidence': 'depth/confidence',
                 'colorized': 'depth/colorized'}.get(key, key)
        if key in INPUT_KEYS:
            direction = 'subscription'
            choices = ('reliable, best_effort or auto (reliable when every publisher of the '
                       'topic offers reliable, else best effort; re-checked when publishers '
                       'come and go)')
        else:
            direction, choices = 'publisher', 'reliable or best_effort'
        out += [
            ParamSpec(f'qos.{key}.reliability', q.reliability,
                      f'{topic} {direction} reliability: {choices}', live=False),
            ParamSpec(f'qos.{key}.durability', q.durability,
                      f'{topic} {direction} durability: volatile or transient_local',
                      live=False),
            ParamSpec(f'qos.{key}.depth', q.depth, f'{topic} {direction} history depth (>= 1)',
                      live=False),
        ]
    return out


PARAMETERS: Tuple[ParamSpec, ...] = tuple([
    ParamSpec('model', '', 'model file (.onnx, or .safetensors/.json checkpoint); empty = the '
              'packaged default model. Changing it reloads the model; if the new one fails the '
              'old one keeps serving', reloads_model=True),
    ParamSpec('engine', 'auto', f'inference engine: {ENGINE_NAMES_HINT}', reloads_model=True),
    ParamSpec('device', 'auto', "inference device: auto, cpu, cuda, cuda:N (or 'tensorrt' "
              'with onnxruntime)', reloads_model=True),
    ParamSpec('input_height', 0, 'network input height (multiple of 32) for models with '
              "dynamic input size; 0 = the model's training size", reloads_model=True),
    ParamSpec('input_width', 0, 'network input width (multiple of 32) for models with dynamic '
              "input size; 0 = the model's training size", reloads_model=True),
    ParamSpec('image_transport', 'raw', 'input transport: raw (sensor_msgs/Image on image) or '
              'compressed (sensor_msgs/CompressedImage, JPEG or PNG, on image/compressed below '
              'the remapped image topic)', live=False),
    ParamSpec('cameras', [], 'camera names; empty = one camera on image and camera_info. With '
              'names, each camera N is read from N/image (or N/image/compressed) and '
              'N/camera_info and gets its own N/depth, N/points, ... outputs and diagnostics; '
              'frames that are ready together run as one batch through the model', live=False),
    ParamSpec('min_depth', 0.0, 'metres; nearer depth is published as invalid (NaN, 0 in '
              "16UC1, NaN points); 0 = the model's minimum depth"),
    ParamSpec('max_depth', 0.0, 'metres; farther depth is published as invalid; 0 = the '
              "model's maximum depth"),
    ParamSpec('min_confidence', 0.0, 'pixels with lower confidence (0..1) are published as '
              'invalid depth and NaN points'),
    ParamSpec('relative_output', False, 'the model is relative (no unit: an adopted relative '
              'family): publish it on depth/relative (32FC1), with no points and no colorized '
              'depth; a relative model is refused without it, a metric one with it', live=False),
    ParamSpec('depth_encoding', '32FC1', 'depth image encoding: 32FC1 (metres, NaN invalid, '
              'REP 118) or 16UC1 (millimetres, 0 invalid)'),
    ParamSpec('point_stride', 1, 'point cloud decimation: keep every N-th row and column (the '
              'cloud stays organised)'),
    ParamSpec('points_rgb', True, 'add the rgb field (packed float32) to the point cloud'),
    ParamSpec('colormap', 'turbo', f'colormap of depth/colorized: {", ".join(COLORMAPS)}'),
    ParamSpec('colorized_min_depth', 0.0, 'metres mapped to the first colour of '
              'depth/colorized (fixed range, so colours mean the same distance in every frame)'),
    ParamSpec('colorized_max_depth', 10.0, 'metres mapped to the last colour of '
              'depth/colorized'),
    ParamSpec('colorized_legend', True, 'draw a colour bar with the metric range on '
              'depth/colorized'),
    ParamSpec('fallback_hfov_deg', 0.0, 'horizontal field of view (degrees) used when no '
              'camera_info arrives; 0 = unset'),
    ParamSpec('fallback_fx', 0.0, 'fallback focal length x (pixels, for fallback_width); '
              '0 = unset (use fallback_hfov_deg or require camera_info)'),
    ParamSpec('fallback_fy', 0.0, 'fallback focal length y (pixels); 0 = same as fallback_fx'),
    ParamSpec('fallback_cx', 0.0, 'fallback principal point x (pixels); 0 = image centre'),
    ParamSpec('fallback_cy', 0.0, 'fallback principal point y (pixels); 0 = image centre'),
    ParamSpec('fallback_width', 0, 'image width the fallback fx/fy/cx/cy refer to (they are '
              'rescaled to the incoming image); 0 = the incoming image width'),
    ParamSpec('fallback_height', 0, 'image height the fallback fx/fy/cx/cy refer to; 0 = the '
              'incoming image height'),
    ParamSpec('camera_info_timeout', 1.0, 'seconds without camera_info after which the '
              'fallback intrinsics are used (when set)'),
    ParamSpec('sync_tolerance', 0.02, 'seconds: the largest image/camera_info stamp difference '
              'still matched'),
    ParamSpec('sync_queue_size', 10, 'images and camera infos kept while waiting for a match'),
    ParamSpec('diagnostics_period', 1.0, 'seconds between /diagnostics messages', live=False),
    ParamSpec('overlap_outputs', True, "build and publish a frame's outputs in a second "
              'thread while the next frame is inferred (the node then keeps up with the slower '
              'of the two, not their sum); false = one thread does both', live=False),
] + _qos_specs())

PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
DEFAULTS: Dict[str, Any] = {p.name: p.default for p in PARAMETERS}
MODEL_PARAMETERS = tuple(p.name for p in PARAMETERS if p.reloads_model)


@dataclass(frozen=True)
class NodeConfig:
    """Validated node parameters (see :data:`PARAMETERS` for the meaning of each field)."""

    model: str
    engine: str
    device: str
    input_height: int
    input_width: int
    image_transport: str
    cameras: Tuple[str, ...]
    min_depth: float
    max_depth: float
    min_confidence: float
    relative_output: bool
    depth_encoding: str
    point_stride: int
    points_rgb: bool
    colormap: str
    colorized_min_depth: float
    colorized_max_depth: float
    colorized_legend: bool
    fallback_hfov_deg: float
    fallback_fx: float
    fallback_fy: float
    fallback_cx: float
    fallback_cy: float
    fallback_width: int
    fallback_height: int
    camera_info_timeout: float
    sync_tolerance: float
    sync_queue_size: int
    diagnostics_period: float
    overlap_outputs: bool
    qos: Dict[str, QosSettings]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> 'NodeConfig':
        """
        Build and validate a config from parameter values (missing names take defaults).

        :param values: parameter name -> value
        :return: the config
        :raises ConfigError: listing every invalid or unknown value
        """
        merged = dict(DEFAULTS)
        unknown = sorted(set(values) - set(DEFAULTS))
        problems = [f'unknown parameter {name!r}' for name in unknown]
        merged.update({k: v for k, v in values.items() if k in DEFAULTS})
        for spec in PARAMETERS:
            value = merged[spec.name]
            if isinstance(spec.default, bool):
                ok = isinstance(value, bool)
            elif isinstance(spec.default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif isinstance(spec.default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok:
                    merged[spec.name] = float(value)
            elif isinstance(spec.default, list):
                # rcl's params-file parser turns an empty sequence (`cameras: []`) into an
                # unset parameter: None means the default then
                value = merged[spec.name] = list(spec.default) if value is None else value
                ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
                if ok:
                    merged[spec.name] = tuple(value)
            else:
                ok = isinstance(value, str)
            if not ok:
                kind = 'list of strings' if isinstance(spec.default, list) \
                    else type(spec.default).__name__
                problems.append(f'{spec.name} must be a {kind}, got {value!r}')
        if problems:
            raise ConfigError('invalid parameters: ' + '; '.join(problems))
        qos = {key: QosSettings(merged[f'qos.{key}.reliability'],
                                merged[f'qos.{key}.durability'], merged[f'qos.{key}.depth'])
               for key in DEFAULT_QOS}
        plain = {f.name: merged[f.name] for f in fields(cls) if f.name != 'qos'}
        config = cls(qos=qos, **plain)
        problems = config.problems()
        if problems:
            raise ConfigError('invalid parameters: ' + '; '.join(problems))
        return config

    def problems(self) -> List[str]:
        """Describe every invalid value (empty when the config is valid)."""
        out = []
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f'{field.name} must be a finite number, got {value}')
        if self.input_height < 0 or self.input_height % 32:
            out.append(f'input_height must be 0 or a positive multiple of 32, got '
                       f'{self.input_height}')
        if self.input_width < 0 or self.input_width % 32:
            out.append(f'input_width must be 0 or a positive multiple of 32, got '
                       f'{self.input_width}')
        if (self.input_height == 0) != (self.input_width == 0):
            out.append('input_height and input_width must both be 0 (model size) or both set')
        if self.image_transport not in IMAGE_TRANSPORTS:
            out.append(f'image_transport must be one of {", ".join(IMAGE_TRANSPORTS)}, got '
                       f'{self.image_transport!r}')
        out += camera_name_problems(self.cameras)
        out += self.output_options().problems()
        if self.fallback_hfov_deg and not 0.0 < self.fallback_hfov_deg < 180.0:
            out.append(f'fallback_hfov_deg must be 0 (unset) or in (0, 180), got '
                       f'{self.fallback_hfov_deg}')
        for name in ('fallback_fx', 'fallback_fy', 'fallback_cx', 'fallback_cy',
                     'fallback_width', 'fallback_height'):
            if getattr(self, name) < 0:
                out.append(f'{name} must be >= 0, got {getattr(self, name)}')
        if self.fallback_fy and not self.fallback_fx:
            out.append('fallback_fy is set but fallback_fx is not')
        if self.camera_info_timeout <= 0:
            out.append(f'camera_info_timeout must be > 0, got {self.camera_info_timeout}')
        if self.sync_tolerance < 0:
            out.append(f'sync_tolerance must be >= 0, got {self.sync_tolerance}')
        if self.sync_queue_size < 1:
            out.append(f'sync_queue_size must be >= 1, got {self.sync_queue_size}')
        if self.diagnostics_period <= 0:
            out.append(f'diagnostics_period must be > 0, got {self.diagnostics_period}')
        for key, q in self.qos.items():
            out += q.problems(key, adaptive=key in INPUT_KEYS)
        return out

    @property
    def multi_camera(self) -> bool:
        """Whether the node serves the named ``cameras`` (not the one ``image`` input)."""
        return bool(self.cameras)

    @property
    def has_fallback(self) -> bool:
        """Whether fallback intrinsics (focal length or field of view) are configured."""
        return bool(self.fallback_fx or self.fallback_hfov_deg)

    def fallback_intrinsics(self, width: int, height: int) -> Optional[CameraIntrinsics]:
        """
        Return the fallback intrinsics for a ``width`` x ``height`` image, or None when unset.

        ``fallback_fx`` (with fy, cx, cy for ``fallback_width`` x ``fallback_height``) wins over
        ``fallback_hfov_deg``; both are rescaled to the image.

        :param width: incoming image width
        :param height: incoming image height
        :return: validated intrinsics or None
        """
        if self.fallback_fx:
            ref_w = self.fallback_width or width
            ref_h = self.fallback_height or height
            intr = CameraIntrinsics(
                self.fallback_fx, self.fallback_fy or self.fallback_fx,
                self.fallback_cx or (ref_w - 1) / 2.0, self.fallback_cy or (ref_h - 1) / 2.0,
                ref_w, ref_h)
            if (ref_w, ref_h) != (width, height):
                intr = intr.scaled(width, height)
            return intr.validate()
        if self.fallback_hfov_deg:
            return CameraIntrinsics.from_fov(self.fallback_hfov_deg, width, height)
        return None

    def output_options(self) -> OutputOptions:
        """Return the output options these parameters describe (validated by ``problems``)."""
        return OutputOptions(
            depth_encoding=self.depth_encoding, min_depth=self.min_depth,
            max_depth=self.max_depth, min_confidence=self.min_confidence,
            point_stride=self.point_stride, points_rgb=self.points_rgb, colormap=self.colormap,
            colorized_min_depth=self.colorized_min_depth,
            colorized_max_depth=self.colorized_max_depth,
            colorized_legend=self.colorized_legend, relative_output=self.relative_output)

    def estimator_options(self) -> Dict[str, Any]:
        """Engine options for ``create_estimator`` (only the ones that are set)."""
        if self.input_height and self.input_width:
            return {'input_size': (self.input_height, self.input_width)}
        return {}


def camera_name_problems(names: Tuple[str, ...]) -> List[str]:
    """
    Describe every invalid or repeated name of the ``cameras`` parameter.

    :param names: the camera names
    :return: one message per problem, naming the camera (empty when all are valid)
    """
    out = []
    for name in names:
        if not CAMERA_NAME.fullmatch(name):
            out.append(f'cameras: {name!r} is not a valid ROS name (expected a relative name '
                       'of letters, digits and underscores, not starting with a digit, tokens '
                       "joined by single '/', e.g. 'front' or 'arm/left')")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        out.append(f'cameras: {", ".join(repeated)} listed more than once')
    return out
