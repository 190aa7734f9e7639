"""Tests for zedoi_jax.guided: the guided adult -> infant converter."""

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import guided
from zedoi_jax import sampling
from zedoi_jax import sde as sde_lib
from zedoi_jax.models import load

SDE = sde_lib.get_sde('subvp')


def _gaussian_model(centre: float, spread: float) -> load.PoseModel:
  """Analytic score of N(centre, spread^2 I) data under the sub-VP SDE."""

  def score_fn(params, x, t):
    a = SDE.alpha(t)[:, None, None]
    s = SDE.std(t)[:, None, None]
    return -(x - a * params['mu']) / (a**2 * spread**2 + s**2)

  params = {'mu': jnp.full((17, 3), centre, jnp.float32)}
  return load.PoseModel(score_fn, params, SDE, 1.0, {'model': {}})


class GuidedTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.prior = _gaussian_model(0.3, 0.05)
    self.infant = _gaussian_model(0.1, 0.02)
    self.score_fn, self.params = guided.make_guided_score_fn(
        self.prior, self.infant)
    self.convert = guided.make_convert_fn(self.score_fn, SDE, num_steps=20)
    self.poses = jax.random.normal(jax.random.key(1), (4, 17, 3)) * 0.1
    self.ids = jnp.arange(4, dtype=jnp.int32)

  def _run(self, weight, seed=0, poses=None, ids=None):
    params = dict(self.params, weight=jnp.float32(weight))
    return self.convert(jax.random.key(seed),
                        self.poses if poses is None else poses,
                        self.ids if ids is None else ids, params,
                        jnp.float32(0.2))

  def test_shapes_and_finite(self):
    out = self._run(1.0)
    chex.assert_shape(out, (4, 17, 3))
    chex.assert_tree_all_finite(out)

  def test_weight_zero_is_the_unguided_infant_sampler(self):
    out = self._run(0.0)
    for i in range(4):
      key = jax.random.fold_in(jax.random.key(0), i)
      ref = sampling.denoise_from(key, self.infant.score_fn,
                                  self.infant.params, SDE,
                                  self.poses[i][None], 0.2, 20)[0]
      chex.assert_trees_all_close(out[i], ref, atol=1e-5)

  def test_guidance_pushes_away_from_the_adult_model(self):
    # With w > 0 the result moves further from the adult mean (0.3) than
    # the infant model alone does.
    d0 = float(jnp.mean(jnp.abs(self._run(0.0) - 0.3)))
    d2 = float(jnp.mean(jnp.abs(self._run(2.0) - 0.3)))
    self.assertGreater(d2, d0)

  def test_deterministic_by_seed_and_batch_independent(self):
    chex.assert_trees_all_equal(self._run(1.0, seed=3), self._run(1.0, seed=3))
    self.assertFalse(np.allclose(self._run(1.0, seed=3),
                                 self._run(1.0, seed=4)))
    # Pose 2 alone (padded batch of copies) equals pose 2 inside the batch.
    alone = self._run(1.0, poses=jnp.repeat(self.poses[2:3], 4, 0),
                      ids=jnp.full((4,), 2, jnp.int32))
    chex.assert_trees_all_close(alone[0], self._run(1.0)[2], atol=1e-6)

  def test_rescale_and_ratios(self):
    pose = np.zeros((1, 17, 3), np.float32)
    pose[0, 1:] = np.random.RandomState(0).randn(16, 3) * 0.2
    scaled, factor = guided.rescale_to(pose, 1.0)
    total = guided.skeleton.bone_lengths(scaled, 'h36m17').sum()
    self.assertAlmostEqual(float(total), 1.0, places=5)
    self.assertEqual(factor.shape, (1,))
    ratios = guided.bone_ratios(np.concatenate([pose, scaled]))
    self.assertAlmostEqual(ratios['thigh/shin']['std'], 0.0, places=5)

  def test_quality_posture_change_and_symmetry(self):
    rs = np.random.RandomState(0)
    half = rs.randn(9, 3) * 0.1
    # A left/right symmetric pose: mirror joints are x-negated copies.
    layout = guided.skeleton.get_layout('h36m17')
    pose = np.zeros((17, 3), np.float32)
    for j in range(17):
      pose[j] = half[j % 9]
    for j in range(17):
      if j in layout.left_joints:
        pose[j] = pose[layout.flip_index[j]] * np.array([-1.0, 1.0, 1.0])
    # Mid-line joints (pelvis, spine, thorax, neck, head) on the x = 0 plane.
    pose[[0, 7, 8, 9, 10], 0] = 0.0
    pose -= pose[0]
    sym = np.stack([pose, pose])
    stretched = sym.copy()
    # Longer left shin only: the symmetry error must notice it.
    left_knee, left_ankle = 5, 6
    stretched[:, left_ankle] += 0.5 * (stretched[:, left_ankle] -
                                       stretched[:, left_knee])
    q = guided.quality(sym, sym, sym, sym)
    self.assertAlmostEqual(q['to_source_mm'], 0.0, places=4)
    self.assertAlmostEqual(q['symmetry_error']['generated'], 0.0, places=5)
    self.assertAlmostEqual(q['nearest_infant_mm']['generated'], 0.0,
                           places=3)
    q = guided.quality(stretched, sym, sym, sym)
    self.assertGreater(q['symmetry_error']['generated'], 0.01)
    self.assertAlmostEqual(q['symmetry_error']['source_rescaled'], 0.0,
                           places=5)
    self.assertGreater(q['to_source_mm'], 1.0)


if __name__ == '__main__':
  absltest.main()
