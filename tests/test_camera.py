"""Tests for zedoi_jax.camera: intrinsics, projection, rays."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import camera
from zedoi_jax.errors import InputError


def _random_points(rng, shape):
  """Points in front of the camera: z in [1, 4] m."""
  p = rng.normal(size=shape + (3,)) * 0.3
  p[..., 2] = rng.uniform(1.0, 4.0, size=shape)
  return p.astype(np.float32)


class IntrinsicsTest(parameterized.TestCase):

  def test_intrinsics_layout(self):
    k = camera.intrinsics(500.0, 600.0, 320.0, 240.0)
    np.testing.assert_array_equal(
        k, [[500, 0, 320], [0, 600, 240], [0, 0, 1]])
    self.assertEqual(k.dtype, np.float32)

  def test_intrinsics_broadcast(self):
    k = camera.intrinsics(np.array([500.0, 700.0]), 600.0, 320.0, 240.0)
    chex.assert_shape(k, (2, 3, 3))
    np.testing.assert_array_equal(k[:, 0, 0], [500, 700])
    np.testing.assert_array_equal(k[:, 1, 1], [600, 600])

  def test_syrip_k(self):
    k = camera.syrip_K(640, 480)
    np.testing.assert_array_equal(
        k, [[2000, 0, 320], [0, 2000, 240], [0, 0, 1]])
    kb = camera.syrip_K(np.array([640, 1000]), np.array([480, 800]))
    chex.assert_shape(kb, (2, 3, 3))
    np.testing.assert_array_equal(kb[1, :2, 2], [500, 400])

  def test_mini_rgbd_k(self):
    np.testing.assert_allclose(
        camera.MINI_RGBD_K,
        [[588.68, 0, 322.22], [0, 590.26, 237.47], [0, 0, 1]], rtol=1e-6)
    with self.assertRaises(ValueError):
      camera.MINI_RGBD_K[0, 0] = 1.0

  def test_default_k_warns(self):
    with self.assertLogs(level='WARNING') as logs:
      k = camera.default_K(1920, 1080)
    self.assertIn('max(width, height)', ''.join(logs.output))
    np.testing.assert_array_equal(
        k, [[1920, 0, 960], [0, 1920, 540], [0, 0, 1]])
    # A portrait image: f follows the longer side.
    k = camera.default_K(480, 640, warn=False)
    self.assertEqual(k[0, 0], 640)

  def test_default_k_silent(self):
    with self.assertNoLogs(level='WARNING'):
      camera.default_K(100, 100, warn=False)


class ValidateKTest(parameterized.TestCase):

  def test_valid(self):
    k = camera.validate_K(camera.syrip_K(640, 480).tolist())
    self.assertEqual(k.dtype, np.float32)
    kb = camera.validate_K(np.stack([camera.MINI_RGBD_K] * 3))
    chex.assert_shape(kb, (3, 3, 3))

  @parameterized.named_parameters(
      ('shape', np.eye(4), 'field \'K\'.*shape'),
      ('nonfinite', [[np.nan, 0, 1], [0, 1, 1], [0, 0, 1]], 'non-finite'),
      ('fx', [[0, 0, 1], [0, 1, 1], [0, 0, 1]], r'K\[0,0\] \(fx\)'),
      ('fy', [[1, 0, 1], [0, -1, 1], [0, 0, 1]], r'K\[1,1\] \(fy\)'),
      ('last_row', [[1, 0, 1], [0, 1, 1], [0, 1, 1]], r'K\[2,:\]'),
      ('text', [['a', 'b', 'c']] * 3, 'numeric'),
  )
  def test_invalid(self, k, pattern):
    with self.assertRaisesRegex(InputError, pattern) as ctx:
      camera.validate_K(k, source='cams.json')
    self.assertIn('cams.json', str(ctx.exception))

  def test_names_bad_matrix_in_batch(self):
    kb = np.stack([camera.MINI_RGBD_K] * 3).copy()
    kb[2, 1, 1] = 0.0
    with self.assertRaisesRegex(InputError, 'matrix 2'):
      camera.validate_K(kb)


class ProjectionTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.rng = np.random.default_rng(0)
    self.k = np.array([[900.0, 2.0, 300.0], [0.0, 950.0, 250.0],
                       [0.0, 0.0, 1.0]], np.float32)

  def test_project_known_value(self):
    uv = camera.project(np.array([[0.2, -0.1, 2.0]]), self.k)
    # u = (900 * 0.2 + 2 * -0.1) / 2 + 300, v = 950 * -0.1 / 2 + 250.
    np.testing.assert_allclose(uv, [[389.9, 202.5]], rtol=1e-6)

  def test_backproject_roundtrip(self):
    uv = self.rng.uniform(0, 600, size=(4, 6, 2)).astype(np.float32)
    z = self.rng.uniform(1, 5, size=(4, 6)).astype(np.float32)
    p = camera.backproject(uv, z, self.k)
    chex.assert_shape(p, (4, 6, 3))
    np.testing.assert_allclose(p[..., 2], z, rtol=1e-6)
    np.testing.assert_allclose(camera.project(p, self.k), uv, atol=1e-3)

  def test_rays_unit_and_through_point(self):
    points = _random_points(self.rng, (5, 7))
    uv = camera.project(points, self.k)
    r = camera.rays(uv, self.k)
    np.testing.assert_allclose(np.linalg.norm(r, axis=-1), 1.0, atol=1e-6)
    self.assertTrue((r[..., 2] > 0).all())
    # The ray through a point's pixel points at the point itself.
    unit = points / np.linalg.norm(points, axis=-1, keepdims=True)
    np.testing.assert_allclose(r, unit, atol=1e-5)
    np.testing.assert_allclose(camera.project(r * 3.0, self.k), uv,
                               atol=1e-3)

  def test_batched_k_broadcasting(self):
    ks = camera.intrinsics(np.array([500.0, 1000.0, 2000.0]), 800.0, 320.0,
                           240.0)
    points = _random_points(self.rng, (3, 5))
    uv = camera.project(points, ks)
    chex.assert_shape(uv, (3, 5, 2))
    for b in range(3):
      np.testing.assert_allclose(uv[b], camera.project(points[b], ks[b]),
                                 rtol=1e-6)
    # One K shared by a batch of poses.
    uv_shared = camera.project(points, ks[1])
    np.testing.assert_allclose(uv_shared[1], uv[1], rtol=1e-6)
    self.assertFalse(np.allclose(uv_shared[0], uv[0]))
    # Extra leading dims on the points: [S, B, J, 3] with K [B, 3, 3].
    uv_s = camera.project(np.stack([points, points]), ks)
    chex.assert_shape(uv_s, (2, 3, 5, 2))
    np.testing.assert_allclose(uv_s[1], uv, rtol=1e-6)

  def test_jit_matches_numpy(self):
    points = _random_points(self.rng, (2, 4))
    ks = np.stack([self.k, camera.MINI_RGBD_K])

    @jax.jit
    def f(p, k):
      uv = camera.project(p, k)
      return uv, camera.rays(uv, k), camera.backproject(uv, p[..., 2], k)

    uv, r, back = f(jnp.asarray(points), jnp.asarray(ks))
    self.assertIsInstance(uv, jax.Array)
    chex.assert_trees_all_close(uv, camera.project(points, ks), rtol=1e-5)
    chex.assert_trees_all_close(r, camera.rays(uv, ks), atol=1e-6)
    chex.assert_trees_all_close(back, points, atol=1e-5)

  def test_jit_intrinsics_traced(self):
    k = jax.jit(camera.syrip_K)(jnp.array([640.0]), jnp.array([480.0]))
    chex.assert_trees_all_close(k[0], jnp.asarray(camera.syrip_K(640, 480)))


if __name__ == '__main__':
  absltest.main()
