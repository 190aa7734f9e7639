"""Tests for the small loaders: checks, h36m, coco and mini_rgbd.

All fixtures are written by the tests themselves into temporary folders.
"""

import json
import pathlib
import tempfile

from absl.testing import absltest
from absl.testing import parameterized
import chex
import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.data import coco
from zedoi_jax.data import h36m
from zedoi_jax.data import mini_rgbd
from zedoi_jax.errors import InputError


def _tempdir(test):
  # absltest's create_tempdir needs parsed flags, which pytest does not do.
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return pathlib.Path(tmp.name)


# ------------------------------------------------------------------ checks
class ChecksTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)

  def test_require_file(self):
    path = self.tmp / 'a.txt'
    with self.assertRaisesRegex(FileNotFoundError, r'skeleton.*a\.txt'):
      checks.require_file(path, 'skeleton')
    with self.assertRaisesRegex(FileNotFoundError, 'directory'):
      checks.require_file(self.tmp, 'skeleton')
    path.write_text('x')
    self.assertEqual(checks.require_file(str(path), 'skeleton'), path)

  def test_check_array_accepts_and_converts(self):
    x = checks.check_array([[1, 2, 3]], source='f.json', field='kp',
                           shape=(None, 3))
    self.assertEqual(x.dtype, np.float64)
    chex.assert_shape(x, (1, 3))
    y = checks.check_array(np.zeros((2, 4), np.float32), source='f',
                           field='k', shape=(2, None))
    self.assertEqual(y.dtype, np.float32)

  @parameterized.named_parameters(
      ('rank', np.zeros((2, 3)), (None,), 'f', r'shape \(\*,\)'),
      ('size', np.zeros((2, 3)), (2, 4), 'f', r'\(2, 4\).*\(2, 3\)'),
      ('dtype', np.array(['a', 'b']), (2,), 'f', 'numbers'),
      ('nan', np.array([1.0, np.nan]), (2,), 'f', r'non-finite.*\(1,\)'),
      ('inf', np.array([[np.inf]]), None, 'f', 'non-finite'),
      ('ragged', [[1, 2], [3]], None, 'f', 'regular'),
      ('int_kind', np.array([1.5]), (1,), 'i', 'numbers'),
  )
  def test_check_array_errors(self, x, shape, kind, pattern):
    with self.assertRaisesRegex(InputError,
                                r"data\.npz: field 'poses': .*" + pattern):
      checks.check_array(x, source='data.npz', field='poses', shape=shape,
                         dtype_kind=kind)

  def test_check_array_finite_false(self):
    x = checks.check_array([np.nan], source='s', field='f', finite=False)
    self.assertTrue(np.isnan(x[0]))

  def test_load_json(self):
    good = self.tmp / 'good.json'
    good.write_text('{"a": [1, 2]}')
    self.assertEqual(checks.load_json(good, 'test'), {'a': [1, 2]})
    bad = self.tmp / 'bad.json'
    bad.write_text('{"a": [1, 2}\n')
    with self.assertRaisesRegex(InputError,
                                r'bad\.json.*line 1 column 12'):
      checks.load_json(bad, 'test')
    with self.assertRaisesRegex(FileNotFoundError, 'missing.json'):
      checks.load_json(self.tmp / 'missing.json', 'test')

  def test_load_npz_round_trip_and_corruption(self):
    path = self.tmp / 'x.npz'
    np.savez(path, a=np.arange(500.0), b=np.ones((3, 2)))
    data = checks.load_npz(path, 'test arrays')
    np.testing.assert_array_equal(data['a'], np.arange(500.0))
    raw = path.read_bytes()
    cases = {
        'truncated.npz': raw[:len(raw) // 2],
        'garbled.npz': raw[:300] + bytes(b ^ 0x5A for b in raw[300:600])
                       + raw[600:],
        'empty.npz': b'',
        'text.npz': b'hello world, not an archive',
    }
    for name, content in cases.items():
      bad = self.tmp / name
      bad.write_bytes(content)
      with self.assertRaisesRegex(InputError, name):
        checks.load_npz(bad, 'test arrays')

  def test_load_npz_pickle_needs_permission(self):
    path = self.tmp / 'obj.npz'
    np.savez(path, d={'a': 1})
    with self.assertRaisesRegex(InputError, r'obj\.npz.*pickle'):
      checks.load_npz(path, 'test')
    self.assertEqual(checks.load_npz(path, 'test', allow_pickle=True)
                     ['d'].item(), {'a': 1})

  def test_load_npy(self):
    path = self.tmp / 'x.npy'
    np.save(path, np.arange(100.0))
    np.testing.assert_array_equal(checks.load_npy(path, 't'),
                                  np.arange(100.0))
    raw = path.read_bytes()
    bad = self.tmp / 'cut.npy'
    bad.write_bytes(raw[:200])
    with self.assertRaisesRegex(InputError, r'cut\.npy'):
      checks.load_npy(bad, 't')
    bad.write_bytes(b'not numpy')
    with self.assertRaisesRegex(InputError, r'cut\.npy.*not an \.npy'):
      checks.load_npy(bad, 't')


# -------------------------------------------------------------------- h36m
def _poses(rng, t, j, c=3):
  return rng.normal(size=(t, j, c)).astype(np.float32)


class H36mTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)
    self.rng = np.random.default_rng(0)

  def _save(self, name, **arrays):
    path = self.tmp / name
    np.savez(path, **arrays)
    return path

  def test_3d_reduces_32_to_17_in_h36m_order(self):
    pose = _poses(self.rng, 4, 32)
    path = self._save('data_3d_h36m.npz', positions_3d={
        'S1': {'Walking': pose, 'Eating 2': pose[:2]},
        'S9': {'Sitting': pose[:3]}})
    data = h36m.load_h36m_3d(path, allow_pickle=True)
    self.assertEqual(sorted(data), ['S1', 'S9'])
    got = data['S1']['Walking']
    chex.assert_shape(got, (4, 17, 3))
    self.assertEqual(got.dtype, np.float32)
    # Joint 9 of the 17 (neck/nose) is joint 14 of the 32, joint 16
    # (r_wrist) is 27, as VideoPose3D's removal list gives.
    np.testing.assert_array_equal(got[:, 9], pose[:, 14])
    np.testing.assert_array_equal(got[:, 16], pose[:, 27])
    np.testing.assert_array_equal(got[:, :4], pose[:, :4])
    self.assertLen(h36m.H36M32_KEPT, 17)

  def test_3d_subjects_and_17_joint_input(self):
    pose = _poses(self.rng, 5, 17)
    path = self._save('d.npz', positions_3d={'S1': {'A': pose},
                                             'S5': {'B': pose}})
    data = h36m.load_h36m_3d(path, subjects=['S5'], allow_pickle=True)
    self.assertEqual(list(data), ['S5'])
    np.testing.assert_array_equal(data['S5']['B'], pose)
    with self.assertRaisesRegex(InputError, r"d\.npz.*\['S7'\].*S1"):
      h36m.load_h36m_3d(path, subjects=['S7'], allow_pickle=True)

  def test_3d_errors(self):
    cases = {
        'nokey.npz': ({'poses': np.zeros(3)}, 'positions_3d'),
        'joints.npz': ({'positions_3d': {'S1': {'A': _poses(self.rng, 2, 20)}}},
                       r"'S1'.*'A'.*32 or 17 joints, got 20"),
        'coords.npz': ({'positions_3d': {'S1': {'A': _poses(self.rng, 2, 32,
                                                             2)}}},
                       r'3 values per joint'),
        'nan.npz': ({'positions_3d': {'S1': {'A': np.full((2, 17, 3),
                                                          np.nan)}}},
                    'non-finite'),
        'mm.npz': ({'positions_3d': {'S1': {'A': 1000 * _poses(self.rng, 2,
                                                                17)}}},
                   'not metres'),
        'plain.npz': ({'positions_3d': np.zeros((2, 17, 3))},
                      'pickled dict'),
    }
    for name, (arrays, pattern) in cases.items():
      path = self._save(name, **arrays)
      with self.assertRaisesRegex(InputError, name + '.*' + pattern):
        h36m.load_h36m_3d(path, allow_pickle=True)
    with self.assertRaisesRegex(FileNotFoundError, 'absent.npz'):
      h36m.load_h36m_3d(self.tmp / 'absent.npz', allow_pickle=True)

  def _meta(self, **kw):
    meta = {'layout_name': 'coco', 'num_joints': 17,
            'keypoints_symmetry': [[1, 3, 5, 7, 9, 11, 13, 15],
                                   [2, 4, 6, 8, 10, 12, 14, 16]]}
    meta.update(kw)
    return meta

  def test_2d(self):
    cams = [_poses(self.rng, 6, 17, 2) for _ in range(4)]
    path = self._save('data_2d_h36m_cpn.npz',
                      positions_2d={'S1': {'Walking': cams}},
                      metadata=self._meta())
    positions, meta = h36m.load_h36m_2d(path, allow_pickle=True)
    self.assertEqual(meta['layout_name'], 'coco')
    self.assertLen(positions['S1']['Walking'], 4)
    np.testing.assert_array_equal(positions['S1']['Walking'][2], cams[2])

  def test_2d_errors(self):
    good = [_poses(self.rng, 6, 17, 2)]
    cases = {
        'nometa.npz': ({'positions_2d': {'S1': {'A': good}}}, 'metadata'),
        'count.npz': ({'positions_2d': {'S1': {'A': [good[0][:, :16]]}},
                       'metadata': self._meta()},
                      r"'S1'.*'A'.*\[0\].*17 joints, got 16"),
        'sym.npz': ({'positions_2d': {'S1': {'A': good}},
                     'metadata': self._meta(keypoints_symmetry=[[1, 20],
                                                                [2, 3]])},
                    'keypoints_symmetry'),
        'nocams.npz': ({'positions_2d': {'S1': {'A': []}},
                        'metadata': self._meta()}, 'per-camera'),
    }
    for name, (arrays, pattern) in cases.items():
      path = self._save(name, **arrays)
      with self.assertRaisesRegex(InputError, name + '.*' + pattern):
        h36m.load_h36m_2d(path, allow_pickle=True)

  def test_custom_2d(self):
    kp = _poses(self.rng, 7, 17, 2)
    path = self._save(
        'data_2d_custom_myvids.npz',
        positions_2d={'clip.mp4': {'custom': [kp]}},
        metadata=self._meta(video_metadata={'clip.mp4': {'w': 1920,
                                                         'h': 1080}}))
    videos, _ = h36m.load_custom_2d(path, allow_pickle=True)
    np.testing.assert_array_equal(videos['clip.mp4']['keypoints'], kp)
    np.testing.assert_array_equal(videos['clip.mp4']['image_wh'],
                                  [1920, 1080])

  def test_custom_2d_errors(self):
    kp = _poses(self.rng, 7, 17, 2)
    vm = {'v': {'w': 640, 'h': 480}}
    cases = {
        'nocustom.npz': ({'positions_2d': {'v': {'det': [kp]}},
                          'metadata': self._meta(video_metadata=vm)},
                         "'custom'"),
        'nosize.npz': ({'positions_2d': {'v': {'custom': [kp]}},
                        'metadata': self._meta(video_metadata={})},
                       r"video_metadata\['v'\]"),
        'novm.npz': ({'positions_2d': {'v': {'custom': [kp]}},
                      'metadata': self._meta()}, 'video_metadata'),
        'gaps.npz': ({'positions_2d': {'v': {'custom': [np.where(
            np.arange(7)[:, None, None] == 3, np.nan, kp)]}},
                      'metadata': self._meta(video_metadata=vm)},
                     'non-finite'),
    }
    for name, (arrays, pattern) in cases.items():
      path = self._save(name, **arrays)
      with self.assertRaisesRegex(InputError, name + '.*' + pattern):
        h36m.load_custom_2d(path, allow_pickle=True)


