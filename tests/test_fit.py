"""Tests for zedoi_jax.zedo (the ZeDO fit loop) with an analytic Gaussian prior.

The stand-in prior is p_0 = N(mu, diag(var0)) around a template pose in the
camera frame, whose score at time t is exact:
-(x - alpha_t mu) / (alpha_t^2 var0 + std_t^2). Its depth variance is small,
so 2D keypoints plus the prior determine a pose: a fit must recover poses
drawn from it much better than the prior mean does.
"""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from absl.testing import parameterized

from zedoi_jax import camera
from zedoi_jax import zedo
from zedoi_jax import metrics
from zedoi_jax import sde as sde_lib
from zedoi_jax.errors import InputError

# A standing adult in H36M-17 order, metres, camera frame (y down), z = 0.
TEMPLATE = np.array(
    [[0, 0, 0], [-.13, 0, 0], [-.13, .45, 0], [-.13, .9, 0], [.13, 0, 0],
     [.13, .45, 0], [.13, .9, 0], [0, -.25, 0], [0, -.5, 0], [0, -.6, 0],
     [0, -.75, 0], [.18, -.5, 0], [.45, -.5, 0], [.7, -.5, 0],
     [-.18, -.5, 0], [-.45, -.5, 0], [-.7, -.5, 0]], np.float32)
PRIOR_SD = np.array([0.08, 0.08, 0.01], np.float32)
SDE = sde_lib.get_sde('subvp')
K = np.array([[1000., 0., 500.], [0., 1000., 500.], [0., 0., 1.]],
             np.float32)
TRANS = np.array([0.1, -0.1, 3.0], np.float32)


def gaussian_score_fn(params, x, t):
  a = SDE.alpha(t)[:, None, None]
  s = SDE.std(t)[:, None, None]
  return -(x - a * params['mu']) / (a**2 * params['var0'] + s**2)


PARAMS = {'mu': jnp.asarray(TEMPLATE),
          'var0': jnp.asarray(np.broadcast_to(PRIOR_SD**2, (17, 3)))}


def make_data(n, seed=0):
  rng = np.random.default_rng(seed)
  gt = TEMPLATE + rng.normal(size=(n, 17, 3)).astype(np.float32) * PRIOR_SD
  gt = gt - gt[:, :1]
  kp = np.asarray(camera.project(gt + TRANS, K))
  return gt, {'keypoints': kp, 'confidence': np.ones((n, 17), np.float32),
              'K': np.broadcast_to(K, (n, 3, 3)).copy(),
              'id': np.arange(n, dtype=np.int32)}


SMALL = zedo.FitConfig(ipo_steps=8, oil_steps=10, solve_t_last=3,
                      init_sample_steps=4, num_hypotheses=2)


def make_batch(arrays, rows):
  batch = {k: v[rows] for k, v in arrays.items()}
  batch['mask'] = np.ones(len(rows), bool)
  return batch


class FitConfigTest(absltest.TestCase):

  def test_from_dict_rejects_unknown(self):
    with self.assertRaisesRegex(ValueError, 'unknown fit settings'):
      zedo.FitConfig.from_dict({'ipo_steps': 3, 'oil_stepz': 4})

  def test_validation(self):
    with self.assertRaisesRegex(ValueError, 'rot_axes'):
      zedo.FitConfig(rot_axes='xw')
    with self.assertRaisesRegex(ValueError, 'denoise'):
      zedo.FitConfig(denoise='ddim')
    with self.assertRaisesRegex(ValueError, 'init_depth'):
      zedo.FitConfig(init_depth='auto')
    with self.assertRaisesRegex(ValueError, 'solve_t_last'):
      zedo.FitConfig(oil_steps=10, solve_t_last=11)

  def test_rotation_matrix(self):
    v = jnp.array([0.3, -0.2, 0.5])
    r = zedo.rotation_matrix(v)
    chex.assert_trees_all_close(r @ r.T, jnp.eye(3), atol=1e-6)
    chex.assert_trees_all_close(r @ v, v, atol=1e-6)  # axis is fixed
    g = jax.grad(lambda w: zedo.rotation_matrix(w).sum())(jnp.zeros(3))
    chex.assert_tree_all_finite(g)

  def test_solve_translation_exact(self):
    gt, arrays = make_data(1)
    ray = camera.rays(jnp.asarray(arrays['keypoints'][0]), jnp.asarray(K))
    t = zedo.solve_translation(jnp.asarray(gt[0]), ray, jnp.ones(17),
                              jnp.array([0., 0., 1.]))
    chex.assert_trees_all_close(t, TRANS, atol=1e-3)


