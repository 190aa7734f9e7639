"""Tests for zedoi_jax.occlusion."""

from absl.testing import absltest
import numpy as np

from zedoi_jax import occlusion


class OcclusionTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.RandomState(0)
    self.kp = rng.uniform(0, 100, (5, 17, 2)).astype(np.float32)
    self.conf = np.ones((5, 17), np.float32)
    self.conf[:, 0] = 0.0  # one unlabelled joint per pose
    self.conf[:, 1] = 0.2  # one doubtful joint per pose

  def test_nothing_changes_by_default(self):
    kp, conf, dropped = occlusion.occlude(self.kp, self.conf)
    np.testing.assert_array_equal(kp, self.kp)
    np.testing.assert_array_equal(conf, self.conf)
    self.assertFalse(dropped.any())

  def test_drop_k_moves_and_zeroes_exactly_k_visible_joints(self):
    kp, conf, dropped = occlusion.occlude(self.kp, self.conf, drop_k=3,
                                          seed=1)
    np.testing.assert_array_equal(dropped.sum(1), 3)
    self.assertFalse(dropped[:, 0].any())  # never an unlabelled joint
    np.testing.assert_array_equal(conf[dropped], 0.0)
    self.assertFalse(np.allclose(kp[dropped], self.kp[dropped]))
    np.testing.assert_array_equal(kp[~dropped], self.kp[~dropped])
    again = occlusion.occlude(self.kp, self.conf, drop_k=3, seed=1)
    np.testing.assert_array_equal(again[0], kp)

  def test_min_score_and_baseline(self):
    _, conf, _ = occlusion.occlude(self.kp, self.conf, min_score=0.5)
    np.testing.assert_array_equal(conf[:, 1], 0.0)
    _, conf, dropped = occlusion.occlude(self.kp, self.conf, drop_k=2,
                                         use_confidence=False)
    # The baseline weighs every located joint fully, dropped ones included.
    np.testing.assert_array_equal(conf[:, 1:], 1.0)
    np.testing.assert_array_equal(conf[:, 0], 0.0)
    self.assertTrue(dropped.any())

  def test_negative_k(self):
    with self.assertRaises(ValueError):
      occlusion.occlude(self.kp, self.conf, drop_k=-1)


if __name__ == '__main__':
  absltest.main()
