"""Tests for zedoi_jax.metrics on hand-made poses."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import metrics


def _random_rotation(rng) -> np.ndarray:
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def _poses(rng, shape=(), joints=17) -> np.ndarray:
  return (rng.normal(size=shape + (joints, 3)) * 0.2).astype(np.float32)


class MpjpeTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(0)

  def test_zero_for_identical(self):
    gt = _poses(self.rng, (4,))
    chex.assert_trees_all_close(metrics.mpjpe(gt, gt), jnp.zeros(4))
    chex.assert_trees_all_close(metrics.pa_mpjpe(gt, gt), jnp.zeros(4),
                                atol=1e-5)
    chex.assert_trees_all_close(metrics.pck(gt, gt), jnp.ones(4))
    chex.assert_trees_all_close(metrics.auc(gt, gt), jnp.ones(4))

  def test_translation_invariant(self):
    gt = _poses(self.rng, (3,))
    pred = gt + self.rng.normal(size=gt.shape).astype(np.float32) * 0.01
    shift = np.array([[[0.5, -1.0, 3.0]]], np.float32)
    for roots in [(0,), (2, 3)]:
      chex.assert_trees_all_close(
          metrics.mpjpe(pred + shift, gt, root_joints=roots),
          metrics.mpjpe(pred, gt, root_joints=roots), atol=1e-6)
    # Without root alignment a shift is an error.
    self.assertGreater(
        float(metrics.mpjpe(pred + shift, gt, root_joints=None).min()), 1.0)

  def test_known_value(self):
    gt = np.zeros((4, 3), np.float32)
    gt[1] = [1, 0, 0]
    gt[2] = [0, 1, 0]
    gt[3] = [0, 0, 1]
    pred = gt.copy()
    pred[1] = [1, 0.3, 0.4]  # 0.5 off
    pred[3] = [0, 0, 2]  # 1.0 off
    self.assertAlmostEqual(float(metrics.mpjpe(pred, gt)), 1.5 / 4, places=6)
    chex.assert_trees_all_close(metrics.per_joint_error(pred, gt),
                                jnp.array([0, 0.5, 0, 1.0]), atol=1e-6)
    self.assertAlmostEqual(float(metrics.pck(pred, gt, threshold=0.6)), 0.75)
    self.assertAlmostEqual(float(metrics.pck(pred, gt, threshold=0.4)), 0.5)
    # AUC over {0, 0.5, 1}: pck 0.5, 0.75, 1.0.
    self.assertAlmostEqual(
        float(metrics.auc(pred, gt, thresholds=[0.0, 0.5, 1.0])), 0.75)
    # Root = mean of joints 0 and 1: pred's root moves by (0, .15, .2),
    # which shifts the other joints' error vectors.
    centred = metrics.per_joint_error(pred, gt, root_joints=(0, 1))
    expect = np.linalg.norm(
        (pred - pred[:2].mean(0)) - (gt - gt[:2].mean(0)), axis=-1)
    chex.assert_trees_all_close(centred, jnp.asarray(expect), atol=1e-6)

  def test_mask_excludes_joints(self):
    gt = _poses(self.rng, (2,))
    pred = gt.copy()
    pred[:, 5] += 10.0  # a wild joint
    mask = np.ones((2, 17), np.float32)
    mask[:, 5] = 0
    chex.assert_trees_all_close(metrics.mpjpe(pred, gt, mask=mask),
                                jnp.zeros(2), atol=1e-6)
    chex.assert_trees_all_close(metrics.pa_mpjpe(pred, gt, mask=mask),
                                jnp.zeros(2), atol=1e-4)
    chex.assert_trees_all_close(metrics.pck(pred, gt, mask=mask),
                                jnp.ones(2))
    self.assertGreater(float(metrics.mpjpe(pred, gt).min()), 0.5)
    # A pose with no joint left has no error, not zero error.
    empty = np.zeros((2, 17), np.float32)
    self.assertTrue(np.isnan(metrics.mpjpe(pred, gt, mask=empty)).all())

  def test_jit(self):
    gt = jnp.asarray(_poses(self.rng, (8,)))
    pred = gt + 0.01

    @jax.jit
    def f(p, g):
      return (metrics.mpjpe(p, g, root_joints=(2, 3)), metrics.pa_mpjpe(p, g),
              metrics.pck(p, g), metrics.auc(p, g))

    out = f(pred, gt)
    chex.assert_shape(out, [(8,)] * 4)
    eager = (metrics.mpjpe(pred, gt, root_joints=(2, 3)),
             metrics.pa_mpjpe(pred, gt), metrics.pck(pred, gt),
             metrics.auc(pred, gt))
    chex.assert_trees_all_close(out, eager, atol=1e-5)


class ProcrustesTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(1)

  @parameterized.parameters(0, 1, 2)
  def test_invariant_to_similarity(self, seed):
    rng = np.random.default_rng(seed)
    gt = _poses(rng, (2,))
    pred = gt + _poses(rng, (2,)) * 0.1
    rot = _random_rotation(rng).astype(np.float32)
    scale = np.float32(rng.uniform(0.5, 2.0))
    shift = rng.normal(size=(1, 1, 3)).astype(np.float32)
    moved = scale * pred @ rot.T + shift
    base = metrics.pa_mpjpe(pred, gt)
    self.assertGreater(float(base.min()), 1e-3)
    chex.assert_trees_all_close(metrics.pa_mpjpe(moved, gt), base,
                                atol=1e-5)
    chex.assert_trees_all_close(metrics.procrustes_align(moved, gt),
                                metrics.procrustes_align(pred, gt),
                                atol=1e-5)
    # Procrustes minimises the squared error, so its squared error never
    # exceeds that of root alignment (one of the transforms it considers).
    sq_pa = ((np.asarray(metrics.procrustes_align(pred, gt)) - gt)**2).sum(
        axis=(-1, -2))
    sq_root = ((pred - pred[:, :1]) - (gt - gt[:, :1]))**2
    self.assertTrue((sq_pa <= sq_root.sum(axis=(-1, -2)) + 1e-6).all())

  def test_recovers_exact_similarity(self):
    gt = _poses(self.rng, (3,))
    rot = _random_rotation(self.rng).astype(np.float32)
    pred = 0.7 * gt @ rot.T + np.float32(2.0)
    chex.assert_trees_all_close(metrics.procrustes_align(pred, gt), gt,
                                atol=1e-5)
    chex.assert_trees_all_close(metrics.pa_mpjpe(pred, gt), jnp.zeros(3),
                                atol=1e-5)

  def test_known_value(self):
    # Stretch x by 1.1 and squash y by 0.9: no similarity undoes that. The
    # best one is the identity rotation with scale 4 / 4.04, leaving errors
    # 0.36 / 4.04 (x joints) and 0.44 / 4.04 (y joints).
    gt = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], np.float32)
    pred = gt * np.array([1.1, 0.9, 1.0], np.float32)
    rot = _random_rotation(self.rng).astype(np.float32)
    pred = pred @ rot.T + np.float32(0.3)  # the similarity must not matter
    self.assertAlmostEqual(float(metrics.pa_mpjpe(pred, gt)), 0.4 / 4.04,
                           places=5)
    aligned = metrics.procrustes_align(pred, gt)
    chex.assert_trees_all_close(aligned[0], jnp.array([4.4 / 4.04, 0, 0]),
                                atol=1e-5)

  def test_no_reflection(self):
    gt = _poses(self.rng)
    mirrored = gt * np.array([-1.0, 1.0, 1.0], np.float32)
    self.assertGreater(float(metrics.pa_mpjpe(mirrored, gt)), 0.02)
    aligned = np.asarray(metrics.procrustes_align(mirrored, gt))
    # The fitted map is a proper similarity: no pose can become mirrored.
    centred = aligned - aligned.mean(0)
    src = mirrored - mirrored.mean(0)
    sol, *_ = np.linalg.lstsq(src, centred, rcond=None)
    self.assertGreater(np.linalg.det(sol), 0)

  def test_masked_alignment_ignores_outlier(self):
    gt = _poses(self.rng)
    rot = _random_rotation(self.rng).astype(np.float32)
    pred = gt @ rot.T
    pred[4] += 5.0
    mask = np.ones(17, np.float32)
    mask[4] = 0
    aligned = metrics.procrustes_align(pred, gt, mask)
    keep = np.arange(17) != 4
    chex.assert_trees_all_close(aligned[keep], jnp.asarray(gt[keep]),
                                atol=1e-4)


class HypothesesTest(parameterized.TestCase):

  def test_best_le_mean(self):
    rng = np.random.default_rng(2)
    gt = _poses(rng, (5,))
    hyps = gt[None] + _poses(rng, (6, 5)) * 0.3
    errors = metrics.mpjpe(hyps, gt[None])
    chex.assert_shape(errors, (6, 5))
    best, mean = metrics.best_of(errors), metrics.mean_of(errors)
    chex.assert_shape(best, (5,))
    self.assertTrue((np.asarray(best) <= np.asarray(mean)).all())
    self.assertTrue((np.asarray(best) < np.asarray(mean)).any())
    chex.assert_trees_all_close(best, jnp.asarray(np.min(errors, 0)))

  def test_aggregate_root_centres(self):
    gt = _poses(np.random.default_rng(3))
    # Two hypotheses symmetric about gt and far apart in translation.
    delta = np.zeros_like(gt)
    delta[1:] = 0.05
    hyps = np.stack([gt + delta + 3.0, gt - delta - 7.0])
    agg = metrics.aggregate_hypotheses(hyps)
    chex.assert_shape(agg, (17, 3))
    chex.assert_trees_all_close(agg, jnp.asarray(gt - gt[:1]), atol=1e-5)
    self.assertLess(float(metrics.mpjpe(agg, gt)), 1e-5)


class SummarizeTest(parameterized.TestCase):

  def test_values(self):
    gt = np.zeros((2, 4, 3), np.float32)
    gt[:, 1] = [1, 0, 0]
    gt[:, 2] = [0, 1, 0]
    gt[:, 3] = [0, 0, 1]
    pred = gt.copy()
    pred[0, 3] = [0, 0, 1.1]  # 100 mm off
    pred[1, 1] = [1.2, 0, 0]  # 200 mm off
    s = metrics.summarize(pred, gt, root_joints=(0,))
    self.assertEqual(s['num_poses'], 2)
    self.assertAlmostEqual(s['mpjpe_mm'], (25.0 + 50.0) / 2, places=3)
    np.testing.assert_allclose(s['per_joint_mpjpe_mm'], [0, 100, 0, 50],
                               atol=1e-3)
    self.assertAlmostEqual(s['pck150'], 100 * 7 / 8, places=4)
    expect_pa = 1000 * np.asarray(metrics.pa_mpjpe(pred, gt)).mean()
    self.assertAlmostEqual(s['pa_mpjpe_mm'], float(expect_pa), places=3)
    self.assertGreater(s['pa_mpjpe_mm'], 0.0)
    self.assertTrue(0 < s['auc'] < 100)
    for key in ('mpjpe_mm', 'pa_mpjpe_mm', 'pck150', 'auc'):
      self.assertIsInstance(s[key], float)
    self.assertIsInstance(s['per_joint_mpjpe_mm'][0], float)

  def test_mask_drops_empty_poses(self):
    rng = np.random.default_rng(4)
    gt = _poses(rng, (3,), joints=12)
    pred = gt + 0.01
    pred[2] += _poses(rng, joints=12)  # a bad pose, masked out below
    mask = np.ones((3, 12), np.float32)
    mask[2] = 0
    s = metrics.summarize(pred, gt, root_joints=(2, 3), mask=mask)
    self.assertEqual(s['num_poses'], 2)
    self.assertAlmostEqual(s['mpjpe_mm'], 0.0, places=3)
    self.assertLen(s['per_joint_mpjpe_mm'], 12)

  def test_bad_shape(self):
    with self.assertRaisesRegex(ValueError, r'\[N, J, 3\]'):
      metrics.summarize(np.zeros((4, 3)), np.zeros((4, 3)), root_joints=(0,))


if __name__ == '__main__':
  absltest.main()
