"""Tests for zedoi_jax.pose_augment."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import pose_augment
from zedoi_jax import skeleton
from zedoi_jax.data import prior_data

LAYOUT = skeleton.get_layout('h36m17')


def _poses(n=8):
  return jnp.asarray(prior_data.synthetic_poses(n, seed=3))


def _bones(x):
  return np.asarray(skeleton.bone_lengths(np.asarray(x), LAYOUT))


class AugmentTest(parameterized.TestCase):

  @parameterized.parameters('so3', 'vertical', 'yaw_tilt', 'roll', 'none')
  def test_rotation_is_proper(self, kind):
    rs = jax.vmap(lambda k: pose_augment.random_rotation_matrix(k, kind))(
        jax.random.split(jax.random.key(0), 64))
    eye = jnp.broadcast_to(jnp.eye(3), rs.shape)
    chex.assert_trees_all_close(rs @ jnp.swapaxes(rs, -1, -2), eye,
                                atol=1e-5)
    chex.assert_trees_all_close(jnp.linalg.det(rs), jnp.ones(64), atol=1e-5)

  def test_so3_covers_all_axes_and_vertical_keeps_y(self):
    keys = jax.random.split(jax.random.key(1), 4000)
    rs = jax.vmap(lambda k: pose_augment.random_rotation_matrix(k, 'so3'))(keys)
    # Uniform SO(3): E[R] = 0.
    self.assertLess(float(jnp.abs(rs.mean(0)).max()), 0.05)
    rv = jax.vmap(lambda k: pose_augment.random_rotation_matrix(k, 'vertical'))(
        keys[:50])
    chex.assert_trees_all_close(rv[:, 1], jnp.broadcast_to(
        jnp.array([0.0, 1.0, 0.0]), (50, 3)), atol=1e-6)

  def test_yaw_tilt_bounds_the_tilt_and_turns_freely(self):
    keys = jax.random.split(jax.random.key(4), 2000)
    rs = jax.vmap(lambda k: pose_augment.random_rotation_matrix(
        k, 'yaw_tilt', 20.0))(keys)
    up = np.asarray(rs[:, :, 1])  # where the body's y axis goes
    tilt = np.degrees(np.arccos(np.clip(up[:, 1], -1, 1)))
    # Pitch and roll each within 20 degrees: the up axis tilts at most
    # arccos(cos 20 * cos 20) ~ 28 degrees, and some draws come near it.
    self.assertLess(tilt.max(), 28.5)
    self.assertGreater(tilt.max(), 20.0)
    # Heading (where x goes in the horizontal plane) covers the circle.
    heading = np.degrees(np.arctan2(np.asarray(rs[:, 2, 0]),
                                    np.asarray(rs[:, 0, 0])))
    self.assertGreater(np.ptp(heading), 340)
    flat = jax.vmap(lambda k: pose_augment.random_rotation_matrix(
        k, 'yaw_tilt', 0.0))(keys[:50])
    vert = jax.vmap(lambda k: pose_augment.random_rotation_matrix(
        k, 'vertical'))(keys[:50])
    chex.assert_trees_all_close(flat[:, :, 1], vert[:, :, 1], atol=1e-6)
    # 'roll' keeps the optical axis: z goes to z.
    rz = jax.vmap(lambda k: pose_augment.random_rotation_matrix(k, 'roll'))(
        keys[:50])
    chex.assert_trees_all_close(rz[:, :, 2], jnp.broadcast_to(
        jnp.array([0.0, 0.0, 1.0]), (50, 3)), atol=1e-6)
    with self.assertRaisesRegex(ValueError, 'max_tilt'):
      pose_augment.make_augment_fn(rotation='yaw_tilt', max_tilt=120.0)

  @parameterized.product(rotation=['so3', 'vertical', 'yaw_tilt', 'none'],
                         mirror_prob=[0.0, 1.0])
  def test_rotation_and_mirror_preserve_bone_lengths(self, rotation,
                                                     mirror_prob):
    fn = pose_augment.make_augment_fn(rotation=rotation, mirror_prob=mirror_prob,
                                 global_scale=0.0, bone_scale=0.0)
    x = _poses()
    y = jax.jit(jax.vmap(fn))(jax.random.split(jax.random.key(2), 8), x)
    chex.assert_shape(y, x.shape)
    want = _bones(x)
    if mirror_prob == 1.0:
      # Mirroring swaps left and right bones.
      flip = LAYOUT.flip_index
      order = [LAYOUT.bones.index((flip[c], flip[p])) for c, p in LAYOUT.bones]
      want = want[:, order]
    np.testing.assert_allclose(_bones(y), want, atol=1e-5)
    chex.assert_trees_all_close(y[:, 0], jnp.zeros((8, 3)), atol=1e-6)
    if rotation == 'none' and mirror_prob == 0.0:
      chex.assert_trees_all_close(y, x, atol=1e-6)

  def test_mirror_twice_is_identity(self):
    x = _poses(4)
    once = jax.vmap(lambda p: pose_augment.mirror(p, LAYOUT.flip_index))(x)
    twice = jax.vmap(lambda p: pose_augment.mirror(p, LAYOUT.flip_index))(once)
    chex.assert_trees_all_equal(twice, x)
    self.assertGreater(float(jnp.abs(once - x).max()), 0.05)
    # The mirrored left wrist is the old right wrist with x negated.
    np.testing.assert_allclose(once[:, 13], x[:, 16] * jnp.array([-1, 1, 1]))

  def test_global_scale_scales_every_bone_alike(self):
    fn = pose_augment.make_augment_fn(rotation='none', mirror_prob=0.0,
                                 global_scale=0.2, bone_scale=0.0)
    x = _poses()
    y = jax.vmap(fn)(jax.random.split(jax.random.key(3), 8), x)
    ratio = _bones(y) / _bones(x)
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio),
                               rtol=1e-4)
    self.assertTrue(np.all((ratio > 0.8 - 1e-5) & (ratio < 1.2 + 1e-5)))
    self.assertGreater(float(ratio.std()), 1e-3)
    # Scaling about the root: the pose is g * x.
    np.testing.assert_allclose(y, x * ratio[:, :1, None], atol=1e-5)

  def test_bone_scale_keeps_directions_and_symmetry(self):
    fn = pose_augment.make_augment_fn(rotation='none', mirror_prob=0.0,
                                 global_scale=0.0, bone_scale=0.1)
    x = _poses()
    y = jax.vmap(fn)(jax.random.split(jax.random.key(4), 8), x)
    bx, by = _bones(x), _bones(y)
    ratio = by / bx
    self.assertTrue(np.all((ratio > 0.9 - 1e-5) & (ratio < 1.1 + 1e-5)))
    self.assertGreater(float(ratio.std()), 1e-3)
    # Same direction per bone.
    for i, (c, p) in enumerate(LAYOUT.bones):
      dx = np.asarray(x[:, c] - x[:, p]) / bx[:, i:i + 1]
      dy = np.asarray(y[:, c] - y[:, p]) / by[:, i:i + 1]
      np.testing.assert_allclose(dx, dy, atol=1e-4)
    # Left/right pairs get the same factor.
    flip = LAYOUT.flip_index
    for i, (c, p) in enumerate(LAYOUT.bones):
      j = LAYOUT.bones.index((flip[c], flip[p]))
      np.testing.assert_allclose(ratio[:, i], ratio[:, j], rtol=1e-4)
    chex.assert_trees_all_close(y[:, 0], x[:, 0], atol=1e-6)

  def test_deterministic_given_key(self):
    fn = pose_augment.make_augment_fn()
    x = _poses(1)[0]
    k = jax.random.key(5)
    chex.assert_trees_all_equal(fn(k, x), fn(k, x))
    self.assertGreater(
        float(jnp.abs(fn(k, x) - fn(jax.random.key(6), x)).max()), 1e-3)

  @parameterized.parameters(
      dict(rotation='z'), dict(mirror_prob=1.5), dict(global_scale=1.0),
      dict(bone_scale=-0.1))
  def test_bad_arguments(self, **kw):
    with self.assertRaises(ValueError):
      pose_augment.make_augment_fn(**kw)

  def test_wrong_pose_shape(self):
    fn = pose_augment.make_augment_fn()
    with self.assertRaises(ValueError):
      fn(jax.random.key(0), jnp.zeros((12, 3)))


if __name__ == '__main__':
  absltest.main()
