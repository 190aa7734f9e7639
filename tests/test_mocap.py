"""Tests for zedoi_jax.data.mocap against the real CMU takes."""

import pathlib
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import chex
import numpy as np

from zedoi_jax.data import mocap
from zedoi_jax.errors import InputError

import data_required

CMU = data_required.path('cmu')
NEEDS_CMU = data_required.needs('cmu', *data_required.CMU_TAKES,
                                data_required.CMU_REFERENCE)
REFERENCE = CMU / 'cmu_h36m17_positions.npz'

# (reference key, file, frames).
TAKES = (
    ('01_01_amc', '01_01.amc', 2751),
    ('01_01_bvh', '01_01.bvh', 2752),
    ('131_01_bvh', '131_01.bvh', 994),
    ('131_02_bvh', '131_02.bvh', 1247),
    ('131_03_bvh', '131_03.bvh', 1102),
)


def _tempdir(test):
  # absltest's create_tempdir needs parsed flags, which pytest does not do.
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return pathlib.Path(tmp.name)


def _reference(key):
  with np.load(REFERENCE) as z:
    return z[key]


def _mean_dist_mm(a, b):
  return float(np.linalg.norm(a - b, axis=-1).mean() * 1000.0)


@NEEDS_CMU
class RealTakesTest(parameterized.TestCase):

  @parameterized.named_parameters(*[(k, k, f, n) for k, f, n in TAKES])
  def test_matches_reference(self, key, filename, frames):
    got = mocap.load_h36m17(CMU / filename)
    want = _reference(key)
    chex.assert_shape(got, (frames, 17, 3))
    self.assertEqual(got.dtype, np.float32)
    chex.assert_tree_all_finite(got)
    rel = _mean_dist_mm(got - got[:, :1], want - want[:, :1])
    self.assertLess(rel, 5.0, f'{key}: root-centred mean joint distance '
                    f'{rel:.3f} mm')
    # World frame, not root-centred: the absolute positions agree too.
    absolute = _mean_dist_mm(got, want)
    self.assertLess(absolute, 5.0, f'{key}: world-frame mean joint distance '
                    f'{absolute:.3f} mm')

  def test_asf_with_amc_path_equals_amc_alone(self):
    a = mocap.load_h36m17(CMU / '01.asf', amc_path=CMU / '01_01.amc')
    b = mocap.load_h36m17(CMU / '01_01.amc')
    np.testing.assert_array_equal(a, b)

  def test_y_up_and_adult_bone_lengths(self):
    x = mocap.load_h36m17(CMU / '01_01.amc')
    # Head above pelvis above ankles in Y (Y up) for most frames.
    self.assertGreater(np.mean(x[:, 10, 1] > x[:, 0, 1]), 0.9)
    self.assertGreater(np.mean(x[:, 0, 1] > x[:, 3, 1]), 0.9)
    # Rigid kinematics: bone lengths are constant and adult-sized.
    for a, b, lo, hi in [(2, 3, 0.38, 0.44), (1, 2, 0.39, 0.44),
                         (11, 12, 0.23, 0.30), (12, 13, 0.18, 0.21)]:
      length = np.linalg.norm(x[:, a] - x[:, b], axis=-1)
      self.assertLess(np.ptp(length), 1e-4, (a, b))
      self.assertBetween(float(length.mean()), lo, hi)

  def test_bvh_positions_has_end_sites_and_frame_time(self):
    motion = mocap.parse_bvh(CMU / '131_01.bvh')
    self.assertAlmostEqual(motion.frame_time, 1 / 120, places=5)
    pos = mocap.bvh_positions(motion)
    self.assertIn('Head_end', pos)
    self.assertIn('Head', pos)
    chex.assert_shape(pos['Head_end'], (994, 3))
    # Head end site sits above the Head joint by the offset length.
    off = motion.joints[motion.joint_names.index('Head_end')].offset
    d = np.linalg.norm(pos['Head_end'] - pos['Head'], axis=-1)
    np.testing.assert_allclose(d, np.linalg.norm(off) * mocap.CMU_SCALE,
                               rtol=1e-6)

  def test_scale_parameter(self):
    a = mocap.load_h36m17(CMU / '131_01.bvh')
    b = mocap.load_h36m17(CMU / '131_01.bvh', scale=1.0)
    np.testing.assert_allclose(a, b * mocap.CMU_SCALE, rtol=1e-5, atol=1e-6)

  def test_asf_amc_positions_root_and_bones(self):
    asf = mocap.parse_asf(CMU / '01.asf')
    frames = mocap.parse_amc(CMU / '01_01.amc')
    self.assertLen(frames, 2751)
    self.assertEqual(asf.angle_unit, 'deg')
    self.assertEqual(asf.bones['lfemur'].dof, ('rx', 'ry', 'rz'))
    pos = mocap.asf_amc_positions(asf, frames[:5])
    # Root translation comes from the AMC.
    np.testing.assert_allclose(pos['root'][0], frames[0]['root'][:3]
                               * mocap.CMU_SCALE)
    # Each bone ends length*scale away from its parent's end.
    d = np.linalg.norm(pos['ltibia'] - pos['lfemur'], axis=-1)
    np.testing.assert_allclose(
        d, asf.bones['ltibia'].length * mocap.CMU_SCALE, rtol=1e-5)


