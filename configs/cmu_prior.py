r"""The v1 adult prior recipe: ScoreNet trained on the four CMU takes.

No longer shipped: zedoi_jax/checkpoints/cmu_prior is now the v2 prior of
configs/cmu_prior_v2.py (29k poses, held-out subjects). This recipe stays
for comparison (experiments/RESULTS.md "Prior v2") and as the small quick
smoke-test run.

Command (from the repository root):

  python -m zedoi_jax.main --config=configs/cmu_prior.py \
      --workdir=/tmp/prior_run \
      --config.train.export_dir=W/model

Data: the four CMU takes in data.root/cmu (01_01 from ASF/AMC, 131_01..03
from BVH), every 4th frame, near-duplicates (< 1 cm mean joint distance to
the last kept frame) dropped: 1103 root-relative poses. Heavy augmentation
(uniform SO(3) rotation, mirror, 10 % global and 5 % per-bone scale) makes
up for the tiny set.

Measured (2-core CPU, shared with other jobs): 10,000 steps in 948 s
(~16 min; 17.9 steps/s when the machine is idle, ~10 under load); final DSM
loss 0.0765 (EMA 0.999); export 6.6 MB (1,850,547 parameters). Samples
(`python experiments/prior_stats.py`, EM 200 steps): bone-length means within
-16 %..+2 % of the data's (mean |diff| 6.6 %), left/right asymmetry 0.20
(data 0.03), nearest training pose (rotation-aligned) 73 mm median vs 13 mm
between held-out training poses: no memorisation, but the sampled bodies
are looser than the data (bone-length std 2-7 cm).

Variants: `configs/cmu_prior.py:quick` is a tiny network and 50 steps on the
same code path (about a minute on a CPU).
"""

from configs import default


def get_config(arg=None):
  """The shipped prior's config; arg 'quick' for a tiny smoke-test run."""
  config = default.get_config()
  config.mode = 'train_prior'
  config.data.name = 'cmu'
  config.log_every = 200

  config.model.hidden = 512
  config.model.num_blocks = 3
  config.model.embed_dim = 128
  config.model.num_groups = 32
  config.model.dropout = 0.0
  config.model.embedding = 'fourier'

  config.train.num_steps = 10000
  config.train.batch_size = 256
  config.train.learning_rate = 1e-3
  config.train.warmup_steps = 500
  config.train.final_lr_fraction = 0.02
  config.train.grad_clip = 1.0
  config.train.ema_rate = 0.999
  config.train.checkpoint_every = 1000

  if arg == 'quick':
    config.model.hidden = 64
    config.model.num_blocks = 2
    config.model.embed_dim = 32
    config.model.num_groups = 8
    config.train.num_steps = 50
    config.train.batch_size = 64
    config.train.warmup_steps = 10
    config.train.checkpoint_every = 25
    config.log_every = 10
  elif arg:
    raise ValueError(f'unknown config variant {arg!r}; known: quick')
  return config
