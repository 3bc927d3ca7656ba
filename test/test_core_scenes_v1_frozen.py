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
The ``v1`` scenes are frozen: the same seed and options give the same frames, bit for bit.

The digests below were recorded with the single-module generator (``synthetic.py`` before it
became a subpackage, commit f875234) on numpy 2.4 / x86-64.  Floating-point transcendental
functions (``sin``, ``exp``, ``power``) may round differently under another numpy release, so the
comparison runs only on the numpy minor version the digests were recorded with; elsewhere it
skips and says why.
"""

import hashlib

import numpy as np
import pytest

from disdepth_core.data.synthetic import make_sequence
from disdepth_core.data.synthetic import SyntheticDataset

RECORDED_NUMPY = '2.4'

# (preset, seed, index, n_frames, height, width, hfov, frames, noise) -> sha256 of the frames
CASES = [
    (('indoor', 0, 0, 6, 48, 64, None, (0, 3, 5), True),
     'e53f180369a3613f77a1407aeb2cb47d70f0d58ba3a9c86450820c7300075198'),
    (('indoor', 5, 3, 4, 60, 80, 70.0, (1,), False),
     '79863d7be8c5c61ab23927ba5d324edec2983a100d3954c23bfc7ddf44f9bc2b'),
    (('indoor', 1, 7, 3, 240, 320, None, (2,), True),
     'cd9146b312b7cd532166c7b62c4e3049e574c9763ec6dcc385397f5bee9ae37a'),
    (('indoor', 0, 90_006, 2, 48, 64, None, (0, 1), True),
     '1ec17a901715a07061c75c9b75817e90c2e7d1f175d6d1fb20bec957a476241b'),
    (('street', 0, 1, 5, 48, 96, None, (0, 4), True),
     '289aee9f6dd2d425477035909dac49d1d4a6139b3a8f369afd11a643f5c6aea0'),
    (('street', 2, 0, 3, 40, 64, None, (1,), False),
     'b7d6b0bfb2f97c52c2939e9b858e025e433bf1836f784cab86b1fe82711f02ca'),
    (('street', 3, 2, 2, 240, 320, None, (1,), True),
     '7e1333ce66821f7b005d49030b7a9dce4aa46f6036ef85d59cce5191c4e373c8'),
]
DATASET_CASES = [
    (('indoor', 2, 48, 64, 3, 4),
     '66c518245dc49b7c047ff8ce300bee46cdb77c2b95cd5f8dbf50db5c1da6c861'),
    (('street', 1, 40, 64, 2, 3),
     '07e90e285728800b56748c1ae6403fe143c9d9ba9b2209bda816ecc24b670d54'),
]


def sequence_digest(preset, seed, index, n_frames, height, width, hfov, frames, noise):
    """Return the sha256 of a sequence's camera, poses and rendered frames."""
    seq = make_sequence(preset, seed=seed, index=index, n_frames=n_frames, height=height,
                        width=width, hfov=hfov)
    h = hashlib.sha256()
    k = seq.intrinsics
    h.update(np.array([k.fx, k.fy, k.cx, k.cy], np.float64).tobytes())
    h.update(np.stack(seq.poses).astype(np.float64).tobytes())
    for f in frames:
        out = seq.render(f, noise=noise)
        h.update(out.rgb.tobytes())
        h.update(out.depth.astype(np.float32).tobytes())
        h.update(out.object_id.astype(np.int32).tobytes())
    return h.hexdigest()


def dataset_digest(preset, seed, height, width, per_sequence, length):
    """Return the sha256 of every sample of a small ``SyntheticDataset``."""
    ds = SyntheticDataset(preset, length=length, seed=seed, height=height, width=width,
                          frames_per_sequence=per_sequence, first_sequence=1)
    h = hashlib.sha256()
    for i in range(len(ds)):
        s = ds[i]
        for key in ('image', 'depth', 'valid_mask', 'K'):
            h.update(np.ascontiguousarray(s[key]).tobytes())
        h.update(s['name'].encode())
    return h.hexdigest()


def _same_numpy() -> bool:
    return '.'.join(np.__version__.split('.')[:2]) == RECORDED_NUMPY


needs_recorded_numpy = pytest.mark.skipif(
    not _same_numpy(), reason=f'digests recorded with numpy {RECORDED_NUMPY}.x, this is '
    f'{np.__version__}: rounding of transcendental functions may differ')


@needs_recorded_numpy
@pytest.mark.parametrize('case,digest', CASES)
def test_v1_sequences_render_the_recorded_frames(case, digest):
    assert sequence_digest(*case) == digest


@needs_recorded_numpy
@pytest.mark.parametrize('case,digest', DATASET_CASES)
def test_v1_dataset_yields_the_recorded_samples(case, digest):
    assert dataset_digest(*case) == digest


if __name__ == '__main__':
    for case, _ in CASES:
        print(repr(case), sequence_digest(*case))
    for case, _ in DATASET_CASES:
        print(repr(case), dataset_digest(*case))
