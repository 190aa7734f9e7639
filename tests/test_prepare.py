"""Tests for the data-preparation CLI (zedoi_jax.prepare).

The MINI-RGBD fixture (two sequences of three frames) is written by the
tests; the SyRIP command runs on the real files with a local --source.
"""

import os
import pathlib
import subprocess
import sys
import tempfile

from absl import app
from absl import flags
from absl.testing import absltest
from absl.testing import flagsaver
from absl.testing import parameterized
import chex
import numpy as np

from zedoi_jax import camera
from zedoi_jax import prepare
from zedoi_jax.data import mini_rgbd
from zedoi_jax.data import syrip

REPO = pathlib.Path(__file__).resolve().parents[1]
import data_required  # pylint: disable=g-bad-import-order

SYRIP = data_required.path('syrip')

# smil25 joint used for each h36m17 joint, written out here rather than
# taken from skeleton.py so the test checks the maps, not restates them.
# Anatomical: ankle = foot (7/8), shoulder = upper arm (16/17).
ANATOMICAL = (0, 2, 5, 8, 1, 4, 7, 3, 9, 12, 15, 16, 18, 20, 17, 19, 21)
# ZeDO-i's published table: toes (10/11) for ankles, collars (13/14) for
# shoulders.
ZEDO = (0, 2, 5, 11, 1, 4, 10, 3, 9, 12, 15, 13, 18, 20, 14, 19, 21)
# h36m17 indices of r_ankle, l_ankle, l_shoulder, r_shoulder.
ANKLES_AND_SHOULDERS = (3, 6, 11, 14)


def _tempdir(test):
  # absltest's create_tempdir needs parsed flags, which pytest does not do.
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return pathlib.Path(tmp.name)


def _write_tree(root, sequences=(11, 12), frames=3, seed=0):
  """A MINI-RGBD_web-style tree; returns {(seq, frame): (uvd, xyz)}."""
  rng = np.random.default_rng(seed)
  truth = {}
  for s in sequences:
    d2 = root / f'{s:02d}' / 'joints_2Ddep'
    d3 = root / f'{s:02d}' / 'joints_3D'
    d2.mkdir(parents=True)
    d3.mkdir(parents=True)
    for f in range(frames):
      uvd = np.concatenate([rng.uniform(0, 640, (25, 2)),
                            rng.uniform(600, 900, (25, 1))], -1)
      xyz = rng.normal(size=(25, 3)) * 0.15 + [0.0, 0.0, 0.8]
      order = rng.permutation(25)  # Lines need not be in joint order.
      (d2 / f'syn_joints_2Ddep_{f:05d}.txt').write_text(''.join(
          f'{uvd[j, 0]:.6f} {uvd[j, 1]:.6f} {uvd[j, 2]:.6f} {j}\n'
          for j in order))
      (d3 / f'syn_joints_3D_{f:05d}.txt').write_text(''.join(
          f'{xyz[j, 0]:.6f} {xyz[j, 1]:.6f} {xyz[j, 2]:.6f} {j}\n'
          for j in order))
      truth[(s, f)] = (uvd, xyz)
  return truth


def _load(path):
  with np.load(path) as z:
    return {k: z[k] for k in z.files}


