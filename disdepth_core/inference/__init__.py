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
The inference contract every engine implements, and the engine registry.

``create_estimator(model, engine='auto')`` returns a :class:`DepthEstimator`:
``predict(rgb uint8 HxWx3, intrinsics) -> DepthResult`` with metric depth (metres, float32,
input resolution, NaN where invalid) and confidence (0..1).  The node, ``disdepth infer``,
``disdepth eval`` and ``disdepth bag`` all go through it.

This package imports neither torch nor onnx at module load: robots run it with numpy +
onnxruntime only; engines import their framework when constructed.
"""
