"""Lift from detector files and calibration TOML in one call, with exports."""

import json
import pathlib
import tempfile

from absl.testing import absltest
import numpy as np

from zedoi_jax import camera
from zedoi_jax import lift_inputs
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax.data import calibration
from zedoi_jax.errors import InputError
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase
from test_detectors import body_2d, write_openpose  # pylint: disable=g-bad-import-order
from test_calibration import POSE2SIM_TOML  # pylint: disable=g-bad-import-order


class LiftFormatsTest(TinyPriorTestCase):

  def config(self, **lift_kwargs):
    config = self.lift_config(**lift_kwargs)
    config.lift.pictures = False
    return config

  def test_openpose_folder_with_calibration_and_exports(self):
    folder = self.tmp / 'openpose_json'
    # 5 frames, frame 2 empty, one person (untracked -> track 0).
    write_openpose(folder, 'body25', frames=5, two_people_at=())
    calib = self.tmp / 'Calib.toml'
    calib.write_text(POSE2SIM_TOML)
    workdir = self.tmp / 'op'
    out = lift_mode.lift(self.config(input=str(folder), camera=str(calib),
                                camera_name='cam_01',
                                export='trc,bvh,csv,gif', frame_rate=25.0),
                    workdir)
    self.assertEqual(out['num_poses'], 4)
    with np.load(workdir / 'lifted.npz') as z:
      np.testing.assert_array_equal(z['frame'], [0, 1, 3, 4])
      np.testing.assert_array_equal(z['track'], 0)
      spread = z['joint_spread_mm']
      self.assertEqual(spread.shape, (4, 17))
      self.assertTrue((spread >= 0).all() and np.isfinite(spread).all())
      np.testing.assert_allclose(spread[:, 0], 0, atol=1e-3)  # the root
      self.assertGreater(float(spread[:, 1:].mean()), 0)
      np.testing.assert_allclose(z['K'][0], [[1400, 0, 960], [0, 1390, 540],
                                             [0, 0, 1]])
    doc = json.loads((workdir / 'lifted.json').read_text())
    self.assertEqual(doc['input_format'], 'openpose')
    self.assertEqual(doc['input_layout'], 'body25')
    self.assertTrue(doc['undistorted'])
    self.assertEqual(doc['camera_name'], 'cam_01')
    self.assertIn('root-mean-square', doc['uncertainty'])
    self.assertLen(doc['poses'][0]['joint_spread_mm'], 17)
    self.assertEqual([p['frame'] for p in doc['poses']], [0, 1, 3, 4])
    names = sorted(p.split('/')[-1] for p in out['exports'])
    self.assertEqual(names, ['lifted.bvh', 'lifted.csv', 'lifted.gif',
                             'lifted.trc'])
    trc = (workdir / 'lifted.trc').read_text().split('\n')
    self.assertEqual(trc[2].split('\t')[:5], ['25', '25', '4', '17', 'm'])
    self.assertEqual([r.split('\t')[0] for r in trc[6:10]],
                     ['1', '2', '4', '5'])

  def test_undistortion_changes_the_input(self):
    folder = self.tmp / 'op2'
    write_openpose(folder, 'body25', frames=1, two_people_at=(),
                   empty_at=())
    calib = self.tmp / 'Calib.toml'
    calib.write_text(POSE2SIM_TOML)
    data = lift_inputs.load_input(str(folder), 'coco17')
    raw = data['keypoints'].copy()
    info = lift_inputs.camera_setup(data, str(calib), 'cam_01')
    self.assertTrue(info['undistorted'])
    ok = data['confidence'] > 0
    dist = [-0.12, 0.05, 0.001, -0.0005]
    # Distorting the undistorted points gives back the detector's pixels.
    redo = camera.distort_points(data['keypoints'], info['K'][0], dist)
    np.testing.assert_allclose(redo[ok], raw[ok], atol=1e-4)
    self.assertGreater(np.abs(data['keypoints'] - raw)[ok].max(), 1.0)
    np.testing.assert_array_equal(data['keypoints'][~ok], 0.0)
    with self.assertRaisesRegex(InputError, 'cam_01, cam_02'):
      lift_inputs.camera_setup(lift_inputs.load_input(str(folder), 'coco17'), str(calib))
    with self.assertRaisesRegex(InputError, 'needs a calibration .toml'):
      lift_inputs.camera_setup(lift_inputs.load_input(str(folder), 'coco17'), '', 'cam_01')

  def test_alphapose_with_per_frame_K(self):
    rng = np.random.default_rng(0)
    dets = []
    for frame in (0, 2, 3):
      for idx in (1, 2):
        kp = body_2d('halpe26', rng, centre=(200.0 * idx, 240.0))
        dets.append({'image_id': f'{frame}.jpg', 'category_id': 1,
                     'keypoints': np.concatenate(
                         [kp, np.full((26, 1), 0.9)], -1).ravel().tolist(),
                     'score': 2.0, 'box': [0, 0, 10, 10], 'idx': idx})
    src = self.tmp / 'alphapose-results.json'
    src.write_text(json.dumps(dets))
    ks = np.stack([camera.intrinsics(900.0 + 10 * f, 900.0 + 10 * f, 320.0,
                                     240.0) for f in range(4)])
    cam = self.tmp / 'K_per_frame.npy'
    np.save(cam, ks)
    workdir = self.tmp / 'ap'
    out = lift_mode.lift(self.config(input=str(src), camera=str(cam),
                                export='csv'), workdir)
    self.assertEqual(out['num_poses'], 6)
    with np.load(workdir / 'lifted.npz') as z:
      np.testing.assert_array_equal(z['frame'], [0, 0, 2, 2, 3, 3])
      np.testing.assert_array_equal(z['track'], [1, 2] * 3)
      np.testing.assert_allclose(z['K'][:, 0, 0], [900, 900, 920, 920, 930,
                                                   930])
    np.save(cam, ks[:3])
    with self.assertRaisesRegex(InputError, 'K_per_frame.npy.*frames 0..3'):
      lift_mode.lift(self.config(input=str(src), camera=str(cam)),
                self.tmp / 'ap2')

  def test_unknown_format_error(self):
    src = self.tmp / 'mystery.json'
    src.write_text(json.dumps([{'a': 1}]))
    with self.assertRaisesRegex(InputError, 'mystery.json.*lift.format'):
      lift_mode.lift(self.config(input=str(src)), self.tmp / 'x')
    with self.assertRaisesRegex(InputError, 'lift.export'):
      lift_mode.lift(self.config(input=str(src), export='fbx'), self.tmp / 'y')


