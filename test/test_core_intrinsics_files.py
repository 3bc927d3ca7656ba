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

"""Intrinsics files: every unusable value is refused with a message, per-frame intrinsics work."""

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import pytest

from disdepth_core.data.rgbd_folder import RGBDFolderDataset
from disdepth_core.data.unlabeled import UnlabeledDataset
from disdepth_core.geometry import load_intrinsics_json
from disdepth_ros.cli import main

GOOD = {'fx': 50.0, 'fy': 52.0, 'cx': 15.5, 'cy': 11.5, 'width': 32, 'height': 24}


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def _folder(root: Path, intrinsics: Dict[str, Any],
            rows: Optional[List[Dict[str, Any]]] = None, frames: int = 2) -> Path:
    """Write a small RGB-D folder (32 x 24, depth 2 m) with the given intrinsics.json."""
    (root / 'rgb').mkdir(parents=True)
    (root / 'depth').mkdir()
    rng = np.random.default_rng(0)
    for i in range(frames):
        cv2.imwrite(str(root / 'rgb' / f'{i:04d}.png'),
                    rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
        cv2.imwrite(str(root / 'depth' / f'{i:04d}.png'), np.full((24, 32), 2000, np.uint16))
    _write_json(root / 'intrinsics.json', intrinsics)
    if rows is not None:
        keys = sorted({k for row in rows for k in row})
        with (root / 'frames.csv').open('w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    return root


# (key, value written to JSON, text the message must contain)
BAD_VALUES = [
    ('fx', None, 'fx is null'),
    ('fy', '525.0', "fy is the string '525.0'"),
    ('fx', -50.0, 'fx is -50.0'),
    ('fy', 0, 'fy is 0'),
    ('fx', float('nan'), 'fx is nan'),
    ('cx', float('inf'), 'cx is inf'),
    ('cy', [11.5], 'cy is [11.5] (list)'),
    ('fx', True, 'fx is True (bool)'),
    ('width', 32.5, 'width is 32.5'),
    ('height', -24, 'height is -24'),
    ('width', {'px': 32}, "width is {'px': 32} (dict)"),
]


@pytest.mark.parametrize('key,value,text', BAD_VALUES)
def test_each_bad_value_is_named(tmp_path, key, value, text) -> None:
    path = _write_json(tmp_path / 'intrinsics.json', {**GOOD, key: value})
    with pytest.raises(ValueError) as info:
        load_intrinsics_json(path)
    message = str(info.value)
    assert str(path) in message and text in message and 'expected' in message, message


def test_file_level_problems(tmp_path) -> None:
    assert load_intrinsics_json(_write_json(tmp_path / 'ok.json', {**GOOD, 'note': 'x'})).fx == 50
    # whole-number floats are sizes too (some tools write 640.0)
    assert load_intrinsics_json(_write_json(tmp_path / 'f.json',
                                            {**GOOD, 'width': 32.0})).width == 32
    with pytest.raises(ValueError, match='lacks fy, cx'):
        load_intrinsics_json(_write_json(tmp_path / 'm.json', {'fx': 1.0, 'width': 2,
                                                               'height': 2}))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"fx": 1,')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_intrinsics_json(bad)
    with pytest.raises(ValueError, match='expected a JSON object'):
        load_intrinsics_json(_write_json(tmp_path / 'list.json', [1, 2]))
    with pytest.raises(ValueError, match='cannot read the intrinsics file'):
        load_intrinsics_json(tmp_path / 'absent.json')


def _no_traceback(capsys: Any) -> str:
    out = capsys.readouterr()
    assert 'Traceback' not in out.out + out.err
    return out.err


def test_infer_refuses_null_values_cleanly(tmp_path, capsys) -> None:
    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), np.zeros((24, 32, 3), np.uint8))
    bad = _write_json(tmp_path / 'intrinsics.json', {**GOOD, 'fx': None})
    code = main(['infer', str(image), '--out', str(tmp_path / 'out'), '--intrinsics', str(bad)])
    err = _no_traceback(capsys)
    assert code == 2 and 'fx is null' in err and 'expected a focal length' in err, err
    assert not (tmp_path / 'out').exists()


