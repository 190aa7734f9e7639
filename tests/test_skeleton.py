"""Tests for zedoi_jax.skeleton: layouts and joint maps."""

from absl.testing import absltest
from absl.testing import parameterized
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

ALL_MAPS = [(f'{s}_{d}_{v}', s, d, v)
            for s, d, variants in skeleton.available_maps() for v in variants]


class LayoutTest(parameterized.TestCase):

  @parameterized.parameters(*skeleton.layout_names())
  def test_layout_consistent(self, name):
    layout = skeleton.get_layout(name)
    self.assertEqual(layout.name, name)
    n = layout.num_joints
    self.assertLen(layout.parents, n)
    self.assertEqual(sum(p == -1 for p in layout.parents), 1)
    self.assertTrue(all(-1 <= p < n for p in layout.parents))
    self.assertLen(layout.bones, n - 1)
    self.assertTrue(all(0 <= r < n for r in layout.root_joints))
    for left, right in layout.flip_pairs:
      self.assertTrue(0 <= left < n and 0 <= right < n)
      lname, rname = layout.joint_names[left], layout.joint_names[right]
      self.assertTrue(lname.startswith('l_'), lname)
      self.assertEqual('r_' + lname[2:], rname)
    # Every l_/r_ joint is in a pair; the rest map to themselves.
    sided = {i for i, j in enumerate(layout.joint_names)
             if j.startswith(('l_', 'r_'))}
    self.assertEqual(sided,
                     set(layout.left_joints) | set(layout.right_joints))

  @parameterized.parameters(*skeleton.layout_names())
  def test_flip_index_is_involution_and_maps_bones_to_bones(self, name):
    layout = skeleton.get_layout(name)
    flip = layout.flip_index
    self.assertEqual(sorted(flip), list(range(layout.num_joints)))
    self.assertEqual(tuple(flip[i] for i in flip),
                     tuple(range(layout.num_joints)))
    for left, right in layout.flip_pairs:
      self.assertEqual(flip[left], right)
    # The bone set is mirror-symmetric, so mirrored bone lengths match.
    bones = {frozenset(b) for b in layout.bones}
    mirrored = {frozenset((flip[c], flip[p])) for c, p in layout.bones}
    self.assertEqual(bones, mirrored)

  def test_h36m_matches_documented_edges(self):
    edges = [[0, 1], [1, 2], [2, 3], [0, 4], [4, 5], [5, 6], [0, 7], [7, 8],
             [8, 9], [9, 10], [8, 11], [11, 12], [12, 13], [8, 14], [14, 15],
             [15, 16]]
    self.assertEqual({(c, p) for c, p in skeleton.H36M17.bones},
                     {(c, p) for p, c in edges})
    self.assertEqual(skeleton.H36M17.left_joints, (4, 5, 6, 11, 12, 13))
    self.assertEqual(skeleton.H36M17.right_joints, (1, 2, 3, 14, 15, 16))
    self.assertEqual(skeleton.H36M17.root_joints, (0,))

  def test_syrip_roots(self):
    self.assertEqual(skeleton.SYRIP12.root_joints, (2, 3))
    self.assertEqual(skeleton.SYRIP12.index('r_hip'), 2)
    self.assertEqual(skeleton.SYRIP12.index('l_hip'), 3)
    names = [skeleton.SYRIP12.joint_names[i]
             for i in skeleton.SYRIP12_PUBLISHED_ROOT]
    self.assertEqual(names, ['r_ankle', 'l_hip'])

  def test_unknown_layout_error_names_it_and_the_known_ones(self):
    with self.assertRaisesRegex(InputError, 'h36m_17') as ctx:
      skeleton.get_layout('h36m_17', source='cfg.py')
    msg = str(ctx.exception)
    self.assertIn('cfg.py', msg)
    for name in skeleton.layout_names():
      self.assertIn(name, msg)

  def test_index_unknown_joint(self):
    with self.assertRaisesRegex(ValueError, 'nose'):
      skeleton.SYRIP12.index('nose')

  def test_bad_layout_rejected(self):
    with self.assertRaisesRegex(ValueError, 'cycle'):
      skeleton.Layout('bad', ('a', 'b', 'c'), (-1, 2, 1), (), (0,))
    with self.assertRaisesRegex(ValueError, 'parents'):
      skeleton.Layout('bad', ('a', 'b'), (-1,), (), (0,))
    with self.assertRaisesRegex(ValueError, 'flip_pairs'):
      skeleton.Layout('bad', ('a', 'b'), (-1, 0), ((0, 5),), (0,))

  def test_layouts_registry_read_only(self):
    with self.assertRaises(TypeError):
      skeleton.LAYOUTS['x'] = skeleton.H36M17


