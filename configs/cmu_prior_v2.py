r"""Prior v2: the adult prior trained on all CMU mocap here, subjects held out.

Data: data.root/cmu + data.root/cmu_extra (ASF/AMC and Daz-style BVH; a
take present in both is read once, from the AMC), one frame every 1/30 s of
each take, near-duplicates (< 1 cm mean joint distance) dropped; the CMU
subjects of `prior_data.CMU_SPLITS['val']` and `['test']` are held out
(data.prior_split = 'train'), and the DSM loss on the 'val' subjects is
logged as val/loss (EMA) and val/loss_raw in metrics.jsonl.

The shipped adult prior (zedoi_jax/checkpoints/cmu_prior) was made by:

  python -m zedoi_jax.main --config=configs/cmu_prior_v2.py \
      --workdir=/tmp/prior_v2 \
      --config.train.export_dir=zedoi_jax/checkpoints/cmu_prior

512 x 3 ScoreNet (1.85M parameters), yaw + tilt <= 30 deg rotation, mirror,
global scale +-15 %, per-bone +-5 %, 20,000 steps of batch 256 (about 33 min
on the 2-core CPU when it had both cores). Chosen on the held-out 'val'
subjects only (experiments/RESULTS.md "Prior v2": yaw + tilt beat SO(3) by
30 mm PA-MPJPE; 20k steps beat 8k by 10 mm); final val DSM loss 0.0764.

Variants: 'quick' is a tiny network and 50 steps on the same data.
"""

from configs import cmu_prior


def get_config(arg=None):
  config = cmu_prior.get_config('quick' if arg == 'quick' else None)
  config.data.mocap_files = 'cmu,cmu_extra'
  config.data.prior_split = 'train'
  config.data.sample_hz = 30.0
  config.augment.rotation = 'yaw_tilt'
  config.augment.max_tilt = 30.0
  config.augment.global_scale = 0.15
  config.train.num_steps = 20000
  config.train.warmup_steps = 1000
  config.train.checkpoint_every = 1000
  config.log_every = 500
  if arg == 'quick':
    config.train.num_steps = 50
    config.log_every = 25
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; known: quick')
  return config