class SyntheticBvhTest(absltest.TestCase):
  """Hand-checkable conventions on a two-joint BVH."""

  def _write(self, text):
    tmp = _tempdir(self) / 'chain.bvh'
    tmp.write_text(text)
    return tmp

  def test_rotation_order_and_offsets(self):
    path = self._write(
        'HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n'
        ' CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation '
        'Xrotation\n JOINT B\n {\n  OFFSET 1 0 0\n'
        '  CHANNELS 3 Zrotation Xrotation Yrotation\n'
        '  End Site\n  {\n   OFFSET 0 2 0\n  }\n }\n}\n'
        'MOTION\nFrames: 3\nFrame Time: 0.5\n'
        '0 0 0 90 0 0 0 0 0\n'
        '1 2 3 0 0 90 0 0 90\n'
        '0 0 0 90 0 90 0 0 0\n')
    motion = mocap.parse_bvh(path)
    self.assertEqual(motion.joint_names, ('A', 'B', 'B_end'))
    pos = mocap.bvh_positions(motion, scale=1.0)
    # Frame 0: root turned 90 deg about z: B at +y, B's end 2 further in -x.
    np.testing.assert_allclose(pos['B'][0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pos['B_end'][0], [-2, 1, 0], atol=1e-12)
    # Frame 1: root translated and turned 90 deg about x (y -> z);
    # B turned 90 deg about y: its (0, 2, 0) end stays along root's y -> z.
    np.testing.assert_allclose(pos['A'][1], [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(pos['B'][1], [2, 2, 3], atol=1e-12)
    np.testing.assert_allclose(pos['B_end'][1], [2, 2, 5], atol=1e-12)
    # Frame 2: Rz(90) @ Rx(90) (listed order, leftmost outermost); the
    # other order would put B at (0, 0, 1).
    np.testing.assert_allclose(pos['B'][2], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(pos['B_end'][2], [0, 1, 2], atol=1e-12)
    self.assertEqual(motion.frame_time, 0.5)


class ErrorsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)

  def test_missing_files_named(self):
    for name in ('nope.bvh', 'nope.asf', 'nope_01.amc'):
      with self.assertRaisesRegex(FileNotFoundError, 'nope'):
        if name.endswith('.asf'):
          mocap.load_h36m17(self.tmp / name, amc_path=self.tmp / 'x.amc')
        else:
          mocap.load_h36m17(self.tmp / name)

  def test_amc_without_asf_beside_it(self):
    amc = self.tmp / '07_02.amc'
    amc.write_text(':FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\n')
    with self.assertRaisesRegex(FileNotFoundError, '07.asf'):
      mocap.load_h36m17(amc)

  @NEEDS_CMU
  def test_asf_needs_amc(self):
    with self.assertRaisesRegex(ValueError, 'amc_path'):
      mocap.load_h36m17(CMU / '01.asf')

  def test_unknown_suffix(self):
    path = self.tmp / 'take.fbx'
    path.write_text('x')
    with self.assertRaisesRegex(InputError, 'take.fbx'):
      mocap.load_h36m17(path)

  def _variant(self, name, transform):
    text = (CMU / '131_01.bvh').read_text()
    path = self.tmp / name
    path.write_text(transform(text))
    return path

  @NEEDS_CMU
  def test_truncated_bvh(self):
    cases = {
        'motion_cut.bvh': lambda t: t[:len(t) // 2],
        'hierarchy_cut.bvh': lambda t: t[:2000],
        'line_cut.bvh': lambda t: t.rstrip()[:-40],
        'empty.bvh': lambda t: '',
    }
    for name, fn in cases.items():
      path = self._variant(name, fn)
      with self.assertRaisesRegex(InputError, name):
        mocap.load_h36m17(path)

  @NEEDS_CMU
  def test_garbled_bvh(self):
    def garble_motion(t):
      head, body = t.split('MOTION')
      lines = body.splitlines()
      lines[10] = lines[10].replace('0', 'x', 1)
      return head + 'MOTION' + '\n'.join(lines)
    cases = {
        'garbled_value.bvh': garble_motion,
        'garbled_channels.bvh': lambda t: t.replace(
            'CHANNELS 3 Zrotation', 'CHANNELS 3 Zrot', 1),
        'garbled_braces.bvh': lambda t: t.replace('{', '', 3),
    }
    for name, fn in cases.items():
      path = self._variant(name, fn)
      with self.assertRaisesRegex(InputError, name):
        mocap.load_h36m17(path)

  @NEEDS_CMU
  def test_unknown_bvh_naming_lists_missing(self):
    path = self._variant('renamed.bvh',
                         lambda t: t.replace('LeftKnee', 'LKnee'))
    with self.assertRaisesRegex(InputError, r'renamed\.bvh.*LeftKnee'):
      mocap.load_h36m17(path)

  @NEEDS_CMU
  def test_unknown_asf_naming_lists_missing(self):
    asf = self.tmp / '01.asf'
    asf.write_text((CMU / '01.asf').read_text().replace('lfemur', 'lthigh'))
    amc = self.tmp / '01_01.amc'
    amc.write_text(':FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\n')
    with self.assertRaisesRegex(InputError, r'01\.asf.*lfemur'):
      mocap.load_h36m17(amc)

  @NEEDS_CMU
  def test_amc_missing_bone_in_frame(self):
    lines = (CMU / '01_01.amc').read_text().splitlines()
    # Keep frames 1 and 2, and drop one bone line from frame 2.
    lines = lines[:lines.index('3')]
    del lines[lines.index('2') + 3]
    amc = self.tmp / 'short.amc'
    amc.write_text('\n'.join(lines) + '\n')
    with self.assertRaisesRegex(InputError, 'short.amc.*frame 1'):
      mocap.load_h36m17(CMU / '01.asf', amc_path=amc)


if __name__ == '__main__':
  absltest.main()