class FitBatchTest(parameterized.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.gt, cls.arrays = make_data(11)
    # staticmethod: a plain function stored on the class is not a method.
    cls.fit_batch = staticmethod(zedo.make_fit_fn(
        score_fn=gaussian_score_fn, sde=SDE, scale=1.0, cfg=SMALL))

  def test_compiles_once_pads_and_drops_rows(self):
    fit_batch = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE,
                                scale=1.0, cfg=SMALL)
    out = zedo.fit_dataset(fit_batch, self.arrays, batch_size=8,
                          rng=jax.random.key(0), params=PARAMS)
    self.assertEqual(fit_batch.num_traces(), 1)  # 2 batches, 1 trace
    chex.assert_shape(out['pose'], (11, 2, 17, 3))
    chex.assert_shape(out['translation'], (11, 2, 3))
    chex.assert_shape(out['reproj_error'], (11, 2))
    chex.assert_shape(out['pose_min_reproj'], (11, 17, 3))
    chex.assert_shape(out['pose_mean'], (11, 17, 3))
    np.testing.assert_array_equal(out['id'], np.arange(11))
    chex.assert_tree_all_finite(out['pose'])
    # Sweepable knobs are arguments: new values, same compiled function.
    hp = dict(SMALL.hparams(), t_max=jnp.float32(0.2))
    out2 = zedo.fit_dataset(fit_batch, self.arrays, batch_size=8,
                           rng=jax.random.key(0), params=PARAMS, hparams=hp)
    self.assertEqual(fit_batch.num_traces(), 1)
    self.assertFalse(np.allclose(out['pose'], out2['pose']))

  def test_hypotheses_differ_and_selection(self):
    out = self.fit_batch(jax.random.key(1), make_batch(self.arrays,
                                                        np.arange(3)),
                         PARAMS)
    self.assertFalse(np.allclose(out.pose[:, 0], out.pose[:, 1]))
    sel = zedo.select_hypotheses(np.asarray(out.pose),
                                np.asarray(out.translation),
                                np.asarray(out.reproj_error))
    best = np.argmin(np.asarray(out.reproj_error), 1)
    np.testing.assert_array_equal(sel['best_hypothesis'], best)
    np.testing.assert_allclose(sel['pose_min_reproj'][1],
                               np.asarray(out.pose)[1, best[1]])

  def test_sample_result_independent_of_batch(self):
    rng = jax.random.key(3)
    full = self.fit_batch(rng, make_batch(self.arrays, np.arange(8)), PARAMS)
    single = self.fit_batch(rng, make_batch(self.arrays, np.array([5])),
                            PARAMS)
    chex.assert_trees_all_close(
        jax.tree.map(lambda x: x[5:6], full), single, atol=1e-4, rtol=1e-4)
    # Its position in the batch does not matter either (keys from ids).
    perm = np.array([5, 0, 1, 2, 3, 4, 6, 7])
    moved = self.fit_batch(rng, make_batch(self.arrays, perm), PARAMS)
    chex.assert_trees_all_close(
        jax.tree.map(lambda x: x[0], moved), jax.tree.map(lambda x: x[5],
                                                          full),
        atol=1e-4, rtol=1e-4)

  def test_bank_starts_are_independent_of_the_batch(self):
    banked = zedo.make_fit_fn(
        score_fn=gaussian_score_fn, sde=SDE, scale=1.0,
        cfg=dataclasses.replace(SMALL, init_pose='bank', init_bank_size=4))
    rng = jax.random.key(3)
    full = banked(rng, make_batch(self.arrays, np.arange(8)), PARAMS)
    # Other rows around it, at another place in the batch (one compile).
    rows = np.array([5, 9, 10, 0, 1, 2, 3, 4])
    moved = banked(rng, make_batch(self.arrays, rows), PARAMS)
    chex.assert_trees_all_close(
        jax.tree.map(lambda x: x[0], moved), jax.tree.map(lambda x: x[5],
                                                          full),
        atol=1e-4, rtol=1e-4)
    chex.assert_tree_all_finite(full.pose)
    # The bank holds prior samples, not one pose: hypotheses still differ.
    self.assertFalse(np.allclose(full.pose[:, 0], full.pose[:, 1]))
    # Its starts are the bank's entries: every fit of a one-entry bank
    # starts from the same pose, so with the deterministic 'em' rule the
    # hypotheses of a pose come out equal.
    one = zedo.make_fit_fn(
        score_fn=gaussian_score_fn, sde=SDE, scale=1.0,
        cfg=dataclasses.replace(SMALL, init_pose='bank', init_bank_size=1))
    out = one(rng, make_batch(self.arrays, np.arange(3)), PARAMS)
    np.testing.assert_allclose(out.pose[:, 0], out.pose[:, 1], atol=1e-6)

  def test_bank_settings_are_checked(self):
    with self.assertRaisesRegex(ValueError, 'init_pose'):
      zedo.FitConfig(init_pose='mean')
    with self.assertRaisesRegex(ValueError, 'init_bank_size'):
      zedo.FitConfig(init_pose='bank', init_bank_size=0)

  def test_sharded_equals_single_device(self):
    self.assertGreaterEqual(jax.device_count(), 8)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]), ('data',))
    sharded = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE,
                              scale=1.0, cfg=SMALL, mesh=mesh)
    self.assertEqual(sharded.batch_multiple, 8)
    batch = make_batch(self.arrays, np.arange(8))
    rng = jax.random.key(4)
    a = sharded(rng, batch, PARAMS)
    b = self.fit_batch(rng, batch, PARAMS)
    self.assertEqual(len(a.pose.sharding.device_set), 8)
    chex.assert_trees_all_close(a, b, atol=1e-4, rtol=1e-4)
    with self.assertRaisesRegex(ValueError, 'multiple'):
      sharded(rng, make_batch(self.arrays, np.arange(3)), PARAMS)
    # fit_dataset rounds the batch size up to the mesh size.
    out = zedo.fit_dataset(sharded, self.arrays, batch_size=5, rng=rng,
                          params=PARAMS)
    chex.assert_shape(out['pose'], (11, 2, 17, 3))

  def test_missing_and_nan_joints(self):
    batch = make_batch(self.arrays, np.arange(4))
    batch['keypoints'] = batch['keypoints'].copy()
    batch['confidence'] = batch['confidence'].copy()
    batch['keypoints'][0, 3] = np.nan  # NaN reaching compiled code
    batch['keypoints'][1, :5] = 1e6  # garbage, but confidence 0
    batch['confidence'][1, :5] = 0.0
    batch['confidence'][2] = 0.0  # nothing visible at all
    out = self.fit_batch(jax.random.key(5), batch, PARAMS)
    chex.assert_tree_all_finite(out)
    # Garbage behind confidence 0 does not change the fit of other joints.
    clean = make_batch(self.arrays, np.arange(4))
    clean['confidence'] = batch['confidence']
    ref = self.fit_batch(jax.random.key(5), clean, PARAMS)
    chex.assert_trees_all_close(out.pose[1], ref.pose[1], atol=1e-4)

  def test_trajectory(self):
    cfg = zedo.FitConfig(ipo_steps=4, oil_steps=7, solve_t_last=2,
                        init_sample_steps=3, trajectory_frames=3)
    fit_batch = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE,
                                scale=1.0, cfg=cfg)
    out = fit_batch(jax.random.key(0), make_batch(self.arrays, np.arange(2)),
                    PARAMS)
    chex.assert_shape(out.trajectory, (2, 1, 3, 17, 3))
    chex.assert_trees_all_close(out.trajectory[:, :, -1], out.pose,
                                atol=1e-6)

  def test_trajectory_frames_do_not_change_the_fit(self):
    # OIL runs as a fixed and a translation-solving phase (separate scans),
    # cut further at the frames; 7 steps, solve in the last 2: the phase
    # boundary (step 5) falls inside the last chunk of 3 frames.
    batch = make_batch(self.arrays, np.arange(2))
    outs = {}
    for frames in (0, 3, 7):
      cfg = zedo.FitConfig(ipo_steps=4, oil_steps=7, solve_t_last=2,
                          init_sample_steps=3, trajectory_frames=frames)
      outs[frames] = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE,
                                     scale=1.0, cfg=cfg)(
                                         jax.random.key(0), batch, PARAMS)
    for frames in (3, 7):
      chex.assert_trees_all_close(outs[frames].pose, outs[0].pose, atol=1e-5)
      chex.assert_trees_all_close(outs[frames].translation,
                                  outs[0].translation, atol=1e-5)
    # Frames of 3 end at steps 2, 4, 6 (a lead of 1, chunks of 2).
    chex.assert_trees_all_close(outs[3].trajectory,
                                outs[7].trajectory[:, :, 2::2], atol=1e-5)
    # The solving phase moves the translation (the fixed phase alone keeps
    # the IPO one): fewer solving steps give a different translation.
    cfg = zedo.FitConfig(ipo_steps=4, oil_steps=7, solve_t_last=0,
                        init_sample_steps=3)
    fixed = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE, scale=1.0,
                            cfg=cfg)(jax.random.key(0), batch, PARAMS)
    self.assertGreater(float(jnp.abs(fixed.translation
                                     - outs[0].translation).max()), 1e-4)


