#!/usr/bin/env bash
# Adult fit of a prior on held-out CMU subjects beside held-in ones
# (configs/cmu_fit.py protocol: random yaw, 3-4 m, f = 1000 px, 17 joints).
#   bash experiments/heldout_prior.sh PRIOR_DIR OUT_DIR [SPLITS] [MAX_POSES]
# SPLITS defaults to "val train" (choose on 'val'; 'test' once per shipped
# prior). Prints one line per split; results.json under OUT_DIR/<split>.
set -euo pipefail
prior=${1:?prior model folder}
out=${2:?output folder}
splits=${3:-val train}
max_poses=${4:-128}
for split in $splits; do
  python -m zedoi_jax.main --config=configs/cmu_fit.py \
    --workdir="$out/$split" --config.init.prior="$prior" \
    --config.data.split="$split" --config.data.max_poses="$max_poses" \
    --config.eval.pictures=False --config.progress=False >/dev/null 2>&1 || {
      echo "split $split failed: see $out/$split"; exit 1; }
  python - "$out/$split/results.json" "$split" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m, b = r['variants']['mean'], r['baseline']
print(f"{sys.argv[2]:6s} poses={r['num_poses']:4d} MPJPE {m['mpjpe_mm']:6.1f} "
      f"PA-MPJPE {m['pa_mpjpe_mm']:6.1f}  mean-pose PA {b.get('pa_mpjpe_mm', float('nan')):6.1f}"
      f"  bone ratio {r['bone_length_ratio']:.3f}")
PY
done
