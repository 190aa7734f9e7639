"""Tests for zedoi_jax.modes.adapt, zedoi_jax.adaptation and zedoi_jax.data.infant_data.

A tiny prior is exported into a temp dir (no shipped checkpoint needed);
adaptation runs a few steps on the real SyRIP train split.
"""

import pathlib
import subprocess
import sys
import tempfile

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from configs import syrip as syrip_config
from zedoi_jax.modes import adapt as adapt_mode
from zedoi_jax import adaptation
from zedoi_jax import checkpoint
from zedoi_jax import errors
from zedoi_jax import skeleton
from zedoi_jax.data import infant_data
from zedoi_jax.models import control
from zedoi_jax.models import load
from zedoi_jax.models import score_net

REPO = pathlib.Path(__file__).resolve().parents[1]
import data_required

DATA = data_required.root()
KW = dict(num_joints=17, hidden=32, num_blocks=2, embed_dim=16,
          num_groups=4, dropout=0.0, embedding='fourier')
SDE = dict(name='subvp', beta_min=0.1, beta_max=20.0, eps=1e-3)


def export_tiny_prior(directory, seed):
  model = score_net.ScoreNet(**KW)
  params = score_net.init_params(model, jax.random.key(seed))
  params = jax.tree.map(
      lambda p: p + 0.1 * jax.random.normal(jax.random.key(seed + 1),
                                            p.shape), params)
  checkpoint.export_model(directory, params, {
      'kind': 'prior', 'model': KW, 'sde': SDE, 'scale': 1.0,
      'layout': 'h36m17'})
  return params


def tiny_config(prior_dir, export_dir, **adapt_overrides):
  config = syrip_config.get_config('quick')
  config.data.root = str(DATA)
  config.init.prior = str(prior_dir)
  config.progress = False
  config.log_every = 1
  config.adapt.num_steps = 4
  config.adapt.batch_size = 8
  config.train.checkpoint_every = 2
  config.train.warmup_steps = 1
  config.train.export_dir = str(export_dir)
  for k, v in adapt_overrides.items():
    config.adapt[k] = v
  return config


class InfantDataTest(absltest.TestCase):

  @data_required.needs('syrip')
  def test_train_split_in_model_layout(self):
    poses, summary = infant_data.load_infant_poses(DATA / 'syrip')
    chex.assert_shape(poses, (500, 17, 3))
    np.testing.assert_allclose(poses[:, 0], 0.0, atol=1e-6)
    # Infant bones are ~5-15 cm: metres, not millimetres or adult size.
    self.assertBetween(summary['mean_bone_m'], 0.04, 0.15)
    sub1, _ = infant_data.load_infant_poses(DATA / 'syrip',
                                            num_train_poses=50, seed=3)
    sub2, _ = infant_data.load_infant_poses(DATA / 'syrip',
                                            num_train_poses=50, seed=3)
    chex.assert_shape(sub1, (50, 17, 3))
    np.testing.assert_array_equal(sub1, sub2)
    with self.assertRaises(errors.InputError):
      infant_data.load_infant_poses(DATA / 'syrip', num_train_poses=501)

  def test_generated_poses_file_checked(self):
    with tempfile.TemporaryDirectory() as tmp:
      bad = pathlib.Path(tmp) / 'bad.npz'
      np.savez(bad, other=np.zeros((3, 17, 3)))
      with self.assertRaisesRegex(errors.InputError, 'poses'):
        infant_data.load_generated_poses(bad)
      with self.assertRaises(FileNotFoundError):
        infant_data.load_generated_poses(pathlib.Path(tmp) / 'none.npz')
      good = pathlib.Path(tmp) / 'good.npz'
      p = np.random.RandomState(0).randn(4, 17, 3).astype(np.float32)
      np.savez(good, poses=p)
      got = infant_data.load_generated_poses(good)
      np.testing.assert_allclose(got, skeleton.root_center(p, 'h36m17'))

  def test_mixed_batch_share(self):
    fn = jax.jit(adaptation.make_mixed_batch_fn(augment_fn=None, batch_size=20,
                                           ratio=0.25))
    infant = jnp.zeros((7, 17, 3))
    generated = jnp.ones((5, 17, 3))
    x0 = fn((infant, generated), jax.random.key(0))
    chex.assert_shape(x0, (20, 17, 3))
    self.assertEqual(int(x0[:, 0, 0].sum()), 5)


class FreezeRulesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.params = score_net.init_params(score_net.ScoreNet(**KW),
                                        jax.random.key(0))

  def test_labels_first_match_wins(self):
    labels = adaptation.partition_labels(
        self.params, adaptation.freeze_rules('input.*,block_0/.*'))
    self.assertEqual(labels['input']['kernel'], 'freeze')
    self.assertEqual(labels['block_0']['dense_1']['bias'], 'freeze')
    self.assertEqual(labels['block_1']['dense_1']['bias'], 'train')
    self.assertEqual(labels['output']['kernel'], 'train')

  def test_uncovered_leaf_fails_loudly(self):
    with self.assertRaisesRegex(ValueError, 'match no freezing rule'):
      adaptation.partition_labels(self.params, [('block_.*', 'train')])

  def test_unused_rule_fails_loudly(self):
    with self.assertRaisesRegex(ValueError, r"\['blok_0/.\*'\]"):
      adaptation.partition_labels(self.params, adaptation.freeze_rules('blok_0/.*'))