class RecoveryTest(parameterized.TestCase):

  @parameterized.parameters(('tweedie', 'fixed'), ('em', 'fixed'),
                            ('tweedie', 'size'))
  def test_recovers_prior_samples(self, denoise, init_depth):
    gt, arrays = make_data(8, seed=7)
    cfg = zedo.FitConfig(ipo_steps=100, oil_steps=40, solve_t_last=10,
                        init_sample_steps=30, denoise=denoise,
                        init_depth=init_depth)
    fit_batch = zedo.make_fit_fn(score_fn=gaussian_score_fn, sde=SDE,
                                scale=1.0, cfg=cfg)
    out = zedo.fit_dataset(fit_batch, arrays, batch_size=8,
                          rng=jax.random.key(0), params=PARAMS)
    pred = out['pose'][:, 0]
    err = float(metrics.pa_mpjpe(pred, gt).mean())
    mean_pose = np.broadcast_to(TEMPLATE, gt.shape)
    baseline = float(metrics.pa_mpjpe(mean_pose, gt).mean())
    self.assertLess(err, 0.3 * baseline)
    # Root-relative MPJPE and translation are close too (depth from IPO).
    self.assertLess(float(metrics.mpjpe(pred, gt).mean()), 0.08)
    depth_err = np.abs(out['translation'][:, 0, 2] - TRANS[2])
    self.assertLess(float(np.median(depth_err)), 0.3)
    self.assertLess(float(out['reproj_error'].mean()), 3.0)


