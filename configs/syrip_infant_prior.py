r"""A prior trained from scratch on infant poses only (ZeDO-i's row).

Trains a ScoreNet of the adult prior's size on the 500 SyRIP train-split
poses alone (mode 'adapt', method 'scratch': same data, augmentation and
loop as the adaptations) and evaluates it as a prior on the SyRIP test split
(200 train200 images):

  python -m zedoi_jax.main --config=configs/syrip_infant_prior.py \
      --config.mode=adapt --workdir=/tmp/syrip_infant_prior_run \
      --config.train.export_dir=zedoi_jax/checkpoints/syrip_infant_prior
  python -m zedoi_jax.main --config=configs/syrip_infant_prior.py \
      --workdir=/tmp/syrip_infant_prior_fit

(the first command without --config.train.export_dir exports to
WORKDIR/model; fit that with --config.init.prior=WORKDIR/model).

Runtime (2-core CPU, shared): 4000 steps in 322 s; fit about 45 s.
Results (MPJPE / PA-MPJPE mm, weak ground truth): GT 2D 197.3 / 53.9, FiDIP
2D 494.7 / 51.9: the prior's samples (the fit's initial poses) have heavy
outliers and a few fits diverge; 500 poses are too few for a prior from
scratch. Measured with fit.t_max 0.1 (set below). See
experiments/RESULTS.md.
"""

from configs import syrip

SHIPPED_PRIOR = 'syrip_infant_prior'


def get_config(arg=None):
  """syrip.py with a from-scratch infant prior; 'quick' = few steps."""
  config = syrip.get_config(arg)
  config.adapt.method = 'scratch'
  config.init.prior = SHIPPED_PRIOR
  config.init.adapted = ''
  # The shipped adult prior's architecture, so the rows compare priors of
  # equal capacity; metres as the model unit like the adult prior.
  config.model.hidden = 512
  config.model.num_blocks = 3
  config.model.embed_dim = 128
  config.model.num_groups = 32
  config.adapt.num_steps = 4000
  config.adapt.learning_rate = 1e-3
  # The shipped model predates the validation split and the v2 choices: it
  # was trained on all 500 adaptation images with SO(3) rotation, and its
  # numbers were measured with the paper's fit (1000 OIL steps, t_max 0.1).
  # Pinned here so that this config still re-makes and re-scores it.
  config.adapt.split = 'train'
  config.augment.rotation = 'so3'
  config.fit.t_max = 0.1
  config.fit.em_dt = 1e-3
  if arg != 'quick':
    config.fit.oil_steps = 1000
    config.fit.solve_t_last = 50
  if arg == 'quick':
    config.model.hidden = 64
    config.model.num_blocks = 2
    config.model.embed_dim = 32
    config.model.num_groups = 8
    config.adapt.num_steps = 20
  return config
