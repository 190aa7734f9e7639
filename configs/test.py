"""Tiny settings for tests: the same code paths in seconds on a CPU.

A 2-block, 32-unit score net, a few training steps, a few fit steps, few
poses. Used by tests/test_main.py end to end; not meant for results.

  python -m zedoi_jax.main --config=configs/test.py --workdir=/tmp/t \
      --config.mode=train_prior
"""

from configs import default


def get_config():
  """Returns the tiny test configuration."""
  config = default.get_config()
  config.progress = False
  config.log_every = 2
  # Cheap augmentation: full so3 + bone scaling costs seconds of compile.
  config.augment.rotation = 'vertical'
  config.augment.bone_scale = 0.0

  config.data.max_poses = 6
  config.data.subsample = 40

  config.model.hidden = 32
  config.model.num_blocks = 1
  config.model.embed_dim = 16
  config.model.num_groups = 4

  config.train.num_steps = 4
  config.train.batch_size = 16
  config.train.warmup_steps = 2
  config.train.checkpoint_every = 2

  config.adapt.num_steps = 2
  config.adapt.batch_size = 16

  config.guided.num_steps = 3
  config.guided.num_poses = 4

  config.fit.ipo_steps = 3
  config.fit.oil_steps = 4
  config.fit.solve_t_last = 2
  config.fit.init_sample_steps = 3
  config.fit.batch_size = 8

  config.eval.pictures = False
  config.lift.pictures = False
  return config