@data_required.needs('syrip')
class AdaptTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._tmp = tempfile.TemporaryDirectory()
    cls.tmp = pathlib.Path(cls._tmp.name)
    cls.prior_dir = cls.tmp / 'prior'
    cls.prior = export_tiny_prior(cls.prior_dir, seed=0)
    # The uninterrupted control run: shared by several tests.
    cls.control_dir = cls.tmp / 'control_export'
    cls.control_summary = adapt_mode.adapt(
        tiny_config(cls.prior_dir, cls.control_dir), cls.tmp / 'control_run')

  @classmethod
  def tearDownClass(cls):
    cls._tmp.cleanup()
    super().tearDownClass()

  def test_control_export_holds_only_the_branch(self):
    params, meta = checkpoint.load_model(self.control_dir)
    self.assertEqual(meta['kind'], 'control')
    self.assertEqual(meta['prior_fingerprint'],
                     checkpoint.read_meta(self.prior_dir)['fingerprint'])
    self.assertEqual(meta['model'], KW)
    self.assertEqual(meta['control'], {'condition': 'none', 'dropout': 0.0})
    self.assertEqual(sorted(params), ['trunk', 'zero_0', 'zero_1'])
    self.assertEqual(meta['training']['steps'], 4)
    self.assertEqual(meta['training']['data']['num_poses'], 400)
    # Trained: the injections are no longer zero.
    self.assertGreater(float(np.abs(params['zero_0']['kernel']).max()), 0)

  def test_export_loads_without_training_code(self):
    code = (
        'import sys, jax, jax.numpy as jnp\n'
        'from zedoi_jax.models import load\n'
        f'm = load.load_pose_model({str(self.prior_dir)!r}, '
        f'{str(self.control_dir)!r})\n'
        'x = jnp.zeros((2, 17, 3)); t = jnp.full((2,), 0.5)\n'
        'out = m.score_fn(m.params, x, t)\n'
        'assert out.shape == (2, 17, 3) and bool(jnp.isfinite(out).all())\n'
        'bad = [n for n in ("zedoi_jax.modes.adapt", "zedoi_jax.adaptation", '
        '"zedoi_jax.training", "zedoi_jax.losses", "optax") '
        'if n in sys.modules]\n'
        'assert not bad, bad\n'
        'print("ok", sorted(m.params))\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                         capture_output=True, text=True, timeout=120,
                         check=False)
    self.assertEqual(out.returncode, 0, out.stderr[-2000:])
    self.assertIn("ok ['control', 'prior']", out.stdout)
    # In-process: the loaded model is prior + trained branch.
    m = load.load_pose_model(self.prior_dir, self.control_dir)
    x = 0.1 * jax.random.normal(jax.random.key(1), (3, 17, 3))
    t = jnp.array([0.05, 0.3, 0.9])
    ctrl, _ = checkpoint.load_model(self.control_dir)
    want = control.make_controlled_score_fn(
        prior_model_kwargs=KW, control_kwargs={}, sde=m.sde)(
            {'prior': self.prior, 'control': ctrl}, x, t)
    chex.assert_trees_all_close(m.score_fn(m.params, x, t), want,
                                rtol=1e-5, atol=1e-5)

  def test_mismatched_prior_is_refused(self):
    other = self.tmp / 'other_prior'
    export_tiny_prior(other, seed=5)
    with self.assertRaisesRegex(errors.InputError, 'prior_fingerprint'):
      load.load_pose_model(other, self.control_dir)

  def test_resume_matches_uninterrupted_run(self):
    workdir = self.tmp / 'resume_run'
    export = self.tmp / 'resume_export'
    config = tiny_config(self.prior_dir, export)
    first = adapt_mode.adapt(config, workdir, stop_at=2)
    self.assertIsNone(first['export_dir'])
    self.assertFalse(export.exists())
    adapt_mode.adapt(config, workdir)
    got, _ = checkpoint.load_model(export)
    want, _ = checkpoint.load_model(self.control_dir)
    chex.assert_trees_all_close(got, want, rtol=1e-6, atol=1e-7)

  def test_resume_with_another_prior_is_refused(self):
    other = self.tmp / 'other_prior_2'
    export_tiny_prior(other, seed=9)
    with self.assertRaisesRegex(errors.InputError, 'prior_fingerprint'):
      adapt_mode.adapt(tiny_config(other, self.tmp / 'x'), self.tmp / 'control_run')

  def test_finetune_freezing(self):
    export = self.tmp / 'ft_export'
    config = tiny_config(self.prior_dir, export, method='finetune',
                         freeze='input.*,block_0/.*', data_scale=0.5)
    adapt_mode.adapt(config, self.tmp / 'ft_run')
    params, meta = checkpoint.load_model(export)
    self.assertEqual(meta['kind'], 'finetune')
    self.assertEqual(meta['scale'], 0.5)
    self.assertEqual(meta['prior_scale'], 1.0)
    for name in ('input', 'input_norm', 'block_0'):
      chex.assert_trees_all_equal(params[name],
                                  jax.tree.map(np.asarray, self.prior[name]))
    self.assertTrue(np.any(params['block_1']['dense_0']['kernel']
                           != np.asarray(self.prior['block_1']['dense_0']
                                         ['kernel'])))
    m = load.load_pose_model(self.prior_dir, export)
    self.assertEqual(m.meta['kind'], 'finetune')
    self.assertEqual(m.scale, 0.5)
    config = tiny_config(self.prior_dir, self.tmp / 'y', method='finetune',
                         trainable='block_.*')
    with self.assertRaisesRegex(ValueError, 'match no freezing rule'):
      adapt_mode.adapt(config, self.tmp / 'ft_bad_run')


if __name__ == '__main__':
  absltest.main()
