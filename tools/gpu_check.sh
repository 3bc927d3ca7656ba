#!/usr/bin/env bash
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
#
# The GPU check of the torch CUDA engine in one prepared run (docs/benchmarks.md, "GPU (torch
# CUDA engine)"): CPU/GPU parity of the packaged model, inference latency and throughput at
# 480x640 (batch 1 and 8, fp32 / fp16, with and without CUDA graphs), training throughput of the
# student and the vit-s teacher, machine facts.  Writes $OUT/gpu_check.md and
# $OUT/gpu_check.json (after every row) and prints the tables at the end.
#
#   bash tools/gpu_check.sh                 # on a CUDA machine, from a clean checkout
#   bash tools/gpu_check.sh --dry-run       # the same code on a CPU: tiny sizes, seconds
#   OUT=/tmp/gpu bash tools/gpu_check.sh --sections parity,latency
#
# Uses the machine's own python3 (PY=...) with its torch: no virtual environment, nothing
# installed; the repository goes on PYTHONPATH.  Settings (environment): OUT (default
# out/gpu_check), PY (default python3), CAP (seconds the Python part may run before it writes
# what it has and stops, default 420); a hard stop follows 30 s after CAP, so the whole run
# stays under 8 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-out/gpu_check}"
PY="${PY:-python3}"
CAP="${CAP:-420}"

command -v "$PY" >/dev/null || { echo "gpu_check.sh: $PY not found (set PY=...)" >&2; exit 2; }
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1          # leave the checkout as it was
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"  # no busy-waiting CPU threads

rc=0
timeout --kill-after=10 "$((${CAP%.*} + 30))" \
    "$PY" "$ROOT/tools/gpu_check.py" --out "$OUT" --time-cap "$CAP" "$@" || rc=$?
if [ -f "$OUT/gpu_check.md" ]; then
    cat "$OUT/gpu_check.md"
fi
exit "$rc"
