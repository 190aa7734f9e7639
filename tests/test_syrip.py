"""Tests for zedoi_jax.data.syrip on the real original files (no network)."""

import collections
import hashlib
import json
import pathlib
import shutil
import tempfile
import types
from unittest import mock

from absl.testing import absltest
import chex
import numpy as np

from zedoi_jax.data import syrip
from zedoi_jax.errors import InputError

import data_required

SYRIP = data_required.path('syrip')
NEEDS_SYRIP = data_required.needs('syrip', data_required.SYRIP_PAIRED)
PAIRED = SYRIP / 'syrip_real700_paired.npz'


def _tempdir(test):
  # absltest's create_tempdir needs parsed flags, which pytest does not do.
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return pathlib.Path(tmp.name)


def _assert_matches_paired(test, data):
  with np.load(PAIRED) as z:
    ref = {k: z[k] for k in z.files}
  test.assertEqual(set(data), set(ref))
  test.assertEqual(tuple(data), syrip.FIELDS)
  for key, want in ref.items():
    got = data[key]
    test.assertEqual(got.shape, want.shape, key)
    if want.dtype.kind == 'f':
      test.assertEqual(got.dtype, np.float32, key)
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7,
                                 err_msg=key)
    else:
      np.testing.assert_array_equal(got, want, err_msg=key)


def _repo_layout(test):
  """A folder holding the originals under their repository paths."""
  root = _tempdir(test) / 'Infant-Postural-Symmetry'
  for name, (repo_path, _) in syrip.FILES.items():
    target = root / repo_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SYRIP / name, target)
  return root


class LoadTest(absltest.TestCase):

  @NEEDS_SYRIP
  def test_flat_layout_matches_paired_npz(self):
    _assert_matches_paired(self, syrip.load_syrip(SYRIP))

  @NEEDS_SYRIP
  def test_repo_layout_matches_paired_npz(self):
    _assert_matches_paired(self, syrip.load_syrip(_repo_layout(self)))

  @NEEDS_SYRIP
  def test_documented_shapes_and_contents(self):
    data = syrip.load_syrip(SYRIP)
    chex.assert_shape(data['gt2d_coco17'], (700, 17, 3))
    chex.assert_shape(data['gt3d_corrected_lsp14'], (700, 14, 3))
    chex.assert_tree_all_finite([data['gt3d_corrected_lsp14'],
                                 data['pred2d_fidip_coco17']])
    # Infant-sized 3D: mean thigh (r_hip 2 -> r_knee 1) about 9 cm.
    gt3d = data['gt3d_corrected_lsp14']
    thigh = np.linalg.norm(gt3d[:, 2] - gt3d[:, 1], axis=-1).mean()
    self.assertBetween(float(thigh), 0.07, 0.11)
    # FiDIP scores are heatmap peaks: positive, a few slightly above 1.
    scores = data['pred2d_fidip_coco17'][..., 2]
    self.assertTrue(np.all((scores > 0) & (scores < 1.2)))
    self.assertGreater(np.mean(scores <= 1), 0.9)
    # Ground-truth visibility flags are COCO's {0, 1, 2}.
    self.assertContainsSubset(set(np.unique(data['gt2d_coco17'][..., 2])),
                              {0.0, 1.0, 2.0})

  @NEEDS_SYRIP
  def test_split_indices_follow_release_protocol(self):
    data = syrip.load_syrip(SYRIP)
    test = syrip.split_indices(data, 'test')
    train = syrip.split_indices(data, 'train')
    self.assertLen(test, 200)
    self.assertLen(train, 500)
    self.assertEmpty(np.intersect1d(test, train))
    self.assertTrue(np.all(data['split'][test] == 'train200'))
    self.assertTrue(all(n.startswith('train')
                        for n in data['original_file_name'][test]))
    np.testing.assert_array_equal(syrip.split_indices(data, 'all'),
                                  np.arange(700))
    # Posture mix of the evaluation split, as documented for SyRIP.
    self.assertEqual(collections.Counter(data['posture'][test]),
                     {'Prone': 90, 'Supine': 69, 'Sitting': 35,
                      'Standing': 6})
    with self.assertRaisesRegex(ValueError, 'split'):
      syrip.split_indices(data, 'validation')

  @NEEDS_SYRIP
  def test_validation_split_is_fixed_and_disjoint(self):
    data = syrip.load_syrip(SYRIP)
    val = syrip.split_indices(data, 'val')
    adapt = syrip.split_indices(data, 'adapt')
    self.assertLen(val, 100)
    self.assertLen(adapt, 400)
    self.assertEmpty(np.intersect1d(val, adapt))
    self.assertEmpty(np.intersect1d(val, syrip.split_indices(data, 'test')))
    np.testing.assert_array_equal(np.union1d(val, adapt),
                                  syrip.split_indices(data, 'train'))
    # Pinned: the validation rows never move, so every validation number
    # stays comparable across sessions.
    np.testing.assert_array_equal(val[:8], [200, 202, 206, 207, 212, 214, 224, 226])

  def test_missing_file_names_both_layouts(self):
    root = _tempdir(self)
    with self.assertRaisesRegex(FileNotFoundError,
                                r'correct_3D\.npy.*SyRIP_3d_correction'):
      syrip.find_file(root, 'correct_3D.npy')
    with self.assertRaises(FileNotFoundError):
      syrip.load_syrip(root)

  @NEEDS_SYRIP
  def test_mismatched_join_is_an_input_error(self):
    root = _tempdir(self)
    syrip.prepare(root, source=SYRIP)
    merged = root / 'person_keypoints_real700_merged.json'
    coco = json.loads(merged.read_text())
    for im in coco['images']:
      if im['file_name'] == 'test5.jpg':
        im['original_file_name'] = 'train99999.jpg'
    merged.write_text(json.dumps(coco))
    with self.assertRaisesRegex(InputError,
                                r'real700_merged\.json.*test5\.jpg'):
      syrip.load_syrip(root)

  @NEEDS_SYRIP
  def test_keypoints_differing_between_files_is_an_input_error(self):
    root = _tempdir(self)
    syrip.prepare(root, source=SYRIP)
    path = root / 'person_keypoints_validate500_infant.json'
    coco = json.loads(path.read_text())
    coco['annotations'][3]['keypoints'][0] += 5.0
    path.write_text(json.dumps(coco))
    with self.assertRaisesRegex(InputError, r'validate500_infant\.json'):
      syrip.load_syrip(root)


