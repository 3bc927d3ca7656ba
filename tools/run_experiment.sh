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
# The DisDepth experiment on a CPU: does cross-architecture distillation beat the supervised
# baseline student?  Generates synthetic indoor scenes, trains the ViT teacher, the baseline
# student, the acclimated teacher and distilled students (one per KD variant) with identical
# schedules and seeds, then evaluates every model on held-out synthetic scenes and on the real
# frames of ../shared/data (HoloLens frames 30-41 held out; KITTI raw is outdoor, out of range).
# Results: $OUT/results/results.md (+ .json), logs: $OUT/*.log.  See docs/experiments.md.
#
#   tools/run_experiment.sh                  # the full run (~40 min on 2 CPU cores)
#   SMOKE=1 OUT=/tmp/exp tools/run_experiment.sh   # a 2-minute check of the whole pipeline
#   PACKAGE=1 tools/run_experiment.sh        # also package the distilled student as the default
#   SCENES=v2 OUT=out/exp_v2 tools/run_experiment.sh   # the same on the v2 scenes (the ablation:
#                                            # same budget, seeds and real frames, v1 vs v2)
#
# Resumable: finished stages are skipped, and a stage that was stopped (Ctrl-C, a lost machine)
# continues from its latest checkpoint (written every CKPT_EVERY steps) when the script runs again
# with the same settings.  BUDGET_CPU_H (default 3) caps the CPU-hours spent on training in this
# run (wall seconds x THREADS); when it is used up no new stage starts, and the log says so: run
# again with a larger budget to continue.
# Settings (environment): OUT, PY, THREADS, TRAIN_FRAMES, TRAIN_SEQUENCES, VAL_FRAMES,
# VAL_SEQUENCES, EPOCHS (student and distill), TEACHER_EPOCHS, ACCLIMATE_EPOCHS, KD_VARIANTS,
# EXTRA_SEEDS (more student / distilled-student seeds, same teacher: the run-to-run noise),
# REAL (the real data folder), SMOKE, PACKAGE, PACKAGE_FROM, SCENES (v1 or v2; v2 takes photo
# textures from the training HoloLens frames 0-29 only), CKPT_EVERY, BUDGET_CPU_H.  Finished
# stages are skipped, so e.g. EXTRA_SEEDS=1 after a complete run trains only the new seeds and
# re-evaluates.  STAGES=student trains only the supervised students (baseline and EXTRA_SEEDS): the
# scene ablation, where no teacher is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-out/experiment}
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-2}
REAL=${REAL:-../shared/data/real}
TRAIN_FRAMES=${TRAIN_FRAMES:-2000}
TRAIN_SEQUENCES=${TRAIN_SEQUENCES:-500}
VAL_FRAMES=${VAL_FRAMES:-200}
VAL_SEQUENCES=${VAL_SEQUENCES:-100}
EPOCHS=${EPOCHS:-2}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-3}
ACCLIMATE_EPOCHS=${ACCLIMATE_EPOCHS:-1}
KD_VARIANTS=${KD_VARIANTS:-attentive mse}
EXTRA_SEEDS=${EXTRA_SEEDS:-}
PACKAGE=${PACKAGE:-0}
PACKAGE_FROM=${PACKAGE_FROM:-distill_attentive}
SMOKE=${SMOKE:-0}
SCENES=${SCENES:-v1}
CKPT_EVERY=${CKPT_EVERY:-100}
BUDGET_CPU_H=${BUDGET_CPU_H:-3}
STAGES=${STAGES:-all}
case "$STAGES" in
    all|student) ;;
    *) echo "run_experiment: STAGES must be 'all' or 'student', not '$STAGES'" >&2; exit 2 ;;
esac
CONFIG=indoor_experiment
EXTRA=()
if [ "$SMOKE" = 1 ]; then
    TRAIN_FRAMES=16; TRAIN_SEQUENCES=2; VAL_FRAMES=8; VAL_SEQUENCES=2
    EPOCHS=1; TEACHER_EPOCHS=1; ACCLIMATE_EPOCHS=1
    EXTRA=(schedule.max_steps=2 data.train.1.repeats=1)
fi

HOLO="$REAL/hololens_dvmvs"
KITTI="$REAL/kitti_raw_sfnd"
if [ ! -d "$HOLO" ]; then
    echo "run_experiment: $HOLO not found (set REAL=...)" >&2
    exit 2
fi
mkdir -p "$OUT"
LOG="$OUT/experiment.log"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
disdepth() { "$PY" -m disdepth_ros.cli "$@"; }

log "experiment start: OUT=$OUT THREADS=$THREADS TRAIN_FRAMES=$TRAIN_FRAMES EPOCHS=$EPOCHS" \
    "TEACHER_EPOCHS=$TEACHER_EPOCHS ACCLIMATE_EPOCHS=$ACCLIMATE_EPOCHS KD_VARIANTS='$KD_VARIANTS'" \
    "SCENES=$SCENES BUDGET_CPU_H=$BUDGET_CPU_H"
"$PY" -c 'import torch; print("torch", torch.__version__)' | tee -a "$LOG"

SCENE_ARGS=(--scenes "$SCENES")
if [ "$SCENES" = v2 ]; then SCENE_ARGS+=(--photos "$HOLO[0:30]"); fi
# CPU seconds spent on training by this invocation, and the budget in the same unit
SPENT=0
BUDGET_S=$(awk -v h="$BUDGET_CPU_H" 'BEGIN { printf "%d", h * 3600 }')

