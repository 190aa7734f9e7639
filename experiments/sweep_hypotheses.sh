#!/usr/bin/env bash
# Sweep (4): hypotheses per pose on SyRIP, S = 1, 5, 20 (fit.num_hypotheses).
#
# Each results.json holds the headline min_reproj (per pose the hypothesis
# with the lowest reprojection error: no ground truth), mean (the joint-wise
# mean of the S hypotheses) and best_of_s (per pose the hypothesis closest
# to the ground truth: an oracle, an upper bound on any selection rule).
# A run whose results.json exists is skipped (resumable); then
# experiments/summarize.py writes $OUT/summary.md and $OUT/summary.png.
#
#   bash experiments/sweep_hypotheses.sh [OUT=/tmp/sweep_hypotheses] \
#       [extra --config.* flags]
#
# Environment: CONFIG (configs/syrip.py), MAX_POSES (0 = all), BATCH
# (fit.batch_size and parallel.chunk_size, see sweep_noise_iters.sh),
# HYPOTHESES (the S grid). Run from the repository root.
set -euo pipefail
OUT=${1:-/tmp/sweep_hypotheses}
shift || true
EXTRA=("$@")
CONFIG=${CONFIG:-configs/syrip.py}
MAX_POSES=${MAX_POSES:-0}
BATCH=${BATCH:-64}
HYPOTHESES=${HYPOTHESES:-"1 5 20"}

for s in $HYPOTHESES; do
  dir="$OUT/S${s}"
  if [[ -f "$dir/results.json" ]]; then
    echo "skip $dir (results.json exists)"
    continue
  fi
  python -m zedoi_jax.main --config="$CONFIG" --workdir="$dir" \
    --config.fit.num_hypotheses="$s" \
    --config.data.max_poses="$MAX_POSES" --config.fit.batch_size="$BATCH" \
    --config.parallel.chunk_size="$BATCH" \
    --config.eval.pictures=False --config.progress=False "${EXTRA[@]}"
done

# Headline (min_reproj), mean-of-S and the oracle, MPJPE then PA-MPJPE.
V=variants
METRICS="$V.min_reproj.mpjpe_mm,$V.mean.mpjpe_mm,best_of_s_mpjpe_mm"
METRICS+=",$V.min_reproj.pa_mpjpe_mm,$V.mean.pa_mpjpe_mm"
METRICS+=",best_of_s_pa_mpjpe_mm,ms_per_pose,num_poses"
PLOT_METRICS="$V.min_reproj.mpjpe_mm,$V.mean.mpjpe_mm,best_of_s_mpjpe_mm"
python experiments/summarize.py "$OUT" --out="$OUT/summary" \
  --x=fit.num_hypotheses \
  --metrics="$METRICS" \
  --plot_metrics="$PLOT_METRICS" \
  --same_axes --title="SyRIP: hypotheses per pose"
