"""Tests for zedoi_jax.viz: every figure writes a non-empty PNG."""

import pathlib
import tempfile

import numpy as np
from absl.testing import absltest

from zedoi_jax import skeleton
from zedoi_jax import viz


class VizTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    tmpdir = tempfile.TemporaryDirectory()
    self.addCleanup(tmpdir.cleanup)
    self.tmp = pathlib.Path(tmpdir.name)
    self.poses = np.random.default_rng(0).normal(size=(2, 17, 3)) * 0.3

  def assert_png(self, path):
    self.assertTrue(path.is_file())
    self.assertEqual(path.read_bytes()[:4], b'\x89PNG')

  def test_skeleton_grid(self):
    self.assert_png(viz.skeleton_grid([self.poses, self.poses + 0.05],
                                      'h36m17', self.tmp / 'g.png',
                                      titles=['gt', 'pred']))
    with self.assertRaisesRegex(ValueError, 'differ'):
      viz.skeleton_grid([self.poses, self.poses[:1]], 'h36m17',
                        self.tmp / 'x.png')

  def test_reprojection_overlay(self):
    kp = np.random.default_rng(1).uniform(0, 400, (3, 12, 2))
    conf = np.ones((3, 12))
    conf[0, 2] = 0
    self.assert_png(viz.reprojection_overlay(kp, kp + 3, 'syrip12',
                                             self.tmp / 'r.png',
                                             image_wh=(640, 480),
                                             confidence=conf))
    with self.assertRaisesRegex(ValueError, 'shape'):
      viz.reprojection_overlay(kp, kp[None], 'syrip12', self.tmp / 's.png')

  def test_trajectory_with_gif(self):
    traj = self.poses[0] * np.linspace(0.5, 1.0, 5)[:, None, None]
    path = viz.trajectory_figure(traj, self.poses[0], self.tmp / 't.png',
                                 gif=True)
    self.assert_png(path)
    self.assertGreater((self.tmp / 't.gif').stat().st_size, 0)

  def test_per_joint_error_bars(self):
    names = skeleton.get_layout('syrip12').joint_names
    self.assert_png(viz.per_joint_error_bars(np.arange(12.0), names,
                                             self.tmp / 'b.png'))
    with self.assertRaisesRegex(ValueError, 'joint names'):
      viz.per_joint_error_bars(np.arange(3.0), names, self.tmp / 'c.png')


if __name__ == '__main__':
  absltest.main()