# 1. data: disjoint scene seeds for training (1) and validation (2); 192x256, a random camera
#    (horizontal FOV 50-80 deg) per sequence.
pids=()
for split in train val; do
    if [ "$split" = train ]; then n=$TRAIN_FRAMES; s=$TRAIN_SEQUENCES; seed=1
    else n=$VAL_FRAMES; s=$VAL_SEQUENCES; seed=2; fi
    if [ ! -d "$OUT/synth_$split" ]; then
        log "synth $split: $n frames, $s sequences, seed $seed"
        disdepth synth "$OUT/synth_$split" --frames "$n" --sequences "$s" --vary-intrinsics \
            --preset indoor --seed "$seed" --height 192 --width 256 "${SCENE_ARGS[@]}" \
            > "$OUT/synth_$split.log" 2>&1 &
        pids+=($!)
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || { log "synth FAILED (see $OUT/synth_*.log)"; exit 1; }
done

COMMON=(--config "$CONFIG" --quiet threads="$THREADS" log.ckpt_every_steps="$CKPT_EVERY"
        data.train.0.root="$OUT/synth_train" data.train.1.root="$HOLO"
        data.val.0.root="$OUT/synth_val" data.val.1.root="$HOLO" "${EXTRA[@]}")

train() {  # name, stage-specific arguments...
    local name=$1; shift
    if [ -f "$OUT/$name/final.json" ]; then
        log "$name: already trained, skipping"
        return
    fi
    if [ "$SPENT" -ge "$BUDGET_S" ]; then
        log "budget of $BUDGET_CPU_H CPU-h used up ($SPENT CPU-s): $name not started;" \
            "run again with a larger BUDGET_CPU_H to continue"
        exit 3
    fi
    local t0=$SECONDS
    if [ -f "$OUT/$name/last.json" ]; then
        log "train $name: resuming from $OUT/$name/last"
        disdepth train --resume "$OUT/$name/last" --out "$OUT/$name" --quiet \
            threads="$THREADS" >> "$OUT/$name.log" 2>&1 \
            || { log "train $name FAILED (see $OUT/$name.log)"; tail -20 "$OUT/$name.log" >&2
                 exit 1; }
    else
        log "train $name: $*"
        disdepth train "${COMMON[@]}" --out "$OUT/$name" "$@" > "$OUT/$name.log" 2>&1 \
            || { log "train $name FAILED (see $OUT/$name.log)"; tail -20 "$OUT/$name.log" >&2
                 exit 1; }
    fi
    SPENT=$((SPENT + (SECONDS - t0) * THREADS))
    log "train $name: done in $((SECONDS - t0)) s (training so far: $SPENT CPU-s of" \
        "$BUDGET_S)"
}

# 2. the four stages (same seed, data order and schedule for every student)
MODELS=()
if [ "$STAGES" = all ]; then
    train teacher --stage teacher schedule.epochs="$TEACHER_EPOCHS"
fi
train student --stage student schedule.epochs="$EPOCHS"
MODELS+=(--model student_baseline="$OUT/student/final")
if [ "$STAGES" = all ]; then
    train acclimate --stage acclimate schedule.epochs="$ACCLIMATE_EPOCHS" \
        model.teacher_checkpoint="$OUT/teacher/final" acclimate.ghost=joint
    MODELS=(--model teacher="$OUT/teacher/final" --model acclimated_teacher="$OUT/acclimate/final"
            "${MODELS[@]}")
    for kd in $KD_VARIANTS; do
        train "distill_$kd" --stage distill schedule.epochs="$EPOCHS" \
            model.acclimated_checkpoint="$OUT/acclimate/final" distill.kd_loss="$kd"
        MODELS+=(--model "distill_$kd=$OUT/distill_$kd/final")
    done
else
    KD_VARIANTS=''
fi

# 2b. more seeds of the students (model init, data order and augmentation), same teacher
for seed in $EXTRA_SEEDS; do
    train "student_s$seed" --stage student schedule.epochs="$EPOCHS" seed="$seed" \
        data.seed="$seed"
    MODELS+=(--model "student_baseline_s$seed=$OUT/student_s$seed/final")
    for kd in $KD_VARIANTS; do
        train "distill_${kd}_s$seed" --stage distill schedule.epochs="$EPOCHS" seed="$seed" \
            data.seed="$seed" model.acclimated_checkpoint="$OUT/acclimate/final" \
            distill.kd_loss="$kd"
        MODELS+=(--model "distill_${kd}_s$seed=$OUT/distill_${kd}_s$seed/final")
    done
done

# 3. evaluation of the final checkpoints (no model selection on any test set)
log "evaluate"
SETS=(--set "synth_val=$OUT/synth_val" --set "hololens_test=$HOLO[30:]"
      --set "hololens_train=$HOLO[0:30]")
if [ -d "$KITTI" ]; then SETS+=(--set "kitti_raw=$KITTI@kitti"); fi
"$PY" tools/experiment_eval.py --out "$OUT/results" --threads "$THREADS" "${MODELS[@]}" \
    "${SETS[@]}" > "$OUT/eval.log" 2>&1 \
    || { log "evaluation FAILED (see $OUT/eval.log)"; tail -20 "$OUT/eval.log" >&2; exit 1; }
cat "$OUT/results/results.md" | tee -a "$LOG"

# 4. optionally package the distilled student as the default model
if [ "$PACKAGE" = 1 ]; then
    log "package $PACKAGE_FROM as the default model"
    "$PY" tools/experiment_package.py "$OUT/$PACKAGE_FROM/final" \
        --results "$OUT/results/results.json" --model-key "$PACKAGE_FROM" | tee -a "$LOG"
fi
log "experiment done: $SPENT CPU-s of training in this run ($(awk -v s="$SPENT" \
    'BEGIN { printf "%.2f", s / 3600 }') CPU-h)"
