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
The docs/bags.md workflow at test size: distil a student from a bag's image topic, export, run.

A tiny teacher is trained and acclimated on a labelled RGB-D folder; the ``distill`` stage then
learns only from the teacher on the frames of a recorded image topic (``unlabeled`` dataset,
``distill.gt_weight=0``); the student is exported to ONNX and ``disdepth bag`` adds its depth to
the recording.  Steps and sizes are tiny (seconds on one CPU thread): this checks the plumbing,
not the quality.
"""

import json
from pathlib import Path
import sys

import numpy as np
import pytest

from disdepth_ros import cli

torch = pytest.importorskip('torch')
pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

# The bag and frames of the unlabeled-dataset tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _train(*args: str) -> None:
    assert cli.main(['train', '--config', 'tiny', '--quiet', '--threads', '1', *args]) == 0


@pytest.mark.slow
def test_distil_from_bag_export_and_process(tmp_path: Path) -> None:
    from rosbags.highlevel import AnyReader
    from disdepth_core.data.rgbd_folder import RGBDFolderWriter
    from disdepth_core.geometry import CameraIntrinsics
    from disdepth_core.inference import create_estimator
    from test_core_unlabeled import rgb_of
    from test_core_unlabeled import write_bag
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    labelled = tmp_path / 'labelled'
    with RGBDFolderWriter(labelled, CameraIntrinsics(80.0, 80.0, 47.5, 31.5, 96, 64)) as w:
        for _ in range(4):
            w.add(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8),
                  rng.uniform(1.0, 5.0, (64, 96)).astype(np.float32))
    bag = write_bag(tmp_path / 'robot', 'mcap', n=4)
    data = ['data.train.0.name=rgbd_folder', f'data.train.0.root={labelled}']
    _train('--stage', 'teacher', '--out', str(tmp_path / 'teacher'), *data)
    _train('--stage', 'acclimate', '--out', str(tmp_path / 'accl'),
           f'model.teacher_checkpoint={tmp_path / "teacher" / "last"}', *data)
    _train('--stage', 'distill', '--out', str(tmp_path / 'student'),
           f'model.acclimated_checkpoint={tmp_path / "accl" / "last"}',
           'data.train.0.name=unlabeled', f'data.train.0.root={bag}',
           'data.train.0.options.topic=/cam/image', 'distill.gt_weight=0',
           'distill.depth_kd_weight=1')
    log = [json.loads(line) for line in (tmp_path / 'student' / 'log.jsonl').read_text()
           .splitlines() if line.strip()]
    steps = [e for e in log if 'depth_kd' in e]
    assert steps and all(np.isfinite(e['depth_kd']) for e in steps)
    assert not any('supervised' in e for e in steps)  # no ground truth was used

    onnx_path = tmp_path / 'student.onnx'
    assert cli.main(['export', str(tmp_path / 'student' / 'final.safetensors'),
                     str(onnx_path)]) == 0
    out = tmp_path / 'robot_depth'
    assert cli.main(['bag', str(bag), str(out), '--image-topic', '/cam/image',
                     '--model', str(onnx_path), '--quiet']) == 0
    est = create_estimator(onnx_path)
    with AnyReader([out]) as reader:
        conns = [c for c in reader.connections if c.topic == '/cam/depth']
        depths = [reader.deserialize(raw, c.msgtype)
                  for c, _, raw in reader.messages(connections=conns)]
        infos = [c for c in reader.connections if c.topic == '/cam/camera_info']
        ks = [reader.deserialize(raw, c.msgtype).k
              for c, _, raw in reader.messages(connections=infos)]
    assert len(depths) == 4
    for i, msg in enumerate(depths):
        k = CameraIntrinsics.from_matrix(ks[i], 64, 48)
        got = np.frombuffer(bytes(msg.data), '<f4').reshape(48, 64)
        np.testing.assert_allclose(got, est.predict(rgb_of(i), k).depth, rtol=1e-6)
