"""Tests for zedoi_jax.sequence: warm-started, smoothed track lifting."""

import json

import jax
import numpy as np
from absl.testing import absltest

from configs import lift as lift_config
from zedoi_jax import camera
from zedoi_jax import zedo
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax import sequence
from zedoi_jax.errors import InputError
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable=g-bad-import-order
from test_evaluate import TinyPriorTestCase
from test_fit import K, PARAMS, SDE, TEMPLATE, TRANS, gaussian_score_fn
# pylint: enable=g-bad-import-order

# Converges on the Gaussian prior (as in test_fit's recovery test).
COLD = zedo.FitConfig(ipo_steps=100, oil_steps=40, solve_t_last=10,
                     init_sample_steps=30)


def static_track(t=6):
  """The template seen in every one of t frames (a person standing still)."""
  kp = np.asarray(camera.project(TEMPLATE + TRANS, K))
  return {'keypoints': np.repeat(kp[None, None], t, 1),
          'confidence': np.ones((1, t, 17), np.float32),
          'K': np.broadcast_to(K, (1, t, 3, 3)).copy(),
          'mask': np.ones((1, t), bool), 'id': np.zeros(1, np.int32)}


def make_fn(cfg=COLD, **seq):
  seq = sequence.SequenceConfig(**dict({'smoother': 'none', 'warm_em_dt': 0.0},
                                      **seq))
  return sequence.make_sequence_fn(score_fn=gaussian_score_fn, sde=SDE,
                                   scale=1.0, cfg=cfg, seq=seq)


def accel(x):
  return np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean()


class SequenceFitTest(absltest.TestCase):

  def test_compiled_once_and_warm_frames_stay_at_the_cold_fit(self):
    fit_tracks = make_fn(warm_oil_steps=3)
    batch = static_track()
    out = jax.tree.map(np.asarray, fit_tracks(jax.random.key(0), batch,
                                              PARAMS))
    fit_tracks(jax.random.key(1), batch, PARAMS)
    self.assertEqual(fit_tracks.num_traces(), 1)
    self.assertEqual(out['pose'].shape, (1, 1, 6, 17, 3))
    self.assertTrue(out['valid'].all())
    pose = out['pose'][0, 0] + out['translation'][0, 0][:, None]
    # Frame 0 is the full cold fit; 3 warm OIL steps keep frames 1..5 on it.
    drift = np.linalg.norm(pose[1:] - pose[0], axis=-1).mean()
    self.assertLess(drift, 0.015)
    # The same 3 steps from a cold start land elsewhere: the warm start is
    # what keeps the later frames there.
    short = dict(ipo_steps=0, oil_steps=3, solve_t_last=1)
    cold_short = jax.tree.map(np.asarray, make_fn(
        zedo.FitConfig(**dict(vars(COLD), **short)))(
            jax.random.key(0), batch, PARAMS))
    short_pose = cold_short['pose'][0, 0, 0] + cold_short['translation'][
        0, 0, 0]
    self.assertGreater(np.linalg.norm(short_pose - pose[0], axis=-1).mean(),
                       0.1)

  def test_bank_start_tracks_like_a_sampled_start(self):
    # fit.init_pose 'bank' reaches the cold first frame of every track.
    banked = zedo.FitConfig(**dict(vars(COLD), init_pose='bank',
                                   init_bank_size=4))
    batch = static_track(4)
    out = jax.tree.map(np.asarray, make_fn(banked, warm_oil_steps=3)(
        jax.random.key(0), batch, PARAMS))
    self.assertTrue(np.isfinite(out['pose']).all())
    # The track fits its 2D in every frame (about 0.01 px here, as with a
    # sampled start).
    self.assertLess(float(np.max(out['reproj_error'])), 0.5)

  def test_missed_frames_are_flagged_and_carried_over(self):
    fit_tracks = make_fn(warm_oil_steps=3, min_joints=6)
    batch = static_track(5)
    rng = np.random.default_rng(0)
    batch['mask'][0, 1] = False  # no detection
    batch['confidence'][0, 3, 5:] = 0.0  # 5 joints < min_joints
    runs = []
    for seed in (0, 1):
      junk = dict(batch, keypoints=batch['keypoints'].copy())
      junk['keypoints'][0, [1, 3]] = rng.uniform(0, 1000, (2, 17, 2))
      runs.append(jax.tree.map(np.asarray, fit_tracks(jax.random.key(0),
                                                      junk, PARAMS)))
    out = runs[0]
    np.testing.assert_array_equal(out['valid'][0],
                                  [True, False, True, False, True])
    self.assertTrue(np.isnan(out['pose'][0, 0, [1, 3]]).all())
    self.assertTrue(np.isfinite(out['pose'][0, 0, [0, 2, 4]]).all())
    # What the missed frames held does not matter: the warm start of frames
    # 2 and 4 came from frames 0 and 2.
    np.testing.assert_allclose(runs[0]['pose'][0, 0, [2, 4]],
                               runs[1]['pose'][0, 0, [2, 4]], atol=1e-6)
    pose = out['pose'][0, 0] + out['translation'][0, 0][:, None]
    self.assertLess(np.linalg.norm(pose[4] - pose[0], axis=-1).mean(), 0.01)


