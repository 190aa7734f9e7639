"""Tests for zedoi_jax.losses: DSM loss, update, train-step factories."""

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from zedoi_jax import pose_augment
from zedoi_jax import losses
from zedoi_jax import sde as sde_lib
from zedoi_jax.data import prior_data
from zedoi_jax.models import score_net

KW = dict(num_joints=17, hidden=32, num_blocks=1, embed_dim=16, num_groups=4)


def _setup(batch_size=32, lr=1e-2):
  model = score_net.ScoreNet(**KW)
  sde = sde_lib.get_sde('subvp')
  tx = optax.adam(lr)
  params = score_net.init_params(model, jax.random.key(0))
  state = losses.init_state(params, tx)
  poses = jnp.asarray(prior_data.synthetic_poses(64, seed=1))
  return model, sde, tx, state, poses


class LossesTest(absltest.TestCase):

  def test_dsm_loss_is_noise_mse(self):
    sde = sde_lib.get_sde('vp')
    x0 = jnp.zeros((4, 17, 3))
    # A predictor that outputs zero has loss E[z^2] ~= 1; an oracle that
    # knows x0 = 0 recovers z = x_t / std exactly (loss ~ 0).
    zero = losses.make_dsm_loss(lambda p, f, x, t, r: jnp.zeros_like(x), sde)
    oracle = losses.make_dsm_loss(
        lambda p, f, x, t, r: x / sde.std(t)[:, None, None], sde)
    l0, _ = zero(None, None, jnp.zeros((256, 17, 3)), jax.random.key(0))
    l1, _ = oracle(None, None, x0, jax.random.key(0))
    self.assertAlmostEqual(float(l0), 1.0, delta=0.05)
    self.assertLess(float(l1), 1e-8)

  def test_loss_decreases(self):
    model, sde, tx, state, poses = _setup()
    step = jax.jit(losses.make_train_step(
        model=model, sde=sde, tx=tx, ema_rate=0.9, batch_size=64,
        augment_fn=pose_augment.make_augment_fn(rotation='none')))
    rng = jax.random.key(1)
    first = []
    for _ in range(50):
      state, m = step(state, poses, rng)
      first.append(float(m['loss']))
      self.assertTrue(bool(m['finite']))
    self.assertEqual(int(state['step']), 50)
    self.assertLess(np.mean(first[-10:]), 0.8 * np.mean(first[:5]))
    # The EMA moved away from the initial parameters but lags the params.
    init = score_net.init_params(model, jax.random.key(0))
    d_ema = optax.tree.norm(jax.tree.map(jnp.subtract, state['ema_params'],
                                           init))
    d_par = optax.tree.norm(jax.tree.map(jnp.subtract, state['params'],
                                           init))
    self.assertGreater(float(d_ema), 0.0)
    self.assertLess(float(d_ema), float(d_par))

  def test_second_call_does_not_recompile(self):
    model, sde, tx, state, poses = _setup()
    step_fn = losses.make_train_step(model=model, sde=sde, tx=tx,
                                     ema_rate=0.99, batch_size=16)
    step = jax.jit(chex.assert_max_traces(step_fn, n=1))
    rng = jax.random.key(2)
    state, _ = step(state, poses, rng)
    state, _ = step(state, poses, rng)
    state, _ = step(state, poses, rng)
    self.assertEqual(int(state['step']), 3)

  def test_keys_depend_on_step_only(self):
    model, sde, tx, state, poses = _setup()
    step = jax.jit(losses.make_train_step(model=model, sde=sde, tx=tx,
                                          ema_rate=0.99, batch_size=16))
    rng = jax.random.key(3)
    s1, _ = step(state, poses, rng)
    s2, _ = step(s1, poses, rng)
    s2b, _ = step(s1, poses, rng)  # same step counter -> same result
    chex.assert_trees_all_equal(s2, s2b)
    chex.assert_trees_all_equal(s2['step'], 2)

  def test_nan_guard_keeps_state(self):
    model, sde, tx, state, poses = _setup()
    bad = poses.at[:, 3, 0].set(jnp.nan)
    step = jax.jit(losses.make_train_step(model=model, sde=sde, tx=tx,
                                          ema_rate=0.99, batch_size=8))
    new, m = step(state, bad, jax.random.key(4))
    self.assertFalse(bool(m['finite']))
    chex.assert_trees_all_equal(new, state)

  def test_nan_guard_after_steps_keeps_state_bit_identical(self):
    # Mid-run (EMA behind the params, Adam moments and count non-zero) a NaN
    # batch must leave every leaf as it was: params, EMA, step and opt_state.
    model, sde, tx, state, poses = _setup()
    step = jax.jit(losses.make_train_step(model=model, sde=sde, tx=tx,
                                          ema_rate=0.99, batch_size=8))
    for _ in range(3):
      state, m = step(state, poses, jax.random.key(7))
      self.assertTrue(bool(m['finite']))
    self.assertGreater(float(optax.tree.norm(optax.tree.sub(
        state['params'], state['ema_params']))), 0.0)
    bad = poses.at[:, 3, 0].set(jnp.nan)
    new, m = step(state, bad, jax.random.key(7))
    self.assertFalse(bool(m['finite']))
    self.assertEqual(int(new['step']), 3)
    chex.assert_trees_all_equal(new, state)

  def test_nan_loss_with_finite_gradient_keeps_state(self):
    # The guard reads the loss too, not only the gradient.
    def loss_fn(trainable, frozen, batch, rng):
      del frozen, rng
      loss = jnp.sum(jnp.square(trainable['w'] - batch))
      return loss + jax.lax.stop_gradient(jnp.nan), {}

    tx = optax.adam(1e-2)
    state = losses.init_state({'w': jnp.ones(3)}, tx)
    update = jax.jit(losses.make_update_fn(loss_fn, tx, 0.9))
    new, m = update(state, None, jnp.zeros(3), jax.random.key(0))
    self.assertTrue(bool(jnp.isfinite(m['grad_norm'])))
    self.assertFalse(bool(m['finite']))
    chex.assert_trees_all_equal(new, state)

  def test_ema_matches_closed_form(self):
    # e_n = prod_s d_s e_0 + sum_s (1 - d_s) prod_{r>s} d_r p_{s+1}, with
    # d_s = min(rate, (1 + s) / (10 + s)) (the cap is reached at s = 8).
    def loss_fn(trainable, frozen, batch, rng):
      del frozen, rng
      return jnp.sum(jnp.square(trainable['w'] - batch)), {}

    rate, n = 0.5, 12
    tx = optax.sgd(0.3)
    w0 = np.array([1.0, -2.0, 0.5])
    state = losses.init_state({'w': jnp.asarray(w0, jnp.float32)}, tx)
    update = jax.jit(losses.make_update_fn(loss_fn, tx, rate))
    targets = np.random.default_rng(0).normal(size=(n, 3))
    trajectory = []  # p_{s+1}: the params after step s
    for s in range(n):
      state, m = update(state, None, jnp.asarray(targets[s], jnp.float32),
                        jax.random.key(s))
      self.assertTrue(bool(m['finite']))
      trajectory.append(np.asarray(state['params']['w'], np.float64))
    d = np.minimum(rate, (1.0 + np.arange(n)) / (10.0 + np.arange(n)))
    tail = [np.prod(d[s + 1:]) for s in range(n)]
    want = np.prod(d) * w0 + sum((1.0 - d[s]) * tail[s] * trajectory[s]
                                 for s in range(n))
    self.assertEqual(int(state['step']), n)
    np.testing.assert_allclose(np.asarray(state['ema_params']['w']), want,
                               rtol=0, atol=1e-6)
    # Not trivially the params: the EMA lags them.
    self.assertGreater(np.abs(want - trajectory[-1]).max(), 1e-3)

  def test_frozen_argument_is_not_trained(self):
    # Adaptation pattern: a trainable residual over a frozen network.
    model, sde, _, _, poses = _setup()
    frozen = score_net.init_params(model, jax.random.key(5))
    frozen['output']['kernel'] = 0.1 * jnp.ones_like(
        frozen['output']['kernel'])

    def eps_fn(trainable, frozen_params, x, t, rng):
      del rng
      base = model.apply({'params': frozen_params}, x, t)
      return base + trainable['bias']

    trainable = {'bias': jnp.zeros((17, 3))}
    tx = optax.adam(1e-2)
    state = losses.init_state(trainable, tx)
    step = jax.jit(losses.make_train_step(eps_fn=eps_fn, sde=sde, tx=tx,
                                          ema_rate=0.5, batch_size=8))
    frozen_before = jax.tree.map(np.array, frozen)
    new, m = step(state, poses, jax.random.key(6), frozen)
    self.assertTrue(bool(m['finite']))
    self.assertEqual(set(new['params']), {'bias'})
    self.assertGreater(float(jnp.abs(new['params']['bias']).max()), 0.0)
    chex.assert_trees_all_equal(frozen, frozen_before)

  def test_ema_decay_warmup(self):
    self.assertAlmostEqual(float(losses.ema_decay(jnp.asarray(0), 0.999)),
                           0.1)
    self.assertAlmostEqual(
        float(losses.ema_decay(jnp.asarray(10**6), 0.999)), 0.999, places=6)

  def test_bad_arguments(self):
    model, sde, tx, _, _ = _setup()
    with self.assertRaises(ValueError):
      losses.make_train_step(sde=sde, tx=tx, ema_rate=0.9, batch_size=4)
    with self.assertRaises(ValueError):
      losses.make_train_step(model=model, sde=sde, tx=tx, ema_rate=1.0,
                             batch_size=4)
    with self.assertRaises(ValueError):
      losses.make_train_step(model=model, sde=sde, tx=tx, ema_rate=0.9,
                             batch_size=0)


if __name__ == '__main__':
  absltest.main()