class CameraBoundsTest(absltest.TestCase):
  """Every K from a file is bounds-checked, whichever kind of file."""

  def _data(self, n=3):
    return {'keypoints': np.full((n, 17, 2), 100.0),
            'confidence': np.ones((n, 17)), 'source': 'in.json',
            'image_wh': np.full((n, 2), (640.0, 480.0)),
            'frame': np.arange(n), 'per_frame': True}

  def test_per_frame_k_with_an_absurd_focal_is_refused(self):
    with tempfile.TemporaryDirectory() as d:
      k = np.broadcast_to(np.array([[500.0, 0, 320], [0, 500, 240],
                                    [0, 0, 1]]), (3, 3, 3)).copy()
      k[1, 0, 0] = k[1, 1, 1] = 1e-12
      path = pathlib.Path(d) / 'K_frames.npy'
      np.save(path, k)
      with self.assertRaisesRegex(InputError,
                                  'K_frames.npy.*outside the sane range'):
        lift_inputs.camera_setup(self._data(), str(path))

  def test_calibration_k_with_an_absurd_focal_is_refused(self):
    cam = calibration.Camera(
        name='cam_01', K=np.array([[1e-12, 0, 320], [0, 1e-12, 240],
                                   [0, 0, 1]], np.float32),
        dist=np.zeros(4, np.float32), size=(640, 480), rotation=None,
        translation=None, label='cam_01')
    with self.assertRaisesRegex(InputError,
                                'Calib.toml.*outside the sane range'):
      lift_inputs.camera_setup(self._data(), 'Calib.toml', calibration_camera=cam)
