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

"""The shared preprocessing, model spec and config loader."""

from dataclasses import dataclass
from dataclasses import field
import json
from pathlib import Path
from typing import Optional
from typing import Tuple

import numpy as np
import pytest

from disdepth_core.config import apply_overrides
from disdepth_core.config import ConfigError
from disdepth_core.config import load_config
from disdepth_core.config import save_config
from disdepth_core.config import to_dict
from disdepth_core.modelspec import ModelSpec
from disdepth_core.transforms import fit_network_size
from disdepth_core.transforms import Preprocessing
from disdepth_core.transforms import resize_depth
from disdepth_core.transforms import to_network_input


def test_network_input_layout_and_range() -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 255
    rgb[:, :32, 2] = 51
    x = to_network_input(rgb, Preprocessing(32, 64))
    assert x.shape == (1, 3, 32, 64) and x.dtype == np.float32 and x.flags['C_CONTIGUOUS']
    assert np.allclose(x[0, 0], 1.0)
    assert np.allclose(x[0, 1], 0.0)
    assert np.allclose(x[0, 2, :, :30], 0.2) and np.allclose(x[0, 2, :, 34:], 0.0)


@pytest.mark.parametrize('bad, message', [
    (np.zeros((4, 4), np.uint8), 'H x W x 3'),
    (np.zeros((0, 4, 3), np.uint8), 'empty'),
    (np.zeros((4, 4, 3), np.float32), 'uint8'),
    ([[1, 2, 3]], 'numpy array'),
])
def test_bad_images_are_named(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_network_input(bad, Preprocessing(32, 32))


def test_preprocessing_rejects_sizes_that_are_not_multiples_of_32() -> None:
    with pytest.raises(ValueError, match='multiple of 32'):
        Preprocessing(240, 330)


def test_resize_depth_and_fit_size() -> None:
    d = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert resize_depth(d, (3, 4)) is d
    assert resize_depth(d, (6, 8)).shape == (6, 8)
    assert fit_network_size((480, 640), 320) == (256, 320)  # 240 rounds up to 8 * 32
    assert fit_network_size((375, 1242), 640) == (192, 640)


def test_model_spec_round_trip_and_errors() -> None:
    spec = ModelSpec(name='m', architecture='student', backbone='mobilenetv2',
                     input_height=192, input_width=256, canonical_focal=200.0,
                     min_depth=0.1, max_depth=10.0, extra={'seed': 1})
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.preprocessing.hw == (192, 256)
    with pytest.raises(ValueError, match='unknown keys'):
        ModelSpec.from_dict({**json.loads(spec.to_json()), 'colour': 'rgb'})
    with pytest.raises(ValueError, match='not valid JSON'):
        ModelSpec.from_json('{nope')
    with pytest.raises(ValueError, match='newer'):
        ModelSpec.from_dict({**json.loads(spec.to_json()), 'version': 99})
    # A newer spec with fields this version does not know asks for an upgrade first.
    with pytest.raises(ValueError, match='newer'):
        ModelSpec.from_dict({**json.loads(spec.to_json()), 'version': 99, 'future': 1})


def test_model_spec_output_kind() -> None:
    base = {'name': 'm', 'architecture': 'student', 'backbone': 'x', 'input_height': 64,
            'input_width': 64, 'canonical_focal': 100.0, 'min_depth': 0.1, 'max_depth': 10.0}
    # A version-1 spec (written before output_kind existed) is a canonical-metric student.
    old = ModelSpec.from_dict({**base, 'version': 1})
    assert old.output_kind == 'canonical_metric' and old.is_metric
    assert ModelSpec(**base, output_kind='metric').is_metric
    relative = ModelSpec.from_json(ModelSpec(**base, output_kind='relative_disparity').to_json())
    assert relative.output_kind == 'relative_disparity' and not relative.is_metric
    with pytest.raises(ValueError, match="output_kind 'inverse'"):
        ModelSpec(**base, output_kind='inverse')
    with pytest.raises(ValueError, match='output_kind'):
        ModelSpec.from_dict({**base, 'output_kind': 'depth'})


@dataclass(frozen=True)
class OptimCfg:
    lr: float = 1e-3
    betas: Tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class TopCfg:
    name: str = 'x'
    steps: int = 10
    resume: Optional[str] = None
    optim: OptimCfg = field(default_factory=OptimCfg)


def test_config_merge_order_and_types(tmp_path: Path) -> None:
    path = tmp_path / 'c.yaml'
    path.write_text('steps: 20\noptim:\n  lr: 0.01\n')
    cfg = load_config(TopCfg, path, ['optim.betas=[0.8, 0.9]', 'resume=run/ckpt'])
    assert cfg == TopCfg(steps=20, resume='run/ckpt', optim=OptimCfg(lr=0.01, betas=(0.8, 0.9)))
    save_config(cfg, tmp_path / 'saved.yaml')
    assert load_config(TopCfg, tmp_path / 'saved.yaml') == cfg
    assert to_dict(cfg)['optim']['betas'] == [0.8, 0.9]


@pytest.mark.parametrize('overrides, message', [
    (['optim.lrr=1'], 'optim.lrr'),
    (['steps=ten'], 'expected int'),
    (['steps=true'], 'expected an integer'),
    (['optim.betas=[1]'], 'expected 2 values'),
    (['nonsense'], 'key.sub=value'),
])
def test_config_errors_name_the_key(overrides: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(TopCfg, None, overrides)


def test_overrides_do_not_mutate_input() -> None:
    data = {'optim': {'lr': 1}}
    out = apply_overrides(data, ['optim.lr=2'])
    assert data == {'optim': {'lr': 1}} and out == {'optim': {'lr': 2}}