class PrepareInputsTest(absltest.TestCase):

  def test_coco_nan_and_layout(self):
    kp = np.random.default_rng(0).uniform(0, 500, (3, 17, 3))
    kp[..., 2] = 0.9
    kp[0, 11] = np.nan  # l_hip: pelvis and spine become missing too
    with self.assertLogs(level='WARNING') as logs:
      out = zedo.prepare_inputs(kp, K=K, layout='coco17', source='x.npy')
    self.assertIn('1 of 51', ' '.join(logs.output))
    self.assertEqual(out['num_nan'], 1)
    chex.assert_shape(out['keypoints'], (3, 17, 2))
    self.assertTrue(np.isfinite(out['keypoints']).all())
    self.assertEqual(out['confidence'][0, 0], 0.0)  # pelvis
    self.assertEqual(out['confidence'][0, 4], 0.0)  # l_hip
    self.assertAlmostEqual(float(out['confidence'][1, 0]), 0.9, places=6)

  def test_errors_name_source_and_field(self):
    with self.assertRaisesRegex(InputError, r'x\.npy.*layout.*unknown'):
      zedo.prepare_inputs(np.zeros((2, 17, 2)), K=K, layout='coco19',
                         source='x.npy')
    with self.assertRaisesRegex(InputError, r'x\.npy.*keypoints.*14'):
      zedo.prepare_inputs(np.zeros((2, 14, 2)), K=K, layout='coco17',
                         source='x.npy')
    with self.assertRaisesRegex(InputError, 'keypoints'):
      zedo.prepare_inputs(np.zeros((17, 2)), K=K, layout='coco17')
    with self.assertRaisesRegex(InputError, 'K'):
      zedo.prepare_inputs(np.zeros((2, 17, 2)), K=np.eye(2), layout='coco17')


if __name__ == '__main__':
  absltest.main()
