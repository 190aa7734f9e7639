"""fit on MINI-RGBD: the npz of `prepare mini_rgbd`, under its protocol.

No real MINI-RGBD data is needed: the tests write a MINI-RGBD_web-style tree
(sequences 01, 11, 12) whose 2D is the Kinect projection of its 3D, convert
it with `prepare.prepare_mini_rgbd`, and fit it with a tiny prior.
"""

import json
import pathlib

from absl.testing import absltest
import numpy as np

from zedoi_jax import camera
from zedoi_jax.modes import fit as fit_mode
from zedoi_jax import prepare
from zedoi_jax.data import mini_rgbd
from zedoi_jax.errors import InputError

# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase, tiny_config
from test_prepare import ANATOMICAL, ZEDO, ANKLES_AND_SHOULDERS

SEQUENCES = (1, 11, 12)
FRAMES = 2


def write_tree(root: pathlib.Path) -> None:
  """Sequences whose 2D is the Kinect projection of their 3D."""
  rng = np.random.default_rng(0)
  K = np.asarray(camera.MINI_RGBD_K, np.float64)
  for s in SEQUENCES:
    d2 = root / f'{s:02d}' / 'joints_2Ddep'
    d3 = root / f'{s:02d}' / 'joints_3D'
    d2.mkdir(parents=True)
    d3.mkdir(parents=True)
    for f in range(FRAMES):
      xyz = rng.normal(size=(25, 3)) * 0.12 + [0.0, 0.0, 0.8]
      uv = xyz @ K.T
      uv = uv[:, :2] / uv[:, 2:]
      (d2 / f'syn_joints_2Ddep_{f:05d}.txt').write_text(''.join(
          f'{uv[j, 0]:.6f} {uv[j, 1]:.6f} {xyz[j, 2] * 1000:.3f} {j}\n'
          for j in range(25)))
      (d3 / f'syn_joints_3D_{f:05d}.txt').write_text(''.join(
          f'{xyz[j, 0]:.6f} {xyz[j, 1]:.6f} {xyz[j, 2]:.6f} {j}\n'
          for j in range(25)))


class MiniRgbdFitTest(TinyPriorTestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    write_tree(cls.tmp / 'MINI-RGBD_web')
    cls.npz = prepare.prepare_mini_rgbd(
        cls.tmp / 'MINI-RGBD_web', cls.tmp / 'mini_rgbd.npz',
        sequences=list(SEQUENCES))

  def test_load_converted_split_and_both_maps(self):
    with np.load(self.npz) as z:
      smil_3d, smil_2d = z['joints_3d_smil25'], z['keypoints_2d_smil25']
      seq = z['sequence']
    test = np.isin(seq, (11, 12))
    for name, rows in (('anatomical', ANATOMICAL), ('zedo', ZEDO)):
      d = mini_rgbd.load_converted(self.npz, split='test', joint_map=name)
      self.assertEqual(d['joint_map'], name)
      self.assertEqual(d['sequences'], [11, 12])
      np.testing.assert_allclose(d['joints_3d'], smil_3d[test][:, rows])
      np.testing.assert_allclose(d['keypoints_2d'], smil_2d[test][:, rows])
    a = mini_rgbd.load_converted(self.npz, joint_map='anatomical')
    z = mini_rgbd.load_converted(self.npz, joint_map='zedo')
    differ = np.flatnonzero(np.abs(a['joints_3d'] - z['joints_3d']).max(
        (0, 2)) > 0)
    self.assertEqual(sorted(differ), sorted(ANKLES_AND_SHOULDERS))
    # '' = the map the npz was made with.
    self.assertEqual(mini_rgbd.load_converted(self.npz)['joint_map'],
                     'anatomical')
    self.assertEqual(mini_rgbd.load_converted(self.npz, split='train')[
        'sequences'], [1])

  def test_errors(self):
    with self.assertRaisesRegex(FileNotFoundError, 'prepare mini_rgbd'):
      mini_rgbd.load_converted(self.tmp / 'none.npz')
    with self.assertRaisesRegex(InputError, 'data.split'):
      mini_rgbd.load_converted(self.npz, split='val')
    with self.assertRaisesRegex(InputError, 'data.joint_map'):
      mini_rgbd.load_converted(self.npz, joint_map='toes')
    only_train = prepare.prepare_mini_rgbd(
        self.tmp / 'MINI-RGBD_web', self.tmp / 'train_only.npz',
        sequences=[1])
    with self.assertRaisesRegex(InputError, r'train_only\.npz.*11, 12'):
      mini_rgbd.load_converted(only_train, split='test')
    bad = self.tmp / 'bad.npz'
    np.savez(bad, keypoints=np.zeros((2, 17, 2)))
    with self.assertRaisesRegex(InputError, r'bad\.npz.*missing'):
      mini_rgbd.load_converted(bad)

  def test_fit_under_the_protocol(self):
    results = {}
    for name in ('anatomical', 'zedo'):
      workdir = self.tmp / f'fit_{name}'
      config = tiny_config(self.prior, name='mini_rgbd', split='test',
                           mini_rgbd_npz=str(self.npz), joint_map=name)
      config.eval.pictures = False
      results[name] = fit_mode.fit(config, workdir)
      saved = json.loads((workdir / 'results.json').read_text())
      self.assertEqual(saved['dataset'], 'mini_rgbd')
      self.assertEqual(saved['joint_map'], name)
      self.assertEqual(saved['sequences'], [11, 12])
      self.assertEqual(saved['num_poses'], 2 * FRAMES)
      self.assertLen(saved['per_joint_mpjpe_mm'], 17)
      self.assertTrue(np.isfinite(saved['mpjpe_mm']))
      with np.load(workdir / 'predictions.npz') as z:
        want = mini_rgbd.load_converted(self.npz, joint_map=name)[
            'joints_3d']
        np.testing.assert_allclose(z['gt'], want - want[:, :1], atol=1e-6)
    self.assertNotEqual(results['anatomical']['mpjpe_mm'],
                        results['zedo']['mpjpe_mm'])


if __name__ == '__main__':
  absltest.main()