def _mark_flags_parsed():
  # pytest does not run absl's flag parsing; flagsaver needs parsed flags.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class MiniRgbdTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)
    self.source = self.tmp / 'MINI-RGBD_web'
    self.truth = _write_tree(self.source)

  def test_npz_content(self):
    dest = prepare.prepare_mini_rgbd(self.source, self.tmp / 'out' / 'm.npz',
                                     sequences=[11, 12])
    self.assertEqual(dest, self.tmp / 'out' / 'm.npz')
    data = _load(dest)
    self.assertContainsSubset(
        {'keypoints_2d_smil25', 'joints_3d_smil25', 'keypoints_2d_h36m17',
         'joints_3d_h36m17', 'sequence', 'frame', 'K', 'joint_map'},
        set(data))
    chex.assert_shape(data['keypoints_2d_smil25'], (6, 25, 2))
    chex.assert_shape(data['depth_2d_smil25'], (6, 25))
    chex.assert_shape(data['joints_3d_smil25'], (6, 25, 3))
    chex.assert_shape(data['keypoints_2d_h36m17'], (6, 17, 2))
    chex.assert_shape(data['joints_3d_h36m17'], (6, 17, 3))
    for key in ('keypoints_2d_smil25', 'joints_3d_smil25',
                'keypoints_2d_h36m17', 'joints_3d_h36m17'):
      self.assertEqual(data[key].dtype, np.float32, key)
    np.testing.assert_array_equal(data['sequence'], [11, 11, 11, 12, 12, 12])
    np.testing.assert_array_equal(data['frame'], [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(data['K'], camera.MINI_RGBD_K)
    self.assertEqual(str(data['joint_map']), 'anatomical')
    self.assertEqual(tuple(data['joint_names_h36m17'])[3], 'r_ankle')
    for row, key in enumerate([(11, 0), (11, 1), (11, 2), (12, 0), (12, 1),
                               (12, 2)]):
      uvd, xyz = self.truth[key]
      np.testing.assert_allclose(data['keypoints_2d_smil25'][row],
                                 uvd[:, :2], atol=1e-3)
      np.testing.assert_allclose(data['depth_2d_smil25'][row], uvd[:, 2],
                                 atol=1e-3)
      np.testing.assert_allclose(data['joints_3d_smil25'][row], xyz,
                                 atol=1e-5)
      np.testing.assert_allclose(data['joints_3d_h36m17'][row],
                                 xyz[list(ANATOMICAL)], atol=1e-5)
      np.testing.assert_allclose(data['keypoints_2d_h36m17'][row],
                                 uvd[list(ANATOMICAL), :2], atol=1e-3)
    # No temporary file is left beside the result.
    self.assertEqual(os.listdir(self.tmp / 'out'), ['m.npz'])

  def test_joint_maps_differ_exactly_at_ankles_and_shoulders(self):
    anat = _load(prepare.prepare_mini_rgbd(
        self.source, self.tmp / 'a.npz', sequences=[11, 12]))
    zedo = _load(prepare.prepare_mini_rgbd(
        self.source, self.tmp / 'z.npz', sequences=[11, 12],
        joint_map='zedo'))
    self.assertEqual(str(zedo['joint_map']), 'zedo')
    for key in ('keypoints_2d_smil25', 'joints_3d_smil25', 'sequence',
                'frame', 'K'):
      np.testing.assert_array_equal(anat[key], zedo[key], err_msg=key)
    for key in ('joints_3d_h36m17', 'keypoints_2d_h36m17'):
      differs = np.any(anat[key] != zedo[key], axis=(0, 2))
      self.assertEqual(tuple(np.flatnonzero(differs)), ANKLES_AND_SHOULDERS,
                       key)
    for row, key in enumerate(sorted(self.truth)):
      _, xyz = self.truth[key]
      np.testing.assert_allclose(zedo['joints_3d_h36m17'][row],
                                 xyz[list(ZEDO)], atol=1e-5)

  def test_to_arrays_rejects_unknown_map(self):
    with self.assertRaisesRegex(ValueError, r"joint_map.*'toes'"):
      mini_rgbd.to_arrays(self.source, [11], joint_map='toes')

  def test_missing_source_folder(self):
    missing = self.tmp / 'nowhere' / 'MINI-RGBD_web'
    with self.assertRaisesRegex(FileNotFoundError, str(missing)):
      prepare.prepare_mini_rgbd(missing, self.tmp / 'm.npz')
    self.assertFalse((self.tmp / 'm.npz').exists())

  def test_missing_sequence_folder(self):
    with self.assertRaisesRegex(FileNotFoundError, r'sequence 3 .*03'):
      prepare.prepare_mini_rgbd(self.source, self.tmp / 'm.npz',
                                sequences=[3, 11])

  def test_dest_must_be_npz(self):
    with self.assertRaisesRegex(ValueError, r'\.npz'):
      prepare.prepare_mini_rgbd(self.source, self.tmp / 'm.txt',
                                sequences=[11])

  def test_main_with_flags(self):
    _mark_flags_parsed()
    dest = self.tmp / 'flags.npz'
    with flagsaver.flagsaver(source=str(self.source), dest=str(dest),
                             joint_map='zedo', sequences='12',
                             max_frames=2):
      prepare.main(['prepare', 'mini_rgbd'])
    data = _load(dest)
    np.testing.assert_array_equal(data['sequence'], [12, 12])
    self.assertEqual(str(data['joint_map']), 'zedo')

  def test_main_reports_bad_input_in_one_line(self):
    _mark_flags_parsed()
    missing = self.tmp / 'absent'
    with flagsaver.flagsaver(source=str(missing),
                             dest=str(self.tmp / 'x.npz')):
      with self.assertRaisesRegex(SystemExit,
                                  rf'prepare mini_rgbd: error: .*{missing}'):
        prepare.main(['prepare', 'mini_rgbd'])
    path = self.source / '11' / 'joints_3D' / 'syn_joints_3D_00001.txt'
    path.write_text('1 2 3 0\n')
    with flagsaver.flagsaver(source=str(self.source),
                             dest=str(self.tmp / 'x.npz'), sequences='11'):
      with self.assertRaisesRegex(SystemExit, r'syn_joints_3D_00001\.txt'):
        prepare.main(['prepare', 'mini_rgbd'])

  @parameterized.named_parameters(
      ('no_command', ['prepare']),
      ('unknown', ['prepare', 'h36m']),
      ('two', ['prepare', 'syrip', 'mini_rgbd']),
  )
  def test_main_usage_errors(self, argv):
    _mark_flags_parsed()
    with flagsaver.flagsaver(dest=str(self.tmp / 'x')):
      with self.assertRaisesRegex(app.UsageError, 'syrip or mini_rgbd'):
        prepare.main(argv)
    with flagsaver.flagsaver(dest=str(self.tmp / 'x.npz'), source=None):
      with self.assertRaisesRegex(app.UsageError, '--source'):
        prepare.main(['prepare', 'mini_rgbd'])

  def test_command_line(self):
    # One real `python -m` run, to check the module's entry point wiring.
    missing = self.tmp / 'absent'
    proc = subprocess.run(
        [sys.executable, '-m', 'zedoi_jax.prepare', 'mini_rgbd',
         f'--source={missing}', f'--dest={self.tmp / "x.npz"}'],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, check=False)
    self.assertEqual(proc.returncode, 1, proc.stderr)
    self.assertIn(f'MINI-RGBD dataset (MINI-RGBD_web) folder not found: '
                  f'{missing}', proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)


class ParseSequencesTest(parameterized.TestCase):

  @parameterized.parameters(
      ('1-12', list(range(1, 13))),
      ('11,12', [11, 12]),
      ('1-3, 5', [1, 2, 3, 5]),
      ('12,11,12', [12, 11]),
      ('7', [7]),
  )
  def test_valid(self, text, want):
    self.assertEqual(prepare.parse_sequences(text), want)

  @parameterized.parameters('', 'a', '3-1', '0-2', '1-', '-3', '1,,2')
  def test_invalid(self, text):
    with self.assertRaisesRegex(ValueError, 'sequence list'):
      prepare.parse_sequences(text)


class SyripTest(absltest.TestCase):

  @data_required.needs('syrip')
  def test_copy_from_local_source(self):
    dest = _tempdir(self) / 'syrip'
    self.assertEqual(prepare.prepare_syrip(dest, source=SYRIP), dest)
    self.assertEqual(sorted(p.name for p in dest.iterdir()),
                     sorted(syrip.FILES))
    for name, (_, digest) in syrip.FILES.items():
      self.assertEqual(syrip.sha256(dest / name), digest, name)
    data = syrip.load_syrip(dest)
    chex.assert_shape(data['gt2d_coco17'], (700, 17, 3))

  @data_required.needs('syrip')
  def test_main_with_flags(self):
    _mark_flags_parsed()
    dest = _tempdir(self) / 'via_flags'
    with flagsaver.flagsaver(source=str(SYRIP), dest=str(dest)):
      prepare.main(['prepare', 'syrip'])
    self.assertEqual(sorted(p.name for p in dest.iterdir()),
                     sorted(syrip.FILES))

  def test_missing_source_folder(self):
    tmp = _tempdir(self)
    missing = tmp / 'not_there'
    with self.assertRaisesRegex(FileNotFoundError,
                                rf'SyRIP source.*not found: {missing}'):
      prepare.prepare_syrip(tmp / 'dest', source=missing)
    _mark_flags_parsed()
    with flagsaver.flagsaver(source=str(missing), dest=str(tmp / 'dest')):
      with self.assertRaisesRegex(SystemExit,
                                  rf'prepare syrip: error: .*{missing}'):
        prepare.main(['prepare', 'syrip'])

  def test_incomplete_source_folder(self):
    tmp = _tempdir(self)
    source = tmp / 'partial'
    source.mkdir()
    (source / 'correct_3D.npy').symlink_to(SYRIP / 'correct_3D.npy')
    with self.assertRaisesRegex(FileNotFoundError, str(source)):
      prepare.prepare_syrip(tmp / 'dest', source=source)


if __name__ == '__main__':
  absltest.main()
