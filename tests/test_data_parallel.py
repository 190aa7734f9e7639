"""Data-parallel training: a step split over 8 fake devices equals one
device's step, and the train state stays replicated."""

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp

from zedoi_jax import losses
from zedoi_jax import parallel
from zedoi_jax import sde as sde_lib
from zedoi_jax import training
from zedoi_jax.data import prior_data
from zedoi_jax.models import score_net


class DataParallelTest(absltest.TestCase):

  def test_sharded_step_matches_single_device(self):
    self.assertEqual(jax.device_count(), 8)  # from tests/conftest.py
    model = score_net.ScoreNet(num_joints=17, hidden=32, num_blocks=1,
                               embed_dim=16, num_groups=4)
    sde = sde_lib.get_sde('subvp')
    tx, _ = training.make_optimizer(learning_rate=1e-3, num_steps=4,
                                 warmup_steps=1, final_lr_fraction=0.1,
                                 grad_clip=1.0, weight_decay=0.0)
    poses = jnp.asarray(prior_data.synthetic_poses(64, seed=0))
    state = losses.init_state(
        score_net.init_params(model, jax.random.key(0)), tx)
    rng = jax.random.key(1)
    mesh = training.data_parallel_mesh(16)
    self.assertIsNotNone(mesh)
    self.assertIsNone(training.data_parallel_mesh(12))  # does not split

    def make(sharding):
      return jax.jit(losses.make_train_step(
          model=model, sde=sde, tx=tx, ema_rate=0.9, batch_size=16,
          batch_sharding=sharding))

    single, m1 = make(None)(state, poses, rng)
    placed_state, placed_poses = training.place_for_training(mesh, state, poses)
    sharded, m8 = make(parallel.batch_sharding(mesh))(placed_state,
                                                      placed_poses, rng)
    chex.assert_trees_all_close(sharded['params'], single['params'],
                                atol=1e-5, rtol=1e-4)
    self.assertAlmostEqual(float(m1['loss']), float(m8['loss']), places=4)
    leaf = jax.tree.leaves(sharded['params'])[0]
    self.assertEqual(len(leaf.sharding.device_set), 8)
    self.assertTrue(leaf.sharding.is_fully_replicated)


if __name__ == '__main__':
  absltest.main()