class SmootherTest(absltest.TestCase):

  def test_rts_reduces_acceleration_of_a_noisy_track(self):
    rng = np.random.default_rng(0)
    t = np.arange(60, dtype=np.float32)
    truth = np.stack([0.02 * t, 0.1 * np.sin(t / 8), 3 + 0.01 * t], -1)
    truth = np.repeat(truth[:, None], 4, 1)  # [T, 4 joints, 3]
    noisy = truth + rng.normal(0, 0.02, truth.shape).astype(np.float32)
    valid = np.ones(60, bool)
    valid[[10, 30, 31]] = False
    noisy[~valid] = 100.0  # a missed frame's value must not be used
    smooth = np.asarray(sequence.rts_smooth(noisy, valid, 0.02**2,
                                            0.002**2))
    ok = valid.copy()
    self.assertLess(accel(smooth - truth), accel(noisy[ok] - truth[ok]) / 3)
    err = lambda x: np.linalg.norm(x - truth, axis=-1)[ok].mean()
    self.assertLess(err(smooth), err(noisy))
    self.assertLess(np.abs(smooth[~valid] - truth[~valid]).max(), 0.1)

  def test_smooth_poses_root_relative(self):
    rng = np.random.default_rng(1)
    pose = np.repeat(TEMPLATE[None], 8, 0) + rng.normal(
        0, 0.01, (8, 17, 3)).astype(np.float32)
    pose -= pose[:, :1]
    trans = np.repeat(TRANS[None], 8, 0)
    p, tr = sequence.smooth_poses(pose, trans, np.ones(8, bool),
                                  np.ones((8, 17)), meas_std=0.01,
                                  accel_std=0.001)
    np.testing.assert_allclose(np.asarray(p)[:, 0], 0, atol=1e-6)
    self.assertLess(np.abs(np.asarray(tr) - TRANS).max(), 0.02)


class GroupRowsTest(absltest.TestCase):

  def test_groups_by_track_and_frame(self):
    track = np.array([7, 3, 7, 3, 7])
    frame = np.array([12, 0, 10, 1, 13])
    g = sequence.group_rows(frame, track)
    np.testing.assert_array_equal(g['track'], [3, 7])
    np.testing.assert_array_equal(g['length'], [2, 4])
    np.testing.assert_array_equal(g['index'],
                                  [[1, 3, -1, -1], [2, -1, 0, 4]])
    np.testing.assert_array_equal(g['frame'][1], [10, 11, 12, 13])

  def test_duplicate_and_bad_ids(self):
    with self.assertRaisesRegex(InputError, 'one row per'):
      sequence.group_rows([0, 1, 1], [0, 0, 0], source='kp.json')
    with self.assertRaisesRegex(InputError, 'frame'):
      sequence.group_rows([0, 0.5], None)

  def test_config_validation(self):
    with self.assertRaisesRegex(ValueError, 'smoother'):
      sequence.SequenceConfig(smoother='kalman')
    with self.assertRaisesRegex(ValueError, 'unknown'):
      sequence.SequenceConfig.from_lift({'sequence_warm_steps': 3})


class SequenceLiftTest(TinyPriorTestCase):

  def test_npy_track_end_to_end(self):
    kp = np.asarray(camera.project(TEMPLATE + TRANS, K))
    arr = np.concatenate([np.repeat(kp[None], 7, 0),
                          np.ones((7, 17, 1))], -1)
    arr[2] = np.nan  # a missed frame written as NaN
    src = self.tmp / 'track.npy'
    np.save(src, arr)
    np.save(self.tmp / 'K.npy', K)
    config = lift_config.get_config()
    config.init.prior = str(self.prior)
    config.init.adapted = ''
    config.fit.ipo_steps = 4
    config.fit.oil_steps = 5
    config.fit.solve_t_last = 2
    config.fit.init_sample_steps = 3
    config.fit.num_hypotheses = 2
    config.lift.input = str(src)
    config.lift.layout = 'h36m17'
    config.lift.camera = str(self.tmp / 'K.npy')
    config.lift.pictures = False
    config.lift.sequence = True
    config.lift.sequence_warm_oil_steps = 2
    workdir = self.tmp / 'seq'
    out = lift_mode.lift(config, workdir)
    self.assertEqual(out['num_poses'], 7)
    with np.load(workdir / 'lifted.npz') as z:
      np.testing.assert_array_equal(z['valid'], [True, True, False] +
                                    [True] * 4)
      self.assertTrue(np.isnan(z['poses_3d'][2]).all())
      self.assertTrue(np.isfinite(z['poses_3d'][[0, 1, 3, 4, 5, 6]]).all())
      np.testing.assert_array_equal(z['frame'], np.arange(7))
    doc = json.loads((workdir / 'lifted.json').read_text())
    self.assertIsNone(doc['poses'][2]['pose_3d'])
    self.assertFalse(doc['poses'][2]['valid'])
    self.assertEqual(doc['sequence']['smoother'], 'rts')


if __name__ == '__main__':
  absltest.main()