def test_bag_refuses_bad_intrinsics_cleanly(tmp_path, capsys) -> None:
    bad = _write_json(tmp_path / 'intrinsics.json', {**GOOD, 'fy': 'unknown'})
    code = main(['bag', str(tmp_path / 'in'), str(tmp_path / 'out'), '--image-topic',
                 '/camera/image', '--intrinsics', str(bad)])
    err = _no_traceback(capsys)
    assert code == 1 and "fy is the string 'unknown'" in err, err
    assert not (tmp_path / 'out').exists()


def test_eval_refuses_folder_with_null_values_and_says_how_to_fix(tmp_path, capsys) -> None:
    root = _folder(tmp_path / 'set', {**GOOD, 'fx': None, 'fy': None})
    code = main(['eval', '--data', str(root)])
    err = _no_traceback(capsys)
    assert code == 2 and 'fx is null' in err, err
    assert 'give fx, fy per frame in frames.csv' in err, err


def test_training_refuses_bad_folder_cleanly(tmp_path, capsys) -> None:
    root = _folder(tmp_path / 'set', {**GOOD, 'cx': float('nan')})
    code = main(['train', '--config', 'tiny', '--out', str(tmp_path / 'run'), '--quiet',
                 'data.train.0.name=rgbd_folder', f'data.train.0.root={root}'])
    err = _no_traceback(capsys)
    assert code != 0 and 'cx is nan' in err, err


def test_unlabeled_folder_refuses_bad_values(tmp_path) -> None:
    root = _folder(tmp_path / 'set', {**GOOD, 'height': 0})
    with pytest.raises(ValueError, match='height is 0'):
        UnlabeledDataset(root)
    with pytest.raises(ValueError, match='fx is -1'):
        UnlabeledDataset(root, intrinsics=_write_json(tmp_path / 'k.json', {**GOOD, 'fx': -1}))


PER_FRAME = {'fx': None, 'fy': None, 'cx': None, 'cy': None, 'width': 32, 'height': 24}
ROWS = [{'index': '0000', 'fx': 40, 'fy': 41, 'cx': 15.5, 'cy': 11.5},
        {'index': '0001', 'fx': 80, 'fy': 82, 'cx': 16.0, 'cy': 12.0}]


def test_per_frame_intrinsics_in_frames_csv(tmp_path) -> None:
    root = _folder(tmp_path / 'set', PER_FRAME, ROWS)
    ks = [RGBDFolderDataset(root).load_frame(i).intrinsics for i in range(2)]
    assert [(k.fx, k.fy, k.cx, k.cy) for k in ks] == [(40, 41, 15.5, 11.5), (80, 82, 16, 12)]
    assert all((k.width, k.height) == (32, 24) for k in ks)
    # the same folder read as unlabeled images keeps the per-frame values
    unlabeled = UnlabeledDataset(root)
    assert [unlabeled.load_frame(i).intrinsics.fx for i in range(2)] == [40, 80]
    # a per-frame column overrides a value intrinsics.json gives for all frames
    shared = _folder(tmp_path / 'shared', GOOD, [{'index': '0001', 'fx': 70}])
    ds = RGBDFolderDataset(shared)
    assert [ds.load_frame(i).intrinsics.fx for i in range(2)] == [50, 70]
    assert math.isclose(ds.load_frame(1).intrinsics.fy, 52)


@pytest.mark.parametrize('rows,text', [
    ([{**ROWS[0], 'fx': 'n/a'}, ROWS[1]],
     "frame 0000 (with intrinsics.json): fx is the string 'n/a'"),
    ([ROWS[0], {**ROWS[1], 'fy': -3}], 'frame 0001 (with intrinsics.json): fy is -3.0'),
    ([ROWS[0], {**ROWS[1], 'cx': 'nan'}], 'frame 0001 (with intrinsics.json): cx is nan'),
    ([ROWS[0]], 'frame 0001 (with intrinsics.json) lacks fx, fy, cx, cy'),
])
def test_per_frame_problems_name_the_frame(tmp_path, rows, text) -> None:
    root = _folder(tmp_path / 'set', PER_FRAME, rows)
    with pytest.raises(ValueError) as info:
        RGBDFolderDataset(root)
    assert text in str(info.value) and 'frames.csv' in str(info.value), str(info.value)