class JointMapTest(parameterized.TestCase):

  @parameterized.named_parameters(*ALL_MAPS)
  def test_rows_are_convex(self, src, dst, variant):
    w = skeleton.joint_map(src, dst, variant)
    self.assertEqual(w.shape, (skeleton.get_layout(dst).num_joints,
                               skeleton.get_layout(src).num_joints))
    self.assertTrue((w >= 0).all())
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)

  @parameterized.parameters(*skeleton.layout_names())
  def test_identity(self, name):
    x = np.random.default_rng(0).normal(size=(2, skeleton.get_layout(
        name).num_joints, 3))
    np.testing.assert_array_equal(skeleton.convert(x, name, name), x)

  @parameterized.named_parameters(*ALL_MAPS)
  def test_limb_joints_copied_by_name(self, src, dst, variant):
    # Wherever both layouts name a limb joint alike, it is copied as is
    # (smil25 uses other names and is checked separately).
    if src == 'smil25':
      return
    w = skeleton.joint_map(src, dst, variant)
    s, d = skeleton.get_layout(src), skeleton.get_layout(dst)
    for i, name in enumerate(d.joint_names):
      if name.startswith(('l_', 'r_')) and name in s.joint_names:
        expected = np.zeros(s.num_joints)
        expected[s.index(name)] = 1
        np.testing.assert_array_equal(w[i], expected, err_msg=name)

  def test_coco_to_h36m_midpoints(self):
    coco = skeleton.COCO17
    x = np.zeros((17, 3))
    x[coco.index('l_hip')] = [2, 0, 0]
    x[coco.index('r_hip')] = [0, 0, 0]
    x[coco.index('l_shoulder')] = [2, 4, 0]
    x[coco.index('r_shoulder')] = [0, 4, 2]
    x[coco.index('l_eye')] = [1, 6, 0]
    x[coco.index('r_eye')] = [3, 6, 0]
    x[coco.index('nose')] = [7, 7, 7]
    y = skeleton.convert(x, 'coco17', 'h36m17')
    np.testing.assert_allclose(y[0], [1, 0, 0])  # pelvis
    np.testing.assert_allclose(y[8], [1, 4, 1])  # thorax
    np.testing.assert_allclose(y[7], [1, 2, 0.5])  # spine
    np.testing.assert_allclose(y[9], [7, 7, 7])  # nose
    np.testing.assert_allclose(y[10], [2, 6, 0])  # head = mid-eyes
    np.testing.assert_allclose(y[1], x[coco.index('r_hip')])
    np.testing.assert_allclose(y[11], x[coco.index('l_shoulder')])

  def test_coco_to_syrip12_is_zedo_change_2d(self):
    change_2d = [-1, -3, -5, -6, -4, -2, -7, -9, -11, -12, -10, -8]
    w = skeleton.joint_map('coco17', 'syrip12')
    np.testing.assert_array_equal(w.argmax(1), np.arange(17)[change_2d])

  def test_lsp14_and_h36m_to_syrip12(self):
    np.testing.assert_array_equal(skeleton.joint_map('lsp14', 'syrip12'),
                                  np.eye(14)[:12])
    np.testing.assert_array_equal(
        skeleton.joint_map('h36m17', 'syrip12').argmax(1),
        [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13])

  def test_lsp14_to_h36m_synthetic_joints(self):
    lsp = skeleton.LSP14
    x = np.zeros((14, 3), np.float32)
    x[lsp.index('r_hip')] = [-1, 0, 0]
    x[lsp.index('l_hip')] = [1, 0, 0]
    x[lsp.index('neck')] = [0, -4, 0]
    x[lsp.index('head_top')] = [0, -6, 2]
    y = skeleton.convert(x, 'lsp14', 'h36m17')
    self.assertEqual(y.dtype, np.float32)
    np.testing.assert_allclose(y[0], [0, 0, 0])  # pelvis
    np.testing.assert_allclose(y[7], [0, -2, 0])  # spine
    np.testing.assert_allclose(y[8], [0, -4, 0])  # thorax = neck
    np.testing.assert_allclose(y[9], [0, -5, 1])  # mid(neck, head_top)
    np.testing.assert_allclose(y[10], [0, -6, 2])  # head_top

  def test_smil_variants(self):
    zedo = [0, 2, 5, 11, 1, 4, 10, 3, 9, 12, 15, 13, 18, 20, 14, 19, 21]
    np.testing.assert_array_equal(
        skeleton.joint_map('smil25', 'h36m17', 'zedo').argmax(1), zedo)
    anat = skeleton.joint_map('smil25', 'h36m17')
    np.testing.assert_array_equal(
        anat, skeleton.joint_map('smil25', 'h36m17', 'anatomical'))
    smil, h36m = skeleton.SMIL25, skeleton.H36M17
    src = {'l_ankle': 'l_foot', 'r_ankle': 'r_foot',
           'l_shoulder': 'l_upper_arm', 'r_shoulder': 'r_upper_arm',
           'l_knee': 'l_calf', 'l_elbow': 'l_fore_arm', 'r_wrist': 'r_hand',
           'r_hip': 'r_thigh'}
    for h_name, s_name in src.items():
      self.assertEqual(anat[h36m.index(h_name)].argmax(), smil.index(s_name))
    # The variants differ exactly at the ankles and shoulders.
    differ = np.flatnonzero(anat.argmax(1) != np.asarray(zedo))
    np.testing.assert_array_equal(differ, [3, 6, 11, 14])

  def test_unknown_pair_and_variant(self):
    with self.assertRaisesRegex(InputError, 'coco17->h36m17') as ctx:
      skeleton.joint_map('h36m17', 'coco17')
    self.assertIn('no joint map', str(ctx.exception))
    with self.assertRaisesRegex(InputError, 'anatomical'):
      skeleton.joint_map('smil25', 'h36m17', 'typo')
    with self.assertRaisesRegex(InputError, 'variant'):
      skeleton.joint_map('h36m17', 'h36m17', 'zedo')
    with self.assertRaisesRegex(InputError, 'nope'):
      skeleton.convert(np.zeros((17, 2)), 'nope', 'h36m17')

  def test_convert_wrong_joint_count(self):
    with self.assertRaisesRegex(ValueError, '17 joints'):
      skeleton.convert(np.zeros((3, 12, 2)), 'coco17', 'h36m17')

  def test_convert_keeps_array_module_and_jits(self):
    x = np.random.default_rng(1).normal(size=(4, 2, 17, 2)).astype(np.float32)
    y_np = skeleton.convert(x, 'coco17', 'h36m17')
    self.assertIsInstance(y_np, np.ndarray)
    y_eager = skeleton.convert(jnp.asarray(x), 'coco17', 'h36m17')
    self.assertIsInstance(y_eager, jax.Array)
    y_jit = jax.jit(
        lambda a: skeleton.convert(a, 'coco17', 'h36m17'))(jnp.asarray(x))
    chex.assert_shape(y_jit, (4, 2, 17, 2))
    chex.assert_trees_all_close(y_jit, y_np, atol=1e-6)
    chex.assert_trees_all_close(y_eager, y_np, atol=1e-6)


