"""The broader CMU mocap (data/cmu_extra): Daz-style BVH, folders and globs,
held-out subjects, time-based sampling."""

import os
import pathlib
import tempfile

from absl.testing import absltest
import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.data import mocap
from zedoi_jax.data import prior_data
from zedoi_jax.errors import InputError

import data_required

DATA = data_required.root()
EXTRA = DATA / 'cmu_extra'


def require_cmu_extra():
  """Skips (fails under CI=true / ZEDOI_REQUIRE_DATA=1) without the data."""
  data_required.require('cmu')
  if EXTRA.is_dir():
    return
  msg = (f'CMU mocap {EXTRA} is missing: the takes (ASF/AMC, or BVH) come '
         'from the CMU site (http://mocap.cs.cmu.edu) into DIR/cmu_extra, '
         'then set ZEDOI_DATA=DIR')
  if data_required.strict():
    raise AssertionError(f'required test data missing: {msg}')
  raise absltest.SkipTest(msg)


RIGID = [k for k, (c, _) in enumerate(skeleton.H36M17.bones)
         if skeleton.H36M17.joint_names[c] not in ('thorax', 'head_top')]


def _angle(x, i, j, k):
  u, v = x[:, i] - x[:, j], x[:, k] - x[:, j]
  c = (u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
  return np.degrees(np.arccos(np.clip(c, -1, 1)))


class CmuExtraTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    require_cmu_extra()

  def test_every_take_parses_with_adult_constant_bones(self):
    takes = prior_data.parse_mocap_files([str(EXTRA / 'amc'),
                                          str(EXTRA / 'bvh_daz')])
    amc = [t for t in takes if t[1]]
    bvh = [t for t in takes if not t[1]]
    # 69 AMC takes; the 141 Daz BVH less those also present as AMC.
    self.assertLen(amc, 69)
    self.assertGreater(len(bvh), 100)
    for path, amc_path in takes:
      take = mocap.load_take(path, amc_path=amc_path)
      x = take.positions
      self.assertEqual(x.shape[1:], (17, 3))
      self.assertTrue(np.all(np.isfinite(x)))
      bones = skeleton.bone_lengths(x, skeleton.H36M17)
      # Rigid skeleton: every limb bone keeps its length within a take.
      # Not spine->thorax (it spans the Daz chest joint, which bends) nor
      # neck->head_top (Daz: the midpoint of two eye End Sites that turn
      # with the eyes' own channels).
      self.assertLess(float(np.max(bones[:, RIGID].std(0))), 1e-3, path)
      # Adult: thigh and shin 0.3-0.55 m; stature (standing height range).
      thigh = bones[0, [1, 4]]
      shin = bones[0, [2, 5]]
      self.assertTrue(np.all((thigh > 0.3) & (thigh < 0.55)), (path, thigh))
      self.assertTrue(np.all((shin > 0.3) & (shin < 0.55)), (path, shin))
      self.assertIn(round(take.frame_rate), (30, 120), path)

  def test_daz_and_amc_of_one_take_agree_in_joint_angles(self):
    amc = mocap.load_take(EXTRA / 'amc' / '07' / '07_01.amc')
    daz = mocap.load_take(EXTRA / 'bvh_daz' / '07' / '07_01.bvh')
    self.assertEqual(round(amc.frame_rate), 120)
    self.assertEqual(round(daz.frame_rate), 30)
    # The Daz file is every 4th frame of the 120 Hz take after its T-pose.
    a = amc.positions[3::4]
    n = min(len(a), len(daz.positions))
    self.assertGreater(n, 70)
    for joints in ((4, 5, 6), (1, 2, 3), (11, 12, 13), (14, 15, 16)):
      x, y = _angle(a[:n], *joints), _angle(daz.positions[:n], *joints)
      self.assertGreater(np.corrcoef(x, y)[0, 1], 0.98, joints)

  def test_daz_style_drops_the_tpose_and_uses_centimetres(self):
    path = EXTRA / 'bvh_daz' / '07' / '07_01.bvh'
    motion = mocap.parse_bvh(path)
    self.assertEqual(mocap.detect_bvh_style(motion)[0], 'daz')
    x = mocap.load_h36m17(path)
    self.assertLen(x, motion.num_frames - 1)
    height = x[:, 10, 1].max() - x[:, 3, 1].min()
    self.assertBetween(float(height), 1.4, 2.0)

  def test_folder_glob_and_split_by_subject(self):
    by_dir = prior_data.parse_mocap_files('cmu_extra/amc/07', base=DATA)
    by_glob = prior_data.parse_mocap_files(str(EXTRA / 'amc' / '07' /
                                               '07_0*.amc'))
    self.assertEqual([t[1] for t in by_dir if t[1].endswith(
        tuple(f'07_0{i}.amc' for i in range(10)))],
                     [t[1] or t[0] for t in by_glob])
    both = prior_data.parse_mocap_files([str(EXTRA / 'amc' / '07'),
                                         str(EXTRA / 'bvh_daz' / '07')])
    # 07_01 exists as AMC and Daz BVH: used once, from the AMC.
    stems = [pathlib.Path(a or f).stem for f, a in both]
    self.assertLen(stems, len(set(stems)))
    takes = prior_data.parse_mocap_files('cmu,cmu_extra', base=DATA)
    self.assertGreater(len(takes), 180)
    splits = {s: prior_data.subject_split(takes, s)
              for s in ('train', 'val', 'test')}
    self.assertEqual(sum(len(v) for v in splits.values()), len(takes))
    subj = {s: {prior_data.take_subject(a or f) for f, a in v}
            for s, v in splits.items()}
    self.assertEqual({s.lstrip('0') for s in subj['val']}, {'8', '9', '14'})
    self.assertEqual({s.lstrip('0') for s in subj['test']}, {'2', '7', '16'})
    self.assertEmpty(subj['train'] & (subj['val'] | subj['test']))

  def test_time_based_sampling(self):
    f = EXTRA / 'amc' / '07' / '07_01.amc'
    by_time = prior_data.load_prior_poses(mocap_files=str(f), sample_hz=30,
                                          min_pose_distance=0.0)
    by_count = prior_data.load_prior_poses(mocap_files=str(f), subsample=4,
                                           min_pose_distance=0.0)
    np.testing.assert_array_equal(by_time, by_count)
    daz = EXTRA / 'bvh_daz' / '07' / '07_01.bvh'
    at_30 = prior_data.load_prior_poses(mocap_files=str(daz), sample_hz=30,
                                        min_pose_distance=0.0)
    at_10 = prior_data.load_prior_poses(mocap_files=str(daz), sample_hz=10,
                                        min_pose_distance=0.0)
    self.assertLen(at_10, -(-len(at_30) // 3))


class MocapFilesTest(absltest.TestCase):

  def test_missing_pattern_and_empty_folder_are_named(self):
    with tempfile.TemporaryDirectory() as d:
      with self.assertRaisesRegex(FileNotFoundError, 'matches no file'):
        prior_data.parse_mocap_files(os.path.join(d, '*.bvh'))
      with self.assertRaisesRegex(FileNotFoundError, 'no .amc or .bvh'):
        prior_data.parse_mocap_files(d)

  def test_unknown_split_is_an_input_error(self):
    with self.assertRaisesRegex(InputError, 'prior_split'):
      prior_data.subject_split([('07_01.bvh', None)], 'holdout')

  def test_take_subject(self):
    self.assertEqual(prior_data.take_subject('a/07_01.amc'), '07')
    self.assertEqual(prior_data.take_subject('131_03.bvh'), '131')
    self.assertIsNone(prior_data.take_subject('my_lab_take.bvh'))
    # Non-CMU names always train.
    self.assertLen(prior_data.subject_split([('lab.bvh', None)], 'train'), 1)


if __name__ == '__main__':
  absltest.main()
