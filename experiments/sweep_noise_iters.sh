#!/usr/bin/env bash
# Sweep (1): noise level of the fit loop x number of OIL iterations on SyRIP.
#
# fit.t_max in {0.05, 0.1, 0.2} x fit.oil_steps in {250, 500, 1000}, with
# fit.solve_t_last kept at 5% of oil_steps (the paper: t in (0, 0.1], 1000
# iterations, no study). Each run has its own workdir; a run whose
# results.json exists is skipped, so an interrupted sweep resumes. Then
# experiments/summarize.py writes $OUT/summary.md and $OUT/summary.png.
#
#   bash experiments/sweep_noise_iters.sh [OUT=/tmp/sweep_noise_iters] \
#       [extra --config.* flags]
#
# Environment: CONFIG (configs/syrip.py), MAX_POSES (0 = the whole test
# split), BATCH (fit.batch_size and parallel.chunk_size: one batch per
# result chunk, smaller than the pose count, so results.json's timing
# separates the first chunk (compilation) from the rest and summarize.py
# reports the time per pose after compilation), T_MAX / OIL_STEPS (grids).
# Run from the repository root.
set -euo pipefail
OUT=${1:-/tmp/sweep_noise_iters}
shift || true
EXTRA=("$@")
CONFIG=${CONFIG:-configs/syrip.py}
MAX_POSES=${MAX_POSES:-0}
BATCH=${BATCH:-64}
T_MAX=${T_MAX:-"0.05 0.1 0.2"}
OIL_STEPS=${OIL_STEPS:-"250 500 1000"}

for t in $T_MAX; do
  for steps in $OIL_STEPS; do
    last=$(( steps / 20 > 1 ? steps / 20 : 1 ))
    dir="$OUT/tmax${t}_oil${steps}"
    if [[ -f "$dir/results.json" ]]; then
      echo "skip $dir (results.json exists)"
      continue
    fi
    python -m zedoi_jax.main --config="$CONFIG" --workdir="$dir" \
      --config.fit.t_max="$t" --config.fit.oil_steps="$steps" \
      --config.fit.solve_t_last="$last" \
      --config.data.max_poses="$MAX_POSES" --config.fit.batch_size="$BATCH" \
      --config.parallel.chunk_size="$BATCH" \
      --config.eval.pictures=False --config.progress=False "${EXTRA[@]}"
  done
done

python experiments/summarize.py "$OUT" --out="$OUT/summary" \
  --x=fit.oil_steps --series=fit.t_max \
  --metrics=mpjpe_mm,pa_mpjpe_mm,reproj_error_px,ms_per_pose,num_poses \
  --plot_metrics=mpjpe_mm,ms_per_pose \
  --title="SyRIP: OIL noise level x iterations"
