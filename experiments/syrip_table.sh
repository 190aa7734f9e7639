#!/usr/bin/env bash
# SyRIP results table (experiments/RESULTS.md): every row, GT and
# FiDIP 2D, on the SyRIP test split (the 200 train200 images, ZeDO-i
# protocol). Run from the repository root; each run writes its own workdir.
#
#   bash experiments/syrip_table.sh [OUT] [extra --config flags]
#
# The adaptations must exist (shipped under zedoi_jax/checkpoints/, or
# re-created with the --config.mode=adapt commands in configs/syrip*.py).
set -euo pipefail
OUT=${1:-/tmp/syrip_table}
shift || true
EXTRA=("$@")

run() {  # name config [flags...]
  local name=$1 cfg=$2
  shift 2
  for input in gt fidip; do
    python -m zedoi_jax.main --config="$cfg" \
      --workdir="$OUT/$name-$input" --config.data.input_2d="$input" \
      --config.eval.pictures=False --config.progress=False \
      "$@" "${EXTRA[@]}"
  done
}

run adult_zero_shot configs/syrip.py --config.init.adapted=
run infant_only_prior configs/syrip_infant_prior.py
run finetune configs/syrip_finetune.py
run control configs/syrip.py
