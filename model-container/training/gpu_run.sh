#!/usr/bin/env bash
# The one-shot GPU run of issue 6 (README "GPU run"): trains the ensemble members side by side for a
# wall-clock budget, validates and tunes each, exports float16 ONNX + parity records, fuses and tunes the
# ensemble, and leaves in $OUT: models/{<member>.onnx, parity/<member>.json, manifest.json}, metrics.json,
# train.log (both members, line-prefixed) and run.log. That is 8 files for two members, the most that
# come back. Logs are appended line by line, so a run cut short still returns them.
#
#   OUT=/tmp/out BUDGET_MINUTES=9 bash model-container/training/gpu_run.sh
#
# BUDGET_MINUTES  the whole script's wall clock (default 9); it ends by then, export included
# POST_MINUTES    of which kept for validation, tuning, export and fusion (default 3.5)
# MEMBERS         configs/<name>.yaml to train (default "gpu-a gpu-b")
# TRAIN_ARGS      extra train.py arguments (the CPU smoke test: --max-steps 1 --val-limit 2)
# ENSEMBLE_ARGS   extra ensemble.py arguments (the CPU smoke test: --val-limit 2)
# CONFIG_DIR      where the member configs are (default configs; the smoke test passes tiny ones)
# PACKED          the packed data folder (default packed, as `python3 -m cellseg_train.pack` writes it)
# RUNS            where the members' checkpoints go (default runs; each member's folder is started afresh)
set -uo pipefail
cd "$(dirname "$0")"
: "${OUT:?set OUT to the output folder}"
BUDGET_MINUTES=${BUDGET_MINUTES:-9}
POST_MINUTES=${POST_MINUTES:-3.5}
MEMBERS=${MEMBERS:-gpu-a gpu-b}
TRAIN_ARGS=${TRAIN_ARGS:-}
ENSEMBLE_ARGS=${ENSEMBLE_ARGS:-}
CONFIG_DIR=${CONFIG_DIR:-configs}
PACKED=$(realpath "${PACKED:-packed}")
RUNS=${RUNS:-runs}
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
started=$(date +%s)
mkdir -p "$OUT/models" "$RUNS"
log() { echo "[$(date +%T)] $*" >>"$OUT/run.log"; }
seconds() { "$PYTHON" -c "print(int(float('$1') * 60))"; }

budget_s=$(seconds "$BUDGET_MINUTES")
train_minutes=$("$PYTHON" -c "print(max(0.05, $BUDGET_MINUTES - $POST_MINUTES))")
# Each member must be validated before the ensemble step's share (40 % of POST_MINUTES) begins.
member_deadline_s=$((budget_s - $(seconds "$POST_MINUTES") * 2 / 5))
log "$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo no GPU); $(nproc) cores; torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
log "budget ${BUDGET_MINUTES} min: training ${train_minutes} min, members cut at ${member_deadline_s} s"

runs=()
for member in $MEMBERS; do
  rm -rf "${RUNS:?}/$member"  # a fresh machine has none; locally, an old run must not be resumed by accident
  runs+=("$RUNS/$member")
  (
    timeout --signal=TERM --kill-after=10 "$member_deadline_s" \
      "$PYTHON" -m cellseg_train.train --config "$CONFIG_DIR/$member.yaml" --out "$RUNS/$member" \
      --data-root "$PACKED" --data-layout packed --max-minutes "$train_minutes" $TRAIN_ARGS 2>&1 |
      sed -u "s/^/[$member] /" >>"$OUT/train.log"
    log "$member: train.py exited with ${PIPESTATUS[0]}"
  ) &
done
wait

left_s=$((budget_s - ($(date +%s) - started)))
log "ensemble step with ${left_s} s left"
timeout --signal=TERM --kill-after=10 "$((left_s > 30 ? left_s : 30))" \
  "$PYTHON" -m cellseg_train.ensemble --runs "${runs[@]}" --models "$OUT/models" \
  --parity-image "$PACKED/test/7ae19de7bc2a.png" --metrics "$OUT/metrics.json" \
  --version "gpu-ensemble-$(date +%Y-%m-%d)" $ENSEMBLE_ARGS >>"$OUT/run.log" 2>&1
status=$?
log "ensemble.py exited with $status after $(($(date +%s) - started)) s in all"
ls -l "$OUT" "$OUT/models" "$OUT/models/parity" >>"$OUT/run.log" 2>&1
exit $status