# -------------------------------------------------------------------- coco
def _kp51(rng, v=2.0):
  kp = np.zeros((17, 3))
  kp[:, :2] = rng.uniform(0, 500, size=(17, 2))
  kp[:, 2] = v
  return kp


class CocoTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = _tempdir(self)
    self.rng = np.random.default_rng(1)

  def _write(self, name, doc):
    path = self.tmp / name
    path.write_text(json.dumps(doc))
    return path

  def _dataset(self):
    kp0, kp1 = _kp51(self.rng), _kp51(self.rng)
    kp1[[3, 4], 2] = 0  # Unlabelled ears.
    kp1[5, 2] = 1  # Labelled but occluded.
    return {
        'images': [{'id': 7, 'file_name': 'a.jpg', 'width': 640,
                    'height': 480},
                   {'id': 9, 'file_name': 'b.jpg', 'width': 800,
                    'height': 600}],
        'annotations': [
            {'image_id': 9, 'category_id': 1, 'bbox': [0, 0, 1, 1],
             'keypoints': kp0.ravel().tolist()},
            {'image_id': 7, 'category_id': 1,
             'keypoints': kp1.ravel().tolist()},
            {'image_id': 7, 'category_id': 2, 'bbox': [1, 1, 2, 2]},
        ],
        'categories': [{'id': 1, 'name': 'person',
                        'keypoints': [f'k{i}' for i in range(17)],
                        'skeleton': []},
                       {'id': 2, 'name': 'ball'}],
    }, kp0, kp1

  def test_dataset_format(self):
    doc, kp0, kp1 = self._dataset()
    out = coco.load_coco_keypoints(self._write('gt.json', doc))
    self.assertFalse(out['is_results'])
    chex.assert_shape(out['keypoints'], (2, 17, 2))
    self.assertEqual(out['keypoints'].dtype, np.float32)
    np.testing.assert_allclose(out['keypoints'][0], kp0[:, :2], rtol=1e-6)
    np.testing.assert_array_equal(out['image_id'], [9, 7])
    np.testing.assert_array_equal(out['image_wh'], [[800, 600], [640, 480]])
    self.assertEqual(out['file_name'], ['b.jpg', 'a.jpg'])
    want = np.ones(17)
    want[[3, 4]] = 0
    np.testing.assert_array_equal(out['confidence'][1], want)
    np.testing.assert_array_equal(out['score'], [1, 1])

  def test_results_format(self):
    kp = _kp51(self.rng, v=0.5)
    kp[0, 2] = 1.15  # Heatmap peak above 1.
    results = [{'image_id': 3, 'category_id': 1,
                'keypoints': kp.ravel().tolist(), 'score': 0.8}]
    path = self._write('res.json', results)
    out = coco.load_coco_keypoints(path)
    self.assertTrue(out['is_results'])
    self.assertAlmostEqual(float(out['confidence'][0, 0]), 1.0)
    self.assertAlmostEqual(float(out['confidence'][0, 1]), 0.5)
    self.assertAlmostEqual(float(out['score'][0]), 0.8, places=6)
    np.testing.assert_array_equal(out['image_wh'], [[0, 0]])
    self.assertEqual(out['file_name'], [''])
    # Image sizes from a dataset file.
    info = self._write('info.json', {'images': [
        {'id': 3, 'file_name': 'c.jpg', 'width': 10, 'height': 20}],
                                     'annotations': []})
    out = coco.load_coco_keypoints(path, image_info=info)
    np.testing.assert_array_equal(out['image_wh'], [[10, 20]])
    self.assertEqual(out['file_name'], ['c.jpg'])

  def test_errors_name_file_and_index(self):
    doc, _, _ = self._dataset()
    short = json.loads(json.dumps(doc))
    short['annotations'][1]['keypoints'] = short['annotations'][1][
        'keypoints'][:50]
    nan = json.loads(json.dumps(doc))
    nan['annotations'][0]['keypoints'][4] = float('nan')
    cats = json.loads(json.dumps(doc))
    cats['categories'][0]['keypoints'] = cats['categories'][0][
        'keypoints'][:14]
    noid = [{'keypoints': [0.0] * 51, 'score': 1.0}]
    cases = {
        'short.json': (short, r'annotations\[1\]\.keypoints.*\(51,\)'),
        'nan.json': (nan, r'annotations\[0\]\.keypoints.*non-finite'),
        'cats.json': (cats, r'categories\[0\]\.keypoints.*14'),
        'noid.json': (noid, r'\[0\]\.image_id'),
        'scalar.json': (3, 'results list'),
    }
    for name, (content, pattern) in cases.items():
      path = self._write(name, content)
      with self.assertRaisesRegex(InputError, name + '.*' + pattern):
        coco.load_coco_keypoints(path)
    bad = self.tmp / 'broken.json'
    bad.write_text('[{"image_id": 1,')
    with self.assertRaisesRegex(InputError, r'broken\.json.*malformed'):
      coco.load_coco_keypoints(bad)

  def test_empty_results(self):
    out = coco.load_coco_keypoints(self._write('none.json', []))
    chex.assert_shape(out['keypoints'], (0, 17, 2))
    chex.assert_shape(out['image_wh'], (0, 2))


