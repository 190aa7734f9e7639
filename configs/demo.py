r"""The embedded default run: needs no dataset and no network.

Lifts the demo set shipped inside the package (zedoi_jax/demo_data: 32
infant-like poses made by the project's own model, seen by a known camera;
see zedoi_jax/demo_data/README.md) with the shipped infant model (the adult
CMU prior + the SyRIP control branch), then writes the 3D
(predictions.npz, poses_3d.json), the pictures, and the error against the
demo's known 3D beside the mean-pose baseline (results.json):

  python -m zedoi_jax.main --config=configs/demo.py --workdir=/tmp/zedoi_demo

The fit is the SyRIP configuration's, unchanged (configs/syrip.py: the
infant fit chosen on SyRIP validation, one hypothesis): it ends in seconds
on a laptop CPU once compiled.
"""

from configs import syrip


def get_config(arg=None):
  """The demo configuration; 'quick' = a few poses and steps (tests)."""
  config = syrip.get_config()
  config.mode = 'fit'
  config.data.name = 'demo'
  config.data.split = 'all'
  config.fit.batch_size = 64
  config.eval.num_pictures = 4
  # The trajectory pictures refit poses (a second compile): skipped here.
  config.eval.num_trajectories = 0
  if arg == 'quick':
    config.data.max_poses = 8
    config.fit.ipo_steps = 20
    config.fit.oil_steps = 10
    config.fit.solve_t_last = 2
    config.fit.init_sample_steps = 10
  elif arg:
    raise ValueError(f'unknown variant {arg!r}; known: quick')
  return config
