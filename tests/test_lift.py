"""Tests for lift mode: COCO JSON and .npy inputs, validation errors."""

import json
import pathlib

import numpy as np
from absl.testing import absltest

from zedoi_jax.modes import lift as lift_mode
from zedoi_jax.errors import InputError
# Shared fixture: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase


def coco_fixture(path: pathlib.Path, n: int = 3) -> pathlib.Path:
  rng = np.random.default_rng(0)
  images = [{'id': i + 1, 'file_name': f'img{i}.jpg', 'width': 640,
             'height': 480} for i in range(n)]
  annotations = []
  for i in range(n):
    kp = np.concatenate([rng.uniform(200, 400, (17, 2)), np.full((17, 1), 2)],
                        -1)
    kp[0] = 0  # nose unlabelled
    annotations.append({'id': i + 1, 'image_id': i + 1, 'category_id': 1,
                        'num_keypoints': 16, 'keypoints': kp.ravel().tolist()})
  doc = {'images': images, 'annotations': annotations,
         'categories': [{'id': 1, 'name': 'person',
                         'keypoints': [f'k{j}' for j in range(17)]}]}
  path.write_text(json.dumps(doc))
  return path


class LiftTest(TinyPriorTestCase):

  def config(self, **lift_kwargs):
    config = self.lift_config(**lift_kwargs)
    return config

  def test_coco_json(self):
    src = coco_fixture(self.tmp / 'kp.json')
    workdir = self.tmp / 'coco'
    with self.assertLogs(level='WARNING') as logs:
      out = lift_mode.lift(self.config(input=str(src)), workdir)
    self.assertIn('No camera intrinsics', ' '.join(logs.output))
    self.assertEqual(out['num_poses'], 3)
    with np.load(workdir / 'lifted.npz') as z:
      self.assertEqual(z['poses_3d'].shape, (3, 17, 3))
      self.assertEqual(z['translation'].shape, (3, 3))
      np.testing.assert_allclose(
          z['poses_3d_abs'], z['poses_3d'] + z['translation'][:, None],
          atol=1e-6)
      self.assertTrue(np.isfinite(z['poses_3d']).all())
      np.testing.assert_allclose(z['poses_3d'][:, 0], 0, atol=1e-6)
      self.assertEqual(list(z['joint_names'])[0], 'pelvis')
    doc = json.loads((workdir / 'lifted.json').read_text())
    self.assertLen(doc['poses'], 3)
    self.assertIn('metres', doc['units'])
    self.assertIn('camera frame', doc['frame'])
    self.assertTrue((workdir / 'lifted_3d.png').is_file())
    self.assertTrue((workdir / 'lifted_reprojection.png').is_file())

  def test_npy_with_camera_and_nan(self):
    rng = np.random.default_rng(1)
    arr = np.concatenate([rng.uniform(100, 500, (4, 17, 2)),
                          rng.uniform(0.5, 1, (4, 17, 1))], -1)
    arr[1, 5, 0] = np.nan
    src = self.tmp / 'kp.npy'
    np.save(src, arr)
    cam = self.tmp / 'K.json'
    cam.write_text(json.dumps({'K': [[800, 0, 320], [0, 800, 240],
                                     [0, 0, 1]]}))
    workdir = self.tmp / 'npy'
    config = self.config(input=str(src), layout='h36m17', camera=str(cam),
                         pictures=False)
    with self.assertLogs(level='WARNING') as logs:
      lift_mode.lift(config, workdir)
    self.assertIn('1 of 68 keypoints are NaN', ' '.join(logs.output))
    with np.load(workdir / 'lifted.npz') as z:
      self.assertEqual(z['poses_3d'].shape, (4, 17, 3))
      self.assertTrue(np.isfinite(z['poses_3d']).all())
      np.testing.assert_allclose(z['K'][0, 0, 0], 800)

  def test_errors(self):
    src = self.tmp / 'bad.npy'
    np.save(src, np.zeros((2, 14, 2)))
    with self.assertRaisesRegex(InputError, r'bad\.npy.*keypoints.*14'):
      lift_mode.lift(self.config(input=str(src), image_width=640,
                            image_height=480), self.tmp / 'e1')
    with self.assertRaisesRegex(
        InputError, r'--config\.lift\.camera=.*--config\.lift\.image_width=W '
        r'--config\.lift\.image_height=H'):
      lift_mode.lift(self.config(input=str(src)), self.tmp / 'e2')
    with self.assertRaisesRegex(InputError, 'unknown joint layout'):
      lift_mode.lift(self.config(input=str(src), layout='openpose25'),
                self.tmp / 'e3')
    np.save(src, np.zeros((2, 17, 4)))
    with self.assertRaisesRegex(InputError, r'bad\.npy.*\[N, J, 2\]'):
      lift_mode.lift(self.config(input=str(src), image_width=640,
                            image_height=480), self.tmp / 'e4')
    with self.assertRaises(FileNotFoundError):
      lift_mode.lift(self.config(input=str(self.tmp / 'missing.npy')),
                self.tmp / 'e5')
    cam = self.tmp / 'K.txt'
    cam.write_text('1 0 0\n0 1 0\n0 0 0\n')
    np.save(src, np.zeros((2, 17, 2)))
    with self.assertRaisesRegex(InputError, r'K\.txt.*last row'):
      lift_mode.lift(self.config(input=str(src), camera=str(cam)),
                self.tmp / 'e6')


if __name__ == '__main__':
  absltest.main()
