"""Adaptation on a lab's own infant 3D (adapt.data): no dataset needed."""

import pathlib
import tempfile

from absl.testing import absltest
import jax
import numpy as np

from configs import syrip as syrip_config
from zedoi_jax.modes import adapt as adapt_mode
from zedoi_jax import checkpoint
from zedoi_jax import skeleton
from zedoi_jax.data import infant_data
from zedoi_jax.data import prior_data
from zedoi_jax.errors import InputError
from zedoi_jax.models import score_net

KW = dict(num_joints=17, hidden=32, num_blocks=2, embed_dim=16,
          num_groups=4, dropout=0.0, embedding='fourier')
SDE = dict(name='subvp', beta_min=0.1, beta_max=20.0, eps=1e-3)


def _infant_like(n=24):
  """Body-like poses at infant size (metres), not root-centred."""
  x = prior_data.synthetic_poses(n, seed=5) * 0.4
  return (x + np.array([0.1, -0.2, 1.5], np.float32)).astype(np.float32)


class OwnInfantDataTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.tmp = pathlib.Path(tmp.name)

  def test_layouts_are_converted_and_root_centred(self):
    x = _infant_like()
    np.save(self.tmp / 'h36m.npy', x)
    poses, summary = infant_data.load_own_poses(self.tmp / 'h36m.npy',
                                                'h36m17')
    np.testing.assert_allclose(poses[:, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(poses, x - x[:, :1], atol=1e-6)
    self.assertEqual(summary['num_poses'], 24)
    h36m = skeleton.get_layout('h36m17').joint_names
    pick = [h36m.index({'neck': 'thorax'}.get(n, n))
            for n in skeleton.get_layout('lsp14').joint_names]
    lsp = x[:, pick]
    np.savez(self.tmp / 'lsp.npz', poses=lsp)
    from_lsp, _ = infant_data.load_own_poses(self.tmp / 'lsp.npz', 'lsp14')
    self.assertEqual(from_lsp.shape, (24, 17, 3))
    # The limbs survive the round trip through LSP-14 (whose pelvis is the
    # mid-hip).
    limbs = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    mid_hip = x[:, [1, 4]].mean(1, keepdims=True)
    np.testing.assert_allclose(from_lsp[:, limbs], (x - mid_hip)[:, limbs],
                               atol=1e-5)

  def test_bad_files_are_named_errors(self):
    x = _infant_like()
    np.save(self.tmp / 'mm.npy', x * 1000)
    with self.assertRaisesRegex(InputError, r'mm\.npy.*millimetres'):
      infant_data.load_own_poses(self.tmp / 'mm.npy', 'h36m17')
    np.save(self.tmp / 'cm.npy', x * 100)
    with self.assertRaisesRegex(InputError, r'cm\.npy.*centimetres'):
      infant_data.load_own_poses(self.tmp / 'cm.npy', 'h36m17')
    y = x.copy()
    y[[3, 7], 2] = np.nan
    np.save(self.tmp / 'nan.npy', y)
    with self.assertRaisesRegex(InputError, r'nan\.npy.*rows \[3, 7\]'):
      infant_data.load_own_poses(self.tmp / 'nan.npy', 'h36m17')
    with self.assertRaisesRegex(InputError, r'\[N, 14, 3\].*lsp14'):
      infant_data.load_own_poses(self.tmp / 'mm.npy', 'lsp14')
    with self.assertRaisesRegex(InputError, 'adapt.layout'):
      infant_data.load_own_poses(self.tmp / 'mm.npy', 'h36m18')
    np.savez(self.tmp / 'other.npz', joints=x)
    with self.assertRaisesRegex(InputError, r"other\.npz.*'poses'"):
      infant_data.load_own_poses(self.tmp / 'other.npz', 'h36m17')

  def test_adapt_mode_trains_on_the_file(self):
    model = score_net.ScoreNet(**KW)
    params = score_net.init_params(model, jax.random.key(0))
    checkpoint.export_model(self.tmp / 'prior', params, {
        'kind': 'prior', 'model': KW, 'sde': SDE, 'scale': 1.0,
        'layout': 'h36m17'})
    np.save(self.tmp / 'lab.npy', _infant_like())
    config = syrip_config.get_config('quick')
    config.data.root = str(self.tmp / 'no_data_here')
    config.init.prior = str(self.tmp / 'prior')
    config.adapt.data = str(self.tmp / 'lab.npy')
    config.adapt.layout = 'h36m17'
    config.adapt.num_steps = 2
    config.adapt.batch_size = 8
    config.train.warmup_steps = 1
    config.train.checkpoint_every = 2
    config.progress = False
    summary = adapt_mode.adapt(config, self.tmp / 'run')
    _, meta = checkpoint.load_model(summary['export_dir'])
    self.assertEqual(meta['kind'], 'control')
    self.assertEqual(meta['training']['data']['num_poses'], 24)
    self.assertIn('lab.npy', meta['training']['data']['source'])
    # Its mean pose (the fit's trivial baseline) is the file's.
    want = (_infant_like() - _infant_like()[:, :1]).mean(0)
    np.testing.assert_allclose(meta['normalization']['mean_pose_m'], want,
                               atol=1e-4)


if __name__ == '__main__':
  absltest.main()
