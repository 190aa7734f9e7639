r"""Prior v2: the adult prior trained on all CMU mocap here, subjects held out.

Data: data.root/cmu + data.root/cmu_extra (ASF/AMC and Daz-style BVH; a
take present in both is read once, from the AMC), one frame every 1/30 s of
each take, near-duplicates (< 1 cm mean joint distance) dropped; the CMU
subjects of `prior_data.CMU_SPLITS['val']` and `['test']` are held out
(data.prior_split = 'train'), and the DSM loss on the 'val' subjects is
logged as val/loss (EMA) and val/loss_raw in metrics.jsonl.

Command (from the repository root): see experiments/RESULTS.md "Prior v2"
for the run that made the shipped model and the variants it was chosen
from (on the held-out 'val' subjects only).

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