# --------------------------------------------------------------- mini_rgbd
def _write_sequence(root, seq, frames, rng, order=None):
  """Writes MINI-RGBD-style joint files; returns (2d, depth, 3d) truth."""
  d2 = root / f'{seq:02d}' / 'joints_2Ddep'
  d3 = root / f'{seq:02d}' / 'joints_3D'
  d2.mkdir(parents=True)
  d3.mkdir(parents=True)
  truth = []
  for f in frames:
    uvd = np.concatenate([rng.uniform(0, 640, (25, 2)),
                          rng.uniform(500, 900, (25, 1))], -1)
    xyz = rng.normal(size=(25, 3))
    idx = np.arange(25) if order is None else order
    (d2 / f'syn_joints_2Ddep_{f:05d}.txt').write_text(''.join(
        f'{uvd[j, 0]:.6f} {uvd[j, 1]:.6f} {uvd[j, 2]:.6f} {j}\n' for j in idx))
    (d3 / f'syn_joints_3D_{f:05d}.txt').write_text(''.join(
        f'{xyz[j, 0]:.6f} {xyz[j, 1]:.6f} {xyz[j, 2]:.6f} {j}\n' for j in idx))
    truth.append((uvd, xyz))
  return truth


class MiniRgbdTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.root = _tempdir(self) / 'MINI-RGBD_web'
    self.rng = np.random.default_rng(2)

  def test_sequence(self):
    # Frames written out of order and joints shuffled: both get sorted.
    truth = _write_sequence(self.root, 11, [2, 0, 1], self.rng,
                            order=self.rng.permutation(25))
    out = mini_rgbd.load_mini_rgbd_sequence(self.root / '11')
    chex.assert_shape(out['joints_2d'], (3, 25, 2))
    chex.assert_shape(out['depth_2d'], (3, 25))
    chex.assert_shape(out['joints_3d'], (3, 25, 3))
    np.testing.assert_array_equal(out['frame_id'], [0, 1, 2])
    uvd, xyz = truth[1]  # Frame 0.
    np.testing.assert_allclose(out['joints_2d'][0], uvd[:, :2], atol=1e-3)
    np.testing.assert_allclose(out['depth_2d'][0], uvd[:, 2], atol=1e-3)
    np.testing.assert_allclose(out['joints_3d'][0], xyz, atol=1e-5)
    self.assertLen(mini_rgbd.SMIL25_JOINTS, 25)

  def test_stacked_sequences(self):
    _write_sequence(self.root, 11, [0, 1], self.rng)
    _write_sequence(self.root, 12, [0, 1, 2], self.rng)
    out = mini_rgbd.load_mini_rgbd(self.root, mini_rgbd.SEQUENCES_TEST)
    chex.assert_shape(out['joints_3d'], (5, 25, 3))
    np.testing.assert_array_equal(out['sequence'], [11, 11, 12, 12, 12])
    np.testing.assert_array_equal(out['frame_id'], [0, 1, 0, 1, 2])
    out = mini_rgbd.load_mini_rgbd(self.root, [12], max_frames=2)
    np.testing.assert_array_equal(out['frame_id'], [0, 1])
    self.assertEqual(mini_rgbd.SEQUENCES_TRAIN, tuple(range(1, 11)))

  def test_missing_folders(self):
    with self.assertRaisesRegex(FileNotFoundError, '03'):
      mini_rgbd.load_mini_rgbd(self.root, [3])
    (self.root / '04' / 'joints_3D').mkdir(parents=True)
    with self.assertRaisesRegex(FileNotFoundError, 'joints_2Ddep'):
      mini_rgbd.load_mini_rgbd_sequence(self.root / '04')

  def test_unmatched_frames(self):
    _write_sequence(self.root, 1, [0, 1], self.rng)
    (self.root / '01' / 'joints_3D' / 'syn_joints_3D_00001.txt').unlink()
    with self.assertRaisesRegex(InputError, r'01.*without 3D joints: \[1\]'):
      mini_rgbd.load_mini_rgbd_sequence(self.root / '01')

  def test_malformed_lines(self):
    _write_sequence(self.root, 1, [0], self.rng)
    path = self.root / '01' / 'joints_3D' / 'syn_joints_3D_00000.txt'
    good = path.read_text().splitlines()
    cases = {
        'few values': (good[:4] + ['1.0 2.0 4'] + good[5:],
                       r'line 5.*4 values'),
        'text': (good[:2] + ['1.0 abc 2.0 2'] + good[3:], 'line 3.*numbers'),
        'duplicate id': (good[:-1] + [good[0]], 'line 25.*joint id'),
        'id range': (good[:-1] + ['1 2 3 25'], 'line 25.*joint id'),
        'short file': (good[:20], '25 lines.*got 20'),
        'nan': (['nan 0 0 0'] + good[1:], 'line 1.*non-finite'),
    }
    for what, (lines, pattern) in cases.items():
      path.write_text('\n'.join(lines) + '\n')
      with self.assertRaisesRegex(InputError,
                                  r'syn_joints_3D_00000\.txt.*' + pattern,
                                  msg=what):
        mini_rgbd.load_mini_rgbd_sequence(self.root / '01')


if __name__ == '__main__':
  absltest.main()
