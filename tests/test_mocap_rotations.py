"""The host-side rotations (scipy Rotation) against explicit matrix products.

`common.euler_matrices` builds the mocap Euler chains (BVH: intrinsic,
upper-case letters; ASF/AMC: extrinsic, lower-case), `prior_data._rodrigues`
the axis-angle rotations of the synthetic poses.
"""

import itertools

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from zedoi_jax.data import prior_data
from zedoi_jax.data.mocap import common


def _about(axis, t):
  """The textbook rotation by angle t (a float) about 'x', 'y' or 'z'."""
  c, s = np.cos(t), np.sin(t)
  return {'x': np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
          'y': np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
          'z': np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis.lower()]


def _chain(angles, axes):
  """One [3, 3] matrix: upper case R0 @ R1 @ ...; lower case ... @ R1 @ R0."""
  out = np.eye(3)
  for a, t in zip(axes, angles):
    out = out @ _about(a, t) if axes.isupper() else _about(a, t) @ out
  return out


# Every order the parsers pass: BVH channel orders (upper case) and ASF/AMC
# axis and dof orders (lower case), all permutations and shorter chains, and
# the repeated or longer ones a file may list (not one scipy call).
_ORDERS = ([''.join(p) for n in (1, 2, 3)
            for p in itertools.permutations('XYZ', n)]
           + [''.join(p).lower() for n in (1, 2, 3)
              for p in itertools.permutations('XYZ', n)]
           + ['XX', 'ZYZ', 'XYZX', 'ZZY', 'xx', 'xyx', 'zyxz', 'yyx'])


class EulerMatricesTest(parameterized.TestCase):

  @parameterized.parameters(*_ORDERS)
  def test_matches_explicit_product(self, axes):
    rs = np.random.RandomState(len(axes) * 31 + sum(map(ord, axes)))
    angles = rs.uniform(-np.pi, np.pi, (2, 5, len(axes)))
    got = common.euler_matrices(angles, axes)
    self.assertEqual(got.shape, (2, 5, 3, 3))
    for idx in np.ndindex(2, 5):
      np.testing.assert_allclose(got[idx], _chain(angles[idx], axes),
                                 rtol=0, atol=1e-12, err_msg=f'{axes} {idx}')

  def test_one_bvh_chain_by_hand(self):
    # 'ZYX' (BVH 'Zrotation Yrotation Xrotation'): Rz(a) @ Ry(b) @ Rx(c).
    a, b, c = 0.3, -1.1, 2.0
    want = _about('z', a) @ _about('y', b) @ _about('x', c)
    np.testing.assert_allclose(common.euler_matrices(np.array([a, b, c]),
                                                     'ZYX'),
                               want, rtol=0, atol=1e-12)
    # ASF 'axis ... XYZ' (first listed applied first) is the same matrix.
    np.testing.assert_allclose(common.euler_matrices(np.array([c, b, a]),
                                                     'xyz'),
                               want, rtol=0, atol=1e-12)

  def test_unbatched_and_empty(self):
    self.assertEqual(common.euler_matrices(np.zeros(3), 'XYZ').shape, (3, 3))
    np.testing.assert_array_equal(
        common.euler_matrices(np.zeros((4, 0)), ''),
        np.broadcast_to(np.eye(3), (4, 3, 3)))
    self.assertEqual(common.euler_matrices(np.zeros((0, 2)), 'zx').shape,
                     (0, 3, 3))

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, 'do not end'):
      common.euler_matrices(np.zeros((4, 2)), 'XYZ')
    with self.assertRaisesRegex(ValueError, 'one case'):
      common.euler_matrices(np.zeros(4), 'XyZX')


def _rodrigues_formula(v):
  """R = I + sin(t) K + (1 - cos(t)) K^2 for one axis-angle vector v."""
  t = np.linalg.norm(v)
  if t == 0:
    return np.eye(3)
  x, y, z = v / t
  k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
  return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


class PriorDataRodriguesTest(absltest.TestCase):

  def test_matches_formula_batched(self):
    rs = np.random.RandomState(0)
    v = rs.uniform(-2, 2, (3, 4, 3))
    v[0, 0] = 0.0  # No rotation: the identity.
    got = prior_data._rodrigues(v)  # pylint: disable=protected-access
    self.assertEqual(got.shape, (3, 4, 3, 3))
    for idx in np.ndindex(3, 4):
      np.testing.assert_allclose(got[idx], _rodrigues_formula(v[idx]),
                                 rtol=0, atol=1e-12, err_msg=str(idx))
    np.testing.assert_array_equal(got[0, 0], np.eye(3))

  def test_empty(self):
    got = prior_data._rodrigues(np.zeros((0, 3)))  # pylint: disable=protected-access
    self.assertEqual(got.shape, (0, 3, 3))


if __name__ == '__main__':
  absltest.main()
