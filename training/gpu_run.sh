#!/usr/bin/env bash
# One GPU round: continues member A's checkpoint on a CUDA machine for a wall-clock budget, then measures
# the member's inference throughput there. No validation, tuning or export: the CPU does those afterwards
# (README, "GPU rounds"). Leaves in the output folder (its one argument):
#   checkpoint/    the continued checkpoint (checkpoint.json, train-log.jsonl, float16 parts of <= 15.5 MiB)
#                  and throughput.json: images/s at 704x520 in PyTorch, float32 and bfloat16, batch 1 and larger
#   run.log        this script's log with the training and measuring output (appended line by line)
#
#   BUDGET_MINUTES=9 bash training/gpu_run.sh /tmp/round
#
# BUDGET_MINUTES   the whole script's wall clock (default 9); training gets what the rest leaves
# MEASURE_MINUTES  of which kept for the throughput measurement (default 1.5)
# CHECKPOINT       the checkpoint to continue (default checkpoints/member-a; a fresh member when it has none);
#                  it is copied, never modified: the continued one is <output folder>/checkpoint
# CONFIG           train settings for a fresh member or this round (default configs/gpu.yaml)
# TRAIN_ARGS       extra train.py arguments (the CPU smoke test: --opts train.max_steps=2 train.crop=128 ...)
# MEASURE_ARGS     extra throughput.py arguments (the CPU smoke test: --batches 1,2 --seconds 0.5)
# PACKED           the packed data folder (default packed, as `python3 -m cellseg_train.pack` writes it)
set -uo pipefail
cd "$(dirname "$0")"
ROUND_DIR=${1:?usage: gpu_run.sh <output folder>}
BUDGET_MINUTES=${BUDGET_MINUTES:-9}
MEASURE_MINUTES=${MEASURE_MINUTES:-1.5}
CHECKPOINT=${CHECKPOINT:-checkpoints/member-a}
CONFIG=${CONFIG:-configs/gpu.yaml}
TRAIN_ARGS=${TRAIN_ARGS:-}
MEASURE_ARGS=${MEASURE_ARGS:---seconds 3}
PACKED=$(realpath "${PACKED:-packed}")
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
started=$(date +%s)
mkdir -p "$ROUND_DIR/checkpoint"
LOG="$ROUND_DIR/run.log"
log() { echo "[$(date +%T)] $*" >>"$LOG"; }
seconds_left() { echo $((budget_s - ($(date +%s) - started))); }
budget_s=$("$PYTHON" -c "print(int($BUDGET_MINUTES * 60))")
measure_s=$("$PYTHON" -c "print(int($MEASURE_MINUTES * 60))")
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)
torch_versions=$("$PYTHON" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)')
log "$gpu; $(nproc) cores; torch $torch_versions; /dev/shm $(df -h --output=size /dev/shm | tail -1)"

if [ -f "$CHECKPOINT/checkpoint.json" ]; then
  cp "$CHECKPOINT"/* "$ROUND_DIR/checkpoint/"
  progress=$("$PYTHON" -c "import json; d = json.load(open('$CHECKPOINT/checkpoint.json'))
print('step', d['step'], 'after', d['minutes'], 'min')")
  log "continuing $CHECKPOINT: $progress"
else
  log "no checkpoint at $CHECKPOINT: a fresh member"
fi

# train.py continues $ROUND_DIR/checkpoint; a second attempt (same budget end) continues what the first saved:
# at half the rate after a non-finite loss (exit 3), else with crops made in the training process.
train() {
  local minutes
  minutes=$("$PYTHON" -c "print(max(0.1, ($(seconds_left) - $measure_s - 20) / 60))")
  log "training for $minutes min $*"
  "$PYTHON" -m cellseg_train.train --config "$CONFIG" --checkpoint "$ROUND_DIR/checkpoint" \
    --opts "data.root=$PACKED" data.layout=packed "train.max_minutes=$minutes" $TRAIN_ARGS "$@" >>"$LOG" 2>&1
  local status=$?
  log "train.py exited with $status"
  return $status
}
train
status=$?
if [ $status -ne 0 ] && [ "$(seconds_left)" -gt $((measure_s + 60)) ]; then
  lr=$("$PYTHON" -c "from cellseg_train.config import load_config; print(load_config('$CONFIG')['train']['lr'] / 2)")
  if [ $status -eq 3 ]; then train --opts "train.lr=$lr"; else train --opts train.workers=0; fi
  status=$?
fi

if [ -f "$ROUND_DIR/checkpoint/checkpoint.json" ]; then
  timeout --signal=TERM --kill-after=10 "$(( $(seconds_left) > 30 ? $(seconds_left) : 30 ))" \
    "$PYTHON" -m cellseg_train.throughput --checkpoint "$ROUND_DIR/checkpoint" --images "$PACKED/test" \
    --out "$ROUND_DIR/checkpoint/throughput.json" $MEASURE_ARGS >>"$LOG" 2>&1
  log "throughput.py exited with $?"
fi
log "done after $(($(date +%s) - started)) s"
ls -l "$ROUND_DIR" "$ROUND_DIR/checkpoint" >>"$LOG" 2>&1
exit $status
