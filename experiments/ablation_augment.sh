#!/usr/bin/env bash
# Guided-augmentation ablation (experiments/RESULTS.md): SyRIP test
# MPJPE / PA-MPJPE (GT 2D, the 200 train200 images) for the control branch
# and the fine-tuned prior, adapted with and without the generated
# infant-like poses, at several infant training-set sizes.
#
#   bash experiments/ablation_augment.sh OUT GENERATED_NPZ [SIZES...]
#
# OUT: one workdir per run, OUT/<method>-n<size>-<aug>/{adapt,fit}.
# GENERATED_NPZ: the output of --config.mode=augment (generated.npz).
# SIZES: infant training-set sizes (adapt.num_train_poses; 500 = all the
# SyRIP train split); default 25 100 500 50 250 (the first three first).
#
# Reduced budget (a shared 2-core CPU): ADAPT_STEPS adaptation steps (default
# 500; the shipped models used 2000) at batch ADAPT_BATCH (default 128; 256
# shipped), and a shortened fit (ipo 250, oil 500, solve_t_last 25,
# t_max 0.2). Environment variables override these. SEED (default 0) is
# config.seed for both adaptation and fit; SEED != 0 writes
# <method>-n<size>-<aug>-s<SEED>. A finished cell (fit/results.json
# present) is skipped, so the script can be re-run.
# Run from the repository root.
set -euo pipefail
OUT=${1:?usage: ablation_augment.sh OUT GENERATED_NPZ [SIZES...]}
GEN=${2:?usage: ablation_augment.sh OUT GENERATED_NPZ [SIZES...]}
shift 2
SIZES=("$@")
if [ ${#SIZES[@]} -eq 0 ]; then SIZES=(25 100 500 50 250); fi
ADAPT_STEPS=${ADAPT_STEPS:-500}
ADAPT_BATCH=${ADAPT_BATCH:-128}
AUG_RATIO=${AUG_RATIO:-0.5}
SEED=${SEED:-0}
SUFFIX=''
if [ "$SEED" != 0 ]; then SUFFIX="-s$SEED"; fi
FIT_FLAGS=(--config.fit.ipo_steps="${FIT_IPO:-250}"
           --config.fit.oil_steps="${FIT_OIL:-500}"
           --config.fit.solve_t_last="${FIT_SOLVE_LAST:-25}"
           --config.fit.t_max=0.2
           --config.eval.pictures=False --config.progress=False)
[ -f "$GEN" ] || { echo "no such file: $GEN" >&2; exit 1; }
mkdir -p "$OUT"

cell() {  # method size aug(none|gen)
  local method=$1 size=$2 aug=$3 cfg
  local dir="$OUT/$method-n$size-$aug$SUFFIX"
  if [ -f "$dir/fit/results.json" ]; then
    echo "skip $dir (done)"; return 0
  fi
  if [ "$method" = control ]; then cfg=configs/syrip.py
  else cfg=configs/syrip_finetune.py; fi
  local n=$size
  if [ "$size" -ge 500 ]; then n=0; fi  # 0 = all 500 train poses
  local aug_flags=()
  if [ "$aug" = gen ]; then
    aug_flags=(--config.adapt.augment_with="$GEN"
               --config.adapt.augment_ratio="$AUG_RATIO")
  fi
  local t0=$SECONDS
  # export_dir must be overridden: the configs point at the shipped
  # checkpoint folders.
  python -m zedoi_jax.main --config="$cfg" --config.mode=adapt \
    --workdir="$dir/adapt" --config.train.export_dir="$dir/adapt/model" \
    --config.adapt.num_train_poses="$n" --config.adapt.subset_seed=0 \
    --config.adapt.num_steps="$ADAPT_STEPS" \
    --config.adapt.batch_size="$ADAPT_BATCH" \
    --config.train.warmup_steps=50 \
    --config.train.checkpoint_every="$ADAPT_STEPS" \
    --config.seed="$SEED" --config.progress=False "${aug_flags[@]}" \
    > "$dir.adapt.log" 2>&1 \
    || { echo "FAILED adapt $dir (see $dir.adapt.log)"; return 1; }
  local t1=$SECONDS
  python -m zedoi_jax.main --config="$cfg" --config.mode=fit \
    --workdir="$dir/fit" --config.init.adapted="$dir/adapt/model" \
    --config.data.input_2d=gt --config.seed="$SEED" "${FIT_FLAGS[@]}" \
    > "$dir.fit.log" 2>&1 \
    || { echo "FAILED fit $dir (see $dir.fit.log)"; return 1; }
  echo "done $dir adapt $((t1 - t0)) s fit $((SECONDS - t1)) s"
}

for size in "${SIZES[@]}"; do
  for method in control finetune; do
    for aug in none gen; do
      cell "$method" "$size" "$aug" || true  # a failed cell: go on
    done
  done
done

# The table (MPJPE / PA-MPJPE mm; 'missing' = not run or failed).
python - "$OUT" "$SUFFIX" "${SIZES[@]}" <<'PY'
import json, pathlib, sys
out, suffix = pathlib.Path(sys.argv[1]), sys.argv[2]
sizes = sorted(int(s) for s in sys.argv[3:])
print('| infant poses | control | control + aug | fine-tune |'
      ' fine-tune + aug |')
print('|---|---|---|---|---|')
for n in sizes:
  cells = []
  for method in ('control', 'finetune'):
    for aug in ('none', 'gen'):
      f = out / f'{method}-n{n}-{aug}{suffix}' / 'fit' / 'results.json'
      if f.is_file():
        r = json.loads(f.read_text())
        cells.append(f"{r['mpjpe_mm']:.1f} / {r['pa_mpjpe_mm']:.1f}")
      else:
        cells.append('missing')
  print(f'| {n} | ' + ' | '.join(cells) + ' |')
PY
