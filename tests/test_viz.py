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

  def test_single_set_wraps_into_rows(self):
    from PIL import Image  # pylint: disable=g-import-not-at-top
    poses = np.random.default_rng(2).normal(size=(6, 17, 3)) * 0.3
    path = viz.skeleton_grid([poses], 'h36m17', self.tmp / 'one.png',
                             titles=['lifted'])
    self.assert_png(path)
    width, height = Image.open(path).size
    # 6 poses: 2 rows of 4 columns, wider than tall (not a 6-row column).
    self.assertGreater(width, height)

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
    # One image size per pose; a wrong count is refused.
    self.assert_png(viz.reprojection_overlay(
        kp, kp + 3, 'syrip12', self.tmp / 'p.png',
        image_wh=[(640, 480), (1280, 720), (0, 0)]))
    with self.assertRaisesRegex(ValueError, 'image_wh'):
      viz.reprojection_overlay(kp, kp, 'syrip12', self.tmp / 'w.png',
                               image_wh=[(640, 480)] * 2)

  def test_trajectory_titles_carry_the_error(self):
    # The frame titles report the root-centred MPJPE against the ground
    # truth; read them back from the figure before it is closed.
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    gt = self.poses[0]
    # Frame 1: shifted (centring removes it: 0 mm); frame 2: one joint
    # 0.17 m off -> 10 mm over 17 joints, less the root's share.
    moved = gt.copy()
    moved[5] += np.array([0.17, 0.0, 0.0])
    traj = np.stack([gt + 0.1, moved])
    titles = []
    real_close = plt.close

    def spy(fig=None):
      if fig is not None and hasattr(fig, 'axes'):
        titles.extend(ax.get_title() for ax in fig.axes)
      real_close(fig)

    plt.close = spy
    try:
      viz.trajectory_figure(traj, gt, self.tmp / 'tt.png')
    finally:
      plt.close = real_close
    self.assertEqual([t.split('\n')[1] for t in titles if t],
                     ['0 mm', '10 mm'])

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
