"""Tests for zedoi_jax.models.control: the ControlNet-style branch."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import losses
from zedoi_jax import sde as sde_lib
from zedoi_jax import training
from zedoi_jax.models import control
from zedoi_jax.models import score_net

KW = dict(num_joints=17, hidden=32, num_blocks=2, embed_dim=16,
          num_groups=4)


def random_prior(seed=0, kwargs=None):
  """Prior params with every leaf perturbed (the zero-init output layer
  would otherwise make every score trivially 0)."""
  model = score_net.ScoreNet(**(kwargs or KW))
  params = score_net.init_params(model, jax.random.key(seed))
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed + 100), len(leaves))
  leaves = [l + 0.2 * jax.random.normal(k, l.shape)
            for l, k in zip(leaves, keys)]
  return jax.tree.unflatten(treedef, leaves)


def noisy_inputs(b=6):
  x = jax.random.normal(jax.random.key(7), (b, 17, 3))
  t = jnp.linspace(0.02, 1.0, b)
  return x, t


class ControlTest(parameterized.TestCase):

  def test_controlled_equals_prior_at_init(self):
    prior = random_prior()
    ctrl = control.init_control_params(prior, KW)
    sde = sde_lib.get_sde('subvp')
    x, t = noisy_inputs()
    ref = jax.jit(score_net.make_score_fn(score_net.ScoreNet(**KW), sde))(
        prior, x, t)
    fn = jax.jit(control.make_controlled_score_fn(
        prior_model_kwargs=KW, control_kwargs={}, sde=sde))
    got = fn({'prior': prior, 'control': ctrl}, x, t)
    self.assertGreater(float(jnp.abs(ref).mean()), 0.1)
    chex.assert_trees_all_equal(got, ref)

  def test_nonzero_residuals_change_the_score(self):
    prior = random_prior()
    ctrl = control.init_control_params(prior, KW)
    ctrl['zero_1']['bias'] = jnp.ones_like(ctrl['zero_1']['bias'])
    eps_fn = control.make_controlled_eps_fn(prior_model_kwargs=KW)
    x, t = noisy_inputs()
    base = score_net.make_eps_fn(score_net.ScoreNet(**KW))(prior, x, t)
    got = eps_fn({'prior': prior, 'control': ctrl}, x, t)
    self.assertGreater(float(jnp.abs(got - base).max()), 1e-3)

  def test_init_copies_prior_and_zeros_injections(self):
    prior = random_prior()
    ctrl = control.init_control_params(prior, KW)
    chex.assert_trees_all_equal(ctrl['trunk'], prior)
    self.assertEqual(sorted(ctrl), ['trunk', 'zero_0', 'zero_1'])
    for i in range(2):
      chex.assert_shape(ctrl[f'zero_{i}']['kernel'], (32, 32))
      self.assertEqual(float(jnp.abs(ctrl[f'zero_{i}']['kernel']).sum()), 0)
      self.assertEqual(float(jnp.abs(ctrl[f'zero_{i}']['bias']).sum()), 0)

  def test_merge_params_refuses_mismatches(self):
    prior = random_prior()
    with self.assertRaisesRegex(ValueError, 'shape mismatches'):
      control.init_control_params(prior, dict(KW, hidden=64, num_groups=4))
    with self.assertRaisesRegex(ValueError, 'missing'):
      control.init_control_params(prior, dict(KW, num_blocks=3))
    extra = dict(prior, surplus={'kernel': jnp.zeros((2, 2))})
    with self.assertRaisesRegex(ValueError, 'surplus'):
      control.init_control_params(extra, KW)

  def test_control_kwargs_checked(self):
    with self.assertRaisesRegex(ValueError, 'unknown control kwargs'):
      control.control_kwargs_with_defaults({'domain_flag': 1})
    with self.assertRaisesRegex(ValueError, 'condition'):
      control.control_kwargs_with_defaults({'condition': 'domain'})

  def test_train_step_moves_only_the_branch(self):
    prior = random_prior()
    prior_before = jax.tree.map(np.array, prior)
    ctrl = control.init_control_params(prior, KW)
    sde = sde_lib.get_sde('subvp')
    tx, _ = training.make_optimizer(learning_rate=1e-2, num_steps=10)
    eps_c = control.make_controlled_eps_fn(prior_model_kwargs=KW)

    def eps_fn(trainable, frozen, x_t, t, rng):
      return eps_c({'prior': frozen, 'control': trainable}, x_t, t, rng=rng,
                   train=True)

    step = jax.jit(losses.make_train_step(
        sde=sde, tx=tx, ema_rate=0.9, batch_size=8, eps_fn=eps_fn))
    poses = 0.1 * jax.random.normal(jax.random.key(3), (20, 17, 3))
    state = losses.init_state(ctrl, tx)
    rng = jax.random.key(0)
    s1, m1 = step(state, poses, rng, prior)
    s2, _ = step(s1, poses, rng, prior)
    self.assertTrue(bool(m1['finite']))
    # The prior, passed as an argument, is bitwise unchanged.
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, prior),
                                prior_before)
    # Step 1 moves only the zero layers (their inputs' gradient is 0 while
    # the kernels are 0); step 2 moves the trunk copy too.
    self.assertTrue(np.any(s1['params']['zero_0']['kernel'] != 0))
    chex.assert_trees_all_equal(s1['params']['trunk'], ctrl['trunk'])
    moved = [bool(np.any(np.asarray(a) != np.asarray(b))) for a, b in zip(
        jax.tree.leaves(s2['params']['trunk']['block_0']),
        jax.tree.leaves(ctrl['trunk']['block_0']))]
    self.assertTrue(all(moved), moved)
    # The optimiser state holds Adam moments of the branch only: its array
    # leaves have exactly the branch's paths and shapes, twice (mu, nu).
    ctrl_shapes = sorted(
        (jax.tree_util.keystr(p), l.shape)
        for p, l in jax.tree_util.tree_flatten_with_path(ctrl)[0])
    opt_leaves = [
        (jax.tree_util.keystr(p), l.shape)
        for p, l in jax.tree_util.tree_flatten_with_path(s2['opt_state'])[0]
        if np.ndim(l) > 0]
    self.assertLen(opt_leaves, 2 * len(ctrl_shapes))
    for prefix in ('.mu', '.nu'):
      got = sorted((k.split(prefix, 1)[1], s) for k, s in opt_leaves
                   if prefix in k)
      self.assertEqual(got, ctrl_shapes)
    self.assertNotIn('prior', s2)
    self.assertNotIn('prior', s2['params'])


if __name__ == '__main__':
  absltest.main()