class ConfidenceTest(parameterized.TestCase):

  def test_min_rule(self):
    coco = skeleton.COCO17
    conf = np.full((17,), 0.9)
    conf[coco.index('l_hip')] = 0.0  # missing
    conf[coco.index('r_shoulder')] = 0.4
    c = skeleton.convert_confidence(conf, 'coco17', 'h36m17')
    self.assertEqual(c.shape, (17,))
    self.assertEqual(c[0], 0.0)  # pelvis needs both hips
    self.assertEqual(c[7], 0.0)  # spine needs hips and shoulders
    self.assertAlmostEqual(c[8], 0.4)  # thorax: min of the shoulders
    self.assertEqual(c[4], 0.0)  # l_hip copied
    self.assertAlmostEqual(c[1], 0.9)  # r_hip copied
    self.assertAlmostEqual(c[14], 0.4)  # r_shoulder copied

  def test_batched_jit_matches_numpy(self):
    conf = np.random.default_rng(2).uniform(size=(3, 14)).astype(np.float32)
    expect = skeleton.convert_confidence(conf, 'lsp14', 'h36m17')
    got = jax.jit(lambda c: skeleton.convert_confidence(
        c, 'lsp14', 'h36m17'))(jnp.asarray(conf))
    chex.assert_shape(got, (3, 17))
    chex.assert_trees_all_close(got, expect)
    np.testing.assert_allclose(expect[:, 7], conf[:, [2, 3, 12]].min(1))


class RootAndBonesTest(parameterized.TestCase):

  def test_root_center(self):
    x = np.random.default_rng(3).normal(size=(5, 12, 3))
    y = skeleton.root_center(x, 'syrip12')
    np.testing.assert_allclose(y[:, [2, 3]].mean(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y - x, np.broadcast_to(
        -x[:, [2, 3]].mean(1, keepdims=True), x.shape))
    pub = skeleton.root_center(
        jnp.asarray(x), skeleton.SYRIP12,
        root_joints=skeleton.SYRIP12_PUBLISHED_ROOT)
    self.assertIsInstance(pub, jax.Array)
    chex.assert_trees_all_close(
        pub[:, [0, 3]].mean(1), jnp.zeros((5, 3)), atol=1e-6)

  def test_bone_lengths(self):
    x = np.zeros((17, 3))
    x[1] = [3, 4, 0]  # r_hip, 5 from the pelvis
    x[2] = [3, 4, 2]  # r_knee, 2 from r_hip
    lengths = skeleton.bone_lengths(x, 'h36m17')
    self.assertEqual(lengths.shape, (16,))
    bones = skeleton.H36M17.bones
    self.assertAlmostEqual(lengths[bones.index((1, 0))], 5.0)
    self.assertAlmostEqual(lengths[bones.index((2, 1))], 2.0)
    self.assertAlmostEqual(lengths[bones.index((3, 2))], np.sqrt(29.0))
    jl = jax.jit(lambda a: skeleton.bone_lengths(a, 'h36m17'))(
        jnp.asarray(x[None], jnp.float32))
    chex.assert_trees_all_close(jl[0], lengths.astype(np.float32), atol=1e-5)

  def test_mirror_preserves_bone_lengths(self):
    x = np.random.default_rng(4).normal(size=(25, 3))
    layout = skeleton.SMIL25
    mirrored = x[list(layout.flip_index)] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        np.sort(skeleton.bone_lengths(x, layout)),
        np.sort(skeleton.bone_lengths(mirrored, layout)))


if __name__ == '__main__':
  absltest.main()
