"""Tests for zedoi_jax.sampling: samplers with exact scores, statistics."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import sampling
from zedoi_jax import sde as sde_lib
from zedoi_jax import skeleton
from zedoi_jax.data import prior_data

S = 0.3  # data std of the Gaussian toy distribution


def _gaussian_score(sde, mu):
  """Exact score of p_t when the data is N(mu, S^2 I) (mu: [J, 3])."""

  def score_fn(params, x, t):
    del params
    a = sde.alpha(t)[:, None, None]
    var = a**2 * S**2 + sde.std(t)[:, None, None]**2
    return -(x - a * mu) / var

  return score_fn


class SamplingTest(parameterized.TestCase):

  @parameterized.product(method=['em', 'ode', 'pc'], name=['vp', 'subvp'])
  def test_recovers_gaussian_data(self, method, name):
    sde = sde_lib.get_sde(name)
    mu = jnp.asarray(prior_data.synthetic_poses(1, seed=0)[0])
    score_fn = _gaussian_score(sde, mu)
    draw = jax.jit(lambda rng: sampling.sample(
        rng, score_fn, None, sde, num_samples=512, num_joints=17,
        num_steps=200, method=method))
    x = draw(jax.random.key(0))
    chex.assert_shape(x, (512, 17, 3))
    chex.assert_tree_all_finite(x)
    np.testing.assert_allclose(x.mean(0), mu, atol=0.06)
    self.assertAlmostEqual(float((x - mu).std()), S, delta=0.03)

  def test_samples_depend_on_key_and_ode_is_smooth(self):
    sde = sde_lib.get_sde('subvp')
    score_fn = _gaussian_score(sde, jnp.zeros((17, 3)))
    kw = dict(num_samples=4, num_joints=17, num_steps=20)
    a = sampling.sample(jax.random.key(1), score_fn, None, sde, **kw)
    b = sampling.sample(jax.random.key(2), score_fn, None, sde, **kw)
    self.assertGreater(float(jnp.abs(a - b).max()), 1e-3)
    chex.assert_trees_all_equal(
        a, sampling.sample(jax.random.key(1), score_fn, None, sde, **kw))

  def test_denoise_from(self):
    sde = sde_lib.get_sde('subvp')
    mu = jnp.asarray(prior_data.synthetic_poses(1, seed=0)[0])
    score_fn = _gaussian_score(sde, mu)
    x0 = jnp.broadcast_to(mu, (256, 17, 3)) + 0.5
    # Barely noised: stays at x0.
    near = sampling.denoise_from(jax.random.key(3), score_fn, None, sde, x0,
                                 0.01, 10)
    self.assertLess(float(jnp.abs(near - x0).mean()), 0.05)
    # Fully noised: forgets x0 and lands on the data distribution.
    far = jax.jit(lambda r, x: sampling.denoise_from(
        r, score_fn, None, sde, x, 1.0, 200))(jax.random.key(4), x0)
    np.testing.assert_allclose(far.mean(0), mu, atol=0.08)
    self.assertAlmostEqual(float((far - mu).std()), S, delta=0.04)

  def test_bad_arguments(self):
    sde = sde_lib.get_sde('subvp')
    score_fn = _gaussian_score(sde, jnp.zeros((17, 3)))
    with self.assertRaises(ValueError):
      sampling.sample(jax.random.key(0), score_fn, None, sde, num_samples=2,
                      num_joints=17, num_steps=0)
    with self.assertRaises(ValueError):
      sampling.sample(jax.random.key(0), score_fn, None, sde, num_samples=2,
                      num_joints=17, num_steps=3, method='heun')


class StatsTest(absltest.TestCase):

  def test_bone_stats(self):
    x = prior_data.synthetic_poses(10, seed=1)
    stats = sampling.bone_stats(x)
    want = skeleton.bone_lengths(x, 'h36m17')
    np.testing.assert_allclose(stats['mean'], want.mean(0), rtol=1e-6)
    # Synthetic poses keep the template's bone lengths: std ~ 0.
    self.assertLess(float(stats['std'].max()), 1e-5)
    self.assertLen(stats['mean'], 16)

  def test_symmetry(self):
    x = prior_data.synthetic_poses(10, seed=1)
    sym = sampling.symmetry_error(x)
    self.assertLen(sym['pairs'], 6)  # hip, thigh, shin, collar, arm, forearm
    self.assertLess(sym['mean'], 1e-5)
    y = x.copy()
    y[:, 6] = y[:, 5] + 1.5 * (y[:, 6] - y[:, 5])  # longer left shin
    sym = sampling.symmetry_error(y)
    self.assertAlmostEqual(max(sym['per_pair']), 0.4, delta=0.01)

  def test_nearest_distance(self):
    data = prior_data.synthetic_poses(20, seed=2)
    d = sampling.nearest_distance(data[:5], data, chunk=2)
    np.testing.assert_allclose(d, 0.0, atol=1e-6)
    d = sampling.nearest_distance(data[:3] + np.array([0.1, 0, 0]), data)
    self.assertTrue(np.all(d <= 0.1 + 1e-6))
    self.assertTrue(np.all(d > 0))


if __name__ == '__main__':
  absltest.main()
