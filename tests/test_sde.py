"""Tests for zedoi_jax.sde: marginals against closed form, reverse drift."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import sde as sde_lib

BMIN, BMAX = 0.1, 20.0


def _int_beta(t):
  return BMIN * t + 0.5 * (BMAX - BMIN) * t**2


class SdeTest(parameterized.TestCase):

  @parameterized.product(name=['vp', 'subvp'], t=[1e-3, 0.3, 1.0])
  def test_marginal_std_closed_form(self, name, t):
    sde = sde_lib.get_sde(name, beta_min=BMIN, beta_max=BMAX)
    x = jnp.ones((2, 17, 3))
    mean, std = sde.marginal_prob(x, jnp.full((2,), t))
    var_vp = 1.0 - np.exp(-_int_beta(t))
    want_std = np.sqrt(var_vp) if name == 'vp' else var_vp
    np.testing.assert_allclose(std, [want_std] * 2, rtol=1e-5)
    np.testing.assert_allclose(mean, np.exp(-0.5 * _int_beta(t)) * x,
                               rtol=1e-5)

  @parameterized.parameters('vp', 'subvp')
  def test_std_limits(self, name):
    sde = sde_lib.get_sde(name)
    # Near t=0 the noise vanishes; at t=T it is (almost) unit variance.
    self.assertLess(float(sde.std(jnp.asarray(sde.eps))), 0.02)
    self.assertGreater(float(sde.std(jnp.asarray(sde.T))), 0.999)
    self.assertLess(float(sde.alpha(jnp.asarray(sde.T))), 0.01)

  @parameterized.product(name=['vp', 'subvp'], flow=[False, True])
  def test_reverse_step_moves_towards_the_data(self, name, flow):
    # Data = a point mass at 0: the exact score is -x / std^2; integrating
    # the reverse drift backwards in time must shrink |x|.
    sde = sde_lib.get_sde(name)
    x = jax.random.normal(jax.random.key(0), (4, 17, 3))
    for t_val in (0.05, 0.5, 0.95):
      t = jnp.full((4,), t_val)
      score = -x / sde.std(t)[:, None, None]**2
      drift = sde.reverse_drift(x, t, score, probability_flow=flow)
      self.assertTrue(bool(jnp.all(drift * x > 0)))
      x_new = x - drift * 1e-3
      self.assertTrue(bool(jnp.all(jnp.abs(x_new) < jnp.abs(x))))

  def test_euler_maruyama_noise_free_matches_drift(self):
    sde = sde_lib.get_sde('subvp')
    x = jnp.ones((2, 3, 3))
    t = jnp.full((2,), 0.5)
    score = -x
    out = sde_lib.euler_maruyama_step(sde, jax.random.key(0), x, t, 0.01,
                                      score, add_noise=False)
    chex.assert_trees_all_close(
        out, x - sde.reverse_drift(x, t, score) * 0.01, rtol=1e-6)

  def test_tweedie_inverts_noising_with_exact_score(self):
    # For a point mass at x0 the exact score is -(x_t - alpha x0) / std^2.
    sde = sde_lib.get_sde('vp')
    x0 = jax.random.normal(jax.random.key(1), (3, 5, 3))
    t = jnp.full((3,), 0.4)
    mean, std = sde.marginal_prob(x0, t)
    x_t = mean + std[:, None, None] * jax.random.normal(jax.random.key(2),
                                                        x0.shape)
    score = -(x_t - mean) / std[:, None, None]**2
    chex.assert_trees_all_close(sde_lib.tweedie_denoise(sde, x_t, t, score),
                                x0, atol=1e-4)

  def test_bad_arguments(self):
    with self.assertRaises(ValueError):
      sde_lib.get_sde('ve')
    with self.assertRaises(ValueError):
      sde_lib.get_sde('vp', beta_min=5.0, beta_max=1.0)


if __name__ == '__main__':
  absltest.main()
