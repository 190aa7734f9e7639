"""Lens distortion (OpenCV model) and calibration TOML files."""

import pathlib
import tempfile

import numpy as np
from absl.testing import absltest
from hypothesis import given, settings, strategies as st

from zedoi_jax import camera
from zedoi_jax.data import calibration
from zedoi_jax.errors import InputError

K = np.array([[1400.0, 0.0, 960.0], [0.0, 1390.0, 540.0], [0.0, 0.0, 1.0]])

# Written as Pose2Sim's calibration writes it (toml.dump of its dict).
POSE2SIM_TOML = """[cam_01]
name = "cam_01"
size = [ 1920.0, 1080.0,]
matrix = [ [ 1400.0, 0.0, 960.0,], [ 0.0, 1390.0, 540.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ -0.12, 0.05, 0.001, -0.0005,]
rotation = [ 1.2, -0.3, 0.1,]
translation = [ 0.5, 1.0, 3.0,]
fisheye = false

[cam_02]
name = "side"
size = [ 1280.0, 720.0,]
matrix = [ [ 900.0, 0.0, 640.0,], [ 0.0, 900.0, 360.0,], [ 0.0, 0.0, 1.0,],]
distortions = [ 0.0, 0.0, 0.0, 0.0,]
rotation = [ 0.0, 1.5, 0.0,]
translation = [ -2.0, 1.0, 3.0,]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""


class DistortionTest(absltest.TestCase):

  def test_known_value(self):
    # A point on the x axis at x = 0.5 with k1 only: x_d = x (1 + k1 x^2).
    uv = np.array([[960.0 + 0.5 * 1400.0, 540.0]])
    out = camera.distort_points(uv, K, [-0.1, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(out, [[960.0 + 1400.0 * 0.5 * 0.975, 540.0]])

  def test_zero_distortion_is_identity(self):
    uv = np.random.default_rng(0).uniform(0, 1900, (5, 17, 2))
    np.testing.assert_allclose(camera.undistort_points(uv, K, [0] * 5), uv)

  @settings(max_examples=40, deadline=None)
  @given(k1=st.floats(-0.3, 0.3), k2=st.floats(-0.1, 0.1),
         p1=st.floats(-0.003, 0.003), p2=st.floats(-0.003, 0.003),
         k3=st.floats(-0.02, 0.02), seed=st.integers(0, 1000))
  def test_round_trip(self, k1, k2, p1, p2, k3, seed):
    # Points over the whole 1920x1080 image (|x| up to ~0.7).
    uv = np.random.default_rng(seed).uniform([0, 0], [1920, 1080], (4, 17, 2))
    dist = [k1, k2, p1, p2, k3]
    back = camera.undistort_points(camera.distort_points(uv, K, dist), K,
                                   dist)
    np.testing.assert_allclose(back, uv, atol=1e-4)

  def test_per_pose_K(self):
    ks = np.stack([K, K * [[0.5], [0.5], [1]]])
    uv = np.full((2, 3, 2), 700.0)
    d = [0.1, 0.0, 0.0, 0.0]
    out = camera.distort_points(uv, ks, d)
    np.testing.assert_allclose(out[0], camera.distort_points(uv[0], K, d))
    np.testing.assert_allclose(camera.undistort_points(out, ks, d), uv,
                               atol=1e-6)

  def test_bad_coefficients(self):
    with self.assertRaisesRegex(InputError, 'distortions.*4 or 5'):
      camera.undistort_points(np.zeros((1, 2)), K, [0.1] * 8)


class CalibrationTomlTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.path = pathlib.Path(tempfile.mkdtemp()) / 'Calib_board.toml'
    self.path.write_text(POSE2SIM_TOML)

  def test_read(self):
    cams = calibration.read_calibration(self.path)
    self.assertEqual(list(cams), ['cam_01', 'cam_02'])
    c = cams['cam_01']
    np.testing.assert_allclose(c.K, K)
    np.testing.assert_allclose(c.dist, [-0.12, 0.05, 0.001, -0.0005])
    self.assertEqual(c.size, (1920, 1080))
    np.testing.assert_allclose(c.rotation, [1.2, -0.3, 0.1])
    self.assertTrue(c.has_distortion)
    self.assertFalse(cams['cam_02'].has_distortion)

  def test_select(self):
    cams = calibration.read_calibration(self.path)
    self.assertEqual(calibration.select_camera(cams, 'side', 'f').name,
                     'cam_02')
    self.assertEqual(calibration.select_camera(cams, 'cam_01', 'f').name,
                     'cam_01')
    with self.assertRaisesRegex(InputError, 'cam_01, cam_02.*camera_name'):
      calibration.select_camera(cams, '', 'f')
    with self.assertRaisesRegex(InputError, "no camera 'top'"):
      calibration.select_camera(cams, 'top', 'f')

  def test_errors(self):
    self.path.write_text(POSE2SIM_TOML.replace('fisheye = false',
                                               'fisheye = true', 1))
    with self.assertRaisesRegex(InputError, 'cam_01.*fisheye'):
      calibration.read_calibration(self.path)
    self.path.write_text('[cam]\nmatrix = [[1, 0], [0, 1]]\n')
    with self.assertRaisesRegex(InputError, 'Calib_board.toml.*matrix'):
      calibration.read_calibration(self.path)
    self.path.write_text('[metadata]\nerror = 0.0\n')
    with self.assertRaisesRegex(InputError, 'no camera table'):
      calibration.read_calibration(self.path)
    self.path.write_text('[cam\n')
    with self.assertRaisesRegex(InputError, 'not valid TOML'):
      calibration.read_calibration(self.path)


if __name__ == '__main__':
  absltest.main()