class PrepareTest(absltest.TestCase):

  @NEEDS_SYRIP
  def test_copy_from_flat_source(self):
    dest = _tempdir(self) / 'syrip'
    self.assertEqual(syrip.prepare(dest, source=SYRIP), dest)
    self.assertEqual(sorted(p.name for p in dest.iterdir()),
                     sorted(syrip.FILES))
    _assert_matches_paired(self, syrip.load_syrip(dest))
    # A second run keeps the verified files (and leaves no temporaries).
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    syrip.prepare(dest, source=SYRIP)
    self.assertEqual(before, {p.name: p.stat().st_mtime_ns
                              for p in dest.iterdir()})

  @NEEDS_SYRIP
  def test_copy_from_repo_layout_source(self):
    dest = _tempdir(self) / 'syrip'
    syrip.prepare(dest, source=_repo_layout(self))
    for name, (_, digest) in syrip.FILES.items():
      self.assertEqual(syrip.sha256(dest / name), digest)

  def test_sha256_of_a_file(self):
    # Both branches: hashlib.file_digest (Python >= 3.11) and the 3.10
    # fallback that streams blocks by hand (over more than one block).
    path = _tempdir(self) / 'blob'
    data = np.random.default_rng(0).bytes((1 << 20) + 12345)
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    self.assertEqual(syrip.sha256(path), want)
    with mock.patch.object(syrip, 'hashlib', types.SimpleNamespace(
        sha256=hashlib.sha256)):
      self.assertEqual(syrip.sha256(path), want)
    empty = path.with_name('empty')
    empty.write_bytes(b'')
    self.assertEqual(syrip.sha256(empty), hashlib.sha256(b'').hexdigest())

  @NEEDS_SYRIP
  def test_checksums_are_of_the_real_files(self):
    for name, (_, digest) in syrip.FILES.items():
      self.assertEqual(syrip.sha256(SYRIP / name), digest, name)

  @NEEDS_SYRIP
  def test_checksum_mismatch(self):
    source = _tempdir(self) / 'corrupt'
    source.mkdir()
    for name in syrip.FILES:
      shutil.copyfile(SYRIP / name, source / name)
    bad = source / 'output_pose_3D.npy'
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 0xFF
    bad.write_bytes(bytes(raw))
    dest = _tempdir(self) / 'syrip'
    with self.assertRaisesRegex(InputError,
                                r'output_pose_3D\.npy.*sha256 mismatch'):
      syrip.prepare(dest, source=source)
    # The bad file is not left behind, partially or otherwise.
    self.assertFalse((dest / 'output_pose_3D.npy').exists())
    self.assertEqual([p for p in dest.iterdir() if p.name.startswith('.')],
                     [])

  @NEEDS_SYRIP
  def test_download_path_with_local_urls(self):
    # file:// URLs exercise the urllib download path without a network.
    urls = {name: (SYRIP / name).as_uri() for name in syrip.FILES}
    dest = _tempdir(self) / 'syrip'
    syrip.prepare(dest, urls=urls)
    _assert_matches_paired(self, syrip.load_syrip(dest))

  @NEEDS_SYRIP
  def test_download_failure_says_how_to_get_files(self):
    urls = {name: (SYRIP / name).as_uri() for name in syrip.FILES}
    urls['correct_3D.npy'] = (_tempdir(self) / 'gone.npy').as_uri()
    with self.assertRaisesRegex(ConnectionError,
                                r'(?s)correct_3D\.npy.*by hand.*source='):
      syrip.prepare(_tempdir(self) / 'syrip', urls=urls)

  def test_default_urls_point_at_the_commit(self):
    url = syrip.file_url('correct_3D.npy')
    self.assertEqual(
        url, 'https://raw.githubusercontent.com/ostadabbas/'
        'Infant-Postural-Symmetry/ad7c237da9acd6db8f72dc09178165039575278f/'
        'data/SyRIP_3d_correction/correct_3D.npy')
    with self.assertRaisesRegex(ValueError, 'unknown'):
      syrip.prepare(_tempdir(self), urls={'x.npy': 'file:///x'})
    with self.assertRaisesRegex(ValueError, 'not both'):
      syrip.prepare(_tempdir(self), source=SYRIP, urls={})


if __name__ == '__main__':
  absltest.main()
