#!/usr/bin/env bash
# Sweep (3): occlusion of the 2D input on SyRIP.
#
# drop/: k = 0..6 joints per pose dropped at random from the ground-truth 2D
#   (data.drop_joints: confidence 0 and a wrong location inside the pose's
#   2D box, see zedoi_jax/occlusion.py), with the confidences
#   (data.use_confidence=True) and with the baseline that ignores them
#   (False: every joint counts, the dropped ones at their wrong place).
# fidip/: FiDIP detections, joints scored below data.min_score in
#   {0, 0.3, 0.5} treated as missing, plus the confidence-blind baseline
#   (min_score has no effect there: every detected joint counts fully).
# A run whose results.json exists is skipped (resumable). Then
# experiments/summarize.py writes $OUT/drop_summary.* and
# $OUT/fidip_summary.*.
#
#   bash experiments/sweep_occlusion.sh [OUT=/tmp/sweep_occlusion] \
#       [extra --config.* flags]
#
# Environment: CONFIG (configs/syrip.py), MAX_POSES (0 = all), DROP_K
# (the k grid), MIN_SCORES. Run from the repository root.
set -euo pipefail
OUT=${1:-/tmp/sweep_occlusion}
shift || true
EXTRA=("$@")
CONFIG=${CONFIG:-configs/syrip.py}
MAX_POSES=${MAX_POSES:-0}
DROP_K=${DROP_K:-"0 1 2 3 4 5 6"}
MIN_SCORES=${MIN_SCORES:-"0 0.3 0.5"}

run() {  # workdir [flags...]
  local dir=$1
  shift
  if [[ -f "$dir/results.json" ]]; then
    echo "skip $dir (results.json exists)"
    return
  fi
  python -m zedoi_jax.main --config="$CONFIG" --workdir="$dir" \
    --config.data.max_poses="$MAX_POSES" \
    --config.eval.pictures=False --config.progress=False "$@" "${EXTRA[@]}"
}

for k in $DROP_K; do
  for use in True False; do
    run "$OUT/drop/k${k}_conf${use}" --config.data.input_2d=gt \
      --config.data.drop_joints="$k" --config.data.use_confidence="$use"
  done
done
for s in $MIN_SCORES; do
  run "$OUT/fidip/score${s}_confTrue" --config.data.input_2d=fidip \
    --config.data.min_score="$s" --config.data.use_confidence=True
done
run "$OUT/fidip/score0_confFalse" --config.data.input_2d=fidip \
  --config.data.min_score=0 --config.data.use_confidence=False

python experiments/summarize.py "$OUT/drop" --out="$OUT/drop_summary" \
  --x=data.drop_joints --series=data.use_confidence \
  --metrics=mpjpe_mm,pa_mpjpe_mm,reproj_error_px,num_poses \
  --plot_metrics=mpjpe_mm,pa_mpjpe_mm \
  --title="SyRIP GT 2D, k joints dropped"
python experiments/summarize.py "$OUT/fidip" --out="$OUT/fidip_summary" \
  --x=data.min_score --series=data.use_confidence \
  --metrics=mpjpe_mm,pa_mpjpe_mm,reproj_error_px,num_poses \
  --plot_metrics=mpjpe_mm,pa_mpjpe_mm \
  --title="SyRIP FiDIP 2D, low scores as missing"
