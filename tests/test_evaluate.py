"""End-to-end test of fit mode with a tiny randomly initialised prior."""

import json
import pathlib
import tempfile

import jax
import numpy as np
from absl.testing import absltest

from configs import default
from zedoi_jax import checkpoint
from zedoi_jax.modes import fit as fit_mode
from zedoi_jax import progress
from zedoi_jax.errors import InputError
from zedoi_jax.data import prior_data
from zedoi_jax.models import score_net

import data_required

SHARED_DATA = data_required.root()
TINY = {'num_joints': 17, 'hidden': 32, 'num_blocks': 1, 'embed_dim': 16,
        'num_groups': 8, 'dropout': 0.0, 'embedding': 'fourier'}


def export_tiny_prior(directory) -> pathlib.Path:
  """A random-init prior export (the output layer is zero-initialised, so
  perturb it to get a non-zero score)."""
  model = score_net.ScoreNet(**TINY)
  params = score_net.init_params(model, jax.random.key(0))
  params = jax.tree.map(
      lambda x: x + 0.01 * jax.random.normal(jax.random.key(1), x.shape),
      params)
  meta = {'kind': 'prior', 'model': TINY,
          'sde': {'name': 'subvp', 'beta_min': 0.1, 'beta_max': 20.0,
                  'eps': 1e-3},
          'scale': 1.0, 'layout': 'h36m17',
          'normalization': prior_data.normalization(
              prior_data.synthetic_poses(64, seed=0))}
  return checkpoint.export_model(directory, params, meta)


def tiny_config(prior_dir, **data):
  config = default.get_config()
  config.mode = 'fit'
  config.init.prior = str(prior_dir)
  config.data.root = str(SHARED_DATA)
  for k, v in data.items():
    setattr(config.data, k, v)
  config.fit.ipo_steps = 5
  config.fit.oil_steps = 6
  config.fit.solve_t_last = 2
  config.fit.init_sample_steps = 3
  config.fit.num_hypotheses = 2
  config.fit.batch_size = 8
  config.eval.num_pictures = 2
  config.progress = False
  return config


class TinyPriorTestCase(absltest.TestCase):
  """Exports one tiny prior per test class into `cls.prior` (a temp dir)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._tmpdir = tempfile.TemporaryDirectory()
    cls.tmp = pathlib.Path(cls._tmpdir.name)
    cls.prior = export_tiny_prior(cls.tmp / 'prior')

  @classmethod
  def tearDownClass(cls):
    cls._tmpdir.cleanup()
    super().tearDownClass()

  def lift_config(self, **lift_kwargs):
    """configs/lift.py on the tiny prior with a few fit steps."""
    from configs import lift as lift_config  # pylint: disable=g-import-not-at-top
    config = lift_config.get_config()
    config.init.prior = str(self.prior)
    config.init.adapted = ''  # the tiny test prior alone
    config.fit.ipo_steps = 4
    config.fit.oil_steps = 5
    config.fit.solve_t_last = 2
    config.fit.init_sample_steps = 3
    config.fit.num_hypotheses = 2
    config.fit.batch_size = 8
    config.eval.num_pictures = 2
    for k, v in lift_kwargs.items():
      setattr(config.lift, k, v)
    return config


class EvaluateTest(TinyPriorTestCase):

  @data_required.needs('syrip')
  def test_syrip_end_to_end(self):
    workdir = self.tmp / 'syrip'
    config = tiny_config(self.prior, name='syrip', split='test',
                         input_2d='fidip', max_poses=5)
    results = fit_mode.fit(config, workdir)
    saved = json.loads((workdir / 'results.json').read_text())
    for key in ('dataset', 'split', 'input_2d', 'num_poses',
                'num_hypotheses', 'mpjpe_mm', 'pa_mpjpe_mm',
                'per_joint_mpjpe_mm', 'joint_names', 'best_of_s_mpjpe_mm',
                'timing', 'model', 'note'):
      self.assertIn(key, saved)
    self.assertGreater(saved['timing']['poses_per_s'], 0)
    self.assertEqual(saved['num_poses'], 5)
    self.assertEqual(saved['split'], 'test')
    self.assertLen(saved['per_joint_mpjpe_mm'], 12)
    self.assertIn('weak', saved['note'])
    self.assertTrue(np.isfinite(results['mpjpe_mm']))
    self.assertLessEqual(saved['best_of_s_mpjpe_mm'],
                         saved['variants']['min_reproj']['mpjpe_mm'] + 1e-6)
    with np.load(workdir / 'predictions.npz') as z:
      self.assertEqual(z['pred_poses'].shape, (5, 2, 12, 3))
      self.assertEqual(z['gt'].shape, (5, 12, 3))
      self.assertEqual(z['translation'].shape, (5, 2, 3))
      self.assertTrue(np.isfinite(z['pred_poses']).all())
      self.assertLen(np.unique(z['ids']), 5)
    rows = progress.read_metrics(workdir)
    self.assertIn('fit/mpjpe_mm', rows[-1])
    for name in ('gt_vs_pred.png', 'per_joint_mpjpe.png', 'reprojection.png',
                 'trajectory_0.png', 'trajectory_0.gif'):
      self.assertTrue((workdir / 'pictures' / name).is_file(), name)

  @data_required.needs('cmu', '131_01.bvh')
  def test_cmu_end_to_end(self):
    workdir = self.tmp / 'cmu'
    config = tiny_config(self.prior, name='cmu', subsample=100, max_poses=3,
                         mocap_files=str(SHARED_DATA / 'cmu' / '131_01.bvh'),
                         split='all')
    config.fit.rot_axes = 'y'
    config.eval.pictures = False
    results = fit_mode.fit(config, workdir)
    self.assertEqual(results['num_poses'], 3)
    # The trivial baseline: the tiny prior's training mean pose, scored on
    # the same poses.
    self.assertTrue(results['baseline']['available'])
    self.assertGreater(results['baseline']['pa_mpjpe_mm'], 0)
    self.assertLen(results['per_joint_mpjpe_mm'], 17)
    self.assertTrue((workdir / 'predictions.npz').is_file())

  def test_cmu_subject_split_holds_subjects_out(self):
    # 131_01 is a training subject's take: the held-out 'val' split of it
    # is empty, and saying so is an input error, not an empty result.
    config = tiny_config(self.prior, name='cmu', subsample=100, max_poses=3,
                         mocap_files=str(SHARED_DATA / 'cmu' / '131_01.bvh'),
                         split='val')
    with self.assertRaisesRegex(InputError, 'no training poses'):
      fit_mode.fit(config, self.tmp / 'cmu_val')

  def test_bad_dataset_and_input(self):
    config = tiny_config(self.prior, name='h37m')
    with self.assertRaisesRegex(InputError, 'data.name'):
      fit_mode.fit(config, self.tmp / 'bad')
    config = tiny_config(self.prior, name='syrip', input_2d='openpose')
    with self.assertRaisesRegex(InputError, 'input_2d'):
      fit_mode.fit(config, self.tmp / 'bad2')


if __name__ == '__main__':
  absltest.main()
